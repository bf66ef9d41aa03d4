//! A port's counters, shaped like a /proc/net/dev line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::frame::FrameError;

/// Live counters; updated with relaxed atomics so a reader on another
/// thread (a /proc/net/dev read) needs no lock.
#[derive(Debug, Default)]
pub struct Stats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_errors: AtomicU64,
    rx_dropped: AtomicU64,
    rx_length_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_errors: AtomicU64,
    tx_dropped: AtomicU64,
}

/// One reading of [`Stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Frames that arrived malformed (every [`FrameError`]).
    pub rx_errors: u64,
    /// Frames that arrived well-formed but were not delivered.
    pub rx_dropped: u64,
    /// Of `rx_errors`: runts and oversized frames.
    pub rx_length_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Frames the transport failed to send.
    pub tx_errors: u64,
    /// Frames refused because the transport was full (EAGAIN), as UML counts them.
    pub tx_dropped: u64,
}

impl Stats {
    pub(crate) fn rx_ok(&self, len: usize) {
        self.rx_packets.fetch_add(1, Relaxed);
        self.rx_bytes.fetch_add(len as u64, Relaxed);
    }

    pub(crate) fn rx_bad(&self, e: &FrameError) {
        self.rx_errors.fetch_add(1, Relaxed);
        if matches!(e, FrameError::Runt(_) | FrameError::Oversized(_)) {
            self.rx_length_errors.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn rx_drop(&self) {
        self.rx_dropped.fetch_add(1, Relaxed);
    }

    pub(crate) fn tx_ok(&self, len: usize) {
        self.tx_packets.fetch_add(1, Relaxed);
        self.tx_bytes.fetch_add(len as u64, Relaxed);
    }

    pub(crate) fn tx_error(&self) {
        self.tx_errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn tx_drop(&self) {
        self.tx_dropped.fetch_add(1, Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            rx_packets: self.rx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            rx_errors: self.rx_errors.load(Relaxed),
            rx_dropped: self.rx_dropped.load(Relaxed),
            rx_length_errors: self.rx_length_errors.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            tx_errors: self.tx_errors.load(Relaxed),
            tx_dropped: self.tx_dropped.load(Relaxed),
        }
    }
}
