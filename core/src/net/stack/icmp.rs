//! ICMP echo sockets of the [`Stack`], for ping: the guest writes an echo request (type, code, checksum,
//! identifier, sequence, data) and reads echo replies carrying its identifier.

use std::net::{IpAddr, SocketAddr};

use smoltcp::socket::icmp;

use super::sockets::{check_family, errno, Binding, DgramEntry, Entry, RecvMeta, SocketId};
use super::Stack;
use crate::errno::Errno;

/// Messages each direction holds.
const ICMP_PACKETS: usize = 64;
/// Bytes each direction holds.
const ICMP_BUFFER: usize = 128 * 1024;
/// An ICMP echo header: type, code, checksum, identifier, sequence.
const ECHO_HEADER_LEN: usize = 8;

fn icmp_entry(stack: &mut Stack, id: SocketId) -> Result<&mut DgramEntry, Errno> {
    match stack.table.get_mut(&id) {
        Some(Entry::Icmp(d)) => Ok(d),
        Some(_) => Err(errno::EOPNOTSUPP),
        None => Err(Errno::EBADF),
    }
}

impl Stack {
    /// Creates the smoltcp sockets of an ICMP socket on every NIC, bound to the echo identifier that
    /// the binding's port carries.
    pub(super) fn icmp_bind(&mut self, id: SocketId, b: Binding) -> Result<(), Errno> {
        let nics = self.nics_for_binding(b.addr)?;
        let mut handles = Vec::new();
        for nic in nics {
            let rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; ICMP_PACKETS], vec![0; ICMP_BUFFER]);
            let tx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; ICMP_PACKETS], vec![0; ICMP_BUFFER]);
            let mut s = icmp::Socket::new(rx, tx);
            s.bind(icmp::Endpoint::Ident(b.port)).map_err(|_| Errno::EINVAL)?;
            s.set_hop_limit(self.sock_opts(id).hop_limit);
            handles.push((nic, self.nics[nic].sockets.add(s)));
        }
        let d = icmp_entry(self, id)?;
        d.bound = Some(b);
        d.handles = handles;
        Ok(())
    }

    /// Sends an ICMP echo request (`message` starts at the ICMP header) to `dst`. An unbound socket
    /// binds to the message's identifier, so raw-socket pings see replies to their own id.
    pub fn icmp_send_to(&mut self, id: SocketId, message: &[u8], dst: IpAddr) -> Result<usize, Errno> {
        let d = icmp_entry(self, id)?;
        let dst = check_family(d.ipv6, dst)?;
        let unbound = d.bound.is_none();
        if message.len() < ECHO_HEADER_LEN {
            return Err(Errno::EINVAL);
        }
        if message.len() > ICMP_BUFFER / 2 {
            return Err(errno::EMSGSIZE);
        }
        let nic = self.route(dst)?;
        if unbound {
            let ident = u16::from_be_bytes([message[4], message[5]]);
            self.icmp_bind(id, Binding { addr: None, port: ident })?;
        }
        let d = icmp_entry(self, id)?;
        let Some(&(_, h)) = d.handles.iter().find(|(n, _)| *n == nic) else {
            return Err(errno::ENETUNREACH);
        };
        let s = self.nics[nic].sockets.get_mut::<icmp::Socket>(h);
        match s.send_slice(message, dst.into()) {
            Ok(()) => Ok(message.len()),
            Err(icmp::SendError::BufferFull) => Err(Errno::EAGAIN),
            Err(icmp::SendError::Unaddressable) => Err(errno::ENETUNREACH),
        }
    }

    /// Receives one ICMP message (from its ICMP header on) addressed to this socket's identifier.
    pub fn icmp_recv_from(&mut self, id: SocketId, buf: &mut [u8]) -> Result<RecvMeta, Errno> {
        let handles = icmp_entry(self, id)?.handles.clone();
        for (nic, h) in handles {
            let s = self.nics[nic].sockets.get_mut::<icmp::Socket>(h);
            if let Ok((payload, from)) = s.recv() {
                let len = payload.len().min(buf.len());
                buf[..len].copy_from_slice(&payload[..len]);
                return Ok(RecvMeta { len, full_len: payload.len(), from: SocketAddr::new(from.into(), 0) });
            }
        }
        Err(Errno::EAGAIN)
    }
}
