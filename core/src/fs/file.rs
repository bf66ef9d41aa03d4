//! Open file descriptions: what a guest fd refers to.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::dev::console::ConsoleStream;
use crate::dev::devfs::{self, Dev};
use crate::fs::pipe::PipeEnd;

/// What an open file is.
pub enum FileKind {
    /// A regular file or a directory of hostfs; offsets live in the host fd.
    Host {
        /// The host fd (no O_PATH unless the guest opened with O_PATH).
        fd: OwnedFd,
        /// Whether it is a directory.
        dir: bool,
        /// The mount it is on.
        mount: crate::fs::mount::MountRef,
    },
    /// A file or directory of an ext2 mount.
    Ext2(crate::fs::ext2_mount::Ext2File),
    /// One of the host streams the VM's console is made of.
    Console(ConsoleStream),
    /// An end of a pipe.
    Pipe(PipeEnd),
    /// A devfs character device.
    Dev(Dev),
    /// A ubd disk opened as a block device.
    Block(crate::dev::blockdev::BlockFile),
    /// The /dev directory (the next getdents64 entry to return).
    DevDir(std::sync::atomic::AtomicUsize),
    /// An epoll instance.
    Epoll(crate::fs::epoll::Epoll),
    /// An eventfd.
    EventFd(crate::fs::eventfd::EventFd),
    /// A timerfd.
    TimerFd(crate::fs::timerfd::TimerFd),
    /// An AF_UNIX socket.
    Unix(crate::net::unix::UnixFile),
    /// An AF_INET or AF_INET6 socket.
    Inet(crate::net::inet::InetFile),
    /// An AF_NETLINK socket.
    Netlink(crate::net::netlink::socket::NetlinkFile),
    /// A file whose contents the kernel made (procfs): the snapshot taken
    /// at open, and the read offset.
    Synthetic(Vec<u8>, std::sync::atomic::AtomicUsize),
    /// A directory the kernel made (procfs): its entries and the next
    /// getdents64 index.
    SynthDir(Vec<(Vec<u8>, u8)>, std::sync::atomic::AtomicUsize),
    /// /proc/mconsole open for writing: each write is sent to this socket
    /// as an mconsole user notification.
    Notify(std::path::PathBuf),
}

/// An open file description, shared by the fds dup'd from one open.
pub struct OpenFile {
    /// What it is.
    pub kind: FileKind,
    /// The canonical guest path it was opened as (for `*at` calls relative
    /// to it, fchdir and, later, /proc/PID/fd).
    pub path: Vec<u8>,
    /// File status flags as the guest sees them (O_ACCMODE, O_APPEND,
    /// O_NONBLOCK, ...).
    flags: AtomicI32,
}

/// The flags F_SETFL may change (Linux's SETFL_MASK, less O_DIRECT which
/// umvm does not pass to hostfs).
pub const SETFL_MASK: i32 = libc::O_APPEND | libc::O_NONBLOCK | libc::O_NOATIME | libc::O_ASYNC;

impl OpenFile {
    /// A new open file description.
    pub fn new(kind: FileKind, path: Vec<u8>, flags: i32) -> OpenFile {
        OpenFile { kind, path, flags: AtomicI32::new(flags) }
    }

    /// The guest-visible status flags.
    pub fn flags(&self) -> i32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Replaces the F_SETFL-changeable flags.
    pub fn set_flags(&self, new: i32) {
        let old = self.flags();
        self.flags.store((old & !SETFL_MASK) | (new & SETFL_MASK), Ordering::Relaxed);
    }

    /// Whether it was opened for reading.
    pub fn readable(&self) -> bool {
        let m = self.flags() & libc::O_ACCMODE;
        self.flags() & libc::O_PATH == 0 && (m == libc::O_RDONLY || m == libc::O_RDWR)
    }

    /// Whether it was opened for writing.
    pub fn writable(&self) -> bool {
        let m = self.flags() & libc::O_ACCMODE;
        self.flags() & libc::O_PATH == 0 && (m == libc::O_WRONLY || m == libc::O_RDWR)
    }

    /// The host fd behind it, if it has one.
    pub fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            FileKind::Host { fd, .. } => Some(fd.as_fd()),
            FileKind::Console(s) => Some(s.fd()),
            FileKind::Pipe(_)
            | FileKind::Unix(_)
            | FileKind::Inet(_)
            | FileKind::Netlink(_)
            | FileKind::Dev(_)
            | FileKind::DevDir(_)
            | FileKind::Epoll(_)
            | FileKind::EventFd(_)
            | FileKind::TimerFd(_)
            | FileKind::Synthetic(..)
            | FileKind::SynthDir(..)
            | FileKind::Notify(_)
            | FileKind::Block(_)
            | FileKind::Ext2(_) => None,
        }
    }

    /// The host fd behind it, or EINVAL for a file that has none.
    pub fn need_host_fd(&self) -> Result<BorrowedFd<'_>, crate::errno::Errno> {
        self.host_fd().ok_or(crate::errno::Errno::EINVAL)
    }

    /// Its stat: the host's for host-backed files, made up for pipes.
    pub fn stat(&self) -> Result<libc::stat, crate::errno::Errno> {
        match &self.kind {
            FileKind::Pipe(end) => {
                // SAFETY: stat is plain integers; all-zero is valid.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                st.st_mode = libc::S_IFIFO | 0o600;
                st.st_nlink = 1;
                st.st_blksize = 4096;
                st.st_ino = std::sync::Arc::as_ptr(&end.pipe) as u64 & 0xffff_ffff;
                Ok(st)
            }
            FileKind::Unix(u) => Ok(socket_stat(u.sock.ino)),
            FileKind::Inet(s) => Ok(socket_stat(s.ino)),
            FileKind::Netlink(s) => Ok(socket_stat(s.ino)),
            FileKind::Dev(d) => Ok(d.stat()),
            FileKind::Block(b) => Ok(b.stat()),
            FileKind::DevDir(_) => Ok(devfs::dir_stat(0)),
            FileKind::Synthetic(..) => Ok(crate::fs::procfs::node_stat(&crate::fs::procfs::ProcNode::File(Vec::new()))),
            FileKind::SynthDir(..) => Ok(crate::fs::procfs::node_stat(&crate::fs::procfs::ProcNode::Dir(Vec::new()))),
            FileKind::Notify(p) => Ok(crate::fs::procfs::node_stat(&crate::fs::procfs::ProcNode::Notify(p.clone()))),
            FileKind::Epoll(_) | FileKind::EventFd(_) | FileKind::TimerFd(_) => {
                // SAFETY: stat is plain integers; all-zero is valid.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                st.st_mode = 0o600;
                st.st_nlink = 1;
                st.st_blksize = 4096;
                Ok(st)
            }
            FileKind::Host { fd, mount, .. } => {
                let mut st = crate::fs::hostfs::fstat(fd.as_fd())?;
                mount.fix_stat(&mut st);
                Ok(st)
            }
            FileKind::Console(_) => crate::fs::hostfs::fstat(self.need_host_fd()?),
            FileKind::Ext2(f) => Ok(f.fs.stat(&f.inode()?)),
        }
    }

    /// What readlink of its /proc/PID/fd link shows (Linux's d_path or
    /// dentry name): its path, with " (deleted)" once a host file has no
    /// name left; pipes and the kernel's anonymous files by kind.
    pub fn link_text(&self) -> Vec<u8> {
        match &self.kind {
            FileKind::Pipe(_) if self.path == crate::fs::pipe::ANON_PATH => {
                format!("pipe:[{}]", self.stat().map_or(0, |st| st.st_ino)).into_bytes()
            }
            FileKind::Unix(u) => format!("socket:[{}]", u.sock.ino).into_bytes(),
            FileKind::Inet(s) => format!("socket:[{}]", s.ino).into_bytes(),
            FileKind::Netlink(s) => format!("socket:[{}]", s.ino).into_bytes(),
            FileKind::Epoll(_) => b"anon_inode:[eventpoll]".to_vec(),
            FileKind::EventFd(_) => b"anon_inode:[eventfd]".to_vec(),
            FileKind::TimerFd(_) => b"anon_inode:[timerfd]".to_vec(),
            FileKind::Host { fd, dir: false, .. }
                if crate::fs::hostfs::fstat(fd.as_fd()).is_ok_and(|st| st.st_nlink == 0) =>
            {
                [self.path.as_slice(), b" (deleted)"].concat()
            }
            FileKind::Ext2(f) if !f.dir && f.inode().is_ok_and(|i| i.links == 0) => {
                [self.path.as_slice(), b" (deleted)"].concat()
            }
            _ => self.path.clone(),
        }
    }

    /// Whether opening its /proc/PID/fd link opens its path again, as good
    /// as the object itself: a device, a procfs file, a FIFO. Host files,
    /// pipes, console streams and the kernel's anonymous files are reached
    /// through the open file instead (a host file may have been renamed
    /// or unlinked; a pipe has no path).
    pub fn reopens_by_path(&self) -> bool {
        match &self.kind {
            FileKind::Dev(_)
            | FileKind::Block(_)
            | FileKind::DevDir(_)
            | FileKind::Synthetic(..)
            | FileKind::SynthDir(..)
            | FileKind::Notify(_) => true,
            FileKind::Pipe(_) => self.path != crate::fs::pipe::ANON_PATH,
            FileKind::Host { .. }
            | FileKind::Ext2(_)
            | FileKind::Console(_)
            | FileKind::Unix(_)
            | FileKind::Inet(_)
            | FileKind::Netlink(_)
            | FileKind::Epoll(_)
            | FileKind::EventFd(_)
            | FileKind::TimerFd(_) => false,
        }
    }

    /// Whether the guest opened it non-blocking.
    pub fn nonblocking(&self) -> bool {
        self.flags() & libc::O_NONBLOCK != 0
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        match &self.kind {
            FileKind::Ext2(f) => f.dir,
            k => matches!(k, FileKind::Host { dir: true, .. } | FileKind::DevDir(_) | FileKind::SynthDir(..)),
        }
    }
}

/// What fstat shows of a socket (Linux's sockfs inode): S_IFSOCK 0777 and
/// the socket's inode number.
fn socket_stat(ino: u64) -> libc::stat {
    // SAFETY: stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = libc::S_IFSOCK | 0o777;
    st.st_nlink = 1;
    st.st_blksize = 4096;
    st.st_ino = ino;
    st
}
