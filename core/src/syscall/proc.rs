//! Process identity and control: the id getters (virtual ids: init is
//! pid 1), set_tid_address, prctl (Linux's kernel/sys.c).

use super::names::nr;
use super::Ctx;
use crate::errno::{Errno, SysResult};

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

/// With one process and no setpgid/setsid yet (Step 2), every process
/// leads its own group and session.
fn own_group(ctx: &Ctx<'_>, pid: i32) -> SysResult {
    if pid != 0 && pid != ctx.task.vpid() {
        return Err(Errno::ESRCH);
    }
    Ok(ctx.task.vpid() as i64)
}

/// `getpgrp()`.
pub fn getpgrp(ctx: &mut Ctx<'_>) -> SysResult {
    own_group(ctx, 0)
}

/// `getpgid(pid)`.
pub fn getpgid(ctx: &mut Ctx<'_>) -> SysResult {
    own_group(ctx, ctx.int(0))
}

/// `getsid(pid)`.
pub fn getsid(ctx: &mut Ctx<'_>) -> SysResult {
    own_group(ctx, ctx.int(0))
}

/// `setpgid(pid, pgid)`: a process may make itself the leader of its own
/// group, which it already is; other groups arrive with Step 2.
pub fn setpgid(ctx: &mut Ctx<'_>) -> SysResult {
    let (pid, pgid) = (ctx.int(0), ctx.int(1));
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    own_group(ctx, pid)?;
    if pgid != 0 && pgid != ctx.task.vpid() {
        return Err(Errno::EPERM);
    }
    Ok(0)
}

/// `set_tid_address(tidptr)`: the host must know the address (it clears
/// it and wakes futex waiters when the thread exits), so the call is
/// injected; the guest gets its virtual tid, never the host's.
pub fn set_tid_address(ctx: &mut Ctx<'_>) -> SysResult {
    ctx.inject(nr::SET_TID_ADDRESS, [ctx.args[0], 0, 0, 0, 0, 0])?;
    Ok(ctx.task.vtid as i64)
}

/// `prctl(option, ...)`: the options static programs use. Others are
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
            Ok(0)
        }
        libc::PR_GET_NAME => {
            ctx.mem.write(arg2, &ctx.task.comm)?;
            Ok(0)
        }
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_DUMPABLE if arg2 <= 1 => Ok(0),
        // umvm sets no_new_privs on every guest process on the host.
        libc::PR_GET_NO_NEW_PRIVS => Ok(1),
        libc::PR_SET_NO_NEW_PRIVS if arg2 == 1 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
