//! Signals (ARCHITECTURE §4).
//!
//! Frames, handlers and masks stay with the host: the kernel only tracks
//! each process's dispositions (to know what interrupts a blocked
//! syscall, what restarts under SA_RESTART, what is ignored) and sends
//! every asynchronous signal itself, fixing `si_pid`/`si_uid` to virtual
//! ids at the delivery stop.

pub mod send;

use std::collections::{HashMap, VecDeque};

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

/// Which POSIX timer a signal comes from (task/posix_timer.rs), so that
/// its delivery can re-arm the timer and report its overruns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerTag {
    /// Virtual pid of the timer's process.
    pub vpid: i32,
    /// The timer's id in that process.
    pub id: i32,
    /// Which timer of that id (ids are reused after timer_delete).
    pub serial: u64,
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
    /// For sigqueue and timers: the value sent (si_value).
    pub value: Option<u64>,
    /// For a POSIX timer's signal (SI_TIMER): the timer. `pid` and `uid`
    /// then hold si_timerid and si_overrun, which share their offsets.
    pub timer: Option<TimerTag>,
}

impl SigInfoFix {
    /// Writes these fields over a raw 128-byte siginfo of signal `sig`.
    pub fn apply(&self, sig: i32, info: &mut [u8]) {
        info[8..12].copy_from_slice(&self.code.to_le_bytes());
        info[16..20].copy_from_slice(&self.pid.to_le_bytes());
        info[20..24].copy_from_slice(&self.uid.to_le_bytes());
        // A value means the sigqueue/timer layout, whatever the signal
        // (a timer may well send SIGCHLD).
        if let Some(v) = self.value {
            info[24..32].copy_from_slice(&v.to_le_bytes());
        } else if sig == libc::SIGCHLD {
            info[24..28].copy_from_slice(&self.status.to_le_bytes());
        }
    }
}

/// Linux's first real-time signal: from here on, each signal sent is
/// queued; below, a signal already pending absorbs a second one.
pub const SIGRTMIN: i32 = 32;

/// The siginfo the kernel owes each signal it sent a task and the task
/// has not taken yet, oldest first. The host keeps the signals themselves;
/// these records say what the guest must see when each is delivered.
#[derive(Debug, Default)]
pub struct Pending(HashMap<i32, VecDeque<SigInfoFix>>);

impl Pending {
    /// Records `fix` for a `sig` just sent. A real-time signal queues
    /// one record per signal, like the host. A standard signal is pending
    /// at most once on the host: a second one merges into the first, whose
    /// siginfo stands (Linux's legacy_queue), so its record is dropped,
    /// except a timer's, which the delivery must see to re-arm the timer.
    /// The queue thus stays bounded by the host's and by the timers.
    pub fn push(&mut self, sig: i32, fix: SigInfoFix) {
        let q = self.0.entry(sig).or_default();
        if sig >= SIGRTMIN || q.is_empty() || fix.timer.is_some() {
            q.push_back(fix);
        }
    }

    /// The records for one delivery of `sig`: the oldest for a real-time
    /// signal; every record for a standard one (they merged into this
    /// delivery, which shows the first).
    pub fn take(&mut self, sig: i32) -> Vec<SigInfoFix> {
        let Some(q) = self.0.get_mut(&sig) else { return Vec::new() };
        let taken = if sig >= SIGRTMIN { q.pop_front().into_iter().collect() } else { q.drain(..).collect() };
        if q.is_empty() {
            self.0.remove(&sig);
        }
        taken
    }

    /// Every record for `sig`: the host discarded the signal (it became
    /// ignored).
    pub fn remove_all(&mut self, sig: i32) -> Vec<SigInfoFix> {
        self.0.remove(&sig).map(Vec::from).unwrap_or_default()
    }

    /// Every record (the task is gone).
    pub fn drain(&mut self) -> Vec<SigInfoFix> {
        self.0.drain().flat_map(|(_, q)| q).collect()
    }

    /// The signals with records.
    pub fn signals(&self) -> impl Iterator<Item = i32> + '_ {
        self.0.keys().copied()
    }
}

/// What one delivery of a signal shows the guest.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The siginfo the kernel recorded when it sent the signal.
    Show(SigInfoFix),
    /// No record: the host generated the signal itself (SIGSEGV, or the
    /// SIGVTALRM/SIGPROF of a native CPU-time itimer); its siginfo stands.
    Host,
    /// Nothing: the signal of a POSIX timer re-armed or deleted since it
    /// was sent, which Linux drops at delivery.
    Drop,
}

/// Settles one delivery from the records [`Pending::take`] returned: a
/// timer's signal re-arms its timer (or is dropped), and the first record
/// still standing is what the guest sees.
pub fn settle(k: &crate::kernel::Kernel, fixes: Vec<SigInfoFix>) -> Delivery {
    if fixes.is_empty() {
        return Delivery::Host;
    }
    let mut shown = None;
    for mut fix in fixes {
        if let Some(tag) = fix.timer {
            let Some(overrun) = crate::task::posix_timer::deliver(k, tag) else { continue };
            // si_overrun (`pid` already holds si_timerid).
            fix.uid = overrun as u32;
        }
        shown.get_or_insert(fix);
    }
    shown.map_or(Delivery::Drop, Delivery::Show)
}
