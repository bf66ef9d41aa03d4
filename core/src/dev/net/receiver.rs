//! The receive side of every guest NIC: one thread waits, through io_uring, for any port's fd to
//! become readable, then polls the guest's stack, which takes the frames in and wakes the tasks they
//! concern.
//!
//! A multishot IORING_OP_POLL_ADD per port means one `io_uring_enter` per wake-up whatever the number of
//! ports, and no re-arming while frames keep coming. The frames themselves are read by the stack's poll
//! with non-blocking receives (up to its per-NIC budget, then it asks to be polled again at once), so
//! a burst costs one wake-up. Where io_uring is not available (an old kernel, a seccomp policy that
//! forbids it), poll(2) does the waiting.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use io_uring::{cqueue, opcode, types, IoUring};
use umvm_netio::Port;

use crate::kernel::Kernel;

/// Starts the receive thread for `ports` (nothing to do without ports).
pub fn spawn(k: Arc<Kernel>, ports: Vec<Arc<Port>>) -> io::Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let fds: Vec<RawFd> = ports.iter().map(|p| p.as_raw_fd()).collect();
    let waiter = match Uring::new(&fds) {
        Ok(u) => Waiter::Uring(Box::new(u)),
        Err(e) => {
            tracing::debug!("network receive: io_uring unavailable ({e}), using poll(2)");
            Waiter::Poll(fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect())
        }
    };
    std::thread::Builder::new().name("umvm-net".into()).spawn(move || {
        // The ports live as long as this thread, which outlives the machine (the process ends it).
        let _ports = ports;
        let mut waiter = waiter;
        loop {
            match waiter.wait() {
                Ok(()) => k.inet.on_frames(&k),
                Err(e) => {
                    tracing::error!("network receive stopped: {e}");
                    return;
                }
            }
        }
    })?;
    Ok(())
}

/// How the thread sleeps until a frame arrives.
enum Waiter {
    Uring(Box<Uring>),
    Poll(Vec<libc::pollfd>),
}

impl Waiter {
    /// Returns when some port may have a frame.
    fn wait(&mut self) -> io::Result<()> {
        match self {
            Waiter::Uring(u) => u.wait(),
            Waiter::Poll(fds) => loop {
                // SAFETY: `fds` is a valid array of pollfd of the given length.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
                if n >= 0 {
                    // A port whose fd failed (POLLERR/POLLNVAL forever) would spin: stop watching it.
                    for p in fds.iter_mut() {
                        if p.revents & (libc::POLLNVAL | libc::POLLERR) != 0 && p.revents & libc::POLLIN == 0 {
                            tracing::warn!("network receive: fd {} failed; no longer watched", p.fd);
                            p.fd = -1;
                        }
                    }
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            },
        }
    }
}

/// An io_uring with one multishot poll per port fd; a poll's user data is its port's index.
struct Uring {
    ring: IoUring,
    fds: Vec<RawFd>,
    /// Ports whose poll ended and must be armed again.
    rearm: Vec<usize>,
}

impl Uring {
    fn new(fds: &[RawFd]) -> io::Result<Uring> {
        let entries = (fds.len() as u32).next_power_of_two().max(8);
        let ring = IoUring::new(entries)?;
        let mut u = Uring { ring, fds: fds.to_vec(), rearm: (0..fds.len()).collect() };
        u.arm()?;
        Ok(u)
    }

    fn arm(&mut self) -> io::Result<()> {
        for i in std::mem::take(&mut self.rearm) {
            let sqe = opcode::PollAdd::new(types::Fd(self.fds[i]), libc::POLLIN as u32)
                .multi(true)
                .build()
                .user_data(i as u64);
            // SAFETY: a poll holds no buffer; the fd stays open as long as the ring (the thread owns
            // both the ports and the ring).
            if unsafe { self.ring.submission().push(&sqe) }.is_err() {
                self.ring.submit()?;
                // SAFETY: as above.
                unsafe { self.ring.submission().push(&sqe) }
                    .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            }
        }
        Ok(())
    }

    fn wait(&mut self) -> io::Result<()> {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        for cqe in self.ring.completion() {
            let i = cqe.user_data() as usize;
            if cqe.result() < 0 && cqe.result() != -libc::ECANCELED {
                // A port fd that cannot be polled would end and re-arm forever: drop it.
                tracing::warn!("network receive: fd {} failed ({}); no longer watched", self.fds[i], -cqe.result());
                continue;
            }
            if !cqueue::more(cqe.flags()) {
                self.rearm.push(i);
            }
        }
        self.arm()
    }
}
