//! The state one VM's kernel shares between its tracer loops.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use crate::dev::console::{ConsoleInput, ConsoleStream, ConsoleTty};
use crate::fs::Vfs;
use crate::sched::timer::Timers;
use crate::sched::wait::TaskRef;
use crate::sched::{doorbell, Msg};
use crate::task::table::ProcTable;
use crate::trap::Platform;

/// What other threads share with one tracer loop.
#[derive(Default)]
pub struct LoopShared {
    /// Messages for the loop, drained before it next waits.
    pub inbox: Mutex<Vec<Msg>>,
    /// Set when the inbox may hold messages: the loop checks it after
    /// every syscall without taking the lock.
    pub has_mail: std::sync::atomic::AtomicBool,
    /// Host pid of the loop's doorbell process (0 before it has one).
    pub doorbell: AtomicI32,
}

thread_local! {
    /// The id of the tracer loop running on this thread, if any.
    pub static CURRENT_LOOP: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Where `--strace` lines go.
pub type TraceSink = Mutex<Box<dyn Write + Send>>;

/// What a machine is booted with, beyond its devices.
pub struct MachineSpec {
    /// The memory the guest is told it has (`mem=`).
    pub mem_bytes: u64,
    /// /proc/cmdline's text, newline included.
    pub cmdline: Vec<u8>,
    /// The initial host name (`hostname=`, else "umvm").
    pub hostname: Vec<u8>,
}

/// One VM's kernel.
pub struct Kernel {
    /// The filesystem namespace.
    pub vfs: Vfs,
    /// The trap back end.
    pub platform: &'static dyn Platform,
    /// The seccomp filter every guest process installs (seccomp mode).
    pub filter: Option<seccompiler::BpfProgram>,
    /// `--strace` output, when enabled.
    pub strace: Option<TraceSink>,
    /// The console streams init's fds 0-2 are made of.
    pub console: [Option<ConsoleStream>; 3],
    /// uname's nodename (sethostname).
    pub hostname: Mutex<Vec<u8>>,
    /// When the VM booted (uptime, sysinfo).
    pub boot: Instant,
    /// The guest's memory (`mem=`): sysinfo, /proc/meminfo, and the
    /// out-of-memory killer's limit.
    pub mem_bytes: u64,
    /// The kernel command line as /proc/cmdline shows it (with its newline).
    pub cmdline: Vec<u8>,
    /// Halt, power-off and restart requests; ctrl-alt-del's setting.
    pub power: crate::power::Power,
    /// The out-of-memory killer's state (`mem=` enforced: mm/oom.rs).
    pub oom: crate::mm::oom::OomKiller,
    /// The socket `mconsole=notify:` names: the guest's writes to
    /// /proc/mconsole go there (set at boot; /proc/mconsole exists only
    /// then, as in UML).
    pub mconsole_notify: std::sync::OnceLock<std::path::PathBuf>,
    /// Every process and thread.
    procs: Mutex<ProcTable>,
    /// One mailbox per tracer loop (one loop per virtual CPU).
    pub loops: Vec<LoopShared>,
    /// The host CPU each virtual CPU's loop runs on, by loop id.
    pub cpus: Vec<usize>,
    /// Timed wake-ups.
    pub timers: Timers,
    unknown_logged: Mutex<HashSet<u64>>,
    /// Tasks waiting for console input, and the watcher that wakes them.
    pub console_input: ConsoleInput,
    /// The console as a controlling terminal (session, foreground group).
    pub console_tty: ConsoleTty,
    /// The console's terminal, when the console is one (`--console tty`):
    /// then init's fds 0-2 are the terminal, not `console`'s streams.
    pub tty: Option<crate::dev::tty::Tty>,
    /// Hands umvm's host fds to guest processes (file mmap); None if the
    /// host refused a socket pair (file mappings are then copies).
    pub channel: Option<crate::trap::fdpass::Channel>,
    /// The pipes of open FIFOs, by host (device, inode).
    pub fifos: Mutex<std::collections::HashMap<(u64, u64), Weak<crate::fs::pipe::Pipe>>>,
    /// The bound AF_UNIX names.
    pub unix: crate::net::unix::Names,
    /// The AF_INET/AF_INET6 stack (its loopback only, for now).
    pub inet: crate::net::inet::Inet,
    /// The bound AF_NETLINK port ids.
    pub netlink: crate::net::netlink::socket::Ports,
    me: Weak<Kernel>,
}

impl Kernel {
    /// A kernel over `vfs` using `platform`.
    pub fn new(
        vfs: Vfs,
        platform: &'static dyn Platform,
        filter: Option<seccompiler::BpfProgram>,
        strace: Option<TraceSink>,
        machine: MachineSpec,
        cpus: Vec<usize>,
        tty: Option<crate::dev::tty::Tty>,
    ) -> Arc<Kernel> {
        Arc::new_cyclic(|me| Kernel {
            me: me.clone(),
            vfs,
            platform,
            filter,
            strace,
            console: [ConsoleStream::dup(0), ConsoleStream::dup(1), ConsoleStream::dup(2)],
            hostname: Mutex::new(machine.hostname),
            boot: Instant::now(),
            mem_bytes: machine.mem_bytes,
            cmdline: machine.cmdline,
            power: crate::power::Power::default(),
            oom: Default::default(),
            mconsole_notify: Default::default(),
            procs: Mutex::new(ProcTable::default()),
            loops: cpus.iter().map(|_| LoopShared::default()).collect(),
            cpus,
            timers: Timers::default(),
            unknown_logged: Mutex::new(HashSet::new()),
            console_input: ConsoleInput::default(),
            fifos: Mutex::default(),
            unix: Default::default(),
            inet: Default::default(),
            netlink: Default::default(),
            console_tty: ConsoleTty::default(),
            tty,
            channel: crate::trap::fdpass::Channel::new().ok(),
        })
    }

    /// A weak handle on this kernel, for objects that must wake tasks
    /// when they are dropped (the last close of a pipe end).
    pub fn weak(&self) -> Weak<Kernel> {
        self.me.clone()
    }

    /// Locks the process table.
    pub fn procs(&self) -> MutexGuard<'_, ProcTable> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a message to a loop, ringing its doorbell unless the caller
    /// is that loop (which reads its inbox before it next waits).
    pub fn post(&self, loop_id: usize, msg: Msg) {
        let Some(l) = self.loops.get(loop_id) else { return };
        l.inbox.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
        l.has_mail.store(true, Ordering::Release);
        if CURRENT_LOOP.with(|c| c.get()) != Some(loop_id) {
            doorbell::ring(l.doorbell.load(Ordering::Acquire));
        }
    }

    /// Wakes a task blocked in a syscall: its loop re-runs the syscall.
    pub fn wake(&self, t: TaskRef) {
        self.post(t.loop_id, Msg::Wake(t.tid));
    }

    /// Wakes every waiter of a queue.
    pub fn wake_all(&self, q: &crate::sched::wait::WaitQueue) {
        for t in q.drain() {
            self.wake(t);
        }
    }

    /// Writes a kernel message line to the console (Linux's printk on a
    /// console; UML's console is its stdout): the terminal with
    /// `--console tty`, else umvm's stdout.
    pub fn console_message(&self, line: &[u8]) {
        let mut text = line.to_vec();
        text.push(b'\n');
        match (&self.tty, &self.console[1]) {
            (Some(tty), _) => {
                let _ = tty.write(&text);
            }
            (None, Some(out)) => {
                let _ = crate::dev::console::write(out, &text);
            }
            (None, None) => {}
        }
    }

    /// Logs an unimplemented syscall, once per syscall per VM.
    pub fn log_unknown(&self, nr: u64) {
        let first = self.unknown_logged.lock().map(|mut s| s.insert(nr)).unwrap_or(false);
        if first {
            let name = crate::syscall::names::name(nr).unwrap_or("?");
            tracing::warn!("unimplemented syscall {name} ({nr}): the guest gets ENOSYS");
        }
    }
}
