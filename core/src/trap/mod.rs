//! How guest syscalls reach the kernel (ARCHITECTURE §2).
//!
//! A [`Platform`] runs a stopped task until its next trapped syscall and
//! knows how to complete or skip that syscall. Two back ends exist:
//! [`Sysemu`] (PTRACE_SYSEMU: every syscall stops, nothing reaches the
//! host but what the kernel injects) and [`Seccomp`] (a BPF allow-list runs
//! harmless syscalls natively, the rest stop with SECCOMP_RET_TRACE).
//! Host syscalls the kernel needs a guest process to make are injected
//! through the stub's gadget ([`inject`]).

pub mod fdpass;
pub mod inject;
pub mod ptrace;
pub mod seccomp;
pub mod spawn;

use crate::errno::Errno;
pub use ptrace::Regs;

/// Which trap back end a VM uses (`--trap`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TrapMode {
    /// seccomp BPF allow-list plus SECCOMP_RET_TRACE for the rest (default).
    #[default]
    Seccomp,
    /// PTRACE_SYSEMU: every guest syscall stops in the kernel.
    Sysemu,
}

impl TrapMode {
    /// The back end implementing this mode.
    pub fn platform(self) -> &'static dyn Platform {
        match self {
            TrapMode::Seccomp => &Seccomp,
            TrapMode::Sysemu => &Sysemu,
        }
    }
}

impl std::str::FromStr for TrapMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "seccomp" => Ok(TrapMode::Seccomp),
            "sysemu" => Ok(TrapMode::Sysemu),
            _ => Err(format!("unknown trap mode {s:?} (expected seccomp or sysemu)")),
        }
    }
}

/// A trap back end (cf. gVisor's Platform).
pub trait Platform: Send + Sync {
    /// The mode this back end implements.
    fn mode(&self) -> TrapMode;

    /// Resumes a stopped task until its next trapped syscall, delivering
    /// `sig` (0 for none).
    fn resume(&self, tid: i32, sig: i32) -> Result<(), Errno>;

    /// Makes the syscall the task is stopped at return `ret` without the
    /// host executing it. The caller writes `regs` back.
    fn complete(&self, regs: &mut Regs, ret: i64);

    /// Resumes a task stopped at syscall entry so that the *host* executes
    /// that very syscall with the guest's own arguments, or returns `false`
    /// when this back end cannot (the kernel then injects it).
    fn run_on_host(&self, tid: i32) -> Result<bool, Errno>;
}

/// PTRACE_SYSEMU back end.
pub struct Sysemu;

impl Platform for Sysemu {
    fn mode(&self) -> TrapMode {
        TrapMode::Sysemu
    }
    fn resume(&self, tid: i32, sig: i32) -> Result<(), Errno> {
        ptrace::sysemu(tid, sig)
    }
    fn complete(&self, regs: &mut Regs, ret: i64) {
        // The host already decided to skip the syscall at the SYSEMU stop.
        regs.rax = ret as u64;
    }
    fn run_on_host(&self, _tid: i32) -> Result<bool, Errno> {
        Ok(false)
    }
}

/// seccomp RET_TRACE back end.
pub struct Seccomp;

impl Platform for Seccomp {
    fn mode(&self) -> TrapMode {
        TrapMode::Seccomp
    }
    fn resume(&self, tid: i32, sig: i32) -> Result<(), Errno> {
        ptrace::cont(tid, sig)
    }
    fn complete(&self, regs: &mut Regs, ret: i64) {
        // syscall number -1 makes the host skip the call and leave rax.
        regs.orig_rax = u64::MAX;
        regs.rax = ret as u64;
    }
    fn run_on_host(&self, tid: i32) -> Result<bool, Errno> {
        ptrace::cont(tid, 0)?;
        Ok(true)
    }
}

/// What a wait status says happened to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Stopped at the entry of a guest syscall (SYSEMU or seccomp stop).
    Syscall,
    /// Stopped for the delivery of this signal.
    Signal(i32),
    /// Group-stop (PTRACE_EVENT_STOP) with this signal.
    GroupStop(i32),
    /// Another ptrace event stop (PTRACE_EVENT_*).
    Event(i32),
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal.
    Killed(i32),
}

impl Stop {
    /// Decodes a raw waitpid status.
    pub fn from_status(status: i32) -> Stop {
        if libc::WIFEXITED(status) {
            return Stop::Exited(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            return Stop::Killed(libc::WTERMSIG(status));
        }
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        if sig == libc::SIGTRAP | 0x80 {
            return Stop::Syscall;
        }
        match event {
            0 => Stop::Signal(sig),
            libc::PTRACE_EVENT_SECCOMP => Stop::Syscall,
            libc::PTRACE_EVENT_STOP => Stop::GroupStop(sig),
            e => Stop::Event(e),
        }
    }
}

/// The six syscall arguments in x86-64 order.
pub fn syscall_args(regs: &Regs) -> [u64; 6] {
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9]
}
