//! mount(2) and umount2(2) (Linux's fs/namespace.c): new tmpfs, proc,
//! sysfs, devtmpfs and hostfs mounts, ext2 filesystems on the VM's disks,
//! bind mounts of directories, remounts that change the per-mount flags
//! (read-only above all), and unmounts, refused while a process uses the
//! mount (unless lazy).
//!
//! A disk's filesystem is one [`Ext2Mount`] however many times it is
//! mounted (Linux's one superblock per block device): mounting a disk
//! already mounted shows the same filesystem again, EBUSY when it would
//! change whether it is read-only. When its last mount goes it is
//! unmounted (written back, marked clean, flushed), or after a lazy
//! unmount at the last close of a file still open on it.
//!
//! Also the read-only checks the write paths make: every change through a
//! read-only mount is EROFS.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use super::{Ctx, Special, AT_FDCWD};
use crate::dev::ubd::Ubd;
use crate::errno::{Errno, SysResult};
use crate::fs::do_mounts::{ubd_dev, COMMIT_INTERVAL};
use crate::fs::ext2_mount::Ext2Mount;
use crate::fs::fdtable::FdTable;
use crate::fs::file::FileKind;
use crate::fs::hostfs::{self, HostFs};
use crate::fs::mount::{FsType, MountOptions, MountRef, MountTable};
use crate::fs::path::{self, Lookup, Resolved};
use crate::fs::procfs::ProcNode;
use crate::fs::Vfs;
use crate::task::caps::CAP_SYS_ADMIN;
use crate::task::shared::Shared;
use crate::task::FsContext;

/// umount2's flags.
const MNT_FORCE: i32 = 1;
const MNT_DETACH: i32 = 2;
const MNT_EXPIRE: i32 = 4;
const UMOUNT_NOFOLLOW: i32 = 8;

/// The magic number old programs put in mount(2)'s flags' top half.
const MS_MGC_MSK: u64 = 0xffff_0000;
const MS_MGC_VAL: u64 = 0xc0ed_0000;
const PROPAGATION: u64 = libc::MS_SHARED | libc::MS_PRIVATE | libc::MS_SLAVE | libc::MS_UNBINDABLE;
/// The per-mount flags a mount keeps.
const PER_MOUNT: u64 =
    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME | libc::MS_NODIRATIME;

/// Linux's may_mount: CAP_SYS_ADMIN.
fn may_mount(ctx: &Ctx<'_>) -> Result<(), Errno> {
    if ctx.task.process.state().creds.capable(CAP_SYS_ADMIN) {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// The canonical namespace path `p` leads to (symlinks followed when
/// `follow`) and whether it is a directory; ENOENT when nothing is there.
fn target(ctx: &Ctx<'_>, p: &[u8], follow: bool) -> Result<(Vec<u8>, bool), Errno> {
    let root = ctx.root();
    let cwd = ctx.cwd();
    match ctx.k.vfs.resolve(&root, &cwd, p, follow)? {
        Resolved::Found(l) => {
            let st = if follow { l.existing()? } else { l.lstat()? };
            Ok((l.path, hostfs::file_type(&st) == libc::S_IFDIR))
        }
        Resolved::Ext2(l) => {
            let dir = l.existing()?.file_type() == crate::fs::ext2::FileType::Directory;
            Ok((l.path, dir))
        }
        Resolved::Synthetic(_, abs) => {
            let dir = match ctx.special(AT_FDCWD, p, follow)? {
                Special::Proc(ProcNode::Missing, _) | Special::Dev(crate::dev::devfs::DevPath::Missing) => {
                    return Err(Errno::ENOENT)
                }
                Special::Proc(ProcNode::Dir(_), _) | Special::Dev(crate::dev::devfs::DevPath::Dir) => true,
                Special::File(f) => f.is_dir(),
                Special::Host(l) => return Ok((l.path.clone(), hostfs::file_type(&l.existing()?) == libc::S_IFDIR)),
                _ => false,
            };
            Ok((path::normalize_in(&root, &abs), dir))
        }
    }
}

/// A string argument of mount(2) (source, type, data), None for NULL.
fn string(ctx: &Ctx<'_>, i: usize) -> Result<Option<Vec<u8>>, Errno> {
    if ctx.args[i] == 0 {
        return Ok(None);
    }
    // Linux copies at most a page of each.
    ctx.mem.read_cstr(ctx.args[i], 4095).map(Some)
}

/// `mount(source, target, type, flags, data)`.
pub fn mount(ctx: &mut Ctx<'_>) -> SysResult {
    let mut flags = ctx.args[3];
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    let target_path = ctx.path(1)?;
    let fstype = string(ctx, 2)?;
    let source = string(ctx, 0)?;
    let data = string(ctx, 4)?.unwrap_or_default();
    let (point, is_dir) = target(ctx, &target_path, true)?;
    may_mount(ctx)?;
    if flags & libc::MS_REMOUNT != 0 {
        return remount(ctx, &point, flags, &data);
    }
    if flags & libc::MS_BIND != 0 {
        let source = source.ok_or(Errno::EFAULT)?;
        return bind(ctx, &source, &point, is_dir);
    }
    if flags & PROPAGATION != 0 {
        // One propagation type at a time, with nothing but MS_REC: no
        // mount propagates here, so all there is to check is the target.
        let others = flags & !(PROPAGATION | libc::MS_REC | libc::MS_SILENT);
        if (flags & PROPAGATION).count_ones() != 1 || others != 0 || !ctx.k.vfs.mounts().is_mount_point(&point) {
            return Err(Errno::EINVAL);
        }
        return Ok(0);
    }
    if flags & libc::MS_MOVE != 0 {
        // Not yet: moving a mount (and the ones below it) elsewhere.
        return Err(Errno::EINVAL);
    }
    let fstype = fstype.ok_or(Errno::EINVAL)?;
    let fstype = FsType::from_name(&fstype).ok_or(Errno::ENODEV)?;
    if !is_dir {
        return Err(Errno::ENOTDIR);
    }
    if fstype == FsType::Ext2 {
        return mount_disk(ctx, source.as_deref(), &point, flags);
    }
    let mut opts = MountOptions {
        flags: flags & PER_MOUNT,
        source: source.filter(|s| !s.is_empty()).unwrap_or_else(|| b"none".to_vec()),
        ..MountOptions::default()
    };
    let vfs = &ctx.k.vfs;
    let (fs, dev) = match fstype {
        FsType::Tmpfs => {
            let t = TmpfsOptions::parse(&data, ctx.k.mem_bytes)?;
            let fs = vfs.new_tmpfs(t.mode)?;
            t.apply(&fs);
            opts.data = t.shown();
            (Some(fs), Some(vfs.mounts().anon_dev()))
        }
        FsType::HostFs => {
            let fs = vfs.hostfs_dir(&data)?;
            opts.data = String::from_utf8_lossy(&data).into_owned();
            (Some(fs), None)
        }
        FsType::Proc | FsType::Sysfs | FsType::Devtmpfs => (None, None),
        FsType::Ext2 => return Err(Errno::ENODEV),
    };
    let made = fs.clone();
    let r = vfs.change_mounts(|t| {
        // The device number is taken again in the table it goes in.
        let dev = dev.map(|_| t.anon_dev());
        t.mount_at(&point, fstype, fs, dev, opts)
    });
    if r.is_err() {
        vfs.release_unmounted(vec![made]);
    }
    r.map(|_| 0)
}

/// The ubd disk a mount source names (Linux's lookup_bdev): a devfs
/// node, or a block device node of the ubd major on a disk filesystem.
/// ENOTBLK for anything else, EACCES for a node on a nodev mount (hostfs
/// is), ENXIO for a number no disk has.
fn source_disk(ctx: &Ctx<'_>, source: &[u8]) -> Result<u8, Errno> {
    use crate::dev::devfs::DevPath;
    let unit = match ctx.special(AT_FDCWD, source, true)? {
        Special::Dev(DevPath::Block(unit)) => unit,
        Special::Dev(DevPath::Missing) | Special::Proc(ProcNode::Missing, _) => return Err(Errno::ENOENT),
        Special::Ext2(l) => {
            let inode = l.existing()?;
            if inode.file_type() != crate::fs::ext2::FileType::BlockDevice {
                return Err(Errno::ENOTBLK);
            }
            if ctx.k.vfs.mounts().get(l.mount.index).opts.flags & libc::MS_NODEV != 0 {
                return Err(Errno::EACCES);
            }
            super::ext2::disk_unit(inode).ok_or(Errno::ENXIO)?
        }
        Special::Host(l) => {
            return Err(if hostfs::file_type(&l.existing()?) == libc::S_IFBLK { Errno::EACCES } else { Errno::ENOTBLK })
        }
        Special::Dev(_) | Special::Proc(..) | Special::File(_) => return Err(Errno::ENOTBLK),
    };
    ctx.k.vfs.disk(unit).map(|_| unit).ok_or(Errno::ENXIO)
}

/// The filesystem of disk `unit` in `t` that is not unmounted yet, and
/// whether a mount still shows it (else it waits, lazily unmounted, for
/// its files to close).
fn disk_fs(t: &MountTable, unit: u8) -> Option<(Arc<Ext2Mount>, bool)> {
    let of_unit =
        |m: &&crate::fs::mount::Mount| m.disk.as_ref().is_some_and(|d| d.dev() == ubd_dev(unit) && !d.is_unmounted());
    if let Some(m) = t.iter().find(of_unit) {
        return m.disk.clone().map(|d| (d, true));
    }
    t.iter_all().find(of_unit).and_then(|m| m.disk.clone()).map(|d| (d, false))
}

/// Makes what was written to `disk` durable (fsync of its block device,
/// BLKFLSBUF): a commit through the filesystem mounted on it, if one is,
/// which commits between its operations, else of the disk itself.
pub fn sync_disk(ctx: &Ctx<'_>, disk: &Ubd) -> Result<(), Errno> {
    match disk_fs(&ctx.k.vfs.mounts(), disk.unit()) {
        Some((fs, _)) => fs.sync(),
        None => disk.flush().map_err(|e| e.errno()),
    }
}

/// Whether a filesystem on disk `unit` is mounted (or lazily unmounted
/// with files still open): an exclusive open of the disk is EBUSY.
pub fn disk_mounted(ctx: &Ctx<'_>, unit: u8) -> bool {
    disk_fs(&ctx.k.vfs.mounts(), unit).is_some()
}

/// The errno mount(2) gives for an image it cannot mount: EINVAL for
/// anything but a sound ext2 filesystem (Linux's ext2_fill_super), EROFS
/// when it may only be read and read-write was asked, the disk's errno
/// when reading it failed.
fn mount_errno(e: &crate::fs::ext2::Error) -> Errno {
    use crate::fs::ext2::Error as E;
    match e {
        E::Io { .. } => e.errno(),
        E::ReadOnlyFeatures(_) => Errno::EROFS,
        _ => Errno::EINVAL,
    }
}

/// Mounts the filesystem on the disk `source` names on `point` (mount -t
/// ext2 or ext3): the disk's filesystem already mounted, or a new mount
/// of it.
fn mount_disk(ctx: &Ctx<'_>, source: Option<&[u8]>, point: &[u8], flags: u64) -> SysResult {
    let source = source.filter(|s| !s.is_empty()).ok_or(Errno::EINVAL)?;
    let unit = source_disk(ctx, source)?;
    let disk = ctx.k.vfs.disk(unit).ok_or(Errno::ENXIO)?.clone();
    let read_only = flags & libc::MS_RDONLY != 0;
    if !read_only && disk.read_only() {
        // As UML's ubd_open for a write open; mount(8) retries read-only.
        return Err(Errno::EROFS);
    }
    ctx.k.vfs.change_mounts(|t| {
        if t.is_full() {
            return Err(Errno::ENOSPC);
        }
        let fs = match disk_fs(t, unit) {
            Some((fs, true)) if fs.read_only() == read_only => fs,
            // Another mount of it would change whether it is read-only
            // (Linux: "Can't mount, would change RO state"), or it is
            // still in use after a lazy unmount.
            Some(_) => return Err(Errno::EBUSY),
            None => {
                let fs = Arc::new(open_disk(&disk, unit, read_only, source)?);
                fs.start_commit_timer(COMMIT_INTERVAL).map_err(|_| Errno::EAGAIN)?;
                fs
            }
        };
        let ro = if fs.read_only() { libc::MS_RDONLY } else { 0 };
        let index = t.mount_ext2(point, fs);
        t.set_flags(index, (flags & PER_MOUNT & !libc::MS_RDONLY) | ro);
        t.set_source(index, source.to_vec());
        Ok(0)
    })
}

/// Mounts the ext2 filesystem on `disk` (unit `unit`), first read-only,
/// so that nothing is written to a disk that turns out not to hold a
/// whole filesystem; then read-write when asked.
fn open_disk(disk: &Arc<crate::dev::ubd::Ubd>, unit: u8, read_only: bool, source: &[u8]) -> Result<Ext2Mount, Errno> {
    let name = String::from_utf8_lossy(source).into_owned();
    let fail = |e: crate::fs::ext2::Error| {
        tracing::info!("mount {name} (ubd{unit}, {}): {e}", disk.path().display());
        mount_errno(&e)
    };
    let fs = Ext2Mount::new(Box::new(disk.clone()), disk.clone(), ubd_dev(unit), true, source).map_err(fail)?;
    // A filesystem larger than its disk would read past its end (Linux's
    // ext2_fill_super: "bad geometry").
    if fs.size_bytes() > disk.size() {
        let why = format!("the filesystem is {} bytes, the disk {} bytes", fs.size_bytes(), disk.size());
        return Err(fail(crate::fs::ext2::Error::Unsupported(why)));
    }
    fs.set_direct_source(disk.clone());
    if !read_only {
        fs.remount(false).inspect_err(|e| tracing::info!("mount {name} read-write: {e:?}"))?;
    }
    Ok(fs)
}

/// MS_REMOUNT: new per-mount flags for the mount whose root `point` is
/// (EINVAL for any other directory). Making it read-only is EBUSY while
/// a file on it is open for writing, as in Linux. tmpfs takes new
/// options too.
fn remount(ctx: &Ctx<'_>, point: &[u8], flags: u64, data: &[u8]) -> SysResult {
    let vfs = &ctx.k.vfs;
    let index = vfs.mounts().at_path(point).ok_or(Errno::EINVAL)?;
    let old = vfs.mounts().get(index).clone();
    let mut new = flags & PER_MOUNT;
    // Linux keeps the atime flags unless the remount gives some.
    if flags & (libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME | libc::MS_STRICTATIME) == 0 {
        new |= old.opts.flags & (libc::MS_NOATIME | libc::MS_NODIRATIME);
    }
    let data = match (old.fstype, flags & libc::MS_BIND != 0 || data.is_empty()) {
        (FsType::Tmpfs, false) => {
            let t = TmpfsOptions::parse(data, ctx.k.mem_bytes)?;
            if let Some(fs) = &old.fs {
                t.apply(fs);
            }
            Some(t.shown())
        }
        _ => None,
    };
    if new & libc::MS_RDONLY != 0 && !old.read_only() && writers(ctx, index) {
        return Err(Errno::EBUSY);
    }
    // A disk filesystem itself goes read-only (and is marked clean on the
    // disk) or back to read-write, unless only a bind of it changes.
    if let Some(d) = old.disk.as_ref().filter(|_| flags & libc::MS_BIND == 0) {
        d.remount(new & libc::MS_RDONLY != 0)?;
    }
    vfs.change_mounts(|t| {
        let index = t.at_path(point).ok_or(Errno::EINVAL)?;
        t.set_flags(index, new);
        if let Some(d) = data {
            t.set_data(index, d);
        }
        Ok(0)
    })
}

/// MS_BIND: the directory `source` also on `point`, with the flags of the
/// mount it is on. A kernel filesystem can be bound whole only. Submounts
/// are not taken along, even with MS_REC; binding a file is not done
/// (EINVAL).
fn bind(ctx: &Ctx<'_>, source: &[u8], point: &[u8], target_is_dir: bool) -> SysResult {
    let vfs = &ctx.k.vfs;
    let (root, cwd) = (ctx.root(), ctx.cwd());
    let table = vfs.mounts();
    let (fstype, fs, dev, opts) = match vfs.resolve(&root, &cwd, source, true)? {
        Resolved::Found(l) => {
            let st = l.existing()?;
            match (hostfs::file_type(&st) == libc::S_IFDIR, target_is_dir) {
                (true, true) => {}
                (false, false) => return Err(Errno::EINVAL),
                _ => return Err(Errno::ENOTDIR),
            }
            let src = table.get(l.mount.index);
            let within = src.fs.as_ref().ok_or(Errno::EINVAL)?;
            let dir = open_dir_at(&l)?;
            let rel = l.path.strip_prefix(src.point.as_slice()).unwrap_or(b"");
            let rel = if src.point == b"/" { &l.path[..] } else { rel };
            let mut opts = src.opts.clone();
            let mut broot = if opts.root.is_empty() { Vec::new() } else { opts.root.clone() };
            broot.extend_from_slice(if rel == b"/" { b"" } else { rel });
            opts.root = broot;
            if opts.source.is_empty() {
                opts.source = src.fstype.name().as_bytes().to_vec();
            }
            (src.fstype, Some(Vfs::bind_dir(dir, within, rel)), src.dev, opts)
        }
        // Binding a directory of a disk filesystem: not yet.
        Resolved::Ext2(_) => return Err(Errno::EINVAL),
        Resolved::Synthetic(_, abs) => {
            let abs = path::normalize_in(&root, &abs);
            let index = table.at_path(&abs).ok_or(Errno::EINVAL)?;
            if !target_is_dir {
                return Err(Errno::ENOTDIR);
            }
            let src = table.get(index);
            let mut opts = src.opts.clone();
            if opts.source.is_empty() {
                opts.source = src.fstype.name().as_bytes().to_vec();
            }
            (src.fstype, None, None, opts)
        }
    };
    drop(table);
    vfs.change_mounts(|t| t.mount_at(point, fstype, fs, dev, opts)).map(|_| 0)
}

/// An `O_PATH` fd of the directory a lookup found.
fn open_dir_at(l: &Lookup) -> Result<OwnedFd, Errno> {
    let name = hostfs::cstr(l.name.as_bytes());
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: the name is a C string and the dir fd is open.
    let fd = Errno::result(unsafe { libc::openat(l.dir.as_raw_fd(), name.as_ptr(), flags) })?;
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `umount2(target, flags)`.
pub fn umount2(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.int(1);
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0
        || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0)
    {
        return Err(Errno::EINVAL);
    }
    let p = ctx.path(0)?;
    let (point, _) = target(ctx, &p, flags & UMOUNT_NOFOLLOW == 0)?;
    may_mount(ctx)?;
    let vfs = &ctx.k.vfs;
    let index = vfs.mounts().at_path(&point).ok_or(Errno::EINVAL)?;
    if index == 0 {
        return Err(Errno::EBUSY);
    }
    if flags & MNT_EXPIRE != 0 {
        // Nothing is ever marked for expiry here: the first call marks.
        return Err(Errno::EAGAIN);
    }
    let gone = vfs.change_mounts(|t| {
        let index = t.at_path(&point).ok_or(Errno::EINVAL)?;
        if flags & MNT_DETACH == 0 && (!t.submounts(index).is_empty() || in_use(ctx, t, index)) {
            return Err(Errno::EBUSY);
        }
        let mut going = t.submounts(index);
        going.push(index);
        let disks: Vec<Arc<Ext2Mount>> = going.iter().filter_map(|&i| t.get(i).disk.clone()).collect();
        let gone = t.unmount(index)?;
        // A disk filesystem no mount shows any more goes too.
        for (i, d) in disks.iter().enumerate() {
            let first = !disks[..i].iter().any(|e| Arc::ptr_eq(d, e));
            if first && !t.iter().any(|m| m.disk.as_ref().is_some_and(|e| Arc::ptr_eq(d, e))) {
                if let Err(e) = d.release() {
                    tracing::warn!("unmounting {}: {e}", String::from_utf8_lossy(&d.source));
                }
            }
        }
        Ok(gone)
    })?;
    vfs.release_unmounted(gone);
    Ok(0)
}

/// What a process holds that can keep a mount busy: its program, its
/// cwd and root, its open files.
struct User {
    exe: Option<Vec<u8>>,
    dirs: Vec<Vec<u8>>,
    files: Vec<Arc<crate::fs::file::OpenFile>>,
}

/// Every process's, and the caller's own (a thread with an fs context or
/// fd table of its own shows only its process's main thread's).
fn users(ctx: &Ctx<'_>) -> Vec<User> {
    let procs: Vec<_> = ctx.k.procs().processes().cloned().collect();
    let mut out = Vec::new();
    let mut take = |fs: Option<Shared<FsContext>>, files: Option<Shared<FdTable>>, exe: Option<Vec<u8>>| {
        let dirs = fs.map(|fs| {
            let fs = fs.lock();
            vec![fs.cwd.clone(), fs.root.clone()]
        });
        let files = files
            .map(|f| {
                let f = f.lock();
                f.fds().into_iter().filter_map(|fd| f.get(fd).ok()).collect()
            })
            .unwrap_or_default();
        out.push(User { exe, dirs: dirs.unwrap_or_default(), files });
    };
    take(Some(ctx.task.fs.clone()), Some(ctx.task.files.clone()), None);
    for p in procs {
        let (fs, files, exe) = {
            let st = p.state();
            (st.fs.clone(), st.files.clone(), st.exe.clone())
        };
        take(fs, files, Some(exe));
    }
    out
}

/// Whether a process works in mount `index` of `t`: a cwd, root, program
/// or open file on it (Linux's "target is busy"). A file of a disk
/// filesystem is on the mount when the filesystem is mounted only there,
/// else when its path is under the mount point.
fn in_use(ctx: &Ctx<'_>, t: &MountTable, index: usize) -> bool {
    let m = t.get(index);
    let alone = m
        .disk
        .as_ref()
        .is_some_and(|d| t.iter().filter(|o| o.disk.as_ref().is_some_and(|e| Arc::ptr_eq(d, e))).count() == 1);
    users(ctx).into_iter().any(|u| {
        u.exe.is_some_and(|e| m.holds(&e))
            || u.dirs.iter().any(|p| m.holds(p))
            || u.files.iter().any(|f| match &f.kind {
                FileKind::Host { mount, .. } => mount.index == index,
                FileKind::Ext2(e) if m.disk.as_ref().is_some_and(|d| Arc::ptr_eq(d, &e.fs)) => {
                    alone || m.holds(&f.path)
                }
                _ => f.path.first() == Some(&b'/') && m.holds(&f.path),
            })
    })
}

/// Whether a file on mount `index` is open for writing.
fn writers(ctx: &Ctx<'_>, index: usize) -> bool {
    users(ctx).into_iter().any(|u| {
        u.files.iter().any(|f| {
            let on = match &f.kind {
                FileKind::Host { mount, .. } => mount.index == index,
                FileKind::Ext2(e) => ctx.k.vfs.mounts().get(index).disk.as_ref().is_some_and(|d| Arc::ptr_eq(d, &e.fs)),
                _ => false,
            };
            on && f.writable()
        })
    })
}

/// EROFS when `mount` is read-only: for any change through it.
pub fn writable(ctx: &Ctx<'_>, mount: &MountRef) -> Result<(), Errno> {
    if ctx.k.vfs.read_only(mount.index) {
        Err(Errno::EROFS)
    } else {
        Ok(())
    }
}

/// For a name a call would create at `l`: on a read-only mount, EEXIST
/// when it is taken (Linux answers that first: `mkdir -p` relies on it),
/// else EROFS.
pub fn creatable(ctx: &Ctx<'_>, l: &Lookup) -> Result<(), Errno> {
    match writable(ctx, &l.mount) {
        Err(e) if l.lstat().is_ok() => Err(if e == Errno::EROFS { Errno::EEXIST } else { e }),
        r => r,
    }
}

/// statfs's f_flags for the mount's flags (ST_RDONLY, ST_NOSUID...).
pub fn st_flags(flags: u64) -> i64 {
    let mut f = 0;
    for (ms, st) in [
        (libc::MS_RDONLY, libc::ST_RDONLY),
        (libc::MS_NOSUID, libc::ST_NOSUID),
        (libc::MS_NODEV, libc::ST_NODEV),
        (libc::MS_NOEXEC, libc::ST_NOEXEC),
        (libc::MS_NOATIME, libc::ST_NOATIME),
        (libc::MS_NODIRATIME, libc::ST_NODIRATIME),
    ] {
        if flags & ms != 0 {
            f |= st as i64;
        }
    }
    f
}

/// The magic number and mount flags statfs reports for the kernel-made
/// file at the namespace path `abs`.
pub fn synthetic_statfs(ctx: &Ctx<'_>, abs: &[u8]) -> (i64, i64) {
    let t = ctx.k.vfs.mounts();
    let m = t.get(t.covering(&path::split(&path::normalize(abs))));
    (m.fstype.magic().unwrap_or(crate::fs::mount::PROC_SUPER_MAGIC), st_flags(m.opts.flags))
}

/// What a kernel filesystem's classifier sees of `abs`, a path into a
/// mount of `fstype` elsewhere than its usual place (/dev, /proc, /sys):
/// the same path from that place. None when the mount is there.
pub fn relocated(t: &MountTable, fstype: FsType, abs: &[u8]) -> Option<Vec<u8>> {
    let usual: &[u8] = match fstype {
        FsType::Devtmpfs => b"/dev",
        FsType::Proc => b"/proc",
        FsType::Sysfs => b"/sys",
        FsType::HostFs | FsType::Tmpfs | FsType::Ext2 => return None,
    };
    // The mount is the one its components up to the first `..` are on.
    let comps: Vec<&[u8]> =
        abs.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").take_while(|c| *c != b"..").collect();
    let m = t.get(t.covering(&comps));
    if m.fstype != fstype || m.point == usual {
        return None;
    }
    let mut rest: Vec<&[u8]> = abs.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    rest.drain(..m.depth().min(rest.len()));
    let mut out = usual.to_vec();
    for c in rest {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    Some(out)
}

/// tmpfs's mount options (mm/shmem.c): what umvm keeps of them is the
/// root directory's mode and owner; the size and inode limits are shown
/// but not enforced (the host directory has the host's).
#[derive(Debug, Default, PartialEq, Eq)]
struct TmpfsOptions {
    /// size= in bytes (0: unlimited).
    size: u64,
    nr_inodes: Option<u64>,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// A number with an optional k/m/g/t/p/e suffix (memparse).
fn memparse(v: &str) -> Option<u64> {
    let (num, mult) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&v[..i], 1 << 20),
        (i, 'g' | 'G') => (&v[..i], 1 << 30),
        (i, 't' | 'T') => (&v[..i], 1 << 40),
        (i, 'p' | 'P') => (&v[..i], 1 << 50),
        (i, 'e' | 'E') => (&v[..i], 1 << 60),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

impl TmpfsOptions {
    /// Parses mount(2)'s data for tmpfs; EINVAL for an unknown option or a
    /// bad value. `mem` is the VM's memory (`size=50%`).
    fn parse(data: &[u8], mem: u64) -> Result<TmpfsOptions, Errno> {
        let mut t = TmpfsOptions { mode: 0o1777, ..TmpfsOptions::default() };
        let data = std::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
        for opt in data.split(',').filter(|o| !o.is_empty()) {
            let (key, val) = opt.split_once('=').unwrap_or((opt, ""));
            let bad = || Errno::EINVAL;
            match key {
                "size" => {
                    t.size = match val.strip_suffix('%') {
                        Some(pc) => pc.parse::<u64>().map_err(|_| bad())?.checked_mul(mem).ok_or_else(bad)? / 100,
                        None => memparse(val).ok_or_else(bad)?,
                    };
                    // Linux rounds up to whole pages.
                    t.size = t.size.div_ceil(4096).checked_mul(4096).ok_or_else(bad)?;
                }
                "nr_blocks" => t.size = memparse(val).and_then(|b| b.checked_mul(4096)).ok_or_else(bad)?,
                "nr_inodes" => t.nr_inodes = Some(memparse(val).ok_or_else(bad)?),
                "mode" => t.mode = u32::from_str_radix(val, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(bad)?,
                "uid" => t.uid = Some(val.parse().map_err(|_| bad())?),
                "gid" => t.gid = Some(val.parse().map_err(|_| bad())?),
                // Accepted, and meaningless for a host directory.
                "huge" | "mpol" | "inode32" | "inode64" | "noswap" => {}
                _ => return Err(bad()),
            }
        }
        Ok(t)
    }

    /// Gives the root directory of `fs` its mode and owner.
    fn apply(&self, fs: &HostFs) {
        let path = fs.host_path();
        let c = hostfs::cstr(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()));
        // SAFETY: `c` is a C string.
        unsafe { libc::chmod(c.as_ptr(), self.mode & 0o7777) };
        if self.uid.is_some() || self.gid.is_some() {
            let (uid, gid) = (self.uid.unwrap_or(u32::MAX), self.gid.unwrap_or(u32::MAX));
            // SAFETY: as above; -1 leaves an id as it is.
            if unsafe { libc::chown(c.as_ptr(), uid, gid) } != 0 {
                tracing::debug!("tmpfs uid/gid {uid}:{gid}: {:?}", Errno::last());
            }
        }
    }

    /// The options /proc/mounts shows (Linux's shmem_show_options).
    fn shown(&self) -> String {
        let mut v = Vec::new();
        if self.size != 0 {
            v.push(format!("size={}k", self.size >> 10));
        }
        if let Some(n) = self.nr_inodes {
            v.push(format!("nr_inodes={n}"));
        }
        if self.mode != 0o1777 {
            v.push(format!("mode={:03o}", self.mode));
        }
        if let Some(u) = self.uid.filter(|&u| u != 0) {
            v.push(format!("uid={u}"));
        }
        if let Some(g) = self.gid.filter(|&g| g != 0) {
            v.push(format!("gid={g}"));
        }
        v.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_parse_and_show_as_linux_does() {
        let t = TmpfsOptions::parse(b"size=1m,mode=755", 1 << 30).unwrap();
        assert_eq!((t.size, t.mode), (1 << 20, 0o755));
        assert_eq!(t.shown(), "size=1024k,mode=755");
        let t = TmpfsOptions::parse(b"size=50%,nr_inodes=1k,uid=5", 1 << 30).unwrap();
        assert_eq!(t.shown(), "size=524288k,nr_inodes=1024,uid=5");
        assert_eq!(TmpfsOptions::parse(b"size=1", 0).unwrap().shown(), "size=4k");
        assert_eq!(TmpfsOptions::parse(b"", 0).unwrap().shown(), "");
        for bad in [&b"bogus"[..], b"size=x", b"mode=9", b"mode=17777", b"uid=-1", b"size=99999999999e"] {
            assert_eq!(TmpfsOptions::parse(bad, 1 << 30), Err(Errno::EINVAL), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn statfs_flags_follow_the_mount_flags() {
        assert_eq!(st_flags(0), 0);
        assert_eq!(st_flags(libc::MS_RDONLY | libc::MS_NOEXEC), (libc::ST_RDONLY | libc::ST_NOEXEC) as i64);
    }
}
