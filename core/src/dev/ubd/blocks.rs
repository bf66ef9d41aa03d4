//! A disk as the filesystems see it: ext2's [`BlockSource`] and
//! [`BlockSink`] over a [`Ubd`], through its cache, so that
//! `Ext2::open(Arc<Ubd>)` mounts a disk; and the [`DiskControl`] a mount
//! commits it through.

use std::sync::Arc;

use super::{Ubd, UbdError};
use crate::errno::Errno;
use crate::fs::ext2::{BlockSink, BlockSource, Error};
use crate::fs::ext2_mount::DiskControl;

/// The byte offset of block `n` of `len` bytes, or `Truncated`.
fn offset(n: u64, len: usize) -> Result<u64, Error> {
    n.checked_mul(len as u64).ok_or(Error::Truncated { block: n })
}

/// A past-the-end request is ext2's `Truncated`; any other failure its
/// `Io`, carrying the disk's errno kind and message.
fn to_ext2(block: u64, e: UbdError) -> Error {
    match e {
        UbdError::OutOfRange { .. } => Error::Truncated { block },
        e => {
            let kind = std::io::Error::from_raw_os_error(e.errno().0).kind();
            Error::Io { block, source: std::io::Error::new(kind, e) }
        }
    }
}

impl BlockSource for Ubd {
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.read_at(offset(n, buf.len())?, buf).map_err(|e| to_ext2(n, e))
    }
}

impl BlockSink for Ubd {
    fn write_block(&mut self, n: u64, buf: &[u8]) -> Result<(), Error> {
        self.write_at(offset(n, buf.len())?, buf).map_err(|e| to_ext2(n, e))
    }
}

impl BlockSink for &Ubd {
    fn write_block(&mut self, n: u64, buf: &[u8]) -> Result<(), Error> {
        self.write_at(offset(n, buf.len())?, buf).map_err(|e| to_ext2(n, e))
    }
}

impl BlockSource for Arc<Ubd> {
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read_block(n, buf)
    }
}

impl BlockSink for Arc<Ubd> {
    fn write_block(&mut self, n: u64, buf: &[u8]) -> Result<(), Error> {
        self.write_at(offset(n, buf.len())?, buf).map_err(|e| to_ext2(n, e))
    }
}

impl DiskControl for Ubd {
    fn commit(&self) -> Result<(), Errno> {
        self.flush().map_err(|e| e.errno())
    }

    fn commit_due(&self) -> bool {
        Ubd::commit_due(self, std::time::Instant::now())
    }

    fn hold_writeback(&self, hold: bool) {
        Ubd::hold_writeback(self, hold)
    }
}
