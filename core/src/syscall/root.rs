//! chroot(2) (Linux's fs/open.c): a process's root directory.
//!
//! The root is part of the filesystem context (`FsContext`, Linux's
//! fs_struct) with the cwd: shared by CLONE_FS, copied by fork, kept
//! across execve. The path walk (fs/path.rs) starts absolute paths and
//! absolute symlink targets there and stops `..` there; getcwd, readlink
//! of procfs's links, /proc/PID/maps and /proc/PID/mount{s,info} show
//! paths from there. chroot does not move the cwd: a cwd left outside the
//! root still works, and `..` from it climbs to the namespace's `/`, as on
//! Linux.

use super::dac;
use super::fs::directory;
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::perm::{self, Attr};
use crate::task::caps::CAP_SYS_CHROOT;

/// `chroot(path)`: makes the directory `path` the caller's root directory,
/// for it and the tasks it shares its filesystem context with.
///
/// As Linux checks, in order: EFAULT for a bad pointer; the lookup's
/// errors (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES on the way);
/// EACCES without search permission on the directory; EPERM without
/// CAP_SYS_CHROOT in the effective set (guest root has it unless it
/// dropped it). The cwd does not change.
pub fn chroot(ctx: &mut Ctx<'_>) -> SysResult {
    let p = ctx.path(0)?;
    let (dir, st) = directory(ctx, &p)?;
    // Search permission with the filesystem ids, as chdir checks it
    // (CAP_DAC_READ_SEARCH or CAP_DAC_OVERRIDE override it).
    if let Some(w) = dac::fs_who(ctx) {
        perm::permission(&Attr::from(&st), &w, perm::MAY_EXEC)?;
    }
    if !ctx.task.process.state().creds.capable(CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    ctx.task.fs.lock().root = dir;
    Ok(0)
}
