//! Thin safe wrappers over ptrace(2) and waitpid(2): the only `unsafe` of
//! the trap path. Every function returns the host errno on failure; a
//! tracee that vanished (killed by SIGKILL) shows up as `ESRCH`.

use crate::errno::Errno;

/// The tracee's general-purpose registers, as PTRACE_GETREGS returns them.
pub type Regs = libc::user_regs_struct;

/// Options every tracee carries: syscall stops marked with 0x80, seccomp
/// RET_TRACE stops, the tracee dies with umvm, and new children are
/// attached to the same tracer as they are created.
pub const OPTIONS: libc::c_int = libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_EXITKILL
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE;

fn request(req: libc::c_uint, tid: i32, addr: usize, data: usize) -> Result<i64, Errno> {
    // SAFETY: the requests used here take plain integers or pointers to
    // buffers owned by the caller for the duration of the call.
    let r = unsafe { libc::ptrace(req, tid, addr as *mut libc::c_void, data as *mut libc::c_void) };
    if r == -1 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// Attaches to `tid` without stopping it (PTRACE_SEIZE) with [`OPTIONS`].
pub fn seize(tid: i32) -> Result<(), Errno> {
    request(libc::PTRACE_SEIZE, tid, 0, OPTIONS as usize).map(drop)
}

/// Stops a seized tracee wherever it is (PTRACE_INTERRUPT): it reports
/// a PTRACE_EVENT_STOP, which its guest cannot observe.
pub fn interrupt(tid: i32) -> Result<(), Errno> {
    request(libc::PTRACE_INTERRUPT, tid, 0, 0).map(drop)
}

/// Reads all general-purpose registers.
pub fn get_regs(tid: i32) -> Result<Regs, Errno> {
    let mut regs = std::mem::MaybeUninit::<Regs>::zeroed();
    request(libc::PTRACE_GETREGS, tid, 0, regs.as_mut_ptr() as usize)?;
    // SAFETY: PTRACE_GETREGS filled the whole struct, and all-zero was
    // already a valid value of this plain-integer struct.
    Ok(unsafe { regs.assume_init() })
}

/// Writes all general-purpose registers.
pub fn set_regs(tid: i32, regs: &Regs) -> Result<(), Errno> {
    request(libc::PTRACE_SETREGS, tid, 0, regs as *const Regs as usize).map(drop)
}

/// Resumes the tracee, delivering `sig` (0 for none); it runs until a
/// seccomp RET_TRACE stop, a signal or its exit.
pub fn cont(tid: i32, sig: i32) -> Result<(), Errno> {
    request(libc::PTRACE_CONT, tid, 0, sig as usize).map(drop)
}

/// Resumes the tracee so that its next syscall stops at entry and is
/// never executed by the host (PTRACE_SYSEMU).
pub fn sysemu(tid: i32, sig: i32) -> Result<(), Errno> {
    request(libc::PTRACE_SYSEMU, tid, 0, sig as usize).map(drop)
}

/// Resumes the tracee until the next syscall entry or exit
/// (PTRACE_SYSCALL): the host runs the syscall in between.
pub fn syscall(tid: i32, sig: i32) -> Result<(), Errno> {
    request(libc::PTRACE_SYSCALL, tid, 0, sig as usize).map(drop)
}

/// Reads the siginfo of a signal-delivery stop (raw 128 bytes).
pub fn get_siginfo(tid: i32, info: &mut [u8; 128]) -> Result<(), Errno> {
    request(libc::PTRACE_GETSIGINFO, tid, 0, info.as_mut_ptr() as usize).map(drop)
}

/// Replaces the siginfo of a signal-delivery stop.
pub fn set_siginfo(tid: i32, info: &[u8; 128]) -> Result<(), Errno> {
    request(libc::PTRACE_SETSIGINFO, tid, 0, info.as_ptr() as usize).map(drop)
}

/// The tracee's blocked-signal mask (bit N-1 for signal N).
pub fn get_sigmask(tid: i32) -> Result<u64, Errno> {
    let mut mask: u64 = 0;
    request(libc::PTRACE_GETSIGMASK, tid, 8, &mut mask as *mut u64 as usize)?;
    Ok(mask)
}

/// The event message of the last PTRACE_EVENT stop.
pub fn event_msg(tid: i32) -> Result<u64, Errno> {
    let mut msg: libc::c_ulong = 0;
    request(libc::PTRACE_GETEVENTMSG, tid, 0, &mut msg as *mut _ as usize)?;
    Ok(msg)
}

/// Sends SIGKILL to one host thread.
pub fn kill_thread(tgid: i32, tid: i32) {
    // SAFETY: tgkill takes plain integers; a vanished thread is ESRCH.
    unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, libc::SIGKILL) };
}

/// One wait result: which host thread changed state, and how.
#[derive(Clone, Copy, Debug)]
pub struct WaitStatus {
    /// The host tid.
    pub tid: i32,
    /// The raw status word of waitpid(2).
    pub status: i32,
}

/// Waits for a state change of any tracee of the *calling thread*
/// (`__WNOTHREAD`: each tracer loop sees only its own tasks). Returns
/// `ECHILD` when the thread has none, `EINTR` when woken by a signal.
pub fn wait_any() -> Result<WaitStatus, Errno> {
    wait(-1)
}

/// Waits for a state change of one tracee.
pub fn wait_tid(tid: i32) -> Result<WaitStatus, Errno> {
    wait(tid)
}

fn wait(pid: i32) -> Result<WaitStatus, Errno> {
    let mut status = 0;
    // SAFETY: rusage is plain integers; all-zero is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `ru` outlive the call.
    let r = unsafe { libc::wait4(pid, &mut status, libc::__WALL | libc::__WNOTHREAD, &mut ru) };
    if r < 0 {
        return Err(Errno::last());
    }
    if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
        exit_usage().lock().unwrap_or_else(|e| e.into_inner()).insert(r, Usage::from_rusage(&ru));
    }
    Ok(WaitStatus { tid: r, status })
}

/// CPU time and peak memory of a task, as getrusage reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// User time, microseconds.
    pub utime_us: u64,
    /// System time, microseconds.
    pub stime_us: u64,
    /// Peak resident set, KiB.
    pub maxrss_kb: u64,
}

impl Usage {
    fn from_rusage(ru: &libc::rusage) -> Usage {
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        Usage { utime_us: us(ru.ru_utime), stime_us: us(ru.ru_stime), maxrss_kb: ru.ru_maxrss as u64 }
    }

    /// Adds another task's usage (times add up, the peak is the larger).
    pub fn add(&mut self, o: Usage) {
        self.utime_us += o.utime_us;
        self.stime_us += o.stime_us;
        self.maxrss_kb = self.maxrss_kb.max(o.maxrss_kb);
    }
}

fn exit_usage() -> &'static std::sync::Mutex<std::collections::HashMap<i32, Usage>> {
    static M: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<i32, Usage>>> = std::sync::OnceLock::new();
    M.get_or_init(Default::default)
}

/// The final usage of host task `tid`, recorded when a wait reaped it.
pub fn take_exit_usage(tid: i32) -> Usage {
    exit_usage().lock().unwrap_or_else(|e| e.into_inner()).remove(&tid).unwrap_or_default()
}
