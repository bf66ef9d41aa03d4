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

/// How long a lock another umvm holds (an open-file-description lock,
/// whose holder the host does not name) is waited for: a umvm that has
/// just ended may hold its disks until the host has torn down its io_uring,
/// a moment after it is reaped (as `umvm_blockio`'s open waits).
const DYING_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Locks `file` whole: exclusively (`write`) or shared. A conflict is
/// `EWOULDBLOCK`-kind, naming the holder's pid when the host knows it. A
/// real UML's lock (POSIX, with a pid) is refused at once; another umvm's
/// is waited for up to [`DYING_HOLDER_WAIT`], in case that umvm is ending.
pub fn lock(file: &File, write: bool) -> io::Result<()> {
    let deadline = std::time::Instant::now() + DYING_HOLDER_WAIT;
    loop {
        match try_lock(file, write) {
            Err(Conflict::Umvm(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(Conflict::Umvm(e) | Conflict::Other(e)) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
}

/// Why [`try_lock`] failed: a lock whose holder the host does not name
/// (another umvm's), or anything else.
enum Conflict {
    Umvm(io::Error),
    Other(io::Error),
}

/// One attempt of [`lock`].
fn try_lock(file: &File, write: bool) -> Result<(), Conflict> {
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
        return Err(Conflict::Other(err));
    }
    // SAFETY: F_OFD_GETLK fills the valid flock we pass.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    let named = rc == 0 && fl.l_type != libc::F_UNLCK as libc::c_short && fl.l_pid > 0;
    let who = if named { format!("process {}", fl.l_pid) } else { "another process".to_string() };
    let e = io::Error::new(io::ErrorKind::WouldBlock, format!("already locked by {who} (the `c` flag shares it)"));
    Err(if named { Conflict::Other(e) } else { Conflict::Umvm(e) })
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
