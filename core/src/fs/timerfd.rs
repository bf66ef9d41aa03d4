//! timerfd objects (Linux's fs/timerfd.c): a timer read as a count of
//! expirations. Expirations are computed from the deadline when the
//! timer is looked at; a waiting reader is woken at the deadline by the
//! kernel's timer thread.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sched::timer::after;
use crate::sched::wait::WaitQueue;

/// The timer's setting and the expirations not yet read.
#[derive(Default)]
pub struct TimerState {
    /// The next expiry, when armed.
    pub deadline: Option<Instant>,
    /// The period (zero: one-shot).
    pub interval: Duration,
    /// Expirations since the last read.
    pub expirations: u64,
}

impl TimerState {
    /// Counts the expirations up to now and moves the deadline on.
    pub fn update(&mut self, now: Instant) {
        let Some(d) = self.deadline else { return };
        if now < d {
            return;
        }
        if self.interval.is_zero() {
            self.expirations += 1;
            self.deadline = None;
        } else {
            // In u128: a 1ns period read hours later has billions of them.
            let period = self.interval.as_nanos();
            let periods = (now - d).as_nanos() / period + 1;
            self.expirations = self.expirations.saturating_add(u64::try_from(periods).unwrap_or(u64::MAX));
            let ahead = u64::try_from(periods * period).unwrap_or(u64::MAX);
            self.deadline = Some(after(d, Duration::from_nanos(ahead)));
        }
    }
}

/// A timerfd.
pub struct TimerFd {
    state: Mutex<TimerState>,
    /// The clock its absolute times refer to.
    pub clock: i32,
    /// Tasks waiting to read (woken when it is re-armed).
    pub readers: Arc<WaitQueue>,
}

impl TimerFd {
    /// A disarmed timer on `clock`.
    pub fn new(clock: i32) -> TimerFd {
        TimerFd { state: Mutex::default(), clock, readers: Arc::default() }
    }

    /// Locks its state, counting expirations up to now.
    pub fn state(&self) -> MutexGuard<'_, TimerState> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.update(Instant::now());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_timers_count_every_period() {
        let t0 = Instant::now();
        let mut s = TimerState { deadline: Some(t0), interval: Duration::from_millis(10), expirations: 0 };
        s.update(t0 + Duration::from_millis(35));
        assert_eq!(s.expirations, 4);
        assert_eq!(s.deadline, Some(t0 + Duration::from_millis(40)));
        let mut once = TimerState { deadline: Some(t0), interval: Duration::ZERO, expirations: 0 };
        once.update(t0 + Duration::from_secs(1));
        assert_eq!((once.expirations, once.deadline), (1, None));
        // More periods than a u32 holds.
        let mut fast = TimerState { deadline: Some(t0), interval: Duration::from_nanos(1), expirations: 0 };
        fast.update(t0 + Duration::from_secs(10));
        assert_eq!(fast.expirations, 10_000_000_001);
        assert_eq!(fast.deadline, Some(t0 + Duration::from_nanos(10_000_000_001)));
    }
}
