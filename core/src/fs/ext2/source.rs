//! Where an image's blocks come from. The filesystem code sees only this
//! trait, so the same code later runs over blockio, a COW file or memory.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::Error;

/// A device read in whole blocks. The block size is the buffer's length:
/// `read_block(n, buf)` reads `buf.len()` bytes at byte `n * buf.len()`.
/// (The superblock is read as block 1 of 1024 bytes before the
/// filesystem's block size is known.)
pub trait BlockSource {
    /// Fills `buf` with block `n`; a block past the end is
    /// [`Error::Truncated`].
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error>;
}

impl<T: BlockSource + ?Sized> BlockSource for &T {
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read_block(n, buf)
    }
}

/// An image in memory (tests, and small images read whole).
impl BlockSource for [u8] {
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error> {
        let truncated = || Error::Truncated { block: n };
        let start = usize::try_from(n).ok().and_then(|n| n.checked_mul(buf.len())).ok_or_else(truncated)?;
        let end = start.checked_add(buf.len()).ok_or_else(truncated)?;
        buf.copy_from_slice(self.get(start..end).ok_or_else(truncated)?);
        Ok(())
    }
}

impl BlockSource for Vec<u8> {
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.as_slice().read_block(n, buf)
    }
}

/// An image in a host file, read with pread (the simple engine, until the
/// page cache of ARCHITECTURE §5 serves reads).
pub struct FileSource {
    file: File,
}

impl FileSource {
    /// Reads from `file`.
    pub fn new(file: File) -> FileSource {
        FileSource { file }
    }
}

impl BlockSource for FileSource {
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error> {
        let offset = n.checked_mul(buf.len() as u64).ok_or(Error::Truncated { block: n })?;
        self.file.read_exact_at(buf, offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::Truncated { block: n },
            _ => Error::Io { block: n, source: e },
        })
    }
}

/// A device that can also be written in whole blocks, with the same
/// convention as [`BlockSource`]: `write_block(n, buf)` writes `buf.len()`
/// bytes at byte `n * buf.len()`. Writing past the end is
/// [`Error::Truncated`]: an image never grows.
pub trait BlockSink: BlockSource {
    /// Writes `buf` as block `n`.
    fn write_block(&mut self, n: u64, buf: &[u8]) -> Result<(), Error>;
}

impl BlockSink for Vec<u8> {
    fn write_block(&mut self, n: u64, buf: &[u8]) -> Result<(), Error> {
        let truncated = || Error::Truncated { block: n };
        let start = usize::try_from(n).ok().and_then(|n| n.checked_mul(buf.len())).ok_or_else(truncated)?;
        let end = start.checked_add(buf.len()).ok_or_else(truncated)?;
        self.get_mut(start..end).ok_or_else(truncated)?.copy_from_slice(buf);
        Ok(())
    }
}

impl BlockSink for FileSource {
    fn write_block(&mut self, n: u64, buf: &[u8]) -> Result<(), Error> {
        let offset = n.checked_mul(buf.len() as u64).ok_or(Error::Truncated { block: n })?;
        let len = self.file.metadata().map_err(|e| Error::Io { block: n, source: e })?.len();
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
            return Err(Error::Truncated { block: n });
        }
        self.file.write_all_at(buf, offset).map_err(|e| Error::Io { block: n, source: e })
    }
}
