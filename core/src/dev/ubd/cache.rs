//! The private page cache of one disk: pages of `page_size` bytes that umvm
//! read with O_DIRECT (so the host keeps no copy of them) or that the guest
//! wrote and that are not written back yet.
//!
//! Clean pages sit in an LRU and are evicted, oldest use first, when the
//! cache holds more than its byte limit. Dirty pages are never evicted:
//! they leave the LRU when dirtied, are listed in the order they were first
//! dirtied (writeback takes the oldest first, and the writeback timer stops
//! at the first one young enough), and come back to the LRU, clean, once
//! written. Keeping the first-dirtied time (not the last write) is Linux's
//! rule too: a page rewritten every second still reaches the disk.
//!
//! This is only the bookkeeping; what to read and when to write is the
//! disk's (`super::Ubd`).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// One cached page.
struct Page {
    data: Box<[u8]>,
    state: State,
}

enum State {
    /// In the LRU under this tick.
    Clean { tick: u64 },
    /// In the dirty list under `seq`, dirty since `since`.
    Dirty { seq: u64, since: Instant },
}

/// The pages of one disk.
pub(crate) struct PageCache {
    page_size: usize,
    pages: HashMap<u64, Page>,
    /// Clean pages by last use: tick -> page index.
    lru: BTreeMap<u64, u64>,
    /// Dirty pages by first dirtying: seq -> page index.
    dirty: BTreeMap<u64, u64>,
    /// The last LRU tick or dirty seq handed out (one counter serves both).
    next: u64,
}

impl PageCache {
    /// An empty cache of `page_size`-byte pages.
    pub(crate) fn new(page_size: usize) -> PageCache {
        PageCache { page_size, pages: HashMap::new(), lru: BTreeMap::new(), dirty: BTreeMap::new(), next: 0 }
    }

    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Bytes held (clean and dirty).
    pub(crate) fn cached_bytes(&self) -> u64 {
        self.pages.len() as u64 * self.page_size as u64
    }

    /// Bytes dirty.
    pub(crate) fn dirty_bytes(&self) -> u64 {
        self.dirty.len() as u64 * self.page_size as u64
    }

    /// Whether page `index` is cached.
    pub(crate) fn contains(&self, index: u64) -> bool {
        self.pages.contains_key(&index)
    }

    /// Whether any page with an index in `range` is cached (with
    /// `dirty_only`, dirty).
    pub(crate) fn any_in(&self, range: std::ops::Range<u64>, dirty_only: bool) -> bool {
        let hit = |p: &Page| !dirty_only || matches!(p.state, State::Dirty { .. });
        if range.end.saturating_sub(range.start) <= self.pages.len() as u64 {
            range.into_iter().any(|i| self.pages.get(&i).is_some_and(hit))
        } else {
            self.pages.iter().any(|(i, p)| range.contains(i) && hit(p))
        }
    }

    /// Page `index`, counted as a use.
    pub(crate) fn get(&mut self, index: u64) -> Option<&[u8]> {
        let tick = self.tick();
        let page = self.pages.get_mut(&index)?;
        if let State::Clean { tick: old } = &mut page.state {
            self.lru.remove(old);
            *old = tick;
            self.lru.insert(tick, index);
        }
        Some(&page.data)
    }

    /// Adds page `index` as clean, with `data` (at most a page; the rest is
    /// zero). A page already cached is left as it is: it may be newer.
    pub(crate) fn insert_clean(&mut self, index: u64, data: &[u8]) {
        if self.pages.contains_key(&index) {
            return;
        }
        let mut page = vec![0u8; self.page_size].into_boxed_slice();
        page[..data.len()].copy_from_slice(data);
        let tick = self.tick();
        self.lru.insert(tick, index);
        self.pages.insert(index, Page { data: page, state: State::Clean { tick } });
    }

    /// Page `index` to modify, marked dirty (since `now` if it was clean);
    /// `None` if not cached.
    pub(crate) fn dirty_mut(&mut self, index: u64, now: Instant) -> Option<&mut [u8]> {
        let seq = self.next + 1;
        let page = self.pages.get_mut(&index)?;
        if let State::Clean { tick } = page.state {
            self.lru.remove(&tick);
            self.dirty.insert(seq, index);
            page.state = State::Dirty { seq, since: now };
            self.next = seq;
        }
        Some(&mut page.data)
    }

    /// Adds page `index` as dirty since `now`, zero-filled: the caller
    /// overwrites all of it. A cached page is returned as it is (dirtied).
    pub(crate) fn insert_dirty(&mut self, index: u64, now: Instant) -> &mut [u8] {
        if !self.pages.contains_key(&index) {
            let seq = self.tick();
            self.dirty.insert(seq, index);
            let data = vec![0u8; self.page_size].into_boxed_slice();
            self.pages.insert(index, Page { data, state: State::Dirty { seq, since: now } });
        }
        self.dirty_mut(index, now).expect("the page was just inserted")
    }

    /// Dirty pages, oldest first, while `take(since)` says yes (it sees
    /// each page's dirty-since time, oldest first, and may stop the scan).
    pub(crate) fn oldest_dirty(&self, mut take: impl FnMut(Instant) -> bool) -> Vec<u64> {
        let mut out = Vec::new();
        for index in self.dirty.values() {
            let Some(Page { state: State::Dirty { since, .. }, .. }) = self.pages.get(index) else { continue };
            if !take(*since) {
                break;
            }
            out.push(*index);
        }
        out
    }

    /// When the oldest dirty page was first dirtied, if any is.
    pub(crate) fn oldest_since(&self) -> Option<Instant> {
        let index = self.dirty.values().next()?;
        match self.pages.get(index) {
            Some(Page { state: State::Dirty { since, .. }, .. }) => Some(*since),
            _ => None,
        }
    }

    /// Every dirty page.
    pub(crate) fn all_dirty(&self) -> Vec<u64> {
        self.dirty.values().copied().collect()
    }

    /// Page `index`'s bytes, without counting a use (writeback).
    pub(crate) fn peek(&self, index: u64) -> Option<&[u8]> {
        self.pages.get(&index).map(|p| &*p.data)
    }

    /// Marks page `index` clean (written back) and puts it in the LRU.
    pub(crate) fn mark_clean(&mut self, index: u64) {
        let tick = self.tick();
        let Some(page) = self.pages.get_mut(&index) else { return };
        if let State::Dirty { seq, .. } = page.state {
            self.dirty.remove(&seq);
            page.state = State::Clean { tick };
            self.lru.insert(tick, index);
        }
    }

    /// Evicts clean pages, least recently used first, until at most
    /// `limit` bytes are held or no clean page is left. Returns how many.
    pub(crate) fn evict_to(&mut self, limit: u64) -> usize {
        let mut n = 0;
        while self.cached_bytes() > limit {
            let Some((_, index)) = self.lru.pop_first() else { break };
            self.pages.remove(&index);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lru_evicts_least_recently_used_clean_pages_only() {
        let mut c = PageCache::new(4096);
        let t0 = Instant::now();
        for i in 0..4 {
            c.insert_clean(i, &[i as u8; 100]);
        }
        assert_eq!(c.cached_bytes(), 4 * 4096);
        assert_eq!(c.get(0).unwrap()[..100], [0; 100]);
        assert!(c.get(0).unwrap()[100..].iter().all(|&b| b == 0));
        c.dirty_mut(1, t0).unwrap()[0] = 9;
        assert_eq!(c.dirty_bytes(), 4096);
        // 1 is dirty, 0 was used last: 2 then 3 go.
        assert_eq!(c.evict_to(2 * 4096), 2);
        assert!(c.contains(0) && c.contains(1) && !c.contains(2) && !c.contains(3));
        // Only dirty 1 would be left: it stays however low the limit.
        assert_eq!(c.evict_to(0), 1);
        assert!(c.contains(1) && c.peek(1).unwrap()[0] == 9);
        c.mark_clean(1);
        assert_eq!((c.dirty_bytes(), c.evict_to(0)), (0, 1));
        assert_eq!(c.cached_bytes(), 0);
    }

    #[test]
    fn dirty_pages_keep_their_first_dirty_time_and_come_oldest_first() {
        let mut c = PageCache::new(512);
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let t2 = t0 + Duration::from_secs(2);
        c.insert_dirty(7, t0).fill(1);
        c.insert_dirty(3, t1).fill(2);
        c.insert_dirty(9, t2).fill(3);
        // Rewriting 7 later does not make it younger.
        c.dirty_mut(7, t2).unwrap().fill(4);
        assert_eq!(c.all_dirty(), [7, 3, 9]);
        assert_eq!(c.oldest_since(), Some(t0));
        assert_eq!(c.oldest_dirty(|since| since <= t1), [7, 3]);
        c.mark_clean(3);
        assert_eq!(c.oldest_dirty(|_| true), [7, 9]);
        // A clean page dirtied again gets a new time and goes last.
        c.dirty_mut(3, t2).unwrap();
        assert_eq!(c.all_dirty(), [7, 9, 3]);
        // Inserting over a cached page keeps its data.
        c.insert_clean(7, &[0; 512]);
        assert!(c.peek(7).unwrap().iter().all(|&b| b == 4));
    }
}
