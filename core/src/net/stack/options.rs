//! Per-socket IP and buffer options (IP_TTL / IPV6_UNICAST_HOPS, SO_RCVBUF / SO_SNDBUF) as the stack
//! applies them: to the smoltcp sockets a guest socket has now and to those it gets later (a connect, a
//! listener's spare sockets, a bind on a new NIC); an accepted socket inherits its listener's, as in
//! Linux.

use smoltcp::socket::{icmp, tcp, udp};

use super::sockets::{DgramEntry, Entry, SocketId, TcpEntry, TcpPhase};
use super::Stack;
use crate::errno::Errno;

/// The options a guest socket set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOpts {
    /// The TTL or hop limit of what it sends (None: the default, 64).
    pub hop_limit: Option<u8>,
    /// TCP receive and send buffer sizes (None: the stack's default).
    pub rx_buffer: Option<usize>,
    /// See `rx_buffer`.
    pub tx_buffer: Option<usize>,
}

/// The smallest and largest TCP buffer the stack gives a socket (Linux's SOCK_MIN_RCVBUF is 2 KiB; the
/// top is its tcp_rmem maximum's order).
const MIN_BUFFER: usize = 4096;
const MAX_BUFFER: usize = 16 << 20;

impl Stack {
    /// A socket's options.
    pub fn sock_opts(&self, id: SocketId) -> SockOpts {
        self.opts.get(&id).copied().unwrap_or_default()
    }

    /// Sets IP_TTL / IPV6_UNICAST_HOPS (None: back to the default); it applies at once.
    pub fn set_hop_limit(&mut self, id: SocketId, hops: Option<u8>) -> Result<(), Errno> {
        if hops == Some(0) {
            return Err(Errno::EINVAL);
        }
        let entry = self.table.get(&id).ok_or(Errno::EBADF)?;
        let handles = handles_of(entry);
        self.opts.entry(id).or_default().hop_limit = hops;
        for (nic, h, kind) in handles {
            let set = &mut self.nics[nic].sockets;
            match kind {
                Kind::Tcp => set.get_mut::<tcp::Socket>(h).set_hop_limit(hops),
                Kind::Udp => set.get_mut::<udp::Socket>(h).set_hop_limit(hops),
                Kind::Icmp => set.get_mut::<icmp::Socket>(h).set_hop_limit(hops),
            }
        }
        Ok(())
    }

    /// Sets SO_RCVBUF (`rx`) or SO_SNDBUF (`tx`) for a TCP socket's future connection: the buffers are
    /// made at connect or listen, so a connected socket keeps its own (Linux too fixes the window scale
    /// at the handshake). Returns the size the socket will have.
    pub fn set_buffer_size(&mut self, id: SocketId, rx: bool, bytes: usize) -> Result<usize, Errno> {
        self.table.get(&id).ok_or(Errno::EBADF)?;
        let bytes = bytes.clamp(MIN_BUFFER, MAX_BUFFER);
        let o = self.opts.entry(id).or_default();
        if rx {
            o.rx_buffer = Some(bytes);
        } else {
            o.tx_buffer = Some(bytes);
        }
        Ok(bytes)
    }

    /// The TCP buffer sizes a socket's connection gets (receive, send).
    pub fn buffer_sizes(&self, id: SocketId) -> (usize, usize) {
        let o = self.sock_opts(id);
        (o.rx_buffer.unwrap_or(self.tcp_buffer), o.tx_buffer.unwrap_or(self.tcp_buffer))
    }

    /// A smoltcp TCP socket with a guest socket's buffers and TTL.
    pub(super) fn new_tcp_socket(&self, id: SocketId) -> tcp::Socket<'static> {
        let (rx, tx) = self.buffer_sizes(id);
        let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; rx]), tcp::SocketBuffer::new(vec![0; tx]));
        s.set_hop_limit(self.sock_opts(id).hop_limit);
        s
    }

    /// Gives an accepted socket its listener's options.
    pub(super) fn inherit_opts(&mut self, listener: SocketId, accepted: SocketId) {
        if let Some(o) = self.opts.get(&listener).copied() {
            self.opts.insert(accepted, o);
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
}

/// Every smoltcp socket a guest socket has now.
fn handles_of(e: &Entry) -> Vec<(usize, smoltcp::iface::SocketHandle, Kind)> {
    match e {
        Entry::Tcp(TcpEntry { phase: TcpPhase::Active { nic, handle, .. }, .. }) => vec![(*nic, *handle, Kind::Tcp)],
        Entry::Tcp(TcpEntry { phase: TcpPhase::Listening { queues, .. }, .. }) => {
            queues.iter().flat_map(|q| q.handles.iter().map(move |h| (q.nic, *h, Kind::Tcp))).collect()
        }
        Entry::Tcp(_) => Vec::new(),
        Entry::Udp(DgramEntry { handles, .. }) => handles.iter().map(|(n, h)| (*n, *h, Kind::Udp)).collect(),
        Entry::Icmp(DgramEntry { handles, .. }) => handles.iter().map(|(n, h)| (*n, *h, Kind::Icmp)).collect(),
    }
}
