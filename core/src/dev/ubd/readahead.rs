//! Sequential-read detection for one disk: a read that starts where the
//! previous one ended grows the window (doubling, from the read's own
//! length, up to the limit); any other read closes it. A cache miss then
//! reads the window past the request's end in the same request, so a
//! sequential reader's later reads hit the cache.

/// The read-ahead state of one disk.
#[derive(Debug)]
pub(crate) struct Readahead {
    /// Where a sequential reader's next read starts.
    next: u64,
    /// Bytes to read past the end of the current request.
    window: u64,
    /// The largest window.
    max: u64,
}

impl Readahead {
    /// A closed window that grows up to `max` bytes.
    pub(crate) fn new(max: u64) -> Readahead {
        Readahead { next: u64::MAX, window: 0, max }
    }

    /// Records a read of `len` bytes at `offset`; returns how many bytes to
    /// read ahead past its end on a miss.
    pub(crate) fn on_read(&mut self, offset: u64, len: u64) -> u64 {
        self.window = if offset == self.next { (self.window * 2).max(len).min(self.max) } else { 0 };
        self.next = offset.saturating_add(len);
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_on_sequential_reads_and_closes_on_a_seek() {
        let mut ra = Readahead::new(128 << 10);
        assert_eq!(ra.on_read(0, 4096), 0, "one read is not a stream");
        assert_eq!(ra.on_read(4096, 4096), 4096);
        assert_eq!(ra.on_read(8192, 4096), 8192);
        let mut off = 12288;
        let mut last = 0;
        for _ in 0..10 {
            last = ra.on_read(off, 4096);
            off += 4096;
        }
        assert_eq!(last, 128 << 10, "capped");
        assert_eq!(ra.on_read(1 << 30, 4096), 0, "a seek closes it");
    }
}
