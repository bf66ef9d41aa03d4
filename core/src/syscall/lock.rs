//! File locks: flock(2) and fcntl's record locks (Linux's fs/locks.c).
//!
//! Every guest open of a hostfs file is its own host open file
//! description in umvm, so the host arbitrates between guest processes:
//! flock locks go to the host as they are, and record locks become
//! open-file-description locks (F_OFD_*), since classic POSIX locks would
//! all belong to the one umvm process and never conflict. The difference
//! a guest can see: a record lock is released when its open file
//! description is last closed rather than at any close by the process,
//! is shared with fork children that share the description, and F_GETLK
//! reports the holder's pid as -1.
//!
//! Files on an ext2 disk have no host file of their own: each inode that
//! is locked gets an empty memfd, and each guest open file its own open
//! file description of it (fs/ext2_mount.rs), so the host arbitrates
//! their locks the same way.
//!
//! A lock request that would wait never blocks the tracer loop: it is
//! retried every few milliseconds until granted, or interrupted by a
//! signal (EINTR, or a restart under SA_RESTART).

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};

/// How often a waiting lock request tries again.
const RETRY: Duration = Duration::from_millis(5);

fn host_fd(f: &OpenFile) -> Result<i32, Errno> {
    match &f.kind {
        FileKind::Host { fd, .. } => Ok(fd.as_raw_fd()),
        FileKind::Ext2(e) => e.lock_fd().map(|fd| fd.as_raw_fd()),
        // Locks on pipes, devices and kernel files guard nothing another
        // process could see; Linux grants them, and so does umvm.
        _ => Err(Errno::ENOLCK),
    }
}

/// `flock(fd, operation)`.
pub fn flock(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    let op = ctx.int(1);
    let nb = op & libc::LOCK_NB != 0;
    if !matches!(op & !libc::LOCK_NB, libc::LOCK_SH | libc::LOCK_EX | libc::LOCK_UN) {
        return Err(Errno::EINVAL);
    }
    let fd = match host_fd(&f) {
        Ok(fd) => fd,
        Err(_) => return Ok(0),
    };
    // SAFETY: plain flock on an fd umvm owns; never blocks (LOCK_NB).
    match Errno::result(unsafe { libc::flock(fd, op | libc::LOCK_NB) }) {
        Err(Errno::EAGAIN) if !nb => Err(ctx.block_until(Instant::now() + RETRY)),
        r => r.map(i64::from),
    }
}

/// The record-lock commands of fcntl: F_GETLK, F_SETLK, F_SETLKW and
/// their F_OFD_ forms.
pub fn fcntl_lock(ctx: &mut Ctx<'_>, f: &OpenFile, cmd: i32) -> SysResult {
    let addr = ctx.args[2];
    let mut fl: libc::flock = ctx.mem.read_val(addr)?;
    let ofd_cmd = match cmd {
        libc::F_GETLK | libc::F_OFD_GETLK => libc::F_OFD_GETLK,
        libc::F_SETLK | libc::F_OFD_SETLK => libc::F_OFD_SETLK,
        _ => libc::F_OFD_SETLKW,
    };
    match fl.l_type as i32 {
        libc::F_RDLCK if ofd_cmd != libc::F_OFD_GETLK && !f.readable() => return Err(Errno::EBADF),
        libc::F_WRLCK if ofd_cmd != libc::F_OFD_GETLK && !f.writable() => return Err(Errno::EBADF),
        libc::F_RDLCK | libc::F_WRLCK | libc::F_UNLCK => {}
        _ => return Err(Errno::EINVAL),
    }
    if !(0..=2).contains(&(fl.l_whence as i32)) {
        return Err(Errno::EINVAL);
    }
    let fd = match host_fd(f) {
        Ok(fd) => fd,
        Err(_) if ofd_cmd == libc::F_OFD_GETLK => {
            fl.l_type = libc::F_UNLCK as i16;
            ctx.mem.write_val(addr, &fl)?;
            return Ok(0);
        }
        Err(_) => return Ok(0),
    };
    // OFD locks need l_pid 0 on the way in.
    let mut host = fl;
    host.l_pid = 0;
    let hcmd = if ofd_cmd == libc::F_OFD_SETLKW { libc::F_OFD_SETLK } else { ofd_cmd };
    // SAFETY: fcntl with a flock struct that lives across the call.
    match Errno::result(unsafe { libc::fcntl(fd, hcmd, &mut host as *mut libc::flock) }) {
        Err(Errno::EAGAIN | Errno::EACCES) if ofd_cmd == libc::F_OFD_SETLKW => {
            Err(ctx.block_until(Instant::now() + RETRY))
        }
        Err(e) => Err(e),
        Ok(_) => {
            if ofd_cmd == libc::F_OFD_GETLK {
                if cmd == libc::F_GETLK && host.l_type as i32 != libc::F_UNLCK {
                    host.l_pid = -1;
                }
                ctx.mem.write_val(addr, &host)?;
            }
            Ok(0)
        }
    }
}
