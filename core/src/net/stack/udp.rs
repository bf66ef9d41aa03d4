//! UDP sockets of the [`Stack`]: bind, connect, sendto, recvfrom.

use std::net::SocketAddr;

use smoltcp::socket::udp;
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

use super::sockets::{check_family, errno, Binding, DgramEntry, Entry, RecvMeta, SocketId};
use super::{Protocol, Stack};
use crate::errno::Errno;

/// Datagrams each direction holds.
const UDP_PACKETS: usize = 256;
/// Payload bytes each direction holds (Linux's default rmem is about 208 KiB).
const UDP_BUFFER: usize = 256 * 1024;
/// The largest UDP payload over IPv4.
const UDP_MAX_PAYLOAD: usize = 65507;

fn udp_entry(stack: &mut Stack, id: SocketId) -> Result<&mut DgramEntry, Errno> {
    match stack.table.get_mut(&id) {
        Some(Entry::Udp(d)) => Ok(d),
        Some(_) => Err(errno::EOPNOTSUPP),
        None => Err(Errno::EBADF),
    }
}

impl Stack {
    /// Creates the smoltcp sockets of a UDP binding on every NIC it covers.
    pub(super) fn udp_bind(&mut self, id: SocketId, b: Binding) -> Result<(), Errno> {
        let nics = self.nics_for_binding(b.addr)?;
        let mut handles = Vec::new();
        for nic in nics {
            let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_PACKETS], vec![0; UDP_BUFFER]);
            let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_PACKETS], vec![0; UDP_BUFFER]);
            let mut s = udp::Socket::new(rx, tx);
            s.bind(IpListenEndpoint { addr: b.addr.map(Into::into), port: b.port }).map_err(|_| Errno::EINVAL)?;
            s.set_hop_limit(self.sock_opts(id).hop_limit);
            handles.push((nic, self.nics[nic].sockets.add(s)));
        }
        let d = udp_entry(self, id)?;
        d.bound = Some(b);
        d.handles = handles;
        Ok(())
    }

    fn udp_autobind(&mut self, id: SocketId) -> Result<(), Errno> {
        let d = udp_entry(self, id)?;
        if d.bound.is_some() {
            return Ok(());
        }
        let port = self.ephemeral_port(Protocol::Udp, None, id)?;
        self.udp_bind(id, Binding { addr: None, port })
    }

    /// Sets (or with `None` clears) the default destination (connect(2) on a datagram socket).
    pub fn udp_connect(&mut self, id: SocketId, peer: Option<SocketAddr>) -> Result<(), Errno> {
        let d = udp_entry(self, id)?;
        let peer = match peer {
            Some(p) => {
                let ip = check_family(d.ipv6, p.ip())?;
                self.route(ip)?;
                Some(SocketAddr::new(ip, p.port()))
            }
            None => None,
        };
        self.udp_autobind(id)?;
        udp_entry(self, id)?.peer = peer;
        Ok(())
    }

    /// Sends one datagram to `dst` (or the connected peer): EDESTADDRREQ without either, EAGAIN when the
    /// send buffer is full, EMSGSIZE when too large, ENETUNREACH without a route.
    pub fn udp_send_to(&mut self, id: SocketId, data: &[u8], dst: Option<SocketAddr>) -> Result<usize, Errno> {
        let d = udp_entry(self, id)?;
        let dst = match dst.or(d.peer) {
            Some(a) => SocketAddr::new(check_family(d.ipv6, a.ip())?, a.port()),
            None => return Err(errno::EDESTADDRREQ),
        };
        if data.len() > UDP_MAX_PAYLOAD {
            return Err(errno::EMSGSIZE);
        }
        if dst.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let nic = self.route(dst.ip())?;
        self.udp_autobind(id)?;
        let d = udp_entry(self, id)?;
        let Some(&(_, h)) = d.handles.iter().find(|(n, _)| *n == nic) else {
            return Err(errno::ENETUNREACH);
        };
        let s = self.nics[nic].sockets.get_mut::<udp::Socket>(h);
        match s.send_slice(data, IpEndpoint::new(dst.ip().into(), dst.port())) {
            Ok(()) => Ok(data.len()),
            Err(udp::SendError::BufferFull) => Err(Errno::EAGAIN),
            Err(udp::SendError::Unaddressable) => Err(errno::ENETUNREACH),
        }
    }

    /// Receives one datagram into `buf` (the rest of a longer one is lost, as Linux does): EAGAIN when
    /// none waits. A connected socket drops datagrams from anyone but its peer.
    pub fn udp_recv_from(&mut self, id: SocketId, buf: &mut [u8]) -> Result<RecvMeta, Errno> {
        self.udp_take(id, buf, false)
    }

    /// Copies the datagram [`Stack::udp_recv_from`] would return, leaving it queued (MSG_PEEK).
    pub fn udp_peek_from(&mut self, id: SocketId, buf: &mut [u8]) -> Result<RecvMeta, Errno> {
        self.udp_take(id, buf, true)
    }

    fn udp_take(&mut self, id: SocketId, buf: &mut [u8], peek: bool) -> Result<RecvMeta, Errno> {
        let d = udp_entry(self, id)?;
        let peer = d.peer;
        let handles = d.handles.clone();
        for (nic, h) in handles {
            let s = self.nics[nic].sockets.get_mut::<udp::Socket>(h);
            while let Ok((payload, meta)) = s.peek() {
                let from = SocketAddr::new(meta.endpoint.addr.into(), meta.endpoint.port);
                if peer.is_some_and(|p| p != from) {
                    let _ = s.recv();
                    continue;
                }
                let len = payload.len().min(buf.len());
                buf[..len].copy_from_slice(&payload[..len]);
                let full_len = payload.len();
                if !peek {
                    let _ = s.recv();
                }
                return Ok(RecvMeta { len, full_len, from });
            }
        }
        Err(Errno::EAGAIN)
    }
}
