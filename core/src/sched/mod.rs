//! Per-CPU tracer loops (ARCHITECTURE §2).
//!
//! One loop thread per host CPU, pinned to it; every guest task belongs to
//! the loop that attached it and runs pinned to the same CPU (a child
//! inherits its forker's affinity), so a trap never wakes a thread on
//! another CPU (25-50 us here, against ~2.5 us on the same CPU). Only the
//! attaching thread may ptrace a task, and each loop waits with
//! `__WNOTHREAD`, seeing only its own tasks.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use crate::errno::Errno;
use crate::fs::file::{FileKind, OpenFile};
use crate::kernel::Kernel;
use crate::syscall::names::nr;
use crate::syscall::{self, strace, Outcome};
use crate::task::exec::{self, ExecError};
use crate::task::Task;
use crate::trap::inject::{inject_regs, inject_to_exit, InjectError};
use crate::trap::spawn::{self, SpawnError, SpawnSpec};
use crate::trap::{ptrace, syscall_args, Stop};
use crate::{mm::GuestMem, stub};

/// What init is.
pub struct InitSpec {
    /// The program's guest path.
    pub path: Vec<u8>,
    /// argv.
    pub argv: Vec<Vec<u8>>,
    /// envp.
    pub envp: Vec<Vec<u8>>,
}

/// Work sent to a loop.
pub enum Command {
    /// Start init on this loop.
    StartInit(InitSpec),
}

/// What a loop reports to the VM.
#[derive(Debug)]
pub enum Event {
    /// Init could not be started.
    InitFailed(InitError),
    /// Init ended with this exit status (128+N if killed by signal N).
    Halted(i32),
}

/// Why init could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The program cannot be run.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// No guest process could be created.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The stub could not be prepared.
    #[error("preparing the stub: {0}")]
    Stub(Errno),
}

/// One tracer loop.
pub struct TracerLoop {
    k: Arc<Kernel>,
    cpu: Option<usize>,
    tasks: HashMap<i32, Task>,
    events: Sender<Event>,
    drop_to: Option<(u32, u32)>,
}

impl TracerLoop {
    /// A loop for `cpu` (None: not pinned).
    pub fn new(k: Arc<Kernel>, cpu: Option<usize>, events: Sender<Event>) -> TracerLoop {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        TracerLoop { k, cpu, tasks: HashMap::new(), events, drop_to: root.then_some((65534, 65534)) }
    }

    /// Runs the loop on the calling thread until its command channel closes.
    pub fn run(mut self, commands: Receiver<Command>) {
        if let Some(cpu) = self.cpu {
            pin_to(cpu);
        }
        loop {
            if self.tasks.is_empty() {
                match commands.recv() {
                    Ok(Command::StartInit(spec)) => self.start_init(spec),
                    Err(_) => return,
                }
                continue;
            }
            match ptrace::wait_any() {
                Ok(ws) => self.on_stop(ws.tid, Stop::from_status(ws.status)),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::error!("tracer loop on cpu {:?}: waitpid failed: {e}", self.cpu);
                    self.tasks.clear();
                }
            }
        }
    }

    fn start_init(&mut self, spec: InitSpec) {
        if let Err(e) = self.try_start_init(spec) {
            let _ = self.events.send(Event::InitFailed(e));
        }
    }

    fn try_start_init(&mut self, spec: InitSpec) -> Result<(), InitError> {
        // Check the program before creating any process for it.
        let exe = exec::read_executable(&self.k, b"/", &spec.path)?;
        let stub_fd = stub::memfd().map_err(InitError::Stub)?;
        let pid = spawn::spawn(&SpawnSpec { stub_fd, filter: self.k.filter.as_deref(), drop_to: self.drop_to })?;
        let mut task = Task::new(pid, self.k.alloc_pid(), 0);
        for (fd, stream) in self.k.console.iter().enumerate() {
            if let Some(s) = stream {
                let flags = if fd == 0 { libc::O_RDONLY } else { libc::O_WRONLY };
                let dup = crate::dev::console::ConsoleStream::dup(s.fd().as_raw_fd());
                if let Some(d) = dup {
                    let f = OpenFile::new(FileKind::Console(d), b"/dev/console".to_vec(), flags);
                    let _ = task.files.insert_at(fd as i32, Arc::new(f), false, u64::MAX);
                }
            }
        }
        let started = ptrace::get_regs(pid).map_err(|e| InitError::Spawn(SpawnError::Host(e))).and_then(|regs| {
            let r = exec::load_into(&mut task, &regs, exe, &spec.argv, &spec.envp, &spec.path)?;
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

    fn on_stop(&mut self, tid: i32, stop: Stop) {
        if !self.tasks.contains_key(&tid) {
            return;
        }
        let resumed = match stop {
            Stop::Syscall => self.on_syscall(tid),
            // A signal meant for the guest (a fault): deliver it.
            Stop::Signal(sig) => self.k.platform.resume(tid, sig),
            Stop::GroupStop(_) | Stop::Event(_) => self.k.platform.resume(tid, 0),
            Stop::Exited(_) | Stop::Killed(_) => {
                self.ended(tid, stop);
                Ok(())
            }
        };
        if let Err(e) = resumed {
            // ESRCH: killed under us; its exit status arrives next.
            if e != Errno::ESRCH {
                tracing::error!("task {tid}: ptrace failed: {e}");
            }
        }
    }

    fn on_syscall(&mut self, tid: i32) -> Result<(), Errno> {
        let regs = ptrace::get_regs(tid)?;
        let k = self.k.clone();
        let task = self.tasks.get_mut(&tid).expect("caller checked");
        let call =
            k.strace.as_ref().map(|_| strace::format_call(&GuestMem::new(tid), regs.orig_rax, &syscall_args(&regs)));
        let vtid = task.vtid;
        let outcome = syscall::dispatch(&k, task, &regs);
        let ret = match outcome {
            Outcome::Return(ret) => {
                let mut r = regs;
                k.platform.complete(&mut r, ret);
                ptrace::set_regs(tid, &r)?;
                Some(ret)
            }
            Outcome::Native => {
                if k.platform.run_on_host(tid)? {
                    trace(&k, vtid, call, None);
                    return Ok(());
                }
                // rt_sigreturn continues in the restored guest context, not
                // at the gadget: stop it at syscall exit and resume from there.
                if regs.orig_rax == nr::RT_SIGRETURN {
                    match inject_to_exit(tid, &regs, regs.orig_rax, syscall_args(&regs)) {
                        Ok(_) => {
                            trace(&k, vtid, call, None);
                            return k.platform.resume(tid, 0);
                        }
                        Err(e) => {
                            trace(&k, vtid, call, None);
                            return self.died(tid, e);
                        }
                    }
                }
                match inject_regs(tid, &regs, regs.orig_rax, syscall_args(&regs)) {
                    Ok(after) => {
                        // The guest's own call ran: keep what it changed.
                        let mut r = regs;
                        r.rax = after.rax;
                        r.fs_base = after.fs_base;
                        r.gs_base = after.gs_base;
                        ptrace::set_regs(tid, &r)?;
                        Some(after.rax as i64)
                    }
                    Err(e) => {
                        trace(&k, vtid, call, None);
                        return self.died(tid, e);
                    }
                }
            }
            Outcome::Died(e) => {
                trace(&k, vtid, call, None);
                return self.died(tid, e);
            }
        };
        trace(&k, vtid, call, ret);
        k.platform.resume(tid, 0)
    }

    /// The process ended or broke during an injected syscall.
    fn died(&mut self, tid: i32, e: InjectError) -> Result<(), Errno> {
        match e {
            InjectError::Gone(stop) => self.ended(tid, stop),
            InjectError::Fault(sig) => {
                // The guest broke the stub (unmapped or overwrote it): it
                // cannot be served any more.
                tracing::warn!("task {tid}: signal {sig} inside an injected syscall; killing it");
                ptrace::kill_thread(tid, tid);
            }
            InjectError::Ptrace(e) => return Err(e),
        }
        Ok(())
    }

    fn ended(&mut self, tid: i32, stop: Stop) {
        let Some(task) = self.tasks.remove(&tid) else {
            return;
        };
        let status = match stop {
            Stop::Exited(code) => code,
            Stop::Killed(sig) => 128 + sig,
            _ => return,
        };
        if let Some(sink) = &self.k.strace {
            if let Ok(mut w) = sink.lock() {
                let _ = writeln!(w, "[pid {}] +++ exited with {status} +++", task.vpid);
            }
        }
        if task.vpid == 1 {
            let _ = self.events.send(Event::Halted(status));
        }
    }
}

fn trace(k: &Kernel, vtid: i32, call: Option<String>, ret: Option<i64>) {
    let (Some(sink), Some(call)) = (&k.strace, call) else {
        return;
    };
    let result = ret.map_or_else(|| "= ?".to_string(), strace::format_result);
    if let Ok(mut w) = sink.lock() {
        let _ = writeln!(w, "[pid {vtid}] {call} {result}");
    }
}

/// Pins the calling thread to one CPU.
fn pin_to(cpu: usize) {
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
