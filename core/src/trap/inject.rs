//! Host-syscall injection: run one syscall inside a guest process.
//!
//! The task must be in a ptrace stop. Its registers are pointed at the
//! stub's `syscall; int3` gadget; it runs to the `int3`, and the result is
//! read from `rax`. A seccomp stop met on the way is the injected call
//! itself (the task is in injection state, whatever its `rip` says: a
//! guest may jump to the gadget too, but then the task is not injecting),
//! so it is let through.

use super::ptrace::{self, Regs};
use super::Stop;
use crate::errno::Errno;
use crate::stub;

/// Why an injected syscall did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The process ended while injecting (an injected exit, or SIGKILL).
    #[error("task ended during an injected syscall ({0:?})")]
    Gone(Stop),
    /// ptrace itself failed.
    #[error("ptrace failed during injection: {0}")]
    Ptrace(Errno),
}

/// Runs syscall `nr` with `args` in task `tid`, whose current registers
/// are `base`. Leaves the task stopped after the gadget, with registers
/// the caller must restore (to `base`, with whatever result it wants).
pub fn inject(tid: i32, base: &Regs, nr: u64, args: [u64; 6]) -> Result<i64, InjectError> {
    inject_regs(tid, base, nr, args).map(|after| after.rax as i64)
}

/// [`inject`], returning all registers after the call (its result is in
/// `rax`): a call such as arch_prctl changes `fs_base`, which the caller
/// must keep when it restores the rest.
pub fn inject_regs(tid: i32, base: &Regs, nr: u64, args: [u64; 6]) -> Result<Regs, InjectError> {
    ptrace::set_regs(tid, &gadget_regs(base, nr, args)).map_err(InjectError::Ptrace)?;
    ptrace::cont(tid, 0).map_err(InjectError::Ptrace)?;
    // A guest signal that was pending arrives at the injected call's
    // return: hold it back and send it again afterwards, so that it is
    // delivered in the guest's own context.
    let mut deferred = Vec::new();
    let result = loop {
        let ws = ptrace::wait_tid(tid).map_err(InjectError::Ptrace)?;
        match Stop::from_status(ws.status) {
            Stop::Signal(libc::SIGTRAP) => break ptrace::get_regs(tid).map_err(InjectError::Ptrace),
            // The injected call was trapped by the seccomp filter: run it.
            Stop::Syscall | Stop::GroupStop(_) | Stop::Event(_) => ptrace::cont(tid, 0).map_err(InjectError::Ptrace)?,
            Stop::Signal(sig) => {
                deferred.push(sig);
                ptrace::cont(tid, 0).map_err(InjectError::Ptrace)?
            }
            gone @ (Stop::Exited(_) | Stop::Killed(_)) => return Err(InjectError::Gone(gone)),
        }
    };
    redeliver(tid, &deferred);
    result
}

/// `base` pointed at the stub's gadget to make syscall `nr` with `args`.
pub fn gadget_regs(base: &Regs, nr: u64, args: [u64; 6]) -> Regs {
    let mut regs = *base;
    regs.rip = stub::gadget();
    regs.rax = nr;
    // -1: if the task sits at a syscall entry, the host skips that call; at
    // a signal stop, no syscall-restart logic rewinds rip.
    regs.orig_rax = u64::MAX;
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
    regs
}

/// Sends signals held back during an injection again.
fn redeliver(tid: i32, sigs: &[i32]) {
    for &sig in sigs {
        // SAFETY: tkill takes plain integers; the thread is our tracee.
        unsafe { libc::syscall(libc::SYS_tkill, tid, sig) };
    }
}

/// Runs syscall `nr` in task `tid` and stops at its syscall-exit, before
/// any further instruction: for a call that does not return to the gadget
/// (rt_sigreturn jumps to the restored guest context), so the guest never
/// runs untraced. Returns the registers at that stop; the caller resumes
/// from them as they are.
pub fn inject_to_exit(tid: i32, base: &Regs, nr: u64, args: [u64; 6]) -> Result<Regs, InjectError> {
    ptrace::set_regs(tid, &gadget_regs(base, nr, args)).map_err(InjectError::Ptrace)?;
    // Two syscall stops: the entry of our call, then its exit. Guest
    // signals met on the way are held back, as in inject_regs.
    let mut deferred = Vec::new();
    let mut stops = 0;
    ptrace::syscall(tid, 0).map_err(InjectError::Ptrace)?;
    while stops < 2 {
        let ws = ptrace::wait_tid(tid).map_err(InjectError::Ptrace)?;
        match Stop::from_status(ws.status) {
            Stop::Syscall => stops += 1,
            Stop::Signal(sig) => deferred.push(sig),
            gone @ (Stop::Exited(_) | Stop::Killed(_)) => return Err(InjectError::Gone(gone)),
            Stop::GroupStop(_) | Stop::Event(_) => {}
        }
        if stops < 2 {
            ptrace::syscall(tid, 0).map_err(InjectError::Ptrace)?;
        }
    }
    let regs = ptrace::get_regs(tid).map_err(InjectError::Ptrace);
    redeliver(tid, &deferred);
    regs
}
