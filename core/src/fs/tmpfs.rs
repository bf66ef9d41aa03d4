//! tmpfs: filesystems that live exactly as long as the VM (Linux's
//! mm/shmem.c, as /tmp and /dev/shm see it).
//!
//! Kept honest and simple: each tmpfs mount is a fresh private host
//! directory served by the jailed hostfs code, so open, read, write, mmap,
//! rename and the rest work unchanged, and file pages live only in the
//! host's page cache. One VM's directories sit in `umvm-tmpfs-PID-SEQ`
//! (mode 0700: other host users cannot look in) under the host's /dev/shm
//! when that is a tmpfs (the pages then never reach a disk), else under
//! the host's temp directory. Each mount's root starts empty with mode
//! 1777, like a real /tmp. The whole tree is removed when the VM ends.
//!
//! A SIGKILLed umvm cannot remove its tree, so each holds an exclusive
//! flock on a `.lock` file in it for its whole life (the host drops it
//! whatever way the process ends), and the next umvm to make a backing
//! directory removes every tree of the same user whose lock is free.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::mount::TMPFS_MAGIC;
use crate::errno::Errno;

/// How the backing directories of every VM start their names; the host
/// pid of the umvm that made them follows.
pub const DIR_PREFIX: &str = "umvm-tmpfs-";

/// A tmpfs backing directory could not be made.
#[derive(Debug, thiserror::Error)]
#[error("tmpfs backing directory {}: {errno}", .path.display())]
pub struct BackingError {
    /// The host directory umvm tried to make.
    pub path: PathBuf,
    /// Why it failed.
    pub errno: Errno,
}

/// The host directory holding one VM's tmpfs mounts; removed (with
/// everything the guest left in it) on [`Backing::remove`] or drop.
pub struct Backing {
    dir: PathBuf,
    removed: AtomicBool,
    /// Held (flock) while this process lives: see the module's doc.
    _lock: std::fs::File,
}

/// The lock file in a backing directory.
const LOCK_FILE: &str = ".lock";

/// Where backing directories go: the host's /dev/shm when it is a tmpfs
/// we may write to, else the host's temp directory.
pub fn host_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    // SAFETY: statfs is plain integers; all-zero is valid.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a C string literal and `sf` a valid buffer.
    let is_tmpfs = unsafe { libc::statfs(c"/dev/shm".as_ptr(), &mut sf) } == 0 && sf.f_type == TMPFS_MAGIC;
    // SAFETY: as above; access has no other preconditions.
    if is_tmpfs && unsafe { libc::access(c"/dev/shm".as_ptr(), libc::W_OK | libc::X_OK) } == 0 {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn fail(path: &Path) -> impl Fn(std::io::Error) -> BackingError + '_ {
    move |e| BackingError { path: path.to_path_buf(), errno: e.into() }
}

impl Backing {
    /// Makes a fresh, private backing directory for this process's next VM.
    pub fn create() -> Result<Backing, BackingError> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let base = host_base();
        let pid = std::process::id();
        loop {
            let dir = base.join(format!("{DIR_PREFIX}{pid}-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                // Left by an earlier process with this pid that was killed:
                // not ours to touch; take the next name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                r => r.map_err(fail(&dir))?,
            }
            // The umask may have taken bits umvm itself needs.
            std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o700)).map_err(fail(&dir))?;
            // Locked under another name, then renamed: a sweeping umvm never sees a free `.lock` here.
            let (lock_path, fresh) = (dir.join(LOCK_FILE), dir.join(".lock-new"));
            let lock = std::fs::File::create(&fresh).map_err(fail(&fresh))?;
            // SAFETY: flock on an fd this function owns.
            if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                return Err(fail(&fresh)(std::io::Error::last_os_error()));
            }
            std::fs::rename(&fresh, &lock_path).map_err(fail(&lock_path))?;
            let backing = Backing { dir, removed: AtomicBool::new(false), _lock: lock };
            sweep_stale(&base, &backing.dir);
            return Ok(backing);
        }
    }

    /// The backing directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Makes the empty root directory (mode 1777) of a mount named `name`.
    pub fn mount_dir(&self, name: &str) -> Result<PathBuf, BackingError> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir).map_err(fail(&dir))?;
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o1777)).map_err(fail(&dir))?;
        Ok(dir)
    }

    /// Removes the root directory of an unmounted tmpfs, `dir` (one that
    /// [`Backing::mount_dir`] made), with everything in it. Anything else
    /// is left alone.
    pub fn remove_mount_dir(&self, dir: &Path) {
        if dir.parent() != Some(self.dir.as_path()) || self.removed.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = remove_tree(dir) {
            tracing::warn!("cannot remove tmpfs directory {}: {e}", dir.display());
        }
    }

    /// Removes the backing directory and everything in it (once; later
    /// calls do nothing). Failures are logged: the VM is ending anyway.
    pub fn remove(&self) {
        if self.removed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = remove_tree(&self.dir) {
            tracing::warn!("cannot remove tmpfs directory {}: {e}", self.dir.display());
        }
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Removes the backing trees under `base` that killed umvm processes of
/// this user left: their lock is free, or (trees made before the lock
/// existed) the pid in their name is gone. Trees of other users, of live
/// processes and anything else are left alone.
fn sweep_stale(base: &Path, ours: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else { return };
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else { continue };
        if path == ours || !e.metadata().is_ok_and(|m| m.is_dir() && m.uid() == uid) {
            continue;
        }
        let stale = match std::fs::File::open(path.join(LOCK_FILE)) {
            Ok(f) => {
                // SAFETY: flock on a file this loop owns; its lock goes with it.
                let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX | libc::LOCK_NB) };
                r == 0
            }
            Err(_) => rest.split('-').next().and_then(|p| p.parse::<i32>().ok()).is_some_and(|pid| {
                // SAFETY: kill with signal 0 only checks for the process.
                pid > 0 && unsafe { libc::kill(pid, 0) } != 0 && Errno::last() == Errno::ESRCH
            }),
        };
        if stale {
            if let Err(err) = remove_tree(&path) {
                tracing::debug!("cannot remove stale tmpfs directory {}: {err}", path.display());
            }
        }
    }
}

/// Removes `path` recursively without following symlinks, first giving
/// each directory the owner's rwx (a guest may have left one with mode
/// 000, which the host would not let umvm list or empty).
fn remove_tree(path: &Path) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(path)?;
    if !md.is_dir() {
        return std::fs::remove_file(path);
    }
    if md.permissions().mode() & 0o700 != 0o700 {
        std::fs::set_permissions(path, PermissionsExt::from_mode(0o700))?;
    }
    for e in std::fs::read_dir(path)? {
        remove_tree(&e?.path())?;
    }
    std::fs::remove_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn backing_dirs_are_private_and_removed_with_their_contents() {
        let b = Backing::create().unwrap();
        let dir = b.path().to_path_buf();
        assert!(dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&format!("{DIR_PREFIX}{}-", std::process::id())));
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
        let root = b.mount_dir("0").unwrap();
        assert_eq!(std::fs::metadata(&root).unwrap().mode() & 0o7777, 0o1777);
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        // What a guest may leave: a locked directory, a symlink out.
        std::fs::create_dir_all(root.join("locked/inner")).unwrap();
        std::fs::write(root.join("locked/inner/f"), "x").unwrap();
        std::fs::set_permissions(root.join("locked"), PermissionsExt::from_mode(0o0)).unwrap();
        let outside = std::env::temp_dir().join(format!("umvm-tmpfs-keep-{}", std::process::id()));
        std::fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        drop(b);
        assert!(!dir.exists());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        std::fs::remove_file(outside).unwrap();
    }

    #[test]
    fn trees_of_killed_processes_are_swept_and_live_ones_kept() {
        let live = Backing::create().unwrap();
        // A tree whose owner died: its lock file is there but nobody holds it.
        let dead = host_base().join(format!("{DIR_PREFIX}{}-dead{}", std::process::id(), std::process::id()));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(LOCK_FILE), "").unwrap();
        std::fs::create_dir(dead.join("0")).unwrap();
        std::fs::write(dead.join("0/left"), "behind").unwrap();
        let next = Backing::create().unwrap();
        assert!(!dead.exists(), "a tree with a free lock was kept");
        assert!(live.path().exists() && next.path().exists(), "a live tree was swept");
    }
}
