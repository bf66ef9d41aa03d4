//! File-system syscalls: opening, naming, metadata, directories
//! (Linux's fs/open.c, fs/namei.c, fs/stat.c, fs/fcntl.c).
//!
//! Paths are resolved by the VFS in the guest's namespace; the host sees
//! only `*at` calls on a directory fd with a single final component and
//! no-follow flags (see fs/hostfs.rs for why that keeps the jail).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::dac;
use super::ext2;
use super::Ctx;
use super::{Node, Special};
use crate::dev::devfs::{self, DevPath};
use crate::errno::{Errno, SysResult};
use crate::fs::ext2::FileType;
use crate::fs::ext2_mount::Ext2File;
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::hostfs::{self, cstr};
use crate::fs::mount::{FsType, MountRef, TMPFS_MAGIC};
use crate::fs::path::{self, Lookup};
use crate::fs::perm::{self, Attr};
use crate::fs::pipe::Access;
use crate::fs::procfs::{self, ProcNode};
use crate::mm::mem::CHUNK;

const AT_FDCWD: i32 = libc::AT_FDCWD;

fn host(r: libc::c_int) -> Result<i64, Errno> {
    Errno::result(r).map(i64::from)
}

fn raw(name: &CString) -> *const libc::c_char {
    name.as_ptr()
}

// ---------------------------------------------------------------- open

/// Flags passed through to the host's open; the rest are the kernel's.
const HOST_OPEN_FLAGS: i32 = libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_DSYNC
    | libc::O_SYNC
    | libc::O_PATH
    | libc::O_NOATIME
    | libc::O_TMPFILE;

/// Opens a procfs path: a snapshot of a file, or a directory listing.
fn open_proc(ctx: &mut Ctx<'_>, node: ProcNode, abs: Vec<u8>, flags: i32) -> SysResult {
    let excl = libc::O_CREAT | libc::O_EXCL;
    let kind = match node {
        ProcNode::Missing if flags & libc::O_CREAT != 0 => return Err(Errno::EACCES),
        ProcNode::Missing => return Err(Errno::ENOENT),
        _ if flags & excl == excl => return Err(Errno::EEXIST),
        ProcNode::Link(_) | ProcNode::Fd(..) | ProcNode::Through(..) => return Err(Errno::ELOOP),
        // Write-only (UML's mode 0200, with no read operation).
        ProcNode::Notify(_) if flags & libc::O_ACCMODE != libc::O_WRONLY => return Err(Errno::EACCES),
        ProcNode::Notify(_) if flags & libc::O_DIRECTORY != 0 => return Err(Errno::ENOTDIR),
        ProcNode::Notify(socket) => FileKind::Notify(socket),
        _ if flags & libc::O_ACCMODE != libc::O_RDONLY => return Err(Errno::EACCES),
        ProcNode::Denied => return Err(Errno::EACCES),
        ProcNode::Dir(entries) => FileKind::SynthDir(entries, Default::default()),
        ProcNode::File(_) if flags & libc::O_DIRECTORY != 0 => return Err(Errno::ENOTDIR),
        ProcNode::File(data) => FileKind::Synthetic(data, Default::default()),
    };
    let guest_flags = flags & !(libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
    ctx.install(Arc::new(OpenFile::new(kind, abs, guest_flags)), flags & libc::O_CLOEXEC != 0)
}

/// Opens a devfs path.
pub(super) fn open_dev(ctx: &mut Ctx<'_>, dp: DevPath, flags: i32) -> SysResult {
    let excl = flags & (libc::O_CREAT | libc::O_EXCL) == (libc::O_CREAT | libc::O_EXCL);
    let (kind, path) = match dp {
        DevPath::Missing | DevPath::Through(..) if flags & libc::O_CREAT != 0 => return Err(Errno::EACCES),
        DevPath::Missing | DevPath::Through(..) => return Err(Errno::ENOENT),
        DevPath::Dir if flags & libc::O_ACCMODE != libc::O_RDONLY => return Err(Errno::EISDIR),
        DevPath::Dir => (FileKind::DevDir(Default::default()), b"/dev".to_vec()),
        // Reached only when the link is not followed (O_NOFOLLOW, O_EXCL).
        DevPath::Link(_) if excl => return Err(Errno::EEXIST),
        DevPath::Link(_) => return Err(Errno::ELOOP),
        DevPath::Node(_) | DevPath::Block(_) if flags & libc::O_DIRECTORY != 0 => return Err(Errno::ENOTDIR),
        DevPath::Node(_) | DevPath::Block(_) if excl => return Err(Errno::EEXIST),
        DevPath::Node(d) => (FileKind::Dev(d), format!("/dev/{}", d.name()).into_bytes()),
        DevPath::Block(unit) => {
            let st = devfs::block_stat(unit);
            if let Some(w) = dac::fs_who(ctx) {
                perm::may_open(&Attr::from(&st), &w, flags)?;
            }
            let path = format!("/dev/{}", devfs::UBD_NAMES[usize::from(unit % 16)]).into_bytes();
            return open_block(ctx, unit, st, path, flags);
        }
    };
    let guest_flags = flags & !(libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
    ctx.install(Arc::new(OpenFile::new(kind, path, guest_flags)), flags & libc::O_CLOEXEC != 0)
}

/// Opens ubd disk `unit` as a block device, through the node whose stat
/// is `node` at `path` (permission already checked): ENXIO for a disk the
/// VM does not have; with O_EXCL (and no O_CREAT), EBUSY while a
/// filesystem on it is mounted, as Linux's exclusive open.
pub(super) fn open_block(ctx: &mut Ctx<'_>, unit: u8, node: libc::stat, path: Vec<u8>, flags: i32) -> SysResult {
    let disk = ctx.k.vfs.disk(unit).ok_or(Errno::ENXIO)?.clone();
    if flags & (libc::O_EXCL | libc::O_CREAT) == libc::O_EXCL && super::mount::disk_mounted(ctx, unit) {
        return Err(Errno::EBUSY);
    }
    let write = flags & libc::O_PATH == 0 && flags & libc::O_ACCMODE != libc::O_RDONLY;
    let kind = FileKind::Block(crate::dev::blockdev::BlockFile::open(disk, write, node)?);
    let guest_flags = flags & !(libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
    ctx.install(Arc::new(OpenFile::new(kind, path, guest_flags)), flags & libc::O_CLOEXEC != 0)
}

/// Opens `path` relative to `dirfd`: the heart of open, openat and creat.
fn do_open(ctx: &mut Ctx<'_>, dirfd: i32, path: &[u8], flags: i32, mode: u32) -> SysResult {
    // O_CREAT|O_EXCL never follows a final symlink; O_NOFOLLOW refuses it.
    let follow =
        flags & libc::O_NOFOLLOW == 0 && flags & (libc::O_CREAT | libc::O_EXCL) != (libc::O_CREAT | libc::O_EXCL);
    let l = match ctx.special(dirfd, path, follow)? {
        Special::Dev(dp) => return open_dev(ctx, dp, flags),
        Special::Proc(node, abs) => return open_proc(ctx, node, abs, flags),
        Special::File(f) => return reopen(ctx, &f, flags),
        Special::Ext2(l) => return ext2::open(ctx, l, flags, mode),
        Special::Host(l) => l,
    };
    if l.stat.is_none() && follow && flags & libc::O_CREAT == 0 {
        return Err(Errno::ENOENT);
    }
    if l.must_be_dir && flags & libc::O_CREAT != 0 {
        return Err(Errno::EISDIR);
    }
    // A FIFO is a kernel pipe: the host's is never opened, but for an
    // O_PATH fd (tar, cp -a, find), which opens neither end and never waits.
    let who = dac::fs_who(ctx);
    let excl = flags & (libc::O_CREAT | libc::O_EXCL) == (libc::O_CREAT | libc::O_EXCL);
    let st = match l.stat {
        Some(st) => Some(st),
        None if flags & libc::O_CREAT == 0 || (who.is_some() && !excl) => hostfs::lstat_at(l.dir.as_fd(), &l.name).ok(),
        None => None,
    };
    // A read-only mount refuses a new name, and writing or truncating its
    // files, directories and symlinks (not FIFOs), before any permission.
    if flags & libc::O_PATH == 0 && ctx.k.vfs.read_only(l.mount.index) {
        let exists = st.or_else(|| l.lstat().ok());
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        match exists {
            None if flags & libc::O_CREAT != 0 => return Err(Errno::EROFS),
            Some(_) if excl => return Err(Errno::EEXIST),
            Some(st) if writes && matches!(hostfs::file_type(&st), libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK) => {
                return Err(Errno::EROFS)
            }
            _ => {}
        }
    }
    // Linux's may_open on an existing file; may_create for a new one.
    let mut creating = false;
    match st {
        Some(_) if excl => {}
        Some(st) => {
            if let Some(w) = &who {
                perm::may_open(&Attr::from(&st), w, flags)?;
            }
        }
        None if flags & libc::O_CREAT != 0 => {
            dac::may_create(who.as_ref(), &l)?;
            creating = true;
        }
        None => {}
    }
    if let Some(st) = st.filter(|st| hostfs::file_type(st) == libc::S_IFIFO && flags & libc::O_PATH == 0) {
        return open_fifo(ctx, (st.st_dev, st.st_ino), l.path, flags);
    }
    let mut hflags = (flags & HOST_OPEN_FLAGS) | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;
    if l.must_be_dir {
        hflags |= libc::O_DIRECTORY;
    }
    // Never block the tracer on a FIFO or device node: such files are
    // refused below anyway.
    hflags |= libc::O_NONBLOCK;
    let mode = mode & 0o7777 & !ctx.task.fs.lock().umask;
    // SAFETY: the name is a C string and the dir fd is open.
    let fd = unsafe { libc::openat(l.dir.as_raw_fd(), raw(&l.name), hflags, mode) };
    let fd = Errno::result(fd)?;
    // SAFETY: openat returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let st = hostfs::fstat(fd.as_fd())?;
    let ty = hostfs::file_type(&st);
    if creating {
        dac::own_new(ctx, &l, Some(fd.as_fd()), st.st_mode);
    }
    if flags & libc::O_PATH == 0 {
        match ty {
            libc::S_IFREG | libc::S_IFDIR => {}
            // hostfs is mounted nodev: host device nodes stay closed.
            libc::S_IFCHR | libc::S_IFBLK => return Err(Errno::EACCES),
            _ => return Err(Errno::ENXIO),
        }
    }
    let guest_flags = flags & !(libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
    let file = OpenFile::new(FileKind::Host { fd, dir: ty == libc::S_IFDIR, mount: l.mount }, l.path, guest_flags);
    ctx.install(Arc::new(file), flags & libc::O_CLOEXEC != 0)
}

/// Opens the file a /proc/PID/fd/N link leads to, as Linux does: a new
/// open file description of the same object, with the new open's flags.
/// A host file is reopened through umvm's own fd link to it (so it works
/// after a rename or an unlink, and the host checks the access asked
/// for); an anonymous pipe gets a new end (never waiting for the other
/// side, as Linux's fifo_open for pipes); a console stream is duplicated.
/// The kernel's anonymous files (epoll, eventfd, timerfd) cannot be
/// opened again (ENXIO).
fn reopen(ctx: &mut Ctx<'_>, f: &OpenFile, flags: i32) -> SysResult {
    if flags & (libc::O_CREAT | libc::O_EXCL) == (libc::O_CREAT | libc::O_EXCL) {
        return Err(Errno::EEXIST);
    }
    let not_dir = || if flags & libc::O_DIRECTORY != 0 { Err(Errno::ENOTDIR) } else { Ok(()) };
    let kind = match &f.kind {
        FileKind::Pipe(end) => {
            not_dir()?;
            let access = Access::from_flags(flags).ok_or(Errno::EINVAL)?;
            FileKind::Pipe(crate::fs::pipe::Pipe::attach(&end.pipe, access))
        }
        FileKind::Console(s) => {
            not_dir()?;
            FileKind::Console(crate::dev::console::ConsoleStream::dup(s.fd().as_raw_fd()).ok_or(Errno::EMFILE)?)
        }
        FileKind::Host { fd, mount, .. } => {
            let st = hostfs::fstat(fd.as_fd())?;
            match hostfs::file_type(&st) {
                libc::S_IFREG | libc::S_IFDIR => {}
                // An O_PATH fd of a FIFO: the kernel's pipe of that FIFO.
                libc::S_IFIFO => return open_fifo(ctx, (st.st_dev, st.st_ino), f.path.clone(), flags),
                // hostfs is mounted nodev: host device nodes stay closed.
                libc::S_IFCHR | libc::S_IFBLK => return Err(Errno::EACCES),
                libc::S_IFLNK => return Err(Errno::ELOOP),
                _ => return Err(Errno::ENXIO),
            }
            let hflags = (flags & HOST_OPEN_FLAGS & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW))
                | libc::O_CLOEXEC
                | libc::O_NOCTTY;
            let link = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|_| Errno::EINVAL)?;
            // SAFETY: `link` is a C string.
            let new = Errno::result(unsafe { libc::open(link.as_ptr(), hflags) })?;
            // SAFETY: open returned a new fd that nothing else owns.
            let new = unsafe { OwnedFd::from_raw_fd(new) };
            let dir = hostfs::file_type(&hostfs::fstat(new.as_fd())?) == libc::S_IFDIR;
            FileKind::Host { fd: new, dir, mount: *mount }
        }
        FileKind::Dev(d) => {
            not_dir()?;
            FileKind::Dev(*d)
        }
        FileKind::Block(b) => {
            not_dir()?;
            if let Some(w) = dac::fs_who(ctx) {
                perm::may_open(&Attr::from(&b.stat()), &w, flags)?;
            }
            return open_block(ctx, b.disk.unit(), b.stat(), f.path.clone(), flags);
        }
        FileKind::Ext2(e) => {
            let i = e.inode()?;
            match i.file_type() {
                FileType::Regular | FileType::Directory => {}
                FileType::Fifo => return open_fifo(ctx, (e.fs.dev(), u64::from(e.ino)), f.path.clone(), flags),
                FileType::Symlink => return Err(Errno::ELOOP),
                _ => return Err(Errno::ENXIO),
            }
            if let Some(w) = dac::fs_who(ctx) {
                perm::may_open(&Attr::from(&e.fs.stat(&i)), &w, flags)?;
            }
            if e.dir && flags & libc::O_ACCMODE != libc::O_RDONLY {
                return Err(Errno::EISDIR);
            }
            if !e.dir {
                not_dir()?;
            }
            FileKind::Ext2(Ext2File::new(e.fs.clone(), e.ino, e.dir, e.may_reserve))
        }
        FileKind::DevDir(_)
        | FileKind::Synthetic(..)
        | FileKind::SynthDir(..)
        | FileKind::Notify(_)
        | FileKind::Epoll(_)
        | FileKind::EventFd(_)
        | FileKind::TimerFd(_)
        | FileKind::Unix(_)
        | FileKind::Inet(_)
        | FileKind::Netlink(_) => return Err(Errno::ENXIO),
    };
    let guest_flags = flags & !(libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
    ctx.install(Arc::new(OpenFile::new(kind, f.path.clone(), guest_flags)), flags & libc::O_CLOEXEC != 0)
}

/// Opens a FIFO: a reader waits for a writer and a writer for a reader
/// (ENXIO for a non-blocking writer without one), as Linux's fifo_open;
/// an O_RDWR open is both and never waits.
pub(super) fn open_fifo(ctx: &mut Ctx<'_>, key: (u64, u64), path: Vec<u8>, flags: i32) -> SysResult {
    let access = Access::from_flags(flags).ok_or(Errno::EINVAL)?;
    let nonblock = flags & libc::O_NONBLOCK != 0;
    let file = match ctx.task.fifo_wait.take() {
        Some((k, f)) if k == key => f,
        _ => {
            let pipe = crate::fs::pipe::Pipe::fifo(ctx.k, key);
            if access == Access::Write && nonblock && pipe.lock().readers == 0 {
                return Err(Errno::ENXIO);
            }
            let end = crate::fs::pipe::Pipe::attach(&pipe, access);
            let guest_flags =
                flags & !(libc::O_CLOEXEC | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
            Arc::new(OpenFile::new(FileKind::Pipe(end), path, guest_flags))
        }
    };
    let FileKind::Pipe(end) = &file.kind else { unreachable!("made above as a pipe end") };
    let pipe = end.pipe.clone();
    // An O_RDWR end is its own other side.
    let other_side = {
        let p = pipe.lock();
        match access {
            Access::Read => p.writers,
            Access::Write => p.readers,
            Access::Both => 1,
        }
    };
    if other_side == 0 && !nonblock {
        let q = if access == Access::Write { pipe.writers_wait.clone() } else { pipe.readers_wait.clone() };
        ctx.task.fifo_wait = Some((key, file));
        return Err(ctx.block_on(&q));
    }
    ctx.install(file, flags & libc::O_CLOEXEC != 0)
}

/// `mknod(path, mode, dev)` and `mknodat`: FIFOs and regular files. hostfs
/// is nodev, so device nodes are refused.
fn do_mknod(ctx: &mut Ctx<'_>, dirfd: i32, path_arg: usize, mode: u32, dev: u64) -> SysResult {
    let ty = mode & libc::S_IFMT;
    let ty = if ty == 0 { libc::S_IFREG } else { ty };
    let l = match ctx.node_at(dirfd, &ctx.path(path_arg)?, false)? {
        Node::Ext2(l) => {
            // A disk holds device nodes; making one takes CAP_MKNOD.
            match ty {
                libc::S_IFIFO | libc::S_IFREG | libc::S_IFSOCK => {}
                libc::S_IFCHR | libc::S_IFBLK if ctx.task.process.state().creds.caps.effective & (1 << 27) != 0 => {}
                libc::S_IFCHR | libc::S_IFBLK => return Err(Errno::EPERM),
                _ => return Err(Errno::EINVAL),
            }
            return ext2::mknod(ctx, l, ty | (mode & 0o7777), dev);
        }
        Node::Host(l) => l,
    };
    match ty {
        libc::S_IFIFO | libc::S_IFREG => {}
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFSOCK => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    super::mount::creatable(ctx, &l)?;
    dac::may_create(dac::fs_who(ctx).as_ref(), &l)?;
    let perm = mode & 0o7777 & !ctx.task.fs.lock().umask;
    // SAFETY: the name is a C string and the dir fd is open.
    host(unsafe { libc::mknodat(l.dir.as_raw_fd(), raw(&l.name), ty | perm, 0) })?;
    dac::own_new(ctx, &l, None, ty | perm);
    Ok(0)
}

/// `mknod(path, mode, dev)`.
pub fn mknod(ctx: &mut Ctx<'_>) -> SysResult {
    do_mknod(ctx, AT_FDCWD, 0, ctx.args[1] as u32, ctx.args[2])
}

/// `mknodat(dirfd, path, mode, dev)`.
pub fn mknodat(ctx: &mut Ctx<'_>) -> SysResult {
    do_mknod(ctx, ctx.int(0), 1, ctx.args[2] as u32, ctx.args[3])
}

/// `open(path, flags, mode)`.
pub fn open(ctx: &mut Ctx<'_>) -> SysResult {
    let p = ctx.path(0)?;
    do_open(ctx, AT_FDCWD, &p, ctx.int(1), ctx.args[2] as u32)
}

/// `openat(dirfd, path, flags, mode)`.
pub fn openat(ctx: &mut Ctx<'_>) -> SysResult {
    let p = ctx.path(1)?;
    do_open(ctx, ctx.int(0), &p, ctx.int(2), ctx.args[3] as u32)
}

/// `creat(path, mode)` = open(path, O_CREAT|O_WRONLY|O_TRUNC, mode).
pub fn creat(ctx: &mut Ctx<'_>) -> SysResult {
    let p = ctx.path(0)?;
    do_open(ctx, AT_FDCWD, &p, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, ctx.args[1] as u32)
}

/// `close(fd)`.
pub fn close(ctx: &mut Ctx<'_>) -> SysResult {
    ctx.task.files.lock().remove(ctx.int(0)).map(|_| 0)
}

/// `dup(fd)`: the lowest free fd, close-on-exec clear.
pub fn dup(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    let limit = ctx.nofile();
    ctx.task.files.lock().insert(f, false, 0, limit).map(i64::from)
}

fn dup_to(ctx: &mut Ctx<'_>, old: i32, new: i32, cloexec: bool) -> SysResult {
    let f = ctx.task.files.lock().get(old)?;
    let limit = ctx.nofile();
    ctx.task.files.lock().insert_at(new, f, cloexec, limit)?;
    Ok(new as i64)
}

/// `dup2(old, new)`.
pub fn dup2(ctx: &mut Ctx<'_>) -> SysResult {
    let (old, new) = (ctx.int(0), ctx.int(1));
    if old == new {
        return ctx.task.files.lock().get(old).map(|_| new as i64);
    }
    dup_to(ctx, old, new, false)
}

/// `dup3(old, new, flags)`: only O_CLOEXEC; old == new is EINVAL.
pub fn dup3(ctx: &mut Ctx<'_>) -> SysResult {
    let (old, new, flags) = (ctx.int(0), ctx.int(1), ctx.int(2));
    if flags & !libc::O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    dup_to(ctx, old, new, flags & libc::O_CLOEXEC != 0)
}

/// `fcntl(fd, cmd, arg)`: descriptor and status flags, duplication.
/// Record locks arrive with Step 3 and are EINVAL until then.
pub fn fcntl(ctx: &mut Ctx<'_>) -> SysResult {
    let fd = ctx.int(0);
    let f = ctx.task.files.lock().get(fd)?;
    let arg = ctx.args[2];
    match ctx.int(1) {
        cmd @ (libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => {
            let limit = ctx.nofile();
            let min = i32::try_from(arg).map_err(|_| Errno::EINVAL)?;
            if min as u64 >= limit {
                return Err(Errno::EINVAL);
            }
            ctx.task.files.lock().insert(f, cmd == libc::F_DUPFD_CLOEXEC, min, limit).map(i64::from)
        }
        libc::F_GETFD => Ok(if ctx.task.files.lock().cloexec(fd)? { libc::FD_CLOEXEC as i64 } else { 0 }),
        libc::F_SETFD => ctx.task.files.lock().set_cloexec(fd, arg as i32 & libc::FD_CLOEXEC != 0).map(|_| 0),
        libc::F_GETFL => Ok(f.flags() as i64),
        libc::F_SETFL => {
            if let FileKind::Host { fd: hfd, .. } = &f.kind {
                // O_APPEND must reach the host fd, which does the appending.
                // SAFETY: plain fcntl on an fd we own.
                let cur = unsafe { libc::fcntl(hfd.as_raw_fd(), libc::F_GETFL) };
                let new = (cur & !libc::O_APPEND) | (arg as i32 & libc::O_APPEND);
                // SAFETY: as above.
                host(unsafe { libc::fcntl(hfd.as_raw_fd(), libc::F_SETFL, new) })?;
            }
            f.set_flags(arg as i32);
            Ok(0)
        }
        cmd @ (libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW) => super::lock::fcntl_lock(ctx, &f, cmd),
        cmd @ (libc::F_ADD_SEALS | libc::F_GET_SEALS) => {
            // Seals live on the host file (a memfd).
            let hfd = f.host_fd().ok_or(Errno::EINVAL)?;
            // SAFETY: plain fcntl on an fd umvm owns.
            host(unsafe { libc::fcntl(hfd.as_raw_fd(), cmd, arg as libc::c_int) })
        }
        libc::F_GETOWN | libc::F_SETOWN => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

// ---------------------------------------------------------------- fd ops

fn host_file(ctx: &Ctx<'_>, i: usize) -> Result<Arc<OpenFile>, Errno> {
    let f = ctx.file(i)?;
    match f.kind {
        FileKind::Host { .. } => Ok(f),
        _ => Err(Errno::EINVAL),
    }
}

/// `getdents64(fd, dirent, count)`.
pub fn getdents64(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    if !f.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let count = (ctx.args[2] as usize).min(CHUNK);
    if let FileKind::SynthDir(entries, pos) = &f.kind {
        let (buf, next) = procfs::dirents(entries, pos.load(Ordering::Relaxed), count);
        if buf.is_empty() && next < entries.len() {
            return Err(Errno::EINVAL);
        }
        ctx.mem.write(ctx.args[1], &buf)?;
        pos.store(next, Ordering::Relaxed);
        return Ok(buf.len() as i64);
    }
    if let FileKind::DevDir(pos) = &f.kind {
        let subdirs = ctx.k.vfs.mounts().children_of(b"/dev");
        let disks = ctx.k.vfs.disk_units();
        let (buf, next) = devfs::dirents(pos.load(Ordering::Relaxed), count, &subdirs, &disks);
        if buf.is_empty() && next < devfs::entry_count(&subdirs, &disks) {
            return Err(Errno::EINVAL);
        }
        ctx.mem.write(ctx.args[1], &buf)?;
        pos.store(next, Ordering::Relaxed);
        return Ok(buf.len() as i64);
    }
    if let FileKind::Ext2(e) = &f.kind {
        let buf = ext2::dirents(e, count)?;
        ctx.mem.write(ctx.args[1], &buf)?;
        return Ok(buf.len() as i64);
    }
    let mut buf = vec![0u8; count];
    // SAFETY: `buf` is writable for `count` bytes.
    let n = unsafe { libc::syscall(libc::SYS_getdents64, f.need_host_fd()?.as_raw_fd(), buf.as_mut_ptr(), count) };
    let n = Errno::result(n)? as usize;
    ctx.mem.write(ctx.args[1], &buf[..n])?;
    Ok(n as i64)
}

/// `fsync(fd)`.
pub fn fsync(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    match &f.kind {
        FileKind::Ext2(e) => return e.fs.sync().map(|()| 0),
        FileKind::Block(b) => return super::mount::sync_disk(ctx, &b.disk).map(|()| 0),
        _ => {}
    }
    // SAFETY: plain fsync on an open fd.
    host(unsafe { libc::fsync(f.need_host_fd()?.as_raw_fd()) })
}

/// `fdatasync(fd)`.
pub fn fdatasync(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    match &f.kind {
        FileKind::Ext2(e) => return e.fs.sync().map(|()| 0),
        FileKind::Block(b) => return super::mount::sync_disk(ctx, &b.disk).map(|()| 0),
        _ => {}
    }
    // SAFETY: plain fdatasync on an open fd.
    host(unsafe { libc::fdatasync(f.need_host_fd()?.as_raw_fd()) })
}

/// `sync()`: every disk filesystem written back and made durable, and
/// then every disk (what was written to its block device); host
/// directories are the host's to write back.
pub fn sync(ctx: &mut Ctx<'_>) -> SysResult {
    for m in ctx.k.vfs.mounts().iter() {
        if let Some(d) = &m.disk {
            // sync(2) cannot fail; a disk that does is logged by the mount.
            let _ = d.sync();
        }
    }
    // What was written to the disks' block devices: those with a
    // filesystem holding them were committed with it, just above.
    for d in ctx.k.vfs.disks().iter().filter(|d| !d.writeback_held()) {
        if let Err(e) = d.flush() {
            tracing::warn!("sync: {e}");
        }
    }
    Ok(0)
}

/// `syncfs(fd)`: [`sync`] of the filesystem `fd` is on (EBADF when none).
pub fn syncfs(ctx: &mut Ctx<'_>) -> SysResult {
    match &ctx.file(0)?.kind {
        FileKind::Ext2(e) => e.fs.sync().map(|()| 0),
        FileKind::Block(b) => super::mount::sync_disk(ctx, &b.disk).map(|()| 0),
        _ => Ok(0),
    }
}

/// `sync_file_range(fd, offset, nbytes, flags)`: with SYNC_FILE_RANGE_WRITE
/// the disk filesystem is written back (umvm writes back whole disks).
pub fn sync_file_range(ctx: &mut Ctx<'_>) -> SysResult {
    let (off, len, flags) = (ctx.args[1] as i64, ctx.args[2] as i64, ctx.args[3] as u32);
    if off < 0 || len < 0 || off.checked_add(len).is_none() || flags & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    match &ctx.file(0)?.kind {
        FileKind::Ext2(e) if flags & libc::SYNC_FILE_RANGE_WRITE != 0 => e.fs.sync().map(|()| 0),
        FileKind::Block(b) if flags & libc::SYNC_FILE_RANGE_WRITE != 0 => {
            super::mount::sync_disk(ctx, &b.disk).map(|()| 0)
        }
        FileKind::Host { .. } | FileKind::Ext2(_) | FileKind::Block(_) => Ok(0),
        _ => Err(Errno::ESPIPE),
    }
}

/// `ftruncate(fd, length)`: the file must be open for writing.
pub fn ftruncate(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    if !f.writable() || f.is_dir() {
        return Err(Errno::EINVAL);
    }
    fd_writable(ctx, &f)?;
    let len = ctx.args[1] as i64;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    if let FileKind::Ext2(e) = &f.kind {
        return ext2::truncate(&e.fs, e.ino, len);
    }
    let f = host_file(ctx, 0)?;
    // SAFETY: plain ftruncate on an open fd.
    host(unsafe { libc::ftruncate(f.need_host_fd()?.as_raw_fd(), len) })
}

/// EROFS for a change through an open file on a read-only mount.
fn fd_writable(ctx: &Ctx<'_>, f: &OpenFile) -> Result<(), Errno> {
    match &f.kind {
        FileKind::Host { mount, .. } => super::mount::writable(ctx, mount),
        _ => Ok(()),
    }
}

/// `fchmod(fd, mode)`.
pub fn fchmod(ctx: &mut Ctx<'_>) -> SysResult {
    if let FileKind::Ext2(e) = &ctx.file(0)?.kind {
        return ext2::chmod(ctx, &e.fs, &e.inode()?, ctx.args[1] as u32);
    }
    let f = host_file(ctx, 0)?;
    fd_writable(ctx, &f)?;
    let fd = f.need_host_fd()?;
    let mode = match dac::fs_who(ctx) {
        Some(w) => perm::chmod(&dac::fd_attr(fd)?, &w, ctx.args[1] as u32)?,
        None => ctx.args[1] as u32 & 0o7777,
    };
    // SAFETY: plain fchmod on an open fd.
    host(unsafe { libc::fchmod(fd.as_raw_fd(), mode) })
}

/// `fchown(fd, uid, gid)`.
pub fn fchown(ctx: &mut Ctx<'_>) -> SysResult {
    if let FileKind::Ext2(e) = &ctx.file(0)?.kind {
        return ext2::chown(ctx, &e.fs, &e.inode()?, ctx.args[1] as u32, ctx.args[2] as u32);
    }
    let f = host_file(ctx, 0)?;
    fd_writable(ctx, &f)?;
    let fd = f.need_host_fd()?;
    let (uid, gid) = (ctx.args[1] as u32, ctx.args[2] as u32);
    let mode = match dac::fs_who(ctx) {
        Some(w) => may_chown(&hostfs::fstat(fd)?, &w, uid, gid)?,
        None => None,
    };
    // SAFETY: plain fchown on an open fd.
    host(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    if let Some(mode) = mode {
        // SAFETY: plain fchmod on an open fd.
        unsafe { libc::fchmod(fd.as_raw_fd(), mode) };
    }
    Ok(0)
}

/// `fchdir(fd)`.
pub fn fchdir(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    if !f.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if let (Some(w), Some(fd)) = (dac::fs_who(ctx), f.host_fd()) {
        perm::permission(&dac::fd_attr(fd)?, &w, perm::MAY_EXEC)?;
    }
    if let (Some(w), FileKind::Ext2(_)) = (dac::fs_who(ctx), &f.kind) {
        perm::permission(&Attr::from(&f.stat()?), &w, perm::MAY_EXEC)?;
    }
    ctx.task.fs.lock().cwd = f.path.clone();
    Ok(0)
}

// ---------------------------------------------------------------- stat

fn stat_of(l: &Lookup, follow: bool) -> Result<libc::stat, Errno> {
    if follow {
        l.existing()
    } else {
        l.lstat()
    }
}

/// Resolves the object of a `*stat*at` call: `AT_EMPTY_PATH` with an empty
/// path means the fd itself (or the cwd).
enum Target {
    Fd(Arc<OpenFile>),
    Path(Lookup),
    Made(libc::stat),
}

fn stat_target(ctx: &Ctx<'_>, dirfd: i32, path_arg: usize, flags: i32) -> Result<Target, Errno> {
    let p = if ctx.args[path_arg] == 0 && flags & libc::AT_EMPTY_PATH != 0 { Vec::new() } else { ctx.path(path_arg)? };
    if p.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        if dirfd != AT_FDCWD {
            return Ok(Target::Fd(ctx.task.files.lock().get(dirfd)?));
        }
    }
    let (p, follow) = if p.is_empty() { (b".".to_vec(), true) } else { (p, flags & libc::AT_SYMLINK_NOFOLLOW == 0) };
    match ctx.special(dirfd, &p, follow)? {
        Special::Dev(dp) => Ok(Target::Made(dev_stat(ctx, dp)?)),
        Special::Proc(ProcNode::Missing, _) => Err(Errno::ENOENT),
        Special::Proc(node, _) => Ok(Target::Made(procfs::node_stat(&node))),
        Special::File(f) => Ok(Target::Fd(f)),
        Special::Host(l) => Ok(Target::Path(l)),
        Special::Ext2(l) => Ok(Target::Made(l.stat()?)),
    }
}

fn write_stat(ctx: &Ctx<'_>, addr: u64, st: &libc::stat) -> SysResult {
    ctx.mem.write_val(addr, st)?;
    Ok(0)
}

fn dev_stat(ctx: &Ctx<'_>, dp: DevPath) -> Result<libc::stat, Errno> {
    match dp {
        DevPath::Dir => Ok(devfs::dir_stat(ctx.k.vfs.mounts().children_of(b"/dev").len())),
        DevPath::Node(d) => Ok(d.stat()),
        DevPath::Block(unit) => Ok(devfs::block_stat(unit)),
        DevPath::Link(target) => Ok(devfs::link_stat(target)),
        DevPath::Missing | DevPath::Through(..) => Err(Errno::ENOENT),
    }
}

/// The stat of whatever `path` names, on any filesystem.
fn path_stat(ctx: &Ctx<'_>, dirfd: i32, p: &[u8], follow: bool) -> Result<libc::stat, Errno> {
    match ctx.special(dirfd, p, follow)? {
        Special::Dev(dp) => dev_stat(ctx, dp),
        Special::Proc(ProcNode::Missing, _) => Err(Errno::ENOENT),
        Special::Proc(node, _) => Ok(procfs::node_stat(&node)),
        Special::File(f) => file_stat(ctx, &f),
        Special::Host(l) => stat_of(&l, follow),
        Special::Ext2(l) => l.stat(),
    }
}

/// `stat(path, buf)`.
pub fn stat(ctx: &mut Ctx<'_>) -> SysResult {
    let st = path_stat(ctx, AT_FDCWD, &ctx.path(0)?, true)?;
    write_stat(ctx, ctx.args[1], &st)
}

/// `lstat(path, buf)`.
pub fn lstat(ctx: &mut Ctx<'_>) -> SysResult {
    let st = path_stat(ctx, AT_FDCWD, &ctx.path(0)?, false)?;
    write_stat(ctx, ctx.args[1], &st)
}

/// The stat of an open file (/dev's link count counts its mount points).
fn file_stat(ctx: &Ctx<'_>, f: &OpenFile) -> Result<libc::stat, Errno> {
    match f.kind {
        FileKind::DevDir(_) => dev_stat(ctx, DevPath::Dir),
        _ => f.stat(),
    }
}

/// `fstat(fd, buf)`.
pub fn fstat(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    write_stat(ctx, ctx.args[1], &file_stat(ctx, &f)?)
}

/// `newfstatat(dirfd, path, buf, flags)`.
pub fn newfstatat(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.int(3);
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let st = match stat_target(ctx, ctx.int(0), 1, flags)? {
        Target::Fd(f) => file_stat(ctx, &f)?,
        Target::Path(l) => stat_of(&l, flags & libc::AT_SYMLINK_NOFOLLOW == 0)?,
        Target::Made(st) => st,
    };
    write_stat(ctx, ctx.args[2], &st)
}

fn host_statx(dir: BorrowedFd<'_>, name: &CString, flags: i32, mask: u32) -> Result<libc::statx, Errno> {
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `name` is a C string and `stx` a buffer of the right type.
    let r = unsafe { libc::statx(dir.as_raw_fd(), name.as_ptr(), flags, mask, stx.as_mut_ptr()) };
    Errno::result(r)?;
    // SAFETY: statx filled it.
    Ok(unsafe { stx.assume_init() })
}

/// A statx made from a stat (for files umvm makes up: pipes, devices).
fn statx_of(st: &libc::stat) -> libc::statx {
    // SAFETY: statx is plain integers; all-zero is valid.
    let mut x: libc::statx = unsafe { std::mem::zeroed() };
    x.stx_mask = libc::STATX_BASIC_STATS;
    x.stx_blksize = st.st_blksize as u32;
    x.stx_nlink = st.st_nlink as u32;
    x.stx_uid = st.st_uid;
    x.stx_gid = st.st_gid;
    x.stx_mode = st.st_mode as u16;
    x.stx_ino = st.st_ino;
    x.stx_size = st.st_size as u64;
    x.stx_blocks = st.st_blocks as u64;
    x.stx_rdev_major = libc::major(st.st_rdev);
    x.stx_rdev_minor = libc::minor(st.st_rdev);
    x.stx_dev_major = libc::major(st.st_dev);
    x.stx_dev_minor = libc::minor(st.st_dev);
    x
}

/// `statx(dirfd, path, flags, mask, buf)`.
pub fn statx(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.int(2);
    let mask = ctx.args[3] as u32;
    let sync = flags & libc::AT_STATX_SYNC_TYPE;
    let stx = match stat_target(ctx, ctx.int(0), 1, flags)? {
        Target::Fd(f) if f.host_fd().is_none() => statx_of(&file_stat(ctx, &f)?),
        Target::Made(st) => statx_of(&st),
        Target::Fd(f) => {
            let mut x = host_statx(f.need_host_fd()?, &CString::default(), libc::AT_EMPTY_PATH | sync, mask)?;
            if let FileKind::Host { mount, .. } = &f.kind {
                mount.fix_statx(&mut x);
            }
            x
        }
        Target::Path(l) => {
            if flags & libc::AT_SYMLINK_NOFOLLOW == 0 {
                l.existing()?;
            }
            let mut x = host_statx(l.dir.as_fd(), &l.name, libc::AT_SYMLINK_NOFOLLOW | sync, mask)?;
            l.mount.fix_statx(&mut x);
            x
        }
    };
    ctx.mem.write_val(ctx.args[4], &stx)?;
    Ok(0)
}

// ---------------------------------------------------------------- statfs

/// Linux's SOCKFS_MAGIC.
const SOCKFS_MAGIC: i64 = 0x534F_434B;
/// Linux's PIPEFS_MAGIC.
const PIPEFS_MAGIC: i64 = 0x5049_5045;
/// Linux's ANON_INODE_FS_MAGIC (epoll, eventfd, timerfd).
const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;
/// ST_VALID: Linux sets it in every f_flags it reports.
pub(super) const ST_VALID: i64 = 0x0020;

/// Linux's `struct statfs` on x86-64 (the libc crate's hides f_flags).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(super) struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

// SAFETY: a repr(C) struct of integers without padding (120 bytes).
unsafe impl crate::mm::mem::Pod for Statfs {}

/// The statfs of a filesystem the kernel makes up: no blocks to count,
/// Linux's 4 KiB blocks and 255-byte names.
fn made_statfs(magic: i64) -> Statfs {
    Statfs { f_type: magic, f_bsize: 4096, f_frsize: 4096, f_namelen: 255, f_flags: ST_VALID, ..Default::default() }
}

/// The statfs of the procfs or sysfs mount the namespace path `abs` is on.
fn synthetic_statfs(ctx: &Ctx<'_>, abs: &[u8]) -> Statfs {
    let (magic, flags) = super::mount::synthetic_statfs(ctx, abs);
    let mut sf = made_statfs(magic);
    sf.f_flags |= flags;
    sf
}

/// The host's statfs of the object `fd` (on `mount`), as the guest sees
/// that mount: hostfs passes it through; a tmpfs reports the host's block
/// and inode counts (its pages are the host's) under tmpfs's magic number
/// and its mount flags.
fn host_statfs(ctx: &Ctx<'_>, fd: BorrowedFd<'_>, mount: Option<MountRef>) -> Result<Statfs, Errno> {
    let mut sf = Statfs::default();
    // SAFETY: `sf` has the layout of the kernel's struct statfs; the fd is
    // open.
    Errno::result(unsafe { libc::syscall(libc::SYS_fstatfs, fd.as_raw_fd(), &mut sf as *mut Statfs) })?;
    let mounts = ctx.k.vfs.mounts();
    if let Some(m) = mount.and_then(|m| mounts.try_get(m.index)) {
        if m.fstype == FsType::Tmpfs {
            sf.f_type = TMPFS_MAGIC;
        }
        sf.f_flags |= super::mount::st_flags(m.opts.flags);
    }
    Ok(sf)
}

/// `statfs(path, buf)`: statistics of the filesystem `path` (symlinks
/// followed) is on. Linux fills f_type with the filesystem's magic number
/// (TMPFS_MAGIC for tmpfs and devtmpfs, PROC_SUPER_MAGIC for procfs),
/// block counts in f_bsize units, inode counts, f_namelen, and f_flags
/// with the mount's ST_* flags (ST_VALID always). The hostfs root passes
/// the host's answer for its directory through; see [`host_statfs`] for
/// tmpfs.
pub fn statfs(ctx: &mut Ctx<'_>) -> SysResult {
    let p = ctx.path(0)?;
    let sf = match ctx.special(AT_FDCWD, &p, true)? {
        Special::Dev(DevPath::Missing) | Special::Proc(ProcNode::Missing, _) => return Err(Errno::ENOENT),
        Special::Dev(_) => made_statfs(TMPFS_MAGIC),
        Special::Proc(_, abs) => synthetic_statfs(ctx, &abs),
        Special::File(f) => file_statfs(ctx, &f)?,
        Special::Ext2(l) => {
            l.existing()?;
            ext2::statfs(&l.fs)?
        }
        Special::Host(l) => {
            l.existing()?;
            let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: the name is a C string and the dir fd is open.
            let fd = Errno::result(unsafe { libc::openat(l.dir.as_raw_fd(), raw(&l.name), flags) })?;
            // SAFETY: openat returned a new fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            host_statfs(ctx, fd.as_fd(), Some(l.mount))?
        }
    };
    ctx.mem.write_val(ctx.args[1], &sf)?;
    Ok(0)
}

/// `fstatfs(fd, buf)`: [`statfs`] of the filesystem an open file is on.
/// Pipes and the kernel's anonymous files (epoll, eventfd, timerfd) are
/// on pipefs and anon_inodefs, as in Linux.
pub fn fstatfs(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    let sf = file_statfs(ctx, &f)?;
    ctx.mem.write_val(ctx.args[1], &sf)?;
    Ok(0)
}

/// The statfs of the filesystem an open file is on.
fn file_statfs(ctx: &Ctx<'_>, f: &OpenFile) -> Result<Statfs, Errno> {
    Ok(match &f.kind {
        FileKind::Host { fd, mount, .. } => host_statfs(ctx, fd.as_fd(), Some(*mount))?,
        FileKind::Console(s) => host_statfs(ctx, s.fd(), None)?,
        // The node's filesystem: devtmpfs (a block device opened through
        // a node on a disk shows devtmpfs's too).
        FileKind::Dev(_) | FileKind::DevDir(_) | FileKind::Block(_) => made_statfs(TMPFS_MAGIC),
        FileKind::Synthetic(..) | FileKind::SynthDir(..) | FileKind::Notify(_) => synthetic_statfs(ctx, &f.path),
        FileKind::Pipe(_) => made_statfs(PIPEFS_MAGIC),
        FileKind::Unix(_) | FileKind::Inet(_) | FileKind::Netlink(_) => made_statfs(SOCKFS_MAGIC),
        FileKind::Ext2(e) => ext2::statfs(&e.fs)?,
        FileKind::Epoll(_) | FileKind::EventFd(_) | FileKind::TimerFd(_) => made_statfs(ANON_INODE_FS_MAGIC),
    })
}

// ---------------------------------------------------------------- names

fn do_readlink(ctx: &mut Ctx<'_>, dirfd: i32, path_arg: usize) -> SysResult {
    let (buf, size) = (ctx.args[path_arg + 1], ctx.args[path_arg + 2] as i32);
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = ctx.path(path_arg)?;
    let l = match ctx.special(dirfd, &p, false)? {
        Special::Host(l) => l,
        Special::Ext2(l) => {
            let i = l.existing()?;
            if i.file_type() != FileType::Symlink {
                return Err(Errno::EINVAL);
            }
            let target = l.fs.read_link(i.ino)?;
            let n = target.len().min(size as usize);
            ctx.mem.write(buf, &target[..n])?;
            return Ok(n as i64);
        }
        Special::Proc(ProcNode::Link(target) | ProcNode::Fd(target, _), _) => {
            // A namespace path, shown from the caller's root.
            let target = ctx.view(&target);
            let n = target.len().min(size as usize);
            ctx.mem.write(buf, &target[..n])?;
            return Ok(n as i64);
        }
        Special::Dev(DevPath::Link(target)) => {
            let n = target.len().min(size as usize);
            ctx.mem.write(buf, &target.as_bytes()[..n])?;
            return Ok(n as i64);
        }
        Special::Proc(ProcNode::Missing, _) | Special::Dev(DevPath::Missing) => return Err(Errno::ENOENT),
        _ => return Err(Errno::EINVAL),
    };
    let target =
        hostfs::readlink_at(l.dir.as_fd(), &l.name).map_err(|e| if e == Errno::ENOENT { e } else { Errno::EINVAL })?;
    let n = target.len().min(size as usize);
    ctx.mem.write(buf, &target[..n])?;
    Ok(n as i64)
}

/// `readlink(path, buf, size)`.
pub fn readlink(ctx: &mut Ctx<'_>) -> SysResult {
    do_readlink(ctx, AT_FDCWD, 0)
}

/// `readlinkat(dirfd, path, buf, size)`.
pub fn readlinkat(ctx: &mut Ctx<'_>) -> SysResult {
    do_readlink(ctx, ctx.int(0), 1)
}

fn do_access(ctx: &mut Ctx<'_>, dirfd: i32, path_arg: usize, mode: i32, flags: i32) -> SysResult {
    if mode & !(libc::R_OK | libc::W_OK | libc::X_OK) != 0
        || flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0
    {
        return Err(Errno::EINVAL);
    }
    let p = ctx.path(path_arg)?;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    // The real ids check, the walk included (AT_EACCESS: the effective ones).
    let who = dac::access_who(ctx, flags & libc::AT_EACCESS != 0);
    let l = match ctx.special_as(dirfd, &p, follow, who.as_ref())? {
        Special::Host(l) => l,
        Special::Ext2(l) => {
            let st = l.stat()?;
            if mode & libc::W_OK != 0 && l.fs.read_only() && hostfs::file_type(&st) != libc::S_IFLNK {
                return Err(Errno::EROFS);
            }
            let w = who.unwrap_or_else(|| perm::Who::root(0));
            return perm::permission(&Attr::from(&st), &w, perm::access_mask(mode)).map(|_| 0);
        }
        _ => {
            let st = path_stat(ctx, dirfd, &p, follow)?;
            return if mode & libc::X_OK != 0 && st.st_mode & 0o111 == 0 { Err(Errno::EACCES) } else { Ok(0) };
        }
    };
    if follow {
        l.existing()?;
    }
    // Linux's sb_permission: no writing files, directories or symlinks
    // of a read-only mount.
    if mode & libc::W_OK != 0 && ctx.k.vfs.read_only(l.mount.index) {
        let ty = hostfs::file_type(&stat_of(&l, follow)?);
        if matches!(ty, libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK) {
            return Err(Errno::EROFS);
        }
    }
    if let Some(w) = who {
        let st = stat_of(&l, follow)?;
        return perm::permission(&Attr::from(&st), &w, perm::access_mask(mode)).map(|_| 0);
    }
    let hflags = libc::AT_SYMLINK_NOFOLLOW | (flags & libc::AT_EACCESS);
    // SAFETY: the name is a C string and the dir fd is open.
    let r = unsafe { libc::syscall(libc::SYS_faccessat2, l.dir.as_raw_fd(), raw(&l.name), mode, hflags) };
    Errno::result(r).map(|_| 0)
}

/// `access(path, mode)`.
pub fn access(ctx: &mut Ctx<'_>) -> SysResult {
    do_access(ctx, AT_FDCWD, 0, ctx.int(1), 0)
}

/// `faccessat(dirfd, path, mode)`.
pub fn faccessat(ctx: &mut Ctx<'_>) -> SysResult {
    do_access(ctx, ctx.int(0), 1, ctx.int(2), 0)
}

/// `faccessat2(dirfd, path, mode, flags)`.
pub fn faccessat2(ctx: &mut Ctx<'_>) -> SysResult {
    do_access(ctx, ctx.int(0), 1, ctx.int(2), ctx.int(3))
}

/// `getcwd(buf, size)`: the cwd as seen from the caller's root; returns
/// the length including the NUL, ERANGE when `size` is too small. A cwd
/// outside the root (chroot(2) does not move the cwd) is shown as
/// "(unreachable)" and its path from the namespace's `/`, as Linux does.
pub fn getcwd(ctx: &mut Ctx<'_>) -> SysResult {
    let (root, cwd) = {
        let fs = ctx.task.fs.lock();
        (fs.root.clone(), fs.cwd.clone())
    };
    let mut cwd = path::under_root(&root, &cwd).unwrap_or_else(|| [&b"(unreachable)"[..], &cwd].concat());
    cwd.push(0);
    if (ctx.args[1] as usize) < cwd.len() {
        return Err(Errno::ERANGE);
    }
    ctx.mem.write(ctx.args[0], &cwd)?;
    Ok(cwd.len() as i64)
}

/// The directory `path` names, for chdir and chroot: its canonical
/// namespace path and its stat (ENOENT, ENOTDIR as the lookup finds).
pub(super) fn directory(ctx: &Ctx<'_>, path: &[u8]) -> Result<(Vec<u8>, libc::stat), Errno> {
    let l = match ctx.special(AT_FDCWD, path, true)? {
        Special::Dev(DevPath::Dir) => return Ok((b"/dev".to_vec(), devfs::dir_stat(0))),
        Special::Proc(node @ ProcNode::Dir(_), abs) => return Ok((abs, procfs::node_stat(&node))),
        Special::Dev(DevPath::Missing) | Special::Proc(ProcNode::Missing, _) => return Err(Errno::ENOENT),
        Special::File(f) if f.is_dir() => return Ok((f.path.clone(), f.stat()?)),
        Special::Dev(_) | Special::Proc(..) | Special::File(_) => return Err(Errno::ENOTDIR),
        Special::Ext2(l) => {
            let st = l.stat()?;
            if hostfs::file_type(&st) != libc::S_IFDIR {
                return Err(Errno::ENOTDIR);
            }
            return Ok((l.path, st));
        }
        Special::Host(l) => l,
    };
    let st = l.existing()?;
    if hostfs::file_type(&st) != libc::S_IFDIR {
        return Err(Errno::ENOTDIR);
    }
    Ok((l.path, st))
}

/// `chdir(path)`: search permission on the directory is needed too.
pub fn chdir(ctx: &mut Ctx<'_>) -> SysResult {
    let p = ctx.path(0)?;
    let (dir, st) = directory(ctx, &p)?;
    if let Some(w) = dac::fs_who(ctx) {
        perm::permission(&Attr::from(&st), &w, perm::MAY_EXEC)?;
    }
    ctx.task.fs.lock().cwd = dir;
    Ok(0)
}

fn do_mkdir(ctx: &mut Ctx<'_>, dirfd: i32, path_arg: usize, mode: u32) -> SysResult {
    let l = match ctx.node_at(dirfd, &ctx.path(path_arg)?, false)? {
        Node::Ext2(l) => return ext2::mkdir(ctx, l, mode),
        Node::Host(l) => l,
    };
    super::mount::creatable(ctx, &l)?;
    dac::may_create(dac::fs_who(ctx).as_ref(), &l)?;
    let mode = mode & 0o7777 & !ctx.task.fs.lock().umask;
    // SAFETY: the name is a C string and the dir fd is open.
    host(unsafe { libc::mkdirat(l.dir.as_raw_fd(), raw(&l.name), mode) })?;
    dac::own_new(ctx, &l, None, libc::S_IFDIR | mode);
    Ok(0)
}

/// `mkdir(path, mode)`.
pub fn mkdir(ctx: &mut Ctx<'_>) -> SysResult {
    do_mkdir(ctx, AT_FDCWD, 0, ctx.args[1] as u32)
}

/// `mkdirat(dirfd, path, mode)`.
pub fn mkdirat(ctx: &mut Ctx<'_>) -> SysResult {
    do_mkdir(ctx, ctx.int(0), 1, ctx.args[2] as u32)
}

fn do_unlink(ctx: &mut Ctx<'_>, dirfd: i32, path_arg: usize, flags: i32) -> SysResult {
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let l = match ctx.node_at(dirfd, &ctx.path(path_arg)?, false)? {
        Node::Ext2(l) => {
            if flags & libc::AT_REMOVEDIR == 0 && l.must_be_dir {
                let dir = l.existing()?.file_type() == FileType::Directory;
                return Err(if dir { Errno::EISDIR } else { Errno::ENOTDIR });
            }
            return ext2::unlink(ctx, l, flags & libc::AT_REMOVEDIR != 0);
        }
        Node::Host(l) => l,
    };
    // A mount point (or `/`) is busy; unlink refuses it as a directory.
    if ctx.k.vfs.mounts().is_mount_point(&l.path) {
        return Err(if flags & libc::AT_REMOVEDIR != 0 { Errno::EBUSY } else { Errno::EISDIR });
    }
    if flags & libc::AT_REMOVEDIR == 0 && l.must_be_dir {
        return Err(if hostfs::lstat_at(l.dir.as_fd(), &l.name)?.st_mode & libc::S_IFMT == libc::S_IFDIR {
            Errno::EISDIR
        } else {
            Errno::ENOTDIR
        });
    }
    super::mount::writable(ctx, &l.mount)?;
    dac::may_delete(dac::fs_who(ctx).as_ref(), &l)?;
    // SAFETY: the name is a C string and the dir fd is open.
    host(unsafe { libc::unlinkat(l.dir.as_raw_fd(), raw(&l.name), flags) })
}

/// `rmdir(path)`.
pub fn rmdir(ctx: &mut Ctx<'_>) -> SysResult {
    do_unlink(ctx, AT_FDCWD, 0, libc::AT_REMOVEDIR)
}

/// `unlink(path)`.
pub fn unlink(ctx: &mut Ctx<'_>) -> SysResult {
    do_unlink(ctx, AT_FDCWD, 0, 0)
}

/// `unlinkat(dirfd, path, flags)`.
pub fn unlinkat(ctx: &mut Ctx<'_>) -> SysResult {
    do_unlink(ctx, ctx.int(0), 1, ctx.int(2))
}

fn do_rename(ctx: &mut Ctx<'_>, olddir: i32, old_arg: usize, newdir: i32, new_arg: usize, flags: u32) -> SysResult {
    let (from, to) =
        match (ctx.node_at(olddir, &ctx.path(old_arg)?, false)?, ctx.node_at(newdir, &ctx.path(new_arg)?, false)?) {
            (Node::Ext2(from), Node::Ext2(to)) => return ext2::rename(ctx, from, to, flags),
            (Node::Host(from), Node::Host(to)) => (from, to),
            _ => return Err(Errno::EXDEV),
        };
    let mounts = ctx.k.vfs.mounts();
    if mounts.is_mount_point(&from.path) || mounts.is_mount_point(&to.path) {
        return Err(Errno::EBUSY);
    }
    // The host directories of two mounts may share a host filesystem,
    // where the host would rename across: the mounts decide.
    if from.mount.index != to.mount.index {
        return Err(Errno::EXDEV);
    }
    super::mount::writable(ctx, &from.mount)?;
    may_rename(ctx, &from, &to, flags)?;
    // SAFETY: names are C strings and both dir fds are open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            from.dir.as_raw_fd(),
            raw(&from.name),
            to.dir.as_raw_fd(),
            raw(&to.name),
            flags,
        )
    };
    Errno::result(r).map(|_| 0)
}

/// Linux's permission checks of a rename (vfs_rename): may_delete of the
/// source; may_delete of an existing target (or of both, for
/// RENAME_EXCHANGE) or may_create; and write permission on a directory
/// moved to another parent (its `..` changes). A taken name with
/// RENAME_NOREPLACE is EEXIST first.
fn may_rename(ctx: &Ctx<'_>, from: &Lookup, to: &Lookup, flags: u32) -> Result<(), Errno> {
    let Some(w) = dac::fs_who(ctx) else { return Ok(()) };
    let src = from.lstat()?;
    let target = to.lstat().ok();
    if target.is_some() && flags & libc::RENAME_NOREPLACE != 0 {
        return Err(Errno::EEXIST);
    }
    dac::may_delete(Some(&w), from)?;
    match target {
        Some(_) => dac::may_delete(Some(&w), to)?,
        None => perm::may_create(&to.parent_attr()?, &w)?,
    }
    // Canonical paths: the same parent has the same path.
    let parent = |p: &[u8]| p.iter().rposition(|&b| b == b'/').map(|i| p[..i].to_vec());
    let moved = parent(&from.path) != parent(&to.path);
    let dirs = [Some(src), target.filter(|_| flags & libc::RENAME_EXCHANGE != 0)];
    for d in dirs.into_iter().flatten().filter(|d| hostfs::file_type(d) == libc::S_IFDIR) {
        if moved {
            perm::permission(&Attr::from(&d), &w, perm::MAY_WRITE)?;
        }
    }
    Ok(())
}

/// `rename(old, new)`.
pub fn rename(ctx: &mut Ctx<'_>) -> SysResult {
    do_rename(ctx, AT_FDCWD, 0, AT_FDCWD, 1, 0)
}

/// `renameat(olddirfd, old, newdirfd, new)`.
pub fn renameat(ctx: &mut Ctx<'_>) -> SysResult {
    do_rename(ctx, ctx.int(0), 1, ctx.int(2), 3, 0)
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)`.
pub fn renameat2(ctx: &mut Ctx<'_>) -> SysResult {
    do_rename(ctx, ctx.int(0), 1, ctx.int(2), 3, ctx.args[4] as u32)
}

fn do_symlink(ctx: &mut Ctx<'_>, target_arg: usize, dirfd: i32, path_arg: usize) -> SysResult {
    let target = ctx.path(target_arg)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let l = match ctx.node_at(dirfd, &ctx.path(path_arg)?, false)? {
        Node::Ext2(l) => return ext2::symlink(ctx, &target, l),
        Node::Host(l) => l,
    };
    super::mount::creatable(ctx, &l)?;
    dac::may_create(dac::fs_who(ctx).as_ref(), &l)?;
    let t = cstr(&target);
    // SAFETY: both are C strings and the dir fd is open.
    host(unsafe { libc::symlinkat(t.as_ptr(), l.dir.as_raw_fd(), raw(&l.name)) })?;
    dac::own_new(ctx, &l, None, libc::S_IFLNK | 0o777);
    Ok(0)
}

/// `symlink(target, linkpath)`.
pub fn symlink(ctx: &mut Ctx<'_>) -> SysResult {
    do_symlink(ctx, 0, AT_FDCWD, 1)
}

/// `symlinkat(target, newdirfd, linkpath)`.
pub fn symlinkat(ctx: &mut Ctx<'_>) -> SysResult {
    do_symlink(ctx, 0, ctx.int(1), 2)
}

fn do_link(ctx: &mut Ctx<'_>, olddir: i32, old_arg: usize, newdir: i32, new_arg: usize, flags: i32) -> SysResult {
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
    let (from, to) =
        match (ctx.node_at(olddir, &ctx.path(old_arg)?, follow)?, ctx.node_at(newdir, &ctx.path(new_arg)?, false)?) {
            (Node::Ext2(from), Node::Ext2(to)) => return ext2::link(ctx, from, to),
            (Node::Host(from), Node::Host(to)) => (from, to),
            (Node::Ext2(from), Node::Host(to)) => {
                from.existing()?;
                return Err(if to.lstat().is_ok() { Errno::EEXIST } else { Errno::EXDEV });
            }
            (Node::Host(from), Node::Ext2(to)) => {
                from.lstat()?;
                return Err(if to.inode.is_some() { Errno::EEXIST } else { Errno::EXDEV });
            }
        };
    if follow {
        from.existing()?;
    }
    if from.mount.index != to.mount.index {
        // Linux finds the source and refuses an existing target first.
        from.lstat()?;
        if to.lstat().is_ok() {
            return Err(Errno::EEXIST);
        }
        return Err(Errno::EXDEV);
    }
    super::mount::creatable(ctx, &to)?;
    if let Some(w) = dac::fs_who(ctx) {
        from.lstat()?;
        dac::may_create(Some(&w), &to)?;
    }
    // SAFETY: names are C strings and both dir fds are open.
    host(unsafe { libc::linkat(from.dir.as_raw_fd(), raw(&from.name), to.dir.as_raw_fd(), raw(&to.name), 0) })
}

/// `link(old, new)`.
pub fn link(ctx: &mut Ctx<'_>) -> SysResult {
    do_link(ctx, AT_FDCWD, 0, AT_FDCWD, 1, 0)
}

/// `linkat(olddirfd, old, newdirfd, new, flags)`.
pub fn linkat(ctx: &mut Ctx<'_>) -> SysResult {
    do_link(ctx, ctx.int(0), 1, ctx.int(2), 3, ctx.int(4))
}

// ---------------------------------------------------------------- attributes

fn do_chmod(ctx: &mut Ctx<'_>, dirfd: i32, path_arg: usize, mode: u32, flags: i32) -> SysResult {
    if flags & !libc::AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    let l = match ctx.node_at(dirfd, &ctx.path(path_arg)?, follow)? {
        Node::Ext2(l) => {
            let i = l.existing()?;
            if i.file_type() == FileType::Symlink {
                return Err(Errno::EOPNOTSUPP);
            }
            return ext2::chmod(ctx, &l.fs, i, mode);
        }
        Node::Host(l) => l,
    };
    if follow {
        l.existing()?;
    }
    super::mount::writable(ctx, &l.mount)?;
    let mode = match dac::fs_who(ctx) {
        Some(w) => perm::chmod(&Attr::from(&stat_of(&l, follow)?), &w, mode)?,
        None => mode,
    };
    // fchmodat2 with AT_SYMLINK_NOFOLLOW (Linux 6.6): never follows a
    // symlink swapped in after the lookup.
    // SAFETY: the name is a C string and the dir fd is open.
    let r = unsafe { libc::syscall(452, l.dir.as_raw_fd(), raw(&l.name), mode & 0o7777, libc::AT_SYMLINK_NOFOLLOW) };
    Errno::result(r).map(|_| 0)
}

/// `chmod(path, mode)`.
pub fn chmod(ctx: &mut Ctx<'_>) -> SysResult {
    do_chmod(ctx, AT_FDCWD, 0, ctx.args[1] as u32, 0)
}

/// `fchmodat(dirfd, path, mode)`.
pub fn fchmodat(ctx: &mut Ctx<'_>) -> SysResult {
    do_chmod(ctx, ctx.int(0), 1, ctx.args[2] as u32, 0)
}

/// `fchmodat2(dirfd, path, mode, flags)`.
pub fn fchmodat2(ctx: &mut Ctx<'_>) -> SysResult {
    do_chmod(ctx, ctx.int(0), 1, ctx.args[2] as u32, ctx.int(3))
}

fn do_chown(ctx: &mut Ctx<'_>, dirfd: i32, path_arg: usize, uid: u32, gid: u32, flags: i32) -> SysResult {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    let l = match ctx.node_at(dirfd, &ctx.path(path_arg)?, follow)? {
        Node::Ext2(l) => return ext2::chown(ctx, &l.fs, l.existing()?, uid, gid),
        Node::Host(l) => l,
    };
    if follow {
        l.existing()?;
    }
    super::mount::writable(ctx, &l.mount)?;
    let check = match dac::fs_who(ctx) {
        Some(w) => Some((may_chown(&stat_of(&l, follow)?, &w, uid, gid)?, w)),
        None => None,
    };
    // SAFETY: the name is a C string and the dir fd is open.
    host(unsafe { libc::fchownat(l.dir.as_raw_fd(), raw(&l.name), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })?;
    if let Some((Some(mode), _)) = check {
        // SAFETY: as above; fchmodat2 never follows a symlink.
        unsafe { libc::syscall(452, l.dir.as_raw_fd(), raw(&l.name), mode, libc::AT_SYMLINK_NOFOLLOW) };
    }
    Ok(0)
}

/// setattr_prepare's chown checks for an unprivileged caller (EPERM);
/// returns the mode to set after the host's chown when Linux would leave
/// another one than the host (root) does: S_ISGID of a file that is not
/// group-executable, dropped when the caller is not in its group.
fn may_chown(st: &libc::stat, w: &perm::Who, uid: u32, gid: u32) -> Result<Option<u32>, Errno> {
    let a = Attr::from(st);
    let id = |v: u32| (v != u32::MAX).then_some(v);
    perm::chown(&a, w, id(uid), id(gid))?;
    let root = perm::Who::root(0);
    let (mine, host) = (perm::mode_after_chown(&a, w), perm::mode_after_chown(&a, &root));
    Ok((mine != host && hostfs::file_type(st) != libc::S_IFLNK).then_some(mine & 0o7777))
}

/// `chown(path, uid, gid)`.
pub fn chown(ctx: &mut Ctx<'_>) -> SysResult {
    do_chown(ctx, AT_FDCWD, 0, ctx.args[1] as u32, ctx.args[2] as u32, 0)
}

/// `lchown(path, uid, gid)`.
pub fn lchown(ctx: &mut Ctx<'_>) -> SysResult {
    do_chown(ctx, AT_FDCWD, 0, ctx.args[1] as u32, ctx.args[2] as u32, libc::AT_SYMLINK_NOFOLLOW)
}

/// `fchownat(dirfd, path, uid, gid, flags)`.
pub fn fchownat(ctx: &mut Ctx<'_>) -> SysResult {
    do_chown(ctx, ctx.int(0), 1, ctx.args[2] as u32, ctx.args[3] as u32, ctx.int(4))
}

/// What a utimensat `times` argument asks (fs/utimes.c); EINVAL for a
/// tv_nsec out of range that is neither UTIME_NOW nor UTIME_OMIT.
fn utimes_kind(times: Option<&[libc::timespec; 2]>) -> Result<perm::Times, Errno> {
    let Some(t) = times else { return Ok(perm::Times::Now) };
    let special = |ns: i64| ns == libc::UTIME_NOW || ns == libc::UTIME_OMIT;
    if t.iter().any(|t| !special(t.tv_nsec) && !(0..1_000_000_000).contains(&t.tv_nsec)) {
        return Err(Errno::EINVAL);
    }
    Ok(if t.iter().all(|t| t.tv_nsec == libc::UTIME_NOW) {
        perm::Times::Now
    } else if t.iter().any(|t| !special(t.tv_nsec)) {
        perm::Times::Explicit
    } else {
        perm::Times::Other
    })
}

/// `utimensat(dirfd, path, times, flags)`; a NULL path means the fd.
pub fn utimensat(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.int(3);
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times: Option<[libc::timespec; 2]> = if ctx.args[2] != 0 { Some(ctx.mem.read_val(ctx.args[2])?) } else { None };
    let tp = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
    let how = utimes_kind(times.as_ref())?;
    let who = dac::fs_who(ctx);
    if ctx.args[1] == 0 {
        let f = ctx.file(0)?;
        if let FileKind::Ext2(e) = &f.kind {
            return ext2::utimens(ctx, &e.fs, &e.inode()?, times, how);
        }
        fd_writable(ctx, &f)?;
        if let Some(w) = &who {
            perm::utimes(&dac::fd_attr(f.need_host_fd()?)?, w, how)?;
        }
        // SAFETY: `tp` is NULL or points at two timespecs we own.
        return host(unsafe { libc::futimens(f.need_host_fd()?.as_raw_fd(), tp) });
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    let l = match ctx.node_at(ctx.int(0), &ctx.path(1)?, follow)? {
        Node::Ext2(l) => return ext2::utimens(ctx, &l.fs, l.existing()?, times, how),
        Node::Host(l) => l,
    };
    if follow {
        l.existing()?;
    }
    super::mount::writable(ctx, &l.mount)?;
    if let Some(w) = &who {
        perm::utimes(&Attr::from(&stat_of(&l, follow)?), w, how)?;
    }
    // SAFETY: the name is a C string, the dir fd is open, `tp` as above.
    host(unsafe { libc::utimensat(l.dir.as_raw_fd(), raw(&l.name), tp, libc::AT_SYMLINK_NOFOLLOW) })
}

/// `truncate(path, length)`.
pub fn truncate(ctx: &mut Ctx<'_>) -> SysResult {
    let len = ctx.args[1] as i64;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let l = match ctx.node_at(AT_FDCWD, &ctx.path(0)?, true)? {
        Node::Ext2(l) => {
            let i = l.existing()?;
            match i.file_type() {
                FileType::Directory => return Err(Errno::EISDIR),
                FileType::Regular => {}
                _ => return Err(Errno::EINVAL),
            }
            if let Some(w) = dac::fs_who(ctx) {
                perm::permission(&Attr::from(&l.stat()?), &w, perm::MAY_WRITE)?;
            }
            return ext2::truncate(&l.fs, i.ino, len);
        }
        Node::Host(l) => l,
    };
    let st = l.existing()?;
    match hostfs::file_type(&st) {
        libc::S_IFDIR => return Err(Errno::EISDIR),
        libc::S_IFREG => {}
        _ => return Err(Errno::EINVAL),
    }
    super::mount::writable(ctx, &l.mount)?;
    if let Some(w) = dac::fs_who(ctx) {
        perm::permission(&Attr::from(&st), &w, perm::MAY_WRITE)?;
    }
    let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;
    // SAFETY: the name is a C string and the dir fd is open.
    let fd = Errno::result(unsafe { libc::openat(l.dir.as_raw_fd(), raw(&l.name), flags) })?;
    // SAFETY: openat returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if hostfs::file_type(&hostfs::fstat(fd.as_fd())?) != libc::S_IFREG {
        return Err(Errno::EINVAL);
    }
    // SAFETY: plain ftruncate on an fd we own.
    host(unsafe { libc::ftruncate(fd.as_raw_fd(), len) })
}

/// `umask(mask)`: returns the previous mask.
pub fn umask(ctx: &mut Ctx<'_>) -> SysResult {
    let mut fs = ctx.task.fs.lock();
    let old = fs.umask;
    fs.umask = ctx.args[0] as u32 & 0o777;
    Ok(old as i64)
}
