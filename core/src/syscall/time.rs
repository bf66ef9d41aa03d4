//! Clocks (Linux's kernel/time). These also run natively through the
//! vDSO; the kernel answers them when a guest traps anyway (sysemu mode,
//! or a program that makes the raw syscall).

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::itimer;

fn host_clock(id: i32) -> Result<libc::timespec, Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to fill.
    Errno::result(unsafe { libc::clock_gettime(id, &mut ts) })?;
    Ok(ts)
}

/// `clock_gettime(clockid, tp)`.
pub fn clock_gettime(ctx: &mut Ctx<'_>) -> SysResult {
    let ts = host_clock(ctx.int(0)).map_err(|_| Errno::EINVAL)?;
    ctx.mem.write_val(ctx.args[1], &ts)?;
    Ok(0)
}

/// `clock_getres(clockid, res)`.
pub fn clock_getres(ctx: &mut Ctx<'_>) -> SysResult {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to fill.
    Errno::result(unsafe { libc::clock_getres(ctx.int(0), &mut ts) })?;
    if ctx.args[1] != 0 {
        ctx.mem.write_val(ctx.args[1], &ts)?;
    }
    Ok(0)
}

/// `gettimeofday(tv, tz)`.
pub fn gettimeofday(ctx: &mut Ctx<'_>) -> SysResult {
    let ts = host_clock(libc::CLOCK_REALTIME)?;
    if ctx.args[0] != 0 {
        let tv = libc::timeval { tv_sec: ts.tv_sec, tv_usec: ts.tv_nsec / 1000 };
        ctx.mem.write_val(ctx.args[0], &tv)?;
    }
    if ctx.args[1] != 0 {
        ctx.mem.write_val(ctx.args[1], &[0i32; 2])?;
    }
    Ok(0)
}

/// `time(tloc)`.
pub fn time(ctx: &mut Ctx<'_>) -> SysResult {
    let t = host_clock(libc::CLOCK_REALTIME)?.tv_sec;
    if ctx.args[0] != 0 {
        ctx.mem.write_val(ctx.args[0], &t)?;
    }
    Ok(t)
}

fn timeval(d: std::time::Duration) -> libc::timeval {
    libc::timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 }
}

fn read_timeval(ctx: &Ctx<'_>, addr: u64) -> Result<std::time::Duration, Errno> {
    let tv: libc::timeval = ctx.mem.read_val(addr)?;
    if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EINVAL);
    }
    Ok(std::time::Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

/// `alarm(seconds)`: returns the seconds left on the previous alarm
/// (rounded as Linux does).
pub fn alarm(ctx: &mut Ctx<'_>) -> SysResult {
    let secs = ctx.args[0] as u32 as u64;
    let (left, _) = itimer::set(ctx.k, ctx.task.vpid(), std::time::Duration::from_secs(secs), Default::default());
    let mut s = left.as_secs();
    if (s == 0 && left.subsec_micros() > 0) || left.subsec_micros() >= 500_000 {
        s += 1;
    }
    Ok(s as i64)
}

/// `setitimer(which, new, old)`: ITIMER_REAL. The CPU-time timers
/// (ITIMER_VIRTUAL, ITIMER_PROF) need per-process CPU accounting, which
/// umvm does not keep yet: EINVAL.
pub fn setitimer(ctx: &mut Ctx<'_>) -> SysResult {
    if ctx.int(0) != libc::ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (interval, value) = if ctx.args[1] == 0 {
        (Default::default(), Default::default())
    } else {
        (read_timeval(ctx, ctx.args[1])?, read_timeval(ctx, ctx.args[1] + 16)?)
    };
    let (left, old_interval) = itimer::set(ctx.k, ctx.task.vpid(), value, interval);
    if ctx.args[2] != 0 {
        ctx.mem.write_val(ctx.args[2], &[timeval(old_interval), timeval(left)])?;
    }
    Ok(0)
}

/// `getitimer(which, cur)`.
pub fn getitimer(ctx: &mut Ctx<'_>) -> SysResult {
    if ctx.int(0) != libc::ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (left, interval) = itimer::get(ctx.k, ctx.task.vpid());
    ctx.mem.write_val(ctx.args[1], &[timeval(interval), timeval(left)])?;
    Ok(0)
}
