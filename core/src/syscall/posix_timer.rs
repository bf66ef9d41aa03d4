//! timer_create, timer_settime, timer_gettime, timer_getoverrun and
//! timer_delete (Linux's kernel/time/posix-timers.c). The timers live in
//! their process (task/posix_timer.rs); the kernel's timer thread expires
//! them and sends their signals.

use std::time::Duration;

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::posix_timer::{self, Setting, SigEvent};

/// The clocks a timer may run on. Linux has timers on CLOCK_REALTIME,
/// CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_TAI; the raw and coarse
/// clocks have none (EOPNOTSUPP), nor here the alarm clocks, which wake a
/// suspended machine through an RTC no guest controls (Linux says
/// EOPNOTSUPP without one). The CPU-time clocks (CLOCK_PROCESS_CPUTIME_ID,
/// CLOCK_THREAD_CPUTIME_ID and the negative per-process ones) would need CPU
/// accounting umvm does not keep for timers: EINVAL, as for unknown clocks.
fn timer_clock(clock: i32) -> Result<i32, Errno> {
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI => Ok(clock),
        libc::CLOCK_MONOTONIC_RAW
        | libc::CLOCK_REALTIME_COARSE
        | libc::CLOCK_MONOTONIC_COARSE
        | libc::CLOCK_REALTIME_ALARM
        | libc::CLOCK_BOOTTIME_ALARM => Err(Errno::EOPNOTSUPP),
        _ => Err(Errno::EINVAL),
    }
}

/// A timer id argument: Linux's timer_t is an int, and only 0..=INT_MAX
/// names a timer.
fn timer_id(ctx: &Ctx<'_>, i: usize) -> Result<i32, Errno> {
    let id = ctx.int(i);
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(id)
}

/// A timespec as Linux's timespec64_valid accepts it.
fn duration(ts: &libc::timespec) -> Result<Duration, Errno> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec { tv_sec: d.as_secs().min(i64::MAX as u64) as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// struct itimerspec: interval, then value.
fn itimerspec(s: Setting) -> [libc::timespec; 2] {
    [timespec(s.interval), timespec(s.value)]
}

/// `timer_create(clockid, sevp, timerid)`: a NULL `sevp` means SIGALRM to
/// the process, with the timer's id as si_value. SIGEV_THREAD_ID names a
/// thread by its (virtual) tid, which must be one of the caller's process.
pub fn timer_create(ctx: &mut Ctx<'_>) -> SysResult {
    // Linux copies the sigevent in before it looks at the clock.
    let sev = if ctx.args[1] == 0 { None } else { Some(SigEvent::parse(&ctx.mem.read_val::<[u8; 64]>(ctx.args[1])?)) };
    let clock = timer_clock(ctx.int(0))?;
    let process = ctx.task.process.clone();
    let id = posix_timer::create(&process, clock, sev.as_ref())?;
    if let Err(e) = ctx.mem.write_val(ctx.args[2], &id) {
        // As in Linux: no timer, though its id was used up.
        let _ = posix_timer::delete(ctx.k, &process, id);
        return Err(e);
    }
    Ok(0)
}

/// `timer_settime(timerid, flags, new, old)`: TIMER_ABSTIME makes the
/// value an absolute time of the timer's clock (other flag bits are
/// ignored, as in Linux). The timer is set even when `old` is a bad
/// pointer (EFAULT then), as in Linux.
pub fn timer_settime(ctx: &mut Ctx<'_>) -> SysResult {
    let (flags, new, old) = (ctx.int(1), ctx.args[2], ctx.args[3]);
    if new == 0 {
        return Err(Errno::EINVAL);
    }
    let spec: [libc::timespec; 2] = ctx.mem.read_val(new)?;
    let setting = Setting { interval: duration(&spec[0])?, value: duration(&spec[1])? };
    let id = timer_id(ctx, 0)?;
    let abstime = flags & libc::TIMER_ABSTIME != 0;
    let prev = posix_timer::settime(ctx.k, &ctx.task.process, id, abstime, setting)?;
    if old != 0 {
        ctx.mem.write_val(old, &itimerspec(prev))?;
    }
    Ok(0)
}

/// `timer_gettime(timerid, cur)`: the time to the next expiry (relative,
/// however it was set) and the period.
pub fn timer_gettime(ctx: &mut Ctx<'_>) -> SysResult {
    let cur = posix_timer::gettime(&ctx.task.process, timer_id(ctx, 0)?)?;
    ctx.mem.write_val(ctx.args[1], &itimerspec(cur))?;
    Ok(0)
}

/// `timer_getoverrun(timerid)`: the expirations the last delivered signal
/// stood for beyond the first.
pub fn timer_getoverrun(ctx: &mut Ctx<'_>) -> SysResult {
    Ok(posix_timer::getoverrun(&ctx.task.process, timer_id(ctx, 0)?)?.into())
}

/// `timer_delete(timerid)`.
pub fn timer_delete(ctx: &mut Ctx<'_>) -> SysResult {
    posix_timer::delete(ctx.k, &ctx.task.process, timer_id(ctx, 0)?)?;
    Ok(0)
}
