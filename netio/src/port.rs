//! A NIC's host side: one transport plus frame checks, counters and link state.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::NetError;
use crate::frame;
use crate::mac::Mac;
use crate::stats::{Stats, StatsSnapshot};

/// How many datagrams one [`Port::recv`] call may discard (bad or own
/// frames) before it returns, so a flood cannot hold the caller forever.
const MAX_DISCARDS_PER_RECV: usize = 64;

/// One of UML's transports: moves whole datagrams, each one frame, and
/// never blocks. Implementations do no frame checks ([`Port`] does).
pub trait Transport: Send + Sync {
    /// UML's name for it: "mcast", "ucast", "daemon" or "tuntap".
    fn kind(&self) -> &'static str;
    /// Readable when a datagram waits (for poll, epoll or io_uring).
    fn fd(&self) -> RawFd;
    /// Sends one datagram; `WouldBlock` when the host queue is full.
    fn send(&self, frame: &[u8]) -> io::Result<()>;
    /// Receives one datagram into `buf` and returns its full length,
    /// which is more than `buf.len()` when it was truncated.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// The fd that polls writable when a send that said `WouldBlock` may
    /// succeed (the data fd unless the transport has a better one).
    fn room_fd(&self) -> RawFd {
        self.fd()
    }
    /// Whether the far side is there (a daemon port loses its switch).
    fn carrier(&self) -> bool {
        true
    }
}

/// What [`Port::try_recv`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A valid frame of this length.
    Frame(usize),
    /// Nothing waits: the transport said it would block.
    Empty,
    /// Only bad or own frames this call; more may wait.
    MoreLater,
}

/// A port's link: the guest's up/down flag and the transport's carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub admin_up: bool,
    pub carrier: bool,
}

impl LinkState {
    /// Up and with carrier: frames move.
    pub fn running(&self) -> bool {
        self.admin_up && self.carrier
    }
}

/// A guest NIC's backend. `send` and `recv` take `&self` so the port can
/// sit behind an `Arc` shared by the receive and transmit paths.
pub struct Port {
    transport: Box<dyn Transport>,
    mac: Mac,
    stats: Stats,
    admin_up: AtomicBool,
}

impl Port {
    /// A port that is administratively up.
    pub fn new(transport: Box<dyn Transport>, mac: Mac) -> Port {
        Port { transport, mac, stats: Stats::default(), admin_up: AtomicBool::new(true) }
    }

    /// The NIC's own address: frames from it that come back (mcast loops
    /// every frame back to its sender) are dropped silently.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// Polls writable (POLLOUT) when a send that said
    /// [`NetError::WouldBlock`] is worth trying again.
    pub fn room_fd(&self) -> RawFd {
        self.transport.room_fd()
    }

    /// The transport's UML name.
    pub fn kind(&self) -> &'static str {
        self.transport.kind()
    }

    /// Sends one frame. A malformed frame is refused (and counted as a TX
    /// error); a full host queue drops it (a TX drop, as in UML) and says
    /// [`NetError::WouldBlock`]; a port that is down drops it silently.
    pub fn send(&self, frame: &[u8]) -> Result<(), NetError> {
        let r = self.try_send(frame);
        if let Err(NetError::WouldBlock) = r {
            self.stats.tx_drop();
        }
        r
    }

    /// [`Port::send`] for a caller that keeps a frame the host queue had
    /// no room for (a NIC's transmit queue): [`NetError::WouldBlock`] is
    /// not counted as a drop; call [`Port::note_tx_dropped`] if the frame
    /// is given up after all.
    pub fn try_send(&self, frame: &[u8]) -> Result<(), NetError> {
        if let Err(e) = frame::parse(frame) {
            self.stats.tx_error();
            return Err(e.into());
        }
        if !self.admin_up.load(Ordering::Relaxed) {
            self.stats.tx_drop();
            return Ok(());
        }
        loop {
            match self.transport.send(frame) {
                Ok(()) => {
                    self.stats.tx_ok(frame.len());
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(NetError::WouldBlock),
                Err(e) => {
                    self.stats.tx_error();
                    return Err(NetError::io(format!("{} send", self.kind()), e));
                }
            }
        }
    }

    /// Receives the next valid frame into `buf` (use [`frame::FRAME_BUF`]
    /// bytes) and returns its length, or `None` when nothing waits.
    /// Malformed frames are dropped and counted, the port's own looped
    /// frames dropped, frames while down dropped and counted.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, NetError> {
        Ok(match self.try_recv(buf)? {
            Received::Frame(n) => Some(n),
            Received::Empty | Received::MoreLater => None,
        })
    }

    /// [`Port::recv`], telling an empty socket from one that may still
    /// hold datagrams after too many bad ones were discarded in one call.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Received, NetError> {
        let mut discards = 0;
        while discards < MAX_DISCARDS_PER_RECV {
            let n = match self.transport.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::Empty),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(NetError::io(format!("{} receive", self.kind()), e)),
            };
            discards += 1;
            let checked = if n > buf.len() { Err(frame::FrameError::Oversized(n)) } else { frame::parse(&buf[..n]) };
            match checked {
                Err(e) => {
                    tracing::debug!("{}: dropped {e}", self.kind());
                    self.stats.rx_bad(&e);
                }
                Ok(h) if h.src == self.mac => {}
                Ok(_) if !self.admin_up.load(Ordering::Relaxed) => self.stats.rx_drop(),
                Ok(_) => {
                    self.stats.rx_ok(n);
                    return Ok(Received::Frame(n));
                }
            }
        }
        Ok(Received::MoreLater)
    }

    /// Counts a frame given up on the way out (its transmit queue was full).
    pub fn note_tx_dropped(&self) {
        self.stats.tx_drop();
    }

    /// Counts a received frame its consumer could not take (a full queue).
    pub fn note_rx_dropped(&self) {
        self.stats.rx_drop();
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The guest's `ifconfig up/down`.
    pub fn set_admin_up(&self, up: bool) {
        self.admin_up.store(up, Ordering::Relaxed);
    }

    /// The link now.
    pub fn link(&self) -> LinkState {
        LinkState { admin_up: self.admin_up.load(Ordering::Relaxed), carrier: self.transport.carrier() }
    }
}

impl AsRawFd for Port {
    fn as_raw_fd(&self) -> RawFd {
        self.transport.fd()
    }
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port").field("kind", &self.kind()).field("mac", &self.mac).finish()
    }
}

/// How much a transport's socket may hold before the host drops what
/// arrives: about 1,000 full frames, a NIC ring's worth. The host's
/// default (rmem_default, ~200 KiB) holds ~90, which one TCP window
/// burst overflows.
pub const RECV_BUFFER: usize = 4 << 20;

/// Gives a transport's socket a receive buffer of [`RECV_BUFFER`]:
/// SO_RCVBUFFORCE where allowed (CAP_NET_ADMIN), else SO_RCVBUF, which
/// the host caps at its rmem_max. Best effort: a smaller buffer only
/// loses more frames under bursts.
pub(crate) fn grow_recv_buffer(fd: RawFd) {
    grow_buffer(fd, [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF]);
}

/// The same for the send side of a unix datagram socket, whose frames
/// count against its sender until the receiver reads them: with the
/// default, a switch could have only ~90 frames in all its ports' queues.
pub(crate) fn grow_send_buffer(fd: RawFd) {
    grow_buffer(fd, [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF]);
}

fn grow_buffer(fd: RawFd, opts: [libc::c_int; 2]) {
    let bytes = RECV_BUFFER as libc::c_int;
    for opt in opts {
        // SAFETY: passes a valid int of the stated size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

/// `recv(2)` with MSG_TRUNC, so a datagram longer than `buf` says so.
pub(crate) fn recv_trunc(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes; MSG_TRUNC makes the
    // kernel report the full length without writing past it.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
