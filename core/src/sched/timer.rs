//! Timed events: wake-ups for blocked syscalls (poll timeouts, emulated
//! sleeps) and interval timers (alarm, setitimer). One thread sleeps until
//! the earliest deadline; a woken syscall sees its deadline has passed, an
//! expired timer sends its signal, so SIGALRM too comes from umvm.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::wait::TaskRef;
use crate::kernel::Kernel;

/// What happens at a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
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
}

/// Pending deadlines.
#[derive(Default)]
pub struct Timers {
    heap: Mutex<BinaryHeap<Reverse<(Instant, TimerAction)>>>,
    cv: Condvar,
}

impl Timers {
    /// Wakes task `t` at `at` (it may have stopped waiting by then: a
    /// spurious wake-up is harmless).
    pub fn add(&self, at: Instant, t: TaskRef) {
        self.schedule(at, TimerAction::Wake { tid: t.tid, loop_id: t.loop_id });
    }

    /// Runs `action` at `at`.
    pub fn schedule(&self, at: Instant, action: TimerAction) {
        let mut h = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        h.push(Reverse((at, action)));
        self.cv.notify_one();
    }

    /// The timer thread's body.
    pub fn run(&self, k: &Kernel) {
        let mut h = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            match h.peek() {
                None => h = self.cv.wait(h).unwrap_or_else(|e| e.into_inner()),
                Some(Reverse((at, _))) if *at > now => {
                    let d = *at - now;
                    h = self.cv.wait_timeout(h, d).unwrap_or_else(|e| e.into_inner()).0;
                }
                Some(_) => {
                    let Reverse((_, action)) = h.pop().expect("peeked");
                    drop(h);
                    match action {
                        TimerAction::Wake { tid, loop_id } => k.wake(TaskRef { loop_id, tid }),
                        TimerAction::Alarm { vpid, generation } => crate::task::itimer::expire(k, vpid, generation),
                    }
                    h = self.heap.lock().unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}
