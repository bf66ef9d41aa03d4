//! The audited allow-list: syscalls a guest may make directly on the host.
//!
//! One policy serves both back ends. In seccomp mode it is compiled to
//! BPF (with `seccompiler`) and installed in every guest process: what it
//! allows never traps, everything else stops with SECCOMP_RET_TRACE. In
//! sysemu mode every syscall traps, and the same policy decides which ones
//! the kernel injects as they are.
//!
//! Each entry is safe to run natively because guest processes hold no
//! host file descriptors, and the call only touches the caller's own
//! address space, signal state or clock.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use crate::syscall::names::nr;

/// A condition on one argument, checked in BPF and in Rust alike.
#[derive(Clone, Copy, Debug)]
pub enum ArgCheck {
    /// Any arguments.
    Any,
    /// `(args[arg] & mask) == value`.
    MaskedEq {
        /// Argument index (0-5).
        arg: u8,
        /// Bits that are compared.
        mask: u64,
        /// Expected value of those bits.
        value: u64,
    },
}

/// The allow-list.
pub const NATIVE: &[(u64, ArgCheck)] = &[
    // Memory: anonymous mappings only (a file mapping needs a host fd the
    // guest does not have; the kernel emulates those).
    (nr::MMAP, ArgCheck::MaskedEq { arg: 3, mask: libc::MAP_ANONYMOUS as u64, value: libc::MAP_ANONYMOUS as u64 }),
    (nr::MUNMAP, ArgCheck::Any),
    (nr::MPROTECT, ArgCheck::Any),
    (nr::MREMAP, ArgCheck::Any),
    (nr::MADVISE, ArgCheck::Any),
    // Threads and signals of the caller itself.
    (nr::FUTEX, ArgCheck::Any),
    (nr::SET_ROBUST_LIST, ArgCheck::Any),
    (nr::SCHED_YIELD, ArgCheck::Any),
    (nr::RT_SIGRETURN, ArgCheck::Any),
    (nr::RT_SIGACTION, ArgCheck::Any),
    (nr::RT_SIGPROCMASK, ArgCheck::Any),
    (nr::SIGALTSTACK, ArgCheck::Any),
    (nr::ARCH_PRCTL, ArgCheck::Any),
    (nr::RESTART_SYSCALL, ArgCheck::Any),
    // Clocks and sleeps: every asynchronous signal comes from umvm, which
    // interrupts a native sleep like any other.
    (nr::CLOCK_GETTIME, ArgCheck::Any),
    (nr::CLOCK_GETRES, ArgCheck::Any),
    (nr::GETTIMEOFDAY, ArgCheck::Any),
    (nr::TIME, ArgCheck::Any),
    (nr::NANOSLEEP, ArgCheck::Any),
    (nr::CLOCK_NANOSLEEP, ArgCheck::Any),
    // The end of a process is seen by the tracer's waitpid.
    (nr::EXIT, ArgCheck::Any),
    (nr::EXIT_GROUP, ArgCheck::Any),
];

/// Whether syscall `nr` with `args` may run on the host as it is.
pub fn runs_natively(nr: u64, args: &[u64; 6]) -> bool {
    NATIVE.iter().any(|&(n, check)| {
        n == nr
            && match check {
                ArgCheck::Any => true,
                ArgCheck::MaskedEq { arg, mask, value } => args[arg as usize] & mask == value,
            }
    })
}

/// Errors building the filter (a bug in [`NATIVE`], never guest input).
#[derive(Debug, thiserror::Error)]
#[error("building the seccomp filter: {0}")]
pub struct FilterError(String);

/// Compiles [`NATIVE`] to a BPF program: allowed calls run, everything
/// else (including the x32 ABI and unknown numbers) is traced; a syscall of
/// another architecture (int 0x80) kills the process.
pub fn filter() -> Result<BpfProgram, FilterError> {
    let err = |e: &dyn std::fmt::Display| FilterError(e.to_string());
    let mut rules = std::collections::BTreeMap::new();
    for &(n, check) in NATIVE {
        let rule = match check {
            ArgCheck::Any => vec![],
            ArgCheck::MaskedEq { arg, mask, value } => {
                let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(mask), value)
                    .map_err(|e| err(&e))?;
                vec![SeccompRule::new(vec![cond]).map_err(|e| err(&e))?]
            }
        };
        rules.insert(n as i64, rule);
    }
    let f = SeccompFilter::new(rules, SeccompAction::Trace(0), SeccompAction::Allow, TargetArch::x86_64)
        .map_err(|e| err(&e))?;
    f.try_into().map_err(|e: seccompiler::BackendError| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_mmap_is_native_file_mmap_is_not() {
        let anon = [0, 4096, 3, (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64, u64::MAX, 0];
        let file = [0, 4096, 1, libc::MAP_PRIVATE as u64, 3, 0];
        assert!(runs_natively(nr::MMAP, &anon));
        assert!(!runs_natively(nr::MMAP, &file));
        assert!(!runs_natively(nr::OPENAT, &[0; 6]));
        assert!(!runs_natively(nr::GETPID, &[0; 6]));
    }

    #[test]
    fn filter_compiles() {
        assert!(filter().unwrap().len() > NATIVE.len());
    }
}
