//! Discretionary access control with the guest's virtual credentials, as
//! Linux's fs/namei.c (generic_permission, may_open, may_create,
//! may_delete, check_sticky) and fs/attr.c (setattr_prepare, chown_ok,
//! chgrp_ok) decide it.
//!
//! umvm does every guest file operation on the host as itself (host root
//! in the usual setup), so the host's own checks say nothing about the
//! guest's users: the kernel asks these pure functions first. The
//! overrides are the caller's effective capabilities (task/caps.rs):
//! CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID and
//! CAP_CHOWN, which guest root holds and which follow the filesystem uid
//! as on Linux (dropped when it leaves 0).

use crate::errno::Errno;
use crate::task::caps::{bit, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID};

/// Execute (search, for a directory) permission: Linux's MAY_EXEC.
pub const MAY_EXEC: u32 = 1;
/// Write permission: MAY_WRITE.
pub const MAY_WRITE: u32 = 2;
/// Read permission: MAY_READ.
pub const MAY_READ: u32 = 4;

const S_IFMT: u32 = libc::S_IFMT;
const S_IFDIR: u32 = libc::S_IFDIR;
const S_IFREG: u32 = libc::S_IFREG;
const S_ISUID: u32 = libc::S_ISUID;
const S_ISGID: u32 = libc::S_ISGID;
const S_ISVTX: u32 = libc::S_ISVTX;
const S_IXGRP: u32 = libc::S_IXGRP;
const S_IXUGO: u32 = 0o111;

/// The capabilities these checks consult (`caps::bit` masks).
pub const DAC_CAPS: u64 =
    bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_DAC_READ_SEARCH) | bit(CAP_FOWNER) | bit(CAP_FSETID);

/// Who asks: the ids a check is made with (the filesystem ids, or the
/// real ones for access(2)), the supplementary groups and the effective
/// capabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    /// The user id checked against owners.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The effective capability set (`caps::bit` masks; only
    /// [`DAC_CAPS`] matter here).
    pub caps: u64,
}

impl Who {
    /// Root with every override, as the host kernel treats umvm (host
    /// root) itself.
    pub fn root(gid: u32) -> Who {
        Who { uid: 0, gid, groups: Vec::new(), caps: DAC_CAPS }
    }

    /// Whether capability `cap` (`caps::CAP_*`) is effective: Linux's
    /// capable_wrt_inode_uidgid (every id is mapped here).
    pub fn capable(&self, cap: u32) -> bool {
        self.caps & bit(cap) != 0
    }

    /// Whether every override is effective: no check can refuse.
    pub fn overrides_all(&self) -> bool {
        self.caps & DAC_CAPS == DAC_CAPS
    }

    /// Linux's in_group_p: `gid` is the primary group or a supplementary one.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Linux's inode_owner_or_capable: the owner, or CAP_FOWNER.
    pub fn owns(&self, a: &Attr) -> bool {
        self.uid == a.uid || self.capable(CAP_FOWNER)
    }

    /// Linux's in_group_or_capable: in `gid`, or CAP_FSETID.
    fn in_group_or_fsetid(&self, gid: u32) -> bool {
        self.in_group(gid) || self.capable(CAP_FSETID)
    }
}

/// What the checks look at in an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl From<&libc::stat> for Attr {
    fn from(st: &libc::stat) -> Attr {
        Attr { mode: st.st_mode, uid: st.st_uid, gid: st.st_gid }
    }
}

impl Attr {
    fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    fn is_reg(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// Linux's generic_permission: may `who` access `a` for `mask` (MAY_*
/// bits)? The owner class is chosen by uid, then the group class by the
/// primary and supplementary groups, else the other class; a class that
/// refuses is final (an owner without a bit the group has is refused).
/// Then the capabilities: a directory may be read and searched with
/// CAP_DAC_READ_SEARCH, and written too with CAP_DAC_OVERRIDE; another
/// file may be read with CAP_DAC_READ_SEARCH, and with CAP_DAC_OVERRIDE
/// read and written, and executed when some execute bit is set. EACCES
/// otherwise.
pub fn permission(a: &Attr, who: &Who, mask: u32) -> Result<(), Errno> {
    let mask = mask & (MAY_READ | MAY_WRITE | MAY_EXEC);
    let class = if who.uid == a.uid {
        a.mode >> 6
    } else if who.in_group(a.gid) {
        a.mode >> 3
    } else {
        a.mode
    };
    if class & mask & 7 == mask {
        return Ok(());
    }
    if a.is_dir() {
        if mask & MAY_WRITE == 0 && who.capable(CAP_DAC_READ_SEARCH) {
            return Ok(());
        }
        return if who.capable(CAP_DAC_OVERRIDE) { Ok(()) } else { Err(Errno::EACCES) };
    }
    if mask == MAY_READ && who.capable(CAP_DAC_READ_SEARCH) {
        return Ok(());
    }
    if (mask & MAY_EXEC == 0 || a.mode & S_IXUGO != 0) && who.capable(CAP_DAC_OVERRIDE) {
        return Ok(());
    }
    Err(Errno::EACCES)
}

/// Linux's may_create: write and search permission on the directory the
/// new name goes in (the caller has made sure the name is free: EEXIST
/// comes first).
pub fn may_create(dir: &Attr, who: &Who) -> Result<(), Errno> {
    permission(dir, who, MAY_WRITE | MAY_EXEC)
}

/// Linux's check_sticky: in a sticky directory only the file's owner, the
/// directory's owner or CAP_FOWNER may remove or rename a name.
pub fn sticky_forbids(dir: &Attr, victim: &Attr, who: &Who) -> bool {
    dir.mode & S_ISVTX != 0 && who.uid != victim.uid && who.uid != dir.uid && !who.capable(CAP_FOWNER)
}

/// Linux's may_delete (for unlink, rmdir and both ends of rename): write
/// and search permission on the directory (EACCES), then the sticky bit
/// (EPERM).
pub fn may_delete(dir: &Attr, victim: &Attr, who: &Who) -> Result<(), Errno> {
    permission(dir, who, MAY_WRITE | MAY_EXEC)?;
    if sticky_forbids(dir, victim, who) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The MAY_* bits an open with `flags` needs (Linux's build_open_flags):
/// the access mode, and write for O_TRUNC; none for O_PATH.
pub fn open_mask(flags: i32) -> u32 {
    if flags & libc::O_PATH != 0 {
        return 0;
    }
    let mut mask = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => MAY_READ,
        libc::O_WRONLY => MAY_WRITE,
        _ => MAY_READ | MAY_WRITE,
    };
    if flags & libc::O_TRUNC != 0 {
        mask |= MAY_WRITE;
    }
    mask
}

/// Linux's may_open for an existing file: a directory opened for writing
/// is EISDIR; then the permission the open needs (EACCES); O_NOATIME only
/// for the owner or CAP_FOWNER (EPERM).
pub fn may_open(a: &Attr, who: &Who, flags: i32) -> Result<(), Errno> {
    let mask = open_mask(flags);
    if mask == 0 {
        return Ok(());
    }
    if a.is_dir() && mask & MAY_WRITE != 0 {
        return Err(Errno::EISDIR);
    }
    permission(a, who, mask)?;
    if flags & libc::O_NOATIME != 0 && !who.owns(a) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// setattr_prepare for ATTR_MODE: only the owner or CAP_FOWNER may chmod
/// (EPERM). Returns the mode bits to set: S_ISGID is dropped when the
/// file's group is not the caller's and it lacks CAP_FSETID.
pub fn chmod(a: &Attr, who: &Who, mode: u32) -> Result<u32, Errno> {
    if !who.owns(a) {
        return Err(Errno::EPERM);
    }
    let mut mode = mode & 0o7777;
    if !who.in_group_or_fsetid(a.gid) {
        mode &= !S_ISGID;
    }
    Ok(mode)
}

/// setattr_prepare's chown_ok and chgrp_ok (`None`: unchanged, as -1 in
/// chown(2)). Only CAP_CHOWN changes the owner (the owner may "change" it
/// to itself); the owner may change the group to one of its own groups.
/// EPERM otherwise.
pub fn chown(a: &Attr, who: &Who, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
    if who.capable(CAP_CHOWN) {
        return Ok(());
    }
    if uid.is_some_and(|u| !(who.uid == a.uid && u == a.uid)) {
        return Err(Errno::EPERM);
    }
    if gid.is_some_and(|g| !(who.uid == a.uid && (g == a.gid || who.in_group(g)))) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The mode a chown leaves (notify_change's ATTR_KILL_SUID and
/// setattr_should_drop_sgid): a file that is not a directory loses
/// S_ISUID, and S_ISGID when group-executable, or when the caller is not
/// in its group and lacks CAP_FSETID.
pub fn mode_after_chown(a: &Attr, who: &Who) -> u32 {
    let mut mode = a.mode;
    if !a.is_dir() {
        mode &= !S_ISUID;
        if mode & S_ISGID != 0 && (mode & S_IXGRP != 0 || !who.in_group_or_fsetid(a.gid)) {
            mode &= !S_ISGID;
        }
    }
    mode
}

/// How utimensat sets times (fs/utimes.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// NULL, or both UTIME_NOW (ATTR_TOUCH).
    Now,
    /// At least one explicit time (ATTR_TIMES_SET).
    Explicit,
    /// Only UTIME_NOW and UTIME_OMIT, not both now: Linux checks nothing.
    Other,
}

/// may_setattr and setattr_prepare for utimensat: explicit times need
/// the owner or CAP_FOWNER (EPERM); "now" needs that or write permission
/// (EACCES).
pub fn utimes(a: &Attr, who: &Who, times: Times) -> Result<(), Errno> {
    match times {
        Times::Explicit if !who.owns(a) => Err(Errno::EPERM),
        Times::Now if !who.owns(a) => permission(a, who, MAY_WRITE),
        _ => Ok(()),
    }
}

/// Linux's inode_init_owner and mode_strip_sgid: a new inode belongs to
/// the creator's fsuid, and to its fsgid, or the directory's group when
/// the directory is setgid, where a new directory inherits S_ISGID and
/// a new group-executable setgid file keeps S_ISGID only when the creator
/// is in that group or holds CAP_FSETID. `mode` has the file type.
/// Returns the owner, the group and the mode.
pub fn new_inode(dir: &Attr, who: &Who, mode: u32) -> (u32, u32, u32) {
    let mut mode = mode;
    if dir.mode & S_ISGID == 0 {
        return (who.uid, who.gid, mode);
    }
    if mode & S_IFMT == S_IFDIR {
        mode |= S_ISGID;
    } else if mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP && !who.in_group_or_fsetid(dir.gid) {
        mode &= !S_ISGID;
    }
    (who.uid, dir.gid, mode)
}

/// The MAY_* bits an access(2) mode asks for.
pub fn access_mask(mode: i32) -> u32 {
    let mut mask = 0;
    if mode & libc::R_OK != 0 {
        mask |= MAY_READ;
    }
    if mode & libc::W_OK != 0 {
        mask |= MAY_WRITE;
    }
    if mode & libc::X_OK != 0 {
        mask |= MAY_EXEC;
    }
    mask
}

/// Linux's may_open for execve (MAY_EXEC on a regular file): execute
/// permission; EACCES for anything but a regular file.
pub fn may_exec(a: &Attr, who: &Who) -> Result<(), Errno> {
    if !a.is_reg() {
        return Err(Errno::EACCES);
    }
    permission(a, who, MAY_EXEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32, uid: u32, gid: u32) -> Attr {
        Attr { mode: S_IFREG | mode, uid, gid }
    }

    fn dir(mode: u32, uid: u32, gid: u32) -> Attr {
        Attr { mode: S_IFDIR | mode, uid, gid }
    }

    /// Uid 0 with every override, anyone else with none.
    fn who(uid: u32, gid: u32, groups: &[u32]) -> Who {
        let caps = if uid == 0 { DAC_CAPS } else { 0 };
        Who { uid, gid, groups: groups.to_vec(), caps }
    }

    const ACC: Result<(), Errno> = Err(Errno::EACCES);
    const PERM: Result<(), Errno> = Err(Errno::EPERM);

    #[test]
    fn owner_group_and_other_classes() {
        let f = file(0o640, 1000, 100);
        let owner = who(1000, 1000, &[]);
        assert_eq!(permission(&f, &owner, MAY_READ | MAY_WRITE), Ok(()));
        assert_eq!(permission(&f, &owner, MAY_EXEC), ACC);
        // Primary group, then a supplementary one.
        assert_eq!(permission(&f, &who(1001, 100, &[]), MAY_READ), Ok(()));
        assert_eq!(permission(&f, &who(1001, 100, &[]), MAY_WRITE), ACC);
        assert_eq!(permission(&f, &who(1001, 5, &[7, 100]), MAY_READ), Ok(()));
        assert_eq!(permission(&f, &who(1001, 5, &[7]), MAY_READ), ACC);
        // The owner class is final, even when the others would allow.
        let g = file(0o077, 1000, 100);
        assert_eq!(permission(&g, &owner, MAY_READ), ACC);
        assert_eq!(permission(&g, &who(1001, 100, &[]), MAY_READ | MAY_WRITE | MAY_EXEC), Ok(()));
        let o = file(0o607, 1000, 100);
        assert_eq!(permission(&o, &who(1001, 100, &[]), MAY_READ), ACC);
        assert_eq!(permission(&o, &who(1001, 5, &[]), MAY_READ | MAY_EXEC), Ok(()));
        // A mask of nothing is always granted.
        assert_eq!(permission(&file(0, 1, 1), &owner, 0), Ok(()));
    }

    #[test]
    fn root_overrides_all_but_exec_without_any_x_bit() {
        let root = who(0, 0, &[]);
        assert_eq!(permission(&file(0o000, 1000, 1000), &root, MAY_READ | MAY_WRITE), Ok(()));
        assert_eq!(permission(&file(0o000, 1000, 1000), &root, MAY_EXEC), ACC);
        assert_eq!(permission(&file(0o001, 1000, 1000), &root, MAY_EXEC), Ok(()));
        assert_eq!(permission(&file(0o010, 1000, 1000), &root, MAY_EXEC), Ok(()));
        assert_eq!(permission(&dir(0o000, 1000, 1000), &root, MAY_READ | MAY_WRITE | MAY_EXEC), Ok(()));
        // Root's own file: owner bits first, then the override.
        assert_eq!(permission(&file(0o000, 0, 0), &root, MAY_WRITE), Ok(()));
        // Root's gid alone gives nothing.
        assert_eq!(permission(&file(0o600, 0, 0), &who(5, 0, &[]), MAY_READ), ACC);
    }

    #[test]
    fn capabilities_not_uid_0_override() {
        let with = |caps: u64| Who { caps, ..who(1000, 1000, &[]) };
        let f = file(0o000, 1, 1);
        let d = dir(0o000, 1, 1);
        // Root without capabilities is an ordinary user (of uid 0).
        let bare_root = Who { caps: 0, ..who(0, 0, &[]) };
        assert_eq!(permission(&f, &bare_root, MAY_READ), ACC);
        assert_eq!(permission(&file(0o400, 0, 0), &bare_root, MAY_READ), Ok(()));
        // CAP_DAC_READ_SEARCH: read files, read and search directories.
        let rs = with(bit(CAP_DAC_READ_SEARCH));
        assert_eq!(permission(&f, &rs, MAY_READ), Ok(()));
        assert_eq!(permission(&f, &rs, MAY_READ | MAY_WRITE), ACC);
        assert_eq!(permission(&d, &rs, MAY_READ | MAY_EXEC), Ok(()));
        assert_eq!(permission(&d, &rs, MAY_WRITE | MAY_EXEC), ACC);
        // CAP_DAC_OVERRIDE: all but exec without any x bit.
        let ov = with(bit(CAP_DAC_OVERRIDE));
        assert_eq!(permission(&f, &ov, MAY_READ | MAY_WRITE), Ok(()));
        assert_eq!(permission(&f, &ov, MAY_EXEC), ACC);
        assert_eq!(permission(&d, &ov, MAY_WRITE | MAY_EXEC), Ok(()));
        // CAP_FOWNER, CAP_CHOWN and CAP_FSETID, each alone.
        let fowner = with(bit(CAP_FOWNER));
        assert_eq!(chmod(&f, &fowner, 0o2755), Ok(0o755));
        assert_eq!(chmod(&f, &with(bit(CAP_FOWNER) | bit(CAP_FSETID)), 0o2755), Ok(0o2755));
        assert_eq!(may_delete(&dir(0o1777, 1, 1), &f, &fowner), Ok(()));
        assert_eq!(chown(&f, &fowner, Some(5), None), PERM);
        assert_eq!(chown(&f, &with(bit(CAP_CHOWN)), Some(5), Some(6)), Ok(()));
        assert!(!with(DAC_CAPS & !bit(CAP_FSETID)).overrides_all());
        assert!(Who::root(0).overrides_all());
    }

    #[test]
    fn create_delete_and_sticky() {
        let d = dir(0o755, 0, 0);
        let user = who(1000, 1000, &[]);
        assert_eq!(may_create(&d, &user), ACC);
        assert_eq!(may_create(&dir(0o733, 0, 0), &user), Ok(()));
        assert_eq!(may_create(&dir(0o722, 0, 0), &user), ACC);
        assert_eq!(may_create(&d, &who(0, 0, &[])), Ok(()));
        let tmp = dir(0o1777, 0, 0);
        let mine = file(0o600, 1000, 1000);
        let theirs = file(0o666, 1001, 1001);
        assert_eq!(may_delete(&tmp, &mine, &user), Ok(()));
        assert_eq!(may_delete(&tmp, &theirs, &user), PERM);
        assert_eq!(may_delete(&tmp, &theirs, &who(0, 0, &[])), Ok(()));
        // The directory's owner may delete anything in it.
        assert_eq!(may_delete(&dir(0o1777, 1000, 0), &theirs, &user), Ok(()));
        assert_eq!(may_delete(&dir(0o777, 0, 0), &theirs, &user), Ok(()));
        // No write permission comes before the sticky bit.
        assert_eq!(may_delete(&dir(0o1755, 0, 0), &theirs, &user), ACC);
    }

    #[test]
    fn open_masks_and_directories() {
        let user = who(1000, 1000, &[]);
        let ro = file(0o644, 0, 0);
        assert_eq!(may_open(&ro, &user, libc::O_RDONLY), Ok(()));
        assert_eq!(may_open(&ro, &user, libc::O_WRONLY), ACC);
        assert_eq!(may_open(&ro, &user, libc::O_RDWR), ACC);
        assert_eq!(may_open(&ro, &user, libc::O_RDONLY | libc::O_TRUNC), ACC);
        assert_eq!(may_open(&file(0o000, 0, 0), &user, libc::O_PATH), Ok(()));
        assert_eq!(may_open(&dir(0o777, 0, 0), &user, libc::O_WRONLY), Err(Errno::EISDIR));
        assert_eq!(may_open(&dir(0o700, 0, 0), &user, libc::O_RDONLY), ACC);
        assert_eq!(may_open(&file(0o666, 0, 0), &user, libc::O_RDONLY | libc::O_NOATIME), PERM);
        assert_eq!(may_open(&file(0o600, 1000, 0), &user, libc::O_RDONLY | libc::O_NOATIME), Ok(()));
    }

    #[test]
    fn chmod_chown_and_utimes() {
        let user = who(1000, 1000, &[50]);
        let root = who(0, 0, &[]);
        let mine = file(0o644, 1000, 1000);
        let theirs = file(0o666, 0, 0);
        assert_eq!(chmod(&mine, &user, 0o2755), Ok(0o2755));
        assert_eq!(chmod(&theirs, &user, 0o644), Err(Errno::EPERM));
        // Not in the file's group: S_ISGID is dropped.
        assert_eq!(chmod(&file(0o644, 1000, 60), &user, 0o2755), Ok(0o755));
        assert_eq!(chmod(&file(0o644, 1000, 50), &user, 0o6755), Ok(0o6755));
        assert_eq!(chmod(&theirs, &root, 0o2755), Ok(0o2755));
        // chown: the owner keeps its uid and picks among its groups.
        assert_eq!(chown(&mine, &user, Some(1000), Some(50)), Ok(()));
        assert_eq!(chown(&mine, &user, None, Some(1000)), Ok(()));
        assert_eq!(chown(&mine, &user, Some(1001), None), PERM);
        assert_eq!(chown(&mine, &user, None, Some(60)), PERM);
        assert_eq!(chown(&theirs, &user, None, Some(1000)), PERM);
        assert_eq!(chown(&theirs, &user, None, None), Ok(()));
        assert_eq!(chown(&theirs, &root, Some(5), Some(6)), Ok(()));
        assert_eq!(mode_after_chown(&file(0o6755, 0, 0), &root), S_IFREG | 0o755);
        assert_eq!(mode_after_chown(&file(0o2745, 0, 0), &root), S_IFREG | 0o2745);
        assert_eq!(mode_after_chown(&file(0o2745, 1000, 60), &user), S_IFREG | 0o745);
        assert_eq!(mode_after_chown(&dir(0o6755, 0, 0), &root), S_IFDIR | 0o6755);
        // utimes: explicit times by the owner only, "now" with write.
        assert_eq!(utimes(&theirs, &user, Times::Explicit), PERM);
        assert_eq!(utimes(&theirs, &user, Times::Now), Ok(()));
        assert_eq!(utimes(&file(0o644, 0, 0), &user, Times::Now), ACC);
        assert_eq!(utimes(&file(0o644, 0, 0), &user, Times::Other), Ok(()));
        assert_eq!(utimes(&file(0o000, 1000, 0), &user, Times::Explicit), Ok(()));
        assert_eq!(utimes(&file(0o000, 1, 1), &root, Times::Explicit), Ok(()));
    }

    #[test]
    fn new_inodes_and_setgid_directories() {
        let user = who(1000, 1000, &[]);
        assert_eq!(new_inode(&dir(0o777, 0, 0), &user, S_IFREG | 0o644), (1000, 1000, S_IFREG | 0o644));
        let sg = dir(0o2777, 0, 50);
        assert_eq!(new_inode(&sg, &user, S_IFREG | 0o644), (1000, 50, S_IFREG | 0o644));
        assert_eq!(new_inode(&sg, &user, S_IFDIR | 0o755), (1000, 50, S_IFDIR | 0o2755));
        assert_eq!(new_inode(&sg, &user, S_IFREG | 0o2755), (1000, 50, S_IFREG | 0o755));
        assert_eq!(new_inode(&sg, &who(1000, 1000, &[50]), S_IFREG | 0o2755), (1000, 50, S_IFREG | 0o2755));
    }

    #[test]
    fn exec_and_access_masks() {
        let user = who(1000, 1000, &[]);
        assert_eq!(may_exec(&file(0o755, 0, 0), &user), Ok(()));
        assert_eq!(may_exec(&file(0o744, 0, 0), &user), ACC);
        assert_eq!(may_exec(&dir(0o755, 0, 0), &user), ACC);
        assert_eq!(may_exec(&file(0o100, 1, 1), &who(0, 0, &[])), Ok(()));
        assert_eq!(access_mask(libc::R_OK | libc::X_OK), MAY_READ | MAY_EXEC);
        assert_eq!(access_mask(libc::F_OK), 0);
        assert_eq!(open_mask(libc::O_WRONLY | libc::O_TRUNC), MAY_WRITE);
    }
}
