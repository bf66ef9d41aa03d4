//! `umvm switch`: uml_switch's hub and learning switch. Real UML
//! (`ethN=daemon`) and umvm guests join it through a control socket;
//! frames travel as datagrams on one abstract data socket.
//!
//! Differences from uml_switch, all on the safe side: a port that closes
//! takes every MAC learned on it along; a frame is never sent back out
//! the port it came in on; malformed frames are dropped and counted
//! instead of forwarded; a stale control socket is only unlinked if it
//! is a socket.

pub mod protocol;
pub mod table;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::NetError;
use crate::frame;
use crate::unix_addr::{bind_dgram, recv_from, send_to, UnixAddr};
use protocol::{parse_request, RequestError, MAX_REQUEST};
use table::{Forward, MacTable, PortId, AGING_INTERVAL, MAX_AGE};

/// uml_switch's default control socket.
pub const DEFAULT_CTL: &str = "/tmp/uml.ctl";

/// Datagrams handled per wakeup before the control streams get a turn.
const DATA_BATCH: usize = 256;

/// Frames a port's queue holds while the port's socket is full (a unix
/// datagram socket takes only net.unix.max_dgram_qlen, 10 by default):
/// more than a TCP window of full frames, so one connection never loses
/// one to a burst. Beyond it frames are dropped, as on a real switch.
const PORT_QUEUE: usize = 1024;

/// What the switch has done, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SwitchStats {
    /// Valid frames from known ports.
    pub frames: u64,
    /// Of those, frames sent to every other port.
    pub flooded: u64,
    /// Malformed frames dropped.
    pub bad_frames: u64,
    /// Datagrams from addresses no port registered.
    pub unknown_sender: u64,
    /// Ports that joined.
    pub joined: u64,
    /// Ports that left.
    pub left: u64,
    /// Frames dropped because a port's queue was full.
    pub dropped: u64,
}

struct Client {
    stream: UnixStream,
    /// The request bytes so far, until it parses.
    request: Vec<u8>,
    /// The data address once registered.
    addr: Option<UnixAddr>,
    /// Frames waiting for room in the port's socket, oldest first.
    queue: VecDeque<Vec<u8>>,
    /// A socket connected to the port's, never sent on: it polls writable
    /// exactly when the port's socket has room again (Linux wakes a
    /// connected datagram socket's writers when its peer drains), which
    /// the shared data socket cannot tell.
    probe: Option<OwnedFd>,
}

/// A running switch (the sockets are bound; [`Switch::run`] serves).
pub struct Switch {
    ctl_path: PathBuf,
    ctl_ino: (u64, u64),
    listener: UnixListener,
    data: OwnedFd,
    data_addr: UnixAddr,
    hub: bool,
    table: MacTable,
    clients: BTreeMap<PortId, Client>,
    by_addr: HashMap<UnixAddr, PortId>,
    next_id: PortId,
    last_aging: Instant,
    stats: SwitchStats,
}

fn bind_ctl(path: &Path) -> Result<UnixListener, NetError> {
    let what = |w: &str| format!("switch control socket {}: {w}", path.display());
    match UnixListener::bind(path) {
        Ok(l) => return Ok(l),
        Err(e) if e.kind() != io::ErrorKind::AddrInUse => return Err(NetError::io(what("bind"), e)),
        Err(_) => {}
    }
    // In use: stale if nobody answers (uml_switch's test), and only
    // unlinked if it really is a socket.
    match UnixStream::connect(path) {
        Ok(_) => Err(NetError::Switch { ctl: path.into(), why: "another switch is listening there".into() }),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            let is_socket = std::fs::symlink_metadata(path).map(|m| m.file_type().is_socket()).unwrap_or(false);
            if !is_socket {
                return Err(NetError::Switch { ctl: path.into(), why: "exists and is not a socket".into() });
            }
            tracing::info!("removing stale control socket {}", path.display());
            std::fs::remove_file(path).map_err(|e| NetError::io(what("unlink stale socket"), e))?;
            UnixListener::bind(path).map_err(|e| NetError::io(what("bind"), e))
        }
        Err(e) => Err(NetError::io(what("connect to test for a stale socket"), e)),
    }
}

impl Switch {
    /// Binds the control socket at `ctl` (replacing a stale one) and an
    /// abstract data socket named like uml_switch's. `hub` floods every
    /// frame instead of learning.
    pub fn bind(ctl: &Path, hub: bool) -> Result<Switch, NetError> {
        let listener = bind_ctl(ctl)?;
        let ctl_ino = std::fs::metadata(ctl).map(|m| (m.dev(), m.ino())).unwrap_or((0, 0));
        listener.set_nonblocking(true).map_err(|e| NetError::io("switch: O_NONBLOCK", e))?;
        // pid and microseconds name it, as uml_switch's; retry on the
        // rare clash (two switches started within one microsecond).
        let mut data = None;
        for i in 0..16u32 {
            let addr = UnixAddr::uml_abstract(std::process::id(), now_usecs().wrapping_add(i));
            match bind_dgram(&addr) {
                Ok(fd) => {
                    data = Some((fd, addr));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(NetError::io("switch: bind data socket", e)),
            }
        }
        let Some((data, data_addr)) = data else {
            return Err(NetError::io("switch: bind data socket", io::Error::from(io::ErrorKind::AddrInUse)));
        };
        crate::port::grow_recv_buffer(data.as_raw_fd());
        crate::port::grow_send_buffer(data.as_raw_fd());
        Ok(Switch {
            ctl_path: ctl.to_path_buf(),
            ctl_ino,
            listener,
            data,
            data_addr,
            hub,
            table: MacTable::default(),
            clients: BTreeMap::new(),
            by_addr: HashMap::new(),
            next_id: 1,
            last_aging: Instant::now(),
            stats: SwitchStats::default(),
        })
    }

    /// The data socket's address (the reply to every request).
    pub fn data_addr(&self) -> &UnixAddr {
        &self.data_addr
    }

    /// The counters now.
    pub fn stats(&self) -> SwitchStats {
        self.stats
    }

    /// Ports registered now.
    pub fn ports(&self) -> usize {
        self.by_addr.len()
    }

    /// Serves until `stop` (a signalfd, a pipe) becomes readable.
    pub fn run(&mut self, stop: Option<RawFd>) -> Result<(), NetError> {
        loop {
            if self.step(stop, AGING_INTERVAL)? {
                return Ok(());
            }
        }
    }

    /// Waits up to `timeout` and handles what arrived; true when `stop`
    /// became readable.
    pub fn step(&mut self, stop: Option<RawFd>, timeout: Duration) -> Result<bool, NetError> {
        let ids: Vec<PortId> = self.clients.keys().copied().collect();
        let mut fds = Vec::with_capacity(3 + ids.len());
        let pollfd = |fd: RawFd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        fds.push(pollfd(stop.unwrap_or(-1)));
        fds.push(pollfd(self.listener.as_raw_fd()));
        fds.push(pollfd(self.data.as_raw_fd()));
        fds.extend(ids.iter().map(|id| pollfd(self.clients[id].stream.as_raw_fd())));
        // Ports with a queue: wait for room in their sockets.
        let waiting: Vec<PortId> = ids.iter().copied().filter(|id| !self.clients[id].queue.is_empty()).collect();
        fds.extend(waiting.iter().map(|id| libc::pollfd {
            fd: self.clients[id].probe.as_ref().map_or(-1, |p| p.as_raw_fd()),
            events: libc::POLLOUT,
            revents: 0,
        }));
        let until_aging = AGING_INTERVAL.saturating_sub(self.last_aging.elapsed());
        let ms = timeout.min(until_aging).as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of pollfd of the length given.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(NetError::io("switch: poll", e));
        }
        if fds[0].revents != 0 {
            return Ok(true);
        }
        for (i, id) in waiting.iter().enumerate() {
            if fds[3 + ids.len() + i].revents != 0 {
                self.flush(*id);
            }
        }
        if fds[2].revents != 0 {
            self.serve_data();
        }
        for (i, id) in ids.iter().enumerate() {
            if fds[3 + i].revents != 0 {
                self.serve_client(*id);
            }
        }
        if fds[1].revents != 0 {
            self.accept();
        }
        if self.last_aging.elapsed() >= AGING_INTERVAL {
            self.last_aging = Instant::now();
            self.table.expire(self.last_aging, MAX_AGE);
        }
        Ok(false)
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        tracing::warn!("switch: new connection: {e}");
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    self.clients.insert(
                        id,
                        Client { stream, request: Vec::new(), addr: None, queue: VecDeque::new(), probe: None },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and the like: try again on the next wakeup.
                    tracing::warn!("switch: accept: {e}");
                    return;
                }
            }
        }
    }

    fn serve_client(&mut self, id: PortId) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        let mut buf = [0u8; 1024];
        let want = if c.addr.is_none() { MAX_REQUEST - c.request.len() } else { buf.len() };
        let n = match c.stream.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => return,
            Err(_) => 0,
        };
        if n == 0 {
            self.remove(id);
            return;
        }
        if c.addr.is_some() {
            tracing::warn!("switch: port {id}: Bad request ({n} bytes ignored)");
            return;
        }
        c.request.extend_from_slice(&buf[..n]);
        match parse_request(&c.request) {
            Err(RequestError::Incomplete(_)) => {}
            Err(e) => {
                tracing::warn!("switch: port {id}: {e}");
                self.clients.remove(&id);
            }
            Ok(req) => {
                let addr = req.addr().clone();
                if self.by_addr.contains_key(&addr) {
                    tracing::warn!("switch: port {id}: data address {addr:?} is already a port");
                    self.clients.remove(&id);
                    return;
                }
                if req.wants_reply() && c.stream.write_all(self.data_addr.wire()).is_err() {
                    self.clients.remove(&id);
                    return;
                }
                tracing::info!("switch: new port {id} at {addr:?}");
                c.probe = crate::unix_addr::room_probe(&addr).ok();
                c.addr = Some(addr.clone());
                self.by_addr.insert(addr, id);
                self.stats.joined += 1;
            }
        }
    }

    fn remove(&mut self, id: PortId) {
        if let Some(c) = self.clients.remove(&id) {
            if let Some(addr) = c.addr {
                tracing::info!("switch: port {id} left");
                self.by_addr.remove(&addr);
                self.table.remove_port(id);
                self.stats.left += 1;
            }
        }
    }

    fn serve_data(&mut self) {
        let mut buf = [0u8; frame::FRAME_BUF];
        for _ in 0..DATA_BATCH {
            let (n, from) = match recv_from(self.data.as_raw_fd(), &mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let Some(&ingress) = from.as_ref().and_then(|a| self.by_addr.get(a)) else {
                self.stats.unknown_sender += 1;
                continue;
            };
            let hdr = if n > buf.len() { Err(frame::FrameError::Oversized(n)) } else { frame::parse(&buf[..n]) };
            let hdr = match hdr {
                Ok(h) => h,
                Err(e) => {
                    tracing::debug!("switch: port {ingress}: dropped {e}");
                    self.stats.bad_frames += 1;
                    continue;
                }
            };
            self.stats.frames += 1;
            let fwd =
                if self.hub { Forward::Flood } else { self.table.forward(ingress, hdr.src, hdr.dst, Instant::now()) };
            let frame = &buf[..n];
            match fwd {
                Forward::Drop => {}
                Forward::To(port) => self.send(frame, port),
                Forward::Flood => {
                    self.stats.flooded += 1;
                    let ports: Vec<PortId> = self.by_addr.values().copied().filter(|&p| p != ingress).collect();
                    for port in ports {
                        self.send(frame, port);
                    }
                }
            }
        }
    }

    /// Sends a frame to a port, or queues it while the port's socket is
    /// full; a full queue or a vanished port loses it, as on a real switch.
    fn send(&mut self, frame: &[u8], port: PortId) {
        let data = self.data.as_raw_fd();
        let Some(c) = self.clients.get_mut(&port) else { return };
        let Some(to) = c.addr.as_ref() else { return };
        if c.queue.is_empty() {
            match send_to(data, frame, to) {
                Ok(()) => return,
                // Only a port that can say when it has room gets a queue.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && c.probe.is_some() => {}
                Err(e) => {
                    tracing::trace!("switch: send to {to:?}: {e}");
                    return;
                }
            }
        }
        if c.queue.len() < PORT_QUEUE {
            c.queue.push_back(frame.to_vec());
        } else {
            self.stats.dropped += 1;
        }
    }

    /// Sends what a port's queue holds until its socket is full again.
    fn flush(&mut self, port: PortId) {
        let data = self.data.as_raw_fd();
        let Some(c) = self.clients.get_mut(&port) else { return };
        let Some(to) = c.addr.as_ref() else { return };
        while let Some(frame) = c.queue.front() {
            match send_to(data, frame, to) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(()) => {}
                Err(e) => tracing::trace!("switch: send to {to:?}: {e}"),
            }
            c.queue.pop_front();
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        // Only our own socket: another switch may have replaced it.
        let ours = std::fs::symlink_metadata(&self.ctl_path).is_ok_and(|m| (m.dev(), m.ino()) == self.ctl_ino);
        if ours {
            let _ = std::fs::remove_file(&self.ctl_path);
        }
    }
}

fn now_usecs() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_micros()).unwrap_or(0)
}
