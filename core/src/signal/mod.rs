//! Signals (ARCHITECTURE §4).
//!
//! Frames, handlers and masks stay with the host: the kernel only tracks
//! each process's dispositions (to know what interrupts a blocked
//! syscall, what restarts under SA_RESTART, what is ignored) and sends
//! every asynchronous signal itself, fixing `si_pid`/`si_uid` to virtual
//! ids at the delivery stop.

pub mod send;

/// Linux's number of signals.
pub const NSIG: usize = 64;

/// `struct k_sigaction` as rt_sigaction passes it (x86-64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, or SIG_DFL (0) / SIG_IGN (1).
    pub handler: u64,
    /// SA_* flags.
    pub flags: u64,
    /// The sa_restorer trampoline.
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

/// The SIG_IGN disposition.
pub const SIG_IGN: u64 = 1;
/// The SIG_DFL disposition.
pub const SIG_DFL: u64 = 0;

/// A process's dispositions (shared by threads cloned with CLONE_SIGHAND).
#[derive(Clone, Debug)]
pub struct SigHandlers {
    actions: [SigAction; NSIG],
}

impl Default for SigHandlers {
    fn default() -> Self {
        SigHandlers { actions: [SigAction::default(); NSIG] }
    }
}

/// Signals whose default action is to do nothing.
pub fn ignored_by_default(sig: i32) -> bool {
    matches!(sig, libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT)
}

/// Signals whose default action stops the process.
pub fn stops_by_default(sig: i32) -> bool {
    matches!(sig, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
}

impl SigHandlers {
    /// The disposition of `sig` (1..=64).
    pub fn get(&self, sig: i32) -> SigAction {
        self.actions.get(sig as usize - 1).copied().unwrap_or_default()
    }

    /// Records a new disposition (after the host accepted it).
    pub fn set(&mut self, sig: i32, act: SigAction) {
        if let Some(a) = self.actions.get_mut(sig as usize - 1) {
            *a = act;
        }
    }

    /// After execve: handlers become SIG_DFL; ignored signals stay ignored.
    pub fn reset_for_exec(&mut self) {
        for a in &mut self.actions {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }

    /// Whether delivering `sig` does nothing at all (ignored explicitly,
    /// or by default). SIGKILL and SIGSTOP are never ignored.
    pub fn is_ignored(&self, sig: i32) -> bool {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return false;
        }
        let a = self.get(sig);
        a.handler == SIG_IGN || (a.handler == SIG_DFL && ignored_by_default(sig))
    }

    /// Whether a syscall interrupted by `sig` restarts after its handler.
    pub fn restarts(&self, sig: i32) -> bool {
        let a = self.get(sig);
        a.handler > SIG_IGN && a.flags & libc::SA_RESTART as u64 != 0
    }

    /// Whether `sig` runs a handler (as opposed to a default action).
    pub fn has_handler(&self, sig: i32) -> bool {
        self.get(sig).handler > SIG_IGN
    }

    /// Whether children of this process are reaped without becoming
    /// zombies (SIGCHLD ignored, or SA_NOCLDWAIT).
    pub fn autoreap(&self) -> bool {
        let a = self.get(libc::SIGCHLD);
        a.handler == SIG_IGN || a.flags & libc::SA_NOCLDWAIT as u64 != 0
    }
}

/// Syscalls that fail with EINTR after a handler runs, SA_RESTART or not
/// (signal(7): sleeps and waits with a timeout).
pub fn never_restarts(nr: u64) -> bool {
    use crate::syscall::names::nr;
    matches!(
        nr,
        nr::NANOSLEEP
            | nr::CLOCK_NANOSLEEP
            | nr::POLL
            | nr::PPOLL
            | nr::SELECT
            | nr::PSELECT6
            | nr::EPOLL_WAIT
            | nr::EPOLL_PWAIT
            | nr::EPOLL_PWAIT2
            | nr::PAUSE
            | nr::RT_SIGSUSPEND
            | nr::RT_SIGTIMEDWAIT
    )
}

/// Syscalls that fail with EINTR after the process was stopped and
/// continued, with no handler involved (signal(7)).
pub fn eintr_after_stop(nr: u64) -> bool {
    use crate::syscall::names::nr;
    matches!(nr, nr::EPOLL_WAIT | nr::EPOLL_PWAIT | nr::EPOLL_PWAIT2 | nr::RT_SIGTIMEDWAIT)
}

/// What the kernel writes into a signal's siginfo at its delivery stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfoFix {
    /// si_code (SI_USER, SI_TKILL, CLD_EXITED, ...).
    pub code: i32,
    /// Virtual pid of the sender (or of the child, for SIGCHLD).
    pub pid: i32,
    /// Virtual uid of the sender.
    pub uid: u32,
    /// For SIGCHLD: the child's exit code or signal.
    pub status: i32,
    /// For sigqueue: the value sent (si_value).
    pub value: Option<u64>,
}

impl SigInfoFix {
    /// Writes these fields over a raw 128-byte siginfo of signal `sig`.
    pub fn apply(&self, sig: i32, info: &mut [u8]) {
        info[8..12].copy_from_slice(&self.code.to_le_bytes());
        info[16..20].copy_from_slice(&self.pid.to_le_bytes());
        info[20..24].copy_from_slice(&self.uid.to_le_bytes());
        if sig == libc::SIGCHLD {
            info[24..28].copy_from_slice(&self.status.to_le_bytes());
        } else if let Some(v) = self.value {
            info[24..32].copy_from_slice(&v.to_le_bytes());
        }
    }
}
