//! The guest's TCP/IP stack over smoltcp: NICs, a loopback, and a socket table.
//!
//! One [`Stack`] per guest owns every NIC and every AF_INET/AF_INET6 socket. Nothing here blocks or
//! touches a host socket: a host backend moves frames through a [`FrameLink`], the syscall layer calls
//! the socket operations (all non-blocking, `EAGAIN` when they would block), and whoever runs the
//! guest calls [`Stack::poll`] after socket operations and when frames arrive or the deadline it
//! returned passes, then wakes tasks by [`Stack::readiness`].

pub mod device;
mod icmp;
pub mod loopback;
pub mod netdev;
pub mod nic;
mod options;
mod queues;
pub mod routes;
pub mod sockets;
mod tcp;
pub mod time;
mod udp;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::{icmp as smol_icmp, tcp as smol_tcp, udp as smol_udp};
use smoltcp::time::{Duration, Instant};

pub use device::{memory_link_pair, DevCounters, FrameLink, LinkCounters, MemoryLink};
pub use loopback::LoopbackLink;
pub use nic::Nic;
pub use options::SockOpts;
pub use sockets::{errno, Protocol, Readiness, RecvMeta, SocketId};
pub use time::Clock;

use crate::errno::Errno;
use sockets::{canonical, Binding, DgramEntry, Entry, TcpEntry, TcpPhase};

/// A NIC's index in its stack (`lo` is 0).
pub type NicId = usize;

/// The first and last ephemeral port (Linux's ip_local_port_range).
const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 32768..=60999;
/// How many frames one NIC takes in per [`Stack::poll`] before the others get a turn.
const INGRESS_BUDGET: usize = 512;
/// How often one poll lets the loopback bounce packets back before it reports more work.
const LOOPBACK_ROUNDS: usize = 8;
/// Linux's connect timeout with the default tcp_syn_retries of 6.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(127);
/// How long a closed socket may linger finishing its FIN exchange with a silent peer.
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(60);

/// A guest's TCP/IP stack: its NICs and its sockets.
pub struct Stack {
    clock: Clock,
    now: Instant,
    nics: Vec<Nic>,
    lo_link: Arc<LoopbackLink>,
    table: BTreeMap<SocketId, Entry>,
    /// Listening TCP sockets, checked after every received frame to keep spare listeners.
    listeners: Vec<SocketId>,
    /// Closed TCP sockets still finishing their connection: (nic, handle, local port).
    orphans: Vec<(usize, SocketHandle, u16)>,
    next_id: u32,
    next_port: u16,
    seed: u64,
    tcp_buffer: usize,
    connect_timeout: Duration,
    /// The options sockets set (see [`options`]), by socket.
    opts: BTreeMap<SocketId, SockOpts>,
    /// Labels and broadcast addresses of addresses (`netdev`).
    addr_info: BTreeMap<(NicId, IpAddr), netdev::AddrInfo>,
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

impl Stack {
    /// A stack with only `lo`, on a fresh host clock.
    pub fn new() -> Stack {
        let clock = Clock::new();
        let now = clock.now();
        let seed = random_seed();
        let (lo, lo_link) = loopback::loopback_nic(now, seed);
        Stack {
            clock,
            now,
            nics: vec![lo],
            lo_link,
            table: BTreeMap::new(),
            listeners: Vec::new(),
            orphans: Vec::new(),
            next_id: 1,
            next_port: *EPHEMERAL_PORTS.start() + (seed % 20000) as u16,
            seed,
            tcp_buffer: 256 * 1024,
            opts: BTreeMap::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            addr_info: BTreeMap::new(),
        }
    }

    /// The stack's clock: pass `clock().now()` to [`Stack::poll`].
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Sets how long a TCP connect waits for an answer before ETIMEDOUT.
    pub fn set_connect_timeout(&mut self, timeout: std::time::Duration) {
        self.connect_timeout = Duration::from_micros(timeout.as_micros().min(u64::MAX as u128) as u64);
    }

    /// Sets the TCP buffer size (each direction) of sockets created from now on (SO_RCVBUF/SO_SNDBUF).
    pub fn set_tcp_buffer(&mut self, bytes: usize) {
        self.tcp_buffer = bytes.clamp(4096, 16 << 20);
    }

    /// Adds an Ethernet NIC over `link`; it starts down and without addresses.
    pub fn add_ethernet(&mut self, name: &str, mac: [u8; 6], link: Arc<dyn FrameLink>) -> NicId {
        let seed = self.seed.wrapping_add(self.nics.len() as u64);
        self.nics.push(Nic::ethernet(name, mac, link, self.now, seed));
        self.nics.len() - 1
    }

    /// Unplugs an Ethernet NIC (UML's net_remove): EBUSY while it is up, ENODEV for `lo` or a NIC
    /// already gone. Its addresses and routes go, its TCP connections are reset, and it lets go of
    /// its link; its slot stays (see [`Nic::is_removed`]) so that every other [`NicId`] stays valid.
    pub fn remove_nic(&mut self, id: NicId) -> Result<(), Errno> {
        let nic = self.nics.get_mut(id).filter(|n| !n.is_removed() && !n.is_loopback()).ok_or(Errno::ENODEV)?;
        if nic.is_up() {
            return Err(Errno::EBUSY);
        }
        nic.iface.routes_mut().update(|routes| routes.clear());
        nic.iface.update_ip_addrs(|addrs| addrs.clear());
        for (_, s) in nic.sockets.iter_mut() {
            if let smoltcp::socket::Socket::Tcp(t) = s {
                t.abort();
            }
        }
        nic.device.replace_link(Arc::new(device::UnpluggedLink));
        nic.mark_removed();
        self.addr_info.retain(|(n, _), _| *n != id);
        Ok(())
    }

    /// The NICs, `lo` first (unplugged ones too: see [`Nic::is_removed`]).
    pub fn nics(&self) -> &[Nic] {
        &self.nics
    }

    /// One NIC, to configure.
    pub fn nic_mut(&mut self, id: NicId) -> Option<&mut Nic> {
        self.nics.get_mut(id).filter(|n| !n.is_removed())
    }

    /// A NIC by name.
    pub fn nic_by_name(&self, name: &str) -> Option<NicId> {
        self.nics.iter().position(|n| n.name() == name && !n.is_removed())
    }

    /// The whole of /proc/net/dev.
    pub fn proc_net_dev(&self) -> String {
        let mut s = String::from(nic::PROC_NET_DEV_HEADER);
        for n in self.nics.iter().filter(|n| !n.is_removed()) {
            s.push_str(&n.proc_net_dev_line());
        }
        s
    }

    /// Moves every NIC's frames in and out and advances the timers. Returns when to poll next at the
    /// latest (`None`: only when a frame arrives or a socket is used; `now` itself: more work waits).
    pub fn poll(&mut self, now: Instant) -> Option<Instant> {
        self.now = now;
        let mut more = false;
        for round in 0..LOOPBACK_ROUNDS {
            for i in 0..self.nics.len() {
                more |= self.poll_nic(i, now);
            }
            if self.lo_link.pending() == 0 {
                break;
            }
            if round + 1 == LOOPBACK_ROUNDS {
                more = true;
            }
        }
        self.track_tcp(now);
        if more {
            return Some(now);
        }
        self.deadline(now)
    }

    /// Polls one NIC; true when it left frames waiting.
    fn poll_nic(&mut self, i: usize, now: Instant) -> bool {
        let nic = &mut self.nics[i];
        if !nic.is_up() {
            return false;
        }
        nic.device.starved = false;
        let mut more = false;
        let mut taken = 0;
        loop {
            if taken == INGRESS_BUDGET {
                more = true;
                break;
            }
            let nic = &mut self.nics[i];
            let r = nic.iface.poll_ingress_single(now, &mut nic.device, &mut nic.sockets);
            if r == smoltcp::iface::PollIngressSingleResult::None {
                break;
            }
            taken += 1;
            // A SYN may just have taken a listener: keep spares ready for the next frame.
            if !self.listeners.is_empty() {
                self.refill_listeners(Some(i));
            }
        }
        let nic = &mut self.nics[i];
        more |= nic.device.starved;
        nic.iface.poll_egress(now, &mut nic.device, &mut nic.sockets);
        more
    }

    /// The earliest timer of any NIC or pending connect.
    fn deadline(&mut self, now: Instant) -> Option<Instant> {
        let mut at = None;
        for nic in self.nics.iter_mut().filter(|n| n.is_up()) {
            at = time::earliest(at, nic.iface.poll_at(now, &nic.sockets));
        }
        for e in self.table.values() {
            if let Entry::Tcp(TcpEntry { phase: TcpPhase::Active { connect_deadline: Some(d), .. }, .. }) = e {
                at = time::earliest(at, Some(*d));
            }
        }
        at
    }

    /// The NIC a packet to `dst` leaves by: `lo` for loopback addresses and the stack's own, else an up
    /// NIC on the destination's network, else the one with the most specific gateway route to it.
    pub fn route(&mut self, dst: IpAddr) -> Result<NicId, Errno> {
        let dst = canonical(dst);
        if dst.is_loopback() {
            // As Linux: with `lo` down, its addresses have no route.
            return if self.nics[0].is_up() { Ok(0) } else { Err(errno::ENETUNREACH) };
        }
        if dst.is_unspecified() || dst.is_multicast() {
            return Err(errno::ENETUNREACH);
        }
        if let Some(i) = self.nics.iter().position(|n| n.is_up() && !n.is_loopback() && n.on_link(dst)) {
            return Ok(i);
        }
        self.gateway_nic(dst).ok_or(errno::ENETUNREACH)
    }

    /// Which NICs a socket bound to `addr` listens on: all for the wildcard, else the owner.
    fn nics_for_binding(&self, addr: Option<IpAddr>) -> Result<Vec<usize>, Errno> {
        match addr {
            None => Ok((0..self.nics.len()).collect()),
            Some(a) if a.is_loopback() => Ok(vec![0]),
            Some(a) => self.nics.iter().position(|n| n.owns(a)).map(|i| vec![i]).ok_or(errno::EADDRNOTAVAIL),
        }
    }

    fn port_taken(&self, proto: Protocol, b: &Binding, reuse: bool, except: SocketId) -> bool {
        let clash = self.table.iter().any(|(id, e)| {
            *id != except
                && e.protocol() == proto
                && e.binding().is_some_and(|o| o.overlaps(b))
                && match e {
                    // SO_REUSEADDR on both lets TCP share a port unless one listens; UDP may share.
                    Entry::Tcp(t) => !(reuse && t.reuse_addr && !matches!(t.phase, TcpPhase::Listening { .. })),
                    Entry::Udp(d) => !(reuse && d.reuse_addr),
                    Entry::Icmp(_) => false,
                }
        });
        clash || (proto == Protocol::Tcp && !reuse && self.orphans.iter().any(|o| o.2 == b.port))
    }

    /// A free ephemeral port for `addr`.
    fn ephemeral_port(&mut self, proto: Protocol, addr: Option<IpAddr>, except: SocketId) -> Result<u16, Errno> {
        let span = (EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) as u32 + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port >= *EPHEMERAL_PORTS.end() { *EPHEMERAL_PORTS.start() } else { port + 1 };
            if !self.port_taken(proto, &Binding { addr, port }, false, except) {
                return Ok(port);
            }
        }
        Err(errno::EADDRNOTAVAIL)
    }

    /// Checks and records a local address for a socket (bind(2)); port 0 picks an ephemeral one.
    pub fn bind(&mut self, id: SocketId, addr: SocketAddr) -> Result<(), Errno> {
        let e = self.table.get(&id).ok_or(Errno::EBADF)?;
        if e.binding().is_some() {
            return Err(Errno::EINVAL);
        }
        let proto = e.protocol();
        let ip = sockets::check_family(e.is_ipv6(), addr.ip())?;
        let reuse = match e {
            Entry::Tcp(t) => t.reuse_addr,
            Entry::Udp(d) | Entry::Icmp(d) => d.reuse_addr,
        };
        let addr_opt = if ip.is_unspecified() { None } else { Some(ip) };
        if let Some(a) = addr_opt {
            if !a.is_loopback() && !self.nics.iter().any(|n| n.owns(a)) {
                return Err(errno::EADDRNOTAVAIL);
            }
        }
        let port = match addr.port() {
            0 => self.ephemeral_port(proto, addr_opt, id)?,
            p => p,
        };
        let b = Binding { addr: addr_opt, port };
        if self.port_taken(proto, &b, reuse, id) {
            return Err(errno::EADDRINUSE);
        }
        match self.table.get_mut(&id) {
            Some(Entry::Tcp(t)) => t.bound = Some(b),
            Some(Entry::Udp(_)) => self.udp_bind(id, b)?,
            Some(Entry::Icmp(_)) => self.icmp_bind(id, b)?,
            None => return Err(Errno::EBADF),
        }
        Ok(())
    }

    /// Sets SO_REUSEADDR (before bind).
    pub fn set_reuse_addr(&mut self, id: SocketId, on: bool) -> Result<(), Errno> {
        match self.table.get_mut(&id).ok_or(Errno::EBADF)? {
            Entry::Tcp(t) => t.reuse_addr = on,
            Entry::Udp(d) | Entry::Icmp(d) => d.reuse_addr = on,
        }
        Ok(())
    }

    fn insert(&mut self, e: Entry) -> SocketId {
        let id = SocketId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.table.insert(id, e);
        id
    }

    /// Creates a socket of this family (`ipv6`: AF_INET6) and protocol.
    pub fn socket(&mut self, ipv6: bool, proto: Protocol) -> SocketId {
        let dgram = || DgramEntry { ipv6, bound: None, handles: Vec::new(), peer: None, reuse_addr: false };
        let e = match proto {
            Protocol::Tcp => Entry::Tcp(TcpEntry {
                ipv6,
                bound: None,
                phase: TcpPhase::Fresh,
                error: None,
                shut_rd: false,
                shut_wr: false,
                reuse_addr: false,
                nodelay: false,
                peer: None,
            }),
            Protocol::Udp => Entry::Udp(dgram()),
            Protocol::Icmp => Entry::Icmp(dgram()),
        };
        self.insert(e)
    }

    /// The protocol of a socket.
    pub fn protocol(&self, id: SocketId) -> Option<Protocol> {
        self.table.get(&id).map(Entry::protocol)
    }

    /// Closes a socket: a connected TCP socket finishes with FIN (RST if unread data remains).
    pub fn close(&mut self, id: SocketId) {
        let Some(e) = self.table.remove(&id) else { return };
        self.opts.remove(&id);
        match e {
            Entry::Tcp(t) => match t.phase {
                TcpPhase::Active { nic, handle, .. } => {
                    let s = self.nics[nic].sockets.get_mut::<smol_tcp::Socket>(handle);
                    if s.recv_queue() > 0 {
                        s.abort();
                    } else {
                        s.close();
                    }
                    s.set_timeout(Some(ORPHAN_TIMEOUT));
                    self.orphans.push((nic, handle, t.bound.map_or(0, |b| b.port)));
                }
                TcpPhase::Listening { queues, .. } => {
                    self.listeners.retain(|l| *l != id);
                    for q in queues {
                        for h in q.handles {
                            self.nics[q.nic].sockets.get_mut::<smol_tcp::Socket>(h).abort();
                            self.orphans.push((q.nic, h, 0));
                        }
                    }
                }
                TcpPhase::Fresh | TcpPhase::Dead => {}
            },
            Entry::Udp(d) => {
                for (nic, h) in d.handles {
                    self.nics[nic].sockets.remove(h);
                }
            }
            Entry::Icmp(d) => {
                for (nic, h) in d.handles {
                    self.nics[nic].sockets.remove(h);
                }
            }
        }
    }

    /// Takes the pending error (SO_ERROR).
    pub fn take_error(&mut self, id: SocketId) -> Option<Errno> {
        match self.table.get_mut(&id)? {
            Entry::Tcp(t) => t.error.take(),
            _ => None,
        }
    }

    /// What poll/epoll should report for a socket now (all false for an unknown id).
    pub fn readiness(&self, id: SocketId) -> Readiness {
        match self.table.get(&id) {
            Some(Entry::Tcp(t)) => self.tcp_readiness(t),
            Some(Entry::Udp(d)) => {
                let mut r = Readiness { writable: true, ..Readiness::default() };
                for (nic, h) in &d.handles {
                    let s = self.nics[*nic].sockets.get::<smol_udp::Socket>(*h);
                    r.readable |= s.can_recv();
                    r.writable &= s.can_send();
                }
                r
            }
            Some(Entry::Icmp(d)) => {
                let mut r = Readiness { writable: true, ..Readiness::default() };
                for (nic, h) in &d.handles {
                    let s = self.nics[*nic].sockets.get::<smol_icmp::Socket>(*h);
                    r.readable |= s.can_recv();
                    r.writable &= s.can_send();
                }
                r
            }
            None => Readiness::default(),
        }
    }

    /// Every socket's readiness, in id order: comparing two of these tells whether a waiter may have
    /// something new to see.
    pub fn readiness_all(&self) -> Vec<(SocketId, Readiness)> {
        self.table.keys().map(|id| (*id, self.readiness(*id))).collect()
    }

    /// The local address (getsockname); the wildcard with port 0 when unbound.
    pub fn local_addr(&self, id: SocketId) -> Result<SocketAddr, Errno> {
        let e = self.table.get(&id).ok_or(Errno::EBADF)?;
        if let Entry::Tcp(TcpEntry { phase: TcpPhase::Active { nic, handle, .. }, .. }) = e {
            if let Some(ep) = self.nics[*nic].sockets.get::<smol_tcp::Socket>(*handle).local_endpoint() {
                return Ok(SocketAddr::new(ep.addr.into(), ep.port));
            }
        }
        let wildcard: IpAddr =
            if e.is_ipv6() { std::net::Ipv6Addr::UNSPECIFIED.into() } else { std::net::Ipv4Addr::UNSPECIFIED.into() };
        Ok(match e.binding() {
            Some(b) => SocketAddr::new(b.addr.unwrap_or(wildcard), b.port),
            None => SocketAddr::new(wildcard, 0),
        })
    }

    /// The peer's address (getpeername): ENOTCONN when not connected.
    pub fn peer_addr(&self, id: SocketId) -> Result<SocketAddr, Errno> {
        match self.table.get(&id).ok_or(Errno::EBADF)? {
            Entry::Tcp(t) => match t.phase {
                TcpPhase::Active { last, .. } if last != smol_tcp::State::SynSent => t.peer.ok_or(errno::ENOTCONN),
                _ => Err(errno::ENOTCONN),
            },
            Entry::Udp(d) | Entry::Icmp(d) => d.peer.ok_or(errno::ENOTCONN),
        }
    }

    /// How many guest sockets exist (for /proc/net/sockstat and leak checks).
    pub fn socket_count(&self) -> usize {
        self.table.len()
    }

    /// How many smoltcp sockets all NICs hold (guest sockets, spare listeners, closing orphans).
    pub fn smoltcp_socket_count(&self) -> usize {
        self.nics.iter().map(|n| n.sockets.iter().count()).sum()
    }
}
