//! UML's `mcast` transport: every frame is one UDP datagram to a
//! multicast group, and every member (the sender too) gets it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::NetError;
use crate::port::{recv_trunc, Transport};

/// UML's default group.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 192, 168, 1);
/// UML's default port (mcast and ucast alike).
pub const DEFAULT_PORT: u16 = 1102;
/// UML's default TTL: the frames stay on the host's link.
pub const DEFAULT_TTL: u32 = 1;

/// A joined multicast group.
pub struct Mcast {
    sock: Socket,
    group: Ipv4Addr,
    dest: SockAddr,
}

impl Mcast {
    /// Sets the socket up exactly as UML does: SO_REUSEADDR, an int
    /// IP_MULTICAST_TTL, IP_MULTICAST_LOOP on, bound to group:port, then
    /// IP_ADD_MEMBERSHIP with INADDR_ANY (the route picks the interface).
    pub fn open(group: Ipv4Addr, port: u16, ttl: u32) -> Result<Mcast, NetError> {
        let what = |w: &str| format!("mcast {group}:{port}: {w}");
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(|e| NetError::io(what("socket"), e))?;
        sock.set_reuse_address(true).map_err(|e| NetError::io(what("SO_REUSEADDR"), e))?;
        sock.set_multicast_ttl_v4(ttl).map_err(|e| NetError::io(what("IP_MULTICAST_TTL"), e))?;
        sock.set_multicast_loop_v4(true).map_err(|e| NetError::io(what("IP_MULTICAST_LOOP"), e))?;
        let addr = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(group, port)));
        sock.bind(&addr).map_err(|e| NetError::io(what("bind"), e))?;
        sock.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENODEV) {
                NetError::NoMulticast(e)
            } else {
                NetError::io(what("IP_ADD_MEMBERSHIP"), e)
            }
        })?;
        sock.set_nonblocking(true).map_err(|e| NetError::io(what("O_NONBLOCK"), e))?;
        crate::port::grow_recv_buffer(sock.as_raw_fd());
        Ok(Mcast { sock, group, dest: addr })
    }
}

impl Transport for Mcast {
    fn kind(&self) -> &'static str {
        "mcast"
    }

    fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.sock.send_to(frame, &self.dest).map(drop)
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv_trunc(self.fd(), buf)
    }
}

impl Drop for Mcast {
    fn drop(&mut self) {
        // As UML on close; the socket's close would drop it anyway.
        let _ = self.sock.leave_multicast_v4(&self.group, &Ipv4Addr::UNSPECIFIED);
    }
}
