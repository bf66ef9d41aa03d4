//! The kernel's side of AF_INET and AF_INET6: one [`Stack`] per VM behind a lock, the wait queue its
//! sockets' waiters sleep on, and the timer that polls the stack when its deadline passes.
//!
//! Every socket operation runs through [`Inet::with`], which polls the stack after the operation and
//! wakes every waiter when any socket's readiness changed since the last poll. A waiter registers under
//! the same lock as the check that found it must wait, so no change slips between the two. Waiting on
//! one queue for the whole stack wakes tasks spuriously, which is harmless (they re-run and wait again);
//! waking only on readiness changes keeps two blocked tasks from waking each other forever.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::Instant;

use super::stack::{Protocol, Readiness, SocketId, Stack};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::sched::timer::{TimerAction, TimerKey};
use crate::sched::wait::{TaskRef, WaitQueue};

/// The stack and what the last poll left it as.
struct State {
    stack: Stack,
    /// Every socket's readiness after the last poll.
    last: Vec<(SocketId, Readiness)>,
}

/// One VM's AF_INET/AF_INET6 sockets.
pub struct Inet {
    state: Mutex<State>,
    /// Tasks waiting for any inet socket to change.
    pub waiters: WaitQueue,
    /// The poll the timer thread will run, and when.
    timer: Mutex<Option<(Instant, TimerKey)>>,
}

impl Default for Inet {
    fn default() -> Self {
        Inet {
            state: Mutex::new(State { stack: Stack::new(), last: Vec::new() }),
            waiters: WaitQueue::default(),
            timer: Mutex::new(None),
        }
    }
}

impl Inet {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `op` on the stack, then polls it. When `op` would block (EAGAIN) and `waiter` is given, the
    /// waiter is queued before any wake-up this poll causes.
    pub fn with<T>(
        &self,
        k: &Kernel,
        waiter: Option<TaskRef>,
        op: impl FnOnce(&mut Stack) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let mut st = self.lock();
        let r = op(&mut st.stack);
        if let (Err(Errno::EAGAIN), Some(w)) = (&r, waiter) {
            self.waiters.add(w);
        }
        self.settle(k, st);
        r
    }

    /// Polls the stack, arms the timer for its next deadline and wakes the waiters if anything changed.
    fn settle(&self, k: &Kernel, mut st: MutexGuard<'_, State>) {
        let clock = st.stack.clock();
        let deadline = st.stack.poll(clock.now());
        let now = st.stack.readiness_all();
        let changed = now != st.last;
        if changed {
            st.last = now;
        }
        if let Some(d) = deadline {
            self.arm(k, clock.to_host(d));
        }
        drop(st);
        if changed {
            k.wake_all(&self.waiters);
        }
    }

    /// Makes sure the timer thread polls the stack at `at` at the latest.
    fn arm(&self, k: &Kernel, at: Instant) {
        let mut t = self.timer.lock().unwrap_or_else(|e| e.into_inner());
        match *t {
            Some((when, _)) if when <= at => {}
            Some((_, key)) => {
                k.timers.cancel(key);
                *t = Some((at, k.timers.schedule(at, TimerAction::NetPoll)));
            }
            None => *t = Some((at, k.timers.schedule(at, TimerAction::NetPoll))),
        }
    }

    /// The timer thread's poll at the stack's deadline.
    pub fn on_timer(&self, k: &Kernel) {
        *self.timer.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let st = self.lock();
        self.settle(k, st);
    }

    /// The NIC receive thread's poll after frames arrived.
    pub fn on_frames(&self, k: &Kernel) {
        let st = self.lock();
        self.settle(k, st);
    }

    /// Runs a change of the stack's configuration (a netlink request, an SIOCSIF* or SIOCADDRT
    /// ioctl, a card plugged in or out) as [`Inet::with`] runs an operation, and multicasts what it
    /// changed to the netlink sockets listening (netlink::notify) before returning.
    pub fn reconfigure<T>(&self, k: &Kernel, op: impl FnOnce(&mut Stack) -> Result<T, Errno>) -> Result<T, Errno> {
        use crate::net::netlink::notify::{self, group_bit};
        let groups = [
            notify::RTNLGRP_LINK,
            notify::RTNLGRP_IPV4_IFADDR,
            notify::RTNLGRP_IPV4_ROUTE,
            notify::RTNLGRP_IPV6_IFADDR,
            notify::RTNLGRP_IPV6_ROUTE,
        ];
        if !k.netlink.listening(groups.iter().fold(0, |g, &n| g | group_bit(n))) {
            return self.with(k, None, op);
        }
        let mut notes = Vec::new();
        let r = self.with(k, None, |st| {
            let before = notify::snapshot(st);
            let r = op(st);
            notes = notify::changes(&before, &notify::snapshot(st));
            r
        });
        k.netlink.broadcast(k, &notes);
        r
    }

    /// Runs `op` on the stack without polling it (configuring NICs before the machine runs).
    pub fn configure<T>(&self, op: impl FnOnce(&mut Stack) -> T) -> T {
        op(&mut self.lock().stack)
    }

    /// A socket's poll(2) events now.
    pub fn events(&self, id: SocketId) -> i16 {
        poll_bits(self.lock().stack.readiness(id))
    }

    /// Queues `me` to be woken on the next change, unless the socket already shows one of `events`
    /// (then `me` is woken at once: the caller looked before the change).
    pub fn wait(&self, k: &Kernel, me: TaskRef, id: SocketId, events: i16) {
        let st = self.lock();
        self.waiters.add(me);
        let ready = events != 0 && poll_bits(st.stack.readiness(id)) & (events | libc::POLLERR | libc::POLLHUP) != 0;
        drop(st);
        if ready {
            k.wake_all(&self.waiters);
        }
    }

    /// Closes a socket (its file's last reference went).
    pub fn close(&self, k: &Kernel, id: SocketId) {
        let mut st = self.lock();
        st.stack.close(id);
        self.settle(k, st);
    }
}

/// poll(2) bits of a socket's readiness.
pub fn poll_bits(r: Readiness) -> i16 {
    let mut ev = 0;
    if r.readable {
        ev |= libc::POLLIN | libc::POLLRDNORM;
    }
    if r.writable {
        ev |= libc::POLLOUT | libc::POLLWRNORM;
    }
    if r.hup {
        ev |= libc::POLLHUP;
    }
    if r.rdhup {
        ev |= libc::POLLRDHUP;
    }
    if r.error {
        ev |= libc::POLLERR;
    }
    ev
}

/// Boolean socket options getsockopt reports as they were set (bits of [`InetFile::opts`]).
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
pub enum OptFlag {
    /// SO_REUSEADDR.
    ReuseAddr = 1,
    /// SO_KEEPALIVE.
    KeepAlive = 2,
    /// TCP_NODELAY.
    NoDelay = 4,
}

/// An AF_INET or AF_INET6 socket as an open file holds it: the last close of the file closes it.
pub struct InetFile {
    /// The stack's socket.
    pub id: SocketId,
    /// AF_INET6 (else AF_INET).
    pub ipv6: bool,
    /// TCP (SOCK_STREAM), UDP (SOCK_DGRAM) or ICMP echo (a ping socket, or a raw one).
    pub proto: Protocol,
    /// A SOCK_RAW ICMP socket: it reads IPv4 packets whole (header included) and sends echo messages
    /// as given; a ping socket (SOCK_DGRAM) reads ICMP messages and has its identifier set by the
    /// kernel.
    pub raw: bool,
    /// The inode number fstat and /proc/PID/fd show.
    pub ino: u64,
    /// [`OptFlag`] bits set by setsockopt.
    pub opts: std::sync::atomic::AtomicU8,
    kernel: Weak<Kernel>,
}

impl InetFile {
    /// A new socket in `k`'s stack.
    pub fn new(k: &Kernel, ipv6: bool, proto: Protocol, raw: bool) -> InetFile {
        let id = k.inet.lock().stack.socket(ipv6, proto);
        InetFile {
            id,
            ipv6,
            proto,
            raw,
            ino: super::unix::socket::next_socket_ino(),
            opts: Default::default(),
            kernel: k.weak(),
        }
    }

    /// Wraps a socket the stack made (accept).
    pub fn adopt(k: &Kernel, id: SocketId, ipv6: bool, proto: Protocol) -> InetFile {
        InetFile {
            id,
            ipv6,
            proto,
            raw: false,
            ino: super::unix::socket::next_socket_ino(),
            opts: Default::default(),
            kernel: k.weak(),
        }
    }

    /// The kernel the socket lives in, while it runs.
    pub fn kernel(&self) -> Option<std::sync::Arc<Kernel>> {
        self.kernel.upgrade()
    }

    /// The family's AF_* value.
    pub fn family(&self) -> i32 {
        if self.ipv6 {
            libc::AF_INET6
        } else {
            libc::AF_INET
        }
    }
}

impl Drop for InetFile {
    fn drop(&mut self) {
        if let Some(k) = self.kernel.upgrade() {
            k.inet.close(&k, self.id);
        }
    }
}

/// `sizeof(struct sockaddr_in)` and `sizeof(struct sockaddr_in6)`.
pub const SOCKADDR_IN_LEN: usize = 16;
/// See [`SOCKADDR_IN_LEN`].
pub const SOCKADDR_IN6_LEN: usize = 28;

/// Parses a guest sockaddr for a socket of this family: EINVAL when too short, EAFNOSUPPORT for
/// another family (an IPv6 socket takes only sockaddr_in6, whose address may be IPv4-mapped).
pub fn parse_addr(ipv6: bool, raw: &[u8]) -> Result<SocketAddr, Errno> {
    if raw.len() < 2 {
        return Err(Errno::EINVAL);
    }
    let family = i32::from(u16::from_ne_bytes([raw[0], raw[1]]));
    if ipv6 {
        if family != libc::AF_INET6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        // Linux accepts RFC 2133's 24-byte sockaddr_in6 (no scope id).
        if raw.len() < 24 {
            return Err(Errno::EINVAL);
        }
        let port = u16::from_be_bytes([raw[2], raw[3]]);
        let mut a = [0u8; 16];
        a.copy_from_slice(&raw[8..24]);
        return Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port));
    }
    if raw.len() < SOCKADDR_IN_LEN {
        return Err(Errno::EINVAL);
    }
    // Linux takes AF_UNSPEC as AF_INET in bind for compatibility.
    if family != libc::AF_INET && family != libc::AF_UNSPEC {
        return Err(Errno::EAFNOSUPPORT);
    }
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7])), port))
}

/// Encodes an address as a socket of this family names it: an IPv6 socket shows IPv4 peers mapped.
pub fn encode_addr(ipv6: bool, addr: SocketAddr) -> Vec<u8> {
    if ipv6 {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let a = SocketAddrV6::new(ip, addr.port(), 0, 0);
        let mut out = vec![0u8; SOCKADDR_IN6_LEN];
        out[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        out[2..4].copy_from_slice(&a.port().to_be_bytes());
        out[8..24].copy_from_slice(&a.ip().octets());
        return out;
    }
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let a = SocketAddrV4::new(ip, addr.port());
    let mut out = vec![0u8; SOCKADDR_IN_LEN];
    out[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    out[2..4].copy_from_slice(&a.port().to_be_bytes());
    out[4..8].copy_from_slice(&a.ip().octets());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        let v4: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(parse_addr(false, &encode_addr(false, v4)).unwrap(), v4);
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!(parse_addr(true, &encode_addr(true, v6)).unwrap(), v6);
        let mapped = parse_addr(true, &encode_addr(true, v4)).unwrap();
        assert_eq!(mapped.ip(), IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()));
        assert_eq!(parse_addr(false, &encode_addr(true, v6)), Err(Errno::EAFNOSUPPORT));
        assert_eq!(parse_addr(true, &encode_addr(false, v4)), Err(Errno::EAFNOSUPPORT));
        assert_eq!(parse_addr(false, &[2, 0, 0]), Err(Errno::EINVAL));
    }
}
