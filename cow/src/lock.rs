//! Whole-file locks, compatible with UML's.
//!
//! UML takes a POSIX `fcntl(F_SETLK)` lock over the whole file: F_WRLCK on a
//! COW (or plain) file opened read-write, F_RDLCK on a read-only one and on
//! a backing file, none with the `c` flag. umvm takes the same kinds as
//! open-file-description locks (F_OFD_SETLK), which conflict with POSIX
//! locks, so a real UML and umvm keep off each other's files; unlike POSIX
//! locks they are not dropped when another descriptor of the same file is
//! closed in this process. (The COW file itself is locked by
//! `umvm_blockio::BlockDevice`, which does the same.)

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Locks `file` whole: exclusively (`write`) or shared. A conflict is
/// `EWOULDBLOCK`-kind, naming the holder's pid when the host knows it.
pub fn lock(file: &File, write: bool) -> io::Result<()> {
    // SAFETY: flock is plain data; all-zero means the whole file from 0.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = if write { libc::F_WRLCK } else { libc::F_RDLCK } as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_OFD_SETLK reads the valid flock we pass.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) {
        return Err(err);
    }
    // SAFETY: F_OFD_GETLK fills the valid flock we pass.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    let who = if rc == 0 && fl.l_type != libc::F_UNLCK as libc::c_short && fl.l_pid > 0 {
        format!("process {}", fl.l_pid)
    } else {
        "another process".to_string()
    };
    Err(io::Error::new(io::ErrorKind::WouldBlock, format!("already locked by {who} (the `c` flag shares it)")))
}

/// Drops the lock on `file` now, before the file is closed: a child forked
/// meanwhile (and not yet exec'd) holds a copy of the descriptor, and with
/// it the lock, until it execs or exits.
pub fn unlock(file: &File) -> io::Result<()> {
    // SAFETY: flock is plain data; all-zero means the whole file from 0.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_UNLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_OFD_SETLK reads the valid flock we pass.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
