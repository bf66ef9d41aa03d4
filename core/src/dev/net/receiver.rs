//! The host-facing loop of every guest NIC: one thread waits, through io_uring, for any port's fd to
//! become readable (frames arrived) or writable again (a transmit queue can drain), then polls the
//! guest's stack, which takes the frames in and wakes the tasks they concern.
//!
//! A multishot IORING_OP_POLL_ADD per port means one `io_uring_enter` per wake-up whatever the number of
//! ports, and no re-arming while frames keep coming. The frames themselves are read by the stack's poll
//! with non-blocking receives (up to its per-NIC budget, then it asks to be polled again at once), so
//! a burst costs one wake-up. A link whose host queue filled rings the [`TxBell`]; the thread then
//! waits for that port's POLLOUT (one shot) and sends the queue on. Where io_uring is not available
//! (an old kernel, a seccomp policy that forbids it), poll(2) does the waiting.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use io_uring::{cqueue, opcode, types, IoUring};

use super::port_link::{PortLink, TxBell};
use crate::kernel::Kernel;

/// Starts the thread for `links`, whose transmit queues ring `bell` (nothing to do without links).
pub fn spawn(k: Arc<Kernel>, links: Vec<Arc<PortLink>>, bell: Arc<TxBell>, cpu: Option<usize>) -> io::Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let mut waiter = match Uring::new(&links, &bell) {
        Ok(u) => Waiter::Uring(Box::new(u)),
        Err(e) => {
            tracing::debug!("network: io_uring unavailable ({e}), using poll(2)");
            Waiter::Poll(PollSet::new(&links, &bell))
        }
    };
    std::thread::Builder::new().name("umvm-net".into()).spawn(move || {
        // Beside a tracer loop, waking a task costs ~2.5 us instead of 25-50 us across CPUs.
        if let Some(cpu) = cpu {
            crate::sched::pin_to(cpu);
        }
        // The links and their ports live as long as this thread, which outlives the machine (the
        // process's end ends it).
        loop {
            match waiter.wait(&links, &bell) {
                Ok(()) => k.inet.on_frames(&k),
                Err(e) => {
                    tracing::error!("network: the NIC thread stopped: {e}");
                    return;
                }
            }
        }
    })?;
    Ok(())
}

/// How the thread sleeps until a frame arrives or a queue can move.
enum Waiter {
    Uring(Box<Uring>),
    Poll(PollSet),
}

impl Waiter {
    fn wait(&mut self, links: &[Arc<PortLink>], bell: &TxBell) -> io::Result<()> {
        match self {
            Waiter::Uring(u) => u.wait(links, bell),
            Waiter::Poll(p) => p.wait(links, bell),
        }
    }
}

/// User data of the bell's poll.
const BELL: u64 = u64::MAX;
/// Set in the user data of a port's POLLOUT poll (the rest is its index).
const WRITABLE: u64 = 1 << 32;

/// An io_uring with one multishot POLLIN per port fd (user data: the port's index), one on the bell,
/// and one-shot POLLOUTs for ports with a transmit queue.
struct Uring {
    ring: IoUring,
    fds: Vec<RawFd>,
    /// The fds that poll writable when each port has room (see `Port::room_fd`).
    room_fds: Vec<RawFd>,
    bell_fd: RawFd,
    /// Polls to (re)submit, by user data.
    arm: Vec<u64>,
}

impl Uring {
    fn new(links: &[Arc<PortLink>], bell: &TxBell) -> io::Result<Uring> {
        let entries = (2 * links.len() as u32 + 1).next_power_of_two().max(8);
        let ring = IoUring::new(entries)?;
        let fds = links.iter().map(|l| l.port().as_raw_fd()).collect();
        let room_fds = links.iter().map(|l| l.port().room_fd()).collect();
        let mut arm: Vec<u64> = (0..links.len() as u64).collect();
        arm.push(BELL);
        let mut u = Uring { ring, fds, room_fds, bell_fd: bell.as_raw_fd(), arm };
        u.submit_arms()?;
        Ok(u)
    }

    fn submit_arms(&mut self) -> io::Result<()> {
        for data in std::mem::take(&mut self.arm) {
            let sqe = match data {
                BELL => opcode::PollAdd::new(types::Fd(self.bell_fd), libc::POLLIN as u32).multi(true).build(),
                d if d & WRITABLE != 0 => {
                    let fd = self.room_fds[(d & !WRITABLE) as usize];
                    opcode::PollAdd::new(types::Fd(fd), libc::POLLOUT as u32).build()
                }
                d => opcode::PollAdd::new(types::Fd(self.fds[d as usize]), libc::POLLIN as u32).multi(true).build(),
            }
            .user_data(data);
            // SAFETY: a poll holds no buffer; the fds stay open as long as the ring (the thread owns the
            // links, their ports and the bell).
            if unsafe { self.ring.submission().push(&sqe) }.is_err() {
                self.ring.submit()?;
                // SAFETY: as above.
                unsafe { self.ring.submission().push(&sqe) }
                    .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            }
        }
        Ok(())
    }

    fn wait(&mut self, links: &[Arc<PortLink>], bell: &TxBell) -> io::Result<()> {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let done: Vec<(u64, i32, u32)> =
            self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())).collect();
        for (data, result, flags) in done {
            if result < 0 && result != -libc::ECANCELED {
                // An fd that cannot be polled would end and re-arm forever: stop watching it.
                tracing::warn!("network: poll {data:#x} failed (errno {}); no longer watched", -result);
                continue;
            }
            match data {
                BELL => {
                    bell.clear();
                    for (i, l) in links.iter().enumerate() {
                        if l.take_writable_request() {
                            self.arm.push(WRITABLE | i as u64);
                        }
                    }
                }
                d if d & WRITABLE != 0 => {
                    if links[(d & !WRITABLE) as usize].flush() {
                        self.arm.push(d);
                    }
                    continue;
                }
                _ => {}
            }
            if !cqueue::more(flags) {
                self.arm.push(data);
            }
        }
        self.submit_arms()
    }
}

/// The poll(2) fallback: the ports (POLLOUT too while their queue waits), then the bell.
struct PollSet {
    fds: Vec<libc::pollfd>,
    /// Ports that stopped working and are no longer watched.
    dead: Vec<bool>,
}

impl PollSet {
    fn new(links: &[Arc<PortLink>], bell: &TxBell) -> PollSet {
        let mut fds: Vec<libc::pollfd> =
            links.iter().map(|l| libc::pollfd { fd: l.port().as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        fds.push(libc::pollfd { fd: bell.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        PollSet { fds, dead: vec![false; links.len()] }
    }

    fn wait(&mut self, links: &[Arc<PortLink>], bell: &TxBell) -> io::Result<()> {
        loop {
            // SAFETY: `fds` is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t, -1) };
            if n >= 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let bell_rang = self.fds[links.len()].revents & libc::POLLIN != 0;
        if bell_rang {
            bell.clear();
        }
        for (i, l) in links.iter().enumerate() {
            let p = &mut self.fds[i];
            if p.revents & (libc::POLLNVAL | libc::POLLERR) != 0 && p.revents & libc::POLLIN == 0 {
                tracing::warn!("network: fd {} failed; no longer watched", p.fd);
                self.dead[i] = true;
                p.fd = -1;
                continue;
            }
            let wants = (bell_rang && l.take_writable_request()) || p.revents & libc::POLLOUT != 0;
            if !self.dead[i] {
                p.events = if wants && l.flush() { libc::POLLIN | libc::POLLOUT } else { libc::POLLIN };
            }
        }
        Ok(())
    }
}
