//! Linux capabilities (include/uapi/linux/capability.h and
//! security/commoncap.c), kept with the virtual credentials.
//!
//! Guest root starts with every capability; other users with none. The
//! sets change as Linux changes them: capset(2) within the permitted set,
//! the set*uid calls dropping them when a process leaves uid 0 (unless
//! PR_SET_KEEPCAPS), and execve granting them to root and clearing them
//! for everyone else (umvm has no file capabilities or set-user-ID
//! programs, so those are the only cases).

/// The highest capability the guest kernel knows (CAP_CHECKPOINT_RESTORE,
/// as in Linux 5.9 and later).
pub const CAP_LAST_CAP: u32 = 40;
/// Every capability.
pub const CAP_FULL: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;

/// CAP_CHOWN.
pub const CAP_CHOWN: u32 = 0;
/// CAP_DAC_OVERRIDE.
pub const CAP_DAC_OVERRIDE: u32 = 1;
/// CAP_DAC_READ_SEARCH.
pub const CAP_DAC_READ_SEARCH: u32 = 2;
/// CAP_FOWNER.
pub const CAP_FOWNER: u32 = 3;
/// CAP_FSETID.
pub const CAP_FSETID: u32 = 4;
/// CAP_SETGID.
pub const CAP_SETGID: u32 = 6;
/// CAP_SETUID.
pub const CAP_SETUID: u32 = 7;
/// CAP_SETPCAP.
pub const CAP_SETPCAP: u32 = 8;
/// CAP_LINUX_IMMUTABLE.
pub const CAP_LINUX_IMMUTABLE: u32 = 9;
/// CAP_NET_ADMIN (configuring interfaces and routes).
pub const CAP_NET_ADMIN: u32 = 12;
/// CAP_NET_RAW (raw sockets: ping).
pub const CAP_NET_RAW: u32 = 13;
/// CAP_SYS_CHROOT.
pub const CAP_SYS_CHROOT: u32 = 18;
/// CAP_SYS_ADMIN (mount, umount2).
pub const CAP_SYS_ADMIN: u32 = 21;
/// CAP_SYS_BOOT (reboot(2)).
pub const CAP_SYS_BOOT: u32 = 22;
/// CAP_MKNOD.
pub const CAP_MKNOD: u32 = 27;
/// CAP_MAC_OVERRIDE.
pub const CAP_MAC_OVERRIDE: u32 = 32;

/// The capabilities that follow the filesystem uid (Linux's CAP_FS_SET:
/// CAP_FS_MASK and CAP_LINUX_IMMUTABLE).
pub const CAP_FS_SET: u64 = bit(CAP_CHOWN)
    | bit(CAP_MKNOD)
    | bit(CAP_DAC_OVERRIDE)
    | bit(CAP_DAC_READ_SEARCH)
    | bit(CAP_FOWNER)
    | bit(CAP_FSETID)
    | bit(CAP_MAC_OVERRIDE)
    | bit(CAP_LINUX_IMMUTABLE);

/// The mask of capability `cap`.
pub const fn bit(cap: u32) -> u64 {
    1 << cap
}

/// A process's capability sets (struct cred's cap_*), as masks of
/// `bit(CAP_*)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapSets {
    /// What the process may use now.
    pub effective: u64,
    /// What it may make effective (and the limit of what it may keep).
    pub permitted: u64,
    /// What it may pass across execve (with file capabilities).
    pub inheritable: u64,
    /// The most it can ever gain (PR_CAPBSET_DROP narrows it).
    pub bounding: u64,
}

impl CapSets {
    /// Root's sets: everything permitted and effective.
    pub const ROOT: CapSets = CapSets { effective: CAP_FULL, permitted: CAP_FULL, inheritable: 0, bounding: CAP_FULL };

    /// Whether `cap` is effective (Linux's capable()).
    pub fn has(&self, cap: u32) -> bool {
        self.effective & bit(cap) != 0
    }

    /// The sets after a change of user ids from `old` (real, effective,
    /// saved) to `new` (Linux's cap_emulate_setxuid): leaving uid 0 in all
    /// three clears the permitted and effective sets (unless `keep_caps`);
    /// an effective uid leaving 0 clears the effective set; one becoming 0
    /// makes the permitted set effective.
    pub fn after_setuid(mut self, old: [u32; 3], new: [u32; 3], keep_caps: bool) -> CapSets {
        let (old_euid, new_euid) = (old[1], new[1]);
        if old.contains(&0) && !new.contains(&0) && !keep_caps {
            self.permitted = 0;
            self.effective = 0;
        }
        if old_euid == 0 && new_euid != 0 {
            self.effective = 0;
        }
        if old_euid != 0 && new_euid == 0 {
            self.effective = self.permitted;
        }
        self
    }

    /// The sets after the filesystem uid changes from `old` to `new`
    /// (Linux's cap_task_fix_setuid for LSM_SETID_FS): leaving 0 drops the
    /// filesystem capabilities from the effective set, returning to 0
    /// raises the permitted ones again.
    pub fn after_setfsuid(mut self, old: u32, new: u32) -> CapSets {
        if old == 0 && new != 0 {
            self.effective &= !CAP_FS_SET;
        }
        if old != 0 && new == 0 {
            self.effective |= self.permitted & CAP_FS_SET;
        }
        self
    }

    /// The sets a program starts with after execve by a process with user
    /// ids `uid` and `euid` (Linux's cap_bprm_creds_from_file, with no file
    /// capabilities and no ambient set): root gets the bounding set (and
    /// its inheritable set) permitted, and effective too when its
    /// effective uid is 0; anyone else gets nothing.
    pub fn after_exec(self, uid: u32, euid: u32) -> CapSets {
        let mut c = self;
        if uid == 0 || euid == 0 {
            c.permitted = self.bounding | self.inheritable;
        } else {
            c.permitted = 0;
        }
        c.effective = if euid == 0 { c.permitted } else { 0 };
        c
    }

    /// Checks a capset(2) request against these sets (Linux's cap_capset):
    /// the new inheritable set within the old inheritable and permitted
    /// sets (or the bounding set, with CAP_SETPCAP), the new permitted set
    /// within the old one, the new effective set within the new permitted
    /// one. None when any check fails (EPERM).
    pub fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> Option<CapSets> {
        let within = |a: u64, b: u64| a & !b == 0;
        let inh_limit = if self.has(CAP_SETPCAP) { CAP_FULL } else { self.inheritable | self.permitted };
        let ok = within(inheritable, inh_limit)
            && within(inheritable, self.inheritable | self.bounding)
            && within(permitted, self.permitted)
            && within(effective, permitted);
        ok.then_some(CapSets { effective, permitted, inheritable, bounding: self.bounding })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_every_capability_and_setuid_drops_them() {
        let root = CapSets::ROOT;
        assert_eq!(CAP_FULL, 0x1ff_ffff_ffff);
        assert!(root.has(CAP_SYS_CHROOT));
        // setuid(1000) from root: everything goes.
        let c = root.after_setuid([0, 0, 0], [1000, 1000, 1000], false);
        assert_eq!((c.effective, c.permitted), (0, 0));
        // seteuid(1000), keeping uid 0: permitted stays, effective goes,
        // and seteuid(0) brings it back.
        let c = root.after_setuid([0, 0, 0], [0, 1000, 0], false);
        assert_eq!((c.effective, c.permitted), (0, CAP_FULL));
        let c = c.after_setuid([0, 1000, 0], [0, 0, 0], false);
        assert_eq!(c.effective, CAP_FULL);
        // PR_SET_KEEPCAPS keeps the permitted set.
        let c = root.after_setuid([0, 0, 0], [1000, 1000, 1000], true);
        assert_eq!((c.effective, c.permitted), (0, CAP_FULL));
        // setfsuid(1000) drops the filesystem capabilities only.
        let c = root.after_setfsuid(0, 1000);
        assert!(!c.has(CAP_DAC_OVERRIDE) && c.has(CAP_SYS_CHROOT));
        assert_eq!(c.effective, 0x1fe_f7ff_fde0);
        assert!(c.after_setfsuid(1000, 0).has(CAP_DAC_OVERRIDE));
    }

    #[test]
    fn capset_stays_within_the_permitted_set() {
        let root = CapSets::ROOT;
        let chroot = bit(CAP_SYS_CHROOT);
        let c = root.capset(chroot, chroot, 0).unwrap();
        assert_eq!((c.effective, c.permitted, c.inheritable), (chroot, chroot, 0));
        // No way back up, nor an effective set beyond the permitted one.
        assert!(c.capset(CAP_FULL, CAP_FULL, 0).is_none());
        assert!(c.capset(bit(CAP_CHOWN), chroot, 0).is_none());
        // Without CAP_SETPCAP, inheritable only within permitted.
        assert!(c.capset(0, chroot, bit(CAP_CHOWN)).is_none());
        assert!(c.capset(0, chroot, chroot).is_some());
        // execve: root regains everything, others keep nothing.
        assert_eq!(c.after_exec(0, 0).effective, CAP_FULL);
        assert_eq!(c.after_exec(1000, 1000).permitted, 0);
    }
}
