//! UML's `daemon` transport: a port on uml_switch (or `umvm switch`).
//! A control stream carries one request_v3 and then stays open for the
//! port's life; frames go as datagrams between abstract unix addresses.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::NetError;
use crate::port::{recv_trunc, Transport};
use crate::switch::protocol::request_v3;
use crate::unix_addr::{bind_dgram, room_probe, send_to, UnixAddr, SOCKADDR_UN_LEN};

/// The control socket Debian's UML 6.1 uses when `ethN=daemon` names
/// none (Kconfig UML_NET_DAEMON_DEFAULT_SOCK). uml_switch itself and
/// `umvm switch` default to [`crate::switch::DEFAULT_CTL`] instead.
pub const DEFAULT_CTL: &str = "/var/run/uml-utilities/uml_switch.ctl";

/// How long to wait for the switch's reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected switch port.
pub struct Daemon {
    ctl: UnixStream,
    data: OwnedFd,
    local: UnixAddr,
    switch: UnixAddr,
    /// Polls writable when the switch's socket has room (see [`room_probe`]).
    probe: Option<OwnedFd>,
}

impl Daemon {
    /// Joins the switch whose control socket is `ctl`, as UML does.
    pub fn connect(ctl: &Path) -> Result<Daemon, NetError> {
        let what = |w: &str| format!("daemon {}: {w}", ctl.display());
        let mut stream = UnixStream::connect(ctl).map_err(|e| NetError::io(what("connect"), e))?;
        let local = UnixAddr::uml_abstract_now();
        let data = bind_dgram(&local).map_err(|e| NetError::io(what("bind data socket"), e))?;
        stream.write_all(&request_v3(&local)).map_err(|e| NetError::io(what("send request"), e))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(|e| NetError::io(what("SO_RCVTIMEO"), e))?;
        let mut reply = [0u8; SOCKADDR_UN_LEN];
        stream.read_exact(&mut reply).map_err(|e| {
            let why = if e.kind() == io::ErrorKind::UnexpectedEof {
                "closed the control connection without a reply (it refused the request)".to_string()
            } else {
                format!("no reply: {e}")
            };
            NetError::Switch { ctl: PathBuf::from(ctl), why }
        })?;
        let switch = UnixAddr::from_wire(&reply);
        crate::port::grow_recv_buffer(data.as_raw_fd());
        crate::port::grow_send_buffer(data.as_raw_fd());
        // Tells when a full switch socket has room again (None: such sends are dropped, as in UML).
        let probe = room_probe(&switch).ok();
        stream.set_nonblocking(true).map_err(|e| NetError::io(what("O_NONBLOCK"), e))?;
        Ok(Daemon { ctl: stream, data, local, switch, probe })
    }

    /// The abstract address this port's data socket is bound to.
    pub fn local_addr(&self) -> &UnixAddr {
        &self.local
    }

    /// The switch's data socket address from its reply.
    pub fn switch_addr(&self) -> &UnixAddr {
        &self.switch
    }

    /// The control stream (readable at EOF when the switch goes away).
    pub fn ctl_fd(&self) -> RawFd {
        self.ctl.as_raw_fd()
    }
}

impl Transport for Daemon {
    fn kind(&self) -> &'static str {
        "daemon"
    }

    fn fd(&self) -> RawFd {
        self.data.as_raw_fd()
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        send_to(self.data.as_raw_fd(), frame, &self.switch)
    }

    fn room_fd(&self) -> RawFd {
        self.probe.as_ref().map_or(self.data.as_raw_fd(), AsRawFd::as_raw_fd)
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // UML ignores the sender; so does this.
        recv_trunc(self.fd(), buf)
    }

    fn carrier(&self) -> bool {
        let mut b = [0u8; 1];
        // SAFETY: one byte into `b`; MSG_PEEK leaves the stream as it is.
        let n =
            unsafe { libc::recv(self.ctl.as_raw_fd(), b.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        // EOF or a reset: the switch is gone. EAGAIN: all quiet.
        !(n == 0 || (n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock))
    }
}
