//! Timed events: wake-ups for blocked syscalls (poll timeouts, emulated
//! sleeps) and interval timers (alarm, setitimer, POSIX timers). One
//! thread sleeps until the earliest deadline; a woken syscall sees its
//! deadline has passed, an expired timer sends its signal, so SIGALRM too
//! comes from umvm.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::wait::TaskRef;
use crate::kernel::Kernel;

/// The longest time Linux represents (KTIME_MAX nanoseconds, about 292
/// years): longer guest-given times are clamped to it, as Linux does.
pub const KTIME_MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// `d` after `t`, `d` clamped to KTIME_MAX: a time a guest chose never
/// overflows an Instant (which would panic).
pub fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(KTIME_MAX)).or_else(|| t.checked_add(KTIME_MAX)).unwrap_or(t)
}

/// What happens at a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// Re-run the syscall this task is blocked in.
    Wake {
        /// Host tid.
        tid: i32,
        /// Its loop.
        loop_id: usize,
    },
    /// A process's ITIMER_REAL expires (if it was not re-armed since).
    Alarm {
        /// Virtual pid.
        vpid: i32,
        /// The arming this entry belongs to.
        generation: u64,
    },
    /// A POSIX timer expires (if it was not re-armed since).
    PosixTimer {
        /// Virtual pid of its process.
        vpid: i32,
        /// Its id.
        id: i32,
        /// The arming this entry belongs to.
        arming: u64,
    },
    /// The TCP/IP stack's timers are due: poll it and wake its waiters.
    NetPoll,
}

/// A scheduled action, as [`Timers::cancel`] names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey(Instant, u64);

/// Pending deadlines, earliest first; the number makes each key unique.
#[derive(Default)]
struct Queue {
    entries: BTreeMap<TimerKey, TimerAction>,
    next: u64,
}

/// Pending deadlines.
#[derive(Default)]
pub struct Timers {
    queue: Mutex<Queue>,
    cv: Condvar,
}

impl Timers {
    /// Wakes task `t` at `at` (it may have stopped waiting by then: a
    /// spurious wake-up is harmless).
    pub fn add(&self, at: Instant, t: TaskRef) {
        self.schedule(at, TimerAction::Wake { tid: t.tid, loop_id: t.loop_id });
    }

    /// Runs `action` at `at`.
    pub fn schedule(&self, at: Instant, action: TimerAction) -> TimerKey {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let key = TimerKey(at, q.next);
        q.next += 1;
        q.entries.insert(key, action);
        self.cv.notify_one();
        key
    }

    /// Forgets a scheduled action (if it has not run yet). A timer a guest
    /// re-arms over and over cancels its previous entry, so the queue never
    /// holds more than one entry per timer.
    pub fn cancel(&self, key: TimerKey) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).entries.remove(&key);
    }

    /// The timer thread's body.
    pub fn run(&self, k: &Kernel) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            match q.entries.first_key_value() {
                None => q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner()),
                Some((TimerKey(at, _), _)) if *at > now => {
                    let d = *at - now;
                    q = self.cv.wait_timeout(q, d).unwrap_or_else(|e| e.into_inner()).0;
                }
                Some(_) => {
                    let (_, action) = q.entries.pop_first().expect("peeked");
                    drop(q);
                    match action {
                        TimerAction::Wake { tid, loop_id } => k.wake(TaskRef { loop_id, tid }),
                        TimerAction::Alarm { vpid, generation } => crate::task::itimer::expire(k, vpid, generation),
                        TimerAction::PosixTimer { vpid, id, arming } => {
                            crate::task::posix_timer::expire(k, vpid, id, arming)
                        }
                        TimerAction::NetPoll => k.inet.on_timer(k),
                    }
                    q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}
