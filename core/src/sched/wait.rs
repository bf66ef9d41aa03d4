//! Wait queues: how a task blocked in an emulated syscall learns that
//! what it waits for may have happened.
//!
//! A blocked task stays stopped in ptrace; its tracer loop serves others.
//! A waker drains the queue and sends each waiter's loop a wake-up; the
//! loop re-runs the syscall, which completes or blocks again. Spurious
//! wake-ups are therefore harmless, and a waiter that left for another
//! reason needs no unregistering.

use std::sync::Mutex;

/// A task, as a wake-up addresses it: its loop and its host tid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskRef {
    /// The tracer loop serving it.
    pub loop_id: usize,
    /// Its host tid.
    pub tid: i32,
}

/// Tasks waiting for one kernel object to change.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<TaskRef>>,
}

impl WaitQueue {
    /// Adds a waiter (once).
    pub fn add(&self, t: TaskRef) {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&t) {
            w.push(t);
        }
    }

    /// Takes every waiter, for the caller to wake.
    pub fn drain(&self) -> Vec<TaskRef> {
        std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
