//! Setting user and group ids (Linux's kernel/sys.c and kernel/groups.c).
//!
//! Credentials are virtual: guest root (euid 0) holds CAP_SETUID and
//! CAP_SETGID inside the guest and nothing on the host. Without them, a
//! process may only move among its real, effective and saved ids. The
//! filesystem id follows the effective one unless setfsuid moved it.

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::Creds;

/// Linux's NGROUPS_MAX.
pub const NGROUPS_MAX: usize = 65536;

/// An id argument: -1 (as a 32-bit value) leaves the id unchanged.
fn id(v: u64) -> Option<u32> {
    let v = v as u32;
    (v != u32::MAX).then_some(v)
}

/// Applies `f` to the caller's credentials; EPERM when it refuses.
fn change(ctx: &Ctx<'_>, f: impl FnOnce(&mut Creds) -> Result<(), Errno>) -> SysResult {
    let mut st = ctx.task.process.state();
    let mut c = st.creds;
    f(&mut c)?;
    st.creds = c;
    Ok(0)
}

/// `setuid(uid)`: root sets all four ids; others may set the effective
/// id to the real or saved one.
pub fn setuid(ctx: &mut Ctx<'_>) -> SysResult {
    let uid = id(ctx.args[0]).ok_or(Errno::EINVAL)?;
    change(ctx, |c| {
        if c.euid == 0 {
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
        if c.euid == 0 {
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
        let root = c.euid == 0;
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
        let root = c.euid == 0;
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
        if c.euid != 0 && ids.iter().flatten().any(|&v| !allowed(v)) {
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
        if c.euid != 0 && ids.iter().flatten().any(|&v| !allowed(v)) {
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
/// changed (Linux's odd contract).
pub fn setfsuid(ctx: &mut Ctx<'_>) -> SysResult {
    let new = ctx.args[0] as u32;
    let mut st = ctx.task.process.state();
    let c = &mut st.creds;
    let old = c.fsuid;
    if c.euid == 0 || [c.uid, c.euid, c.suid, c.fsuid].contains(&new) {
        c.fsuid = new;
    }
    Ok(old as i64)
}

/// `setfsgid(fsgid)`.
pub fn setfsgid(ctx: &mut Ctx<'_>) -> SysResult {
    let new = ctx.args[0] as u32;
    let mut st = ctx.task.process.state();
    let c = &mut st.creds;
    let old = c.fsgid;
    if c.euid == 0 || [c.gid, c.egid, c.sgid, c.fsgid].contains(&new) {
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

/// `setgroups(size, list)`: root only; at most NGROUPS_MAX, kept sorted
/// as Linux keeps them.
pub fn setgroups(ctx: &mut Ctx<'_>) -> SysResult {
    let size = ctx.int(0);
    if size < 0 || size as usize > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let size = size as usize;
    if ctx.task.process.state().creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    let mut bytes = vec![0u8; size * 4];
    ctx.mem.read(ctx.args[1], &mut bytes)?;
    let mut groups: Vec<u32> = bytes.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().expect("4"))).collect();
    groups.sort_unstable();
    ctx.task.process.state().groups = groups;
    Ok(0)
}
