//! Timed wake-ups for blocked syscalls (poll timeouts, emulated sleeps):
//! one thread sleeps until the earliest deadline and wakes that task,
//! whose syscall then sees its deadline has passed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::wait::TaskRef;
use crate::kernel::Kernel;

/// Pending deadlines.
#[derive(Default)]
pub struct Timers {
    heap: Mutex<BinaryHeap<Reverse<(Instant, i32, usize)>>>,
    cv: Condvar,
}

impl Timers {
    /// Wakes task `t` at `at` (it may have stopped waiting by then: a
    /// spurious wake-up is harmless).
    pub fn add(&self, at: Instant, t: TaskRef) {
        let mut h = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        h.push(Reverse((at, t.tid, t.loop_id)));
        self.cv.notify_one();
    }

    /// The timer thread's body.
    pub fn run(&self, k: &Kernel) {
        let mut h = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            match h.peek() {
                None => h = self.cv.wait(h).unwrap_or_else(|e| e.into_inner()),
                Some(Reverse((at, _, _))) if *at > now => {
                    let d = *at - now;
                    h = self.cv.wait_timeout(h, d).unwrap_or_else(|e| e.into_inner()).0;
                }
                Some(_) => {
                    let Reverse((_, tid, loop_id)) = h.pop().expect("peeked");
                    drop(h);
                    k.wake(TaskRef { loop_id, tid });
                    h = self.heap.lock().unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}
