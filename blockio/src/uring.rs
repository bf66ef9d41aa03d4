//! The io_uring back end: registered files, the pool's buffers as fixed
//! buffers, one io_uring_enter per batch, completions signalled on an
//! eventfd.
//!
//! Like Firecracker's io_uring module, the unsafe part is small: pushing an
//! entry whose memory the kernel will use. It is sound because every pointer
//! an entry carries is into a `Buffer` that this back end owns until the
//! matching completion is reaped (or, at drop, until the ring has drained).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types, IoUring};

use crate::buffer_pool::BufferPool;
use crate::engine::{new_eventfd, Completion, EngineConfig, Order, Prepared};
use crate::error::{Error, OpKind, Result};

/// user_data of cancel requests, whose own completions are not reported.
const CANCEL_TAG: u64 = u64::MAX;

pub(crate) struct UringEngine {
    ring: IoUring,
    /// In-flight requests, indexed by their user_data.
    slots: Vec<Option<Prepared>>,
    free: Vec<u32>,
    in_flight: usize,
    eventfd: OwnedFd,
}

/// Retries a ring call that a signal interrupted.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

impl UringEngine {
    pub(crate) fn new(config: &EngineConfig, pool: &BufferPool) -> Result<UringEngine> {
        let entries = config.queue_depth.max(1).next_power_of_two();
        // COOP_TASKRUN (5.19+): completions are run when the loop enters the
        // kernel anyway, instead of interrupting it with an IPI; a plain ring
        // where the kernel is older.
        let ring = IoUring::builder()
            .setup_coop_taskrun()
            .build(entries)
            .or_else(|_| IoUring::new(entries))
            .map_err(Error::Setup)?;
        let submitter = ring.submitter();
        submitter
            .register_files_sparse(config.max_files)
            .or_else(|_| submitter.register_files(&vec![-1; config.max_files as usize]))
            .map_err(Error::Setup)?;
        let iovecs = pool.iovecs();
        // SAFETY: the iovecs cover the pool's mapping, which outlives the
        // ring: the engine owns the pool and drops this back end first.
        unsafe { submitter.register_buffers(&iovecs) }.map_err(Error::Setup)?;
        let eventfd = new_eventfd()?;
        submitter.register_eventfd(eventfd.as_raw_fd()).map_err(Error::Setup)?;
        Ok(UringEngine { ring, slots: Vec::new(), free: Vec::new(), in_flight: 0, eventfd })
    }

    /// Points io_uring's file slot `index` at `fd` (-1 empties it).
    pub(crate) fn register_file(&mut self, index: u32, fd: RawFd) -> Result<()> {
        self.ring.submitter().register_files_update(index, &[fd]).map_err(Error::Engine)?;
        Ok(())
    }

    pub(crate) fn push(&mut self, mut req: Prepared, pool: &BufferPool, chain_open: bool) -> Result<()> {
        if self.ring.submission().is_full() {
            // A linked chain must reach the kernel in one submission, or its
            // link would be cut at the batch boundary.
            if chain_open {
                return Err(Error::QueueFull);
            }
            self.submit()?;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let fd = types::Fixed(req.file.0);
        let entry = match req.kind {
            OpKind::Read | OpKind::Write => {
                let buf = req.buffer.as_mut().expect("reads and writes carry a buffer");
                let fixed = pool.owns(buf);
                let (index, ptr, len) = (buf.index() as u16, buf.as_mut_ptr(), req.len as u32);
                match (req.kind, fixed) {
                    (OpKind::Read, true) => opcode::ReadFixed::new(fd, ptr, len, index).offset(req.offset).build(),
                    (OpKind::Read, false) => opcode::Read::new(fd, ptr, len).offset(req.offset).build(),
                    (_, true) => opcode::WriteFixed::new(fd, ptr, len, index).offset(req.offset).build(),
                    (_, false) => opcode::Write::new(fd, ptr, len).offset(req.offset).build(),
                }
            }
            OpKind::Fsync => opcode::Fsync::new(fd).build(),
            OpKind::Fdatasync => opcode::Fsync::new(fd).flags(types::FsyncFlags::DATASYNC).build(),
            OpKind::Discard => opcode::Fallocate::new(fd, req.len)
                .offset(req.offset)
                .mode(libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE)
                .build(),
        };
        let flags = match req.order {
            Order::Any => squeue::Flags::empty(),
            Order::LinkNext => squeue::Flags::IO_LINK,
            Order::Drain => squeue::Flags::IO_DRAIN,
        };
        let entry = entry.flags(flags).user_data(u64::from(slot));
        // SAFETY: the entry's buffer pointer (if any) is into `req.buffer`,
        // which is stored in `slots` below and stays there until the
        // completion for `slot` is reaped; its file is a registered slot.
        unsafe { self.ring.submission().push(&entry) }.expect("the queue was checked for room");
        self.slots[slot as usize] = Some(req);
        self.in_flight += 1;
        Ok(())
    }

    pub(crate) fn submit(&mut self) -> Result<usize> {
        retry(|| self.ring.submit()).map_err(Error::Engine)
    }

    /// Submits what is queued and blocks until `want` completions are
    /// posted.
    pub(crate) fn wait(&mut self, want: usize) -> Result<()> {
        let want = want.min(self.in_flight);
        retry(|| self.ring.submit_and_wait(want)).map(drop).map_err(Error::Engine)
    }

    pub(crate) fn reap(&mut self, out: &mut Vec<Completion>) {
        let completed: Vec<(u64, i32)> = self.ring.completion().map(|c| (c.user_data(), c.result())).collect();
        for (user_data, res) in completed {
            if user_data == CANCEL_TAG {
                continue;
            }
            let Some(req) = self.slots.get_mut(user_data as usize).and_then(Option::take) else {
                tracing::error!("io_uring completion for unknown request {user_data}");
                continue;
            };
            self.free.push(user_data as u32);
            self.in_flight -= 1;
            out.push(req.complete(i64::from(res)));
        }
    }

    pub(crate) fn cancel(&mut self, token: u64) -> Result<usize> {
        let targets: Vec<u64> = (0..self.slots.len())
            .filter(|&i| self.slots[i].as_ref().is_some_and(|r| r.token == token))
            .map(|i| i as u64)
            .collect();
        for &user_data in &targets {
            if self.ring.submission().is_full() {
                self.submit()?;
            }
            let entry = opcode::AsyncCancel::new(user_data).build().user_data(CANCEL_TAG);
            // SAFETY: a cancel request carries no pointers.
            unsafe { self.ring.submission().push(&entry) }.expect("the queue was checked for room");
        }
        Ok(targets.len())
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub(crate) fn has_token(&self, token: u64) -> bool {
        self.slots.iter().flatten().any(|r| r.token == token)
    }

    pub(crate) fn notify_fd(&self) -> BorrowedFd<'_> {
        self.eventfd.as_fd()
    }
}

impl Drop for UringEngine {
    /// Drains the ring before the buffers it writes into can be freed: a
    /// request still in flight owns memory the kernel may yet write.
    fn drop(&mut self) {
        let tokens: Vec<u64> = self.slots.iter().flatten().map(|r| r.token).collect();
        for token in tokens {
            let _ = self.cancel(token);
        }
        let mut sink = Vec::new();
        while self.in_flight > 0 {
            if self.wait(1).is_err() {
                // The ring is broken; leak the buffers rather than free
                // memory the kernel might still write.
                std::mem::forget(std::mem::take(&mut self.slots));
                return;
            }
            self.reap(&mut sink);
            sink.clear();
        }
        // Closing the ring releases its registered files only later, in a
        // kernel worker, and with them the image locks; unregistering them
        // now releases them before `drop` returns, so that the image can be
        // reopened at once.
        let _ = self.ring.submitter().unregister_files();
    }
}
