//! Clocks (Linux's kernel/time). These also run natively through the
//! vDSO; the kernel answers them when a guest traps anyway (sysemu mode,
//! or a program that makes the raw syscall).

use super::Ctx;
use crate::errno::{Errno, SysResult};

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
