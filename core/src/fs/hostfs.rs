//! hostfs: a host directory as a guest filesystem, jailed.
//!
//! Every host path operation starts from an `O_PATH` directory fd that
//! `openat2` reached with `RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`: `..` and absolute paths stop at the jail's root
//! and no host symlink is ever followed by the host (the VFS resolves
//! symlinks itself, in the guest's namespace). The final component is then
//! operated on with a `*at` call and `AT_SYMLINK_NOFOLLOW`/`O_NOFOLLOW`, so
//! a racing rename can make an operation fail but never escape.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::errno::Errno;

/// A host directory serving as a guest filesystem. Clones share the
/// directory fd (a mount table is copied when a mount changes).
#[derive(Clone)]
pub struct HostFs {
    root: Arc<OwnedFd>,
    host_path: PathBuf,
}

/// Turns bytes without NUL into a C string (guest paths never hold NUL:
/// they were read up to one).
pub fn cstr(b: &[u8]) -> CString {
    CString::new(b).unwrap_or_else(|_| CString::from(c"\u{fffd}"))
}

impl HostFs {
    /// Opens `dir` as the filesystem's root.
    pub fn open(dir: &Path) -> std::io::Result<HostFs> {
        let c = cstr(dir.as_os_str().as_bytes());
        // SAFETY: `c` is a valid C string; flags are constants.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: open returned a new fd that nothing else owns.
        let root = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(HostFs { root, host_path: dir.to_path_buf() })
    }

    /// The directory `dir` (an `O_PATH` fd some walk reached, jailed or
    /// not) as a filesystem's root; `host_path` is where it is on the host
    /// (for messages and for telling mounts of one directory apart).
    pub fn from_dir(dir: OwnedFd, host_path: PathBuf) -> HostFs {
        HostFs { root: Arc::new(dir), host_path }
    }

    /// Opens the directory at `rel` below the root, like
    /// [`HostFs::open_dir`], but refusing what would leave the root
    /// (`..` above it, an absolute symlink: EXDEV) instead of confining
    /// it; symlinks inside the root are followed.
    pub fn open_beneath(&self, rel: &[u8]) -> Result<OwnedFd, Errno> {
        let c = cstr(if rel.is_empty() { b"." } else { rel });
        // SAFETY: open_how is plain integers; all-zero is valid.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: `c` and `how` outlive the call; size is how's size.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.root.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        let fd = Errno::result(fd)?;
        // SAFETY: openat2 returned a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// The host directory this filesystem serves.
    pub fn host_path(&self) -> &Path {
        &self.host_path
    }

    /// Opens the directory at `rel` (components separated by `/`, relative
    /// to the root, possibly with `..`) as an `O_PATH` fd. Any symlink on
    /// the way is `ELOOP`: the caller walks such paths itself.
    pub fn open_dir(&self, rel: &[u8]) -> Result<OwnedFd, Errno> {
        let c = cstr(if rel.is_empty() { b"." } else { rel });
        // SAFETY: open_how is plain integers; all-zero is valid.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
        for _ in 0..16 {
            // SAFETY: `c` and `how` outlive the call; size is how's size.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.root.as_raw_fd(),
                    c.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if fd >= 0 {
                // SAFETY: openat2 returned a new fd that nothing else owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
            }
            let e = Errno::last();
            // RESOLVE_IN_ROOT answers EAGAIN when a rename raced the walk.
            if e != Errno::EAGAIN {
                return Err(e);
            }
        }
        Err(Errno::EAGAIN)
    }
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &CString) -> Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `name` is a C string and `st` a buffer of the right type.
    let r = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    Errno::result(r)?;
    // SAFETY: fstatat filled it.
    Ok(unsafe { st.assume_init() })
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is a buffer of the right type.
    Errno::result(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat filled it.
    Ok(unsafe { st.assume_init() })
}

/// `readlinkat(dir, name)`, the whole target.
pub fn readlink_at(dir: BorrowedFd<'_>, name: &CString) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let n = Errno::result(n)? as usize;
    if n >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf.truncate(n);
    Ok(buf)
}

/// The file type bits of a stat.
pub fn file_type(st: &libc::stat) -> u32 {
    st.st_mode & libc::S_IFMT
}

impl AsFd for HostFs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}
