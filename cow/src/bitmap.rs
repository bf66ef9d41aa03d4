//! The sector bitmap, held in memory with the rest of the file's metadata
//! region (header, padding, bitmap, padding: everything before the data
//! area), so that bitmap sectors can be written back whole and aligned
//! without reading the file first.
//!
//! Bit numbering is UML's: sector `s` is bit `s & 7` of byte `s >> 3`
//! (LSB first). Changed bytes are tracked as one dirty byte range, which
//! `take_dirty` hands to the device at flush time.

use std::ops::Range;

/// The metadata region and the bitmap inside it.
#[derive(Debug, Clone)]
pub struct Bitmap {
    meta: Vec<u8>,
    offset: usize,
    len: usize,
    sectors: u64,
    dirty: Option<Range<usize>>,
}

impl Bitmap {
    /// Wraps the bytes `[0, data_offset)` of a COW file whose bitmap is
    /// `meta[offset..offset + len]` and describes `sectors` sectors. The
    /// caller has checked that the bitmap lies inside `meta` and that
    /// `len * 8 >= sectors`.
    pub fn new(meta: Vec<u8>, offset: usize, len: usize, sectors: u64) -> Bitmap {
        debug_assert!(offset + len <= meta.len() && len as u64 * 8 >= sectors);
        Bitmap { meta, offset, len, sectors, dirty: None }
    }

    /// The number of sectors the bitmap describes.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Whether sector `s` lives in the COW file. Sectors past the bitmap
    /// (UML's v1/v2 rounding bug) never do.
    pub fn get(&self, s: u64) -> bool {
        s < self.sectors && self.meta[self.offset + (s >> 3) as usize] & (1 << (s & 7)) != 0
    }

    /// Marks sectors `range` as living in the COW file; they must be below
    /// `sectors()`.
    pub fn set(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        assert!(range.end <= self.sectors, "bitmap set past its end");
        let mut changed: Option<Range<usize>> = None;
        for s in range {
            let byte = self.offset + (s >> 3) as usize;
            let mask = 1u8 << (s & 7);
            if self.meta[byte] & mask == 0 {
                self.meta[byte] |= mask;
                let c = changed.get_or_insert(byte..byte + 1);
                c.end = byte + 1;
            }
        }
        if let Some(c) = changed {
            self.dirty = Some(match self.dirty.take() {
                Some(d) => d.start.min(c.start)..d.end.max(c.end),
                None => c,
            });
        }
    }

    /// The byte range of the file (inside the metadata region) whose bitmap
    /// bytes changed since the last call, and forgets it.
    pub fn take_dirty(&mut self) -> Option<Range<usize>> {
        self.dirty.take()
    }

    /// Puts a range back as dirty (its write failed).
    pub fn restore_dirty(&mut self, r: Range<usize>) {
        self.dirty = Some(match self.dirty.take() {
            Some(d) => d.start.min(r.start)..d.end.max(r.end),
            None => r,
        });
    }

    /// The metadata region: the file's bytes `[0, data_offset)` as they
    /// should be on disk.
    pub fn meta(&self) -> &[u8] {
        &self.meta
    }

    /// Mutable access to the header part, for rewriting the backing path.
    pub fn meta_mut(&mut self) -> &mut [u8] {
        &mut self.meta
    }

    /// Sectors that live in the COW file.
    pub fn count(&self) -> u64 {
        let bytes = &self.meta[self.offset..self.offset + self.len];
        let full = (self.sectors / 8) as usize;
        let mut n: u64 = bytes[..full].iter().map(|b| u64::from(b.count_ones())).sum();
        let rest = self.sectors % 8;
        if rest > 0 {
            n += u64::from((bytes[full] & ((1u8 << rest) - 1)).count_ones());
        }
        n
    }

    /// The first sector at or after `from` whose bit differs from `bit`, or
    /// `end`, whichever comes first: a run of sectors with one source.
    pub fn run_end(&self, from: u64, end: u64, bit: bool) -> u64 {
        let mut s = from;
        while s < end {
            // Skip whole bytes of equal bits.
            if s & 7 == 0 && s + 8 <= end && s + 8 <= self.sectors {
                let b = self.meta[self.offset + (s >> 3) as usize];
                if b == if bit { 0xff } else { 0 } {
                    s += 8;
                    continue;
                }
            }
            if self.get(s) != bit {
                return s;
            }
            s += 1;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_lsb_first_per_byte_like_uml() {
        let mut b = Bitmap::new(vec![0; 16], 4, 4, 30);
        b.set(8..16);
        assert_eq!(b.meta()[5], 0xff, "the spec's observed byte");
        b.set(0..1);
        b.set(3..4);
        assert_eq!(b.meta()[4], 0b1001);
        assert!(b.get(3) && !b.get(2) && !b.get(29) && !b.get(1000));
        assert_eq!(b.count(), 10);
        assert_eq!(b.take_dirty(), Some(4..6));
        assert_eq!(b.take_dirty(), None);
        b.set(8..9);
        assert_eq!(b.take_dirty(), None, "setting a set bit changes nothing");
        assert_eq!(b.run_end(8, 30, true), 16);
        assert_eq!(b.run_end(16, 30, false), 30);
        assert_eq!(b.run_end(0, 30, true), 1);
    }

    #[test]
    fn count_ignores_bits_past_the_last_sector() {
        let mut meta = vec![0; 2];
        meta[1] = 0xff;
        let b = Bitmap::new(meta, 0, 2, 11);
        assert_eq!(b.count(), 3);
    }
}
