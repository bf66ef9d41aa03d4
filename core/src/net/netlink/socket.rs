//! An AF_NETLINK socket as an open file holds it (Linux's net/netlink/af_netlink.c): its port id,
//! and the receive queue the kernel's answers wait in until the guest reads them.
//!
//! Answers are made when the request is sent (the stack is small, so a dump is a snapshot of it);
//! a dump's messages are packed into datagrams as they are read, each as large as the reader's
//! largest buffer so far (at least a page's worth), so a dump too large for one read continues on the
//! next, and MSG_PEEK sees the datagram the next read gets.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::{Reply, Sender};
use crate::errno::Errno;
use crate::fs::file::{FileKind, OpenFile};
use crate::kernel::Kernel;
use crate::sched::wait::WaitQueue;

/// Linux's NLMSG_GOODSIZE on 4 KiB pages: the smallest dump datagram.
pub const NLMSG_GOODSIZE: usize = 3776;
/// The largest dump datagram (SKB_WITH_OVERHEAD(32768)).
pub const DUMP_MAX: usize = 32768 - 320;
/// SO_RCVBUF's and SO_SNDBUF's default (net.core.rmem_default).
pub const DEFAULT_BUF: usize = 212_992;
/// The smallest SO_RCVBUF (SOCK_MIN_RCVBUF) and largest without SO_RCVBUFFORCE (2 * rmem_max).
pub const MIN_BUF: usize = 2304;
/// See [`MIN_BUF`].
pub const MAX_BUF: usize = 2 * DEFAULT_BUF;
/// The first port id autobind tries when the process's pid is taken (counting down, as Linux).
const ROVER_START: u32 = -4096i32 as u32;

/// The port ids bound in one VM, and its netlink sockets (for notifications).
#[derive(Default)]
pub struct Ports {
    bound: Mutex<BTreeSet<u32>>,
    /// Every netlink socket not yet closed.
    sockets: Mutex<Vec<Weak<OpenFile>>>,
}

impl Ports {
    fn lock(&self) -> MutexGuard<'_, BTreeSet<u32>> {
        self.bound.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a new netlink socket, so that it gets the notifications of the groups it joins.
    pub fn register(&self, f: &Arc<OpenFile>) {
        let mut s = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|w| w.strong_count() > 0);
        s.push(Arc::downgrade(f));
    }

    /// The open sockets that joined any of `groups` (a bind(2) bitmap), with the groups they joined.
    fn members(&self, groups: u32) -> Vec<(Arc<OpenFile>, u32)> {
        let s = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        s.iter()
            .filter_map(Weak::upgrade)
            .filter_map(|f| {
                let joined = match &f.kind {
                    FileKind::Netlink(n) => n.state().groups,
                    _ => 0,
                };
                (joined & groups != 0).then_some((f, joined))
            })
            .collect()
    }

    /// Whether any socket listens to any of `groups`: only then are changes worth describing.
    pub fn listening(&self, groups: u32) -> bool {
        !self.members(groups).is_empty()
    }

    /// Queues each (group, message) of `notes` on every socket that joined its group, and wakes
    /// their readers (netlink_broadcast; a socket without room drops it and reads ENOBUFS next).
    pub fn broadcast(&self, k: &Kernel, notes: &[(u32, Vec<u8>)]) {
        if notes.is_empty() {
            return;
        }
        let all = notes.iter().fold(0, |g, (group, _)| g | super::notify::group_bit(*group));
        for (f, joined) in self.members(all) {
            let FileKind::Netlink(n) = &f.kind else { continue };
            let mine: Vec<Reply> = notes
                .iter()
                .filter(|(group, _)| joined & super::notify::group_bit(*group) != 0)
                .map(|(_, m)| Reply::Datagram(m.clone()))
                .collect();
            n.queue(mine);
            k.wake_all(&n.readers);
        }
    }

    /// Takes `portid` (EADDRINUSE if bound).
    pub fn take(&self, portid: u32) -> Result<(), Errno> {
        if portid == 0 || !self.lock().insert(portid) {
            return Err(Errno::EADDRINUSE);
        }
        Ok(())
    }

    /// Takes `pid` if free, else a free id counting down from -4096 (Linux's autobind).
    pub fn take_auto(&self, pid: u32) -> Result<u32, Errno> {
        let mut b = self.lock();
        if pid != 0 && b.insert(pid) {
            return Ok(pid);
        }
        let mut id = ROVER_START;
        // The set is finite: this ends after at most its size plus one steps.
        while b.contains(&id) {
            id = id.checked_sub(1).filter(|&i| i > 0).ok_or(Errno::EADDRINUSE)?;
        }
        b.insert(id);
        Ok(id)
    }

    /// Frees a port id.
    pub fn release(&self, portid: u32) {
        self.lock().remove(&portid);
    }
}

/// What waits to be read.
enum Queued {
    Datagram(Vec<u8>),
    Dump(VecDeque<Vec<u8>>),
}

impl Queued {
    fn bytes(&self) -> usize {
        match self {
            Queued::Datagram(d) => d.len(),
            Queued::Dump(ms) => ms.iter().map(Vec::len).sum(),
        }
    }
}

/// Boolean SOL_NETLINK options, as getsockopt reads them back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NlOpts {
    /// NETLINK_PKTINFO.
    pub pktinfo: bool,
    /// NETLINK_BROADCAST_ERROR.
    pub broadcast_error: bool,
    /// NETLINK_NO_ENOBUFS.
    pub no_enobufs: bool,
    /// NETLINK_LISTEN_ALL_NSID.
    pub listen_all_nsid: bool,
    /// NETLINK_CAP_ACK.
    pub cap_ack: bool,
    /// NETLINK_EXT_ACK.
    pub ext_ack: bool,
    /// NETLINK_GET_STRICT_CHK.
    pub strict_chk: bool,
}

/// A socket's changing state.
pub struct NlState {
    /// The bound port id (0: unbound).
    pub portid: u32,
    /// Multicast groups joined (bind's nl_groups and NETLINK_ADD_MEMBERSHIP): see netlink::notify.
    pub groups: u32,
    /// connect's peer (port id, groups).
    pub peer: (u32, u32),
    /// SOL_NETLINK flags.
    pub opts: NlOpts,
    /// SO_RCVBUF and SO_SNDBUF as getsockopt reports them.
    pub rcvbuf: usize,
    /// See [`NlState::rcvbuf`].
    pub sndbuf: usize,
    queue: VecDeque<Queued>,
    /// The largest buffer a read offered (Linux's max_recvmsg_len).
    max_recvmsg_len: usize,
    /// ENOBUFS after answers were dropped for want of room, reported by the next read.
    pending_error: Option<Errno>,
}

/// What a read took.
#[derive(Debug, PartialEq, Eq)]
pub struct Taken {
    /// The bytes copied (at most the reader's length).
    pub data: Vec<u8>,
    /// The datagram's full length.
    pub full: usize,
}

/// An AF_NETLINK socket.
pub struct NetlinkFile {
    /// SOCK_DGRAM (else SOCK_RAW), for SO_TYPE.
    pub dgram: bool,
    /// The inode number fstat and /proc/PID/fd show.
    pub ino: u64,
    /// Readers waiting for an answer.
    pub readers: WaitQueue,
    state: Mutex<NlState>,
    kernel: Weak<Kernel>,
}

impl NlState {
    /// A new socket's state: unbound, nothing queued, Linux's default buffers.
    fn unbound() -> NlState {
        NlState {
            portid: 0,
            groups: 0,
            peer: (0, 0),
            opts: NlOpts::default(),
            rcvbuf: DEFAULT_BUF,
            sndbuf: DEFAULT_BUF,
            queue: VecDeque::new(),
            max_recvmsg_len: 0,
            pending_error: None,
        }
    }
}

impl NetlinkFile {
    /// A new, unbound socket of `k`.
    pub fn new(k: &Kernel, dgram: bool) -> NetlinkFile {
        NetlinkFile {
            dgram,
            ino: crate::net::unix::socket::next_socket_ino(),
            readers: WaitQueue::default(),
            state: Mutex::new(NlState::unbound()),
            kernel: k.weak(),
        }
    }

    /// The socket's state.
    pub fn state(&self) -> MutexGuard<'_, NlState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Binds to `portid`, or autobinds (the process's `pid` if free) for 0. Binding again to another
    /// id is EINVAL, as Linux.
    pub fn bind(&self, ports: &Ports, portid: u32, pid: u32) -> Result<u32, Errno> {
        let mut st = self.state();
        if st.portid != 0 {
            return if portid == 0 || portid == st.portid { Ok(st.portid) } else { Err(Errno::EINVAL) };
        }
        st.portid = if portid == 0 {
            ports.take_auto(pid)?
        } else {
            ports.take(portid)?;
            portid
        };
        Ok(st.portid)
    }

    /// The sender of a request from this socket (bound by now).
    pub fn sender(&self, net_admin: bool) -> Sender {
        let st = self.state();
        Sender { portid: st.portid, net_admin, cap_ack: st.opts.cap_ack }
    }

    /// Whether a dump is still being read.
    pub fn dumping(&self) -> bool {
        self.state().queue.iter().any(|q| matches!(q, Queued::Dump(_)))
    }

    /// Queues the answers to a request; answers that do not fit in SO_RCVBUF are dropped and the
    /// next read fails with ENOBUFS (unless NETLINK_NO_ENOBUFS), as Linux's netlink_overrun.
    pub fn queue(&self, replies: Vec<Reply>) {
        let mut st = self.state();
        let mut used: usize = st.queue.iter().map(Queued::bytes).sum();
        for r in replies {
            let q = match r {
                Reply::Datagram(d) => Queued::Datagram(d),
                Reply::Dump(ms) => Queued::Dump(ms.into()),
            };
            // A dump is made one datagram at a time in Linux: only its first must fit.
            let need = match &q {
                Queued::Datagram(d) => d.len(),
                Queued::Dump(ms) => ms.front().map_or(0, Vec::len),
            };
            if used + need > st.rcvbuf && !st.queue.is_empty() {
                if !st.opts.no_enobufs {
                    st.pending_error = Some(Errno::ENOBUFS);
                }
                continue;
            }
            used += q.bytes();
            st.queue.push_back(q);
        }
    }

    /// Whether a read would find something (an answer or an error).
    pub fn readable(&self) -> bool {
        let st = self.state();
        !st.queue.is_empty() || st.pending_error.is_some()
    }

    /// Takes (or with `peek`, copies) the next datagram for a reader with `len` bytes of room:
    /// EAGAIN when there is none.
    pub fn take(&self, len: usize, peek: bool) -> Result<Taken, Errno> {
        let mut st = self.state();
        if let Some(e) = st.pending_error.take() {
            return Err(e);
        }
        st.max_recvmsg_len = st.max_recvmsg_len.max(len).min(DUMP_MAX);
        let limit = st.max_recvmsg_len.max(NLMSG_GOODSIZE);
        // Turn the dump's next messages into the datagram this read (and a peek) sees.
        if let Some(Queued::Dump(ms)) = st.queue.front_mut() {
            let mut d = Vec::new();
            while let Some(m) = ms.front() {
                // Linux fills a datagram per pass of the dump and adds NLMSG_DONE (the last message)
                // on the pass that finds nothing more: in a datagram of its own after any others.
                if !d.is_empty() && (d.len() + m.len() > limit || ms.len() == 1) {
                    break;
                }
                d.extend_from_slice(m);
                ms.pop_front();
            }
            if ms.is_empty() {
                st.queue.pop_front();
            }
            st.queue.push_front(Queued::Datagram(d));
        }
        let d = match st.queue.front() {
            Some(Queued::Datagram(d)) => d,
            _ => return Err(Errno::EAGAIN),
        };
        let taken = Taken { data: d[..len.min(d.len())].to_vec(), full: d.len() };
        if !peek {
            st.queue.pop_front();
        }
        Ok(taken)
    }

    /// The size of the next datagram (FIONREAD/SIOCINQ), 0 when none.
    pub fn next_len(&self) -> usize {
        match self.state().queue.front() {
            Some(Queued::Datagram(d)) => d.len(),
            Some(Queued::Dump(ms)) => ms.front().map_or(0, Vec::len),
            None => 0,
        }
    }
}

impl Drop for NetlinkFile {
    fn drop(&mut self) {
        let portid = self.state().portid;
        if let (Some(k), true) = (self.kernel.upgrade(), portid != 0) {
            k.netlink.release(portid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump_of(n: usize, size: usize) -> Reply {
        Reply::Dump((0..n).map(|i| vec![i as u8; size]).collect())
    }

    fn state_only() -> NetlinkFile {
        NetlinkFile {
            dgram: false,
            ino: 1,
            readers: WaitQueue::default(),
            state: Mutex::new(NlState { portid: 5, ..NlState::unbound() }),
            kernel: Weak::new(),
        }
    }

    #[test]
    fn dumps_continue_over_reads_and_peek_sees_the_next_datagram() {
        let s = state_only();
        assert_eq!(s.take(100, false), Err(Errno::EAGAIN));
        s.queue(vec![dump_of(11, 1000), Reply::Datagram(vec![9; 20])]);
        assert!(s.readable());
        // A zero-length peek with MSG_TRUNC learns the size of the first datagram.
        let p = s.take(0, true).unwrap();
        assert_eq!((p.data.len(), p.full), (0, 3000));
        let t = s.take(8192, false).unwrap();
        assert_eq!(t.full, 3000, "the datagram the peek saw");
        // Larger reads get larger datagrams.
        let t = s.take(8192, false).unwrap();
        assert_eq!(t.full, 7000);
        assert_eq!(t.data, (3..10).flat_map(|i| vec![i as u8; 1000]).collect::<Vec<_>>());
        // The last message (NLMSG_DONE) comes alone.
        assert_eq!(s.take(8192, false).unwrap().data, vec![10; 1000]);
        assert_eq!(s.take(8192, false).unwrap().data, vec![9; 20]);
        assert!(!s.readable());
        // A short read truncates: the rest of that datagram is gone.
        s.queue(vec![Reply::Datagram(vec![1; 50]), Reply::Datagram(vec![2; 5])]);
        let t = s.take(10, false).unwrap();
        assert_eq!((t.data.len(), t.full), (10, 50));
        assert_eq!(s.take(10, false).unwrap().data, vec![2; 5]);
    }

    #[test]
    fn overflow_drops_and_reports_enobufs() {
        let s = state_only();
        s.state().rcvbuf = MIN_BUF;
        s.queue(vec![Reply::Datagram(vec![0; 2000]), Reply::Datagram(vec![0; 2000])]);
        assert_eq!(s.take(4096, false), Err(Errno::ENOBUFS));
        assert_eq!(s.take(4096, false).unwrap().full, 2000);
        assert_eq!(s.take(4096, false), Err(Errno::EAGAIN));
    }

    #[test]
    fn ports_autobind_to_the_pid_then_count_down() {
        let p = Ports::default();
        assert_eq!(p.take_auto(42), Ok(42));
        assert_eq!(p.take_auto(42), Ok(ROVER_START));
        assert_eq!(p.take_auto(42), Ok(ROVER_START - 1));
        assert_eq!(p.take(42), Err(Errno::EADDRINUSE));
        p.release(42);
        assert_eq!(p.take(42), Ok(()));
        assert_eq!(p.take(0), Err(Errno::EADDRINUSE));
    }
}
