//! The I/O engine: one API over two back ends, io_uring and a synchronous
//! fallback, shaped for a single-threaded event loop (one per host CPU,
//! ARCHITECTURE.md §2).
//!
//! The loop's pattern:
//! 1. `push` many requests, each with a caller token (say, a task id and a
//!    request number); nothing reaches the kernel yet;
//! 2. `submit` once: one io_uring_enter for the whole batch;
//! 3. when `notify_fd` (an eventfd the kernel signals on every completion)
//!    polls readable, or before the loop blocks in waitpid, `reap` without
//!    blocking; each `Completion` carries the token and gives back the
//!    request's buffer.
//!
//! `wait` and `wait_for` block, for tests, tools and synchronous callers.
//!
//! Ordering: requests may complete in any order. `Order::LinkNext` makes the
//! next pushed request start only after this one succeeded (if this one
//! fails, the next completes with `Error::Canceled`): data write, link,
//! fdatasync, link, bitmap write is how a COW layer persists the bitmap only
//! after the data it covers. `Order::Drain` starts a request only after every
//! earlier one has completed.
//!
//! Alignment: every file is registered with its O_DIRECT alignment, and a
//! read or write whose offset or length misses it is rejected with
//! `Error::Misaligned` at `push`, before anything reaches the kernel. (The
//! byte-granular helpers of `BlockDevice` bounce such requests instead.)

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use crate::align::DioAlignment;
use crate::buffer_pool::{Buffer, BufferPool};
use crate::error::{Error, OpKind, Result};
use crate::sync::SyncEngine;
use crate::uring::UringEngine;

/// The environment variable that forces a back end: `sync` or `uring`.
pub const ENGINE_ENV: &str = "UMVM_IO_ENGINE";

/// Which back end runs the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// io_uring, with registered files and fixed buffers.
    Uring,
    /// pread/pwrite/fdatasync on the caller's thread, at `submit`.
    Sync,
}

/// How to choose the back end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// io_uring unless `UMVM_IO_ENGINE=sync`, or unless io_uring cannot be
    /// set up (disabled by sysctl or seccomp, an old kernel): then the
    /// synchronous engine, announced once per process.
    Auto,
    /// This back end, failing if it cannot be had.
    Force(EngineKind),
}

/// Engine sizes.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Submission queue entries; more pushes than this between submits
    /// submit early.
    pub queue_depth: u32,
    /// Size of each pool buffer (rounded up to a page): the largest single
    /// request.
    pub buffer_size: usize,
    /// Number of pool buffers: the most requests with data in flight.
    pub buffer_count: usize,
    /// The most files registered at once.
    pub max_files: u32,
    /// Back end selection.
    pub choice: EngineChoice,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            queue_depth: 128,
            buffer_size: 128 * 1024,
            buffer_count: 64,
            max_files: 64,
            choice: EngineChoice::Auto,
        }
    }
}

/// A file registered with an engine (an index in io_uring's file table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(pub(crate) u32);

/// One request. Reads and writes move their buffer into the engine until
/// completion, so the kernel never touches memory the caller can reach.
#[derive(Debug)]
pub enum Op {
    /// Read `len` bytes at `offset` into the start of `buf`.
    Read {
        /// The file.
        file: FileId,
        /// Byte offset in the file.
        offset: u64,
        /// Destination; its first `len` bytes are filled.
        buf: Buffer,
        /// Bytes to read.
        len: usize,
    },
    /// Write the first `len` bytes of `buf` at `offset`.
    Write {
        /// The file.
        file: FileId,
        /// Byte offset in the file.
        offset: u64,
        /// Source.
        buf: Buffer,
        /// Bytes to write.
        len: usize,
    },
    /// fsync: data and metadata are durable once it completes.
    Fsync {
        /// The file.
        file: FileId,
    },
    /// fdatasync: data (and the metadata needed to read it) are durable.
    Fdatasync {
        /// The file.
        file: FileId,
    },
    /// Punch a hole (fallocate PUNCH_HOLE|KEEP_SIZE): the range reads as
    /// zeroes and its host blocks are freed.
    Discard {
        /// The file.
        file: FileId,
        /// Byte offset.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
}

/// Ordering constraint of a pushed request; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// None: may run and complete in any order with the others.
    Any,
    /// The next pushed request waits for this one to succeed.
    LinkNext,
    /// This request waits for every earlier one to complete.
    Drain,
}

/// The outcome of one request.
#[derive(Debug)]
pub struct Completion {
    /// The token given at `push`.
    pub token: u64,
    /// Bytes transferred (0 for fsync and discard), or the typed error. A
    /// read may return fewer bytes than asked only at end of file; a short
    /// write is an error (`Error::ShortWrite`).
    pub result: Result<usize>,
    /// The request's buffer, given back (reads and writes).
    pub buffer: Option<Buffer>,
}

/// What the back ends need of a request, already validated.
pub(crate) struct Prepared {
    pub token: u64,
    pub kind: OpKind,
    pub offset: u64,
    /// Bytes for reads, writes and discards.
    pub len: u64,
    pub buffer: Option<Buffer>,
    pub file: FileId,
    /// The registered descriptor (a dup owned by the engine).
    pub fd: RawFd,
    pub order: Order,
}

impl Prepared {
    /// Turns a raw result (bytes, or a negative errno) into a completion.
    pub(crate) fn complete(self, res: i64) -> Completion {
        let result = if res < 0 {
            Err(Error::from_errno(self.kind, self.offset, (-res) as i32))
        } else if self.kind == OpKind::Write && (res as u64) < self.len {
            Err(Error::ShortWrite { offset: self.offset, wanted: self.len as usize, got: res as usize })
        } else {
            Ok(res as usize)
        };
        Completion { token: self.token, result, buffer: self.buffer }
    }

    /// The completion of a request that never ran.
    pub(crate) fn cancel(self) -> Completion {
        Completion { token: self.token, result: Err(Error::Canceled), buffer: self.buffer }
    }
}

enum Backend {
    // Boxed: the ring is several times the size of the sync back end.
    Uring(Box<UringEngine>),
    Sync(SyncEngine),
}

struct FileSlot {
    fd: OwnedFd,
    align: DioAlignment,
}

/// The engine. Not thread-safe by design (one per loop); it may be moved to
/// the thread that will use it.
pub struct Engine {
    // Declared before `pool`: the back end (the ring, which registered the
    // pool's memory) must go first.
    backend: Backend,
    pool: BufferPool,
    files: Vec<Option<FileSlot>>,
    max_files: u32,
    /// Completions found by `wait_for` that belong to other tokens; `reap`
    /// returns them first.
    backlog: VecDeque<Completion>,
    /// The last push asked for `LinkNext`: a chain is open.
    chain_open: bool,
}

static ANNOUNCED_SYNC: AtomicBool = AtomicBool::new(false);

/// Logs `msg` once per process (the engine choice is the same for every
/// engine a process makes, so one line is enough).
fn announce_once(flag: &AtomicBool, msg: &str) {
    if !flag.swap(true, AtomicOrdering::Relaxed) {
        tracing::warn!("{msg}");
    }
}

impl Engine {
    /// Makes an engine, choosing the back end as `config.choice` says.
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let pool = BufferPool::new(config.buffer_size, config.buffer_count).map_err(Error::Setup)?;
        let choice = match config.choice {
            EngineChoice::Auto => match std::env::var(ENGINE_ENV).as_deref() {
                Ok("sync") => {
                    announce_once(&ANNOUNCED_SYNC, "I/O engine: synchronous (UMVM_IO_ENGINE=sync)");
                    EngineChoice::Force(EngineKind::Sync)
                }
                Ok("uring") => EngineChoice::Force(EngineKind::Uring),
                _ => EngineChoice::Auto,
            },
            forced => forced,
        };
        let backend = match choice {
            EngineChoice::Force(EngineKind::Sync) => Backend::Sync(SyncEngine::new()?),
            EngineChoice::Force(EngineKind::Uring) => Backend::Uring(Box::new(UringEngine::new(&config, &pool)?)),
            EngineChoice::Auto => match UringEngine::new(&config, &pool) {
                Ok(uring) => Backend::Uring(Box::new(uring)),
                Err(e) => {
                    announce_once(
                        &ANNOUNCED_SYNC,
                        &format!("I/O engine: io_uring unavailable ({e}); using the synchronous engine"),
                    );
                    Backend::Sync(SyncEngine::new()?)
                }
            },
        };
        let files = (0..config.max_files).map(|_| None).collect();
        Ok(Engine { backend, pool, files, max_files: config.max_files, backlog: VecDeque::new(), chain_open: false })
    }

    /// Which back end this engine runs.
    pub fn kind(&self) -> EngineKind {
        match self.backend {
            Backend::Uring(_) => EngineKind::Uring,
            Backend::Sync(_) => EngineKind::Sync,
        }
    }

    /// The engine's buffer pool; its buffers are fixed (registered) buffers
    /// of the ring. Buffers of another pool work too, unregistered.
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// A buffer from the pool, or `Error::NoBuffer`.
    pub fn buffer(&self) -> Result<Buffer> {
        self.pool.alloc().ok_or(Error::NoBuffer)
    }

    /// Registers a file, with the alignment its requests must keep. The
    /// engine keeps its own duplicate of the descriptor, so closing the
    /// caller's copy cannot redirect requests to a reused fd number.
    pub fn register_file(&mut self, file: impl AsFd, align: DioAlignment) -> Result<FileId> {
        let slot = self.files.iter().position(Option::is_none).ok_or(Error::TooManyFiles(self.max_files))?;
        let fd = file.as_fd().try_clone_to_owned().map_err(Error::Engine)?;
        if let Backend::Uring(u) = &mut self.backend {
            u.register_file(slot as u32, fd.as_raw_fd())?;
        }
        self.files[slot] = Some(FileSlot { fd, align });
        Ok(FileId(slot as u32))
    }

    /// Forgets a file. Requests already in flight on it still finish (the
    /// kernel holds its own reference).
    pub fn unregister_file(&mut self, file: FileId) -> Result<()> {
        let slot = self.files.get_mut(file.0 as usize).ok_or(Error::BadFile(file.0))?;
        if slot.take().is_none() {
            return Err(Error::BadFile(file.0));
        }
        if let Backend::Uring(u) = &mut self.backend {
            u.register_file(file.0, -1)?;
        }
        Ok(())
    }

    /// Queues a request; it reaches the kernel at the next `submit` (or
    /// earlier if the submission queue fills). Invalid requests (unknown
    /// file, misaligned, longer than their buffer) fail here, before the
    /// kernel sees them; their buffer goes back to its pool.
    pub fn push(&mut self, op: Op, token: u64, order: Order) -> Result<()> {
        let prepared = self.prepare(op, token, order)?;
        let linked = order == Order::LinkNext;
        let chain_was_open = self.chain_open;
        match &mut self.backend {
            Backend::Uring(u) => u.push(prepared, &self.pool, chain_was_open)?,
            Backend::Sync(s) => s.push(prepared),
        }
        self.chain_open = linked;
        Ok(())
    }

    fn prepare(&self, op: Op, token: u64, order: Order) -> Result<Prepared> {
        let (kind, file, offset, len, buffer) = match op {
            Op::Read { file, offset, buf, len } => (OpKind::Read, file, offset, len as u64, Some(buf)),
            Op::Write { file, offset, buf, len } => (OpKind::Write, file, offset, len as u64, Some(buf)),
            Op::Fsync { file } => (OpKind::Fsync, file, 0, 0, None),
            Op::Fdatasync { file } => (OpKind::Fdatasync, file, 0, 0, None),
            Op::Discard { file, offset, len } => (OpKind::Discard, file, offset, len, None),
        };
        let slot = self.files.get(file.0 as usize).and_then(Option::as_ref).ok_or(Error::BadFile(file.0))?;
        if let Some(buf) = &buffer {
            if len as usize > buf.capacity() {
                return Err(Error::BufferTooSmall { len: len as usize, capacity: buf.capacity() });
            }
            if !slot.align.fits(offset, len as usize) {
                return Err(Error::Misaligned { op: kind, offset, len: len as usize, align: slot.align.offset });
            }
        }
        Ok(Prepared { token, kind, offset, len, buffer, file, fd: slot.fd.as_raw_fd(), order })
    }

    /// Hands every queued request to the kernel in one call (io_uring), or
    /// runs them in order (sync). Returns how many were submitted.
    pub fn submit(&mut self) -> Result<usize> {
        match &mut self.backend {
            Backend::Uring(u) => u.submit(),
            Backend::Sync(s) => s.submit(),
        }
    }

    /// Moves every available completion into `out` without blocking;
    /// returns how many.
    pub fn reap(&mut self, out: &mut Vec<Completion>) -> usize {
        let before = out.len();
        out.extend(self.backlog.drain(..));
        match &mut self.backend {
            Backend::Uring(u) => u.reap(out),
            Backend::Sync(s) => s.reap(out),
        }
        out.len() - before
    }

    /// Submits what is queued and blocks until at least `min` completions
    /// (or every request in flight, if fewer) are in `out`; returns how many
    /// were added.
    pub fn wait(&mut self, min: usize, out: &mut Vec<Completion>) -> Result<usize> {
        let before = out.len();
        self.reap(out);
        while out.len() - before < min && self.in_flight() > 0 {
            let want = min - (out.len() - before);
            match &mut self.backend {
                Backend::Uring(u) => u.wait(want)?,
                Backend::Sync(s) => s.submit().map(drop)?,
            }
            self.reap(out);
        }
        Ok(out.len() - before)
    }

    /// Submits and blocks until the request with `token` completes; other
    /// completions met meanwhile are kept for the next `reap`. `None` if no
    /// request with that token is in flight.
    pub fn wait_for(&mut self, token: u64) -> Result<Option<Completion>> {
        if let Some(i) = self.backlog.iter().position(|c| c.token == token) {
            return Ok(self.backlog.remove(i));
        }
        let mut got = Vec::new();
        loop {
            if !self.has_token(token) {
                return Ok(None);
            }
            match &mut self.backend {
                Backend::Uring(u) => u.wait(1)?,
                Backend::Sync(s) => s.submit().map(drop)?,
            }
            match &mut self.backend {
                Backend::Uring(u) => u.reap(&mut got),
                Backend::Sync(s) => s.reap(&mut got),
            }
            let mut found = None;
            for c in got.drain(..) {
                if found.is_none() && c.token == token {
                    found = Some(c);
                } else {
                    self.backlog.push_back(c);
                }
            }
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// Asks the kernel to cancel every request with `token` (queued ones are
    /// cancelled at once); each still completes, with `Error::Canceled` if
    /// the cancellation won. Returns how many requests were targeted.
    pub fn cancel(&mut self, token: u64) -> Result<usize> {
        match &mut self.backend {
            Backend::Uring(u) => u.cancel(token),
            Backend::Sync(s) => Ok(s.cancel(token)),
        }
    }

    /// Requests pushed whose completion has not been reaped yet.
    pub fn in_flight(&self) -> usize {
        self.backlog.len()
            + match &self.backend {
                Backend::Uring(u) => u.in_flight(),
                Backend::Sync(s) => s.in_flight(),
            }
    }

    fn has_token(&self, token: u64) -> bool {
        match &self.backend {
            Backend::Uring(u) => u.has_token(token),
            Backend::Sync(s) => s.has_token(token),
        }
    }

    /// An eventfd that becomes readable when completions are posted: the
    /// loop polls it (or adds it to its epoll set) and then calls `reap` and
    /// `clear_notify`.
    pub fn notify_fd(&self) -> BorrowedFd<'_> {
        match &self.backend {
            Backend::Uring(u) => u.notify_fd(),
            Backend::Sync(s) => s.notify_fd(),
        }
    }

    /// Resets the eventfd's counter, so that the next poll waits for new
    /// completions. Call before `reap`, so none is missed in between.
    pub fn clear_notify(&self) {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a valid u64 from a non-blocking eventfd
        // (EAGAIN when already clear, which is fine).
        unsafe { libc::read(self.notify_fd().as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// Makes the non-blocking eventfd both back ends signal.
pub(crate) fn new_eventfd() -> Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new fd
    // that we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::Setup(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor owned by no one else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}
