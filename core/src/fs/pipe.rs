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
        (PipeEnd { pipe: pipe.clone(), write: false }, PipeEnd { pipe, write: true })
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
    pub fn attach(pipe: &Arc<Pipe>, write: bool) -> PipeEnd {
        {
            let mut p = pipe.lock();
            if write {
                p.writers += 1;
                p.wgen += 1;
            } else {
                p.readers += 1;
                p.rgen += 1;
            }
        }
        pipe.wake_readers();
        pipe.wake_writers();
        PipeEnd { pipe: pipe.clone(), write }
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

/// One end of a pipe; dropping the last handle of an open file closes it.
pub struct PipeEnd {
    /// The pipe.
    pub pipe: Arc<Pipe>,
    /// Whether this is the write end.
    pub write: bool,
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        {
            let mut p = self.pipe.lock();
            if self.write {
                p.writers -= 1;
                p.wgen += 1;
            } else {
                p.readers -= 1;
                p.rgen += 1;
            }
        }
        if self.write {
            self.pipe.wake_readers();
        } else {
            self.pipe.wake_writers();
        }
    }
}
