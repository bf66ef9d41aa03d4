//! How much a socket has queued, as SIOCINQ (FIONREAD) and SIOCOUTQ report it (Linux's tcp_ioctl
//! and udp_ioctl).

use smoltcp::socket::{tcp as smol_tcp, udp as smol_udp};

use super::sockets::{Entry, TcpPhase};
use super::{SocketId, Stack};
use crate::errno::Errno;

impl Stack {
    /// SIOCINQ: the bytes a TCP socket can read, or the payload length of a UDP socket's next
    /// datagram (0 when none). EINVAL for a listening TCP socket, as Linux.
    pub fn recv_queue_len(&mut self, id: SocketId) -> Result<usize, Errno> {
        let (phase_nic, listening) = match self.table.get(&id).ok_or(Errno::EBADF)? {
            Entry::Tcp(t) => match t.phase {
                TcpPhase::Active { nic, handle, .. } => (Some((nic, handle)), false),
                TcpPhase::Listening { .. } => (None, true),
                TcpPhase::Fresh | TcpPhase::Dead => (None, false),
            },
            Entry::Udp(_) => {
                // A zero-length peek measures the next datagram (dropping any from other peers
                // first, as a read would).
                return match self.udp_peek_from(id, &mut []) {
                    Ok(m) => Ok(m.full_len),
                    Err(Errno::EAGAIN) => Ok(0),
                    Err(e) => Err(e),
                };
            }
            Entry::Icmp(_) => return Err(Errno::ENOTTY),
        };
        if listening {
            return Err(Errno::EINVAL);
        }
        Ok(phase_nic.map_or(0, |(nic, h)| self.nics[nic].sockets.get::<smol_tcp::Socket>(h).recv_queue()))
    }

    /// SIOCOUTQ: the bytes a TCP socket sent but the peer has not acknowledged, or a UDP socket's
    /// datagrams not yet sent. EINVAL for a listening TCP socket.
    pub fn send_queue_len(&self, id: SocketId) -> Result<usize, Errno> {
        match self.table.get(&id).ok_or(Errno::EBADF)? {
            Entry::Tcp(t) => match t.phase {
                TcpPhase::Active { nic, handle, .. } => {
                    Ok(self.nics[nic].sockets.get::<smol_tcp::Socket>(handle).send_queue())
                }
                TcpPhase::Listening { .. } => Err(Errno::EINVAL),
                TcpPhase::Fresh | TcpPhase::Dead => Ok(0),
            },
            Entry::Udp(d) => Ok(d
                .handles
                .iter()
                .map(|(nic, h)| self.nics[*nic].sockets.get::<smol_udp::Socket>(*h).send_queue())
                .sum()),
            Entry::Icmp(_) => Err(Errno::ENOTTY),
        }
    }
}
