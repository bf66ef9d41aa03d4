//! Setting user and group ids and capabilities (Linux's kernel/sys.c,
//! kernel/groups.c and kernel/capability.c).
//!
//! Credentials are virtual: guest root holds every capability inside the
//! guest (task/caps.rs) and nothing on the host. Without CAP_SETUID
//! (CAP_SETGID), a process may only move among its real, effective and
//! saved ids. The filesystem id follows the effective one unless setfsuid
//! moved it. A change of user ids adjusts the capability sets as Linux's
//! cap_task_fix_setuid does.

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::caps::{CapSets, CAP_FULL, CAP_SETGID, CAP_SETUID};
use crate::task::{Creds, Process};

/// Linux's NGROUPS_MAX.
pub const NGROUPS_MAX: usize = 65536;

/// An id argument: -1 (as a 32-bit value) leaves the id unchanged.
fn id(v: u64) -> Option<u32> {
    let v = v as u32;
    (v != u32::MAX).then_some(v)
}

/// Applies `f` to the caller's credentials; EPERM when it refuses. The
/// capability sets follow the user ids' change (CapSets::after_setuid).
fn change(ctx: &Ctx<'_>, f: impl FnOnce(&mut Creds) -> Result<(), Errno>) -> SysResult {
    let mut st = ctx.task.process.state();
    let old = st.creds;
    let mut c = old;
    f(&mut c)?;
    c.caps = c.caps.after_setuid([old.uid, old.euid, old.suid], [c.uid, c.euid, c.suid], old.keep_caps);
    st.creds = c;
    Ok(0)
}

/// `setuid(uid)`: with CAP_SETUID sets all four ids; others may set the
/// effective id to the real or saved one. Leaving uid 0 drops the
/// capabilities (CapSets::after_setuid).
pub fn setuid(ctx: &mut Ctx<'_>) -> SysResult {
    let uid = id(ctx.args[0]).ok_or(Errno::EINVAL)?;
    change(ctx, |c| {
        if c.capable(CAP_SETUID) {
            (c.uid, c.suid) = (uid, uid);
        } else if uid != c.uid && uid != c.suid {
            return Err(Errno::EPERM);
        }
        (c.euid, c.fsuid) = (uid, uid);
        Ok(())
    })
}

/// `setgid(gid)`.
pub fn setgid(ctx: &mut Ctx<'_>) -> SysResult {
    let gid = id(ctx.args[0]).ok_or(Errno::EINVAL)?;
    change(ctx, |c| {
        if c.capable(CAP_SETGID) {
            (c.gid, c.sgid) = (gid, gid);
        } else if gid != c.gid && gid != c.sgid {
            return Err(Errno::EPERM);
        }
        (c.egid, c.fsgid) = (gid, gid);
        Ok(())
    })
}

/// `setreuid(ruid, euid)`: the saved id becomes the new effective one when
/// the real id is set or the effective one moves away from the real one.
pub fn setreuid(ctx: &mut Ctx<'_>) -> SysResult {
    let (r, e) = (id(ctx.args[0]), id(ctx.args[1]));
    change(ctx, |c| {
        let root = c.capable(CAP_SETUID);
        if r.is_some_and(|r| !root && r != c.uid && r != c.euid)
            || e.is_some_and(|e| !root && e != c.uid && e != c.euid && e != c.suid)
        {
            return Err(Errno::EPERM);
        }
        let old_uid = c.uid;
        if let Some(r) = r {
            c.uid = r;
        }
        if let Some(e) = e {
            c.euid = e;
        }
        if r.is_some() || e.is_some_and(|e| e != old_uid) {
            c.suid = c.euid;
        }
        c.fsuid = c.euid;
        Ok(())
    })
}

/// `setregid(rgid, egid)`.
pub fn setregid(ctx: &mut Ctx<'_>) -> SysResult {
    let (r, e) = (id(ctx.args[0]), id(ctx.args[1]));
    change(ctx, |c| {
        let root = c.capable(CAP_SETGID);
        if r.is_some_and(|r| !root && r != c.gid && r != c.egid)
            || e.is_some_and(|e| !root && e != c.gid && e != c.egid && e != c.sgid)
        {
            return Err(Errno::EPERM);
        }
        let old_gid = c.gid;
        if let Some(r) = r {
            c.gid = r;
        }
        if let Some(e) = e {
            c.egid = e;
        }
        if r.is_some() || e.is_some_and(|e| e != old_gid) {
            c.sgid = c.egid;
        }
        c.fsgid = c.egid;
        Ok(())
    })
}

/// `setresuid(ruid, euid, suid)`: without privilege each new id must be
/// one of the current three.
pub fn setresuid(ctx: &mut Ctx<'_>) -> SysResult {
    let ids = [id(ctx.args[0]), id(ctx.args[1]), id(ctx.args[2])];
    change(ctx, |c| {
        let allowed = |v: u32| v == c.uid || v == c.euid || v == c.suid;
        if !c.capable(CAP_SETUID) && ids.iter().flatten().any(|&v| !allowed(v)) {
            return Err(Errno::EPERM);
        }
        if let Some(v) = ids[0] {
            c.uid = v;
        }
        if let Some(v) = ids[1] {
            c.euid = v;
        }
        if let Some(v) = ids[2] {
            c.suid = v;
        }
        c.fsuid = c.euid;
        Ok(())
    })
}

/// `setresgid(rgid, egid, sgid)`.
pub fn setresgid(ctx: &mut Ctx<'_>) -> SysResult {
    let ids = [id(ctx.args[0]), id(ctx.args[1]), id(ctx.args[2])];
    change(ctx, |c| {
        let allowed = |v: u32| v == c.gid || v == c.egid || v == c.sgid;
        if !c.capable(CAP_SETGID) && ids.iter().flatten().any(|&v| !allowed(v)) {
            return Err(Errno::EPERM);
        }
        if let Some(v) = ids[0] {
            c.gid = v;
        }
        if let Some(v) = ids[1] {
            c.egid = v;
        }
        if let Some(v) = ids[2] {
            c.sgid = v;
        }
        c.fsgid = c.egid;
        Ok(())
    })
}

fn write_three(ctx: &Ctx<'_>, v: [u32; 3]) -> SysResult {
    for (i, x) in v.iter().enumerate() {
        ctx.mem.write_val(ctx.args[i], x)?;
    }
    Ok(0)
}

/// `getresuid(&ruid, &euid, &suid)`.
pub fn getresuid(ctx: &mut Ctx<'_>) -> SysResult {
    let c = ctx.task.process.state().creds;
    write_three(ctx, [c.uid, c.euid, c.suid])
}

/// `getresgid(&rgid, &egid, &sgid)`.
pub fn getresgid(ctx: &mut Ctx<'_>) -> SysResult {
    let c = ctx.task.process.state().creds;
    write_three(ctx, [c.gid, c.egid, c.sgid])
}

/// `setfsuid(fsuid)`: returns the old filesystem id whether or not it
/// changed (Linux's odd contract). Leaving 0 drops the filesystem
/// capabilities from the effective set; returning to 0 raises them again
/// from the permitted one.
pub fn setfsuid(ctx: &mut Ctx<'_>) -> SysResult {
    let new = ctx.args[0] as u32;
    let mut st = ctx.task.process.state();
    let c = &mut st.creds;
    let old = c.fsuid;
    if new != u32::MAX && (c.capable(CAP_SETUID) || [c.uid, c.euid, c.suid, c.fsuid].contains(&new)) {
        c.fsuid = new;
        c.caps = c.caps.after_setfsuid(old, new);
    }
    Ok(old as i64)
}

/// `setfsgid(fsgid)`.
pub fn setfsgid(ctx: &mut Ctx<'_>) -> SysResult {
    let new = ctx.args[0] as u32;
    let mut st = ctx.task.process.state();
    let c = &mut st.creds;
    let old = c.fsgid;
    if new != u32::MAX && (c.capable(CAP_SETGID) || [c.gid, c.egid, c.sgid, c.fsgid].contains(&new)) {
        c.fsgid = new;
    }
    Ok(old as i64)
}

/// `getgroups(size, list)`: with size 0 the count; EINVAL when the list
/// is too small.
pub fn getgroups(ctx: &mut Ctx<'_>) -> SysResult {
    let size = ctx.int(0);
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    let groups = ctx.task.process.state().groups.clone();
    if size == 0 {
        return Ok(groups.len() as i64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    ctx.mem.write(ctx.args[1], &bytes)?;
    Ok(groups.len() as i64)
}

/// `setgroups(size, list)`: CAP_SETGID only; at most NGROUPS_MAX, kept
/// sorted as Linux keeps them.
pub fn setgroups(ctx: &mut Ctx<'_>) -> SysResult {
    let size = ctx.int(0);
    if size < 0 || size as usize > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let size = size as usize;
    if !ctx.task.process.state().creds.capable(CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let mut bytes = vec![0u8; size * 4];
    ctx.mem.read(ctx.args[1], &mut bytes)?;
    let mut groups: Vec<u32> = bytes.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().expect("4"))).collect();
    groups.sort_unstable();
    ctx.task.process.state().groups = groups;
    Ok(0)
}

/// `_LINUX_CAPABILITY_VERSION_1`: one 32-bit word per set.
pub const CAP_VERSION_1: u32 = 0x1998_0330;
/// `_LINUX_CAPABILITY_VERSION_2` (deprecated, same layout as 3).
pub const CAP_VERSION_2: u32 = 0x2007_1026;
/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set; the version
/// the kernel prefers.
pub const CAP_VERSION_3: u32 = 0x2008_0522;

/// Reads the version of a capget/capset header (`{u32 version; int pid}`)
/// and returns how many `{effective, permitted, inheritable}` records its
/// data holds: 1 for version 1, 2 for versions 2 and 3. An unknown
/// version is EINVAL, after the preferred version is written back into
/// the header (Linux's cap_validate_magic; EFAULT when it cannot be).
fn cap_records(ctx: &Ctx<'_>, header: u64) -> Result<usize, Errno> {
    match ctx.mem.read_val::<u32>(header)? {
        CAP_VERSION_1 => Ok(1),
        CAP_VERSION_2 | CAP_VERSION_3 => Ok(2),
        _ => {
            ctx.mem.write_val(header, &CAP_VERSION_3)?;
            Err(Errno::EINVAL)
        }
    }
}

/// The process whose capabilities a capget/capset header's pid names: 0
/// or the caller's own thread id is the caller; otherwise a virtual pid
/// or tid (ESRCH when there is none).
fn cap_target(ctx: &Ctx<'_>, pid: i32) -> Result<std::sync::Arc<Process>, Errno> {
    if pid == 0 || pid == ctx.task.vtid {
        return Ok(ctx.task.process.clone());
    }
    if let Some(p) = ctx.k.procs().process(pid) {
        return Ok(p);
    }
    // Each process's state is locked with the table released.
    let all: Vec<std::sync::Arc<Process>> = ctx.k.procs().processes().cloned().collect();
    all.into_iter().find(|p| p.state().threads.contains(&pid)).ok_or(Errno::ESRCH)
}

/// `capget(header, data)`: the effective, permitted and inheritable sets
/// of the process the header's pid names, as `{u32 effective, permitted,
/// inheritable}` records (low words first; version 1 gets the low words
/// only).
///
/// A bad version writes the preferred one into the header and is EINVAL,
/// except that with a NULL `data` it is a successful query of that
/// version (what libcap does first). A NULL `data` with a good version
/// also succeeds, reading nothing else. A negative pid is EINVAL.
pub fn capget(ctx: &mut Ctx<'_>) -> SysResult {
    let (header, data) = (ctx.args[0], ctx.args[1]);
    let records = match cap_records(ctx, header) {
        Err(Errno::EINVAL) if data == 0 => return Ok(0),
        r => r?,
    };
    if data == 0 {
        return Ok(0);
    }
    let pid: i32 = ctx.mem.read_val(header + 4)?;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let caps = cap_target(ctx, pid)?.state().creds.caps;
    let mut out = Vec::with_capacity(records * 12);
    for word in 0..records {
        for set in [caps.effective, caps.permitted, caps.inheritable] {
            out.extend_from_slice(&((set >> (32 * word)) as u32).to_ne_bytes());
        }
    }
    ctx.mem.write(data, &out)?;
    Ok(0)
}

/// `capset(header, data)`: sets the caller's effective, permitted and
/// inheritable sets (records as capget writes them; version 1 sets the
/// low words and clears the rest). Only the caller itself may be named
/// (pid 0 or its own tid; else EPERM). The new permitted set must lie
/// within the old one, the effective set within the new permitted one,
/// and the inheritable set within the old inheritable and permitted sets
/// (unless CAP_SETPCAP) and the bounding set: else EPERM. Bits past
/// CAP_LAST_CAP are ignored.
pub fn capset(ctx: &mut Ctx<'_>) -> SysResult {
    let (header, data) = (ctx.args[0], ctx.args[1]);
    let records = cap_records(ctx, header)?;
    let pid: i32 = ctx.mem.read_val(header + 4)?;
    if pid != 0 && pid != ctx.task.vtid {
        return Err(Errno::EPERM);
    }
    let mut raw = [0u8; 24];
    ctx.mem.read(data, &mut raw[..records * 12])?;
    let word = |record: usize, set: usize| {
        let at = record * 12 + set * 4;
        u64::from(u32::from_ne_bytes(raw[at..at + 4].try_into().expect("4 bytes")))
    };
    let set = |i: usize| (word(0, i) | (word(1, i) << 32)) & CAP_FULL;
    let mut st = ctx.task.process.state();
    let new = st.creds.caps.capset(set(0), set(1), set(2)).ok_or(Errno::EPERM)?;
    st.creds.caps = new;
    Ok(0)
}

/// The capability sets a process keeps across execve (CapSets::after_exec),
/// with Linux's other credential changes at exec: the saved and
/// filesystem ids become the effective ones, and PR_SET_KEEPCAPS is
/// cleared.
pub fn on_exec(c: &mut Creds) {
    c.caps = c.caps.after_exec(c.uid, c.euid);
    (c.suid, c.fsuid) = (c.euid, c.euid);
    (c.sgid, c.fsgid) = (c.egid, c.egid);
    c.keep_caps = false;
}

/// The capability sets as /proc/PID/status shows them.
pub fn status_lines(caps: &CapSets) -> String {
    format!(
        "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t{:016x}\n",
        caps.inheritable, caps.permitted, caps.effective, caps.bounding, 0
    )
}
