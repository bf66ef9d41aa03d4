//! ITIMER_REAL: alarm and setitimer (Linux's kernel/time/itimer.c). The
//! timer belongs to the process; expiring, it sends SIGALRM and re-arms
//! itself when it has an interval.

use std::time::{Duration, Instant};

use crate::kernel::Kernel;
use crate::sched::timer::{after, TimerAction, KTIME_MAX};
use crate::signal::{send, SigInfoFix};

/// An armed ITIMER_REAL.
#[derive(Clone, Copy, Debug)]
pub struct RealTimer {
    /// When it next expires.
    pub deadline: Instant,
    /// Its period (zero: one-shot).
    pub interval: Duration,
}

/// Arms (or, with a zero value, disarms) `vpid`'s ITIMER_REAL; returns
/// the previous setting as (time left, interval). Times are clamped to
/// Linux's KTIME_MAX.
pub fn set(k: &Kernel, vpid: i32, value: Duration, interval: Duration) -> (Duration, Duration) {
    let Some(p) = k.procs().process(vpid) else { return Default::default() };
    let (value, interval) = (value.min(KTIME_MAX), interval.min(KTIME_MAX));
    let now = Instant::now();
    let mut st = p.state();
    let old = st.itimer.map_or((Duration::ZERO, Duration::ZERO), |t| {
        (t.deadline.saturating_duration_since(now).max(Duration::from_micros(1)), t.interval)
    });
    st.itimer_generation += 1;
    let deadline = after(now, value);
    st.itimer = (!value.is_zero()).then_some(RealTimer { deadline, interval });
    // One queue entry per process, however often the guest re-arms.
    if let Some(e) = st.itimer_entry.take() {
        k.timers.cancel(e);
    }
    if !value.is_zero() {
        let generation = st.itimer_generation;
        st.itimer_entry = Some(k.timers.schedule(deadline, TimerAction::Alarm { vpid, generation }));
    }
    old
}

/// `vpid`'s ITIMER_REAL as (time left, interval).
pub fn get(k: &Kernel, vpid: i32) -> (Duration, Duration) {
    let Some(p) = k.procs().process(vpid) else { return Default::default() };
    let st = p.state();
    st.itimer.map_or((Duration::ZERO, Duration::ZERO), |t| {
        (t.deadline.saturating_duration_since(Instant::now()), t.interval)
    })
}

/// A timer entry came due: SIGALRM, and the next period if any.
pub fn expire(k: &Kernel, vpid: i32, generation: u64) {
    let Some(p) = k.procs().process(vpid) else { return };
    {
        let mut st = p.state();
        if st.itimer_generation != generation || st.exit.is_some() {
            return;
        }
        st.itimer_entry = None;
        let next = match st.itimer {
            Some(t) if !t.interval.is_zero() => {
                let d = after(t.deadline, t.interval);
                st.itimer = Some(RealTimer { deadline: d, interval: t.interval });
                Some(d)
            }
            _ => {
                st.itimer = None;
                None
            }
        };
        if let Some(d) = next {
            st.itimer_entry = Some(k.timers.schedule(d, TimerAction::Alarm { vpid, generation }));
        }
    }
    let fix = SigInfoFix { code: libc::SI_KERNEL, pid: 0, uid: 0, status: 0, value: None, timer: None };
    send::to_process(k, &p, libc::SIGALRM, fix);
}
