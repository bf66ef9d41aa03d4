//! Discretionary access control for the guest's file syscalls: the
//! decisions of fs/perm.rs applied with the caller's virtual credentials,
//! and the ownership of the files a guest creates.
//!
//! A caller whose effective capabilities hold every override (guest root,
//! with fsuid 0) is not checked, and the path walk keeps its fast path.
//! Other callers are checked as Linux checks them, their effective
//! capabilities included; see fs/perm.rs. (The filesystem capabilities
//! leave the effective set when the fsuid leaves 0: task/caps.rs.)
//!
//! New files belong to the creator's fsuid and fsgid (or the setgid
//! parent's group): umvm creates them on the host as itself, then chowns
//! them when the owner differs. When umvm is not host root it cannot
//! chown, and new files keep umvm's host ids, as they always did.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::OnceLock;

use super::Ctx;
use crate::errno::Errno;
use crate::fs::hostfs;
use crate::fs::path::Lookup;
use crate::fs::perm::{self, Attr, Who};

/// The caller's filesystem ids, groups and effective capabilities, what
/// file checks use; None when those capabilities override every check.
pub fn fs_who(ctx: &Ctx<'_>) -> Option<Who> {
    let st = ctx.task.process.state();
    let c = st.creds;
    let w = Who { uid: c.fsuid, gid: c.fsgid, groups: st.groups.clone(), caps: c.caps.effective };
    (!w.overrides_all()).then_some(w)
}

/// The ids access(2) checks with: the real ones, or with `AT_EACCESS` the
/// effective ones; with Linux's do_faccessat, the capabilities are the
/// permitted set for a real uid 0 and none for anyone else. None when
/// they override every check.
pub fn access_who(ctx: &Ctx<'_>, eaccess: bool) -> Option<Who> {
    let st = ctx.task.process.state();
    let c = st.creds;
    let (uid, gid) = if eaccess { (c.euid, c.egid) } else { (c.uid, c.gid) };
    let caps = if c.uid == 0 { c.caps.permitted } else { 0 };
    let w = Who { uid, gid, groups: st.groups.clone(), caps };
    (!w.overrides_all()).then_some(w)
}

/// umvm's host uid and gid, when it is host root and can give files away.
fn host_ids() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    // SAFETY: geteuid and getegid have no preconditions.
    *IDS.get_or_init(|| unsafe { (libc::geteuid() == 0).then(|| (0, libc::getegid())) })
}

/// The creator of new files, when their host owner needs fixing: None for
/// fsuid 0 and fsgid 0 (the host's own ids), or when umvm cannot chown.
fn creator(ctx: &Ctx<'_>) -> Option<Who> {
    let (huid, hgid) = host_ids()?;
    let st = ctx.task.process.state();
    let c = st.creds;
    let w = Who { uid: c.fsuid, gid: c.fsgid, groups: st.groups.clone(), caps: c.caps.effective };
    ((c.fsuid, c.fsgid) != (huid, hgid)).then_some(w)
}

/// Linux's may_create for the final name of `l`: EEXIST when the name is
/// taken, else write and search permission on its directory.
pub fn may_create(who: Option<&Who>, l: &Lookup) -> Result<(), Errno> {
    let Some(w) = who else { return Ok(()) };
    match perm::may_create(&l.parent_attr()?, w) {
        // The taken name comes first (checked only on refusal).
        Err(e) if l.lstat().is_ok() => Err(if e == Errno::EACCES { Errno::EEXIST } else { e }),
        r => r,
    }
}

/// Linux's may_delete for the final name of `l` (unlink, rmdir, rename):
/// ENOENT, EACCES without write and search permission on the directory,
/// EPERM in a sticky directory.
pub fn may_delete(who: Option<&Who>, l: &Lookup) -> Result<(), Errno> {
    let Some(w) = who else { return Ok(()) };
    let victim = l.lstat()?;
    perm::may_delete(&l.parent_attr()?, &Attr::from(&victim), w)
}

/// Gives a file the caller just created at `l` (through `fd` when open,
/// else by name) its Linux owner, group and mode (see [`perm::new_inode`]);
/// `mode` is the type and the permission bits it was created with. A
/// failure leaves the host's owner: the file exists either way.
pub fn own_new(ctx: &Ctx<'_>, l: &Lookup, fd: Option<BorrowedFd<'_>>, mode: u32) {
    let Some(w) = creator(ctx) else { return };
    let Ok(dir) = l.parent_attr() else { return };
    let (uid, gid, want) = perm::new_inode(&dir, &w, mode);
    // What the host made: umvm's ids, or the setgid directory's group.
    let Some((huid, hgid)) = host_ids() else { return };
    let (_, host_gid, host_mode) = perm::new_inode(&dir, &Who { uid: huid, ..Who::root(hgid) }, mode);
    let name = l.name.as_ptr();
    let (dfd, nofollow) = (l.dir.as_raw_fd(), libc::AT_SYMLINK_NOFOLLOW);
    if (uid, gid) != (huid, host_gid) {
        // SAFETY: plain fchown/fchownat on an open fd and a C string.
        let r = unsafe {
            match fd {
                Some(fd) => libc::fchown(fd.as_raw_fd(), uid, gid),
                None => libc::fchownat(dfd, name, uid, gid, nofollow),
            }
        };
        if r != 0 {
            tracing::debug!("chown of a new file to {uid}:{gid}: {:?}", Errno::last());
            return;
        }
    }
    // The host's chown dropped S_ISUID (and group-executable S_ISGID),
    // or the creator may not keep S_ISGID: set what Linux leaves.
    let chowned = (uid, gid) != (huid, host_gid) && mode & libc::S_IFMT != libc::S_IFDIR;
    if mode & libc::S_IFMT != libc::S_IFLNK && (want != host_mode || (chowned && want & 0o6000 != 0)) {
        // SAFETY: as above.
        unsafe {
            match fd {
                Some(fd) => libc::fchmod(fd.as_raw_fd(), want & 0o7777),
                // fchmodat2 with AT_SYMLINK_NOFOLLOW: never follows a
                // symlink swapped in since.
                None => libc::syscall(452, dfd, name, want & 0o7777, nofollow) as i32,
            };
        }
    }
}

/// The stat of an open host file, for the checks on fd syscalls.
pub fn fd_attr(fd: BorrowedFd<'_>) -> Result<Attr, Errno> {
    Ok(Attr::from(&hostfs::fstat(fd.as_fd())?))
}
