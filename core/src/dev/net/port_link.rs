//! A netio [`Port`] as the stack's [`FrameLink`].

use std::sync::{Arc, Mutex};

use umvm_netio::{NetError, Port, FRAME_BUF};

use crate::net::stack::{FrameLink, LinkCounters};

/// A NIC's wire to its host transport.
///
/// Frames go out with one non-blocking send each, from whichever thread polls the stack: a full host
/// queue drops the frame (counted), as UML's driver does, and TCP sends it again. Frames come in by the
/// same non-blocking receive, called by the stack's poll after the [`receiver`](super::receiver) saw
/// the port's fd readable.
pub struct PortLink {
    port: Arc<Port>,
    /// The frame being received (the stack polls under one lock, so this is never contended).
    scratch: Mutex<Box<[u8]>>,
    /// The last host error, logged once rather than per frame.
    last_error: Mutex<Option<String>>,
}

impl PortLink {
    /// A link over `port`.
    pub fn new(port: Arc<Port>) -> PortLink {
        PortLink { port, scratch: Mutex::new(vec![0; FRAME_BUF].into_boxed_slice()), last_error: Mutex::new(None) }
    }

    /// The port under the link.
    pub fn port(&self) -> &Arc<Port> {
        &self.port
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
        match self.port.send(frame) {
            // A full queue is counted as a TX drop by the port.
            Ok(()) | Err(NetError::WouldBlock) => {}
            Err(e) => self.note(&e),
        }
    }

    fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        match self.port.recv(&mut buf) {
            Ok(Some(n)) => Some(buf[..n].to_vec()),
            Ok(None) => None,
            Err(e) => {
                self.note(&e);
                None
            }
        }
    }

    fn set_up(&self, up: bool) {
        self.port.set_admin_up(up);
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
