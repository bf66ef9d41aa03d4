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

use super::fs::directory;
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::caps::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SYS_CHROOT};
use crate::task::Creds;

/// Whether `c` (with supplementary `groups`) may search the directory
/// `st` (Linux's generic_permission for MAY_EXEC on a directory, with the
/// virtual credentials): the owner, group or other execute bit that
/// applies, or CAP_DAC_READ_SEARCH or CAP_DAC_OVERRIDE.
fn may_search(c: &Creds, groups: &[u32], st: &libc::stat) -> bool {
    if c.capable(CAP_DAC_READ_SEARCH) || c.capable(CAP_DAC_OVERRIDE) {
        return true;
    }
    let mode = st.st_mode;
    let bits = if c.fsuid == st.st_uid {
        mode >> 6
    } else if c.fsgid == st.st_gid || groups.contains(&st.st_gid) {
        mode >> 3
    } else {
        mode
    };
    bits & 1 != 0
}

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
    let (creds, groups) = {
        let ps = ctx.task.process.state();
        (ps.creds, ps.groups.clone())
    };
    if !may_search(&creds, &groups, &st) {
        return Err(Errno::EACCES);
    }
    if !creds.capable(CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    ctx.task.fs.lock().root = dir;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_permission_follows_the_bit_that_applies() {
        // SAFETY: stat is plain integers; all-zero is valid.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_mode = libc::S_IFDIR | 0o710;
        st.st_uid = 1000;
        st.st_gid = 100;
        let root = Creds::default();
        let mut user = Creds { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, ..root };
        user.caps.effective = 0;
        user.caps.permitted = 0;
        assert!(may_search(&root, &[], &st));
        assert!(may_search(&user, &[], &st));
        let other = Creds { fsuid: 2000, fsgid: 2000, ..user };
        assert!(!may_search(&other, &[], &st));
        assert!(may_search(&other, &[100], &st));
        st.st_mode = libc::S_IFDIR | 0o700;
        assert!(!may_search(&other, &[100], &st));
    }
}
