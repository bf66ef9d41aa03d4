//! The file syscalls on an ext2 mount (Linux's fs/namei.c, fs/open.c,
//! fs/stat.c over fs/ext2): what the handlers in syscall/fs.rs do when a
//! path leads to a disk filesystem instead of a host directory.
//!
//! The checks are Linux's, made with the caller's virtual credentials
//! (fs/perm.rs); owners and modes are the guest's own, stored in the
//! image as they are. An unlinked file stays readable and writable
//! through the fds that hold it; the last close frees it
//! (fs/ext2_mount.rs).

use std::sync::Arc;

use super::dac;
use super::Ctx;
use crate::dev::devfs::{self, Dev, DevPath};
use crate::errno::{Errno, SysResult};
use crate::fs::ext2::{FileType, Inode};
use crate::fs::ext2_mount::{Ext2File, Ext2Mount, EXT2_SUPER_MAGIC};
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::path::Ext2Lookup;
use crate::fs::perm::{self, Attr, Times, Who};

/// The seconds since the epoch that ext2 stores.
fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32)
}

/// The owner, mode and group of an inode, for the permission checks.
fn attr(fs: &Ext2Mount, i: &Inode) -> Attr {
    Attr::from(&fs.stat(i))
}

/// Linux's may_create on an ext2 lookup: EEXIST when the name is taken,
/// else write and search permission on the directory (EROFS first on a
/// read-only mount).
fn may_create(who: Option<&Who>, l: &Ext2Lookup) -> Result<(), Errno> {
    if l.inode.is_some() {
        return Err(Errno::EEXIST);
    }
    if l.fs.read_only() {
        return Err(Errno::EROFS);
    }
    match who {
        Some(w) => perm::may_create(&l.parent_attr()?, w),
        None => Ok(()),
    }
}

/// Linux's may_delete: the name exists, the directory is writable and
/// searchable, and the sticky bit lets the caller remove it.
fn may_delete(who: Option<&Who>, l: &Ext2Lookup) -> Result<(), Errno> {
    let victim = l.existing()?;
    if l.fs.read_only() {
        return Err(Errno::EROFS);
    }
    match who {
        Some(w) => perm::may_delete(&l.parent_attr()?, &attr(&l.fs, victim), w),
        None => Ok(()),
    }
}

/// The owner, group and mode of a new inode (type in `mode`) made by the
/// caller in the directory of `l`.
fn new_owner(ctx: &Ctx<'_>, l: &Ext2Lookup, mode: u32) -> Result<(u32, u32, u32), Errno> {
    let st = ctx.task.process.state();
    let c = st.creds;
    let w = Who { uid: c.fsuid, gid: c.fsgid, groups: st.groups.clone(), caps: c.caps.effective };
    Ok(perm::new_inode(&l.parent_attr()?, &w, mode))
}

/// Whether the caller may allocate the blocks ext2 keeps for root.
fn may_reserve(ctx: &Ctx<'_>, fs: &Ext2Mount) -> bool {
    let st = ctx.task.process.state();
    let c = st.creds;
    fs.may_reserve(c.fsuid, std::iter::once(c.fsgid).chain(st.groups.iter().copied()), c.caps.effective)
}

/// The devfs device a device node's number names (a node made with mknod
/// on the disk opens the kernel's driver, as on Linux).
fn device(i: &Inode) -> Option<Dev> {
    let n = i.rdev();
    devfs::NODES.iter().map(|(_, d)| *d).find(|d| d.number() == n)
}

/// The ubd disk a block device node's number names: the whole disk's
/// minor (16 a disk); a partition's is not there.
pub(super) fn disk_unit(i: &Inode) -> Option<u8> {
    let (major, minor) = i.rdev();
    let per = crate::fs::do_mounts::UBD_MINORS;
    (major == crate::fs::do_mounts::UBD_MAJOR && minor % per == 0 && minor / per < 16).then_some((minor / per) as u8)
}

/// open(2) of `l`; `flags` as the guest gave them.
pub fn open(ctx: &mut Ctx<'_>, l: Ext2Lookup, flags: i32, mode: u32) -> SysResult {
    let creat = flags & libc::O_CREAT != 0;
    let excl = creat && flags & libc::O_EXCL != 0;
    if l.must_be_dir && creat {
        return Err(Errno::EISDIR);
    }
    let who = dac::fs_who(ctx);
    let inode = match l.inode.clone() {
        Some(_) if excl => return Err(Errno::EEXIST),
        Some(i) => {
            if let Some(w) = &who {
                perm::may_open(&attr(&l.fs, &i), w, flags)?;
            }
            i
        }
        None if !creat => return Err(Errno::ENOENT),
        None => {
            may_create(who.as_ref(), &l)?;
            let perm_bits = mode & 0o7777 & !ctx.task.fs.lock().umask;
            let (uid, gid, m) = new_owner(ctx, &l, libc::S_IFREG | perm_bits)?;
            l.fs.write_as(may_reserve(ctx, &l.fs), |fs| fs.create(l.dir, &l.name, (m & 0o7777) as u16, uid, gid))?
        }
    };
    let write = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
    let path_only = flags & libc::O_PATH != 0;
    let is_device = matches!(inode.file_type(), FileType::CharDevice | FileType::BlockDevice);
    if is_device && !path_only && ctx.k.vfs.mounts().get(l.mount.index).opts.flags & libc::MS_NODEV != 0 {
        return Err(Errno::EACCES);
    }
    match inode.file_type() {
        FileType::Symlink if !path_only => return Err(Errno::ELOOP),
        FileType::Directory if !path_only && write => return Err(Errno::EISDIR),
        FileType::Directory => {}
        _ if flags & libc::O_DIRECTORY != 0 => return Err(Errno::ENOTDIR),
        FileType::Fifo if !path_only => {
            return super::fs::open_fifo(ctx, (l.fs.dev(), u64::from(inode.ino)), l.path, flags);
        }
        FileType::CharDevice if !path_only => {
            let dev = device(&inode).ok_or(Errno::ENXIO)?;
            return super::fs::open_dev(ctx, DevPath::Node(dev), flags & !(libc::O_CREAT | libc::O_EXCL));
        }
        FileType::BlockDevice if !path_only => {
            // A read-only mount does not stop writes to a device on it.
            let unit = disk_unit(&inode).ok_or(Errno::ENXIO)?;
            let flags = flags & !libc::O_CREAT;
            return super::fs::open_block(ctx, unit, l.fs.stat(&inode), l.path, flags);
        }
        FileType::Socket | FileType::Unknown if !path_only => return Err(Errno::ENXIO),
        _ => {}
    }
    if write && !path_only && l.fs.read_only() {
        return Err(Errno::EROFS);
    }
    if flags & libc::O_TRUNC != 0 && !path_only && inode.file_type() == FileType::Regular && inode.size != 0 {
        l.fs.truncate(inode.ino, 0)?;
    }
    let dir = inode.file_type() == FileType::Directory;
    let guest_flags = flags & !(libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
    let reserve = may_reserve(ctx, &l.fs);
    let file = OpenFile::new(FileKind::Ext2(Ext2File::new(l.fs.clone(), inode.ino, dir, reserve)), l.path, guest_flags);
    ctx.install(Arc::new(file), flags & libc::O_CLOEXEC != 0)
}

/// The `linux_dirent64` type of an entry.
fn dirent_type(t: FileType) -> u8 {
    match t {
        FileType::Regular => libc::DT_REG,
        FileType::Directory => libc::DT_DIR,
        FileType::Symlink => libc::DT_LNK,
        FileType::CharDevice => libc::DT_CHR,
        FileType::BlockDevice => libc::DT_BLK,
        FileType::Fifo => libc::DT_FIFO,
        FileType::Socket => libc::DT_SOCK,
        FileType::Unknown => libc::DT_UNKNOWN,
    }
}

/// getdents64 on an open directory: records from its position, as many as
/// fit in `room` bytes (EINVAL when not even one does). d_off is the
/// byte position after each entry, where the next call resumes.
pub fn dirents(f: &Ext2File, room: usize) -> Result<Vec<u8>, Errno> {
    let mut pos = f.dir_pos();
    let entries = f.fs.read_dir_from(f.ino, *pos)?;
    let mut out = Vec::new();
    for (next, e) in &entries {
        let reclen = (19 + e.name.len() + 1).div_ceil(8) * 8;
        if out.len() + reclen > room {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        let start = out.len();
        out.extend_from_slice(&u64::from(e.ino).to_le_bytes());
        out.extend_from_slice(&(*next as i64).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        out.push(dirent_type(e.file_type));
        out.extend_from_slice(&e.name);
        out.resize(start + reclen, 0);
        *pos = *next;
    }
    if entries.is_empty() {
        // At the end: stay there, past whatever was read.
        *pos = (*pos).max(f.inode()?.size);
    }
    Ok(out)
}

/// mkdir(2).
pub fn mkdir(ctx: &mut Ctx<'_>, l: Ext2Lookup, mode: u32) -> SysResult {
    may_create(dac::fs_who(ctx).as_ref(), &l)?;
    let perm_bits = mode & 0o7777 & !ctx.task.fs.lock().umask;
    let (uid, gid, m) = new_owner(ctx, &l, libc::S_IFDIR | perm_bits)?;
    l.fs.write_as(may_reserve(ctx, &l.fs), |fs| fs.mkdir(l.dir, &l.name, (m & 0o7777) as u16, uid, gid))?;
    Ok(0)
}

/// mknod(2): regular files, FIFOs, sockets, and device nodes for a caller
/// with CAP_MKNOD (checked by the caller).
pub fn mknod(ctx: &mut Ctx<'_>, l: Ext2Lookup, mode: u32, dev: u64) -> SysResult {
    may_create(dac::fs_who(ctx).as_ref(), &l)?;
    let ty = mode & libc::S_IFMT;
    let perm_bits = mode & 0o7777 & !ctx.task.fs.lock().umask;
    let (uid, gid, m) = new_owner(ctx, &l, ty | perm_bits)?;
    if ty == libc::S_IFREG {
        l.fs.write_as(may_reserve(ctx, &l.fs), |fs| fs.create(l.dir, &l.name, (m & 0o7777) as u16, uid, gid))?;
    } else {
        l.fs.write_as(may_reserve(ctx, &l.fs), |fs| fs.mknod(l.dir, &l.name, m as u16, dev, uid, gid))?;
    }
    Ok(0)
}

/// symlink(2).
pub fn symlink(ctx: &mut Ctx<'_>, target: &[u8], l: Ext2Lookup) -> SysResult {
    may_create(dac::fs_who(ctx).as_ref(), &l)?;
    let (uid, gid, _) = new_owner(ctx, &l, libc::S_IFLNK | 0o777)?;
    l.fs.write_as(may_reserve(ctx, &l.fs), |fs| fs.symlink(l.dir, &l.name, target, uid, gid))?;
    Ok(0)
}

/// unlink(2), or rmdir(2) when `dir`.
pub fn unlink(ctx: &mut Ctx<'_>, l: Ext2Lookup, dir: bool) -> SysResult {
    if l.name == b"." {
        // The path named a directory by `.` or a mount point.
        return Err(if !dir {
            Errno::EISDIR
        } else if ctx.k.vfs.mounts().is_mount_point(&l.path) {
            Errno::EBUSY
        } else {
            Errno::EINVAL
        });
    }
    if l.name == b".." {
        return Err(if dir { Errno::ENOTEMPTY } else { Errno::EISDIR });
    }
    may_delete(dac::fs_who(ctx).as_ref(), &l)?;
    let victim = l.existing()?;
    let is_dir = victim.file_type() == FileType::Directory;
    if dir && !is_dir {
        return Err(Errno::ENOTDIR);
    }
    if !dir && is_dir {
        return Err(Errno::EISDIR);
    }
    if dir && ctx.k.vfs.mounts().is_mount_point(&l.path) {
        return Err(Errno::EBUSY);
    }
    let gone = l.fs.write(|fs| if dir { fs.rmdir(l.dir, &l.name) } else { fs.unlink(l.dir, &l.name) })?;
    if gone.links == 0 && !dir {
        l.fs.evict_if_unlinked(gone.ino)?;
    }
    Ok(0)
}

/// rename(2) and renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE).
pub fn rename(ctx: &mut Ctx<'_>, from: Ext2Lookup, to: Ext2Lookup, flags: u32) -> SysResult {
    if !Arc::ptr_eq(&from.fs, &to.fs) {
        return Err(Errno::EXDEV);
    }
    for l in [&from, &to] {
        if l.name == b"." || l.name == b".." {
            return Err(Errno::EBUSY);
        }
    }
    let src = from.existing()?.clone();
    if to.inode.is_some() && flags & libc::RENAME_NOREPLACE != 0 {
        return Err(Errno::EEXIST);
    }
    if to.inode.is_none() && flags & libc::RENAME_EXCHANGE != 0 {
        return Err(Errno::ENOENT);
    }
    let mounts = ctx.k.vfs.mounts();
    if mounts.is_mount_point(&from.path) || mounts.is_mount_point(&to.path) {
        return Err(Errno::EBUSY);
    }
    if from.fs.read_only() {
        return Err(Errno::EROFS);
    }
    if let Some(w) = dac::fs_who(ctx) {
        may_delete(Some(&w), &from)?;
        match &to.inode {
            Some(_) => may_delete(Some(&w), &to)?,
            None => perm::may_create(&to.parent_attr()?, &w)?,
        }
        // Moving a directory to another parent rewrites its `..`.
        if from.dir != to.dir {
            let exchanged = to.inode.as_ref().filter(|_| flags & libc::RENAME_EXCHANGE != 0);
            for d in std::iter::once(&src).chain(exchanged).filter(|i| i.file_type() == FileType::Directory) {
                perm::permission(&attr(&from.fs, d), &w, perm::MAY_WRITE)?;
            }
        }
    }
    let replaced =
        from.fs.write_as(may_reserve(ctx, &from.fs), |fs| fs.rename(from.dir, &from.name, to.dir, &to.name, flags))?;
    if let Some(r) = replaced.filter(|r| r.links == 0) {
        from.fs.evict_if_unlinked(r.ino)?;
    }
    Ok(0)
}

/// link(2): a new name `to` for the inode `from` names.
pub fn link(ctx: &mut Ctx<'_>, from: Ext2Lookup, to: Ext2Lookup) -> SysResult {
    if !Arc::ptr_eq(&from.fs, &to.fs) {
        return Err(Errno::EXDEV);
    }
    let src = from.existing()?.clone();
    if src.file_type() == FileType::Directory {
        return Err(Errno::EPERM);
    }
    let who = dac::fs_who(ctx);
    may_create(who.as_ref(), &to)?;
    if let Some(w) = &who {
        may_link(&attr(&from.fs, &src), w)?;
    }
    to.fs.write_as(may_reserve(ctx, &to.fs), |fs| fs.link(src.ino, to.dir, &to.name))?;
    Ok(0)
}

/// Linux's may_linkat with fs.protected_hardlinks (on by default): who
/// does not own the file may link only a regular file that is neither
/// set-user-ID nor executable set-group-ID, and that they may read and
/// write.
fn may_link(a: &Attr, w: &Who) -> Result<(), Errno> {
    if w.owns(a) {
        return Ok(());
    }
    let safe = a.mode & libc::S_IFMT == libc::S_IFREG
        && a.mode & libc::S_ISUID == 0
        && a.mode & (libc::S_ISGID | libc::S_IXGRP) != (libc::S_ISGID | libc::S_IXGRP);
    if safe && perm::permission(a, w, perm::MAY_READ | perm::MAY_WRITE).is_ok() {
        return Ok(());
    }
    Err(Errno::EPERM)
}

/// Changes inode `ino`'s attributes with `f` and stamps its ctime.
fn set_attr(fs: &Ext2Mount, ino: u32, f: impl FnOnce(&mut Inode)) -> SysResult {
    fs.write(|e| {
        let mut i = e.inode(ino)?;
        f(&mut i);
        i.ctime = now();
        e.write_inode(&i, false)
    })?;
    Ok(0)
}

/// chmod(2) and fchmod of inode `i`.
pub fn chmod(ctx: &Ctx<'_>, fs: &Ext2Mount, i: &Inode, mode: u32) -> SysResult {
    let mode = match dac::fs_who(ctx) {
        Some(w) => perm::chmod(&attr(fs, i), &w, mode)?,
        None => mode & 0o7777,
    };
    set_attr(fs, i.ino, |i| i.mode = (i.mode & libc::S_IFMT as u16) | mode as u16)
}

/// chown(2) and friends on inode `i` (u32::MAX: leave as is). Linux
/// clears the set-id bits of a non-directory whose owner changes.
pub fn chown(ctx: &Ctx<'_>, fs: &Ext2Mount, i: &Inode, uid: u32, gid: u32) -> SysResult {
    let a = attr(fs, i);
    let (u, g) = ((uid != u32::MAX).then_some(uid), (gid != u32::MAX).then_some(gid));
    let who = dac::fs_who(ctx);
    if let Some(w) = &who {
        perm::chown(&a, w, u, g)?;
    }
    let w = who.unwrap_or_else(|| Who::root(0));
    let mode = if i.file_type() != FileType::Directory && (u.is_some() || g.is_some()) {
        perm::mode_after_chown(&a, &w)
    } else {
        a.mode
    };
    set_attr(fs, i.ino, |i| {
        if let Some(u) = u {
            i.uid = u;
        }
        if let Some(g) = g {
            i.gid = g;
        }
        i.mode = (i.mode & libc::S_IFMT as u16) | (mode & 0o7777) as u16;
    })
}

/// utimensat(2) on inode `i`: `times` are (atime, mtime) with Linux's
/// UTIME_NOW and UTIME_OMIT; None sets both to now.
pub fn utimens(ctx: &Ctx<'_>, fs: &Ext2Mount, i: &Inode, times: Option<[libc::timespec; 2]>, kind: Times) -> SysResult {
    if let Some(w) = dac::fs_who(ctx) {
        perm::utimes(&attr(fs, i), &w, kind)?;
    }
    let t = now();
    let pick = |ts: &libc::timespec, old: u32| match ts.tv_nsec {
        libc::UTIME_OMIT => old,
        libc::UTIME_NOW => t,
        _ => ts.tv_sec as u32,
    };
    set_attr(fs, i.ino, |i| match times {
        Some([a, m]) => {
            i.atime = pick(&a, i.atime);
            i.mtime = pick(&m, i.mtime);
        }
        None => {
            i.atime = t;
            i.mtime = t;
        }
    })
}

/// truncate(2) and ftruncate of inode `ino` to `len`.
pub fn truncate(fs: &Ext2Mount, ino: u32, len: i64) -> SysResult {
    let len = u64::try_from(len).map_err(|_| Errno::EINVAL)?;
    fs.truncate(ino, len)?;
    Ok(0)
}

/// The statfs of an ext2 mount.
pub(super) fn statfs(fs: &Ext2Mount) -> Result<super::fs::Statfs, Errno> {
    let s = fs.read(|e| Ok(e.statfs()))?;
    let mut flags = super::fs::ST_VALID;
    if fs.read_only() {
        flags |= libc::ST_RDONLY as i64;
    }
    Ok(super::fs::Statfs {
        f_type: EXT2_SUPER_MAGIC,
        f_bsize: i64::from(s.block_size),
        f_blocks: s.blocks,
        f_bfree: s.free,
        f_bavail: s.avail,
        f_files: s.files,
        f_ffree: s.ffree,
        f_fsid: [fs.dev() as i32, (fs.dev() >> 32) as i32],
        f_namelen: i64::from(s.name_max),
        f_frsize: i64::from(s.block_size),
        f_flags: flags,
        ..Default::default()
    })
}
