//! Guest tasks: virtual ids, credentials and per-process state
//! (ARCHITECTURE §4). In Step 1 every process has one thread; Step 2
//! splits the shared parts (fd table, cwd, memory) out of the task.

pub mod exec;

use crate::fs::fdtable::FdTable;
use crate::syscall::limits::Rlimits;

/// A guest's user and group ids (virtual: guest root is not host root).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    /// Real, effective and saved user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
}

/// The program break of a process: `[start, cur)` is its heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct Brk {
    /// Where the heap starts (just past the program, randomised).
    pub start: u64,
    /// The current break.
    pub cur: u64,
}

/// One guest task: a host thread traced by one tracer loop.
pub struct Task {
    /// Host thread id.
    pub tid: i32,
    /// Virtual thread id.
    pub vtid: i32,
    /// Virtual process id (thread group id).
    pub vpid: i32,
    /// Virtual parent process id (0 for init).
    pub vppid: i32,
    /// Credentials.
    pub creds: Creds,
    /// Canonical absolute path of the working directory.
    pub cwd: Vec<u8>,
    /// File creation mask.
    pub umask: u32,
    /// File descriptors.
    pub files: FdTable,
    /// Program break.
    pub brk: Brk,
    /// Command name (PR_SET_NAME, /proc/PID/comm), NUL-padded.
    pub comm: [u8; 16],
    /// Resource limits.
    pub rlimits: Rlimits,
    /// The path of the running program (/proc/PID/exe).
    pub exe: Vec<u8>,
}

impl Task {
    /// A task for host thread `tid` with virtual ids `vpid`/`vppid`, in
    /// `/`, root, with no files.
    pub fn new(tid: i32, vpid: i32, vppid: i32) -> Task {
        Task {
            tid,
            vtid: vpid,
            vpid,
            vppid,
            creds: Creds::default(),
            cwd: b"/".to_vec(),
            umask: 0o022,
            files: FdTable::new(),
            brk: Brk::default(),
            comm: [0; 16],
            rlimits: Rlimits::default(),
            exe: Vec::new(),
        }
    }

    /// Sets the command name from a program path (its last component).
    pub fn set_comm_from_path(&mut self, path: &[u8]) {
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        self.comm = [0; 16];
        let n = base.len().min(15);
        self.comm[..n].copy_from_slice(&base[..n]);
    }
}
