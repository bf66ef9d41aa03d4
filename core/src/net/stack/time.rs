//! smoltcp's clock, taken from the host's monotonic clock.
//!
//! smoltcp counts time in microseconds from an arbitrary origin; a [`Clock`] fixes that origin at its
//! creation so the guest's TCP timers follow `CLOCK_MONOTONIC` and never jump with the wall clock.

use smoltcp::time::{Duration, Instant};

/// The stack's time base: smoltcp instants measured from a host monotonic origin.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Clock { origin: std::time::Instant::now() }
    }

    /// The current time for smoltcp.
    pub fn now(&self) -> Instant {
        Instant::from_micros(i64::try_from(self.origin.elapsed().as_micros()).unwrap_or(i64::MAX))
    }

    /// The host instant of a smoltcp deadline, for the scheduler's timer.
    pub fn to_host(&self, at: Instant) -> std::time::Instant {
        let micros = u64::try_from(at.total_micros()).unwrap_or(0);
        self.origin + std::time::Duration::from_micros(micros)
    }

    /// How long from `now` until `deadline` (zero when it has passed): what a blocking caller sleeps.
    pub fn until(now: Instant, deadline: Instant) -> std::time::Duration {
        if deadline <= now {
            return std::time::Duration::ZERO;
        }
        let d: Duration = deadline - now;
        std::time::Duration::from_micros(d.total_micros())
    }
}

/// The earlier of two optional deadlines (`None` means "no deadline").
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
