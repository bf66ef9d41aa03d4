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

use crate::stub;
use crate::syscall::names::nr;

/// A condition on one argument, checked in BPF and in Rust alike.
#[derive(Clone, Copy, Debug)]
pub enum Cond {
    /// `(args[arg] & mask) == value`.
    MaskedEq {
        /// Argument index (0-5).
        arg: u8,
        /// Bits that are compared.
        mask: u64,
        /// Expected value of those bits.
        value: u64,
    },
    /// `args[arg] >= the first address above the stub`: a range starting
    /// there cannot touch the stub's page.
    AboveStub {
        /// Argument index (0-5).
        arg: u8,
    },
    /// `args[arg] <= ` [`crate::mm::oom::native_growth_max`]: a larger
    /// mapping traps, so that the kernel can refuse one larger than the
    /// machine (ENOMEM, as Linux refuses an allocation larger than RAM and
    /// swap) and let the OOM killer measure the guest before it is given.
    SmallGrowth {
        /// Argument index (0-5).
        arg: u8,
    },
}

impl Cond {
    fn holds(&self, args: &[u64; 6]) -> bool {
        match *self {
            Cond::MaskedEq { arg, mask, value } => args[arg as usize] & mask == value,
            Cond::AboveStub { arg } => args[arg as usize] >= stub::end(),
            Cond::SmallGrowth { arg } => args[arg as usize] <= crate::mm::oom::native_growth_max(),
        }
    }

    fn bpf(&self) -> Result<SeccompCondition, seccompiler::BackendError> {
        let q = SeccompCmpArgLen::Qword;
        match *self {
            Cond::MaskedEq { arg, mask, value } => SeccompCondition::new(arg, q, SeccompCmpOp::MaskedEq(mask), value),
            Cond::AboveStub { arg } => SeccompCondition::new(arg, q, SeccompCmpOp::Ge, stub::end()),
            Cond::SmallGrowth { arg } => {
                SeccompCondition::new(arg, q, SeccompCmpOp::Le, crate::mm::oom::native_growth_max())
            }
        }
    }
}

/// When a syscall may run natively: always (no rules), or when all the
/// conditions of at least one rule hold.
pub type Rules = &'static [&'static [Cond]];

const ANY: Rules = &[];
const ANON: Cond = Cond::MaskedEq { arg: 3, mask: libc::MAP_ANONYMOUS as u64, value: libc::MAP_ANONYMOUS as u64 };
const NOT_FIXED: Cond = Cond::MaskedEq { arg: 3, mask: libc::MAP_FIXED as u64, value: 0 };
const NOT_MREMAP_FIXED: Cond = Cond::MaskedEq { arg: 3, mask: libc::MREMAP_FIXED as u64, value: 0 };
/// mmap's length is small enough to run natively (mm/oom.rs).
const SMALL: Cond = Cond::SmallGrowth { arg: 1 };
/// mremap's new size is small enough to run natively.
const NEW_SMALL: Cond = Cond::SmallGrowth { arg: 2 };
/// rt_sigaction's `act` pointer is null.
const NO_NEW_ACTION: Cond = Cond::MaskedEq { arg: 1, mask: u64::MAX, value: 0 };
/// A clock id (an int) that is not negative.
const CLOCK_NOT_DYNAMIC: Cond = Cond::MaskedEq { arg: 0, mask: 0x8000_0000, value: 0 };
/// `which` (an int: the host ignores the upper half) is ITIMER_VIRTUAL.
const ITIMER_VIRTUAL: Cond = Cond::MaskedEq { arg: 0, mask: 0xffff_ffff, value: libc::ITIMER_VIRTUAL as u64 };
/// `which` is ITIMER_PROF.
const ITIMER_PROF: Cond = Cond::MaskedEq { arg: 0, mask: 0xffff_ffff, value: libc::ITIMER_PROF as u64 };

/// The allow-list.
pub const NATIVE: &[(u64, Rules)] = &[
    // Memory: anonymous mappings only (a file mapping needs a host fd the
    // guest does not have; the kernel emulates those), and never over the
    // stub: a fixed mapping, mprotect, munmap, madvise or mremap runs
    // natively only when its range starts above the stub's page. Others
    // trap and are checked exactly (syscall/mm.rs). msync always traps:
    // it writes back ext2 files mapped shared (fs/ext2_mmap.rs).
    // An anonymous mapping larger than a megabyte traps too: the kernel
    // refuses one larger than the machine and lets the OOM killer act
    // before a large one is touched (mm/oom.rs).
    (nr::MMAP, &[&[ANON, NOT_FIXED, SMALL], &[ANON, Cond::AboveStub { arg: 0 }, SMALL]]),
    (nr::MUNMAP, &[&[Cond::AboveStub { arg: 0 }]]),
    (nr::MPROTECT, &[&[Cond::AboveStub { arg: 0 }]]),
    (nr::MADVISE, &[&[Cond::AboveStub { arg: 0 }]]),
    (nr::MINCORE, &[&[Cond::AboveStub { arg: 0 }]]),
    (
        nr::MREMAP,
        &[
            &[Cond::AboveStub { arg: 0 }, NOT_MREMAP_FIXED, NEW_SMALL],
            &[Cond::AboveStub { arg: 0 }, Cond::AboveStub { arg: 4 }, NEW_SMALL],
        ],
    ),
    // Threads and signals of the caller itself. rt_sigaction traps when it
    // sets a disposition (the kernel records dispositions), but a query
    // (no new action: perl reads all 64 at start) runs natively, since the
    // host holds exactly the dispositions the guest set.
    (nr::RT_SIGACTION, &[&[NO_NEW_ACTION]]),
    (nr::FUTEX, ANY),
    (nr::SET_ROBUST_LIST, ANY),
    (nr::SCHED_YIELD, ANY),
    (nr::RT_SIGRETURN, ANY),
    (nr::RT_SIGPROCMASK, ANY),
    (nr::SIGALTSTACK, ANY),
    (nr::RT_SIGSUSPEND, ANY),
    (nr::PAUSE, ANY),
    (nr::RT_SIGPENDING, ANY),
    (nr::ARCH_PRCTL, ANY),
    (nr::RESTART_SYSCALL, ANY),
    // Clocks and sleeps: every asynchronous signal comes from umvm, which
    // interrupts a native sleep like any other.
    // A negative clock id names another process's CPU-time clock by pid,
    // which must be a virtual one: it traps.
    (nr::CLOCK_GETTIME, &[&[CLOCK_NOT_DYNAMIC]]),
    (nr::CLOCK_GETRES, &[&[CLOCK_NOT_DYNAMIC]]),
    (nr::GETTIMEOFDAY, ANY),
    (nr::TIME, ANY),
    (nr::NANOSLEEP, ANY),
    (nr::CLOCK_NANOSLEEP, ANY),
    // The CPU-time interval timers: only the host measures a process's
    // CPU time, and each guest process is one host process, whose
    // ITIMER_VIRTUAL and ITIMER_PROF survive execve and are not inherited
    // by fork, as Linux requires. Their SIGVTALRM and SIGPROF come from the
    // host (SI_KERNEL, no sender to hide). ITIMER_REAL is emulated.
    (nr::SETITIMER, &[&[ITIMER_VIRTUAL], &[ITIMER_PROF]]),
    (nr::GETITIMER, &[&[ITIMER_VIRTUAL], &[ITIMER_PROF]]),
    // The end of a process is seen by the tracer's waitpid.
    (nr::EXIT, ANY),
    (nr::EXIT_GROUP, ANY),
];

/// Whether syscall `nr` with `args` may run on the host as it is.
pub fn runs_natively(nr: u64, args: &[u64; 6]) -> bool {
    NATIVE.iter().any(|&(n, rules)| {
        n == nr && (rules.is_empty() || rules.iter().any(|conds| conds.iter().all(|c| c.holds(args))))
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
    for &(n, alternatives) in NATIVE {
        let mut chain = Vec::new();
        for conds in alternatives {
            let conds = conds.iter().map(|c| c.bpf()).collect::<Result<Vec<_>, _>>().map_err(|e| err(&e))?;
            chain.push(SeccompRule::new(conds).map_err(|e| err(&e))?);
        }
        rules.insert(n as i64, chain);
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
    fn a_mapping_over_a_megabyte_traps_for_the_oom_killer() {
        let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let max = crate::mm::oom::NATIVE_GROWTH_MAX;
        assert!(runs_natively(nr::MMAP, &[0, max, rw, anon, u64::MAX, 0]));
        assert!(!runs_natively(nr::MMAP, &[0, max + 4096, rw, anon, u64::MAX, 0]));
        let grow = libc::MREMAP_MAYMOVE as u64;
        assert!(runs_natively(nr::MREMAP, &[1 << 40, 4096, max, grow, 0, 0]));
        assert!(!runs_natively(nr::MREMAP, &[1 << 40, 4096, max + 4096, grow, 0, 0]));
    }

    #[test]
    fn nothing_native_can_touch_the_stub() {
        let fixed = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let b = stub::base();
        assert!(!runs_natively(nr::MMAP, &[b, 4096, rw, fixed, 0, 0]));
        assert!(!runs_natively(nr::MPROTECT, &[b, 4096, rw, 0, 0, 0]));
        assert!(!runs_natively(nr::MUNMAP, &[0, u64::MAX, 0, 0, 0, 0]));
        assert!(!runs_natively(nr::MADVISE, &[b, 4096, 4, 0, 0, 0]));
        let mremap_fixed = (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
        assert!(!runs_natively(nr::MREMAP, &[1 << 40, 4096, 4096, mremap_fixed, b, 0]));
        // Above the stub, all of them run natively.
        let hi = stub::end();
        assert!(runs_natively(nr::MMAP, &[hi, 4096, rw, fixed, 0, 0]));
        assert!(runs_natively(nr::MPROTECT, &[hi, 4096, rw, 0, 0, 0]));
        assert!(runs_natively(nr::MREMAP, &[1 << 40, 4096, 8192, libc::MREMAP_MAYMOVE as u64, 0, 0]));
        assert!(runs_natively(nr::MREMAP, &[1 << 40, 4096, 4096, mremap_fixed, 1 << 41, 0]));
    }

    #[test]
    fn only_the_cpu_time_itimers_are_native() {
        for n in [nr::SETITIMER, nr::GETITIMER] {
            assert!(!runs_natively(n, &[libc::ITIMER_REAL as u64, 0, 0, 0, 0, 0]));
            assert!(runs_natively(n, &[libc::ITIMER_VIRTUAL as u64, 0, 0, 0, 0, 0]));
            assert!(runs_natively(n, &[libc::ITIMER_PROF as u64, 0, 0, 0, 0, 0]));
            // The host reads `which` as an int, and so does the filter.
            assert!(runs_natively(n, &[(1 << 32) | libc::ITIMER_PROF as u64, 0, 0, 0, 0, 0]));
            assert!(!runs_natively(n, &[1 << 32, 0, 0, 0, 0, 0]));
            assert!(!runs_natively(n, &[3, 0, 0, 0, 0, 0]));
        }
    }

    #[test]
    fn dynamic_clock_ids_trap() {
        // CLOCK_MONOTONIC and CLOCK_PROCESS_CPUTIME_ID run natively; a
        // negative id (a CPU-time clock by pid) names a virtual pid.
        assert!(runs_natively(nr::CLOCK_GETTIME, &[1, 0, 0, 0, 0, 0]));
        assert!(runs_natively(nr::CLOCK_GETRES, &[2, 0, 0, 0, 0, 0]));
        let by_pid = ((!5i32) << 3 | 2) as u32 as u64;
        assert!(!runs_natively(nr::CLOCK_GETTIME, &[by_pid, 0, 0, 0, 0, 0]));
        assert!(!runs_natively(nr::CLOCK_GETRES, &[by_pid, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn chroot_capabilities_and_splice_always_trap() {
        // The host must never run these for the guest: its root and
        // capabilities are virtual, and its pipes are the kernel's.
        for n in [nr::CHROOT, nr::CAPGET, nr::CAPSET, nr::SPLICE, nr::TEE, nr::VMSPLICE] {
            assert!(!NATIVE.iter().any(|&(m, _)| m == n), "{:?}", crate::syscall::names::name(n));
            assert!(!runs_natively(n, &[0; 6]));
            assert!(!runs_natively(n, &[u64::MAX; 6]));
        }
    }

    #[test]
    fn sigaction_queries_are_native_changes_trap() {
        let old = 1 << 40;
        assert!(runs_natively(nr::RT_SIGACTION, &[libc::SIGINT as u64, 0, old, 8, 0, 0]));
        assert!(!runs_natively(nr::RT_SIGACTION, &[libc::SIGINT as u64, 1 << 41, old, 8, 0, 0]));
        assert!(!runs_natively(nr::RT_SIGACTION, &[libc::SIGINT as u64, 1 << 41, 0, 8, 0, 0]));
    }

    #[test]
    fn filter_compiles() {
        assert!(filter().unwrap().len() > NATIVE.len());
    }
}
