//! The syscall table (ARCHITECTURE §3): one entry per syscall number,
//! one module per family.
//!
//! A handler gets a [`Ctx`] (the task, its six raw arguments, its memory)
//! and returns the value for `rax` or an errno. Some syscalls run on the
//! host as the guest made them (the allow-list of `trap::seccomp`); the
//! rest are emulated. Unknown numbers get ENOSYS, logged once by name.

pub mod clone;
pub mod creds;
pub mod dac;
pub mod epoll;
pub mod eventfd;
pub mod exec;
pub mod ext2;
pub mod fs;
pub mod inet;
pub mod io;
pub mod limits;
pub mod lock;
pub mod memfd;
pub mod misc;
pub mod mm;
pub mod mount;
pub mod names;
pub mod netdev_ioctl;
pub mod netlink;
pub mod pipe;
pub mod poll;
pub mod posix_timer;
pub mod proc;
pub mod reboot;
pub mod root;
pub mod signal;
pub mod socket;
pub mod splice;
pub mod strace;
pub mod time;
pub mod timerfd;
pub mod tty;
pub mod unix;
pub mod wait;
pub mod xattr;

use std::sync::Arc;
use std::time::Instant;

use crate::dev::devfs::{self, DevPath};
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::mount::FsType;
use crate::fs::path::{self, Ext2Lookup, Lookup, Resolved, Search, PATH_MAX};
use crate::fs::perm::Who;
use crate::fs::procfs;
use crate::kernel::Kernel;
use crate::mm::GuestMem;
use crate::sched::wait::{TaskRef, WaitQueue};
use crate::task::Task;
use crate::trap::inject::{inject, InjectError};
use crate::trap::{seccomp, syscall_args, Regs};
use names::nr;

/// A syscall handler.
pub type Handler = fn(&mut Ctx<'_>) -> SysResult;

/// How the kernel serves one syscall number.
#[derive(Clone, Copy)]
pub enum Entry {
    /// Emulated by this handler.
    Emulated(Handler),
    /// Run on the host when the allow-list accepts the arguments;
    /// otherwise emulated by the handler (or ENOSYS without one).
    Native(Option<Handler>),
    /// Not implemented: ENOSYS, logged once.
    Unknown,
}

/// `AT_FDCWD` as the guest passes it (a 32-bit int in a 64-bit register).
const AT_FDCWD: i32 = libc::AT_FDCWD;

/// Everything a handler works with.
pub struct Ctx<'a> {
    /// The VM's kernel.
    pub k: &'a Kernel,
    /// The calling task.
    pub task: &'a mut Task,
    /// The task's registers at the syscall (base for injections).
    pub regs: &'a Regs,
    /// The six raw arguments.
    pub args: [u64; 6],
    /// The task's memory.
    pub mem: GuestMem,
    /// Set when an injection found the process gone or faulting.
    pub died: Option<InjectError>,
    /// The calling task, as wake-ups address it.
    pub me: TaskRef,
    /// When a waiting syscall gives up (kept across its re-runs).
    pub deadline: Option<Instant>,
    /// How much of its work a waiting syscall has done (a long pipe write:
    /// bytes written), kept across its re-runs.
    pub progress: usize,
    /// After execve: the registers the new program starts with.
    pub new_regs: Option<Regs>,
    /// Tasks created by this syscall (clone), for the loop to adopt.
    pub new_tasks: &'a mut Vec<NewTask>,
    blocked: bool,
    /// Set by [`Ctx::run_on_host`]: the handler checked and recorded what
    /// it must, and the host now runs the call as the guest made it.
    on_host: bool,
}

/// A task created by clone, with the registers it starts with.
pub struct NewTask {
    /// The task.
    pub task: Task,
    /// Its registers at its first instruction.
    pub regs: Regs,
    /// CLONE_CHILD_SETTID: where the host wrote the child's host tid, and
    /// the virtual tid to write there instead at its first stop.
    pub ctid_fix: Option<(u64, i32)>,
}

impl<'a> Ctx<'a> {
    /// Waits on `q`: returns the error the handler returns, and the
    /// syscall is re-run when `q` is woken.
    pub fn block_on(&mut self, q: &WaitQueue) -> Errno {
        q.add(self.me);
        self.blocked = true;
        Errno::BLOCK
    }

    /// Waits for nothing that will come: only a signal ends the wait
    /// (reboot(2) waiting for the VM to end it).
    pub fn block_forever(&mut self) -> Errno {
        self.blocked = true;
        Errno::BLOCK
    }

    /// Waits until `at` at the latest (the handler checks `deadline` when
    /// re-run).
    pub fn block_until(&mut self, at: Instant) -> Errno {
        self.deadline = Some(at);
        self.blocked = true;
        Errno::BLOCK
    }

    /// The caller's working directory (a namespace path).
    pub fn cwd(&self) -> Vec<u8> {
        self.task.fs.lock().cwd.clone()
    }

    /// The caller's root directory (a namespace path; see chroot(2)).
    pub fn root(&self) -> Vec<u8> {
        self.task.fs.lock().root.clone()
    }

    /// A namespace path as the caller sees it (see [`path::view`]).
    pub fn view(&self, name: &[u8]) -> Vec<u8> {
        path::view(&self.task.fs.lock().root, name)
    }

    /// The caller's soft limit on open fds.
    pub fn nofile(&self) -> u64 {
        self.task.process.state().rlimits.nofile()
    }

    /// Installs `file` at the lowest free fd.
    pub fn install(&self, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
        let limit = self.nofile();
        self.task.files.lock().insert(file, cloexec, 0, limit).map(i64::from)
    }

    /// Argument `i` as a guest int (fd numbers, flags, modes).
    pub fn int(&self, i: usize) -> i32 {
        self.args[i] as i32
    }

    /// Lets the host run the trapped call itself, as the guest made it,
    /// once the handler has checked and recorded what it must: one stop
    /// instead of an injection's several. The handler returns what this
    /// returns; the host's result is the guest's.
    pub fn run_on_host(&mut self) -> SysResult {
        self.on_host = true;
        Ok(0)
    }

    /// Runs a host syscall inside the calling process.
    pub fn inject(&mut self, n: u64, a: [u64; 6]) -> SysResult {
        match inject(self.task.tid, self.regs, n, a) {
            Ok(r) => Ok(r),
            Err(InjectError::Ptrace(e)) => Err(e),
            Err(e) => {
                self.died = Some(e);
                Err(Errno::EFAULT)
            }
        }
    }

    /// Reads the path whose pointer is argument `i`.
    pub fn path(&self, i: usize) -> Result<Vec<u8>, Errno> {
        if self.args[i] == 0 {
            return Err(Errno::EFAULT);
        }
        self.mem.read_cstr(self.args[i], PATH_MAX - 1)
    }

    /// The open file behind fd argument `i`.
    pub fn file(&self, i: usize) -> Result<Arc<OpenFile>, Errno> {
        self.task.files.lock().get(self.int(i))
    }

    /// The directory a `*at` path is relative to.
    pub fn base_dir(&self, dirfd: i32, path: &[u8]) -> Result<Vec<u8>, Errno> {
        if path.first() == Some(&b'/') || dirfd == AT_FDCWD {
            return Ok(self.cwd());
        }
        let f = self.task.files.lock().get(dirfd)?;
        if !f.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(f.path.clone())
    }

    /// Looks up `path` relative to `dirfd` (or the cwd) on a host-backed
    /// mount. devfs and procfs nodes are handled by the callers that
    /// support them (open, stat, access...); any other operation on one is
    /// EPERM.
    pub fn lookup_at(&self, dirfd: i32, path: &[u8], follow: bool) -> Result<Lookup, Errno> {
        match self.node_at(dirfd, path, follow)? {
            Node::Host(l) => Ok(l),
            Node::Ext2(_) => Err(Errno::EPERM),
        }
    }

    /// Looks up `path` relative to `dirfd` (or the cwd) on a host-backed
    /// or ext2 mount (see [`Ctx::lookup_at`]).
    pub fn node_at(&self, dirfd: i32, path: &[u8], follow: bool) -> Result<Node, Errno> {
        match self.special(dirfd, path, follow)? {
            Special::Host(l) => Ok(Node::Host(l)),
            Special::Ext2(l) => Ok(Node::Ext2(l)),
            // A file reached through /proc/PID/fd: by its path (a
            // namespace path, maybe outside the caller's root).
            Special::File(f) if matches!(f.kind, FileKind::Host { .. } | FileKind::Ext2(_)) => {
                match self.k.vfs.resolve_from(&self.root(), f.path.clone(), follow)? {
                    Resolved::Found(l) => Ok(Node::Host(l)),
                    Resolved::Ext2(l) => Ok(Node::Ext2(l)),
                    Resolved::Synthetic(..) => Err(Errno::EPERM),
                }
            }
            Special::Dev(_) | Special::Proc(..) | Special::File(_) => Err(Errno::EPERM),
        }
    }

    /// Looks up `path` relative to the cwd (see [`Ctx::lookup_at`]).
    pub fn lookup(&self, path: &[u8], follow: bool) -> Result<Lookup, Errno> {
        self.lookup_at(AT_FDCWD, path, follow)
    }

    /// Where `path` (relative to `dirfd`) leads, in any filesystem: the
    /// VFS walks it across mounts; where the walk enters devfs or procfs,
    /// their classifiers take the rest (procfs links, followed when
    /// `follow` or when more components come after them, may lead back to
    /// a host-backed mount).
    pub fn special(&self, dirfd: i32, path: &[u8], follow: bool) -> Result<Special, Errno> {
        self.special_as(dirfd, path, follow, dac::fs_who(self).as_ref())
    }

    /// [`Ctx::special`] with search permission checked for `who` (None:
    /// privileged, unchecked).
    pub fn special_as(&self, dirfd: i32, path: &[u8], follow: bool, who: Option<&Who>) -> Result<Special, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let base = self.base_dir(dirfd, path)?;
        // Absolute paths, and the targets of devfs's symlinks (which Linux
        // resolves as any symlink), start at the caller's root; procfs's
        // links name objects, wherever they are.
        let root = self.root();
        let mut abs =
            if path.first() == Some(&b'/') { path::join_root(&root, path) } else { path::join_base(&base, path) };
        let mounts = self.k.vfs.mounts();
        // A trailing slash makes the last component a directory to enter:
        // a symlink of devfs or procfs there is followed (the VFS sees to
        // those of host-backed mounts).
        let follow_last = follow || path.ends_with(b"/");
        let mut search = who.map(|w| Search::new(w, &root, &base, path));
        for _ in 0..path::MAX_SYMLINKS {
            let fstype = match self.k.vfs.resolve_from_as(&root, abs, follow, search.as_mut())? {
                Resolved::Found(l) => return Ok(Special::Host(l)),
                Resolved::Ext2(l) => return Ok(Special::Ext2(l)),
                Resolved::Synthetic(fstype, at) => {
                    abs = at;
                    fstype
                }
            };
            // A kernel filesystem mounted elsewhere: its classifier sees
            // the path from its usual place.
            let moved = mount::relocated(&mounts, fstype, &abs);
            let seen = moved.as_deref().unwrap_or(&abs);
            match fstype {
                FsType::Devtmpfs => match devfs::classify_in(&root, seen, &self.k.vfs.disk_units()) {
                    Some(DevPath::Through(target, rest)) => {
                        abs = path::join_base(&path::join_root(&root, target.as_bytes()), &rest)
                    }
                    Some(DevPath::Link(target)) if follow_last => abs = path::join_root(&root, target.as_bytes()),
                    dp => {
                        // No link passed: `..` was lexical, and may have led
                        // out of devfs (or into /dev/shm).
                        let norm = path::normalize_in(&root, &abs);
                        let comps = path::split(&norm);
                        match dp {
                            Some(dp) if mounts.get(mounts.covering(&comps)).fstype == FsType::Devtmpfs => {
                                return Ok(Special::Dev(dp));
                            }
                            _ => abs = norm,
                        }
                    }
                },
                FsType::Sysfs => match crate::fs::sysfs::classify(&self.k.vfs.sysfs, &root, seen) {
                    None => abs = path::normalize_in(&root, &abs),
                    Some(node) => return Ok(Special::Proc(node, abs)),
                },
                _ => match procfs::classify(self.k, self.task, seen) {
                    // Out of /proc through `..`, no link passed: lexical.
                    None => abs = path::normalize_in(&root, &abs),
                    Some(procfs::ProcNode::Link(target)) if follow_last => abs = target,
                    Some(procfs::ProcNode::Fd(_, file)) if follow_last => {
                        if !file.reopens_by_path() {
                            return Ok(Special::File(file));
                        }
                        abs = file.path.clone();
                    }
                    Some(procfs::ProcNode::Through(target, rest)) => abs = path::join_base(&target, &rest),
                    Some(node) => return Ok(Special::Proc(node, abs)),
                },
            }
            // What the kernel's filesystems lead to is walked from the
            // root when it lies under it, else from the namespace's `/`.
            let start = if path::under_root(&root, &abs).is_some() { &root[..] } else { b"/" };
            search = who.map(|w| Search::from_dir(w, start));
        }
        Err(Errno::ELOOP)
    }
}

/// Where a path leads (see [`Ctx::special`]).
pub enum Special {
    /// A devfs node or /dev itself.
    Dev(devfs::DevPath),
    /// A procfs node, and its absolute path.
    Proc(procfs::ProcNode, Vec<u8>),
    /// The open file a followed /proc/PID/fd/N link leads to, when that is
    /// not simply its path (see [`OpenFile::reopens_by_path`]).
    File(Arc<OpenFile>),
    /// A host-backed mount (the root filesystem, a tmpfs).
    Host(Lookup),
    /// An ext2 mount.
    Ext2(Ext2Lookup),
}

/// Where a path on a mount with files of its own leads (see
/// [`Ctx::node_at`]).
pub enum Node {
    /// A host-backed mount.
    Host(Lookup),
    /// An ext2 mount.
    Ext2(Ext2Lookup),
}

/// What the tracer loop does with a trapped syscall.
pub enum Outcome {
    /// Complete it with this `rax`.
    Return(i64),
    /// Let the host run it as the guest made it.
    Native,
    /// The process ended or faulted while the kernel worked on it.
    Died(InjectError),
    /// The syscall waits; it is re-run when woken (or at the deadline).
    Block {
        /// When it gives up.
        deadline: Option<Instant>,
        /// Work done so far.
        progress: usize,
    },
    /// execve succeeded: the new program starts with these registers.
    Exec(Regs),
    /// Make the syscall again once pending signals are handled.
    Restart,
}

/// A syscall made while the machine halts: it waits to be killed.
fn block_until_killed(ctx: &mut Ctx<'_>) -> SysResult {
    Err(ctx.block_forever())
}

/// Serves the syscall `task` is stopped at. `deadline` is what an earlier
/// run of the same syscall chose, when it is re-run after a wake-up.
pub fn dispatch(
    k: &Kernel,
    task: &mut Task,
    regs: &Regs,
    me: TaskRef,
    deadline: Option<Instant>,
    progress: usize,
    new_tasks: &mut Vec<NewTask>,
) -> Outcome {
    let n = regs.orig_rax;
    let args = syscall_args(regs);
    let halting = k.power.halting();
    let handler = match entry(n) {
        // The machine is going down: nothing runs any more.
        _ if halting => block_until_killed,
        Entry::Native(_) if seccomp::runs_natively(n, &args) => return Outcome::Native,
        Entry::Native(Some(h)) | Entry::Emulated(h) => h,
        Entry::Native(None) => return Outcome::Return(-(libc::ENOSYS as i64)),
        Entry::Unknown => {
            k.log_unknown(n);
            return Outcome::Return(-(libc::ENOSYS as i64));
        }
    };
    let mem = GuestMem::new(task.tid);
    let mut ctx = Ctx {
        k,
        task,
        regs,
        args,
        mem,
        died: None,
        me,
        deadline,
        progress,
        new_regs: None,
        new_tasks,
        blocked: false,
        on_host: false,
    };
    let r = handler(&mut ctx);
    if let Some(d) = ctx.died {
        return Outcome::Died(d);
    }
    if let Some(new) = ctx.new_regs {
        return Outcome::Exec(new);
    }
    match r {
        Ok(_) if ctx.on_host => Outcome::Native,
        Err(Errno::BLOCK) if ctx.blocked => Outcome::Block { deadline: ctx.deadline, progress: ctx.progress },
        // A handler may not return BLOCK without waiting on something.
        Err(Errno::BLOCK) => Outcome::Return(-(libc::EINTR as i64)),
        Err(Errno::RESTART) => Outcome::Restart,
        r => Outcome::Return(r.unwrap_or_else(|e| -(e.0 as i64))),
    }
}

/// ENOSYS on purpose, without the "unimplemented" log line: the syscall is
/// known, and Linux programs are expected to cope with its absence.
fn enosys(_: &mut Ctx<'_>) -> SysResult {
    Err(Errno::ENOSYS)
}

/// The table.
pub fn entry(n: u64) -> Entry {
    use Entry::{Emulated as E, Native as N};
    match n {
        // io
        nr::READ => E(io::read),
        nr::WRITE => E(io::write),
        nr::READV => E(io::readv),
        nr::WRITEV => E(io::writev),
        nr::PREAD64 => E(io::pread64),
        nr::PWRITE64 => E(io::pwrite64),
        nr::LSEEK => E(io::lseek),
        nr::IOCTL => E(io::ioctl),
        nr::SENDFILE => E(io::sendfile),
        nr::POLL => E(poll::poll),
        nr::PPOLL => E(poll::ppoll),
        nr::SELECT => E(poll::select),
        nr::PSELECT6 => E(poll::pselect6),
        nr::PIPE => E(pipe::pipe),
        nr::EPOLL_CREATE => E(epoll::epoll_create),
        nr::EVENTFD => E(eventfd::eventfd),
        nr::EVENTFD2 => E(eventfd::eventfd2),
        nr::TIMERFD_CREATE => E(timerfd::timerfd_create),
        nr::TIMERFD_SETTIME => E(timerfd::timerfd_settime),
        nr::TIMERFD_GETTIME => E(timerfd::timerfd_gettime),
        nr::EPOLL_CREATE1 => E(epoll::epoll_create1),
        nr::EPOLL_CTL => E(epoll::epoll_ctl),
        nr::EPOLL_WAIT => E(epoll::epoll_wait),
        nr::EPOLL_PWAIT => E(epoll::epoll_pwait),
        nr::EPOLL_PWAIT2 => E(epoll::epoll_pwait2),
        nr::PIPE2 => E(pipe::pipe2),
        // fs: descriptors
        nr::OPEN => E(fs::open),
        nr::OPENAT => E(fs::openat),
        nr::CREAT => E(fs::creat),
        nr::CLOSE => E(fs::close),
        nr::DUP => E(fs::dup),
        nr::DUP2 => E(fs::dup2),
        nr::DUP3 => E(fs::dup3),
        nr::FCNTL => E(fs::fcntl),
        nr::GETDENTS64 => E(fs::getdents64),
        nr::FSYNC => E(fs::fsync),
        nr::FDATASYNC => E(fs::fdatasync),
        nr::SYNC => E(fs::sync),
        nr::SYNCFS => E(fs::syncfs),
        nr::SYNC_FILE_RANGE => E(fs::sync_file_range),
        nr::FTRUNCATE => E(fs::ftruncate),
        nr::FCHMOD => E(fs::fchmod),
        nr::FCHOWN => E(fs::fchown),
        nr::FCHDIR => E(fs::fchdir),
        // fs: paths
        nr::STAT => E(fs::stat),
        nr::LSTAT => E(fs::lstat),
        nr::FSTAT => E(fs::fstat),
        nr::NEWFSTATAT => E(fs::newfstatat),
        nr::STATX => E(fs::statx),
        nr::READLINK => E(fs::readlink),
        nr::READLINKAT => E(fs::readlinkat),
        nr::ACCESS => E(fs::access),
        nr::FACCESSAT => E(fs::faccessat),
        nr::FACCESSAT2 => E(fs::faccessat2),
        nr::GETCWD => E(fs::getcwd),
        nr::CHDIR => E(fs::chdir),
        nr::CHROOT => E(root::chroot),
        nr::MKDIR => E(fs::mkdir),
        nr::MKDIRAT => E(fs::mkdirat),
        nr::MKNOD => E(fs::mknod),
        nr::MKNODAT => E(fs::mknodat),
        nr::RMDIR => E(fs::rmdir),
        nr::UNLINK => E(fs::unlink),
        nr::UNLINKAT => E(fs::unlinkat),
        nr::RENAME => E(fs::rename),
        nr::RENAMEAT => E(fs::renameat),
        nr::RENAMEAT2 => E(fs::renameat2),
        nr::SYMLINK => E(fs::symlink),
        nr::SYMLINKAT => E(fs::symlinkat),
        nr::LINK => E(fs::link),
        nr::LINKAT => E(fs::linkat),
        nr::CHMOD => E(fs::chmod),
        nr::FCHMODAT => E(fs::fchmodat),
        nr::FCHMODAT2 => E(fs::fchmodat2),
        nr::CHOWN => E(fs::chown),
        nr::LCHOWN => E(fs::lchown),
        nr::FCHOWNAT => E(fs::fchownat),
        nr::UTIMENSAT => E(fs::utimensat),
        nr::TRUNCATE => E(fs::truncate),
        nr::STATFS => E(fs::statfs),
        nr::FSTATFS => E(fs::fstatfs),
        nr::UMASK => E(fs::umask),
        nr::MOUNT => E(mount::mount),
        nr::UMOUNT2 => E(mount::umount2),
        nr::FADVISE64 => E(io::fadvise64),
        nr::COPY_FILE_RANGE => E(io::copy_file_range),
        nr::SPLICE => E(splice::splice),
        nr::TEE => E(splice::tee),
        nr::VMSPLICE => E(splice::vmsplice),
        nr::FLOCK => E(lock::flock),
        nr::MEMFD_CREATE => E(memfd::memfd_create),
        nr::GETXATTR | nr::SETXATTR | nr::LISTXATTR | nr::REMOVEXATTR => E(xattr::path),
        nr::LGETXATTR | nr::LSETXATTR | nr::LLISTXATTR | nr::LREMOVEXATTR => E(xattr::lpath),
        nr::FGETXATTR | nr::FSETXATTR | nr::FLISTXATTR | nr::FREMOVEXATTR => E(xattr::fd),
        // Known, and answered ENOSYS on purpose: callers fall back.
        nr::NAME_TO_HANDLE_AT | nr::INOTIFY_INIT | nr::INOTIFY_INIT1 | nr::PIVOT_ROOT => E(enosys),
        // sockets
        nr::SOCKET => E(socket::socket),
        nr::SOCKETPAIR => E(socket::socketpair),
        nr::CONNECT
        | nr::BIND
        | nr::LISTEN
        | nr::ACCEPT
        | nr::ACCEPT4
        | nr::GETSOCKNAME
        | nr::GETPEERNAME
        | nr::GETSOCKOPT
        | nr::SETSOCKOPT
        | nr::SHUTDOWN
        | nr::SENDTO
        | nr::RECVFROM
        | nr::SENDMSG
        | nr::RECVMSG
        | nr::SENDMMSG
        | nr::RECVMMSG => E(socket::on_fd),
        // credentials
        nr::SETUID => E(creds::setuid),
        nr::SETGID => E(creds::setgid),
        nr::SETREUID => E(creds::setreuid),
        nr::SETREGID => E(creds::setregid),
        nr::SETRESUID => E(creds::setresuid),
        nr::SETRESGID => E(creds::setresgid),
        nr::GETRESUID => E(creds::getresuid),
        nr::GETRESGID => E(creds::getresgid),
        nr::SETFSUID => E(creds::setfsuid),
        nr::SETFSGID => E(creds::setfsgid),
        nr::GETGROUPS => E(creds::getgroups),
        nr::SETGROUPS => E(creds::setgroups),
        nr::CAPGET => E(creds::capget),
        nr::CAPSET => E(creds::capset),
        // processes
        nr::GETPID => E(proc::getpid),
        nr::GETPPID => E(proc::getppid),
        nr::GETTID => E(proc::gettid),
        nr::GETUID => E(proc::getuid),
        nr::GETEUID => E(proc::geteuid),
        nr::GETGID => E(proc::getgid),
        nr::GETEGID => E(proc::getegid),
        nr::GETPGRP => E(proc::getpgrp),
        nr::GETPGID => E(proc::getpgid),
        nr::GETSID => E(proc::getsid),
        nr::SETPGID => E(proc::setpgid),
        nr::SETSID => E(proc::setsid),
        nr::FORK => E(clone::fork),
        nr::VFORK => E(clone::vfork),
        nr::CLONE => E(clone::clone),
        nr::CLONE3 => E(enosys),
        nr::WAIT4 => E(wait::wait4),
        nr::EXECVE => E(exec::execve),
        nr::EXECVEAT => E(exec::execveat),
        nr::WAITID => E(wait::waitid),
        nr::KILL => E(signal::kill),
        nr::TKILL => E(signal::tkill),
        nr::TGKILL => E(signal::tgkill),
        nr::RT_SIGACTION => E(signal::rt_sigaction),
        nr::SET_TID_ADDRESS => E(proc::set_tid_address),
        nr::PRCTL => E(proc::prctl),
        nr::EXIT | nr::EXIT_GROUP => N(None),
        nr::RSEQ => E(enosys),
        // limits
        nr::PRLIMIT64 => E(limits::prlimit64),
        nr::GETRLIMIT => E(limits::getrlimit),
        nr::SETRLIMIT => E(limits::setrlimit),
        // memory
        nr::BRK => E(mm::brk),
        nr::MMAP => N(Some(mm::mmap)),
        nr::MUNMAP | nr::MPROTECT | nr::MADVISE | nr::MINCORE => N(Some(mm::guarded_range)),
        nr::MSYNC => E(mm::msync),
        nr::MREMAP => N(Some(mm::mremap)),
        // signals and threads of the caller
        nr::RT_SIGPROCMASK | nr::RT_SIGRETURN | nr::SIGALTSTACK => N(None),
        nr::RT_SIGSUSPEND | nr::PAUSE | nr::RT_SIGPENDING => N(None),
        nr::RT_SIGTIMEDWAIT => E(signal::rt_sigtimedwait),
        nr::RT_SIGQUEUEINFO => E(signal::rt_sigqueueinfo),
        nr::RT_TGSIGQUEUEINFO => E(signal::rt_tgsigqueueinfo),
        nr::FUTEX | nr::SET_ROBUST_LIST | nr::SCHED_YIELD | nr::ARCH_PRCTL | nr::RESTART_SYSCALL => N(None),
        // time
        nr::CLOCK_GETTIME => E(time::clock_gettime),
        nr::CLOCK_GETRES => E(time::clock_getres),
        nr::GETTIMEOFDAY => E(time::gettimeofday),
        nr::TIME => E(time::time),
        nr::ALARM => E(time::alarm),
        nr::GETRUSAGE => E(time::getrusage),
        nr::TIMES => E(time::times),
        // ITIMER_VIRTUAL and ITIMER_PROF run natively (seccomp.rs).
        nr::SETITIMER => N(Some(time::setitimer)),
        nr::GETITIMER => N(Some(time::getitimer)),
        nr::TIMER_CREATE => E(posix_timer::timer_create),
        nr::TIMER_SETTIME => E(posix_timer::timer_settime),
        nr::TIMER_GETTIME => E(posix_timer::timer_gettime),
        nr::TIMER_GETOVERRUN => E(posix_timer::timer_getoverrun),
        nr::TIMER_DELETE => E(posix_timer::timer_delete),
        nr::NANOSLEEP | nr::CLOCK_NANOSLEEP => N(None),
        // the machine
        nr::UNAME => E(misc::uname),
        nr::SETHOSTNAME => E(misc::sethostname),
        nr::SYSINFO => E(misc::sysinfo),
        nr::REBOOT => E(reboot::reboot),
        nr::GETRANDOM => E(misc::getrandom),
        nr::PERSONALITY => E(misc::personality),
        nr::SCHED_GETAFFINITY => E(misc::sched_getaffinity),
        nr::GETCPU => E(misc::getcpu),
        nr::GETPRIORITY => E(misc::getpriority),
        nr::SETPRIORITY => E(misc::setpriority),
        _ => Entry::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allow_listed_syscall_is_served_in_sysemu_mode_too() {
        // In sysemu mode the allow-list runs through the table: each entry
        // must be native (injected) or emulated, never unknown.
        for &(n, _) in seccomp::NATIVE {
            assert!(!matches!(entry(n), Entry::Unknown), "{:?}", names::name(n));
        }
    }
}
