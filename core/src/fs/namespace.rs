//! Changing the namespace (Linux's fs/namespace.c, as far as mount(2)
//! and umount2(2) need it): new tmpfs and hostfs filesystems, and the
//! mount table replaced by a changed copy.
//!
//! Walks in progress keep the table they started with; the next walk
//! sees the change. Unmounted entries stay in the table (their indices
//! are what open files remember), unreachable.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::hostfs::{cstr, HostFs};
use super::mount::{FsType, MountTable};
use super::Vfs;
use crate::errno::Errno;

impl Vfs {
    /// Changes the mount table: `change` gets a copy, which replaces the
    /// table when it succeeds. Changes are serialised; walks never wait
    /// for one.
    pub fn change_mounts<R>(&self, change: impl FnOnce(&mut MountTable) -> Result<R, Errno>) -> Result<R, Errno> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let mut t = (*self.mounts()).clone();
        let r = change(&mut t)?;
        *self.mounts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
        Ok(r)
    }

    /// A new, empty tmpfs root directory with permission bits `mode`, in
    /// the VM's tmpfs backing directory (ENOSYS for a VM without one).
    pub fn new_tmpfs(&self, mode: u32) -> Result<HostFs, Errno> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let backing = self.backing.as_ref().ok_or(Errno::ENOSYS)?;
        let dir = backing.mount_dir(&format!("mnt-{}", SEQ.fetch_add(1, Ordering::Relaxed))).map_err(|e| e.errno)?;
        let opened = std::fs::set_permissions(&dir, PermissionsExt::from_mode(mode & 0o7777))
            .and_then(|()| HostFs::open(&dir))
            .map_err(Errno::from);
        if opened.is_err() {
            backing.remove_mount_dir(&dir);
        }
        opened
    }

    /// The host directory a hostfs mount with option path `opt` serves,
    /// as UML's hostfs finds it: under the `hostfs=` prefix when there is
    /// one (never leaving it: EPERM for a `..` or a symlink out of it),
    /// else the host path itself, from the host's `/` (UML lets a guest
    /// mount any host directory umvm may read; the `hostfs=` switch is
    /// what confines it).
    pub fn hostfs_dir(&self, opt: &[u8]) -> Result<HostFs, Errno> {
        let rel: &[u8] = {
            let start = opt.iter().position(|&b| b != b'/').unwrap_or(opt.len());
            &opt[start..]
        };
        match &self.hostfs_prefix {
            Some(prefix) => {
                let top = HostFs::open(prefix).map_err(Errno::from)?;
                let fd = top.open_beneath(rel).map_err(|e| match e {
                    Errno::EXDEV | Errno::ELOOP => Errno::EPERM,
                    e => e,
                })?;
                let host = if rel.is_empty() {
                    prefix.clone()
                } else {
                    prefix.join(Path::new(std::ffi::OsStr::from_bytes(rel)))
                };
                Ok(HostFs::from_dir(fd, host))
            }
            None => {
                let host = Path::new("/").join(Path::new(std::ffi::OsStr::from_bytes(rel)));
                let c = cstr(host.as_os_str().as_bytes());
                // SAFETY: `c` is a C string; flags are constants.
                let fd = Errno::result(unsafe {
                    libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
                })?;
                // SAFETY: open returned a new fd that nothing else owns.
                Ok(HostFs::from_dir(unsafe { OwnedFd::from_raw_fd(fd) }, host))
            }
        }
    }

    /// A directory of a host-backed filesystem as the root of a bind
    /// mount: `dir` is its `O_PATH` fd, `within` the filesystem it is on
    /// and `rel` its path there.
    pub fn bind_dir(dir: OwnedFd, within: &HostFs, rel: &[u8]) -> HostFs {
        let host =
            within.host_path().join(Path::new(std::ffi::OsStr::from_bytes(rel.strip_prefix(b"/").unwrap_or(rel))));
        HostFs::from_dir(dir, host)
    }

    /// Releases what unmounted filesystems held: the host directory of a
    /// tmpfs goes (with its files) once no mount serves it or a directory
    /// in it any more (a bind mount may still).
    pub fn release_unmounted(&self, gone: Vec<Option<HostFs>>) {
        let Some(backing) = &self.backing else { return };
        let live: Vec<PathBuf> =
            self.mounts().iter().filter_map(|m| m.fs.as_ref()).map(|fs| fs.host_path().to_path_buf()).collect();
        for fs in gone.into_iter().flatten() {
            // The tmpfs root the mount's directory is in (a bind mount's
            // may be deeper).
            let Ok(rel) = fs.host_path().strip_prefix(backing.path()) else { continue };
            let Some(first) = rel.components().next() else { continue };
            let dir = backing.path().join(first);
            drop(fs);
            if !live.iter().any(|p| p.starts_with(&dir)) {
                backing.remove_mount_dir(&dir);
            }
        }
    }

    /// Whether mount `index` of the current table is read-only.
    pub fn read_only(&self, index: usize) -> bool {
        self.mounts().is_read_only(index)
    }

    /// The kind of filesystem the canonical namespace path `abs` is on.
    pub fn fstype_at(&self, abs: &[u8]) -> FsType {
        let t = self.mounts();
        let norm = super::path::normalize(abs);
        t.get(t.covering(&super::path::split(&norm))).fstype
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::mount::MountOptions;

    #[test]
    fn an_unmounted_tmpfs_frees_its_directory_unless_a_bind_mount_still_serves_it() {
        let root = std::env::temp_dir().join(format!("umvm-ns-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let vfs = Vfs::new(HostFs::open(&root).unwrap()).unwrap();
        let mount = |point: &'static [u8], fs: HostFs| {
            vfs.change_mounts(|t| t.mount_at(point, FsType::Tmpfs, Some(fs), None, MountOptions::default())).unwrap()
        };
        let a = vfs.new_tmpfs(0o755).unwrap();
        let a_dir = a.host_path().to_path_buf();
        mount(b"/a", a);
        let b = vfs.new_tmpfs(0o1777).unwrap();
        let b_dir = b.host_path().to_path_buf();
        std::fs::create_dir(b_dir.join("sub")).unwrap();
        let i = mount(b"/b", b);
        let sub = HostFs::open(&b_dir.join("sub")).unwrap();
        let bound = mount(b"/c", Vfs::bind_dir(sub.open_dir(b"").unwrap(), &sub, b""));
        assert_eq!(vfs.mounts().at_path(b"/c"), Some(bound));
        // /b goes, but /c still shows a directory in it.
        let gone = vfs.change_mounts(|t| t.unmount(i)).unwrap();
        vfs.release_unmounted(gone);
        assert!(b_dir.join("sub").is_dir());
        assert_eq!(vfs.mounts().at_path(b"/b"), None);
        let gone = vfs.change_mounts(|t| t.unmount(bound)).unwrap();
        vfs.release_unmounted(gone);
        assert!(!b_dir.exists());
        let ia = vfs.mounts().at_path(b"/a").unwrap();
        let gone = vfs.change_mounts(|t| t.unmount(ia)).unwrap();
        vfs.release_unmounted(gone);
        assert!(!a_dir.exists());
        assert_eq!(vfs.change_mounts(|t| t.unmount(ia)).err(), Some(Errno::EINVAL));
        assert_eq!(vfs.change_mounts(|t| t.unmount(0)).err(), Some(Errno::EBUSY));
        let _ = std::fs::remove_dir_all(root);
    }
}
