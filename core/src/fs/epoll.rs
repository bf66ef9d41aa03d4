//! epoll instances (Linux's fs/eventpoll.c): an interest list of
//! (fd, file) pairs with the events each wants, level- or edge-triggered.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, Weak};

use super::file::OpenFile;

/// One registered fd.
pub struct Interest {
    /// The file (an entry whose file was closed everywhere is dropped).
    pub file: Weak<OpenFile>,
    /// EPOLL* event bits, with EPOLLET / EPOLLONESHOT.
    pub events: u32,
    /// The user's data, returned with each event.
    pub data: u64,
    /// For edge-triggered entries: the file's event generation at the
    /// last report.
    pub reported: Option<u64>,
    /// EPOLLONESHOT entries are disabled after one report (until MOD).
    pub disabled: bool,
}

/// An epoll instance.
#[derive(Default)]
pub struct Epoll {
    interests: Mutex<BTreeMap<i32, Interest>>,
}

impl Epoll {
    /// Locks the interest list.
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, Interest>> {
        self.interests.lock().unwrap_or_else(|e| e.into_inner())
    }
}
