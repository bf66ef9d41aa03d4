//! Signal syscalls the kernel must see (Linux's kernel/signal.c): kill and
//! friends (every asynchronous signal comes from umvm, with virtual ids)
//! and rt_sigaction (its dispositions decide what interrupts a blocked
//! syscall and what restarts). Masks, frames and sigreturn stay native.

use super::names::nr;
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::sched::Msg;
use crate::signal::{send, Delivery, SigAction, SigInfoFix, NSIG};
use crate::task::posix_timer;

fn check_sig(sig: i32) -> Result<i32, Errno> {
    if !(0..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    Ok(sig)
}

/// `rt_sigaction(sig, act, oldact, sigsetsize)`: the host installs it (it
/// builds the frames); the kernel records it.
///
/// The checks that can fail before Linux changes the disposition (size,
/// signal number, SIGKILL/SIGSTOP, reading `act`) are made here; past
/// them Linux always installs the action (a bad `oldact` fails the call
/// after the change), so the kernel records it and the host runs the call
/// as it is. A query (no `act`) runs natively under seccomp.
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
    if let Some(a) = new {
        let p = ctx.task.process.clone();
        // (One lock at a time: ignores() takes it too.)
        let was_ignored = p.sighand.lock().is_ignored(sig);
        let timer_was_ignoring = posix_timer::ignores(&p, sig);
        p.sighand.lock().set(sig, a);
        let now_ignored = p.sighand.lock().is_ignored(sig);
        if !was_ignored && now_ignored {
            flush(ctx, &p, sig);
        }
        if timer_was_ignoring && !posix_timer::ignores(&p, sig) {
            posix_timer::unignore(ctx.k, &p, sig);
        }
    }
    ctx.run_on_host()
}

/// `sig` became ignored: the host discarded it wherever it was pending in
/// the process, so each thread's loop forgets the siginfo it recorded.
fn flush(ctx: &Ctx<'_>, p: &crate::task::Process, sig: i32) {
    let threads: Vec<i32> = p.state().threads.iter().copied().collect();
    for vtid in threads {
        if let Some(at) = ctx.k.procs().thread(vtid) {
            ctx.k.post(at.loop_id, Msg::Flush { tid: at.tid, sig });
        }
    }
}

use crate::signal::send::init_accepts;

fn sender(ctx: &Ctx<'_>, code: i32) -> SigInfoFix {
    SigInfoFix {
        code,
        pid: ctx.task.vpid(),
        uid: ctx.task.process.state().creds.uid,
        status: 0,
        value: None,
        timer: None,
    }
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

/// How many dropped timer signals one rt_sigtimedwait skips before it
/// waits (and looks again when woken): a bound on the work of one call.
const MAX_DROPPED: usize = 64;

/// `rt_sigtimedwait(set, info, timeout, sigsetsize)`: the host dequeues
/// (a zero-timeout host call, so the loop never blocks), the kernel fixes
/// the siginfo to virtual ids (or, for a timer's signal, re-arms the timer
/// and reports its overruns; a signal of a timer re-armed since is
/// skipped, as Linux drops it), and waits itself when nothing is pending.
pub fn rt_sigtimedwait(ctx: &mut Ctx<'_>) -> SysResult {
    let (set, info, timeout, size) = (ctx.args[0], ctx.args[1], ctx.args[2], ctx.args[3]);
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mut r = -(libc::EAGAIN as i64);
    for _ in 0..MAX_DROPPED {
        r = ctx.inject(nr::RT_SIGTIMEDWAIT, [set, info, crate::stub::zero_timespec(), 8, 0, 0])?;
        if r <= 0 {
            break;
        }
        let sig = r as i32;
        let fixes = ctx.task.sig_pending.take(sig);
        match crate::signal::settle(ctx.k, fixes) {
            Delivery::Drop => r = -(libc::EAGAIN as i64),
            Delivery::Show(fix) => {
                if info != 0 {
                    let mut raw = ctx.mem.read_vec(info, 128)?;
                    fix.apply(sig, &mut raw);
                    ctx.mem.write(info, &raw)?;
                }
                return Ok(r);
            }
            Delivery::Host => {
                if let (Some(held), true) = (crate::trap::inject::take_held(ctx.task.tid, sig), info != 0) {
                    ctx.mem.write(info, &held)?;
                }
                return Ok(r);
            }
        }
    }
    if r != -(libc::EAGAIN as i64) {
        return Err(Errno(-r as i32));
    }
    let wait = if timeout == 0 {
        None
    } else {
        let ts: libc::timespec = ctx.mem.read_val(timeout)?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        Some(std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    };
    match wait {
        Some(d) if d.is_zero() => Err(Errno::EAGAIN),
        Some(d) => {
            let at = *ctx.deadline.get_or_insert_with(|| crate::sched::timer::after(std::time::Instant::now(), d));
            if std::time::Instant::now() >= at {
                return Err(Errno::EAGAIN);
            }
            // Woken by the deadline, or by a signal sent to this task.
            Err(ctx.block_until(at))
        }
        None => Err(ctx.block_on(&crate::sched::wait::WaitQueue::default())),
    }
}

fn queued(ctx: &Ctx<'_>, pid: i32, info: u64) -> Result<SigInfoFix, Errno> {
    let raw = ctx.mem.read_vec(info, 128)?;
    let code = i32::from_le_bytes(raw[8..12].try_into().expect("4 bytes"));
    // Only the kernel may claim SI_USER, SI_TKILL or a positive code,
    // except to oneself (Linux's rule).
    if (code >= 0 || code == libc::SI_TKILL) && pid != ctx.task.vpid() {
        return Err(Errno::EPERM);
    }
    let value = u64::from_le_bytes(raw[24..32].try_into().expect("8 bytes"));
    Ok(SigInfoFix {
        code,
        pid: ctx.task.vpid(),
        uid: ctx.task.process.state().creds.uid,
        status: 0,
        value: Some(value),
        timer: None,
    })
}

/// `rt_sigqueueinfo(pid, sig, info)`.
pub fn rt_sigqueueinfo(ctx: &mut Ctx<'_>) -> SysResult {
    let (pid, sig) = (ctx.int(0), check_sig(ctx.int(1))?);
    let fix = queued(ctx, pid, ctx.args[2])?;
    let p = ctx.k.procs().process(pid).ok_or(Errno::ESRCH)?;
    if init_accepts(&p, sig) {
        send::to_process(ctx.k, &p, sig, fix);
    }
    Ok(0)
}

/// `rt_tgsigqueueinfo(tgid, tid, sig, info)`.
pub fn rt_tgsigqueueinfo(ctx: &mut Ctx<'_>) -> SysResult {
    let (tgid, tid, sig) = (ctx.int(0), ctx.int(1), check_sig(ctx.int(2))?);
    let fix = queued(ctx, tgid, ctx.args[3])?;
    let owner = ctx.k.procs().process(tgid).filter(|p| p.state().threads.contains(&tid)).ok_or(Errno::ESRCH)?;
    if sig != 0 && init_accepts(&owner, sig) && !owner.sighand.lock().is_ignored(sig) {
        send::to_thread(ctx.k, tid, sig, fix)?;
    }
    Ok(0)
}
