//! Per-CPU tracer loops (ARCHITECTURE §2, §3).
//!
//! One loop thread per host CPU, pinned to it; every guest task belongs
//! to the loop that attached it and runs pinned to the same CPU (a child
//! inherits its forker's affinity, and ptrace attaches a new child to its
//! parent's tracer), so a trap never wakes a thread on another CPU (25-50
//! us here, against ~2.5 us on the same CPU). Each loop waits with
//! `__WNOTHREAD`, seeing only its own tasks.
//!
//! A syscall that must wait parks its task: the task stays stopped, the
//! loop serves the others, and a wake-up (a wait queue, a timer, a signal)
//! re-runs the syscall. Messages from other threads arrive in the loop's
//! inbox and ring its doorbell (doorbell.rs).

pub mod doorbell;
pub mod timer;
pub mod wait;

use std::collections::HashMap;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use crate::cmdline::{InitChoice, FALLBACK_INITS};
use crate::dev::devfs::Dev;
use crate::errno::Errno;
use crate::fs::fdtable::FdTable;
use crate::fs::file::{FileKind, OpenFile};
use crate::kernel::{Kernel, CURRENT_LOOP};
use crate::mm::GuestMem;
use crate::power::PowerAction;
use crate::signal::{Delivery, SigHandlers, SigInfoFix};
use crate::syscall::names::nr;
use crate::syscall::{self, strace, NewTask, Outcome};
use crate::task::exec::{self, ExecError};
use crate::task::exit::{self, Ended};
use crate::task::posix_timer::{self, Undelivered};
use crate::task::{ExitStatus, FsContext, MmContext, Process, ProcessState, Shared, Task};
use crate::trap::inject::{gadget_regs, inject_to_exit, InjectError};
use crate::trap::spawn::{self, SpawnError, SpawnSpec};
use crate::trap::{ptrace, syscall_args, Regs, Stop};
use wait::TaskRef;

/// What init is.
pub struct InitSpec {
    /// Which program (Linux's kernel_init choice).
    pub choice: InitChoice,
    /// argv after argv[0] (which is the program's path).
    pub args: Vec<Vec<u8>>,
    /// envp.
    pub envp: Vec<Vec<u8>>,
}

/// A message to a tracer loop.
pub enum Msg {
    /// Start init on this loop.
    StartInit(InitSpec),
    /// Re-run the syscall task `tid` is blocked in.
    Wake(i32),
    /// Resume task `tid` if job control stopped it (SIGCONT).
    Continue(i32),
    /// Deliver a signal to task `tid`.
    Signal {
        /// Host tid.
        tid: i32,
        /// The signal.
        sig: i32,
        /// Its siginfo as the guest must see it.
        fix: SigInfoFix,
    },
    /// The host discarded task `tid`'s pending `sig` (its process came to
    /// ignore it): forget the siginfo recorded for it.
    Flush {
        /// Host tid.
        tid: i32,
        /// The signal.
        sig: i32,
    },
    /// Hold every task of the loop where it stands (mconsole `stop`):
    /// tasks running guest code are interrupted (PTRACE_INTERRUPT, which
    /// the guest cannot see), and every stop and message until
    /// [`Msg::Go`] waits, but for deaths.
    Freeze,
    /// Let the tasks go on (mconsole `go`): the stops and messages held
    /// since [`Msg::Freeze`] are served in order.
    Go,
}

/// What a loop reports to the VM.
#[derive(Debug)]
pub enum Event {
    /// Init could not be started.
    InitFailed(InitError),
    /// Init ended with this exit status (128+N if killed by signal N).
    Halted(i32),
    /// reboot(2) asked for a halt, power-off or restart.
    Power(PowerAction),
    /// The kernel panicked (power::panic).
    Panicked,
}

/// Why init could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The program cannot be run.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// `init=PATH` cannot be run (Linux panics: "Requested init PATH
    /// failed (error N)").
    #[error("requested init {} failed: {} ({})", String::from_utf8_lossy(&.0.path), .0.fault,
        .0.errno().name().unwrap_or("?"))]
    Requested(ExecError),
    /// No init was named and none of Linux's fallbacks runs.
    #[error("no init found; try passing init= (tried {})", FALLBACK_INITS.map(String::from_utf8_lossy).join(", "))]
    NoInit,
    /// No guest process could be created.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

/// What a frozen loop holds (see [`Msg::Freeze`]).
#[derive(Default)]
struct Frozen {
    /// Stops, in the order they came.
    stops: Vec<(i32, Stop)>,
    /// Messages, in the order they came.
    msgs: Vec<Msg>,
}

/// A task stopped in a syscall that waits.
struct Parked {
    regs: Regs,
    deadline: Option<Instant>,
    progress: usize,
    call: Option<String>,
}

/// A task running a host syscall injected on the guest's behalf
/// (sysemu mode: the call may block, so the loop does not wait for it).
struct Injecting {
    saved: Regs,
    call: Option<String>,
}

/// One tracer loop.
pub struct TracerLoop {
    id: usize,
    k: Arc<Kernel>,
    cpu: Option<usize>,
    tasks: HashMap<i32, Task>,
    parked: HashMap<i32, Parked>,
    /// Tasks held in a job-control stop until SIGCONT.
    stopped: std::collections::HashSet<i32>,
    injecting: HashMap<i32, Injecting>,
    /// New children, with the registers they start with at their first stop.
    starting: HashMap<i32, (Regs, Option<(u64, i32)>)>,
    /// While the machine is frozen (mconsole `stop`): the stops and
    /// messages held for [`Msg::Go`].
    frozen: Option<Frozen>,
    doorbell: i32,
    events: Sender<Event>,
    drop_to: Option<(u32, u32)>,
}

impl TracerLoop {
    /// Loop number `id`, for `cpu` (None: not pinned).
    pub fn new(id: usize, k: Arc<Kernel>, cpu: Option<usize>, events: Sender<Event>) -> TracerLoop {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        TracerLoop {
            id,
            k,
            cpu,
            tasks: HashMap::new(),
            parked: HashMap::new(),
            stopped: Default::default(),
            injecting: HashMap::new(),
            starting: HashMap::new(),
            frozen: None,
            doorbell: 0,
            events,
            drop_to: root.then_some((65534, 65534)),
        }
    }

    /// Runs the loop on the calling thread, for the life of the VM.
    pub fn run(mut self) {
        CURRENT_LOOP.with(|c| c.set(Some(self.id)));
        if let Some(cpu) = self.cpu {
            pin_to(cpu);
        }
        match doorbell::spawn(self.drop_to) {
            Ok(pid) => {
                self.doorbell = pid;
                self.k.loops[self.id].doorbell.store(pid, Ordering::Release);
            }
            Err(e) => tracing::error!("tracer loop {}: no doorbell ({e}); cross-loop wake-ups are lost", self.id),
        }
        loop {
            self.drain_inbox();
            match ptrace::wait_any() {
                Ok(ws) if ws.tid == self.doorbell => {
                    if let Err(e) = doorbell::on_stop(ws.tid, Stop::from_status(ws.status)) {
                        tracing::error!("tracer loop {}: doorbell: {e}", self.id);
                    }
                }
                Ok(ws) => match (&mut self.frozen, Stop::from_status(ws.status)) {
                    // A death is the host's fact: recorded at once, so
                    // that a halt while frozen finds every process gone.
                    (Some(f), stop) if !matches!(stop, Stop::Exited(_) | Stop::Killed(_)) => {
                        f.stops.push((ws.tid, stop))
                    }
                    (_, stop) => self.on_stop(ws.tid, stop),
                },
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::error!("tracer loop {}: waitpid failed: {e}", self.id);
                    self.k.power.disconnect();
                    return;
                }
            }
        }
    }

    fn drain_inbox(&mut self) {
        // A message posted after this swap sets the flag again, and is
        // taken below or at the next call.
        if !self.k.loops[self.id].has_mail.swap(false, Ordering::AcqRel) {
            return;
        }
        loop {
            let msgs = std::mem::take(&mut *self.k.loops[self.id].inbox.lock().unwrap_or_else(|e| e.into_inner()));
            if msgs.is_empty() {
                return;
            }
            for m in msgs {
                match (m, &mut self.frozen) {
                    (Msg::Freeze, _) => self.freeze(),
                    (Msg::Go, _) => self.thaw(),
                    (m, Some(f)) => f.msgs.push(m),
                    (m, None) => self.serve_msg(m),
                }
            }
        }
    }

    /// Holds every task (see [`Msg::Freeze`]): those in a ptrace stop the
    /// loop holds already (a syscall waiting, a job-control stop, a new
    /// child) stay held, and so does one running a host syscall for the
    /// kernel (held at its end); the others are interrupted.
    fn freeze(&mut self) {
        if self.frozen.is_some() {
            return;
        }
        self.frozen = Some(Frozen::default());
        for &tid in self.tasks.keys() {
            if self.parked.contains_key(&tid)
                || self.stopped.contains(&tid)
                || self.starting.contains_key(&tid)
                || self.injecting.contains_key(&tid)
            {
                continue;
            }
            // ESRCH: dying; its death is served as it comes.
            let _ = ptrace::interrupt(tid);
        }
    }

    /// Serves what was held while frozen, in order.
    fn thaw(&mut self) {
        let Some(f) = self.frozen.take() else { return };
        for (tid, stop) in f.stops {
            self.on_stop(tid, stop);
        }
        for m in f.msgs {
            self.serve_msg(m);
        }
    }

    fn serve_msg(&mut self, m: Msg) {
        match m {
            Msg::Freeze => self.freeze(),
            Msg::Go => self.thaw(),
            Msg::StartInit(spec) => {
                if let Err(e) = self.start_init(spec) {
                    let _ = self.events.send(Event::InitFailed(e));
                }
            }
            Msg::Wake(tid) => self.retry(tid),
            Msg::Signal { tid, sig, fix } => self.signal(tid, sig, fix),
            Msg::Flush { tid, sig } => {
                let fixes = self.tasks.get_mut(&tid).map(|t| t.sig_pending.remove_all(sig));
                for fix in fixes.unwrap_or_default() {
                    undelivered(&self.k, fix, Undelivered::Ignored);
                }
            }
            Msg::Continue(tid) => {
                if self.stopped.remove(&tid) {
                    let r = self.k.platform.resume(tid, 0);
                    self.check(tid, r);
                }
            }
        }
    }

    fn start_init(&mut self, spec: InitSpec) -> Result<(), InitError> {
        // Check the program before creating any process for it.
        let resolved = self.choose_init(&spec)?;
        let stub_fd = stub_fd()?;
        let pid = spawn::spawn(&SpawnSpec {
            stub_fd,
            filter: self.k.filter.as_deref(),
            drop_to: self.drop_to,
            channel: self.k.channel.as_ref().map(|c| c.guest_end()),
        })?;
        let vpid = self.k.procs().alloc_id();
        // Init has "exec'd" already: its program is loaded below.
        let state = ProcessState { did_exec: true, ..ProcessState::new(0, vpid, vpid, pid, vpid) };
        let process = Arc::new(Process::new(vpid, Shared::new(SigHandlers::default()), state));
        let mut files = FdTable::new();
        for (fd, stream) in self.k.console.iter().enumerate() {
            if self.k.tty.is_some() {
                // Each of fds 0-2 is the terminal, read-write, as a getty
                // or UML's init leaves them.
                let f = OpenFile::new(FileKind::Dev(Dev::Console), b"/dev/console".to_vec(), libc::O_RDWR);
                let _ = files.insert_at(fd as i32, Arc::new(f), false, u64::MAX);
                continue;
            }
            let Some(s) = stream else { continue };
            let Some(d) = crate::dev::console::ConsoleStream::dup(s.fd().as_raw_fd()) else { continue };
            let flags = if fd == 0 { libc::O_RDONLY } else { libc::O_WRONLY };
            let f = OpenFile::new(FileKind::Console(d), b"/dev/console".to_vec(), flags);
            let _ = files.insert_at(fd as i32, Arc::new(f), false, u64::MAX);
        }
        let mut task = Task {
            tid: pid,
            vtid: vpid,
            process: process.clone(),
            files: Shared::new(files),
            fs: Shared::new(FsContext::new()),
            mm: Shared::new(MmContext::default()),
            comm: [0; 16],
            vfork_child: None,
            fifo_wait: None,
            sig_pending: Default::default(),
        };
        {
            let mut st = process.state();
            st.fs = Some(task.fs.clone());
            st.files = Some(task.files.clone());
            st.mm = Some(task.mm.clone());
        }
        {
            let mut procs = self.k.procs();
            procs.insert_process(process);
            procs.insert_thread(vpid, TaskRef { loop_id: self.id, tid: pid });
        }
        let started = ptrace::get_regs(pid).map_err(|e| InitError::Spawn(SpawnError::Host(e))).and_then(|regs| {
            let r = exec::load_into(&mut task, &regs, resolved, &spec.envp)?;
            ptrace::set_regs(pid, &r).map_err(|e| InitError::Spawn(SpawnError::Host(e)))?;
            self.k.platform.resume(pid, 0).map_err(|e| InitError::Spawn(SpawnError::Host(e)))
        });
        if let Err(e) = started {
            ptrace::kill_thread(pid, pid);
            let _ = ptrace::wait_tid(pid);
            return Err(e);
        }
        self.tasks.insert(pid, task);
        Ok(())
    }

    /// Finds init's program as Linux's kernel_init does: the one named,
    /// or the first of the fallbacks that runs (one that is missing is
    /// skipped silently, one that cannot run is reported and skipped).
    fn choose_init(&self, spec: &InitSpec) -> Result<exec::Resolved, InitError> {
        let resolve = |path: &[u8]| {
            let argv = std::iter::once(path.to_vec()).chain(spec.args.iter().cloned()).collect();
            exec::resolve(&self.k, exec::Place::TOP, path, argv, None)
        };
        match &spec.choice {
            InitChoice::Program(path) => Ok(resolve(path)?),
            InitChoice::Requested(path) => resolve(path).map_err(InitError::Requested),
            InitChoice::Fallback => {
                for path in FALLBACK_INITS {
                    match resolve(path) {
                        Ok(r) => return Ok(r),
                        Err(e) if e.errno() == Errno::ENOENT => {}
                        Err(e) => self.k.console_message(
                            format!(
                                "Starting init: {} exists but couldn't execute it (error -{}: {})",
                                String::from_utf8_lossy(path),
                                e.errno().0,
                                e.fault
                            )
                            .as_bytes(),
                        ),
                    }
                }
                Err(InitError::NoInit)
            }
        }
    }

    fn on_stop(&mut self, tid: i32, stop: Stop) {
        if !self.tasks.contains_key(&tid) {
            return;
        }
        if let Some((regs, ctid_fix)) = self.starting.remove(&tid) {
            // A new child's first stop: give it its registers and let it go.
            if let Stop::Exited(_) | Stop::Killed(_) = stop {
                return self.ended(tid, stop);
            }
            if let Some(fix) = ctid_fix {
                syscall::clone::fix_child_tid(tid, fix);
            }
            let r = ptrace::set_regs(tid, &regs).and_then(|_| self.k.platform.resume(tid, 0));
            return self.check(tid, r);
        }
        if self.injecting.contains_key(&tid) {
            return self.on_injection_stop(tid, stop);
        }
        let r = match stop {
            Stop::Syscall => {
                // Signals other threads sent before this call (a ^C typed
                // before the line it reads) reach the task first.
                self.drain_inbox();
                if !self.tasks.contains_key(&tid) {
                    return;
                }
                self.on_syscall(tid)
            }
            Stop::Signal(sig) => self.on_signal_stop(tid, sig),
            // A stop signal's default action: the task stays stopped (in
            // ptrace) until SIGCONT; its parent learns of it.
            Stop::GroupStop(sig) if crate::signal::stops_by_default(sig) => {
                self.stopped.insert(tid);
                if let Some(t) = self.tasks.get(&tid) {
                    crate::task::exit::process_stopped(&self.k, &t.process, sig);
                }
                Ok(())
            }
            Stop::GroupStop(_) | Stop::Event(_) => self.k.platform.resume(tid, 0),
            Stop::Exited(_) | Stop::Killed(_) => {
                self.ended(tid, stop);
                Ok(())
            }
        };
        self.check(tid, r);
    }

    fn check(&mut self, tid: i32, r: Result<(), Errno>) {
        // ESRCH: killed under us; its exit status arrives next.
        if let Err(e) = r {
            if e != Errno::ESRCH {
                tracing::error!("task {tid}: ptrace failed: {e}");
            }
        }
    }

    /// A signal is about to be delivered: give it the siginfo the guest
    /// must see (virtual pids, a timer's overruns) and deliver it, or drop
    /// it (the signal of a timer re-armed since).
    fn on_signal_stop(&mut self, tid: i32, sig: i32) -> Result<(), Errno> {
        let Some(task) = self.tasks.get_mut(&tid) else { return self.k.platform.resume(tid, sig) };
        let process = task.process.clone();
        let fixes = task.sig_pending.take(sig);
        // A timer's signal reaching a process that ignores it (it is not
        // blocked, being delivered) parks its timer, as Linux does when it
        // generates one; nothing is delivered for it.
        let ignored = posix_timer::ignores(&process, sig);
        let before = fixes.len();
        let (parked, fixes): (Vec<_>, Vec<_>) = fixes.into_iter().partition(|f| ignored && f.timer.is_some());
        for fix in parked {
            undelivered(&self.k, fix, Undelivered::Ignored);
        }
        let mut delivery =
            if fixes.is_empty() && before > 0 { Delivery::Drop } else { crate::signal::settle(&self.k, fixes) };
        // Init (pid 1 of the guest's pid namespace) never takes the default
        // action of a signal the kernel sent it, but for SIGKILL and SIGSTOP
        // (Linux's SIGNAL_UNKILLABLE): it may have come while a handler
        // was installed, or blocked.
        let shielded = process.vpid == 1
            && sig != libc::SIGKILL
            && sig != libc::SIGSTOP
            && process.sighand.lock().get(sig).handler == crate::signal::SIG_DFL;
        if shielded && matches!(delivery, Delivery::Show(_)) {
            delivery = Delivery::Drop;
        }
        if delivery == Delivery::Drop {
            return self.k.platform.resume(tid, 0);
        }
        // A stop signal with its default action: the kernel stops the
        // process itself (the host would discard SIGTSTP for a process
        // group it sees as orphaned, which every guest group is to it).
        let default_stop = crate::signal::stops_by_default(sig)
            && self
                .tasks
                .get(&tid)
                .is_some_and(|t| t.process.sighand.lock().get(sig).handler == crate::signal::SIG_DFL);
        if default_stop {
            let task = self.tasks.get_mut(&tid).expect("checked above");
            let process = task.process.clone();
            self.stopped.insert(tid);
            // The process's other threads stop too (SIGSTOP: the host never
            // discards it); the loop holds each at its stop.
            let others: Vec<i32> = self
                .tasks
                .iter()
                .filter(|(t, other)| **t != tid && Arc::ptr_eq(&other.process, &process))
                .map(|(t, _)| *t)
                .collect();
            for t in others {
                // SAFETY: tkill takes plain integers; our tracee.
                unsafe { libc::syscall(libc::SYS_tkill, t, libc::SIGSTOP) };
            }
            crate::task::exit::process_stopped(&self.k, &process, sig);
            return Ok(());
        }
        match delivery {
            Delivery::Show(fix) => {
                let mut info = [0u8; 128];
                if ptrace::get_siginfo(tid, &mut info).is_ok() {
                    fix.apply(sig, &mut info);
                    ptrace::set_siginfo(tid, &info)?;
                }
            }
            // The host's own signal; if it came during an injection, the
            // kernel sent it again and kept its true siginfo.
            Delivery::Host => {
                if let Some(info) = crate::trap::inject::take_held(tid, sig) {
                    ptrace::set_siginfo(tid, &info)?;
                }
            }
            Delivery::Drop => {}
        }
        self.k.platform.resume(tid, sig)
    }

    fn on_syscall(&mut self, tid: i32) -> Result<(), Errno> {
        let regs = ptrace::get_regs(tid)?;
        let call = self
            .k
            .strace
            .as_ref()
            .map(|_| strace::format_call(&GuestMem::new(tid), regs.orig_rax, &syscall_args(&regs)));
        self.run_syscall(tid, regs, None, 0, call)
    }

    /// Serves (or re-serves, after a wake-up) the syscall `tid` is at.
    fn run_syscall(
        &mut self,
        tid: i32,
        regs: Regs,
        deadline: Option<Instant>,
        progress: usize,
        call: Option<String>,
    ) -> Result<(), Errno> {
        let k = self.k.clone();
        let task = self.tasks.get_mut(&tid).expect("caller checked");
        let vtid = task.vtid;
        let me = TaskRef { loop_id: self.id, tid };
        let mut new_tasks = Vec::new();
        let outcome = syscall::dispatch(&k, task, &regs, me, deadline, progress, &mut new_tasks);
        for nt in new_tasks {
            self.adopt(nt);
        }
        match outcome {
            Outcome::Return(ret) => {
                trace(&k, vtid, &call, Some(ret));
                let mut r = regs;
                k.platform.complete(&mut r, ret);
                ptrace::set_regs(tid, &r)?;
                // A signal the syscall sent its own task (raise) must be
                // queued before the task returns, as Linux delivers it then.
                self.drain_inbox();
                k.platform.resume(tid, 0)
            }
            Outcome::Block { deadline: d, progress } => {
                if let Some(at) = d {
                    if deadline != d {
                        k.timers.add(at, me);
                    }
                }
                // A vfork parent waits killably: only SIGKILL ends it.
                let vforking = self.tasks.get(&tid).is_some_and(|t| t.vfork_child.is_some());
                if !vforking && self.has_pending_signal(tid)? {
                    // Linux checks for signals before sleeping.
                    self.parked.insert(tid, Parked { regs, deadline: d, progress, call });
                    return self.interrupt(tid, None);
                }
                self.parked.insert(tid, Parked { regs, deadline: d, progress, call });
                Ok(())
            }
            Outcome::Restart => {
                trace(&k, vtid, &call, Some(-(Errno::RESTART.0 as i64)));
                let mut r = regs;
                r.rax = r.orig_rax;
                r.rip -= 2;
                r.orig_rax = u64::MAX;
                ptrace::set_regs(tid, &r)?;
                // The signals the syscall sent must be queued first.
                self.drain_inbox();
                k.platform.resume(tid, 0)
            }
            Outcome::Exec(new) => {
                trace(&k, vtid, &call, Some(0));
                ptrace::set_regs(tid, &new)?;
                k.platform.resume(tid, 0)
            }
            Outcome::Native => {
                if k.platform.run_on_host(tid)? {
                    trace(&k, vtid, &call, None);
                    return Ok(());
                }
                self.inject_native(tid, regs, call)
            }
            Outcome::Died(e) => {
                trace(&k, vtid, &call, None);
                self.died(tid, e)
            }
        }
    }

    /// Sysemu mode: the host runs the guest's own syscall, injected. It may
    /// block (futex, nanosleep), so the loop does not wait for it.
    fn inject_native(&mut self, tid: i32, regs: Regs, call: Option<String>) -> Result<(), Errno> {
        if regs.orig_rax == nr::RT_SIGRETURN {
            // It continues in the restored guest context, not at the
            // gadget: stop it at syscall exit and resume from there.
            trace(&self.k, self.tasks[&tid].vtid, &call, None);
            return match inject_to_exit(tid, &regs, regs.orig_rax, syscall_args(&regs)) {
                Ok(_) => self.k.platform.resume(tid, 0),
                Err(e) => self.died(tid, e),
            };
        }
        ptrace::set_regs(tid, &gadget_regs(&regs, regs.orig_rax, syscall_args(&regs)))?;
        ptrace::cont(tid, 0)?;
        self.injecting.insert(tid, Injecting { saved: regs, call });
        Ok(())
    }

    fn on_injection_stop(&mut self, tid: i32, stop: Stop) {
        let r = match stop {
            Stop::Signal(libc::SIGTRAP) => {
                let inj = self.injecting.remove(&tid).expect("caller checked");
                let after = ptrace::get_regs(tid);
                after.and_then(|after| {
                    let mut r = inj.saved;
                    r.rax = after.rax;
                    r.fs_base = after.fs_base;
                    r.gs_base = after.gs_base;
                    trace(&self.k, self.tasks[&tid].vtid, &inj.call, Some(after.rax as i64));
                    ptrace::set_regs(tid, &r)?;
                    self.k.platform.resume(tid, 0)
                })
            }
            Stop::Signal(sig) => {
                // A guest signal arrived around the injected call: back to
                // the guest's context with the call's true outcome, then
                // deliver the signal.
                let inj = self.injecting.remove(&tid).expect("caller checked");
                let r = ptrace::get_regs(tid).and_then(|after| {
                    let mut r = inj.saved;
                    if after.rip == crate::stub::gadget() && crate::signal::never_restarts(r.orig_rax) {
                        // The signal came while the call waited at its
                        // entry stop, i.e. (for the guest) inside the call:
                        // a sleep or pause it ends, as Linux's would. Run
                        // again after the handler, it would wait for a
                        // signal that has come already.
                        self.set_interrupted(tid, &mut r, sig);
                        if r.rax as i64 == -(libc::EINTR as i64) {
                            sleep_remaining(tid, &inj.saved);
                        }
                    } else if after.rip == crate::stub::gadget() {
                        // The call never ran: run it again after the handler.
                        r.rax = r.orig_rax;
                        r.rip -= 2;
                        r.orig_rax = u64::MAX;
                    } else if is_restart(after.rax as i64) {
                        // Interrupted inside: EINTR, or restart (SA_RESTART).
                        self.set_interrupted(tid, &mut r, sig);
                    } else {
                        // It completed: its result stands (running it again
                        // would repeat its effects, e.g. a sigprocmask).
                        r.rax = after.rax;
                        r.fs_base = after.fs_base;
                        r.gs_base = after.gs_base;
                    }
                    trace(&self.k, self.tasks[&tid].vtid, &inj.call, Some(r.rax as i64));
                    ptrace::set_regs(tid, &r)
                });
                r.and_then(|_| self.on_signal_stop(tid, sig))
            }
            Stop::Exited(_) | Stop::Killed(_) => {
                self.injecting.remove(&tid);
                self.ended(tid, stop);
                Ok(())
            }
            Stop::Syscall | Stop::GroupStop(_) | Stop::Event(_) => ptrace::cont(tid, 0),
        };
        self.check(tid, r);
    }

    /// Sets `r` as a syscall interrupted by `sig` leaves it: restarted
    /// after the handler when the handler has SA_RESTART, else EINTR.
    /// Without a handler (a stop signal, then SIGCONT) it restarts, but
    /// for the few calls signal(7) says fail with EINTR even then.
    fn set_interrupted(&self, tid: i32, r: &mut Regs, sig: i32) {
        let nr = r.orig_rax;
        let restart = (1..=64).contains(&sig)
            && self.tasks.get(&tid).is_some_and(|t| {
                let h = t.process.sighand.lock();
                if h.has_handler(sig) {
                    !crate::signal::never_restarts(nr) && h.restarts(sig)
                } else {
                    !crate::signal::eintr_after_stop(nr)
                }
            });
        if restart {
            r.rax = r.orig_rax;
            r.rip -= 2;
        } else {
            r.rax = -(libc::EINTR as i64) as u64;
        }
        r.orig_rax = u64::MAX;
    }

    fn adopt(&mut self, nt: NewTask) {
        self.starting.insert(nt.task.tid, (nt.regs, nt.ctid_fix));
        self.tasks.insert(nt.task.tid, nt.task);
    }

    /// Re-runs the syscall of a parked task after a wake-up.
    fn retry(&mut self, tid: i32) {
        let Some(p) = self.parked.remove(&tid) else { return };
        let r = self.run_syscall(tid, p.regs, p.deadline, p.progress, p.call);
        self.check(tid, r);
    }

    fn has_pending_signal(&self, tid: i32) -> Result<bool, Errno> {
        let Some(task) = self.tasks.get(&tid) else { return Ok(false) };
        // An ignored signal (a timer's may be pending) interrupts nothing.
        let pending: Vec<i32> =
            task.sig_pending.signals().filter(|&s| !posix_timer::ignores(&task.process, s)).collect();
        if pending.is_empty() {
            return Ok(false);
        }
        let mask = ptrace::get_sigmask(tid)?;
        Ok(pending.iter().any(|&s| mask & (1u64 << (s - 1)) == 0))
    }

    /// Delivers a signal sent by the kernel (kill, SIGCHLD, SIGPIPE...).
    fn signal(&mut self, tid: i32, sig: i32, fix: SigInfoFix) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return undelivered(&self.k, fix, Undelivered::Lost);
        };
        // An ignored signal still goes to the host: Linux never ignores a
        // blocked signal (sigwaitinfo may take it), and only the task's stop
        // shows its mask. Delivered unblocked, the host discards it, or the
        // delivery stop does (init's shield; a timer's parks its timer).
        let ignored = posix_timer::ignores(&task.process, sig);
        // SAFETY: tkill takes plain integers; the thread is our tracee.
        if unsafe { libc::syscall(libc::SYS_tkill, tid, sig) } != 0 {
            // Gone, or the host's queue of real-time signals is full.
            return undelivered(&self.k, fix, Undelivered::Lost);
        }
        task.sig_pending.push(sig, fix);
        let vforking = task.vfork_child.is_some();
        if self.parked.contains_key(&tid) && !vforking {
            let blocked = ptrace::get_sigmask(tid).map(|m| m & (1u64 << (sig - 1)) != 0).unwrap_or(false);
            if ignored && !blocked {
                // Nothing to interrupt for: the host discards it on resume.
            } else if !blocked || sig == libc::SIGKILL {
                let r = self.interrupt(tid, Some(sig));
                self.check(tid, r);
            } else {
                // A blocked signal may be what the task waits for
                // (sigtimedwait): let it look again.
                self.retry(tid);
            }
        }
    }

    /// Ends the wait of a parked task because a signal is pending: EINTR
    /// or restart, then the host delivers the signal on resume.
    fn interrupt(&mut self, tid: i32, sig: Option<i32>) -> Result<(), Errno> {
        let Some(p) = self.parked.remove(&tid) else { return Ok(()) };
        if let Some(t) = self.tasks.get_mut(&tid) {
            // An interrupted FIFO open closes the end it had opened.
            t.fifo_wait = None;
        }
        let sig = sig.or_else(|| self.tasks.get(&tid).and_then(|t| t.sig_pending.signals().next())).unwrap_or(0);
        let mut r = p.regs;
        if p.progress > 0 {
            // Part of the work was done: that is the result, as in Linux
            // (never a restart, which would do it twice).
            r.rax = p.progress as u64;
            r.orig_rax = u64::MAX;
        } else {
            self.set_interrupted(tid, &mut r, sig);
        }
        let vtid = self.tasks[&tid].vtid;
        trace(&self.k, vtid, &p.call, Some(r.rax as i64));
        ptrace::set_regs(tid, &r)?;
        self.k.platform.resume(tid, 0)
    }

    /// The process ended or broke during an injected syscall.
    fn died(&mut self, tid: i32, e: InjectError) -> Result<(), Errno> {
        match e {
            InjectError::Gone(stop) => self.ended(tid, stop),
            InjectError::Ptrace(e) => return Err(e),
        }
        Ok(())
    }

    fn ended(&mut self, tid: i32, stop: Stop) {
        self.parked.remove(&tid);
        self.stopped.remove(&tid);
        self.injecting.remove(&tid);
        self.starting.remove(&tid);
        crate::trap::inject::forget_held(tid);
        let Some(mut task) = self.tasks.remove(&tid) else { return };
        let status = match stop {
            Stop::Exited(code) => ExitStatus::Exited(code),
            Stop::Killed(sig) => ExitStatus::Killed(sig),
            _ => return,
        };
        let ended = exit::thread_exited(&self.k, &task, status);
        // Signals the thread never took: a timer's goes on without it.
        for fix in task.sig_pending.drain() {
            undelivered(&self.k, fix, Undelivered::Lost);
        }
        match ended {
            Ended::Thread => {}
            Ended::Process => {
                if let Some(sink) = &self.k.strace {
                    if let Ok(mut w) = sink.lock() {
                        let _ = writeln!(w, "[pid {}] +++ {} +++", task.vpid(), describe(status));
                    }
                }
            }
            Ended::Init(s) => {
                if let Some(sink) = &self.k.strace {
                    if let Ok(mut w) = sink.lock() {
                        let _ = writeln!(w, "[pid {}] +++ {} +++", task.vpid(), describe(s));
                    }
                }
                let _ = self.events.send(Event::Halted(s.shell_code()));
            }
        }
    }
}

/// A signal the kernel sent will never be delivered: if a timer sent it,
/// the timer learns why.
fn undelivered(k: &Kernel, fix: SigInfoFix, why: Undelivered) {
    if let Some(tag) = fix.timer {
        posix_timer::undelivered(k, tag, why);
    }
}

/// A relative nanosleep or clock_nanosleep ended by a signal before it
/// slept: all of it remains, which Linux reports in `rem` when asked.
fn sleep_remaining(tid: i32, regs: &Regs) {
    let args = syscall_args(regs);
    let (req, rem) = match regs.orig_rax {
        nr::NANOSLEEP => (args[0], args[1]),
        nr::CLOCK_NANOSLEEP if args[1] & libc::TIMER_ABSTIME as u64 == 0 => (args[2], args[3]),
        _ => return,
    };
    if rem == 0 {
        return;
    }
    let mem = crate::mm::GuestMem::new(tid);
    // A bad pointer is the guest's to find out: Linux's copy_to_user
    // failure there is lost too (the call still returns EINTR).
    if let Ok(t) = mem.read_val::<[u64; 2]>(req) {
        let _ = mem.write(rem, &[t[0].to_le_bytes(), t[1].to_le_bytes()].concat());
    }
}

/// Whether a syscall result is one of Linux's internal "interrupted,
/// maybe restart" codes (ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND,
/// ERESTART_RESTARTBLOCK), seen at a signal-delivery stop.
fn is_restart(rax: i64) -> bool {
    matches!(-rax, 512..=514 | 516)
}

fn describe(s: ExitStatus) -> String {
    match s {
        ExitStatus::Exited(c) => format!("exited with {c}"),
        ExitStatus::Killed(sig) => format!("killed by signal {sig}"),
    }
}

fn stub_fd() -> Result<i32, SpawnError> {
    crate::stub::memfd().map_err(SpawnError::Host)
}

fn trace(k: &Kernel, vtid: i32, call: &Option<String>, ret: Option<i64>) {
    let (Some(sink), Some(call)) = (&k.strace, call) else { return };
    let result = ret.map_or_else(|| "= ?".to_string(), strace::format_result);
    if let Ok(mut w) = sink.lock() {
        let _ = writeln!(w, "[pid {vtid}] {call} {result}");
    }
}

/// Pins the calling thread to one CPU.
pub(crate) fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain bits; CPU_SET stays within it for cpu <
    // CPU_SETSIZE, which the caller's CPU list guarantees.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!("cannot pin tracer loop to cpu {cpu}: {}", Errno::last());
        }
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain bits; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}
