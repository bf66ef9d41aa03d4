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
                deferred.push(hold_back(tid, sig));
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

/// A signal held back at its delivery stop, and its siginfo.
struct Deferred {
    sig: i32,
    info: Option<[u8; 128]>,
}

/// Notes signal `sig`, at its delivery stop in task `tid`, for [`redeliver`].
fn hold_back(tid: i32, sig: i32) -> Deferred {
    let mut info = [0u8; 128];
    let info = ptrace::get_siginfo(tid, &mut info).ok().map(|_| info);
    Deferred { sig, info }
}

/// Signals the host generated itself (a native CPU-time itimer's SIGPROF
/// or SIGVTALRM), held back during an injection and sent again by the
/// kernel, with the siginfo they had: host tid, signal, raw siginfo. The
/// delivery stop of the copy restores it ([`take_held`]), so the guest
/// never sees the kernel as their sender.
static HELD: std::sync::Mutex<Vec<(i32, i32, [u8; 128])>> = std::sync::Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(i32, i32, [u8; 128])>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends signals held back during an injection again. The kernel's own
/// signals (tkill: SI_TKILL) carry their records in the task's pending
/// list already; a host signal's siginfo is kept in [`HELD`]. At most one
/// per thread and signal is kept: the host merges a standard signal
/// pending twice, and generates no real-time ones.
fn redeliver(tid: i32, sigs: &[Deferred]) {
    for d in sigs {
        if let Some(info) = d.info {
            let code = i32::from_le_bytes(info[8..12].try_into().expect("4 bytes"));
            if code != libc::SI_TKILL {
                let mut h = held();
                h.retain(|&(t, s, _)| (t, s) != (tid, d.sig));
                h.push((tid, d.sig, info));
            }
        }
        // SAFETY: tkill takes plain integers; the thread is our tracee.
        unsafe { libc::syscall(libc::SYS_tkill, tid, d.sig) };
    }
}

/// The siginfo of a host signal that was held back and sent again, at the
/// delivery stop of its copy: `sig` in task `tid`.
pub fn take_held(tid: i32, sig: i32) -> Option<[u8; 128]> {
    let mut h = held();
    let i = h.iter().position(|&(t, s, _)| (t, s) == (tid, sig))?;
    Some(h.swap_remove(i).2)
}

/// Forgets what was held for task `tid`, which ended.
pub fn forget_held(tid: i32) {
    held().retain(|&(t, _, _)| t != tid);
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
            Stop::Signal(sig) => deferred.push(hold_back(tid, sig)),
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
