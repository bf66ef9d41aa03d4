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
//!
//! Cards come and go while the machine runs (the mconsole's `config ethN=` and `remove ethN`): the
//! [`NicTable`] rings the bell, and the thread arms polls for new ports and removes those of unplugged
//! ones (IORING_OP_POLL_REMOVE) before it lets go of them.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use io_uring::{cqueue, opcode, types, IoUring};

use super::nic_table::NicTable;
use super::port_link::{PortLink, TxBell};
use crate::kernel::Kernel;

/// The thread's view of the table: a link per slot, `None` once unplugged.
type Links = Vec<Option<Arc<PortLink>>>;

/// Starts the thread serving the cards of `table`, now and to come.
pub fn spawn(k: Arc<Kernel>, table: Arc<NicTable>, cpu: Option<usize>) -> io::Result<()> {
    let mut waiter = match Uring::new(table.bell()) {
        Ok(u) => Waiter::Uring(Box::new(u)),
        Err(e) => {
            tracing::debug!("network: io_uring unavailable ({e}), using poll(2)");
            Waiter::Poll(PollSet::default())
        }
    };
    std::thread::Builder::new().name("umvm-net".into()).spawn(move || {
        // Beside a tracer loop, waking a task costs ~2.5 us instead of 25-50 us across CPUs.
        if let Some(cpu) = cpu {
            crate::sched::pin_to(cpu);
        }
        // The links and their ports live as long as this thread holds them: until their card is
        // unplugged, or the process ends (this thread outlives the machine).
        let mut links: Links = Vec::new();
        loop {
            if let Some(now) = table.take_change() {
                if let Err(e) = waiter.update(&links, &now) {
                    tracing::error!("network: the NIC thread stopped: {e}");
                    return;
                }
                links = now;
            }
            match waiter.wait(&links, table.bell()) {
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
    /// Follows the table from `old` to `new`: watches the new ports, stops watching the removed ones.
    fn update(&mut self, old: &Links, new: &Links) -> io::Result<()> {
        match self {
            Waiter::Uring(u) => u.update(old, new),
            Waiter::Poll(p) => {
                p.update(new);
                Ok(())
            }
        }
    }

    fn wait(&mut self, links: &Links, bell: &TxBell) -> io::Result<()> {
        match self {
            Waiter::Uring(u) => u.wait(links, bell),
            Waiter::Poll(p) => p.wait(links, bell),
        }
    }
}

/// User data of the bell's poll.
const BELL: u64 = u64::MAX;
/// User data of a POLL_REMOVE (its completion says nothing the thread needs).
const REMOVAL: u64 = u64::MAX - 1;
/// Set in the user data of a port's POLLOUT poll (the rest is its slot).
const WRITABLE: u64 = 1 << 32;

/// An io_uring with one multishot POLLIN per port fd (user data: the port's slot), one on the bell,
/// and one-shot POLLOUTs for ports with a transmit queue.
struct Uring {
    ring: IoUring,
    bell_fd: std::os::fd::RawFd,
    /// Polls to (re)submit, by user data.
    arm: Vec<u64>,
    /// Polls to remove, by user data.
    disarm: Vec<u64>,
}

impl Uring {
    fn new(bell: &TxBell) -> io::Result<Uring> {
        let ring = IoUring::new(64)?;
        let mut u = Uring { ring, bell_fd: bell.as_raw_fd(), arm: vec![BELL], disarm: Vec::new() };
        u.submit_arms(&Vec::new())?;
        Ok(u)
    }

    fn update(&mut self, old: &Links, new: &Links) -> io::Result<()> {
        for (i, link) in new.iter().enumerate() {
            let was = old.get(i).is_some_and(Option::is_some);
            match (was, link.is_some()) {
                (false, true) if i >= old.len() => self.arm.push(i as u64),
                (true, false) => self.disarm.extend([i as u64, WRITABLE | i as u64]),
                _ => {}
            }
        }
        self.arm.retain(|d| new.get((d & !WRITABLE) as usize).is_some_and(Option::is_some) || *d == BELL);
        // The removals go in while `old` still holds the ports open.
        self.submit_arms(new)?;
        self.ring.submit()?;
        Ok(())
    }

    fn push(&mut self, sqe: &io_uring::squeue::Entry) -> io::Result<()> {
        // SAFETY: a poll or a poll removal holds no buffer; a polled fd stays open until its poll is
        // removed (the thread holds its link until then) and the kernel holds its file while polling.
        if unsafe { self.ring.submission().push(sqe) }.is_err() {
            self.ring.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.submission().push(sqe) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        Ok(())
    }

    fn submit_arms(&mut self, links: &Links) -> io::Result<()> {
        for data in std::mem::take(&mut self.disarm) {
            self.push(&opcode::PollRemove::new(data).build().user_data(REMOVAL))?;
        }
        for data in std::mem::take(&mut self.arm) {
            let link = |d: u64| links.get((d & !WRITABLE) as usize).and_then(Option::as_ref);
            let sqe = match data {
                BELL => opcode::PollAdd::new(types::Fd(self.bell_fd), libc::POLLIN as u32).multi(true).build(),
                d if d & WRITABLE != 0 => {
                    let Some(l) = link(d) else { continue };
                    opcode::PollAdd::new(types::Fd(l.port().room_fd()), libc::POLLOUT as u32).build()
                }
                d => {
                    let Some(l) = link(d) else { continue };
                    opcode::PollAdd::new(types::Fd(l.port().as_raw_fd()), libc::POLLIN as u32).multi(true).build()
                }
            }
            .user_data(data);
            self.push(&sqe)?;
        }
        Ok(())
    }

    fn wait(&mut self, links: &Links, bell: &TxBell) -> io::Result<()> {
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
            if data == REMOVAL {
                continue;
            }
            let link = links.get((data & !WRITABLE) as usize).and_then(Option::as_ref);
            if data != BELL && link.is_none() {
                // The last word of an unplugged card's poll.
                continue;
            }
            if result < 0 && result != -libc::ECANCELED {
                // An fd that cannot be polled would end and re-arm forever: stop watching it.
                tracing::warn!("network: poll {data:#x} failed (errno {}); no longer watched", -result);
                continue;
            }
            match (data, link) {
                (BELL, _) => {
                    bell.clear();
                    for (i, l) in links.iter().enumerate() {
                        if l.as_ref().is_some_and(|l| l.take_writable_request()) {
                            self.arm.push(WRITABLE | i as u64);
                        }
                    }
                }
                (d, Some(l)) if d & WRITABLE != 0 => {
                    if l.flush() {
                        self.arm.push(d);
                    }
                    continue;
                }
                (_, Some(l)) => l.note_readable(),
                _ => {}
            }
            if !cqueue::more(flags) {
                self.arm.push(data);
            }
        }
        self.submit_arms(links)
    }
}

/// The poll(2) fallback: the ports (POLLOUT too while their queue waits), then the bell.
#[derive(Default)]
struct PollSet {
    /// One entry per slot (fd -1 for an unplugged or dead port); the bell is added at each wait.
    fds: Vec<libc::pollfd>,
}

impl PollSet {
    fn update(&mut self, links: &Links) {
        let mut fds = Vec::with_capacity(links.len());
        for (i, l) in links.iter().enumerate() {
            let kept = self.fds.get(i).filter(|_| l.is_some()).copied();
            let fresh = l.as_ref().map(|l| libc::pollfd { fd: l.port().as_raw_fd(), events: libc::POLLIN, revents: 0 });
            fds.push(kept.or(fresh).unwrap_or(libc::pollfd { fd: -1, events: 0, revents: 0 }));
        }
        self.fds = fds;
    }

    fn wait(&mut self, links: &Links, bell: &TxBell) -> io::Result<()> {
        let n = self.fds.len();
        self.fds.push(libc::pollfd { fd: bell.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        let polled = loop {
            // SAFETY: `fds` is a valid array of pollfd of the given length.
            let r = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t, -1) };
            if r >= 0 {
                break Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                break Err(e);
            }
        };
        let bell_rang = self.fds.pop().is_some_and(|b| b.revents & libc::POLLIN != 0);
        polled?;
        if bell_rang {
            bell.clear();
        }
        for (i, l) in links.iter().enumerate().take(n) {
            let p = &mut self.fds[i];
            let Some(l) = l else { continue };
            if p.fd < 0 {
                continue;
            }
            if p.revents & (libc::POLLNVAL | libc::POLLERR) != 0 && p.revents & libc::POLLIN == 0 {
                tracing::warn!("network: fd {} failed; no longer watched", p.fd);
                p.fd = -1;
                continue;
            }
            if p.revents & libc::POLLIN != 0 {
                l.note_readable();
            }
            let wants = (bell_rang && l.take_writable_request()) || p.revents & libc::POLLOUT != 0;
            p.events = if wants && l.flush() { libc::POLLIN | libc::POLLOUT } else { libc::POLLIN };
        }
        Ok(())
    }
}
