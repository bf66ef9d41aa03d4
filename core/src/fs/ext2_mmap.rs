//! The page cache of mapped ext2 files (ARCHITECTURE §5, file mmap).
//!
//! An ext2 file has no host fd a guest process could map, so the first
//! mmap of a file fills a memfd with its contents and the guest maps the
//! memfd (handed over by trap::fdpass, as a hostfs file's fd is):
//! MAP_PRIVATE maps a read-only fd privately, MAP_SHARED of a file open
//! for writing maps a read-write fd shared. One memfd per (mount, inode)
//! serves every process, so a library ld.so maps is in host memory once.
//!
//! Most private mappings need no memfd: while a file has none, a
//! MAP_PRIVATE mapping whose whole pages lie page-aligned in clean blocks
//! of the disk maps the disk's host file (a COW disk's backing image)
//! directly (`Ext2Mount::map_direct`, dev/ubd/direct.rs, syscall/mm.rs),
//! so every VM over one image shares the host's page cache of it.
//!
//! Coherence, as Linux's single page cache gives it: while a file has a
//! memfd, the memfd *is* its page cache. read(2) reads the memfd (so it
//! sees stores through shared mappings at once); write(2) writes ext2 and
//! then the same bytes into the memfd (so every mapping sees them at once);
//! truncate changes both sizes. All three, the fill and the write-back run
//! under the mount's filesystem lock, so none interleaves with another.
//!
//! Stores through a MAP_SHARED mapping reach ext2 by write-back: each file
//! ever mapped shared from a writable fd is on the mount's dirty list, and
//! its memfd is compared with the file block by block, writing the blocks
//! that differ (holes and unchanged blocks stay as they are), on msync, on
//! the last close of the file, on fsync/fdatasync/syncfs/sync, on remount
//! read-only and on unmount. As on Linux, munmap itself writes nothing
//! back: the stores stay in the page cache (the memfd) until then.
//!
//! Memory: a memfd exists only for a file that was mapped. The cache keeps
//! memfds while they are mapped (a scan of the guest processes' host
//! /proc/PID/maps tells, see syscall/mm.rs) and, beyond that, the most
//! recently used ones up to [`CACHE_BYTES`]; a dirty one is written back
//! before it goes.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::ext2::{BlockSink, Ext2, Inode};
use crate::errno::Errno;

/// The memfds' name: /proc/PID/maps shows `/memfd:umvm-ext2 (deleted)`.
pub const MEMFD_NAME: &str = "umvm-ext2";

/// How many bytes of memfds not mapped by anyone the cache keeps.
pub const CACHE_BYTES: u64 = 128 << 20;

/// What fill and write-back move at a time.
const CHUNK: usize = 256 << 10;

const PAGE: usize = 4096;

/// The memfd holding one ext2 file's contents.
pub struct MappedFile {
    rw: OwnedFd,
    ro: OwnedFd,
    /// The memfd's host inode number (how /proc/PID/maps names it).
    host_ino: u64,
    /// The cache's clock when it was last mapped.
    last_use: AtomicU64,
    /// The guest path it was last mapped by (/proc/PID/maps shows it).
    path: Mutex<Vec<u8>>,
}

fn pread(fd: RawFd, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is writable for its length.
        let n = unsafe { libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), (off + done as u64) as i64) };
        match Errno::result(n) {
            Ok(0) => break,
            Ok(n) => done += n as usize,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn pwrite(fd: RawFd, data: &[u8], off: u64) -> Result<(), Errno> {
    let mut done = 0;
    while done < data.len() {
        let rest = &data[done..];
        // SAFETY: `rest` is readable for its length.
        let n = unsafe { libc::pwrite(fd, rest.as_ptr().cast(), rest.len(), (off + done as u64) as i64) };
        match Errno::result(n) {
            Ok(n) => done += n as usize,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// SEEK_DATA/SEEK_HOLE on a memfd: the next offset at or after `off` of
/// the kind asked, None past the end.
fn seek(fd: RawFd, off: u64, whence: i32) -> Option<u64> {
    // SAFETY: lseek on an open fd.
    let r = unsafe { libc::lseek(fd, off as i64, whence) };
    (r >= 0).then_some(r as u64)
}

fn memfd() -> Result<OwnedFd, Errno> {
    let name = CString::new(MEMFD_NAME).expect("no NUL");
    // SAFETY: `name` is a C string. MFD_EXEC keeps the memfd mappable
    // for execution where vm.memfd_noexec would seal it; kernels before
    // 6.3 do not know the flag (EINVAL) and allow it anyway.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    }
    let fd = Errno::result(fd)?;
    // SAFETY: memfd_create returned a new fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl MappedFile {
    /// A memfd holding the contents of regular file `inode` of `fs`. Blocks
    /// of zeroes (holes included) are left as holes of the memfd.
    pub fn fill<S: BlockSink>(fs: &Ext2<S>, inode: &Inode) -> Result<MappedFile, Errno> {
        let rw = memfd()?;
        // SAFETY: ftruncate of an fd we own.
        Errno::result(unsafe { libc::ftruncate(rw.as_raw_fd(), inode.size as i64) })?;
        let mut buf = vec![0u8; CHUNK];
        let mut off = 0u64;
        while off < inode.size {
            let want = ((inode.size - off) as usize).min(CHUNK);
            let n = fs.read(inode, off, &mut buf[..want]).map_err(|e| e.errno())?;
            if n == 0 {
                break;
            }
            for (i, page) in buf[..n].chunks(PAGE).enumerate() {
                if page.iter().any(|&b| b != 0) {
                    pwrite(rw.as_raw_fd(), page, off + (i * PAGE) as u64)?;
                }
            }
            off += n as u64;
        }
        // A second, read-only open of the memfd: a private mapping or one
        // of a file the guest may not write gets this, so mprotect can
        // never make a shared mapping of it writable.
        let path = CString::new(format!("/proc/self/fd/{}", rw.as_raw_fd())).expect("no NUL");
        // SAFETY: `path` is a C string.
        let ro = Errno::result(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
        // SAFETY: open returned a new fd nothing else owns.
        let ro = unsafe { OwnedFd::from_raw_fd(ro) };
        // SAFETY: stat is plain old data; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is writable.
        Errno::result(unsafe { libc::fstat(rw.as_raw_fd(), &mut st) })?;
        Ok(MappedFile { rw, ro, host_ino: st.st_ino, last_use: AtomicU64::new(0), path: Mutex::new(Vec::new()) })
    }

    /// The fd a guest maps: read-write only for a shared mapping of a file
    /// open for writing.
    pub fn fd(&self, writable: bool) -> RawFd {
        if writable {
            self.rw.as_raw_fd()
        } else {
            self.ro.as_raw_fd()
        }
    }

    /// The memfd's host inode number.
    pub fn host_ino(&self) -> u64 {
        self.host_ino
    }

    /// The guest path it was last mapped by.
    pub fn path(&self) -> Vec<u8> {
        self.path.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records the guest path a mapping is made by.
    pub fn set_path(&self, path: &[u8]) {
        let mut p = self.path.lock().unwrap_or_else(|p| p.into_inner());
        if p.as_slice() != path {
            *p = path.to_vec();
        }
    }

    /// The memfd's size (the file's).
    pub fn len(&self) -> Result<u64, Errno> {
        // SAFETY: stat is plain old data; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is writable.
        Errno::result(unsafe { libc::fstat(self.rw.as_raw_fd(), &mut st) })?;
        Ok(st.st_size as u64)
    }

    /// Whether the memfd is empty.
    pub fn is_empty(&self) -> Result<bool, Errno> {
        Ok(self.len()? == 0)
    }

    /// read(2) of the file: from the memfd, which stores through shared
    /// mappings have changed.
    pub fn read(&self, buf: &mut [u8], off: u64) -> Result<usize, Errno> {
        pread(self.rw.as_raw_fd(), buf, off)
    }

    /// What write(2) wrote to the file, into the memfd too.
    pub fn write(&self, data: &[u8], off: u64) -> Result<(), Errno> {
        pwrite(self.rw.as_raw_fd(), data, off)
    }

    /// The file's new size after a truncate (mappings past the end then
    /// fault with SIGBUS, as on Linux).
    pub fn set_len(&self, len: u64) -> Result<(), Errno> {
        // SAFETY: ftruncate of an fd we own.
        Errno::result(unsafe { libc::ftruncate(self.rw.as_raw_fd(), len as i64) }).map(drop)
    }

    /// Writes the blocks of the memfd that differ from inode `ino` of `fs`
    /// into the file. Only the memfd's data ranges are compared: a hole in
    /// it reads zeroes and so does the file there (write(2) and truncate
    /// keep both in step).
    pub fn write_back<S: BlockSink>(&self, fs: &mut Ext2<S>, ino: u32) -> Result<(), Errno> {
        let mut inode = fs.inode(ino).map_err(|e| e.errno())?;
        let size = self.len()?.min(inode.size);
        let bs = fs.geometry().block_size as usize;
        let fd = self.rw.as_raw_fd();
        let (mut mine, mut theirs) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
        let mut off = 0u64;
        while off < size {
            let Some(data) = seek(fd, off, libc::SEEK_DATA).filter(|&d| d < size) else {
                break;
            };
            let end = seek(fd, data, libc::SEEK_HOLE).unwrap_or(size).min(size);
            // Whole blocks of the file, from the one holding `data`.
            let mut at = data / bs as u64 * bs as u64;
            while at < end {
                let want = ((end - at) as usize).min(CHUNK);
                let n = pread(fd, &mut mine[..want], at)?;
                let m = fs.read(&inode, at, &mut theirs[..n]).map_err(|e| e.errno())?;
                theirs[m..n].fill(0);
                for (i, (a, b)) in mine[..n].chunks(bs).zip(theirs[..n].chunks(bs)).enumerate() {
                    if a != b {
                        fs.write(&mut inode, at + (i * bs) as u64, a).map_err(|e| e.errno())?;
                    }
                }
                if n == 0 {
                    break;
                }
                at += n as u64;
            }
            off = at.max(end);
        }
        Ok(())
    }
}

/// The memfds of one mount's mapped files.
#[derive(Default)]
pub struct PageCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    files: HashMap<u32, Arc<MappedFile>>,
    /// Files mapped shared from a writable fd: their memfds may hold
    /// stores ext2 has not seen.
    dirty: HashSet<u32>,
    clock: u64,
}

impl PageCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The memfd of inode `ino`, if it has one.
    pub fn get(&self, ino: u32) -> Option<Arc<MappedFile>> {
        self.lock().files.get(&ino).cloned()
    }

    /// The memfd of inode `ino`, made by `fill` if it has none yet, marked
    /// used now and, when `dirty`, put on the dirty list. Returns it and
    /// whether it is new.
    pub fn get_or_fill(
        &self,
        ino: u32,
        dirty: bool,
        fill: impl FnOnce() -> Result<MappedFile, Errno>,
    ) -> Result<(Arc<MappedFile>, bool), Errno> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let (file, new) = match inner.files.get(&ino) {
            Some(f) => (f.clone(), false),
            None => {
                let f = Arc::new(fill()?);
                inner.files.insert(ino, f.clone());
                (f, true)
            }
        };
        file.last_use.store(clock, Ordering::Relaxed);
        if dirty {
            inner.dirty.insert(ino);
        }
        Ok((file, new))
    }

    /// Forgets inode `ino`'s memfd (its inode was freed).
    pub fn remove(&self, ino: u32) {
        let mut inner = self.lock();
        inner.files.remove(&ino);
        inner.dirty.remove(&ino);
    }

    /// Whether inode `ino`'s memfd is on the dirty list.
    pub fn is_dirty(&self, ino: u32) -> bool {
        self.lock().dirty.contains(&ino)
    }

    /// The dirty list.
    pub fn dirty(&self) -> Vec<(u32, Arc<MappedFile>)> {
        let inner = self.lock();
        inner.dirty.iter().filter_map(|ino| inner.files.get(ino).map(|f| (*ino, f.clone()))).collect()
    }

    /// The inode whose memfd is host inode `host_ino`.
    pub fn by_host_ino(&self, host_ino: u64) -> Option<(u32, Arc<MappedFile>)> {
        self.lock().files.iter().find(|(_, f)| f.host_ino == host_ino).map(|(ino, f)| (*ino, f.clone()))
    }

    /// Every memfd, least recently mapped first, with the bytes they hold.
    pub fn by_age(&self) -> (Vec<(u32, Arc<MappedFile>)>, u64) {
        let inner = self.lock();
        let mut all: Vec<_> = inner.files.iter().map(|(ino, f)| (*ino, f.clone())).collect();
        all.sort_by_key(|(_, f)| f.last_use.load(Ordering::Relaxed));
        let bytes = all.iter().map(|(_, f)| f.len().unwrap_or(0)).sum();
        (all, bytes)
    }

    /// Drops inode `ino`'s memfd if it is still `file` (the caller wrote
    /// it back); returns whether it did.
    pub fn drop_if(&self, ino: u32, file: &Arc<MappedFile>) -> bool {
        let mut inner = self.lock();
        if !inner.files.get(&ino).is_some_and(|f| Arc::ptr_eq(f, file)) {
            return false;
        }
        inner.files.remove(&ino);
        inner.dirty.remove(&ino);
        true
    }

    /// Forgets every memfd (unmount).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.files.clear();
        inner.dirty.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::Arc;

    use crate::fs::ext2_mount::{Ext2File, Ext2Mount, InMemory, ROOT_INO};

    /// A mounted image made by `mke2fs -d` from a tree with `hole`: 4 KiB of
    /// 'a', a hole, 4 KiB of 'b' at 64 KiB (size 68 KiB), and `small`.
    fn mount(tag: &str) -> (Arc<Ext2Mount>, u32, u32) {
        let dir = std::env::temp_dir().join(format!("umvm-ext2mmap-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tree = dir.join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        let f = std::fs::File::create(tree.join("hole")).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&[b'a'; 4096], 0).unwrap();
        f.write_all_at(&[b'b'; 4096], 64 << 10).unwrap();
        std::fs::write(tree.join("small"), b"hello").unwrap();
        let img: PathBuf = dir.join("img");
        let out = Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-d"])
            .arg(&tree)
            .arg(&img)
            .arg("2M")
            .output()
            .expect("mke2fs (e2fsprogs) must be installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&img).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let m = Ext2Mount::new(Box::new(bytes), Arc::new(InMemory), 1, false, b"test").unwrap();
        let hole = m.lookup(ROOT_INO, b"hole").unwrap().unwrap().ino;
        let small = m.lookup(ROOT_INO, b"small").unwrap().unwrap().ino;
        (Arc::new(m), hole, small)
    }

    /// The file's bytes as ext2 holds them (not through the cache).
    fn on_disk(m: &Ext2Mount, ino: u32) -> Vec<u8> {
        m.read(|fs| {
            let i = fs.inode(ino)?;
            let mut buf = vec![0u8; i.size as usize];
            let n = fs.read(&i, 0, &mut buf)?;
            buf.truncate(n);
            Ok(buf)
        })
        .unwrap()
    }

    #[test]
    fn stores_reach_the_file_and_holes_stay_holes() {
        let (m, hole, _) = mount("wb");
        let (f, new) = m.map(hole, true).unwrap();
        assert!(new);
        assert_eq!(f.len().unwrap(), 68 << 10);
        let mut buf = vec![0u8; 68 << 10];
        assert_eq!(f.read(&mut buf, 0).unwrap(), 68 << 10);
        assert_eq!(buf, on_disk(&m, hole));
        // The memfd left the hole a hole.
        let fd = f.fd(false);
        assert_eq!(super::seek(fd, 4096, libc::SEEK_DATA), Some(64 << 10));
        // A store as a shared mapping makes it, then write-back.
        f.write(b"STORE", 100).unwrap();
        f.write(b"B2", (64 << 10) + 10).unwrap();
        let before = m.read(|fs| fs.inode(hole)).unwrap().blocks;
        m.sync().unwrap();
        let disk = on_disk(&m, hole);
        assert_eq!(&disk[100..105], b"STORE");
        assert_eq!(&disk[(64 << 10) + 10..(64 << 10) + 12], b"B2");
        assert!(disk[4096..64 << 10].iter().all(|&b| b == 0));
        assert_eq!(m.read(|fs| fs.inode(hole)).unwrap().blocks, before, "write-back filled the hole");
        // Mapping again reuses the memfd.
        let (g, new) = m.map(hole, false).unwrap();
        assert!(!new && Arc::ptr_eq(&f, &g));
    }

    #[test]
    fn read_write_and_truncate_stay_coherent_with_the_memfd() {
        let (m, _, small) = mount("coherent");
        let file = Ext2File::new(m.clone(), small, false, true);
        let (f, _) = m.map(small, true).unwrap();
        // write(2) reaches the memfd and ext2.
        file.write(b"HE", Some(0), false).unwrap();
        let mut buf = [0u8; 5];
        f.read(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"HEllo");
        assert_eq!(on_disk(&m, small), b"HEllo");
        // A store to the memfd is what read(2) sees, before write-back.
        f.write(b"LL", 2).unwrap();
        assert_eq!(file.read(&mut buf, Some(0)).unwrap(), 5);
        assert_eq!(&buf, b"HELLo");
        assert_eq!(on_disk(&m, small), b"HEllo");
        // Growth and shrinking keep both sizes equal.
        m.truncate(small, 10_000).unwrap();
        assert_eq!(f.len().unwrap(), 10_000);
        m.truncate(small, 3).unwrap();
        assert_eq!(f.len().unwrap(), 3);
        // The last close writes back.
        drop(file);
        assert_eq!(on_disk(&m, small), b"HEL");
    }

    #[test]
    fn trimming_keeps_mapped_memfds_and_writes_back_the_others() {
        let (m, hole, small) = mount("trim");
        let (a, _) = m.map(hole, false).unwrap();
        let (b, _) = m.map(small, true).unwrap();
        b.write(b"X", 0).unwrap();
        // Held by someone (an mmap under way): kept.
        m.trim_pages(0, &mut |_| false);
        assert!(m.map(hole, false).is_ok_and(|(f, new)| !new && Arc::ptr_eq(&f, &a)));
        drop((a, b));
        // Mapped by a process: kept.
        m.trim_pages(0, &mut |_| true);
        assert!(!m.map(small, false).unwrap().1);
        // Neither: dropped, the dirty one written back first.
        m.trim_pages(0, &mut |_| false);
        assert_eq!(on_disk(&m, small), b"Xello");
        assert!(m.map(hole, false).unwrap().1, "the unmapped memfd stayed");
        let (b2, new) = m.map(small, false).unwrap();
        assert!(new);
        let mut buf = [0u8; 5];
        b2.read(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"Xello");
    }
}
