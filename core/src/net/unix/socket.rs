//! The AF_UNIX socket object and its states (Linux's struct unix_sock):
//! the kernel holds every queue, as it does a pipe's buffer. A message
//! sent is pushed onto the receiver's queue; a waiter sleeps on the queue
//! of the socket whose change it needs (its own to read or accept, the
//! peer's to find room).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::address::{NameKey, UnixAddr};
use super::ancillary::{Ancillary, Cred};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::sched::wait::{TaskRef, WaitQueue};

/// The default SO_SNDBUF and SO_RCVBUF (Linux's wmem_default).
pub const DEFAULT_BUF: usize = 212_992;
/// The smallest buffer size SO_SNDBUF/SO_RCVBUF may set (SOCK_MIN_SNDBUF).
pub const MIN_BUF: usize = 4608;
/// Datagrams a receiver's queue holds (net.unix.max_dgram_qlen).
pub const MAX_DGRAM_QLEN: usize = 10;
/// The largest listen backlog (net.core.somaxconn).
pub const SOMAXCONN: usize = 4096;
/// Read side shut (shutdown's RCV_SHUTDOWN).
pub const RCV_SHUTDOWN: u8 = 1;
/// Write side shut (SEND_SHUTDOWN).
pub const SEND_SHUTDOWN: u8 = 2;

/// The socket types AF_UNIX has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockType {
    /// SOCK_STREAM: a byte stream.
    Stream,
    /// SOCK_DGRAM: datagrams, connected or not.
    Dgram,
    /// SOCK_SEQPACKET: a connection carrying records.
    SeqPacket,
}

impl SockType {
    /// From the type argument (flags already masked off): ESOCKTNOSUPPORT
    /// for SOCK_RAW and unknown types, as Linux's unix_create.
    pub fn from_raw(ty: i32) -> Result<SockType, Errno> {
        match ty {
            libc::SOCK_STREAM => Ok(SockType::Stream),
            libc::SOCK_DGRAM => Ok(SockType::Dgram),
            libc::SOCK_SEQPACKET => Ok(SockType::SeqPacket),
            libc::SOCK_RAW => Ok(SockType::Dgram),
            _ => Err(Errno::ESOCKTNOSUPPORT),
        }
    }

    /// The SOCK_* value SO_TYPE reports.
    pub fn raw(self) -> i32 {
        match self {
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Dgram => libc::SOCK_DGRAM,
            SockType::SeqPacket => libc::SOCK_SEQPACKET,
        }
    }

    /// Whether it needs a connection (stream and seqpacket).
    pub fn connection(self) -> bool {
        !matches!(self, SockType::Dgram)
    }
}

/// One message in a receive queue.
pub struct Message {
    /// Its bytes.
    pub data: Vec<u8>,
    /// How much of a stream message was already read.
    pub off: usize,
    /// The sender's name.
    pub from: UnixAddr,
    /// Files and credentials it carries.
    pub anc: Ancillary,
}

impl Message {
    /// Bytes not yet read.
    pub fn left(&self) -> &[u8] {
        &self.data[self.off..]
    }
}

/// Where a socket is in its life.
pub enum Conn {
    /// Neither listening nor connected.
    Unconnected,
    /// Listening: connections not yet accepted (each the server end).
    Listening {
        /// listen's backlog.
        backlog: usize,
        /// The server ends, oldest first.
        pending: VecDeque<Arc<UnixSocket>>,
    },
    /// Connected (a datagram socket: its default destination).
    Connected(Arc<UnixSocket>),
}

/// What a socket's lock guards.
pub struct SockState {
    /// Its name.
    pub addr: UnixAddr,
    /// Where the names table finds it, once bound.
    pub key: Option<NameKey>,
    /// Listening, connected or neither.
    pub conn: Conn,
    /// Messages received and not yet read.
    pub rx: VecDeque<Message>,
    /// Bytes in `rx` not yet read.
    pub rx_bytes: usize,
    /// RCV_SHUTDOWN | SEND_SHUTDOWN.
    pub shutdown: u8,
    /// The pending error SO_ERROR reports (an errno, 0 for none).
    pub err: i32,
    /// Closed: its last file is gone.
    pub dead: bool,
    /// SO_PASSCRED.
    pub passcred: bool,
    /// The peer's credentials (SO_PEERCRED); a listener's own, which its
    /// clients see.
    pub peercred: Option<Cred>,
    /// SO_SNDBUF as set (reported doubled, as Linux does).
    pub sndbuf: usize,
    /// SO_RCVBUF as set.
    pub rcvbuf: usize,
}

impl SockState {
    /// Takes the pending error (reading SO_ERROR clears it).
    pub fn take_err(&mut self) -> Option<Errno> {
        let e = std::mem::take(&mut self.err);
        (e != 0).then_some(Errno(e))
    }

    /// The connected peer.
    pub fn peer(&self) -> Option<Arc<UnixSocket>> {
        match &self.conn {
            Conn::Connected(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Appends a message to the receive queue.
    pub fn push(&mut self, m: Message) {
        self.rx_bytes += m.left().len();
        self.rx.push_back(m);
    }
}

static NEXT_INO: AtomicU64 = AtomicU64::new(10_000);

/// A fresh inode number for a socket of any family (fstat, /proc/PID/fd's socket:[N]).
pub fn next_socket_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

/// An AF_UNIX socket.
pub struct UnixSocket {
    /// Its type.
    pub ty: SockType,
    /// The inode number fstat and /proc/PID/fd show.
    pub ino: u64,
    state: Mutex<SockState>,
    /// Tasks waiting for this socket to change: data or a connection
    /// arrived, room appeared in its queue, a peer left.
    pub wait: Arc<WaitQueue>,
    kernel: Weak<Kernel>,
}

impl UnixSocket {
    /// A new unconnected socket.
    pub fn new(k: &Kernel, ty: SockType) -> Arc<UnixSocket> {
        Arc::new(UnixSocket {
            ty,
            ino: next_socket_ino(),
            state: Mutex::new(SockState {
                addr: UnixAddr::Unnamed,
                key: None,
                conn: Conn::Unconnected,
                rx: VecDeque::new(),
                rx_bytes: 0,
                shutdown: 0,
                err: 0,
                dead: false,
                passcred: false,
                peercred: None,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
            }),
            wait: Arc::default(),
            kernel: k.weak(),
        })
    }

    /// Two sockets connected to each other (socketpair), both showing
    /// `cred` as their peer's.
    pub fn pair(k: &Kernel, ty: SockType, cred: Cred) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
        let a = UnixSocket::new(k, ty);
        let b = UnixSocket::new(k, ty);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut s = x.lock();
            s.conn = Conn::Connected(y.clone());
            s.peercred = Some(cred);
        }
        (a, b)
    }

    /// Locks its state.
    pub fn lock(&self) -> MutexGuard<'_, SockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every task waiting on it.
    pub fn wake(&self) {
        if let Some(k) = self.kernel.upgrade() {
            k.wake_all(&self.wait);
        }
    }

    /// Registers `w` (a blocking caller) on this socket's queue.
    pub fn add_waiter(&self, w: Option<TaskRef>) {
        if let Some(w) = w {
            self.wait.add(w);
        }
    }

    /// Starts listening (Linux's unix_listen): EINVAL unless bound and
    /// unconnected; a listener's backlog may be changed again.
    pub fn listen(&self, backlog: i32, cred: Cred) -> Result<(), Errno> {
        if !self.ty.connection() {
            return Err(Errno::EOPNOTSUPP);
        }
        let backlog = usize::try_from(backlog).unwrap_or(0).min(SOMAXCONN);
        let mut s = self.lock();
        if s.addr == UnixAddr::Unnamed {
            return Err(Errno::EINVAL);
        }
        match &mut s.conn {
            Conn::Listening { backlog: b, .. } => *b = backlog,
            Conn::Unconnected => {
                s.conn = Conn::Listening { backlog, pending: VecDeque::new() };
                s.peercred = Some(cred);
            }
            Conn::Connected(_) => return Err(Errno::EINVAL),
        }
        drop(s);
        self.wake();
        Ok(())
    }

    /// Connects a stream or seqpacket socket to `listener` (Linux's
    /// unix_stream_connect): the server end is made now and queued for
    /// accept. ECONNREFUSED when it is not listening (or of another type),
    /// EAGAIN while its backlog is full (`w` then waits for room).
    pub fn connect_stream(
        self: &Arc<UnixSocket>,
        k: &Kernel,
        listener: &Arc<UnixSocket>,
        cred: Cred,
        w: Option<TaskRef>,
    ) -> Result<(), Errno> {
        {
            let s = self.lock();
            match s.conn {
                Conn::Connected(_) => return Err(Errno::EISCONN),
                Conn::Listening { .. } => return Err(Errno::EINVAL),
                Conn::Unconnected => {}
            }
        }
        if listener.ty != self.ty {
            return Err(Errno::EPROTOTYPE);
        }
        let server = UnixSocket::new(k, self.ty);
        let listener_cred;
        {
            let mut l = listener.lock();
            if l.dead {
                return Err(Errno::ECONNREFUSED);
            }
            let addr = l.addr.clone();
            listener_cred = l.peercred;
            let Conn::Listening { backlog, pending } = &mut l.conn else {
                return Err(Errno::ECONNREFUSED);
            };
            if pending.len() > *backlog {
                listener.add_waiter(w);
                return Err(Errno::EAGAIN);
            }
            {
                let mut sv = server.lock();
                sv.addr = addr;
                sv.conn = Conn::Connected(self.clone());
                sv.peercred = Some(cred);
            }
            pending.push_back(server.clone());
        }
        {
            let mut s = self.lock();
            s.conn = Conn::Connected(server);
            s.peercred = listener_cred;
        }
        listener.wake();
        Ok(())
    }

    /// Takes the oldest pending connection (Linux's unix_accept): EINVAL
    /// unless listening, EAGAIN when none is pending (`w` then waits).
    pub fn accept(&self, w: Option<TaskRef>) -> Result<Arc<UnixSocket>, Errno> {
        if !self.ty.connection() {
            return Err(Errno::EOPNOTSUPP);
        }
        let got = {
            let mut s = self.lock();
            let Conn::Listening { pending, .. } = &mut s.conn else {
                return Err(Errno::EINVAL);
            };
            match pending.pop_front() {
                Some(c) => c,
                None => {
                    self.add_waiter(w);
                    return Err(Errno::EAGAIN);
                }
            }
        };
        // Room in the backlog for a waiting connect.
        self.wake();
        Ok(got)
    }

    /// Shuts one or both directions (`how`: SHUT_RD, SHUT_WR, SHUT_RDWR);
    /// a connected peer sees the mirror image.
    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        let mode = match how {
            libc::SHUT_RD => RCV_SHUTDOWN,
            libc::SHUT_WR => SEND_SHUTDOWN,
            libc::SHUT_RDWR => RCV_SHUTDOWN | SEND_SHUTDOWN,
            _ => return Err(Errno::EINVAL),
        };
        let peer = {
            let mut s = self.lock();
            s.shutdown |= mode;
            s.peer()
        };
        self.wake();
        if let Some(p) = peer.filter(|_| self.ty.connection()) {
            let mut mirror = 0;
            if mode & RCV_SHUTDOWN != 0 {
                mirror |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                mirror |= RCV_SHUTDOWN;
            }
            p.lock().shutdown |= mirror;
            p.wake();
        }
        Ok(())
    }

    /// The last close (Linux's unix_release_sock): the name is freed, a
    /// connected peer sees end of file (ECONNRESET if this end left data
    /// unread), connections never accepted are reset, and files in flight
    /// in the queue are closed.
    pub fn release(&self) {
        let (conn, rx, unread, key) = {
            let mut s = self.lock();
            s.dead = true;
            s.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN;
            let conn = std::mem::replace(&mut s.conn, Conn::Unconnected);
            let rx = std::mem::take(&mut s.rx);
            s.rx_bytes = 0;
            let unread = !rx_is_empty(&rx);
            (conn, rx, unread, s.key.take())
        };
        if let (Some(key), Some(k)) = (key, self.kernel.upgrade()) {
            k.unix.unbind(&key, self);
        }
        match conn {
            Conn::Connected(peer) => {
                let mut p = peer.lock();
                let mine = matches!(&p.conn, Conn::Connected(x) if std::ptr::eq(Arc::as_ptr(x), self));
                if self.ty.connection() || mine {
                    p.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN;
                    if unread && self.ty.connection() {
                        p.err = libc::ECONNRESET;
                    }
                }
                drop(p);
                peer.wake();
            }
            Conn::Listening { pending, .. } => {
                for server in pending {
                    server.release();
                }
            }
            Conn::Unconnected => {}
        }
        // Dropped outside the lock: closing a file in flight may release
        // another socket.
        drop(rx);
        self.wake();
    }

    /// Its poll events (Linux's unix_poll and unix_dgram_poll).
    pub fn poll_events(&self) -> i16 {
        let (mut ev, peer, listening) = {
            let s = self.lock();
            let mut ev = 0;
            if s.err != 0 {
                ev |= libc::POLLERR;
            }
            if s.shutdown == RCV_SHUTDOWN | SEND_SHUTDOWN {
                ev |= libc::POLLHUP;
            }
            if s.shutdown & RCV_SHUTDOWN != 0 {
                ev |= libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM;
            }
            let listening = match &s.conn {
                Conn::Listening { pending, .. } => {
                    if !pending.is_empty() {
                        ev |= libc::POLLIN | libc::POLLRDNORM;
                    }
                    true
                }
                _ => false,
            };
            if !s.rx.is_empty() {
                ev |= libc::POLLIN | libc::POLLRDNORM;
            }
            if self.ty.connection() && matches!(s.conn, Conn::Unconnected) {
                ev |= libc::POLLHUP;
            }
            (ev, s.peer(), listening)
        };
        if listening {
            return ev;
        }
        let writable = match peer {
            Some(p) => {
                let p = p.lock();
                p.dead || p.shutdown & RCV_SHUTDOWN != 0 || has_room(self.ty, &p, 1)
            }
            None => !self.ty.connection(),
        };
        if writable {
            ev |= libc::POLLOUT | libc::POLLWRNORM;
        }
        ev
    }

    /// The queues a poller of this socket waits on: its own, and its
    /// peer's (room to write appears there).
    pub fn queues(&self) -> Vec<Arc<WaitQueue>> {
        let mut q = vec![self.wait.clone()];
        if let Some(p) = self.lock().peer() {
            q.push(p.wait.clone());
        }
        q
    }
}

fn rx_is_empty(rx: &VecDeque<Message>) -> bool {
    rx.iter().all(|m| m.left().is_empty())
}

/// Whether `receiver`'s queue takes `len` more bytes of a message of type
/// `ty`: a datagram queue holds MAX_DGRAM_QLEN messages, a connection's
/// queue the receiver's buffer size.
pub fn has_room(ty: SockType, receiver: &SockState, len: usize) -> bool {
    match ty {
        SockType::Dgram => receiver.rx.len() < MAX_DGRAM_QLEN,
        SockType::Stream | SockType::SeqPacket => {
            receiver.rx_bytes == 0 || receiver.rx_bytes + len <= receiver.rcvbuf.max(receiver.sndbuf)
        }
    }
}

/// An AF_UNIX socket as an open file holds it: the last close of the
/// file releases the socket.
pub struct UnixFile {
    /// The socket.
    pub sock: Arc<UnixSocket>,
}

impl Drop for UnixFile {
    fn drop(&mut self) {
        self.sock.release();
    }
}
