//! The state one VM's kernel shares between its tracer loops.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::dev::console::ConsoleStream;
use crate::fs::Vfs;
use crate::trap::Platform;

/// Where `--strace` lines go.
pub type TraceSink = Mutex<Box<dyn Write + Send>>;

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
    /// The memory the guest is told it has (sysinfo, later /proc/meminfo).
    pub mem_bytes: u64,
    next_pid: AtomicI32,
    unknown_logged: Mutex<HashSet<u64>>,
}

impl Kernel {
    /// A kernel over `vfs` using `platform`.
    pub fn new(
        vfs: Vfs,
        platform: &'static dyn Platform,
        filter: Option<seccompiler::BpfProgram>,
        strace: Option<TraceSink>,
        mem_bytes: u64,
    ) -> Kernel {
        Kernel {
            vfs,
            platform,
            filter,
            strace,
            console: [ConsoleStream::dup(0), ConsoleStream::dup(1), ConsoleStream::dup(2)],
            hostname: Mutex::new(b"umvm".to_vec()),
            boot: Instant::now(),
            mem_bytes,
            next_pid: AtomicI32::new(1),
            unknown_logged: Mutex::new(HashSet::new()),
        }
    }

    /// Allocates a virtual pid (init gets 1).
    pub fn alloc_pid(&self) -> i32 {
        self.next_pid.fetch_add(1, Ordering::Relaxed)
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
