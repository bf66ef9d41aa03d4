//! timerfd_create, timerfd_settime and timerfd_gettime (Linux's
//! fs/timerfd.c).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::timerfd::TimerFd;
use crate::sched::timer::after;

fn duration(ts: &libc::timespec) -> Result<Duration, Errno> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// `timerfd_create(clockid, flags)`.
pub fn timerfd_create(ctx: &mut Ctx<'_>) -> SysResult {
    let (clock, flags) = (ctx.int(0), ctx.int(1));
    if !matches!(clock, libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME) {
        return Err(Errno::EINVAL);
    }
    if flags & !(libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let status = libc::O_RDWR | (flags & libc::TFD_NONBLOCK);
    let f = OpenFile::new(FileKind::TimerFd(TimerFd::new(clock)), b"anon_inode:[timerfd]".to_vec(), status);
    ctx.install(Arc::new(f), flags & libc::TFD_CLOEXEC != 0)
}

fn timer_of(f: &OpenFile) -> Result<&TimerFd, Errno> {
    match &f.kind {
        FileKind::TimerFd(t) => Ok(t),
        _ => Err(Errno::EINVAL),
    }
}

/// The current setting as `struct itimerspec` (interval, time left).
fn current(t: &TimerFd) -> [libc::timespec; 2] {
    let s = t.state();
    let left = s.deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(Instant::now()));
    [timespec(s.interval), timespec(left)]
}

/// `timerfd_settime(fd, flags, new, old)`.
pub fn timerfd_settime(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    let t = timer_of(&f)?;
    let flags = ctx.int(1);
    if flags & !(libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let new: [libc::timespec; 2] = ctx.mem.read_val(ctx.args[2])?;
    let (interval, value) = (duration(&new[0])?, duration(&new[1])?);
    if ctx.args[3] != 0 {
        ctx.mem.write_val(ctx.args[3], &current(t))?;
    }
    let now = Instant::now();
    let deadline = if value.is_zero() {
        None
    } else if flags & libc::TFD_TIMER_ABSTIME != 0 {
        // An absolute time on the timer's clock: how far it is from now.
        let mut clock_now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime fills the timespec.
        unsafe { libc::clock_gettime(t.clock, &mut clock_now) };
        Some(after(now, value.saturating_sub(duration(&clock_now)?)))
    } else {
        Some(after(now, value))
    };
    {
        let mut s = t.state();
        s.deadline = deadline;
        s.interval = interval;
        s.expirations = 0;
    }
    ctx.k.wake_all(&t.readers);
    Ok(0)
}

/// `timerfd_gettime(fd, cur)`.
pub fn timerfd_gettime(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    let cur = current(timer_of(&f)?);
    ctx.mem.write_val(ctx.args[1], &cur)?;
    Ok(0)
}
