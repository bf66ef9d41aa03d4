//! A netio [`Port`] as the stack's [`FrameLink`], with a transmit queue.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use umvm_netio::{NetError, Port, Received, FRAME_BUF};

use crate::net::stack::{FrameLink, LinkCounters};

/// Frames a NIC holds while its host queue is full: Linux's default txqueuelen.
pub const TX_QUEUE_LEN: usize = 1000;

/// Tells the receive thread that some link waits for its port to take frames again.
pub struct TxBell {
    efd: OwnedFd,
}

impl TxBell {
    /// A new bell (an eventfd).
    pub fn new() -> std::io::Result<TxBell> {
        // SAFETY: eventfd has no memory effects; the fd is checked, then owned.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh eventfd nothing else owns.
        Ok(TxBell { efd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    pub(crate) fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a valid buffer; a full counter (EAGAIN) already means "rung".
        unsafe { libc::write(self.efd.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// Resets the bell after the receive thread woke on it.
    pub fn clear(&self) {
        let mut v = [0u8; 8];
        // SAFETY: reads 8 bytes into a valid buffer; EAGAIN (not rung) is fine.
        unsafe { libc::read(self.efd.as_raw_fd(), v.as_mut_ptr().cast(), 8) };
    }
}

impl AsRawFd for TxBell {
    fn as_raw_fd(&self) -> RawFd {
        self.efd.as_raw_fd()
    }
}

/// A NIC's wire to its host transport.
///
/// Frames go out with one non-blocking send each, from whichever thread polls the stack. When the host
/// queue is full (a switch's socket holds only a few datagrams) a frame waits in the link's transmit
/// queue, as Linux's qdisc holds packets while a driver's ring is full, and the receive thread sends
/// the queue on when the port is writable again; only a full queue drops (counted). Frames come in by
/// the same kind of non-blocking receive, called by the stack's poll after the
/// [`receiver`](super::receiver) saw the port's fd readable.
pub struct PortLink {
    port: Arc<Port>,
    /// The frame being received (the stack polls under one lock, so this is never contended).
    scratch: Mutex<Box<[u8]>>,
    /// Frames waiting for room in the host queue, oldest first.
    backlog: Mutex<VecDeque<Vec<u8>>>,
    /// Set by the NIC thread when the port's fd polled readable, cleared when a receive found it
    /// empty (see `recv`).
    readable: AtomicBool,
    /// Set when the backlog needs the receive thread to watch for the port becoming writable.
    wants_writable: AtomicBool,
    bell: Arc<TxBell>,
    /// The last host error, logged once rather than per frame.
    last_error: Mutex<Option<String>>,
}

impl PortLink {
    /// A link over `port` whose transmit queue rings `bell`.
    pub fn new(port: Arc<Port>, bell: Arc<TxBell>) -> PortLink {
        PortLink {
            port,
            scratch: Mutex::new(vec![0; FRAME_BUF].into_boxed_slice()),
            backlog: Mutex::new(VecDeque::new()),
            // Frames may wait before the first poll completes.
            readable: AtomicBool::new(true),
            wants_writable: AtomicBool::new(false),
            bell,
            last_error: Mutex::new(None),
        }
    }

    /// The port under the link.
    pub fn port(&self) -> &Arc<Port> {
        &self.port
    }

    /// The NIC thread saw the port's fd readable: the next stack poll receives from it.
    pub fn note_readable(&self) {
        self.readable.store(true, Ordering::Release);
    }

    /// Takes the request to watch for writability (the receive thread's side of the bell).
    pub fn take_writable_request(&self) -> bool {
        self.wants_writable.swap(false, Ordering::AcqRel)
    }

    /// Sends what waits in the transmit queue; true when some is still waiting.
    pub fn flush(&self) -> bool {
        let mut q = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(frame) = q.front() {
            match self.port.try_send(frame) {
                Err(NetError::WouldBlock) => return true,
                Ok(()) => {}
                Err(e) => self.note(&e),
            }
            q.pop_front();
        }
        false
    }

    fn note(&self, e: &NetError) {
        let text = e.to_string();
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(&text) {
            tracing::warn!("{}: {text}", self.port.kind());
            *last = Some(text);
        }
    }
}

impl FrameLink for PortLink {
    fn send(&self, frame: &[u8]) {
        let mut q = self.backlog.lock().unwrap_or_else(|e| e.into_inner());
        // Behind a queue, a frame waits its turn.
        if q.is_empty() {
            match self.port.try_send(frame) {
                Ok(()) => return,
                Err(NetError::WouldBlock) => {}
                Err(e) => return self.note(&e),
            }
        }
        if q.len() >= TX_QUEUE_LEN {
            self.port.note_tx_dropped();
            return;
        }
        let first = q.is_empty();
        q.push_back(frame.to_vec());
        drop(q);
        if first {
            self.wants_writable.store(true, Ordering::Release);
            self.bell.ring();
        }
    }

    fn recv(&self) -> Option<Vec<u8>> {
        // The stack polls every card after every socket call: a card the NIC thread has not seen
        // readable since it was last found empty costs no receive syscall. Cleared before the
        // receive, so a frame that lands after it is flagged again by the thread's next wake-up.
        if !self.readable.swap(false, Ordering::AcqRel) {
            return None;
        }
        let mut buf = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        match self.port.try_recv(&mut buf) {
            Ok(Received::Frame(n)) => {
                self.readable.store(true, Ordering::Release);
                Some(buf[..n].to_vec())
            }
            Ok(Received::Empty) => None,
            Ok(Received::MoreLater) => {
                self.readable.store(true, Ordering::Release);
                None
            }
            Err(e) => {
                self.note(&e);
                None
            }
        }
    }

    fn set_up(&self, up: bool) {
        self.port.set_admin_up(up);
        if !up {
            // A NIC going down discards its queue, as Linux's qdisc reset does.
            self.backlog.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    fn carrier(&self) -> bool {
        self.port.link().carrier
    }

    fn host_counters(&self) -> LinkCounters {
        let s = self.port.stats();
        LinkCounters {
            rx_errors: s.rx_errors,
            rx_dropped: s.rx_dropped,
            rx_length_errors: s.rx_length_errors,
            tx_errors: s.tx_errors,
            tx_dropped: s.tx_dropped,
        }
    }
}
