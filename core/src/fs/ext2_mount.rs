//! An ext2 filesystem mounted in the guest's namespace (ARCHITECTURE §5):
//! the root of a VM booted from a disk, or any ext2 image mounted later.
//!
//! The filesystem code (fs/ext2) is single-threaded and works on inode
//! numbers; this is where the VFS meets it. One lock serialises every
//! operation on a mount (ext2's own metadata, the bitmaps and counts,
//! must change as a whole), inodes become `struct stat`s with the mount's
//! device number, and unlinked files stay alive while a guest holds them
//! open, as on Linux: the last close frees them.
//!
//! Crash safety: the disk must only ever reach the image at operation
//! boundaries, or a crash leaves half an operation there (an inode whose
//! indirect block is missing). So the mount holds its disk's writeback
//! ([`DiskControl::hold_writeback`]) and commits it itself, under the
//! filesystem lock, each commit atomic through the disk's log: at sync,
//! fsync, remount read-only and unmount; after an operation that left the
//! disk over its dirty limit (or with data dirty too long); and from a
//! timer, every second, once data has been dirty for the disk's expiry.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use super::ext2::{BlockSink, BlockSource, Entry, Error, Ext2, FileType, Inode};
use super::ext2_mmap::{MappedFile, PageCache};
use crate::dev::ubd::{DirectFile, Ubd};
use crate::errno::Errno;

/// The root directory's inode number on every ext2 filesystem.
pub const ROOT_INO: u32 = 2;
/// Linux's EXT2_SUPER_MAGIC (statfs f_type).
pub const EXT2_SUPER_MAGIC: i64 = 0xef53;

/// A disk as the mount holds it: any block device the filesystem code can
/// read and write.
pub struct Disk(Box<dyn BlockSink + Send>);

impl BlockSource for Disk {
    fn read_block(&self, n: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.0.read_block(n, buf)
    }
}

impl BlockSink for Disk {
    fn write_block(&mut self, n: u64, buf: &[u8]) -> Result<(), Error> {
        self.0.write_block(n, buf)
    }
}

/// What the mount asks of its disk besides blocks: when its changes reach
/// the image (for a ubd disk, `Ubd::flush`, atomic through its log).
pub trait DiskControl: Send + Sync {
    /// Writes back everything written so far, atomically and durably.
    fn commit(&self) -> Result<(), Errno>;
    /// Whether a commit is due: too much is dirty, or has been too long.
    fn commit_due(&self) -> bool;
    /// Leaves the disk's commits to the mount (`true`), or to the disk.
    fn hold_writeback(&self, hold: bool);
}

/// A disk with nothing to commit: an image held in memory.
pub struct InMemory;

impl DiskControl for InMemory {
    fn commit(&self) -> Result<(), Errno> {
        Ok(())
    }

    fn commit_due(&self) -> bool {
        false
    }

    fn hold_writeback(&self, _: bool) {}
}

/// A mounted ext2 filesystem.
pub struct Ext2Mount {
    fs: Mutex<Ext2<Disk>>,
    control: Arc<dyn DiskControl>,
    /// The st_dev its files show.
    dev: u64,
    /// Mounted read-only (or remounted so).
    read_only: AtomicBool,
    /// How many open files hold each inode: an unlinked inode is freed
    /// at its last close.
    open: Mutex<HashMap<u32, usize>>,
    /// A host object per locked inode (an empty memfd) whose open file
    /// descriptions carry the guest's file locks: the host arbitrates
    /// them as it does hostfs files' (syscall/lock.rs). Dropped with the
    /// inode's last open file.
    lock_objects: Mutex<HashMap<u32, OwnedFd>>,
    /// What /proc/mounts shows as the source (`/dev/ubda`).
    pub source: Vec<u8>,
    /// Unmounted: every later operation is EIO.
    gone: AtomicBool,
    /// s_def_resuid and s_def_resgid: who besides CAP_SYS_RESOURCE may
    /// use the reserved blocks.
    reserved_for: (u32, u32),
    /// An unmount has begun (only the first does the work).
    unmounting: AtomicBool,
    /// No mount shows it any more: the last close unmounts it.
    released: AtomicBool,
    /// The memfds of mapped files (fs/ext2_mmap.rs).
    pages: PageCache,
    /// The disk, when private mappings may map its host file directly
    /// ([`Ext2Mount::map_direct`]).
    direct: OnceLock<Arc<Ubd>>,
    /// The direct mappings made, newest last: what /proc/PID/maps names
    /// a mapping of the disk's host file.
    direct_maps: Mutex<Vec<DirectMapping>>,
}

/// How many direct mappings [`Ext2Mount`] remembers for /proc/PID/maps.
const DIRECT_MAPS_KEPT: usize = 4096;

/// The host page.
const PAGE: u64 = 4096;

/// One direct mapping of a file, as /proc/PID/maps translates it.
struct DirectMapping {
    /// The host file's (st_dev, st_ino).
    host: (u64, u64),
    /// Where the mapped pages are in it.
    disk: std::ops::Range<u64>,
    /// The file offset of the first.
    file_off: u64,
    ino: u32,
    path: Vec<u8>,
}

/// How a private mapping of an ext2 file is made without a memfd
/// ([`Ext2Mount::map_direct`]): its whole pages from the disk's host file,
/// the rest a copy.
pub struct DirectPlan {
    /// The host file the whole pages are mapped from.
    pub file: Arc<DirectFile>,
    /// Where they are in it: runs of (offset in the mapping, bytes, offset
    /// in the host file), in order, each a whole number of pages, the
    /// first at 0, together `full` bytes.
    pub extents: Vec<(u64, u64, u64)>,
    /// How many bytes (whole pages) are mapped from the host file.
    pub full: u64,
    /// The file's bytes after those up to its end (less than a page),
    /// which the mapping gets as a copy, zeros after them.
    pub tail: Vec<u8>,
}

/// The most runs of disk blocks one direct mapping is made of (each is
/// one mmap in the guest): with 4 KiB blocks, ext2 puts an indirect block
/// between data blocks every 4 MiB of a file.
const MAX_EXTENTS: usize = 64;

/// A file system error as the guest sees it, logged when it means a
/// damaged or unreadable image (the guest only sees EUCLEAN or EIO).
fn errno(e: Error) -> Errno {
    let n = e.errno();
    if matches!(n, Errno::EUCLEAN | Errno::EIO) {
        tracing::warn!("{e}");
    }
    n
}

impl Ext2Mount {
    /// Mounts the ext2 image on `disk` (read-only when `read_only`, or when
    /// the image has features umvm may only read); `control` commits what
    /// it wrote (the mount holds its writeback from now until unmount),
    /// `dev` is the st_dev its files show.
    pub fn new(
        disk: Box<dyn BlockSink + Send>,
        control: Arc<dyn DiskControl>,
        dev: u64,
        read_only: bool,
        source: &[u8],
    ) -> Result<Ext2Mount, Error> {
        let mut fs = Ext2::open(Disk(disk))?;
        if !read_only {
            fs.check_writable()?;
            fs.mount_rw()?;
        }
        let reserved_for = fs.reserved_owner()?;
        control.hold_writeback(true);
        Ok(Ext2Mount {
            fs: Mutex::new(fs),
            control,
            dev,
            read_only: AtomicBool::new(read_only),
            open: Mutex::new(HashMap::new()),
            lock_objects: Mutex::new(HashMap::new()),
            source: source.to_vec(),
            gone: AtomicBool::new(false),
            reserved_for,
            unmounting: AtomicBool::new(false),
            released: AtomicBool::new(false),
            pages: PageCache::default(),
            direct: OnceLock::new(),
            direct_maps: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Ext2<Disk>>, Errno> {
        if self.gone.load(Ordering::Relaxed) {
            return Err(Errno::EIO);
        }
        Ok(self.fs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The lock, for a change: when it is let go, the operation is whole,
    /// and the disk is committed if a commit is due.
    fn lock_write(&self) -> Result<WriteGuard<'_>, Errno> {
        Ok(WriteGuard { fs: self.lock()?, control: &*self.control })
    }

    /// Commits the disk under the lock (no operation is half done), if
    /// something was written `due` long ago (the timer), or at all.
    fn commit(&self, only_if_due: bool) -> Result<(), Errno> {
        let _fs = self.lock()?;
        if only_if_due && !self.control.commit_due() {
            return Ok(());
        }
        self.control.commit()
    }

    /// Starts the commit timer: every `interval`, the disk is committed if
    /// data has been dirty for its expiry (5 s for a ubd disk), so what a
    /// guest writes reaches the image without a sync. The thread ends
    /// with the mount.
    pub fn start_commit_timer(self: &Arc<Self>, interval: Duration) -> std::io::Result<()> {
        let mount: Weak<Ext2Mount> = Arc::downgrade(self);
        std::thread::Builder::new().name("ext2-commit".into()).spawn(move || loop {
            std::thread::sleep(interval);
            let Some(m) = mount.upgrade() else { return };
            if m.is_unmounted() {
                return;
            }
            if m.control.commit_due() {
                if let Err(e) = m.commit(true) {
                    tracing::warn!("{}: committing: {e}", String::from_utf8_lossy(&m.source));
                }
            }
        })?;
        Ok(())
    }

    /// Runs `f` on the filesystem, for reading.
    pub fn read<T>(&self, f: impl FnOnce(&Ext2<Disk>) -> Result<T, Error>) -> Result<T, Errno> {
        f(&*self.lock()?).map_err(errno)
    }

    /// Runs `f` on the filesystem, for writing: EROFS on a read-only mount.
    /// The kernel's own changes may use the reserved blocks.
    pub fn write<T>(&self, f: impl FnOnce(&mut Ext2<Disk>) -> Result<T, Error>) -> Result<T, Errno> {
        self.write_as(true, f)
    }

    /// [`Ext2Mount::write`] for a caller who may (`may_reserve`) or may
    /// not allocate the blocks ext2 keeps for root (s_r_blocks_count).
    pub fn write_as<T>(
        &self,
        may_reserve: bool,
        f: impl FnOnce(&mut Ext2<Disk>) -> Result<T, Error>,
    ) -> Result<T, Errno> {
        if self.read_only() {
            return Err(Errno::EROFS);
        }
        let mut fs = self.lock_write()?;
        fs.set_reserved_ok(may_reserve);
        let r = f(&mut fs);
        fs.set_reserved_ok(true);
        r.map_err(errno)
    }

    /// Linux's ext2_has_free_blocks: who may use the reserved blocks, by
    /// the caller's fsuid, groups and effective capabilities.
    pub fn may_reserve(&self, fsuid: u32, groups: impl IntoIterator<Item = u32>, caps: u64) -> bool {
        const CAP_SYS_RESOURCE: u64 = 1 << 24;
        let (uid, gid) = self.reserved_for;
        caps & CAP_SYS_RESOURCE != 0 || fsuid == uid || (gid != 0 && groups.into_iter().any(|g| g == gid))
    }

    /// Whether the mount is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only.load(Ordering::Relaxed)
    }

    /// The st_dev of its files.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// Inode `ino`.
    pub fn inode(&self, ino: u32) -> Result<Inode, Errno> {
        self.read(|fs| fs.inode(ino))
    }

    /// The inode `name` names in directory `dir`; ENOTDIR when `dir` is
    /// not a directory.
    pub fn lookup(&self, dir: u32, name: &[u8]) -> Result<Option<Inode>, Errno> {
        self.read(|fs| {
            let d = fs.inode(dir)?;
            match fs.lookup(&d, name)? {
                Some(ino) => fs.inode(ino).map(Some),
                None => Ok(None),
            }
        })
    }

    /// The target of symlink `ino`.
    pub fn read_link(&self, ino: u32) -> Result<Vec<u8>, Errno> {
        self.read(|fs| fs.read_link(&fs.inode(ino)?))
    }

    /// The stat of `inode` on this mount.
    pub fn stat(&self, inode: &Inode) -> libc::stat {
        // SAFETY: stat is plain old data; all zeroes is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_dev = self.dev;
        st.st_ino = u64::from(inode.ino);
        st.st_mode = u32::from(inode.mode);
        st.st_nlink = u64::from(inode.links);
        st.st_uid = inode.uid;
        st.st_gid = inode.gid;
        if matches!(inode.file_type(), FileType::CharDevice | FileType::BlockDevice) {
            let (major, minor) = inode.rdev();
            st.st_rdev = libc::makedev(major, minor);
        }
        st.st_size = inode.size as i64;
        st.st_blksize = self.block_size() as i64;
        st.st_blocks = i64::from(inode.blocks);
        st.st_atime = i64::from(inode.atime);
        st.st_mtime = i64::from(inode.mtime);
        st.st_ctime = i64::from(inode.ctime);
        st
    }

    /// How many bytes of its disk the filesystem says it spans.
    pub fn size_bytes(&self) -> u64 {
        let fs = self.fs.lock().unwrap_or_else(|p| p.into_inner());
        u64::from(fs.geometry().blocks_count) * u64::from(fs.geometry().block_size)
    }

    /// The filesystem's block size.
    pub fn block_size(&self) -> u32 {
        self.fs.lock().unwrap_or_else(|p| p.into_inner()).geometry().block_size
    }

    /// The live entries of directory `ino` from byte position `pos` on,
    /// each with the position of the entry after it (getdents64's d_off):
    /// positions are where entries lie in the directory, so they stay
    /// valid while entries before them are removed, as on Linux.
    pub fn read_dir_from(&self, ino: u32, pos: u64) -> Result<Vec<(u64, Entry)>, Errno> {
        self.read(|fs| {
            let dir = fs.inode(ino)?;
            let bs = u64::from(fs.geometry().block_size);
            let mut out = Vec::new();
            let mut block = vec![0u8; bs as usize];
            let mut lblk = pos / bs;
            while lblk * bs < dir.size {
                let n = fs.read(&dir, lblk * bs, &mut block)?;
                if n as u64 != bs {
                    return Err(Error::corrupt(format!("directory {ino}: short block {lblk}")));
                }
                let records = super::ext2::dir::records(&block, fs.filetype_feature(), fs.geometry().inodes_count)
                    .map_err(|e| Error::corrupt(format!("directory {ino} block {lblk}: {e}")))?;
                for r in records.iter().filter(|r| r.ino != 0 && lblk * bs + r.off as u64 >= pos) {
                    let file_type = FileType::from_dirent(r.file_type);
                    let e = Entry { ino: r.ino, name: r.name(&block).to_vec(), file_type };
                    out.push((lblk * bs + (r.off + r.rec_len) as u64, e));
                }
                lblk += 1;
            }
            Ok(out)
        })
    }

    /// An open file now holds inode `ino`.
    pub fn opened(&self, ino: u32) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()).entry(ino).or_insert(0) += 1;
    }

    /// An open file of inode `ino` was closed: the last close of an
    /// unlinked inode frees it.
    pub fn closed(&self, ino: u32) {
        let last = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.get_mut(&ino) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    open.remove(&ino);
                    true
                }
                None => false,
            }
        };
        if last {
            // The last close writes back what shared mappings stored.
            if self.pages.is_dirty(ino) {
                if let Err(e) = self.write_back(ino) {
                    tracing::warn!("writing back mapped inode {ino}: {e}");
                }
            }
            self.lock_objects.lock().unwrap_or_else(|p| p.into_inner()).remove(&ino);
            let _ = self.evict_if_unlinked(ino);
            if self.released.load(Ordering::Relaxed) && self.open.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                if let Err(e) = self.unmount() {
                    tracing::warn!("unmounting {}: {e}", String::from_utf8_lossy(&self.source));
                }
            }
        }
    }

    /// Frees inode `ino` when no directory names it and no open file
    /// holds it (after an unlink, rmdir or a rename over it).
    pub fn evict_if_unlinked(&self, ino: u32) -> Result<(), Errno> {
        if self.read_only() || self.open.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&ino) {
            return Ok(());
        }
        self.write(|fs| {
            let inode = fs.inode(ino)?;
            if inode.links == 0 && inode.dtime == 0 {
                fs.evict(ino)?;
                // The number may name another file next: its memfd goes.
                self.pages.remove(ino);
            }
            Ok(())
        })
    }

    /// A new open file description of inode `ino`'s lock object (see
    /// `lock_objects`), for one guest open file to take locks through.
    pub fn lock_description(&self, ino: u32) -> Result<OwnedFd, Errno> {
        let mut objects = self.lock_objects.lock().unwrap_or_else(|p| p.into_inner());
        let base = match objects.entry(ino) {
            std::collections::hash_map::Entry::Occupied(o) => o.get().as_raw_fd(),
            std::collections::hash_map::Entry::Vacant(v) => {
                // SAFETY: the name is a C string; memfd_create makes a new fd.
                let fd = unsafe { libc::memfd_create(c"umvm-ext2-lock".as_ptr(), libc::MFD_CLOEXEC) };
                // SAFETY: a new fd that nothing else owns.
                v.insert(unsafe { OwnedFd::from_raw_fd(Errno::result(fd)?) }).as_raw_fd()
            }
        };
        let link = std::ffi::CString::new(format!("/proc/self/fd/{base}")).map_err(|_| Errno::EINVAL)?;
        // Opening the fd's /proc link makes a new open file description
        // of the same object, so locks taken through it conflict with
        // other guest opens' locks, as on one inode.
        // SAFETY: `link` is a C string.
        let fd = Errno::result(unsafe { libc::open(link.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
        // SAFETY: a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Writes everything back and makes it durable (sync, syncfs, fsync):
    /// the stores of shared mappings first.
    pub fn sync(&self) -> Result<(), Errno> {
        if self.gone.load(Ordering::Relaxed) {
            return Ok(());
        }
        let wb = self.write_back_all();
        self.commit(false)?;
        wb
    }

    /// Runs `f`, a write of `data` at offset `at` into inode `ino`, and
    /// copies what it wrote into the inode's memfd, if it has one, under
    /// the same lock: mappings see write(2) at once.
    fn write_through<'d>(
        &self,
        ino: u32,
        may_reserve: bool,
        f: impl FnOnce(&mut Ext2<Disk>) -> Result<(u64, &'d [u8]), Error>,
    ) -> Result<(u64, &'d [u8]), Errno> {
        if self.read_only() {
            return Err(Errno::EROFS);
        }
        let mut fs = self.lock_write()?;
        fs.set_reserved_ok(may_reserve);
        let r = f(&mut fs);
        fs.set_reserved_ok(true);
        let (at, wrote) = r.map_err(errno)?;
        if let Some(m) = self.pages.get(ino) {
            m.write(wrote, at)?;
        }
        Ok((at, wrote))
    }

    /// Reads regular file `ino` at `off`: from its memfd when it has one
    /// (which holds what shared mappings stored), else from the disk.
    pub fn read_data(&self, ino: u32, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.pages.get(ino) {
            Some(m) => m.read(buf, off),
            None => self.read(|fs| fs.read(&fs.inode(ino)?, off, buf)),
        }
    }

    /// truncate(2) and ftruncate of inode `ino` to `len`, its memfd (if
    /// it has one) too, so mappings see the new end.
    pub fn truncate(&self, ino: u32, len: u64) -> Result<(), Errno> {
        if self.read_only() {
            return Err(Errno::EROFS);
        }
        let mut fs = self.lock_write()?;
        let mut i = fs.inode(ino).map_err(errno)?;
        fs.truncate(&mut i, len).map_err(errno)?;
        match self.pages.get(ino) {
            Some(m) => m.set_len(len),
            None => Ok(()),
        }
    }

    /// The memfd a guest maps inode `ino` (a regular file) from, filled
    /// from the file when it has none; `dirty` when the mapping is shared
    /// and the file open for writing (its stores must reach the file).
    /// Returns it and whether it is new.
    pub fn map(&self, ino: u32, dirty: bool) -> Result<(std::sync::Arc<MappedFile>, bool), Errno> {
        let fs = self.lock()?;
        let inode = fs.inode(ino).map_err(errno)?;
        if inode.file_type() != FileType::Regular {
            return Err(Errno::ENODEV);
        }
        self.pages.get_or_fill(ino, dirty && !self.read_only(), || MappedFile::fill(&fs, &inode))
    }

    /// Lets private mappings of its files map `disk`, the disk it is
    /// mounted from, directly ([`Ext2Mount::map_direct`]). Set once.
    pub fn set_direct_source(&self, disk: Arc<Ubd>) {
        let _ = self.direct.set(disk);
    }

    /// How a MAP_PRIVATE mapping of `len` bytes of regular file `ino` from
    /// offset `off` (a page multiple) is made without a memfd, or None
    /// when it must use one (see syscall/mm.rs): the file has no memfd (a
    /// memfd, once made, holds the file's truth), and every whole page of
    /// the file the mapping covers is in disk blocks that are mapped (no
    /// hole), in at most `MAX_EXTENTS` runs of consecutive blocks that
    /// are whole pages of the file and page-aligned on the disk, and that
    /// the disk can map from its host file ([`Ubd::direct_source`]). `exec`: the
    /// mapping may be executable. `path` is what /proc/PID/maps shows.
    ///
    /// Only the file's own blocks are ever mapped: its partial last page
    /// is a copy (`tail`), so the bytes after its end on the disk are not.
    pub fn map_direct(
        &self,
        ino: u32,
        off: u64,
        len: u64,
        exec: bool,
        path: &[u8],
    ) -> Result<Option<DirectPlan>, Errno> {
        let Some(disk) = self.direct.get() else { return Ok(None) };
        let fs = self.lock()?;
        if self.pages.get(ino).is_some() {
            return Ok(None);
        }
        let inode = fs.inode(ino).map_err(errno)?;
        if inode.file_type() != FileType::Regular || off >= inode.size.div_ceil(PAGE) * PAGE {
            return Ok(None);
        }
        let end = off.saturating_add(len.div_ceil(PAGE) * PAGE);
        let full_end = end.min(inode.size / PAGE * PAGE);
        let full = full_end.saturating_sub(off);
        if full == 0 {
            // Nothing to share: the memfd serves it (and names it).
            return Ok(None);
        }
        let bs = u64::from(fs.geometry().block_size);
        let Some(runs) = fs.block_runs(&inode, off / bs, full / bs, MAX_EXTENTS).map_err(errno)? else {
            return Ok(None);
        };
        // Each run must be whole pages of the file, page-aligned on the
        // disk: a page is one piece of one host file mapping.
        let mut extents = Vec::with_capacity(runs.len());
        let mut file: Option<Arc<DirectFile>> = None;
        for (lblk, pblk, n) in runs {
            let (at, len) = (u64::from(pblk) * bs, n * bs);
            if (lblk * bs) % PAGE != 0 || len % PAGE != 0 {
                return Ok(None);
            }
            let Some((f, host_at)) = disk.direct_source(at, len) else { return Ok(None) };
            if exec && f.noexec() {
                return Ok(None);
            }
            extents.push((lblk * bs - off, len, host_at));
            file = Some(f);
        }
        let Some(file) = file else { return Ok(None) };
        for &(rel, len, host_at) in &extents {
            self.remember_direct(DirectMapping {
                host: file.host_key(),
                disk: host_at..host_at + len,
                file_off: off + rel,
                ino,
                path: path.to_vec(),
            });
        }
        let tail_at = off + full;
        let mut tail = vec![0u8; inode.size.min(end).saturating_sub(tail_at) as usize];
        let n = fs.read(&inode, tail_at, &mut tail).map_err(errno)?;
        tail.truncate(n);
        Ok(Some(DirectPlan { file, extents, full, tail }))
    }

    /// Records a direct mapping for /proc/PID/maps: merged with the
    /// records of the same file it overlaps or touches (the same pages at
    /// the same file offsets), replacing those of other files it overlaps
    /// (their blocks hold this file now).
    fn remember_direct(&self, mut m: DirectMapping) {
        let mut maps = self.direct_maps.lock().unwrap_or_else(|p| p.into_inner());
        let same = |l: &DirectMapping, m: &DirectMapping| {
            l.ino == m.ino
                && l.path == m.path
                && l.disk.start.wrapping_sub(l.file_off) == m.disk.start.wrapping_sub(m.file_off)
        };
        let mut i = 0;
        while i < maps.len() {
            let l = &maps[i];
            let touch = l.host == m.host && l.disk.start <= m.disk.end && m.disk.start <= l.disk.end;
            let overlap = touch && l.disk.start < m.disk.end && m.disk.start < l.disk.end;
            if touch && same(l, &m) {
                let l = maps.remove(i);
                let start = l.disk.start.min(m.disk.start);
                m.file_off -= m.disk.start - start;
                m.disk = start..l.disk.end.max(m.disk.end);
            } else if overlap {
                maps.remove(i);
            } else {
                i += 1;
            }
        }
        if maps.len() >= DIRECT_MAPS_KEPT {
            maps.remove(0);
        }
        maps.push(m);
    }

    /// What /proc/PID/maps shows for a mapping of host file `host`
    /// (st_dev, st_ino) at offset `offset`, if it is a direct mapping of
    /// one of this mount's files: the file's inode number, the guest path
    /// it was mapped by, and the file offset.
    pub fn direct_file(&self, host: (u64, u64), offset: u64) -> Option<(u32, Vec<u8>, u64)> {
        let maps = self.direct_maps.lock().unwrap_or_else(|p| p.into_inner());
        let m = maps.iter().rev().find(|m| m.host == host && m.disk.contains(&offset))?;
        Some((m.ino, m.path.clone(), m.file_off + (offset - m.disk.start)))
    }

    /// Writes back the memfd of inode `ino`, if it has one: the blocks
    /// shared mappings changed reach the file.
    pub fn write_back(&self, ino: u32) -> Result<(), Errno> {
        let Some(m) = self.pages.get(ino) else {
            return Ok(());
        };
        if self.read_only() {
            return Ok(());
        }
        let mut fs = self.lock_write()?;
        m.write_back(&mut fs, ino)
    }

    /// What /proc/PID/maps shows for a mapping of the memfd that is host
    /// inode `host_ino`, if it is one of this mount's: the file's inode
    /// number and the guest path it was mapped by.
    pub fn memfd_file(&self, host_ino: u64) -> Option<(u32, Vec<u8>)> {
        self.pages.by_host_ino(host_ino).map(|(ino, m)| (ino, m.path()))
    }

    /// msync of a mapping of the memfd that is host inode `host_ino`, if
    /// it is one of this mount's.
    pub fn write_back_memfd(&self, host_ino: u64) -> Result<(), Errno> {
        match self.pages.by_host_ino(host_ino) {
            Some((ino, _)) if self.pages.is_dirty(ino) => self.write_back(ino),
            _ => Ok(()),
        }
    }

    /// Writes back every memfd on the dirty list; the first error is
    /// returned after the others were tried.
    pub fn write_back_all(&self) -> Result<(), Errno> {
        let mut first = Ok(());
        for (ino, _) in self.pages.dirty() {
            if let Err(e) = self.write_back(ino) {
                tracing::warn!("writing back mapped inode {ino}: {e}");
                first = first.and(Err(e));
            }
        }
        first
    }

    /// Bounds the page cache: while its memfds hold more than `limit`
    /// bytes, drops the least recently mapped one that no process maps
    /// (`mapped(host_ino)`), writing it back first when dirty.
    ///
    /// A memfd someone else holds (an mmap handing it to a process right
    /// now) stays. The filesystem lock keeps [`Ext2Mount::map`] out meanwhile.
    pub fn trim_pages(&self, limit: u64, mapped: &mut dyn FnMut(u64) -> bool) {
        let (all, mut bytes) = self.pages.by_age();
        if bytes <= limit {
            return;
        }
        let Ok(mut fs) = self.lock_write() else {
            return;
        };
        for (ino, m) in all {
            if bytes <= limit {
                break;
            }
            // The cache's reference and `m`; any other is a user.
            if std::sync::Arc::strong_count(&m) > 2 || mapped(m.host_ino()) {
                continue;
            }
            if self.pages.is_dirty(ino) && !self.read_only() {
                if let Err(e) = m.write_back(&mut fs, ino) {
                    tracing::warn!("writing back mapped inode {ino}: {e}");
                    continue;
                }
            }
            let size = m.len().unwrap_or(0);
            if self.pages.drop_if(ino, &m) {
                bytes = bytes.saturating_sub(size);
            }
        }
    }

    /// Switches between read-only and read-write (mount -o remount): a
    /// read-only filesystem is marked clean on its disk.
    pub fn remount(&self, read_only: bool) -> Result<(), Errno> {
        if read_only {
            self.write_back_all()?;
        }
        let mut fs = self.lock()?;
        match (self.read_only(), read_only) {
            (false, true) => {
                fs.unmount().map_err(errno)?;
                drop(fs);
                self.read_only.store(true, Ordering::Relaxed);
                self.sync()
            }
            (true, false) => {
                fs.check_writable().map_err(errno)?;
                fs.mount_rw().map_err(errno)?;
                self.read_only.store(false, Ordering::Relaxed);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// No mount shows it any more (umount2 of its last mount): it is
    /// unmounted now, or, while files are still open on it (a lazy
    /// unmount), at the last one's close.
    pub fn release(&self) -> Result<(), Errno> {
        self.released.store(true, Ordering::Relaxed);
        if self.open.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            self.unmount()
        } else {
            Ok(())
        }
    }

    /// Whether it is unmounted (every operation on it is EIO).
    pub fn is_unmounted(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// Unmounts: frees what unlinked files still held, marks the
    /// filesystem clean and makes everything durable. Later operations
    /// are EIO; a second call does nothing.
    pub fn unmount(&self) -> Result<(), Errno> {
        if self.gone.load(Ordering::Relaxed) || self.unmounting.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let orphans: Vec<u32> =
            self.open.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(ino, _)| ino).collect();
        for ino in orphans {
            let _ = self.evict_if_unlinked(ino);
        }
        if let Err(e) = self.write_back_all() {
            tracing::warn!("unmount of {}: writing back mapped files: {e}", String::from_utf8_lossy(&self.source));
        }
        self.pages.clear();
        if !self.read_only() {
            self.lock()?.unmount().map_err(errno)?;
        }
        let r = self.sync();
        self.gone.store(true, Ordering::Relaxed);
        // The disk commits on its own again (raw writes to it).
        self.control.hold_writeback(false);
        r
    }
}

impl Drop for Ext2Mount {
    fn drop(&mut self) {
        // A mount dropped without an unmount (one that failed a check
        // right after it was made): its disk is the disk's again.
        if !self.gone.load(Ordering::Relaxed) {
            self.control.hold_writeback(false);
        }
    }
}

/// The filesystem lock held for a change (see `Ext2Mount::lock_write`).
struct WriteGuard<'a> {
    fs: MutexGuard<'a, Ext2<Disk>>,
    control: &'a dyn DiskControl,
}

impl std::ops::Deref for WriteGuard<'_> {
    type Target = Ext2<Disk>;

    fn deref(&self) -> &Ext2<Disk> {
        &self.fs
    }
}

impl std::ops::DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Ext2<Disk> {
        &mut self.fs
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        // Still under the lock: the operation is whole. A failure leaves
        // the pages dirty for the next commit (sync reports it).
        if self.control.commit_due() {
            if let Err(e) = self.control.commit() {
                tracing::warn!("committing the disk after an operation: {e}");
            }
        }
    }
}

/// An open file or directory of an ext2 mount: the inode it holds and
/// its position (for a directory, the byte position in it where the next
/// getdents64 resumes).
pub struct Ext2File {
    /// The filesystem.
    pub fs: std::sync::Arc<Ext2Mount>,
    /// The inode.
    pub ino: u32,
    /// Whether it is a directory.
    pub dir: bool,
    /// Whether its writes may use the reserved blocks (the opener's
    /// right, as Linux checks the writer's).
    pub may_reserve: bool,
    pos: Mutex<u64>,
    /// This open file's description of the inode's lock object, made at
    /// its first lock.
    locks: std::sync::OnceLock<OwnedFd>,
}

impl Ext2File {
    /// Holds inode `ino` of `fs` open.
    pub fn new(fs: std::sync::Arc<Ext2Mount>, ino: u32, dir: bool, may_reserve: bool) -> Ext2File {
        fs.opened(ino);
        Ext2File { fs, ino, dir, may_reserve, pos: Mutex::new(0), locks: std::sync::OnceLock::new() }
    }

    fn pos(&self) -> MutexGuard<'_, u64> {
        self.pos.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The inode as it is now.
    pub fn inode(&self) -> Result<Inode, Errno> {
        self.fs.inode(self.ino)
    }

    /// Reads at `off`, or at the file position (which moves).
    pub fn read(&self, buf: &mut [u8], off: Option<i64>) -> Result<usize, Errno> {
        let mut pos = self.pos();
        let at = off.map_or(*pos, |o| o as u64);
        let n = self.fs.read_data(self.ino, at, buf)?;
        if off.is_none() {
            *pos = at + n as u64;
        }
        Ok(n)
    }

    /// Writes at `off`, or at the file position (which moves); with
    /// `append`, at the end of the file whatever `off` says, as Linux's
    /// pwrite does on an O_APPEND file.
    pub fn write(&self, data: &[u8], off: Option<i64>, append: bool) -> Result<usize, Errno> {
        let mut pos = self.pos();
        let (at, n) = self.fs.write_through(self.ino, self.may_reserve, |fs| {
            let mut inode = fs.inode(self.ino)?;
            let at = if append { inode.size } else { off.map_or(*pos, |o| o as u64) };
            fs.write(&mut inode, at, data).map(|n| (at, &data[..n]))
        })?;
        let n = n.len();
        if off.is_none() {
            *pos = at + n as u64;
        }
        Ok(n)
    }

    /// lseek(2): SEEK_SET, SEEK_CUR, SEEK_END, and SEEK_DATA/SEEK_HOLE
    /// (the whole file counts as data, as Linux's generic_file_llseek
    /// does for filesystems without hole tracking).
    pub fn seek(&self, off: i64, whence: i32) -> Result<i64, Errno> {
        let mut pos = self.pos();
        let size = || self.inode().map(|i| i.size as i64);
        let at = match whence {
            libc::SEEK_SET => Some(off),
            libc::SEEK_CUR => (*pos as i64).checked_add(off),
            libc::SEEK_END => size()?.checked_add(off),
            libc::SEEK_DATA if off >= 0 && off < size()? => Some(off),
            libc::SEEK_HOLE if off >= 0 && off < size()? => Some(size()?),
            libc::SEEK_DATA | libc::SEEK_HOLE => return Err(Errno::ENXIO),
            _ => return Err(Errno::EINVAL),
        };
        let at = at.filter(|&a| a >= 0).ok_or(Errno::EINVAL)?;
        *pos = at as u64;
        Ok(at)
    }

    /// The host fd its file locks are taken through (flock, fcntl).
    pub fn lock_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
        if self.locks.get().is_none() {
            let fd = self.fs.lock_description(self.ino)?;
            let _ = self.locks.set(fd);
        }
        Ok(self.locks.get().expect("set above").as_fd())
    }

    /// The directory position (getdents64).
    pub fn dir_pos(&self) -> MutexGuard<'_, u64> {
        self.pos()
    }
}

impl Drop for Ext2File {
    fn drop(&mut self) {
        self.fs.closed(self.ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount() -> Ext2Mount {
        let img = std::env::temp_dir().join(format!("umvm-ext2mount-direct-{}", std::process::id()));
        let out = std::process::Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext2"])
            .arg(&img)
            .arg("1M")
            .output()
            .expect("mke2fs (e2fsprogs) must be installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&img).unwrap();
        let _ = std::fs::remove_file(&img);
        Ext2Mount::new(Box::new(bytes), Arc::new(InMemory), 7, true, b"test").unwrap()
    }

    fn rec(start: u64, end: u64, file_off: u64, ino: u32) -> DirectMapping {
        DirectMapping { host: (1, 2), disk: start..end, file_off, ino, path: format!("/f{ino}").into_bytes() }
    }

    #[test]
    fn direct_records_merge_per_file_and_give_way_to_new_owners() {
        let m = mount();
        // A library's whole span, then its segments again: one record.
        m.remember_direct(rec(0x10000, 0x30000, 0, 5));
        m.remember_direct(rec(0x20000, 0x28000, 0x10000, 5));
        m.remember_direct(rec(0x30000, 0x34000, 0x20000, 5));
        assert_eq!(m.direct_maps.lock().unwrap().len(), 1);
        assert_eq!(m.direct_file((1, 2), 0x10000), Some((5, b"/f5".to_vec(), 0)));
        assert_eq!(m.direct_file((1, 2), 0x33000), Some((5, b"/f5".to_vec(), 0x23000)));
        assert_eq!(m.direct_file((1, 2), 0x34000), None);
        assert_eq!(m.direct_file((1, 3), 0x10000), None);
        // Blocks that another file holds now: its record replaces.
        m.remember_direct(rec(0x30000, 0x31000, 0x4000, 6));
        assert_eq!(m.direct_file((1, 2), 0x30000), Some((6, b"/f6".to_vec(), 0x4000)));
        assert_eq!(m.direct_file((1, 2), 0x10000), None);
    }
}
