//! The network cards the NIC thread serves, which change while the machine runs (mconsole
//! `config ethN=...` and `remove ethN`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::port_link::{PortLink, TxBell};

/// The links of a machine's NICs, by slot. A slot is never reused: an unplugged card leaves `None`,
/// so that the NIC thread's io_uring user data (the slot) can never name a newer card.
pub struct NicTable {
    slots: Mutex<Vec<Option<Arc<PortLink>>>>,
    /// Rung when a link's queue waits for its port, and when the table changed.
    bell: Arc<TxBell>,
    changed: AtomicBool,
}

impl NicTable {
    /// An empty table with a new bell.
    pub fn new() -> std::io::Result<NicTable> {
        Ok(NicTable { slots: Mutex::new(Vec::new()), bell: Arc::new(TxBell::new()?), changed: AtomicBool::new(false) })
    }

    /// The bell the links' transmit queues ring.
    pub fn bell(&self) -> &Arc<TxBell> {
        &self.bell
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Option<Arc<PortLink>>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a link for the NIC thread to watch.
    pub fn add(&self, link: Arc<PortLink>) {
        self.slots().push(Some(link));
        self.note_change();
    }

    /// Stops watching `link` (the thread lets go of its port).
    pub fn remove(&self, link: &Arc<PortLink>) {
        for slot in self.slots().iter_mut() {
            if slot.as_ref().is_some_and(|l| Arc::ptr_eq(l, link)) {
                *slot = None;
            }
        }
        self.note_change();
    }

    /// Whether no card is plugged in.
    pub fn is_empty(&self) -> bool {
        self.slots().iter().all(Option::is_none)
    }

    fn note_change(&self) {
        self.changed.store(true, Ordering::Release);
        self.bell.ring();
    }

    /// The slots, if they changed since the last call.
    pub(crate) fn take_change(&self) -> Option<Vec<Option<Arc<PortLink>>>> {
        self.changed.swap(false, Ordering::AcqRel).then(|| self.slots().clone())
    }
}
