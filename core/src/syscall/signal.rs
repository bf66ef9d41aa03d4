//! Signal syscalls the kernel must see (Linux's kernel/signal.c): kill and
//! friends (every asynchronous signal comes from umvm, with virtual ids)
//! and rt_sigaction (its dispositions decide what interrupts a blocked
//! syscall and what restarts). Masks, frames and sigreturn stay native.

use super::names::nr;
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::signal::{send, SigAction, SigInfoFix, NSIG};

fn check_sig(sig: i32) -> Result<i32, Errno> {
    if !(0..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    Ok(sig)
}

/// `rt_sigaction(sig, act, oldact, sigsetsize)`: the host installs it (it
/// builds the frames); the kernel records it.
pub fn rt_sigaction(ctx: &mut Ctx<'_>) -> SysResult {
    let (sig, act, size) = (ctx.int(0), ctx.args[1], ctx.args[3]);
    if size != 8 || !(1..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let new = if act != 0 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(Errno::EINVAL);
        }
        let w: [u64; 4] = ctx.mem.read_val(act)?;
        Some(SigAction { handler: w[0], flags: w[1], restorer: w[2], mask: w[3] })
    } else {
        None
    };
    let r = ctx.inject(nr::RT_SIGACTION, ctx.args)?;
    if r < 0 {
        return Err(Errno(-r as i32));
    }
    if let Some(a) = new {
        ctx.task.process.sighand.lock().set(sig, a);
    }
    Ok(0)
}

fn sender(ctx: &Ctx<'_>, code: i32) -> SigInfoFix {
    SigInfoFix { code, pid: ctx.task.vpid(), uid: ctx.task.process.state().creds.uid, status: 0 }
}

/// Init only receives the signals it has a handler for (Linux protects a
/// pid namespace's init from the rest, SIGKILL included).
fn init_accepts(p: &crate::task::Process, sig: i32) -> bool {
    p.vpid != 1 || p.sighand.lock().has_handler(sig)
}

/// `kill(pid, sig)`: a process, the caller's group (0), every process but
/// init and the caller (-1), or a group (-pgid).
pub fn kill(ctx: &mut Ctx<'_>) -> SysResult {
    let (pid, sig) = (ctx.int(0), check_sig(ctx.int(1))?);
    let fix = sender(ctx, libc::SI_USER);
    let me = ctx.task.vpid();
    let targets: Vec<_> = {
        let procs = ctx.k.procs();
        let my_pgid = ctx.task.process.state().pgid;
        procs
            .processes()
            .filter(|p| match pid {
                p0 if p0 > 0 => p.vpid == p0,
                0 => p.state().pgid == my_pgid,
                -1 => p.vpid != 1 && p.vpid != me,
                g => p.state().pgid == -g,
            })
            .cloned()
            .collect()
    };
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    for p in targets {
        if init_accepts(&p, sig) {
            send::to_process(ctx.k, &p, sig, fix);
        }
    }
    Ok(0)
}

/// `tkill(tid, sig)`.
pub fn tkill(ctx: &mut Ctx<'_>) -> SysResult {
    let (tid, sig) = (ctx.int(0), check_sig(ctx.int(1))?);
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    to_thread(ctx, None, tid, sig)
}

/// `tgkill(tgid, tid, sig)`.
pub fn tgkill(ctx: &mut Ctx<'_>) -> SysResult {
    let (tgid, tid, sig) = (ctx.int(0), ctx.int(1), check_sig(ctx.int(2))?);
    if tid <= 0 || tgid <= 0 {
        return Err(Errno::EINVAL);
    }
    to_thread(ctx, Some(tgid), tid, sig)
}

fn to_thread(ctx: &mut Ctx<'_>, tgid: Option<i32>, tid: i32, sig: i32) -> SysResult {
    let fix = sender(ctx, libc::SI_TKILL);
    let owner = ctx.k.procs().processes().find(|p| p.state().threads.contains(&tid)).cloned();
    let owner = owner.ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != owner.vpid) {
        return Err(Errno::ESRCH);
    }
    if sig == 0 || !init_accepts(&owner, sig) || owner.sighand.lock().is_ignored(sig) {
        return Ok(0);
    }
    send::to_thread(ctx.k, tid, sig, fix)?;
    Ok(0)
}
