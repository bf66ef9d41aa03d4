//! Guest tasks and processes (ARCHITECTURE §4).
//!
//! A [`Task`] is one guest thread: a host thread traced by one tracer
//! loop. A [`Process`] is a thread group, with its virtual pid, its place
//! in the process tree and, after it exits, its zombie status. What
//! threads share (fd table, cwd, address space, signal handlers) is held
//! in [`Shared`] values, shared or copied at clone as the CLONE_* flags say.

pub mod caps;
pub mod exec;
pub mod exit;
pub mod itimer;
pub mod posix_timer;
pub mod shared;
pub mod table;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use shared::Shared;

use crate::fs::fdtable::FdTable;
use crate::sched::wait::WaitQueue;
use crate::signal::SigHandlers;
use crate::syscall::limits::Rlimits;

/// A guest's user and group ids and capabilities (virtual: guest root is
/// not host root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Creds {
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Saved set-user-id.
    pub suid: u32,
    /// Saved set-group-id.
    pub sgid: u32,
    /// Filesystem user id (follows euid unless setfsuid moved it).
    pub fsuid: u32,
    /// Filesystem group id.
    pub fsgid: u32,
    /// Capability sets.
    pub caps: caps::CapSets,
    /// PR_SET_KEEPCAPS: leaving uid 0 keeps the permitted set (cleared by
    /// execve).
    pub keep_caps: bool,
    /// PR_SET_NO_NEW_PRIVS: execve never grants ids or capabilities.
    /// Inherited by fork and kept across execve; never cleared.
    pub no_new_privs: bool,
}

impl Default for Creds {
    /// Root, with every capability (what init starts as).
    fn default() -> Self {
        Creds {
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            suid: 0,
            sgid: 0,
            fsuid: 0,
            fsgid: 0,
            caps: caps::CapSets::ROOT,
            keep_caps: false,
            no_new_privs: false,
        }
    }
}

impl Creds {
    /// Whether capability `cap` (`caps::CAP_*`) is in the effective set:
    /// Linux's capable().
    pub fn capable(&self, cap: u32) -> bool {
        self.caps.has(cap)
    }
}

/// The program break of a process: `[start, cur)` is its heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct Brk {
    /// Where the heap starts (just past the program, randomised).
    pub start: u64,
    /// The current break.
    pub cur: u64,
}

/// Where a task is in the filesystem (Linux's fs_struct): shared with
/// CLONE_FS, copied by fork, kept across execve.
#[derive(Clone, Debug)]
pub struct FsContext {
    /// Canonical namespace path of the working directory (it may lie
    /// outside `root`: chroot(2) does not move it).
    pub cwd: Vec<u8>,
    /// Canonical namespace path of the root directory (chroot(2)): where
    /// the task's absolute paths start and its `..` stops.
    pub root: Vec<u8>,
    /// File creation mask.
    pub umask: u32,
}

impl FsContext {
    /// The context init starts with: `/` as cwd and root.
    pub fn new() -> FsContext {
        FsContext { cwd: b"/".to_vec(), root: b"/".to_vec(), umask: 0o022 }
    }
}

impl Default for FsContext {
    fn default() -> Self {
        Self::new()
    }
}

/// A process's address space as the kernel tracks it (shared with
/// CLONE_VM).
#[derive(Clone, Debug, Default)]
pub struct MmContext {
    /// The program break.
    pub brk: Brk,
}

/// One file an exec mapped: the program or its dynamic loader.
#[derive(Clone, Debug, Default)]
pub struct ImageFile {
    /// Its canonical guest path.
    pub path: Vec<u8>,
    /// Its st_dev, as the guest's stat shows it.
    pub dev: u64,
    /// Its st_ino.
    pub ino: u64,
}

/// What the last exec put in a process's address space, as /proc/PID
/// shows it (Linux keeps the same in the mm_struct).
#[derive(Clone, Debug, Default)]
pub struct ExecImage {
    /// Addresses and the auxv the loader chose.
    pub layout: crate::mm::loader::Layout,
    /// The files its `layout.file_pages` come from, by image index.
    pub files: Vec<ImageFile>,
}

/// How a process ended, as wait reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit(code).
    Exited(i32),
    /// Killed by a signal.
    Killed(i32),
}

impl ExitStatus {
    /// The wait(2) status word.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => (c & 0xff) << 8,
            ExitStatus::Killed(s) => s & 0x7f,
        }
    }

    /// What umvm exits with when init ends this way.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Killed(s) => 128 + s,
        }
    }
}

/// A process's mutable state.
pub struct ProcessState {
    /// Virtual parent pid (0 for init).
    pub ppid: i32,
    /// Process group.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
    /// Credentials.
    pub creds: Creds,
    /// Supplementary group ids (getgroups/setgroups).
    pub groups: Vec<u32>,
    /// The personality(2) flags.
    pub personality: u32,
    /// The nice value (getpriority/setpriority).
    pub nice: i32,
    /// The signal it gets when its parent exits (PR_SET_PDEATHSIG; 0 for
    /// none). Not inherited by fork.
    pub pdeathsig: i32,
    /// Whether it adopts its descendants' orphans instead of init
    /// (PR_SET_CHILD_SUBREAPER). Not inherited by fork.
    pub subreaper: bool,
    /// Resource limits.
    pub rlimits: Rlimits,
    /// The running program's canonical path.
    pub exe: Vec<u8>,
    /// What its exec laid out (/proc/PID/cmdline, environ, auxv, maps).
    pub image: Arc<ExecImage>,
    /// When it was created (fork, or init's start): /proc/PID/stat's
    /// starttime.
    pub started: Instant,
    /// The command name of its main thread (/proc/PID/comm).
    pub comm: [u8; 16],
    /// What procfs shows of its main thread: cwd and fds.
    pub fs: Option<Shared<FsContext>>,
    /// Its main thread's fd table (/proc/PID/fd).
    pub files: Option<Shared<FdTable>>,
    /// Its address space's bookkeeping (the heap in /proc/PID/maps).
    pub mm: Option<Shared<MmContext>>,
    /// Host pid of its main thread (/proc/PID/maps reads the host's).
    pub host_pid: i32,
    /// Virtual tids of its live threads.
    pub threads: BTreeSet<i32>,
    /// Virtual pids of its children (live or zombie).
    pub children: BTreeSet<i32>,
    /// Set once the last thread is gone: the process is a zombie.
    pub exit: Option<ExitStatus>,
    /// The status of exit_group or a fatal signal, which every thread's
    /// end reports.
    pub group_exit: Option<ExitStatus>,
    /// A vfork child not yet exec'd or exited: the parent waits for it.
    pub vfork_done: bool,
    /// Whether it has exec'd since fork (setpgid on such a child is EACCES).
    pub did_exec: bool,
    /// Job control: stopped by this signal (SIGSTOP, SIGTSTP...), and
    /// whether wait has reported it (WUNTRACED).
    pub stopped: Option<(i32, bool)>,
    /// Continued by SIGCONT and not yet reported (WCONTINUED).
    pub continued: bool,
    /// CPU use of its threads that have ended (the host's figures).
    pub usage_dead_threads: crate::trap::ptrace::Usage,
    /// CPU use of its reaped children and their descendants.
    pub usage_children: crate::trap::ptrace::Usage,
    /// ITIMER_REAL, when armed.
    pub itimer: Option<itimer::RealTimer>,
    /// Bumped at every (re)arming, so a stale timer entry does nothing.
    pub itimer_generation: u64,
    /// ITIMER_REAL's entry in the timer queue, cancelled when re-armed.
    pub itimer_entry: Option<crate::sched::timer::TimerKey>,
    /// Its POSIX timers (timer_create).
    pub posix_timers: posix_timer::PosixTimers,
}

impl ProcessState {
    /// A process as it starts: host process `host_pid` with one thread,
    /// `vtid`, in group `pgid` and session `sid`, with nothing inherited
    /// yet (root's credentials, no children, no timers, no files). fork and
    /// init's start fill in what they take from elsewhere.
    pub fn new(ppid: i32, pgid: i32, sid: i32, host_pid: i32, vtid: i32) -> ProcessState {
        ProcessState {
            ppid,
            pgid,
            sid,
            creds: Default::default(),
            groups: vec![0],
            personality: 0,
            nice: 0,
            pdeathsig: 0,
            subreaper: false,
            rlimits: Default::default(),
            exe: Vec::new(),
            image: Default::default(),
            started: Instant::now(),
            comm: [0; 16],
            fs: None,
            files: None,
            mm: None,
            host_pid,
            threads: [vtid].into(),
            children: Default::default(),
            exit: None,
            group_exit: None,
            vfork_done: true,
            did_exec: false,
            stopped: None,
            usage_dead_threads: Default::default(),
            usage_children: Default::default(),
            continued: false,
            itimer: None,
            itimer_generation: 0,
            itimer_entry: None,
            posix_timers: Default::default(),
        }
    }
}

/// A thread group.
pub struct Process {
    /// Virtual pid.
    pub vpid: i32,
    /// Signal dispositions (CLONE_SIGHAND).
    pub sighand: Shared<SigHandlers>,
    state: Mutex<ProcessState>,
    /// Woken when a child changes state (wait4, waitid) or a vfork child
    /// releases its parent.
    pub child_wait: Arc<WaitQueue>,
}

impl Process {
    /// A new process.
    pub fn new(vpid: i32, sighand: Shared<SigHandlers>, state: ProcessState) -> Process {
        Process { vpid, sighand, state: Mutex::new(state), child_wait: Arc::new(WaitQueue::default()) }
    }

    /// Locks its state.
    pub fn state(&self) -> MutexGuard<'_, ProcessState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One guest task: a host thread traced by one tracer loop.
pub struct Task {
    /// Host thread id.
    pub tid: i32,
    /// Virtual thread id.
    pub vtid: i32,
    /// Its thread group.
    pub process: Arc<Process>,
    /// File descriptors (CLONE_FILES).
    pub files: Shared<FdTable>,
    /// cwd and umask (CLONE_FS).
    pub fs: Shared<FsContext>,
    /// Address space bookkeeping (CLONE_VM).
    pub mm: Shared<MmContext>,
    /// Command name (PR_SET_NAME, /proc/PID/comm), NUL-padded.
    pub comm: [u8; 16],
    /// A vfork child this task waits for (its vfork has not returned).
    pub vfork_child: Option<i32>,
    /// A FIFO open waiting for the other side: the inode and the end
    /// already opened (kept across the open's re-runs).
    pub fifo_wait: Option<((u64, u64), std::sync::Arc<crate::fs::file::OpenFile>)>,
    /// Signals sent to it and not yet taken, with the siginfo the guest
    /// must see (fixed at the delivery stop, or by sigtimedwait).
    pub sig_pending: crate::signal::Pending,
}

impl Task {
    /// The virtual pid of its process.
    pub fn vpid(&self) -> i32 {
        self.process.vpid
    }

    /// Sets the command name from a program path (its last component).
    pub fn set_comm_from_path(&mut self, path: &[u8]) {
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        self.comm = [0; 16];
        let n = base.len().min(15);
        self.comm[..n].copy_from_slice(&base[..n]);
    }
}
