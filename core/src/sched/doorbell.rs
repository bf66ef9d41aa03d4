//! A loop's doorbell: how another thread wakes a tracer loop blocked in
//! waitpid.
//!
//! waitpid cannot also wait on a channel, and a signal to the loop thread
//! races with entering waitpid. Instead each loop traces one extra
//! process of its own, parked in pause(): ringing is a signal to that
//! process, whose signal-delivery stop the loop's waitpid reports. A ring
//! sent while the loop is busy stays pending until it next waits, so no
//! wake-up is ever lost.

use crate::errno::Errno;
use crate::stub;
use crate::syscall::names::nr;
use crate::trap::inject::gadget_regs;
use crate::trap::ptrace;
use crate::trap::spawn::{self, SpawnError, SpawnSpec};
use crate::trap::Stop;

/// The signal that rings a doorbell.
pub const RING: i32 = libc::SIGUSR1;

/// Starts a doorbell process traced by the calling thread.
pub fn spawn(drop_to: Option<(u32, u32)>) -> Result<i32, SpawnError> {
    let stub_fd = stub::memfd().map_err(SpawnError::Host)?;
    let pid = spawn::spawn(&SpawnSpec { stub_fd, filter: None, drop_to, channel: None })?;
    park(pid).map_err(SpawnError::Host)?;
    Ok(pid)
}

/// Points the doorbell at `pause()` in the stub's gadget and lets it run.
fn park(pid: i32) -> Result<(), Errno> {
    let r = ptrace::get_regs(pid)?;
    ptrace::set_regs(pid, &gadget_regs(&r, nr::PAUSE, [0; 6]))?;
    ptrace::cont(pid, 0)
}

/// Rings the doorbell of the loop whose doorbell process is `pid`.
pub fn ring(pid: i32) {
    if pid > 0 {
        // SAFETY: kill takes plain integers.
        unsafe { libc::kill(pid, RING) };
    }
}

/// Handles a stop of the doorbell process: every one is a ring (or the
/// end of a pause), and the doorbell goes back to waiting.
pub fn on_stop(pid: i32, stop: Stop) -> Result<(), Errno> {
    match stop {
        // pause() returned: park it again.
        Stop::Signal(libc::SIGTRAP) => park(pid),
        // A ring: suppress it; pause restarts.
        _ => ptrace::cont(pid, 0),
    }
}
