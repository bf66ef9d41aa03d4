//! eventfd objects (Linux's fs/eventfd.c): a 64-bit counter that writes
//! add to and reads take (all of it, or one with EFD_SEMAPHORE).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::sched::wait::WaitQueue;

/// The largest value the counter may hold.
pub const MAX: u64 = u64::MAX - 1;

/// An eventfd.
pub struct EventFd {
    count: Mutex<u64>,
    /// EFD_SEMAPHORE: a read takes 1, not the whole count.
    pub semaphore: bool,
    /// Readers waiting for a non-zero count.
    pub readers: Arc<WaitQueue>,
    /// Writers waiting for room.
    pub writers: Arc<WaitQueue>,
}

impl EventFd {
    /// A new eventfd with `initial` in its counter.
    pub fn new(initial: u64, semaphore: bool) -> EventFd {
        EventFd { count: Mutex::new(initial), semaphore, readers: Arc::default(), writers: Arc::default() }
    }

    /// Locks the counter.
    pub fn count(&self) -> MutexGuard<'_, u64> {
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }
}
