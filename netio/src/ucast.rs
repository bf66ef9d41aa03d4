//! UML's `ucast` transport: mcast's framing over point-to-point UDP.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::NetError;
use crate::port::{recv_trunc, Transport};

/// A UDP socket on INADDR_ANY:lport sending to remote:rport.
pub struct Ucast {
    sock: Socket,
    dest: SockAddr,
}

impl Ucast {
    /// Binds and sets no multicast options, as UML.
    pub fn open(remote: Ipv4Addr, lport: u16, rport: u16) -> Result<Ucast, NetError> {
        let what = |w: &str| format!("ucast {remote}:{rport} from port {lport}: {w}");
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(|e| NetError::io(what("socket"), e))?;
        sock.set_reuse_address(true).map_err(|e| NetError::io(what("SO_REUSEADDR"), e))?;
        let local = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, lport)));
        sock.bind(&local).map_err(|e| NetError::io(what("bind"), e))?;
        sock.set_nonblocking(true).map_err(|e| NetError::io(what("O_NONBLOCK"), e))?;
        crate::port::grow_recv_buffer(sock.as_raw_fd());
        Ok(Ucast { sock, dest: SockAddr::from(SocketAddr::V4(SocketAddrV4::new(remote, rport))) })
    }
}

impl Transport for Ucast {
    fn kind(&self) -> &'static str {
        "ucast"
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
