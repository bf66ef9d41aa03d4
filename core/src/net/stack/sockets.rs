//! The socket table: what a guest socket is in terms of smoltcp sockets, its readiness, and errnos.
//!
//! A guest socket maps onto smoltcp sockets of one NIC (a connected TCP socket) or of every NIC it is
//! bound on (a listener's backlog, a UDP or ICMP socket bound to the wildcard address), because smoltcp
//! sockets belong to one interface (see [`nic`](super::nic)).

use std::net::{IpAddr, SocketAddr};

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;

use crate::errno::Errno;

/// The errnos the stack reports beyond [`Errno`]'s named ones.
pub mod errno {
    use crate::errno::Errno;

    /// The peer answered a SYN with RST (or nobody listens on a loopback port).
    pub const ECONNREFUSED: Errno = Errno(libc::ECONNREFUSED);
    /// The peer reset an established connection.
    pub const ECONNRESET: Errno = Errno(libc::ECONNRESET);
    /// A connect got no answer in time.
    pub const ETIMEDOUT: Errno = Errno(libc::ETIMEDOUT);
    /// The local address and port are taken.
    pub const EADDRINUSE: Errno = Errno(libc::EADDRINUSE);
    /// No NIC has this address, or no ephemeral port is free.
    pub const EADDRNOTAVAIL: Errno = Errno(libc::EADDRNOTAVAIL);
    /// No route to the destination's network.
    pub const ENETUNREACH: Errno = Errno(libc::ENETUNREACH);
    /// Not connected.
    pub const ENOTCONN: Errno = Errno(libc::ENOTCONN);
    /// Already connected.
    pub const EISCONN: Errno = Errno(libc::EISCONN);
    /// A connect is already under way.
    pub const EALREADY: Errno = Errno(libc::EALREADY);
    /// A datagram socket has no destination.
    pub const EDESTADDRREQ: Errno = Errno(libc::EDESTADDRREQ);
    /// A datagram larger than the protocol allows.
    pub const EMSGSIZE: Errno = Errno(libc::EMSGSIZE);
    /// Write after shutdown or after the connection ended (the caller raises SIGPIPE).
    pub const EPIPE: Errno = Errno(libc::EPIPE);
    /// An address of the other family.
    pub const EAFNOSUPPORT: Errno = Errno(libc::EAFNOSUPPORT);
    /// The operation does not apply to this kind of socket.
    pub const EOPNOTSUPP: Errno = Errno(libc::EOPNOTSUPP);
}

/// A guest socket of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u32);

/// The transport of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// SOCK_STREAM.
    Tcp,
    /// SOCK_DGRAM.
    Udp,
    /// ICMP echo (ping), SOCK_DGRAM or SOCK_RAW with IPPROTO_ICMP/IPPROTO_ICMPV6.
    Icmp,
}

/// What poll/epoll report for a socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// POLLIN: data, EOF, a pending connection or an error.
    pub readable: bool,
    /// POLLOUT: room to send.
    pub writable: bool,
    /// POLLHUP: both directions are finished.
    pub hup: bool,
    /// POLLRDHUP: the peer will send nothing more.
    pub rdhup: bool,
    /// POLLERR: an error is pending (SO_ERROR).
    pub error: bool,
}

/// What a datagram receive returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// The datagram's whole length (larger than `len` when truncated: MSG_TRUNC).
    pub full_len: usize,
    /// The sender.
    pub from: SocketAddr,
}

/// A local address and port; `addr: None` is the wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Binding {
    pub addr: Option<IpAddr>,
    pub port: u16,
}

impl Binding {
    pub fn overlaps(&self, other: &Binding) -> bool {
        self.port == other.port && (self.addr.is_none() || other.addr.is_none() || self.addr == other.addr)
    }
}

/// A listener's smoltcp sockets on one NIC: some listening, some with a connection to accept.
pub(crate) struct ListenQueue {
    pub nic: usize,
    pub handles: Vec<SocketHandle>,
}

/// Where a TCP socket is in its life.
pub(crate) enum TcpPhase {
    /// Created (maybe bound), neither listening nor connected.
    Fresh,
    /// Listening with this backlog.
    Listening { backlog: usize, queues: Vec<ListenQueue> },
    /// Connecting or connected through one smoltcp socket.
    Active { nic: usize, handle: SocketHandle, last: tcp::State, connect_deadline: Option<Instant> },
    /// The connection is over and its smoltcp socket gone.
    Dead,
}

pub(crate) struct TcpEntry {
    pub ipv6: bool,
    pub bound: Option<Binding>,
    pub phase: TcpPhase,
    pub error: Option<Errno>,
    pub shut_rd: bool,
    pub shut_wr: bool,
    pub reuse_addr: bool,
    pub nodelay: bool,
    pub peer: Option<SocketAddr>,
}

/// A UDP or ICMP socket: one smoltcp socket per NIC it is bound on.
pub(crate) struct DgramEntry {
    pub ipv6: bool,
    pub bound: Option<Binding>,
    pub handles: Vec<(usize, SocketHandle)>,
    pub peer: Option<SocketAddr>,
    pub reuse_addr: bool,
}

pub(crate) enum Entry {
    Tcp(TcpEntry),
    Udp(DgramEntry),
    /// An ICMP socket; its binding's port is the echo identifier.
    Icmp(DgramEntry),
}

impl Entry {
    pub fn protocol(&self) -> Protocol {
        match self {
            Entry::Tcp(_) => Protocol::Tcp,
            Entry::Udp(_) => Protocol::Udp,
            Entry::Icmp(_) => Protocol::Icmp,
        }
    }

    pub fn binding(&self) -> Option<Binding> {
        match self {
            Entry::Tcp(t) => t.bound,
            Entry::Udp(d) | Entry::Icmp(d) => d.bound,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        match self {
            Entry::Tcp(t) => t.ipv6,
            Entry::Udp(d) | Entry::Icmp(d) => d.ipv6,
        }
    }
}

/// An address as the stack handles it: IPv4-mapped IPv6 addresses become IPv4.
pub(crate) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Checks that an address suits a socket of this family (an IPv6 socket takes both).
pub(crate) fn check_family(ipv6_socket: bool, addr: IpAddr) -> Result<IpAddr, Errno> {
    let addr = canonical(addr);
    if addr.is_ipv6() && !ipv6_socket {
        return Err(errno::EAFNOSUPPORT);
    }
    Ok(addr)
}
