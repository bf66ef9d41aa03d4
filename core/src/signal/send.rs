//! Sending signals: every asynchronous signal a guest receives is sent
//! here, to the loop serving the target, which interrupts a blocked
//! syscall if need be and has the host deliver it.

use super::SigInfoFix;
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::sched::Msg;
use std::sync::Arc;

use crate::task::Process;

/// Sends `sig` to thread `vtid`.
pub fn to_thread(k: &Kernel, vtid: i32, sig: i32, fix: SigInfoFix) -> Result<(), Errno> {
    let at = k.procs().thread(vtid).ok_or(Errno::ESRCH)?;
    if sig != 0 {
        k.post(at.loop_id, Msg::Signal { tid: at.tid, sig, fix });
    }
    Ok(())
}

/// Sends `sig` to a process: one of its threads takes it. A zombie
/// accepts and drops it, as in Linux.
pub fn to_process(k: &Kernel, p: &Arc<Process>, sig: i32, fix: SigInfoFix) {
    // SIGCONT continues a stopped process even when it is ignored.
    if sig == libc::SIGCONT {
        crate::task::exit::process_continued(k, p);
    }
    if sig == 0 || p.sighand.lock().is_ignored(sig) {
        return;
    }
    let first = p.state().threads.iter().next().copied();
    if let Some(vtid) = first {
        let _ = to_thread(k, vtid, sig, fix);
    }
}

/// Linux protects a pid namespace's init from every signal it has no
/// handler for, SIGKILL included. SIGKILL and SIGSTOP are refused here;
/// the others are sent, as a blocked one may be taken by sigwaitinfo, and
/// the delivery stop drops them if init has no handler by then.
pub fn init_accepts(p: &Process, sig: i32) -> bool {
    p.vpid != 1 || (sig != libc::SIGKILL && sig != libc::SIGSTOP)
}

/// Sends `sig` to every process of group `pgid` (init only when it
/// handles the signal); Err(ESRCH) when the group is empty.
pub fn to_group(k: &Kernel, pgid: i32, sig: i32, fix: SigInfoFix) -> Result<(), Errno> {
    let targets: Vec<_> = k.procs().processes().filter(|p| p.state().pgid == pgid).cloned().collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    for p in targets.iter().filter(|p| init_accepts(p, sig)) {
        to_process(k, p, sig, fix);
    }
    Ok(())
}
