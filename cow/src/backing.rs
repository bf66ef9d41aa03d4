//! Backing files: opened read-only, share-locked, and mapped once per
//! process.
//!
//! Every COW device over the same backing file (the same st_dev and st_ino,
//! whatever path named it) gets the same `Arc<Backing>` from a process-wide
//! registry, so two ubds or twenty guests in one umvm share one read-only
//! `MAP_SHARED` mapping: the pages are the host page cache's, counted once,
//! and no device keeps a private copy. The registry holds weak references,
//! so the mapping goes away with its last device.
//!
//! A registry entry is reused only while the file still has the size and
//! mtime it had when mapped; a backing file changed under a running umvm
//! gets a fresh entry (and the COW checks then see the change).
//!
//! Caveat: the share lock is advisory. A process that ignores it and
//! truncates the backing file makes reads of the lost pages fault (SIGBUS),
//! as with any mapped file.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use memmap2::Mmap;

/// Identity of a host file.
type FileKey = (u64, u64);

static REGISTRY: Mutex<Option<HashMap<FileKey, Weak<Backing>>>> = Mutex::new(None);

/// An open, mapped backing file.
#[derive(Debug)]
pub struct Backing {
    path: PathBuf,
    file: File,
    /// `None` for an empty file, which cannot be mapped.
    map: Option<Mmap>,
    size: u64,
    mtime: i64,
    key: FileKey,
    locked: Mutex<bool>,
}

impl Backing {
    /// The shared mapping of the file at `path`, opening and mapping it if
    /// no live device uses it yet. With `lock`, a whole-file read lock is
    /// held (as UML takes F_RDLCK on a backing file unless `c`).
    pub fn open(path: &Path, lock: bool) -> io::Result<Arc<Backing>> {
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(path)?;
        let meta = file.metadata()?;
        let key = (meta.dev(), meta.ino());
        let size = file_size(&file, &meta)?;
        let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let registry = guard.get_or_insert_with(HashMap::new);
        if let Some(existing) = registry.get(&key).and_then(Weak::upgrade) {
            if existing.size == size && existing.mtime == meta.mtime() {
                if lock {
                    existing.lock()?;
                }
                return Ok(existing);
            }
        }
        let map = if size == 0 {
            None
        } else {
            // SAFETY: the mapping is read-only and shared, so we never write
            // through it; the file is share-locked against cooperating writers
            // (the module docs name the SIGBUS risk from others). It outlives
            // every slice we hand out, which borrow `self`.
            Some(unsafe { memmap2::MmapOptions::new().len(size as usize).map(&file)? })
        };
        let backing = Arc::new(Backing {
            path: path.to_path_buf(),
            file,
            map,
            size,
            mtime: meta.mtime(),
            key,
            locked: Mutex::new(false),
        });
        if lock {
            backing.lock()?;
        }
        registry.retain(|_, w| w.strong_count() > 0);
        registry.insert(key, Arc::downgrade(&backing));
        Ok(backing)
    }

    /// Takes the shared lock once (later devices that want it find it held).
    fn lock(&self) -> io::Result<()> {
        let mut locked = self.locked.lock().unwrap_or_else(|e| e.into_inner());
        if !*locked {
            crate::lock::lock(&self.file, false)?;
            *locked = true;
        }
        Ok(())
    }

    /// The path it was first opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size in bytes when mapped.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its mtime in seconds when mapped.
    pub fn mtime(&self) -> i64 {
        self.mtime
    }

    /// Its (st_dev, st_ino).
    pub fn key(&self) -> (u64, u64) {
        self.key
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Copies the bytes at `offset` into `dst`; bytes past the end of the
    /// file read as zero (the disk is the file rounded up to a sector).
    pub fn read(&self, offset: u64, dst: &mut [u8]) {
        let bytes = self.bytes();
        let start = offset.min(bytes.len() as u64) as usize;
        let n = (bytes.len() - start).min(dst.len());
        dst[..n].copy_from_slice(&bytes[start..start + n]);
        dst[n..].fill(0);
    }

    /// How many live mappings the registry holds (for tests).
    pub fn registered() -> usize {
        let guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or(0, |r| r.values().filter(|w| w.strong_count() > 0).count())
    }

    /// The file descriptor (for tools that stat it).
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// A file's size, or a block device's (BLKGETSIZE64), as UML measures it.
pub(crate) fn file_size(file: &File, meta: &std::fs::Metadata) -> io::Result<u64> {
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_block_device() {
        return Ok(meta.len());
    }
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the valid pointer we pass.
    if unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

/// `_IOR(0x12, 114, size_t)`.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
