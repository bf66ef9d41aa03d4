//! A ubd disk opened as a block device (/dev/ubdX, or a node of block
//! major 98 on a disk filesystem): Linux's block/fops.c over a [`Ubd`].
//!
//! Reads and writes take any offset and length, through the disk's page
//! cache: a read at or past the end gives 0 bytes, one that runs over the
//! end is short; a write at or past the end is ENOSPC, one that runs over
//! it short. The file position may not pass the end (lseek is EINVAL
//! there, as Linux's fixed_size_llseek). fsync makes what was written
//! durable (syscall/mount.rs `sync_disk`: a commit of the disk, under the
//! lock of the filesystem mounted on it if one is, so that the commit
//! falls between its operations).
//!
//! A disk may be opened while a filesystem on it is mounted, and written
//! (Linux allows it, without O_EXCL). The mounted filesystem keeps its
//! superblock counts and group descriptors in memory (fs/ext2), so what
//! is written to those through the device is not seen by the mount, and
//! the mount's next write of them undoes it; data and inode blocks go
//! through the one page cache and stay coherent. As on Linux, writing
//! under a mounted filesystem is the writer's risk.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::dev::ubd::Ubd;
use crate::errno::Errno;

/// Linux's BLKROGET: whether the device is read-only (int).
pub const BLKROGET: u64 = 0x125e;
/// Linux's BLKRRPART: reread the partition table.
pub const BLKRRPART: u64 = 0x125f;
/// Linux's BLKGETSIZE: the size in 512-byte sectors (unsigned long).
pub const BLKGETSIZE: u64 = 0x1260;
/// Linux's BLKFLSBUF: write back and drop the device's buffers.
pub const BLKFLSBUF: u64 = 0x1261;
/// Linux's BLKSSZGET: the logical sector size (int).
pub const BLKSSZGET: u64 = 0x1268;
/// Linux's BLKBSZGET: the soft block size (int).
pub const BLKBSZGET: u64 = 0x8008_1270;
/// Linux's BLKGETSIZE64: the size in bytes (u64).
pub const BLKGETSIZE64: u64 = 0x8008_1272;
/// Linux's BLKIOMIN: the minimum I/O size (unsigned int).
pub const BLKIOMIN: u64 = 0x1278;
/// Linux's BLKIOOPT: the optimal I/O size (unsigned int).
pub const BLKIOOPT: u64 = 0x1279;
/// Linux's BLKALIGNOFF: the alignment offset (int).
pub const BLKALIGNOFF: u64 = 0x127a;
/// Linux's BLKPBSZGET: the physical sector size (unsigned int).
pub const BLKPBSZGET: u64 = 0x127b;
/// Linux's HDIO_GETGEO: `struct hd_geometry`.
pub const HDIO_GETGEO: u64 = 0x0301;

/// The logical sector size of a ubd disk.
pub const SECTOR: u64 = 512;

/// What a block device ioctl answers.
#[derive(Debug, PartialEq, Eq)]
pub enum IoctlAnswer {
    /// These bytes, written to the guest's argument.
    Data(Vec<u8>),
    /// Write back everything (BLKFLSBUF; CAP_SYS_ADMIN needed).
    Flush,
}

/// The answer to block device request `req` on `disk`; ENOTTY for a
/// request block devices do not know, EINVAL for rereading a partition
/// table (ubd disks are not partitioned here).
pub fn ioctl(disk: &Ubd, req: u64) -> Result<IoctlAnswer, Errno> {
    let int = |v: u32| Ok(IoctlAnswer::Data(v.to_ne_bytes().to_vec()));
    match req {
        BLKGETSIZE64 => Ok(IoctlAnswer::Data(disk.size().to_ne_bytes().to_vec())),
        BLKGETSIZE => Ok(IoctlAnswer::Data((disk.size() / SECTOR).to_ne_bytes().to_vec())),
        BLKSSZGET | BLKPBSZGET | BLKIOMIN => int(SECTOR as u32),
        BLKBSZGET => int(soft_block_size(disk.size())),
        BLKIOOPT | BLKALIGNOFF => int(0),
        BLKROGET => int(u32::from(disk.read_only())),
        BLKFLSBUF => Ok(IoctlAnswer::Flush),
        BLKRRPART => Err(Errno::EINVAL),
        HDIO_GETGEO => Ok(IoctlAnswer::Data(geometry(disk.size()))),
        _ => Err(Errno::ENOTTY),
    }
}

/// The block size a block device starts with (Linux's set_init_blocksize):
/// the largest power of two up to the page size that divides its size.
pub fn soft_block_size(size: u64) -> u32 {
    let mut bs = SECTOR;
    while bs < 4096 && size & bs == 0 {
        bs <<= 1;
    }
    bs as u32
}

/// `struct hd_geometry` as UML's ubd_getgeo makes it: 128 heads, 32
/// sectors a track, as many cylinders as fit (the 16-bit field wraps),
/// starting at sector 0.
pub fn geometry(size: u64) -> Vec<u8> {
    let cylinders = (size / (128 * 32 * SECTOR)) as u16;
    let mut g = vec![128u8, 32];
    g.extend_from_slice(&cylinders.to_ne_bytes());
    g.extend_from_slice(&[0; 4]);
    g.extend_from_slice(&0u64.to_ne_bytes());
    g
}

impl Drop for BlockFile {
    fn drop(&mut self) {
        self.disk.count_open(false);
    }
}

/// An open block device: the disk, the file position, and the stat of
/// the node it was opened through (what fstat shows).
pub struct BlockFile {
    /// The disk.
    pub disk: Arc<Ubd>,
    pos: Mutex<u64>,
    node: libc::stat,
}

impl BlockFile {
    /// Opens `disk` through the node whose stat is `node`; EROFS when
    /// `write` is asked of a read-only disk (UML's ubd_open).
    pub fn open(disk: Arc<Ubd>, write: bool, node: libc::stat) -> Result<BlockFile, Errno> {
        if write && disk.read_only() {
            return Err(Errno::EROFS);
        }
        disk.count_open(true);
        Ok(BlockFile { disk, pos: Mutex::new(0), node })
    }

    fn pos(&self) -> MutexGuard<'_, u64> {
        self.pos.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stat of the node it was opened through.
    pub fn stat(&self) -> libc::stat {
        self.node
    }

    /// Reads at `off`, or at the file position (which moves): short at
    /// the end of the disk, 0 bytes past it.
    pub fn read(&self, buf: &mut [u8], off: Option<i64>) -> Result<usize, Errno> {
        let mut pos = self.pos();
        let at = off.map_or(*pos, |o| o as u64);
        let n = self.disk.size().saturating_sub(at).min(buf.len() as u64) as usize;
        if n > 0 {
            self.disk.read_at(at, &mut buf[..n]).map_err(|e| e.errno())?;
        }
        if off.is_none() {
            *pos = at + n as u64;
        }
        Ok(n)
    }

    /// Writes at `off`, or at the file position (which moves); with
    /// `append`, at the end (which is ENOSPC). Short at the end of the
    /// disk, ENOSPC past it.
    pub fn write(&self, data: &[u8], off: Option<i64>, append: bool) -> Result<usize, Errno> {
        let mut pos = self.pos();
        if data.is_empty() {
            return Ok(0);
        }
        let size = self.disk.size();
        let at = if append { size } else { off.map_or(*pos, |o| o as u64) };
        if at >= size {
            return Err(Errno::ENOSPC);
        }
        let n = (size - at).min(data.len() as u64) as usize;
        self.disk.write_at(at, &data[..n]).map_err(|e| e.errno())?;
        if off.is_none() {
            *pos = at + n as u64;
        }
        Ok(n)
    }

    /// lseek(2) within the disk (Linux's fixed_size_llseek): SEEK_END is
    /// relative to its size; a position past the end is EINVAL;
    /// SEEK_DATA and SEEK_HOLE see all data, a hole at the end.
    pub fn seek(&self, off: i64, whence: i32) -> Result<i64, Errno> {
        let mut pos = self.pos();
        let size = self.disk.size() as i64;
        let at = match whence {
            libc::SEEK_SET => Some(off),
            libc::SEEK_CUR => (*pos as i64).checked_add(off),
            libc::SEEK_END => size.checked_add(off),
            libc::SEEK_DATA | libc::SEEK_HOLE if off < 0 || off >= size => return Err(Errno::ENXIO),
            libc::SEEK_DATA => Some(off),
            libc::SEEK_HOLE => Some(size),
            _ => return Err(Errno::EINVAL),
        };
        let at = at.filter(|&a| (0..=size).contains(&a)).ok_or(Errno::EINVAL)?;
        *pos = at as u64;
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_and_geometry_follow_linux() {
        assert_eq!(soft_block_size(16 << 20), 4096);
        assert_eq!(soft_block_size(1024 + 512), 512);
        assert_eq!(soft_block_size(2048 * 3), 2048);
        let g = geometry(16 << 20);
        assert_eq!(g.len(), 16);
        assert_eq!((g[0], g[1], u16::from_ne_bytes([g[2], g[3]])), (128, 32, 8));
    }
}
