//! The synchronous back end: the same API, run with pread/pwrite/fdatasync
//! on the caller's thread at `submit`, in push order. For hosts where
//! io_uring is disabled (sysctl kernel.io_uring_disabled, a seccomp policy,
//! an old kernel), and forced with UMVM_IO_ENGINE=sync.
//!
//! Running in push order gives `Order::Drain` for free; `Order::LinkNext`
//! needs only the io_uring rule that a failed link cancels what follows.
//! Completions are signalled on an eventfd too, so a loop written for
//! io_uring works unchanged.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::engine::{new_eventfd, Completion, Order, Prepared};
use crate::error::{OpKind, Result};

pub(crate) struct SyncEngine {
    queued: VecDeque<Prepared>,
    done: VecDeque<Completion>,
    eventfd: OwnedFd,
}

/// Runs `f` (a syscall returning -1 and errno on failure) until it is not
/// interrupted; returns the result or the negative errno.
fn syscall(mut f: impl FnMut() -> isize) -> i64 {
    loop {
        let r = f();
        if r >= 0 {
            return r as i64;
        }
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        if errno != libc::EINTR {
            return -i64::from(errno);
        }
    }
}

impl SyncEngine {
    pub(crate) fn new() -> Result<SyncEngine> {
        Ok(SyncEngine { queued: VecDeque::new(), done: VecDeque::new(), eventfd: new_eventfd()? })
    }

    pub(crate) fn push(&mut self, req: Prepared) {
        self.queued.push_back(req);
    }

    /// Runs every queued request, in order.
    pub(crate) fn submit(&mut self) -> Result<usize> {
        let n = self.queued.len();
        let mut previous_linked_failed = false;
        while let Some(mut req) = self.queued.pop_front() {
            let linked = req.order == Order::LinkNext;
            let completion = if previous_linked_failed {
                req.cancel()
            } else {
                let res = run(&mut req);
                req.complete(res)
            };
            previous_linked_failed = linked && completion.result.is_err();
            self.done.push_back(completion);
        }
        if n > 0 {
            let one = 1u64;
            // SAFETY: writes 8 bytes from a valid u64 to our eventfd.
            unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
        Ok(n)
    }

    pub(crate) fn reap(&mut self, out: &mut Vec<Completion>) {
        out.extend(self.done.drain(..));
    }

    /// Only requests not yet submitted can be cancelled: a submitted one has
    /// already run.
    pub(crate) fn cancel(&mut self, token: u64) -> usize {
        let mut n = 0;
        let mut kept = VecDeque::with_capacity(self.queued.len());
        for req in self.queued.drain(..) {
            if req.token == token {
                self.done.push_back(req.cancel());
                n += 1;
            } else {
                kept.push_back(req);
            }
        }
        self.queued = kept;
        n
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.queued.len() + self.done.len()
    }

    pub(crate) fn has_token(&self, token: u64) -> bool {
        self.queued.iter().any(|r| r.token == token) || self.done.iter().any(|c| c.token == token)
    }

    pub(crate) fn notify_fd(&self) -> BorrowedFd<'_> {
        self.eventfd.as_fd()
    }
}

/// Runs one request; the result is bytes done or a negative errno. Reads and
/// writes loop over partial transfers as the kernel's io_uring does for
/// regular files: a read stops short only at end of file.
fn run(req: &mut Prepared) -> i64 {
    let fd = req.fd;
    let len = req.len as usize;
    match req.kind {
        OpKind::Read | OpKind::Write => {
            let ptr = req.buffer.as_mut().expect("reads and writes carry a buffer").as_mut_ptr();
            let mut done = 0usize;
            while done < len {
                let off = (req.offset + done as u64) as libc::off_t;
                let r = if req.kind == OpKind::Read {
                    // SAFETY: `ptr` points into the request's own buffer,
                    // which holds at least `len` bytes (checked at push).
                    syscall(|| unsafe { libc::pread(fd, ptr.add(done).cast(), len - done, off) })
                } else {
                    // SAFETY: as above, read from instead of written to.
                    syscall(|| unsafe { libc::pwrite(fd, ptr.add(done).cast(), len - done, off) })
                };
                match r {
                    0 => break,
                    r if r < 0 => return r,
                    r => done += r as usize,
                }
            }
            done as i64
        }
        // SAFETY: fsync and fdatasync take only a descriptor.
        OpKind::Fsync => syscall(|| (unsafe { libc::fsync(fd) }) as isize).min(0),
        // SAFETY: as above.
        OpKind::Fdatasync => syscall(|| (unsafe { libc::fdatasync(fd) }) as isize).min(0),
        OpKind::Discard => syscall(|| {
            // SAFETY: fallocate takes only integers.
            let r = unsafe {
                libc::fallocate(
                    fd,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    req.offset as libc::off_t,
                    req.len as libc::off_t,
                )
            };
            r as isize
        })
        .min(0),
    }
}
