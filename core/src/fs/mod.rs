//! Files (ARCHITECTURE §5): the guest's filesystem namespace, open files
//! and fd tables. The namespace is a mount table: a jailed host directory
//! as `/`, the kernel's devfs on /dev and procfs on /proc, and tmpfs on
//! /tmp and /dev/shm.

pub mod dirent;
pub mod do_mounts;
pub mod epoll;
pub mod eventfd;
pub mod ext2;
pub mod ext2_mmap;
pub mod ext2_mount;
pub mod fdtable;
pub mod file;
pub mod hostfs;
pub mod mount;
mod namespace;
pub mod path;
pub mod perm;
pub mod pipe;
pub mod procfs;
pub mod sysfs;
pub mod timerfd;
pub mod tmpfs;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use ext2_mount::Ext2Mount;
use hostfs::HostFs;
use mount::{FsType, MountTable};
use path::{Lookup, Resolved};
use tmpfs::{Backing, BackingError};

use crate::errno::Errno;

/// The tmpfs mounts every VM boots with, and the names of their backing
/// directories.
const TMPFS_MOUNTS: [(&[u8], &str); 2] = [(b"/tmp", "tmp"), (b"/dev/shm", "dev-shm")];

/// The guest's filesystem namespace.
pub struct Vfs {
    /// The mount table: walks take the current one and keep it for the
    /// walk; mount(2) and umount2(2) put a changed copy in its place.
    mounts: RwLock<Arc<MountTable>>,
    /// Serialises changes of the mount table.
    changing: Mutex<()>,
    /// The root filesystem (the root mount's, which stays).
    root: Option<HostFs>,
    /// The VM's ubd disks (ubdN=, and mconsole's hot-plugged ones), shut
    /// down when the VM ends.
    disks: RwLock<Vec<Arc<crate::dev::ubd::Ubd>>>,
    /// The host directory behind the tmpfs mounts (None: no tmpfs).
    backing: Option<Backing>,
    /// UML's `hostfs=` switch: the host directory hostfs mounts are
    /// taken from, and may not leave (None: any host directory).
    hostfs_prefix: Option<PathBuf>,
    /// What /sys shows beyond its fixed directories.
    pub sysfs: sysfs::Registry,
}

impl Vfs {
    /// The namespace a VM boots with: the host directory `root` as `/`,
    /// devfs on /dev, procfs on /proc, and fresh, empty tmpfs on /tmp and
    /// /dev/shm (hiding whatever `root` has there, as a Linux mount does).
    pub fn new(root: HostFs) -> Result<Vfs, BackingError> {
        Self::boot(MountTable::new(root))
    }

    /// The namespace of a VM booted from a disk: the ext2 filesystem
    /// `root` as `/`, and the kernel's filesystems as for [`Vfs::new`].
    pub fn new_on_disk(root: Arc<Ext2Mount>) -> Result<Vfs, BackingError> {
        Self::boot(MountTable::new_ext2(root))
    }

    fn boot(mut mounts: MountTable) -> Result<Vfs, BackingError> {
        let backing = Backing::create()?;
        mounts.mount_synthetic(b"/dev", FsType::Devtmpfs);
        mounts.mount_synthetic(b"/proc", FsType::Proc);
        for (point, name) in TMPFS_MOUNTS {
            let dir = backing.mount_dir(name)?;
            let fs = HostFs::open(&dir).map_err(|e| BackingError { path: dir.clone(), errno: e.into() })?;
            mounts.mount_tmpfs(point, fs);
        }
        tracing::debug!("tmpfs backing directory: {}", backing.path().display());
        Ok(Vfs::make(mounts, Some(backing)))
    }

    /// A namespace made of `mounts` (and no tmpfs backing of its own).
    pub fn with_mounts(mounts: MountTable) -> Vfs {
        Vfs::make(mounts, None)
    }

    fn make(mounts: MountTable, backing: Option<Backing>) -> Vfs {
        Vfs {
            root: mounts.root().cloned(),
            disks: RwLock::new(Vec::new()),
            mounts: RwLock::new(Arc::new(mounts)),
            changing: Mutex::new(()),
            backing,
            hostfs_prefix: None,
            sysfs: sysfs::Registry::default(),
        }
    }

    /// Limits hostfs mounts to the host directory `prefix` (UML's
    /// `hostfs=` switch): their option paths are taken relative to it and
    /// may not leave it.
    pub fn set_hostfs_prefix(&mut self, prefix: PathBuf) {
        self.hostfs_prefix = Some(prefix);
    }

    /// Removes the host directory behind the tmpfs mounts now, with what
    /// the guest left there: umvm is ending without unwinding (SIGTERM).
    pub fn remove_tmpfs(&self) {
        if let Some(b) = &self.backing {
            b.remove();
        }
    }

    /// The root filesystem.
    pub fn root(&self) -> Option<&HostFs> {
        self.root.as_ref()
    }

    /// Gives the VM its ubd disks (`ubdN=`): each gets its /dev node
    /// (devfs asks [`Vfs::disk_units`]) and its /sys/block directory.
    pub fn attach_disks(&mut self, disks: Vec<Arc<crate::dev::ubd::Ubd>>) {
        for d in &disks {
            self.register_block(d);
        }
        *self.disks.get_mut().unwrap_or_else(|e| e.into_inner()) = disks;
    }

    fn register_block(&self, d: &crate::dev::ubd::Ubd) {
        let dev = do_mounts::ubd_dev(d.unit());
        self.sysfs.add_block(sysfs::BlockDevice {
            name: crate::dev::devfs::UBD_NAMES[usize::from(d.unit() % 16)].to_string(),
            sectors: d.size() / 512,
            major: libc::major(dev),
            minor: libc::minor(dev),
            read_only: d.read_only(),
        });
    }

    /// Plugs in a disk while the VM runs (mconsole `config ubdN=`):
    /// EBUSY when its unit has one already.
    pub fn plug_disk(&self, disk: Arc<crate::dev::ubd::Ubd>) -> Result<(), Errno> {
        let mut disks = self.disks.write().unwrap_or_else(|e| e.into_inner());
        if disks.iter().any(|d| d.unit() == disk.unit()) {
            return Err(Errno::EBUSY);
        }
        self.register_block(&disk);
        disks.push(disk);
        Ok(())
    }

    /// Unplugs disk `unit` while the VM runs (mconsole `remove ubdN`), as
    /// UML's ubd_remove: ENODEV when there is none, EBUSY while it is open
    /// (a filesystem on it mounted, even lazily unmounted with files still
    /// open, or its block device open). The disk is written back and shut
    /// down; what still holds it (an unmounted filesystem) gets EIO.
    pub fn unplug_disk(&self, unit: u8) -> Result<(), Errno> {
        let disk = {
            let mut disks = self.disks.write().unwrap_or_else(|e| e.into_inner());
            let at = disks.iter().position(|d| d.unit() == unit).ok_or(Errno::ENODEV)?;
            let mounted = self
                .mounts()
                .iter_all()
                .any(|m| m.disk.as_ref().is_some_and(|fs| fs.dev() == do_mounts::ubd_dev(unit) && !fs.is_unmounted()));
            if mounted || disks[at].is_open() {
                return Err(Errno::EBUSY);
            }
            disks.remove(at)
        };
        self.sysfs.remove_block(crate::dev::devfs::UBD_NAMES[usize::from(unit % 16)]);
        if let Err(e) = disk.shutdown() {
            tracing::warn!("ubd{unit}: {e}");
        }
        Ok(())
    }

    /// The units of the VM's disks.
    pub fn disk_units(&self) -> Vec<u8> {
        self.disks().iter().map(|d| d.unit()).collect()
    }

    /// The VM's disks, as they are now.
    pub fn disks(&self) -> Vec<Arc<crate::dev::ubd::Ubd>> {
        self.disks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The VM's disk `unit`, if it has one.
    pub fn disk(&self, unit: u8) -> Option<Arc<crate::dev::ubd::Ubd>> {
        self.disks.read().unwrap_or_else(|e| e.into_inner()).iter().find(|d| d.unit() == unit).cloned()
    }

    /// The mount table as it is now (a mount or umount after this call
    /// does not change it).
    pub fn mounts(&self) -> Arc<MountTable> {
        self.mounts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Looks up `path` relative to the canonical directory `base` (an
    /// absolute `path` from the canonical root directory `root`), across
    /// mounts (see [`path::resolve`]).
    pub fn resolve(&self, root: &[u8], base: &[u8], path: &[u8], follow: bool) -> Result<Resolved, Errno> {
        path::resolve(&self.mounts(), root, base, path, follow)
    }

    /// Looks up the absolute namespace path `full` for a process whose root
    /// is `root` (see [`path::resolve_from`]).
    pub fn resolve_from(&self, root: &[u8], full: Vec<u8>, follow: bool) -> Result<Resolved, Errno> {
        path::resolve_from(&self.mounts(), root, full, follow)
    }

    /// [`Vfs::resolve_from`], checking search permission for an
    /// unprivileged caller (see [`path::resolve_from_as`]).
    pub fn resolve_from_as(
        &self,
        root: &[u8],
        full: Vec<u8>,
        follow: bool,
        search: Option<&mut path::Search<'_>>,
    ) -> Result<Resolved, Errno> {
        path::resolve_from_as(&self.mounts(), root, full, follow, search)
    }

    /// Looks up `path` on a host-backed mount; a path that leads into
    /// devfs or procfs is EACCES (callers that serve those go through
    /// `Ctx::special`).
    pub fn lookup(&self, root: &[u8], base: &[u8], path: &[u8], follow: bool) -> Result<Lookup, Errno> {
        Self::host_only(self.resolve(root, base, path, follow)?)
    }

    /// [`Vfs::lookup`], checking search permission for an unprivileged
    /// caller (see [`path::resolve_as`]).
    pub fn lookup_as(
        &self,
        root: &[u8],
        base: &[u8],
        path: &[u8],
        follow: bool,
        search: Option<&mut path::Search<'_>>,
    ) -> Result<Lookup, Errno> {
        Self::host_only(path::resolve_as(&self.mounts(), root, base, path, follow, search)?)
    }

    /// Like [`Vfs::lookup`], for an absolute namespace path.
    pub fn lookup_from(&self, root: &[u8], full: Vec<u8>, follow: bool) -> Result<Lookup, Errno> {
        Self::host_only(self.resolve_from(root, full, follow)?)
    }

    fn host_only(r: Resolved) -> Result<Lookup, Errno> {
        match r {
            Resolved::Found(l) => Ok(l),
            Resolved::Synthetic(..) | Resolved::Ext2(_) => Err(Errno::EACCES),
        }
    }

    /// Unmounts everything at the machine's end (halt, power-off, restart
    /// or init's exit), once every guest process is dead: tmpfs contents
    /// are dropped. A filesystem on a disk must write back what it holds
    /// here. Later calls do nothing.
    pub fn shutdown(&self) {
        self.release();
    }

    /// Removes the host directories behind the tmpfs mounts, with all the
    /// guest left there. For when the VM ends; later calls do nothing.
    pub fn release(&self) {
        self.unmount_disks();
        if let Some(b) = &self.backing {
            b.remove();
        }
    }

    /// Unmounts every disk filesystem, the last mounted first: each is
    /// written back, marked clean and made durable; then the disks are
    /// shut down. Said on stderr when one fails, since the guest is gone.
    pub fn unmount_disks(&self) {
        let mounts = self.mounts();
        // Lazily unmounted ones too, whose files were still open.
        let disks: Vec<_> = mounts.iter_all().filter_map(|m| m.disk.clone().map(|d| (m.point.clone(), d))).collect();
        for (point, d) in disks.into_iter().rev() {
            if let Err(e) = d.unmount() {
                eprintln!("umvm: unmounting {}: {e}", String::from_utf8_lossy(&point));
            }
        }
        for d in &self.disks() {
            if let Err(e) = d.shutdown() {
                eprintln!("umvm: ubd{}: {e}", d.unit());
            }
        }
    }
}
