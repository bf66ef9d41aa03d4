//! POSIX per-process timers (Linux's kernel/time/posix-timers.c, as of
//! Linux 6.13): the state behind timer_create, timer_settime,
//! timer_gettime, timer_getoverrun and timer_delete.
//!
//! A timer belongs to its process: fork does not copy it, execve and the
//! end of the process delete it. Ids come from a per-process counter that
//! starts at 0, skips ids in use and survives execve, as in Linux.
//!
//! The kernel's timer thread runs the expiries, so a timer's signal comes
//! from umvm like every asynchronous signal (ARCHITECTURE §4), and carries
//! si_code SI_TIMER, the timer's id, its overrun count and sigev_value.
//! As in Linux a timer has one signal in flight at most:
//!
//! - A periodic timer whose signal was sent stops ("requeue pending") until
//!   that signal is delivered or accepted (sigwaitinfo); it is re-armed
//!   then, and the periods that went by meanwhile are its overruns
//!   (si_overrun, timer_getoverrun). So a timer whose signal stays blocked
//!   costs nothing, however short its period.
//! - A timer that expires while its previous signal is still pending sends
//!   nothing more: that signal now stands for this expiry.
//! - A signal sent before its timer was re-armed or deleted is dropped at
//!   delivery (a sequence number tells).
//! - A periodic timer whose signal is ignored when it expires is parked,
//!   and sends its signal as soon as the signal is no longer ignored.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Process, ProcessState};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::sched::timer::{after as later, TimerAction, TimerKey, KTIME_MAX};
use crate::signal::{send, SigInfoFix, TimerTag, NSIG};

/// The most timers one process may have, whatever its RLIMIT_SIGPENDING
/// (Linux charges each timer's preallocated signal to that limit): a
/// bound on the memory a guest can make the kernel hold.
pub const MAX_TIMERS: usize = 4096;

/// Serial numbers for timers and armings, unique in umvm's lifetime.
static SERIALS: AtomicU64 = AtomicU64::new(1);

fn fresh() -> u64 {
    SERIALS.fetch_add(1, Ordering::Relaxed)
}

/// How a timer tells of its expiry (struct sigevent's sigev_notify).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: nothing; timer_gettime shows its progress.
    None,
    /// SIGEV_SIGNAL, and SIGEV_THREAD, which Linux treats alike (the C
    /// library builds SIGEV_THREAD on SIGEV_THREAD_ID): this signal to the
    /// process.
    Process(i32),
    /// SIGEV_THREAD_ID: a signal (first) to one thread, by virtual tid
    /// (second), of the process.
    Thread(i32, i32),
}

impl Notify {
    fn sig(self) -> Option<i32> {
        match self {
            Notify::None => None,
            Notify::Process(sig) | Notify::Thread(sig, _) => Some(sig),
        }
    }
}

/// struct sigevent, as timer_create reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigEvent {
    /// sigev_value: the si_value of the timer's signals.
    pub value: u64,
    /// sigev_signo.
    pub signo: i32,
    /// sigev_notify.
    pub notify: i32,
    /// sigev_notify_thread_id: a virtual tid.
    pub tid: i32,
}

impl SigEvent {
    /// Decodes the 64 bytes of a struct sigevent (x86-64).
    pub fn parse(raw: &[u8; 64]) -> SigEvent {
        let int = |o: usize| i32::from_le_bytes(raw[o..o + 4].try_into().expect("4 bytes"));
        SigEvent {
            value: u64::from_le_bytes(raw[0..8].try_into().expect("8 bytes")),
            signo: int(8),
            notify: int(12),
            tid: int(16),
        }
    }

    /// Linux's good_sigevent: a known notification, a signal number in
    /// 1..=SIGRTMAX, and for SIGEV_THREAD_ID a live thread of the caller's
    /// process (`threads`, virtual tids).
    fn check(&self, threads: &std::collections::BTreeSet<i32>) -> Result<Notify, Errno> {
        let signo_ok = (1..=NSIG as i32).contains(&self.signo);
        match self.notify {
            libc::SIGEV_THREAD_ID if threads.contains(&self.tid) && signo_ok => {
                Ok(Notify::Thread(self.signo, self.tid))
            }
            libc::SIGEV_SIGNAL | libc::SIGEV_THREAD if signo_ok => Ok(Notify::Process(self.signo)),
            libc::SIGEV_NONE => Ok(Notify::None),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// A timer's setting, as struct itimerspec has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    /// The period (zero: one-shot).
    pub interval: Duration,
    /// The time to the next expiry (zero: disarmed).
    pub value: Duration,
}

/// One timer.
#[derive(Debug)]
struct Timer {
    /// Tells this timer from an earlier one with the same id.
    serial: u64,
    /// The clock absolute settings refer to.
    clock: i32,
    notify: Notify,
    /// sigev_value.
    value: u64,
    /// The next expiry; or, when `requeue_pending`, the expiry whose signal
    /// is in flight. None: disarmed.
    deadline: Option<Instant>,
    interval: Duration,
    /// A periodic timer expired and waits for its signal's delivery to
    /// re-arm (Linux's POSIX_TIMER_REQUEUE_PENDING).
    requeue_pending: bool,
    /// Its signal is pending in the guest.
    queued: bool,
    /// Expired while its signal was ignored: sends it when it no longer is.
    parked: bool,
    /// Bumped when re-armed or deleted: a signal sent earlier is dropped.
    signal_seq: u64,
    /// The `signal_seq` of the expiry the pending signal stands for.
    sigqueue_seq: u64,
    /// The overruns of the last delivered signal (timer_getoverrun).
    overrun_last: u64,
    /// The current arming's timer-thread entry: an entry of an earlier
    /// arming that already left the queue does nothing.
    arming: u64,
    entry: Option<TimerKey>,
}

impl Timer {
    /// A timer as timer_create makes it: not armed, nothing queued.
    fn disarmed(serial: u64, clock: libc::clockid_t, notify: Notify, value: u64) -> Timer {
        Timer {
            serial,
            clock,
            notify,
            value,
            deadline: None,
            interval: Duration::ZERO,
            requeue_pending: false,
            queued: false,
            parked: false,
            signal_seq: 0,
            sigqueue_seq: 0,
            overrun_last: 0,
            arming: 0,
            entry: None,
        }
    }

    /// What timer_gettime shows at `now` (Linux's common_timer_get): the
    /// time to the next expiry, counting a periodic timer whose signal is in
    /// flight (or a SIGEV_NONE one, which never really expires) as re-armed
    /// now; an expired timer whose signal is still to come shows 1ns.
    fn current(&self, now: Instant) -> Setting {
        let Some(d) = self.deadline else { return Setting { interval: self.interval, value: Duration::ZERO } };
        let sig_none = self.notify == Notify::None;
        let value = if d > now {
            d - now
        } else if !self.interval.is_zero() && (self.requeue_pending || sig_none) {
            forward(d, self.interval, now).1 - now
        } else if sig_none {
            Duration::ZERO
        } else {
            Duration::from_nanos(1)
        };
        Setting { interval: self.interval, value }
    }

    /// Schedules the expiry at `at`.
    fn arm(&mut self, k: &Kernel, vpid: i32, id: i32, at: Instant) {
        if let Some(e) = self.entry.take() {
            k.timers.cancel(e);
        }
        self.arming = fresh();
        self.entry = Some(k.timers.schedule(at, TimerAction::PosixTimer { vpid, id, arming: self.arming }));
    }

    /// Re-arms a periodic timer whose signal is settled, at the first
    /// period after now; the periods missed are its overruns.
    fn rearm(&mut self, k: &Kernel, vpid: i32, id: i32) {
        let Some(d) = self.deadline else { return };
        let (missed, next) = forward(d, self.interval, Instant::now());
        self.deadline = Some(next);
        self.requeue_pending = false;
        self.overrun_last = missed;
        self.signal_seq += 1;
        self.arm(k, vpid, id, next);
    }

    /// The record the kernel keeps with the timer's signal.
    fn fix(&self, vpid: i32, id: i32) -> SigInfoFix {
        SigInfoFix {
            code: libc::SI_TIMER,
            pid: id,
            uid: 0,
            status: 0,
            value: Some(self.value),
            timer: Some(TimerTag { vpid, id, serial: self.serial }),
        }
    }

    /// The thread (virtual tid) its signal goes to: the named thread if it
    /// still lives, or for the process, its first thread (umvm sends
    /// process signals to one thread, as send::to_process does).
    fn target(&self, threads: &std::collections::BTreeSet<i32>) -> Option<i32> {
        match self.notify {
            Notify::None => None,
            Notify::Process(_) => threads.iter().next().copied(),
            Notify::Thread(_, vtid) => threads.contains(&vtid).then_some(vtid),
        }
    }
}

/// A periodic timer that expired at `d`, moved past `now` (Linux's
/// hrtimer_forward): the expiries it missed in (d, now], and its next one.
fn forward(d: Instant, interval: Duration, now: Instant) -> (u64, Instant) {
    if now < d {
        return (0, d);
    }
    let period = interval.as_nanos().max(1);
    let missed = (now - d).as_nanos() / period;
    let step = u64::try_from((missed + 1) * period).unwrap_or(u64::MAX);
    (u64::try_from(missed).unwrap_or(u64::MAX), later(d, Duration::from_nanos(step)))
}

/// The current time of `clock`, since its epoch.
fn clock_now(clock: i32) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to fill; the clock id was checked.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// When absolute time `value` of `clock` comes, as an Instant (which may
/// be in the past: a periodic timer then counts the periods since as
/// overruns, as in Linux).
fn absolute(clock: i32, value: Duration, now: Instant) -> Instant {
    let c = clock_now(clock);
    if value >= c {
        later(now, value - c)
    } else {
        now.checked_sub(c - value).unwrap_or(now)
    }
}

/// Whether the process ignores `sig` as a timer's signal: its disposition
/// ignores it, or it is init (vpid 1, pid 1 of the guest's pid namespace),
/// which Linux shields from every signal it has no handler for.
pub fn ignores(p: &Process, sig: i32) -> bool {
    let h = p.sighand.lock();
    h.is_ignored(sig) || (p.vpid == 1 && !h.has_handler(sig))
}

/// A process's timers.
#[derive(Debug, Default)]
pub struct PosixTimers {
    timers: BTreeMap<i32, Timer>,
    /// The next id to try (masked to 0..=INT_MAX).
    next_id: u32,
}

impl PosixTimers {
    /// How many timers there are.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Deletes every timer (execve, the end of the process); the id
    /// counter goes on, as Linux's lives in the signal struct.
    pub fn clear(&mut self, k: &Kernel) {
        for t in std::mem::take(&mut self.timers).into_values() {
            if let Some(e) = t.entry {
                k.timers.cancel(e);
            }
        }
    }

    fn alloc_id(&mut self) -> Result<i32, Errno> {
        for _ in 0..=self.timers.len() {
            let id = (self.next_id & i32::MAX as u32) as i32;
            self.next_id = self.next_id.wrapping_add(1);
            if !self.timers.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(Errno::EAGAIN)
    }
}

/// Creates a timer on `clock` (already checked) for process `p`: `sev`
/// says how it notifies, None meaning SIGALRM to the process with the
/// timer's id as si_value. EAGAIN beyond the process's limit; EINVAL for a
/// bad sigevent (which, as in Linux, still uses up an id).
pub fn create(p: &Process, clock: i32, sev: Option<&SigEvent>) -> Result<i32, Errno> {
    let mut guard = p.state();
    let st: &mut ProcessState = &mut guard;
    let limit = st.rlimits.0[libc::RLIMIT_SIGPENDING as usize].0.min(MAX_TIMERS as u64);
    if st.posix_timers.len() as u64 >= limit {
        return Err(Errno::EAGAIN);
    }
    let id = st.posix_timers.alloc_id()?;
    let (notify, value) = match sev {
        None => (Notify::Process(libc::SIGALRM), id as u32 as u64),
        Some(e) => (e.check(&st.threads)?, e.value),
    };
    st.posix_timers.timers.insert(id, Timer::disarmed(fresh(), clock, notify, value));
    Ok(id)
}

/// Deletes timer `id` of `p`; a signal of it still pending is dropped at
/// delivery. EINVAL if there is no such timer.
pub fn delete(k: &Kernel, p: &Process, id: i32) -> Result<(), Errno> {
    let t = p.state().posix_timers.timers.remove(&id).ok_or(Errno::EINVAL)?;
    if let Some(e) = t.entry {
        k.timers.cancel(e);
    }
    Ok(())
}

/// timer_settime: arms timer `id` of `p` with `new` (its value relative,
/// or an absolute time of the timer's clock with `abstime`), or disarms it
/// when the value is zero; returns the previous setting. Times beyond
/// Linux's KTIME_MAX are clamped to it.
pub fn settime(k: &Kernel, p: &Process, id: i32, abstime: bool, new: Setting) -> Result<Setting, Errno> {
    let now = Instant::now();
    let mut st = p.state();
    let t = st.posix_timers.timers.get_mut(&id).ok_or(Errno::EINVAL)?;
    let old = t.current(now);
    if let Some(e) = t.entry.take() {
        k.timers.cancel(e);
    }
    // A signal in flight no longer counts, nor do earlier overruns.
    t.signal_seq += 1;
    t.requeue_pending = false;
    t.parked = false;
    t.overrun_last = 0;
    if new.value.is_zero() {
        t.deadline = None;
        t.interval = Duration::ZERO;
        return Ok(old);
    }
    t.interval = new.interval.min(KTIME_MAX);
    let value = new.value.min(KTIME_MAX);
    let deadline = if abstime { absolute(t.clock, value, now) } else { later(now, value) };
    t.deadline = Some(deadline);
    if t.notify != Notify::None {
        t.arm(k, p.vpid, id, deadline);
    }
    Ok(old)
}

/// timer_gettime: the current setting of timer `id` of `p`.
pub fn gettime(p: &Process, id: i32) -> Result<Setting, Errno> {
    let st = p.state();
    let t = st.posix_timers.timers.get(&id).ok_or(Errno::EINVAL)?;
    Ok(t.current(Instant::now()))
}

/// timer_getoverrun: the overruns of the last signal of timer `id` of `p`
/// that was delivered, clamped to INT_MAX (Linux's DELAYTIMER_MAX).
pub fn getoverrun(p: &Process, id: i32) -> Result<i32, Errno> {
    let st = p.state();
    let t = st.posix_timers.timers.get(&id).ok_or(Errno::EINVAL)?;
    Ok(t.overrun_last.min(i32::MAX as u64) as i32)
}

/// A timer's expiry came (the timer thread): it sends its signal, unless
/// one is still pending, the signal is ignored (a periodic timer parks),
/// or its thread is gone (the timer stops, as in Linux).
pub fn expire(k: &Kernel, vpid: i32, id: i32, arming: u64) {
    let Some(p) = k.procs().process(vpid) else { return };
    let send = {
        let mut guard = p.state();
        let st: &mut ProcessState = &mut guard;
        if st.exit.is_some() {
            return;
        }
        let Some(t) = st.posix_timers.timers.get_mut(&id) else { return };
        if t.arming != arming || t.requeue_pending || t.deadline.is_none() {
            return;
        }
        t.entry = None;
        t.sigqueue_seq = t.signal_seq;
        if t.interval.is_zero() {
            t.deadline = None;
        } else {
            t.requeue_pending = true;
        }
        let Some(sig) = t.notify.sig() else { return };
        if t.queued {
            return;
        }
        // Sent even when the process ignores it: only its thread's loop
        // knows whether it is blocked, in which case it is not ignored.
        let Some(vtid) = t.target(&st.threads) else { return };
        t.queued = true;
        (vtid, sig, t.fix(vpid, id))
    };
    post(k, send);
}

/// Posts a timer's signal to its thread's loop; a thread gone meanwhile
/// makes it undelivered.
fn post(k: &Kernel, (vtid, sig, fix): (i32, i32, SigInfoFix)) {
    if send::to_thread(k, vtid, sig, fix).is_err() {
        if let Some(tag) = fix.timer {
            undelivered(k, tag, Undelivered::Lost);
        }
    }
}

/// A timer's signal is being delivered, or accepted by sigwaitinfo: the
/// timer may send again, and a periodic one is re-armed. Returns the
/// signal's si_overrun, or None when the signal must be dropped (the timer
/// was re-armed or deleted since it was sent).
pub fn deliver(k: &Kernel, tag: TimerTag) -> Option<i32> {
    let p = k.procs().process(tag.vpid)?;
    let mut st = p.state();
    let t = st.posix_timers.timers.get_mut(&tag.id).filter(|t| t.serial == tag.serial)?;
    t.queued = false;
    if t.signal_seq != t.sigqueue_seq {
        return None;
    }
    if !t.requeue_pending || t.interval.is_zero() {
        return Some(0);
    }
    t.rearm(k, tag.vpid, tag.id);
    Some(t.overrun_last.min(i32::MAX as u64) as i32)
}

/// Why a timer's signal was never delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undelivered {
    /// The signal was ignored when it came, or became ignored while
    /// pending (the host discarded it): a periodic timer parks.
    Ignored,
    /// Its thread ended first, or the host refused it: a timer of the
    /// process goes on with its next period; a thread's timer stops (its
    /// thread is gone), as in Linux.
    Lost,
}

/// A timer's signal will never be delivered.
pub fn undelivered(k: &Kernel, tag: TimerTag, why: Undelivered) {
    let Some(p) = k.procs().process(tag.vpid) else { return };
    let mut st = p.state();
    let Some(t) = st.posix_timers.timers.get_mut(&tag.id).filter(|t| t.serial == tag.serial) else { return };
    t.queued = false;
    if t.signal_seq != t.sigqueue_seq || !t.requeue_pending {
        return;
    }
    match why {
        Undelivered::Ignored => t.parked = true,
        Undelivered::Lost if matches!(t.notify, Notify::Process(_)) => t.rearm(k, tag.vpid, tag.id),
        Undelivered::Lost => {}
    }
}

/// Process `p` stopped ignoring `sig` (rt_sigaction): its parked timers
/// send their signal now (Linux's posixtimer_sig_unignore).
pub fn unignore(k: &Kernel, p: &Process, sig: i32) {
    let sends: Vec<_> = {
        let mut guard = p.state();
        let st: &mut ProcessState = &mut guard;
        let threads = &st.threads;
        st.posix_timers
            .timers
            .iter_mut()
            .filter(|(_, t)| t.parked && t.notify.sig() == Some(sig))
            .filter_map(|(&id, t)| {
                t.parked = false;
                if t.queued || t.signal_seq != t.sigqueue_seq {
                    return None;
                }
                let vtid = t.target(threads)?;
                t.queued = true;
                Some((vtid, sig, t.fix(p.vpid, id)))
            })
            .collect()
    };
    for s in sends {
        post(k, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_counts_the_periods_missed() {
        let d = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(forward(d, ms(10), d), (0, d + ms(10)));
        assert_eq!(forward(d, ms(10), d + ms(9)), (0, d + ms(10)));
        assert_eq!(forward(d, ms(10), d + ms(10)), (1, d + ms(20)));
        assert_eq!(forward(d, ms(10), d + ms(95)), (9, d + ms(100)));
        // Not expired yet: nothing moves.
        assert_eq!(forward(d + ms(5), ms(10), d), (0, d + ms(5)));
        // A 1ns period long ago neither overflows nor panics.
        let (missed, next) = forward(d, Duration::from_nanos(1), d + Duration::from_secs(3600));
        assert_eq!(missed, 3_600_000_000_000);
        assert!(next > d + Duration::from_secs(3600));
    }

    #[test]
    fn sigevents_are_checked_as_linux_does() {
        let threads = [5, 7].into();
        let ev = |notify, signo, tid| SigEvent { value: 9, signo, notify, tid };
        assert_eq!(ev(libc::SIGEV_SIGNAL, libc::SIGUSR1, 0).check(&threads), Ok(Notify::Process(libc::SIGUSR1)));
        assert_eq!(ev(libc::SIGEV_THREAD, 64, 0).check(&threads), Ok(Notify::Process(64)));
        assert_eq!(ev(libc::SIGEV_THREAD_ID, 34, 7).check(&threads), Ok(Notify::Thread(34, 7)));
        assert_eq!(ev(libc::SIGEV_NONE, 0, 0).check(&threads), Ok(Notify::None));
        assert_eq!(ev(libc::SIGEV_SIGNAL, 0, 0).check(&threads), Err(Errno::EINVAL));
        assert_eq!(ev(libc::SIGEV_SIGNAL, 65, 0).check(&threads), Err(Errno::EINVAL));
        assert_eq!(ev(libc::SIGEV_THREAD_ID, 10, 6).check(&threads), Err(Errno::EINVAL));
        assert_eq!(ev(libc::SIGEV_THREAD_ID | libc::SIGEV_THREAD, 10, 5).check(&threads), Err(Errno::EINVAL));
        assert_eq!(ev(3, 10, 5).check(&threads), Err(Errno::EINVAL));
    }

    #[test]
    fn ids_count_up_and_skip_those_in_use() {
        let mut ts = PosixTimers::default();
        assert_eq!(ts.alloc_id(), Ok(0));
        assert_eq!(ts.alloc_id(), Ok(1));
        ts.next_id = i32::MAX as u32;
        assert_eq!(ts.alloc_id(), Ok(i32::MAX));
        // The counter wraps into 0..=INT_MAX and skips ids still in use.
        ts.timers.insert(0, Timer::disarmed(1, libc::CLOCK_MONOTONIC, Notify::None, 0));
        assert_eq!(ts.alloc_id(), Ok(1));
    }
}
