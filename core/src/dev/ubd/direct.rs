//! Mapping a disk's bytes straight from the host file that holds them
//! (ARCHITECTURE §5, file mmap): a guest's MAP_PRIVATE mapping of an ext2
//! file whose blocks lie contiguously on the disk maps that host file at
//! the blocks' offset, so every guest over one backing image shares the
//! host's page cache of it (a library is in host memory once, however
//! many VMs run it).
//!
//! Only bytes the host file holds for good qualify:
//! - on a COW disk, the backing file's, for a range all of whose sectors
//!   are clean in the COW bitmap and none of whose pages is in the cache
//!   (a page written and not yet written back is cached while its bitmap
//!   bits are still clear). umvm never writes the backing file, so a
//!   mapping of it keeps showing what the range held when it was made,
//!   whatever the guest writes to the disk later;
//! - on a plain image, only a read-only disk's: a writable image's blocks
//!   may be freed and reused by another file while an old mapping still
//!   shows them, which would expose that file's bytes to the mapper.
//!
//! The mapped file is a fresh read-only open of it (a new open file
//! description): the fd handed to the guest carries neither write access
//! nor the disk's locks (blockio and the backing file hold
//! open-file-description locks, which a mapping would otherwise keep
//! alive after umvm released them).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use umvm_cow::Disk;

use super::{State, Ubd};

/// The sector the COW bitmap tracks.
const SECTOR: u64 = 512;
/// The host's page: a mapping's offset must be a multiple of it.
const HOST_PAGE: u64 = 4096;

/// A host file a part of the disk can be mapped from.
#[derive(Debug)]
pub struct DirectFile {
    file: File,
    /// Its (st_dev, st_ino), as the host's /proc/PID/maps names it.
    key: (u64, u64),
    /// On a noexec host mount: executable mappings of it fail.
    noexec: bool,
}

impl DirectFile {
    /// A new read-only open file description of the file `fd` is open on.
    fn reopen(fd: RawFd) -> Option<DirectFile> {
        let link = CString::new(format!("/proc/self/fd/{fd}")).ok()?;
        // SAFETY: `link` is a C string.
        let raw = unsafe { libc::open(link.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if raw < 0 {
            tracing::debug!("reopening disk fd {fd} for direct mappings: {}", std::io::Error::last_os_error());
            return None;
        }
        // SAFETY: open returned a new fd nothing else owns.
        let file = unsafe { File::from_raw_fd(raw) };
        let meta = file.metadata().ok()?;
        // SAFETY: statvfs is plain old data; fstatvfs fills it.
        let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `vfs` is writable.
        let noexec = unsafe { libc::fstatvfs(file.as_raw_fd(), &mut vfs) } != 0 || vfs.f_flag & libc::ST_NOEXEC != 0;
        let key = maps_key(&file).unwrap_or((meta.dev(), meta.ino()));
        Some(DirectFile { file, key, noexec })
    }

    /// The fd to map.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Its host (st_dev, st_ino).
    pub fn host_key(&self) -> (u64, u64) {
        self.key
    }

    /// Whether the host refuses executable mappings of it (a noexec mount).
    pub fn noexec(&self) -> bool {
        self.noexec
    }
}

impl Ubd {
    /// Where `len` bytes of the disk at `offset` can be mapped from
    /// directly (see the module docs): the host file and the offset in it,
    /// or None when the range's bytes are not (only) that file's. Both
    /// `offset` and `len` must be multiples of the host page.
    pub fn direct_source(&self, offset: u64, len: u64) -> Option<(Arc<DirectFile>, u64)> {
        if len == 0 || !offset.is_multiple_of(HOST_PAGE) || !len.is_multiple_of(HOST_PAGE) {
            return None;
        }
        let end = offset.checked_add(len).filter(|&e| e <= self.size)?;
        let st = self.state();
        let pages = offset / self.page..end.div_ceil(self.page);
        let fd = match &st.disk {
            Disk::Cow(cow) => {
                let (first, last) = (offset / SECTOR, end.div_ceil(SECTOR));
                if end > cow.backing().size()
                    || st.cache.any_in(pages, false)
                    || cow.bitmap().run_end(first, last, false) != last
                {
                    return None;
                }
                cow.backing().file().as_raw_fd()
            }
            Disk::Plain(dev, _) => {
                if !self.read_only || st.cache.any_in(pages, true) {
                    return None;
                }
                dev.file().as_raw_fd()
            }
        };
        Some((self.direct_file(&st, fd)?, offset))
    }

    /// The disk's [`DirectFile`], opened from `fd` at first use.
    fn direct_file(&self, _st: &State, fd: RawFd) -> Option<Arc<DirectFile>> {
        if let Some(f) = self.direct.get() {
            return Some(f.clone());
        }
        // Under the state lock (`_st`): one open at a time.
        let f = Arc::new(DirectFile::reopen(fd)?);
        Some(self.direct.get_or_init(|| f).clone())
    }
}

/// The (st_dev, st_ino) the host's /proc/PID/maps shows for mappings of
/// `file`, found by mapping its first page here: a stacking filesystem
/// (overlayfs) shows the underlying file's, not what fstat says.
fn maps_key(file: &File) -> Option<(u64, u64)> {
    // SAFETY: a new read-only private mapping of one page, unmapped below;
    // nothing reads through it.
    let at = unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
    if at == libc::MAP_FAILED {
        return None;
    }
    let maps = std::fs::read_to_string("/proc/self/maps");
    // SAFETY: the mapping made above, used by nothing else.
    unsafe { libc::munmap(at, 4096) };
    let prefix = format!("{:08x}-", at as usize);
    let line = maps.ok()?.lines().find(|l| l.starts_with(&prefix))?.to_string();
    let mut f = line.split_ascii_whitespace().skip(3);
    let (major, minor) = f.next()?.split_once(':')?;
    let dev = libc::makedev(u32::from_str_radix(major, 16).ok()?, u32::from_str_radix(minor, 16).ok()?);
    Some((dev, f.next()?.parse().ok()?))
}
