//! Clocks (Linux's kernel/time). These also run natively through the
//! vDSO; the kernel answers them when a guest traps anyway (sysemu mode,
//! or a program that makes the raw syscall), but for the CPU-time clocks,
//! which only the host can read.

use super::names::nr;
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::itimer;
use crate::trap::ptrace::Usage;

fn host_clock(id: i32) -> Result<libc::timespec, Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to fill.
    Errno::result(unsafe { libc::clock_gettime(id, &mut ts) })?;
    Ok(ts)
}

/// The bits of a dynamic clock id (Linux's include/linux/posix-timers.h):
/// a CPU-time clock of pid `!(id >> 3)` (0: the caller), per thread when
/// CPUCLOCK_PERTHREAD_MASK is set, or a clock device's fd (CLOCKFD).
const CPUCLOCK_PERTHREAD_MASK: i32 = 4;
const CPUCLOCK_CLOCK_MASK: i32 = 3;
const CLOCKFD: i32 = 3;

/// For a CPU-time clock, the id the guest's own host process must read it
/// with: only the host measures CPU time, so the call is injected into the
/// caller, where CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID mean
/// the caller's process and thread. A dynamic id names a virtual pid or
/// tid, turned into the host's: a thread of the caller's process, or a
/// process (Linux's lookup_task). None for the other clocks, which umvm
/// reads itself.
fn cpu_clock(ctx: &Ctx<'_>, id: i32) -> Result<Option<i32>, Errno> {
    if id == libc::CLOCK_PROCESS_CPUTIME_ID || id == libc::CLOCK_THREAD_CPUTIME_ID {
        return Ok(Some(id));
    }
    if id >= 0 {
        return Ok(None);
    }
    // Guests hold no host fds, so no clock device either.
    if id & CPUCLOCK_CLOCK_MASK == CLOCKFD {
        return Err(Errno::EINVAL);
    }
    let vpid = !(id >> 3);
    if vpid == 0 {
        return Ok(Some(id));
    }
    let host = if id & CPUCLOCK_PERTHREAD_MASK != 0 {
        if !ctx.task.process.state().threads.contains(&vpid) {
            return Err(Errno::EINVAL);
        }
        ctx.k.procs().thread(vpid).ok_or(Errno::EINVAL)?.tid
    } else if vpid == ctx.task.vtid {
        ctx.task.tid
    } else {
        let p = ctx.k.procs().process(vpid).ok_or(Errno::EINVAL)?;
        let st = p.state();
        if st.exit.is_some() {
            return Err(Errno::EINVAL);
        }
        st.host_pid
    };
    Ok(Some((!host).wrapping_shl(3) | (id & 7)))
}

/// Runs clock syscall `nr` on CPU-time clock `host_id` in the caller.
fn inject_cpu_clock(ctx: &mut Ctx<'_>, nr: u64, host_id: i32) -> SysResult {
    let r = ctx.inject(nr, [host_id as u32 as u64, ctx.args[1], 0, 0, 0, 0])?;
    if r < 0 {
        return Err(Errno(-r as i32));
    }
    Ok(r)
}

/// `clock_gettime(clockid, tp)`.
pub fn clock_gettime(ctx: &mut Ctx<'_>) -> SysResult {
    if let Some(host_id) = cpu_clock(ctx, ctx.int(0))? {
        return inject_cpu_clock(ctx, nr::CLOCK_GETTIME, host_id);
    }
    let ts = host_clock(ctx.int(0)).map_err(|_| Errno::EINVAL)?;
    ctx.mem.write_val(ctx.args[1], &ts)?;
    Ok(0)
}

/// `clock_getres(clockid, res)`.
pub fn clock_getres(ctx: &mut Ctx<'_>) -> SysResult {
    if let Some(host_id) = cpu_clock(ctx, ctx.int(0))? {
        return inject_cpu_clock(ctx, nr::CLOCK_GETRES, host_id);
    }
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
/// (ITIMER_VIRTUAL, ITIMER_PROF) run on the host (trap/seccomp.rs) and
/// never reach here; any other `which` is EINVAL.
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

/// `getitimer(which, cur)`: ITIMER_REAL (the others run on the host).
pub fn getitimer(ctx: &mut Ctx<'_>) -> SysResult {
    if ctx.int(0) != libc::ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (left, interval) = itimer::get(ctx.k, ctx.task.vpid());
    ctx.mem.write_val(ctx.args[1], &[timeval(interval), timeval(left)])?;
    Ok(0)
}

/// A `struct rusage` with the times and peak memory filled in.
pub fn rusage_of(u: Usage) -> libc::rusage {
    // SAFETY: rusage is plain integers; all-zero is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let tv = |us: u64| libc::timeval { tv_sec: (us / 1_000_000) as i64, tv_usec: (us % 1_000_000) as i64 };
    ru.ru_utime = tv(u.utime_us);
    ru.ru_stime = tv(u.stime_us);
    ru.ru_maxrss = u.maxrss_kb as i64;
    ru
}

/// The CPU use of a live host thread group (or one thread): fields 14 and
/// 15 of /proc/PID/stat, in clock ticks, and VmHWM for the peak.
fn host_usage(stat_path: &str, status_path: &str) -> Usage {
    let hz = 100u64;
    let mut u = Usage::default();
    if let Ok(s) = std::fs::read_to_string(stat_path) {
        // The fields after the command name, which may contain spaces.
        if let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            u.utime_us = ticks(11) * 1_000_000 / hz;
            u.stime_us = ticks(12) * 1_000_000 / hz;
        }
    }
    if let Ok(s) = std::fs::read_to_string(status_path) {
        u.maxrss_kb = s
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
    }
    u
}

/// The caller's own process: the host's accounting of its thread group
/// (which includes the threads that already ended).
fn self_usage(ctx: &Ctx<'_>) -> Usage {
    let host = ctx.task.process.state().host_pid;
    host_usage(&format!("/proc/{host}/stat"), &format!("/proc/{host}/status"))
}

/// `getrusage(who, usage)`: RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD.
pub fn getrusage(ctx: &mut Ctx<'_>) -> SysResult {
    let u = match ctx.int(0) {
        libc::RUSAGE_SELF => self_usage(ctx),
        libc::RUSAGE_CHILDREN => ctx.task.process.state().usage_children,
        libc::RUSAGE_THREAD => {
            let (host, tid) = (ctx.task.process.state().host_pid, ctx.task.tid);
            host_usage(&format!("/proc/{host}/task/{tid}/stat"), &format!("/proc/{host}/task/{tid}/status"))
        }
        _ => return Err(Errno::EINVAL),
    };
    ctx.mem.write_val(ctx.args[1], &rusage_of(u))?;
    Ok(0)
}

/// `times(buf)`: the caller's and its reaped children's CPU times, in
/// clock ticks; returns ticks since the VM booted.
pub fn times(ctx: &mut Ctx<'_>) -> SysResult {
    let ticks = |us: u64| (us / 10_000) as i64;
    if ctx.args[0] != 0 {
        let me = self_usage(ctx);
        let kids = ctx.task.process.state().usage_children;
        let tms = [ticks(me.utime_us), ticks(me.stime_us), ticks(kids.utime_us), ticks(kids.stime_us)];
        ctx.mem.write_val(ctx.args[0], &tms)?;
    }
    Ok((ctx.k.boot.elapsed().as_millis() / 10) as i64)
}
