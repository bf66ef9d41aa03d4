//! TCP sockets of the [`Stack`]: connect, listen with a backlog, accept, send, receive, shutdown, and
//! the state tracking that turns smoltcp's state changes into errnos.
//!
//! smoltcp's listening socket becomes the connection it accepts, so a listener keeps a few spare
//! listening sockets per NIC (refilled after every received frame) up to its backlog, and accept
//! hands out the ones that reached ESTABLISHED.

use std::net::SocketAddr;

use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

use super::sockets::{check_family, errno, Binding, Entry, ListenQueue, Readiness, SocketId, TcpEntry, TcpPhase};
use super::{Stack, ORPHAN_TIMEOUT};
use crate::errno::Errno;

/// Listening sockets kept ready per NIC, at most: a burst of SYNs beyond this within one frame is
/// impossible, since spares are refilled after each frame.
const SPARE_LISTENERS: usize = 4;
/// Linux's somaxconn.
const MAX_BACKLOG: usize = 4096;

fn tcp_entry(stack: &mut Stack, id: SocketId) -> Result<&mut TcpEntry, Errno> {
    match stack.table.get_mut(&id) {
        Some(Entry::Tcp(t)) => Ok(t),
        Some(_) => Err(errno::EOPNOTSUPP),
        None => Err(Errno::EBADF),
    }
}

impl Stack {
    /// Starts a connection (connect(2)). `Ok` means under way: the socket turns writable when
    /// established, or gets an error (ECONNREFUSED, ETIMEDOUT, ...) in [`Stack::take_error`].
    pub fn tcp_connect(&mut self, id: SocketId, dst: SocketAddr) -> Result<(), Errno> {
        let t = tcp_entry(self, id)?;
        let ip = check_family(t.ipv6, dst.ip())?;
        match t.phase {
            TcpPhase::Active { last: State::SynSent, .. } => return Err(errno::EALREADY),
            TcpPhase::Active { .. } => return Err(errno::EISCONN),
            TcpPhase::Listening { .. } => return Err(Errno::EINVAL),
            TcpPhase::Fresh | TcpPhase::Dead => {}
        }
        if dst.port() == 0 || ip.is_unspecified() {
            return Err(errno::ECONNREFUSED);
        }
        let bound = t.bound;
        let nodelay = t.nodelay;
        let nic = self.route(ip)?;
        let binding = match bound {
            Some(b) => b,
            None => Binding { addr: None, port: self.ephemeral_port(super::Protocol::Tcp, None, id)? },
        };
        let mut sock = self.new_tcp_socket(id);
        sock.set_nagle_enabled(!nodelay);
        let local = IpListenEndpoint { addr: binding.addr.map(Into::into), port: binding.port };
        let iface = &mut self.nics[nic].iface;
        sock.connect(iface.context(), IpEndpoint::new(ip.into(), dst.port()), local).map_err(|e| match e {
            tcp::ConnectError::InvalidState => errno::EISCONN,
            tcp::ConnectError::Unaddressable => errno::EADDRNOTAVAIL,
        })?;
        let handle = self.nics[nic].sockets.add(sock);
        let deadline = self.now + self.connect_timeout;
        let t = tcp_entry(self, id)?;
        t.bound = Some(binding);
        t.peer = Some(SocketAddr::new(ip, dst.port()));
        t.error = None;
        t.phase = TcpPhase::Active { nic, handle, last: State::SynSent, connect_deadline: Some(deadline) };
        Ok(())
    }

    /// Listens (listen(2)); an unbound socket gets an ephemeral port. Calling it again sets the backlog.
    pub fn tcp_listen(&mut self, id: SocketId, backlog: i32) -> Result<(), Errno> {
        let backlog = usize::try_from(backlog).unwrap_or(0).clamp(1, MAX_BACKLOG);
        let t = tcp_entry(self, id)?;
        match &mut t.phase {
            TcpPhase::Listening { backlog: b, .. } => {
                *b = backlog;
                return Ok(());
            }
            TcpPhase::Fresh => {}
            _ => return Err(Errno::EINVAL),
        }
        let binding = match t.bound {
            Some(b) => b,
            None => {
                let port = self.ephemeral_port(super::Protocol::Tcp, None, id)?;
                Binding { addr: None, port }
            }
        };
        // Another socket may have bound the port with SO_REUSEADDR meanwhile: listening takes it whole.
        let clash = self.table.iter().any(|(o, e)| {
            *o != id
                && matches!(e, Entry::Tcp(TcpEntry { phase: TcpPhase::Listening { .. }, bound: Some(b), .. }) if b.overlaps(&binding))
        });
        if clash {
            return Err(errno::EADDRINUSE);
        }
        let nics = self.nics_for_binding(binding.addr)?;
        let queues = nics.into_iter().map(|nic| ListenQueue { nic, handles: Vec::new() }).collect();
        let t = tcp_entry(self, id)?;
        t.bound = Some(binding);
        t.phase = TcpPhase::Listening { backlog, queues };
        self.listeners.push(id);
        self.refill_listeners(None);
        Ok(())
    }

    /// Keeps every listener (on one NIC, or all) stocked with spare listening sockets within its backlog.
    pub(super) fn refill_listeners(&mut self, only_nic: Option<usize>) {
        for i in 0..self.listeners.len() {
            let id = self.listeners[i];
            let (rx_len, tx_len) = self.buffer_sizes(id);
            let hops = self.sock_opts(id).hop_limit;
            let Some(Entry::Tcp(TcpEntry {
                phase: TcpPhase::Listening { backlog, queues },
                bound: Some(b),
                nodelay,
                ..
            })) = self.table.get_mut(&id)
            else {
                continue;
            };
            let (backlog, b, nodelay) = (*backlog, *b, *nodelay);
            for q in queues.iter_mut().filter(|q| only_nic.is_none_or(|n| n == q.nic)) {
                let sockets = &mut self.nics[q.nic].sockets;
                // A connection reset before accept is gone for good: Linux drops it from the queue too.
                q.handles.retain(|h| {
                    let closed = sockets.get::<tcp::Socket>(*h).state() == State::Closed;
                    if closed {
                        sockets.remove(*h);
                    }
                    !closed
                });
                let mut spare = q.handles.iter().filter(|h| sockets.get::<tcp::Socket>(**h).is_listening()).count();
                // Linux queues backlog + 1 connections.
                while spare < SPARE_LISTENERS && q.handles.len() <= backlog {
                    let mut s = spare_socket(rx_len, tx_len, hops);
                    s.set_nagle_enabled(!nodelay);
                    if s.listen(IpListenEndpoint { addr: b.addr.map(Into::into), port: b.port }).is_err() {
                        break;
                    }
                    q.handles.push(sockets.add(s));
                    spare += 1;
                }
            }
        }
    }

    /// Accepts a connection (accept(2)): the new socket and its peer, or EAGAIN.
    pub fn tcp_accept(&mut self, id: SocketId) -> Result<(SocketId, SocketAddr), Errno> {
        let t = match self.table.get_mut(&id) {
            Some(Entry::Tcp(t)) => t,
            Some(_) => return Err(errno::EOPNOTSUPP),
            None => return Err(Errno::EBADF),
        };
        let (ipv6, nodelay) = (t.ipv6, t.nodelay);
        let TcpPhase::Listening { queues, .. } = &mut t.phase else {
            return Err(Errno::EINVAL);
        };
        let mut found = None;
        'queues: for q in queues.iter_mut() {
            for (k, h) in q.handles.iter().enumerate() {
                let s = self.nics[q.nic].sockets.get::<tcp::Socket>(*h);
                if !matches!(s.state(), State::Listen | State::SynReceived | State::Closed) {
                    let (Some(local), Some(remote)) = (s.local_endpoint(), s.remote_endpoint()) else { continue };
                    found = Some((q.nic, *h, s.state(), local, remote));
                    q.handles.remove(k);
                    break 'queues;
                }
            }
        }
        let Some((nic, handle, state, local, remote)) = found else {
            return Err(Errno::EAGAIN);
        };
        let peer = SocketAddr::new(remote.addr.into(), remote.port);
        let new = self.insert(Entry::Tcp(TcpEntry {
            ipv6,
            bound: Some(Binding { addr: Some(local.addr.into()), port: local.port }),
            phase: TcpPhase::Active { nic, handle, last: state, connect_deadline: None },
            error: None,
            shut_rd: false,
            shut_wr: false,
            reuse_addr: false,
            nodelay,
            peer: Some(peer),
        }));
        self.refill_listeners(Some(nic));
        self.inherit_opts(id, new);
        Ok((new, peer))
    }

    /// Sends bytes (send(2)): how many were queued, EAGAIN when the buffer is full, EPIPE after shutdown
    /// or the end of the connection.
    pub fn tcp_send(&mut self, id: SocketId, data: &[u8]) -> Result<usize, Errno> {
        let t = tcp_entry(self, id)?;
        if let Some(e) = t.error.take() {
            return Err(e);
        }
        if t.shut_wr {
            return Err(errno::EPIPE);
        }
        let (nic, handle) = match t.phase {
            TcpPhase::Active { nic, handle, .. } => (nic, handle),
            TcpPhase::Dead => return Err(errno::EPIPE),
            _ => return Err(errno::ENOTCONN),
        };
        let s = self.nics[nic].sockets.get_mut::<tcp::Socket>(handle);
        match s.state() {
            State::SynSent | State::SynReceived => return Err(Errno::EAGAIN),
            _ if !s.may_send() => return Err(errno::EPIPE),
            _ => {}
        }
        if data.is_empty() {
            return Ok(0);
        }
        match s.send_slice(data) {
            Ok(0) => Err(Errno::EAGAIN),
            Ok(n) => Ok(n),
            Err(tcp::SendError::InvalidState) => Err(errno::EPIPE),
        }
    }

    /// Receives bytes (recv(2)): 0 at end of stream, EAGAIN when nothing is there yet.
    pub fn tcp_recv(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        self.tcp_take(id, buf, false)
    }

    /// Copies the bytes [`Stack::tcp_recv`] would return without taking them (MSG_PEEK).
    pub fn tcp_peek(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        self.tcp_take(id, buf, true)
    }

    fn tcp_take(&mut self, id: SocketId, buf: &mut [u8], peek: bool) -> Result<usize, Errno> {
        let t = tcp_entry(self, id)?;
        let (nic, handle) = match t.phase {
            TcpPhase::Active { nic, handle, .. } => (nic, handle),
            TcpPhase::Dead => return t.error.take().map_or(Ok(0), Err),
            _ => return Err(errno::ENOTCONN),
        };
        if t.shut_rd {
            return Ok(0);
        }
        let s = self.nics[nic].sockets.get_mut::<tcp::Socket>(handle);
        if s.can_recv() {
            return if peek { s.peek_slice(buf) } else { s.recv_slice(buf) }.map_err(|_| errno::ENOTCONN);
        }
        match s.state() {
            State::SynSent | State::SynReceived => Err(Errno::EAGAIN),
            _ if !s.may_recv() => {
                let t = tcp_entry(self, id)?;
                t.error.take().map_or(Ok(0), Err)
            }
            _ => Err(Errno::EAGAIN),
        }
    }

    /// Shuts down one or both directions (shutdown(2)): writing sends FIN once the queue drains.
    pub fn tcp_shutdown(&mut self, id: SocketId, read: bool, write: bool) -> Result<(), Errno> {
        let t = tcp_entry(self, id)?;
        let TcpPhase::Active { nic, handle, .. } = t.phase else {
            return Err(errno::ENOTCONN);
        };
        t.shut_rd |= read;
        t.shut_wr |= write;
        if write {
            let s = self.nics[nic].sockets.get_mut::<tcp::Socket>(handle);
            s.close();
            let state = s.state();
            if let Some(Entry::Tcp(TcpEntry { phase: TcpPhase::Active { last, .. }, .. })) = self.table.get_mut(&id) {
                *last = state;
            }
        }
        Ok(())
    }

    /// Sets TCP_NODELAY.
    pub fn tcp_set_nodelay(&mut self, id: SocketId, on: bool) -> Result<(), Errno> {
        let t = tcp_entry(self, id)?;
        t.nodelay = on;
        if let TcpPhase::Active { nic, handle, .. } = t.phase {
            self.nics[nic].sockets.get_mut::<tcp::Socket>(handle).set_nagle_enabled(!on);
        }
        Ok(())
    }

    /// Sets SO_KEEPALIVE (with Linux's idle time of two hours).
    pub fn tcp_set_keepalive(&mut self, id: SocketId, on: bool) -> Result<(), Errno> {
        let t = tcp_entry(self, id)?;
        if let TcpPhase::Active { nic, handle, .. } = t.phase {
            let interval = on.then(|| smoltcp::time::Duration::from_secs(7200));
            self.nics[nic].sockets.get_mut::<tcp::Socket>(handle).set_keep_alive(interval);
        }
        Ok(())
    }

    /// The TCP state of a socket, as /proc/net/tcp numbers it (1 ESTABLISHED ... 10 LISTEN, 7 CLOSE).
    pub fn tcp_state(&self, id: SocketId) -> Option<u8> {
        let Some(Entry::Tcp(t)) = self.table.get(&id) else { return None };
        Some(match t.phase {
            TcpPhase::Listening { .. } => 10,
            TcpPhase::Fresh | TcpPhase::Dead => 7,
            TcpPhase::Active { nic, handle, .. } => match self.nics[nic].sockets.get::<tcp::Socket>(handle).state() {
                State::Established => 1,
                State::SynSent => 2,
                State::SynReceived => 3,
                State::FinWait1 => 4,
                State::FinWait2 => 5,
                State::TimeWait => 6,
                State::Closed => 7,
                State::CloseWait => 8,
                State::LastAck => 9,
                State::Listen => 10,
                State::Closing => 11,
            },
        })
    }

    /// After a poll: turns state changes into errors (refused, reset, timed out), and frees closed
    /// orphans.
    pub(super) fn track_tcp(&mut self, now: smoltcp::time::Instant) {
        for t in self.table.values_mut() {
            let Entry::Tcp(t) = t else { continue };
            let TcpPhase::Active { nic, handle, last, connect_deadline } = &mut t.phase else { continue };
            let sockets = &mut self.nics[*nic].sockets;
            let s = sockets.get_mut::<tcp::Socket>(*handle);
            let state = s.state();
            if state == State::SynSent && connect_deadline.is_some_and(|d| now >= d) {
                s.abort();
                sockets.remove(*handle);
                t.error = Some(errno::ETIMEDOUT);
                t.phase = TcpPhase::Dead;
                continue;
            }
            if state != State::SynSent {
                *connect_deadline = None;
            }
            if state == State::Closed {
                let error = match *last {
                    State::SynSent => Some(errno::ECONNREFUSED),
                    State::LastAck | State::TimeWait | State::Closing | State::Closed => None,
                    _ => Some(errno::ECONNRESET),
                };
                sockets.remove(*handle);
                t.error = t.error.or(error);
                t.phase = TcpPhase::Dead;
                continue;
            }
            *last = state;
        }
        self.orphans.retain(|&(nic, h, _)| {
            let sockets = &mut self.nics[nic].sockets;
            let s = sockets.get_mut::<tcp::Socket>(h);
            if s.state() == State::Closed {
                sockets.remove(h);
                false
            } else {
                s.set_timeout(Some(ORPHAN_TIMEOUT));
                true
            }
        });
        if !self.listeners.is_empty() {
            self.refill_listeners(None);
        }
    }

    pub(super) fn tcp_readiness(&self, t: &TcpEntry) -> Readiness {
        let error = t.error.is_some();
        match t.phase {
            // Linux reports an unconnected stream socket as writable and hung up.
            TcpPhase::Fresh => Readiness { writable: true, hup: true, error, ..Readiness::default() },
            TcpPhase::Dead => Readiness { readable: true, writable: true, hup: true, rdhup: true, error },
            TcpPhase::Listening { ref queues, .. } => {
                let readable = queues.iter().any(|q| {
                    q.handles.iter().any(|h| {
                        !matches!(
                            self.nics[q.nic].sockets.get::<tcp::Socket>(*h).state(),
                            State::Listen | State::SynReceived | State::Closed
                        )
                    })
                });
                Readiness { readable, error, ..Readiness::default() }
            }
            TcpPhase::Active { nic, handle, .. } => {
                let s = self.nics[nic].sockets.get::<tcp::Socket>(handle);
                let state = s.state();
                if matches!(state, State::SynSent | State::SynReceived) {
                    return Readiness { error, ..Readiness::default() };
                }
                let peer_done = !s.may_recv();
                Readiness {
                    readable: s.can_recv() || peer_done || t.shut_rd || error,
                    writable: (s.may_send() && s.can_send()) || t.shut_wr,
                    hup: state == State::Closed || (peer_done && !s.may_send()),
                    rdhup: peer_done,
                    error,
                }
            }
        }
    }
}

/// A listener's spare socket, with the listener's buffers and TTL.
fn spare_socket(rx: usize, tx: usize, hops: Option<u8>) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; rx]), tcp::SocketBuffer::new(vec![0; tx]));
    s.set_hop_limit(hops);
    s
}
