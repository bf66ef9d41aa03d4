//! Process identity and control: the id getters (virtual ids: init is
//! pid 1), set_tid_address, prctl (Linux's kernel/sys.c).

use super::names::nr;
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::caps::{self, CAP_LAST_CAP};

/// `getpid()`: the virtual process id.
pub fn getpid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.vpid() as i64)
}

/// `getppid()`: the virtual parent (0 for init).
pub fn getppid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.process.state().ppid as i64)
}

/// `gettid()`: the virtual thread id.
pub fn gettid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.vtid as i64)
}

/// `getuid()`.
pub fn getuid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.process.state().creds.uid as i64)
}

/// `geteuid()`.
pub fn geteuid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.process.state().creds.euid as i64)
}

/// `getgid()`.
pub fn getgid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.process.state().creds.gid as i64)
}

/// `getegid()`.
pub fn getegid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.process.state().creds.egid as i64)
}

fn target(ctx: &Ctx<'_>, pid: i32) -> Result<std::sync::Arc<crate::task::Process>, Errno> {
    if pid == 0 || pid == ctx.task.vpid() {
        return Ok(ctx.task.process.clone());
    }
    ctx.k.procs().process(pid).filter(|p| p.state().exit.is_none()).ok_or(Errno::ESRCH)
}

/// `getpgrp()`.
pub fn getpgrp(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(ctx.task.process.state().pgid as i64)
}

/// `getpgid(pid)`.
pub fn getpgid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(target(ctx, ctx.int(0))?.state().pgid as i64)
}

/// `getsid(pid)`.
pub fn getsid(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(target(ctx, ctx.int(0))?.state().sid as i64)
}

/// `setsid()`: a new session and group led by the caller, unless it
/// already leads a group.
pub fn setsid(ctx: &mut Ctx<'_>) -> SysResult {
    let vpid = ctx.task.vpid();
    let groups_led = ctx.k.procs().processes().any(|p| p.state().pgid == vpid);
    if groups_led {
        return Err(Errno::EPERM);
    }
    let mut st = ctx.task.process.state();
    st.sid = vpid;
    st.pgid = vpid;
    Ok(vpid as i64)
}

/// `setpgid(pid, pgid)`: the caller or one of its children joins or
/// creates a group in the caller's session.
pub fn setpgid(ctx: &mut Ctx<'_>) -> SysResult {
    let (pid, pgid) = (ctx.int(0), ctx.int(1));
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let me = ctx.task.process.clone();
    let t = if pid == 0 || pid == me.vpid {
        me.clone()
    } else {
        let t = ctx.k.procs().process(pid).ok_or(Errno::ESRCH)?;
        if t.state().ppid != me.vpid {
            return Err(Errno::ESRCH);
        }
        if t.state().did_exec {
            return Err(Errno::EACCES);
        }
        t
    };
    let my_sid = me.state().sid;
    let (t_sid, t_vpid) = (t.state().sid, t.vpid);
    if t_sid != my_sid {
        return Err(Errno::EPERM);
    }
    if t_sid == t_vpid {
        // A session leader cannot move.
        return Err(Errno::EPERM);
    }
    let pgid = if pgid == 0 { t_vpid } else { pgid };
    if pgid != t_vpid {
        let exists = ctx.k.procs().processes().any(|p| {
            let s = p.state();
            s.pgid == pgid && s.sid == my_sid && s.exit.is_none()
        });
        if !exists {
            return Err(Errno::EPERM);
        }
    }
    t.state().pgid = pgid;
    Ok(0)
}

/// `set_tid_address(tidptr)`: the host must know the address (it clears
/// it and wakes futex waiters when the thread exits), so the call is
/// injected; the guest gets its virtual tid, never the host's.
pub fn set_tid_address(ctx: &mut Ctx<'_>) -> SysResult {
    ctx.inject(nr::SET_TID_ADDRESS, [ctx.args[0], 0, 0, 0, 0, 0])?;
    Ok(ctx.task.vtid as i64)
}

/// `prctl(option, ...)`: the options static programs and libcap use. Others are
/// EINVAL, as for an option this kernel does not know.
pub fn prctl(ctx: &mut Ctx<'_>) -> SysResult {
    let arg2 = ctx.args[1];
    match ctx.int(0) {
        libc::PR_SET_NAME => {
            let mut name = [0u8; 16];
            let n = ctx.mem.read_partial(arg2, &mut name[..15])?;
            let end = name[..n].iter().position(|&b| b == 0).unwrap_or(n);
            if end == n && n < 15 {
                return Err(Errno::EFAULT);
            }
            ctx.task.comm = [0; 16];
            ctx.task.comm[..end].copy_from_slice(&name[..end]);
            if ctx.task.vtid == ctx.task.vpid() {
                ctx.task.process.state().comm = ctx.task.comm;
            }
            Ok(0)
        }
        libc::PR_GET_NAME => {
            ctx.mem.write(arg2, &ctx.task.comm)?;
            Ok(0)
        }
        // The signal sent when the parent exits: 0 or a valid signal.
        libc::PR_SET_PDEATHSIG => {
            if arg2 > crate::signal::NSIG as u64 {
                return Err(Errno::EINVAL);
            }
            ctx.task.process.state().pdeathsig = arg2 as i32;
            Ok(0)
        }
        libc::PR_GET_PDEATHSIG => {
            let sig = ctx.task.process.state().pdeathsig;
            ctx.mem.write(arg2, &sig.to_le_bytes())?;
            Ok(0)
        }
        libc::PR_SET_CHILD_SUBREAPER => {
            ctx.task.process.state().subreaper = arg2 != 0;
            Ok(0)
        }
        libc::PR_GET_CHILD_SUBREAPER => {
            let on = ctx.task.process.state().subreaper as i32;
            ctx.mem.write(arg2, &on.to_le_bytes())?;
            Ok(0)
        }
        // No seccomp filter of the guest's own (its seccomp calls are not
        // supported).
        libc::PR_GET_SECCOMP => Ok(0),
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_DUMPABLE if arg2 <= 1 => Ok(0),
        // The guest's own flag: umvm sets no_new_privs on every guest
        // process on the host, which says nothing of the guest's.
        libc::PR_GET_NO_NEW_PRIVS if ctx.args[1..5].iter().all(|&a| a == 0) => {
            Ok(ctx.task.process.state().creds.no_new_privs as i64)
        }
        libc::PR_SET_NO_NEW_PRIVS if arg2 == 1 && ctx.args[2..5].iter().all(|&a| a == 0) => {
            ctx.task.process.state().creds.no_new_privs = true;
            Ok(0)
        }
        // Capabilities (task/caps.rs): the bounding set, and whether
        // leaving uid 0 keeps the permitted set.
        libc::PR_CAPBSET_READ => {
            let cap = u32::try_from(arg2).ok().filter(|&c| c <= CAP_LAST_CAP).ok_or(Errno::EINVAL)?;
            Ok(i64::from(ctx.task.process.state().creds.caps.bounding & caps::bit(cap) != 0))
        }
        libc::PR_CAPBSET_DROP => {
            let mut st = ctx.task.process.state();
            if !st.creds.capable(caps::CAP_SETPCAP) {
                return Err(Errno::EPERM);
            }
            let cap = u32::try_from(arg2).ok().filter(|&c| c <= CAP_LAST_CAP).ok_or(Errno::EINVAL)?;
            st.creds.caps.bounding &= !caps::bit(cap);
            Ok(0)
        }
        libc::PR_GET_KEEPCAPS => Ok(i64::from(ctx.task.process.state().creds.keep_caps)),
        libc::PR_SET_KEEPCAPS if arg2 <= 1 => {
            ctx.task.process.state().creds.keep_caps = arg2 == 1;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
