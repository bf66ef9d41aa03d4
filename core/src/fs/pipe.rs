//! Pipes and their ends (Linux's fs/pipe.c): a 64 KiB buffer, writes of
//! up to PIPE_BUF bytes atomic, EOF when the last writer closes, EPIPE
//! (and SIGPIPE) when the last reader has.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::kernel::Kernel;
use crate::sched::wait::WaitQueue;

/// The path an anonymous pipe's ends have (a FIFO's ends have its path).
pub const ANON_PATH: &[u8] = b"pipe:";

/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// A pipe's capacity.
pub const PIPE_SIZE: usize = 65536;

/// The shared buffer of a pipe.
pub struct Pipe {
    inner: Mutex<PipeInner>,
    /// Readers waiting for data (or EOF).
    pub readers_wait: Arc<WaitQueue>,
    /// Writers waiting for room (or a reader to leave).
    pub writers_wait: Arc<WaitQueue>,
    kernel: Weak<Kernel>,
}

/// The buffer and the counts of open ends.
pub struct PipeInner {
    /// Bytes written and not yet read.
    pub buf: VecDeque<u8>,
    /// Open read ends.
    pub readers: usize,
    /// Open write ends.
    pub writers: usize,
    /// Bumped by every event a reader can see (a write, a writer's
    /// close): what makes an edge-triggered EPOLLIN fire again.
    pub wgen: u64,
    /// Bumped by every event a writer can see (a read, a reader's close).
    pub rgen: u64,
}

impl PipeInner {
    /// Free space in the buffer.
    pub fn room(&self) -> usize {
        PIPE_SIZE.saturating_sub(self.buf.len())
    }
}

impl Pipe {
    /// A new pipe with one read end and one write end.
    pub fn pair(k: &Kernel) -> (PipeEnd, PipeEnd) {
        let pipe = Arc::new(Pipe {
            inner: Mutex::new(PipeInner { buf: VecDeque::new(), readers: 1, writers: 1, wgen: 0, rgen: 0 }),
            readers_wait: Arc::default(),
            writers_wait: Arc::default(),
            kernel: k.weak(),
        });
        (PipeEnd { pipe: pipe.clone(), access: Access::Read }, PipeEnd { pipe, access: Access::Write })
    }

    /// The pipe of a FIFO (a named pipe): shared by every open of the
    /// same host inode while any end is open.
    pub fn fifo(k: &Kernel, key: (u64, u64)) -> Arc<Pipe> {
        let mut fifos = k.fifos.lock().unwrap_or_else(|e| e.into_inner());
        fifos.retain(|_, w| w.strong_count() > 0);
        if let Some(p) = fifos.get(&key).and_then(Weak::upgrade) {
            return p;
        }
        let pipe = Arc::new(Pipe {
            inner: Mutex::new(PipeInner { buf: VecDeque::new(), readers: 0, writers: 0, wgen: 0, rgen: 0 }),
            readers_wait: Arc::default(),
            writers_wait: Arc::default(),
            kernel: k.weak(),
        });
        fifos.insert(key, Arc::downgrade(&pipe));
        pipe
    }

    /// Opens one more end of `pipe` (a FIFO open), waking the other side.
    pub fn attach(pipe: &Arc<Pipe>, access: Access) -> PipeEnd {
        {
            let mut p = pipe.lock();
            if access.writes() {
                p.writers += 1;
                p.wgen += 1;
            }
            if access.reads() {
                p.readers += 1;
                p.rgen += 1;
            }
        }
        pipe.wake_readers();
        pipe.wake_writers();
        PipeEnd { pipe: pipe.clone(), access }
    }

    /// Locks the buffer.
    pub fn lock(&self) -> MutexGuard<'_, PipeInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes tasks waiting to read (data arrived, or the last writer left).
    pub fn wake_readers(&self) {
        if let Some(k) = self.kernel.upgrade() {
            k.wake_all(&self.readers_wait);
        }
    }

    /// Wakes tasks waiting to write (room, or the last reader left).
    pub fn wake_writers(&self) {
        if let Some(k) = self.kernel.upgrade() {
            k.wake_all(&self.writers_wait);
        }
    }
}

/// What an end of a pipe may do: an anonymous pipe's ends read or
/// write; a FIFO (or /proc/PID/fd/N of a pipe) opened O_RDWR does both
/// and counts as one reader and one writer, so it never waits for, nor
/// lacks, the other side (Linux's fifo_open, FMODE_READ | FMODE_WRITE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read end.
    Read,
    /// A write end.
    Write,
    /// Both ends in one open file.
    Both,
}

impl Access {
    /// The access an open's O_ACCMODE asks for (O_ACCMODE itself, which
    /// Linux's fifo_open refuses, gives None).
    pub fn from_flags(flags: i32) -> Option<Access> {
        match flags & libc::O_ACCMODE {
            libc::O_RDONLY => Some(Access::Read),
            libc::O_WRONLY => Some(Access::Write),
            libc::O_RDWR => Some(Access::Both),
            _ => None,
        }
    }

    /// Whether the end counts among the pipe's readers.
    pub fn reads(self) -> bool {
        self != Access::Write
    }

    /// Whether the end counts among the pipe's writers.
    pub fn writes(self) -> bool {
        self != Access::Read
    }
}

/// One end of a pipe; dropping the last handle of an open file closes it.
pub struct PipeEnd {
    /// The pipe.
    pub pipe: Arc<Pipe>,
    /// Whether this end reads, writes or both.
    pub access: Access,
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        {
            let mut p = self.pipe.lock();
            if self.access.writes() {
                p.writers -= 1;
                p.wgen += 1;
            }
            if self.access.reads() {
                p.readers -= 1;
                p.rgen += 1;
            }
        }
        if self.access.writes() {
            self.pipe.wake_readers();
        }
        if self.access.reads() {
            self.pipe.wake_writers();
        }
    }
}
