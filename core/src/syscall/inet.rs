//! The socket calls on AF_INET and AF_INET6 sockets (Linux's net/ipv4/af_inet.c and friends): the
//! guest's arguments are read and checked here, the sockets live in the VM's stack (`net::inet`). A call
//! that would block has queued its task on the stack's wait queue (under the stack's lock) and is re-run
//! when a poll changes some socket's readiness.

use std::sync::Arc;

use super::io::{gather, raise_sigpipe, read_iov, Segments};
use super::unix::{put_name, scatter_at};
use super::{names::nr, Ctx};
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::net::inet::{encode_addr, parse_addr, InetFile, OptFlag};
use crate::net::stack::{errno as net_errno, Protocol};
use crate::sched::wait::TaskRef;

/// The path open files of sockets carry.
const SOCKET_PATH: &[u8] = b"socket:";
/// The most one pass sends or receives (the rest on the next pass).
const CHUNK: usize = 256 * 1024;
/// The largest sockaddr a guest may pass (sizeof(struct sockaddr_storage)).
const SOCKADDR_MAX: u64 = 128;
/// `sizeof(struct msghdr)` in 64-bit words.
const MSGHDR_WORDS: usize = 7;
/// What SO_SNDBUF/SO_RCVBUF report by default (Linux's tcp_wmem/rmem defaults are near this).
const DEFAULT_BUF: i32 = 212_992;
/// IP_TTL's default (net.ipv4.ip_default_ttl).
const DEFAULT_TTL: i32 = 64;

fn socket_file(file: InetFile, nonblock: bool) -> Arc<OpenFile> {
    let flags = libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 };
    Arc::new(OpenFile::new(FileKind::Inet(file), SOCKET_PATH.to_vec(), flags))
}

/// `socket(AF_INET or AF_INET6, type, protocol)`.
pub fn socket(ctx: &mut Ctx<'_>, ipv6: bool) -> SysResult {
    let raw = ctx.int(1);
    let flags = raw & !0xf;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let icmp = if ipv6 { libc::IPPROTO_ICMPV6 } else { libc::IPPROTO_ICMP };
    let (proto, is_raw) = match (raw & 0xf, ctx.int(2)) {
        (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => (Protocol::Tcp, false),
        (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => (Protocol::Udp, false),
        // A ping socket: Linux allows it to the groups of net.ipv4.ping_group_range, which distributions
        // open to everyone.
        (libc::SOCK_DGRAM, p) if p == icmp => (Protocol::Icmp, false),
        (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
        (libc::SOCK_RAW, p) if p == icmp => {
            if !ctx.task.process.state().creds.capable(crate::task::caps::CAP_NET_RAW) {
                return Err(Errno::EPERM);
            }
            (Protocol::Icmp, true)
        }
        // Other raw protocols (and packet sockets) would need the stack to hand over whole packets.
        (libc::SOCK_RAW, _) => return Err(Errno::EPROTONOSUPPORT),
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    let file = InetFile::new(ctx.k, ipv6, proto, is_raw);
    ctx.install(socket_file(file, flags & libc::SOCK_NONBLOCK != 0), flags & libc::SOCK_CLOEXEC != 0)
}

/// Every call on an inet socket fd, by syscall number.
pub fn on_socket(ctx: &mut Ctx<'_>, f: &Arc<OpenFile>, s: &InetFile) -> SysResult {
    match ctx.regs.orig_rax {
        nr::BIND => {
            let addr = read_addr(ctx, s, ctx.args[1], ctx.args[2])?;
            let k = ctx.k;
            k.inet.with(k, None, |st| st.bind(s.id, addr)).map(|()| 0)
        }
        nr::CONNECT => connect(ctx, f, s),
        nr::LISTEN => {
            if s.proto != Protocol::Tcp {
                return Err(net_errno::EOPNOTSUPP);
            }
            let backlog = ctx.int(1);
            let k = ctx.k;
            k.inet.with(k, None, |st| st.tcp_listen(s.id, backlog)).map(|()| 0)
        }
        nr::ACCEPT => accept(ctx, f, s, 0),
        nr::ACCEPT4 => accept(ctx, f, s, ctx.int(3)),
        nr::GETSOCKNAME => {
            let k = ctx.k;
            let a = k.inet.with(k, None, |st| st.local_addr(s.id))?;
            put_name(ctx, ctx.args[1], ctx.args[2], &encode_addr(s.ipv6, a))
        }
        nr::GETPEERNAME => {
            let k = ctx.k;
            let a = k.inet.with(k, None, |st| st.peer_addr(s.id))?;
            put_name(ctx, ctx.args[1], ctx.args[2], &encode_addr(s.ipv6, a))
        }
        nr::SHUTDOWN => shutdown(ctx, s),
        nr::GETSOCKOPT => getsockopt(ctx, s),
        nr::SETSOCKOPT => setsockopt(ctx, s),
        nr::SENDTO => {
            let segs = vec![(ctx.args[1], ctx.args[2] as usize)];
            let to = if ctx.args[4] != 0 { Some(read_addr(ctx, s, ctx.args[4], ctx.args[5])?) } else { None };
            send(ctx, f, s, &segs, ctx.int(3), to)
        }
        nr::SENDMSG => sendmsg(ctx, f, s, ctx.args[1], ctx.int(2)),
        nr::RECVFROM => {
            let segs = vec![(ctx.args[1], ctx.args[2] as usize)];
            let (n, from, _) = recv(ctx, f, s, &segs, ctx.int(3))?;
            if ctx.args[4] != 0 {
                match from {
                    Some(a) => {
                        put_name(ctx, ctx.args[4], ctx.args[5], &encode_addr(s.ipv6, a))?;
                    }
                    None => ctx.mem.write_val(ctx.args[5], &0u32)?,
                }
            }
            Ok(n as i64)
        }
        nr::RECVMSG => recvmsg(ctx, f, s, ctx.args[1], ctx.int(2)),
        nr::SENDMMSG => super::socket::sendmmsg_with(ctx, |ctx, at, fl| sendmsg(ctx, f, s, at, fl)),
        nr::RECVMMSG => super::socket::recvmmsg_with(ctx, |ctx, at, fl| recvmsg(ctx, f, s, at, fl)),
        _ => Err(Errno::ENOSYS),
    }
}

fn sendmsg(ctx: &mut Ctx<'_>, f: &OpenFile, s: &InetFile, at: u64, flags: i32) -> SysResult {
    let h: [u64; MSGHDR_WORDS] = ctx.mem.read_val(at)?;
    let segs: Segments = read_iov(ctx, h[2], h[3])?;
    let to = if h[0] != 0 && h[1] as u32 != 0 { Some(read_addr(ctx, s, h[0], u64::from(h[1] as u32))?) } else { None };
    send(ctx, f, s, &segs, flags, to)
}

fn recvmsg(ctx: &mut Ctx<'_>, f: &OpenFile, s: &InetFile, at: u64, flags: i32) -> SysResult {
    let h: [u64; MSGHDR_WORDS] = ctx.mem.read_val(at)?;
    let segs: Segments = read_iov(ctx, h[2], h[3])?;
    let (n, from, mflags) = recv(ctx, f, s, &segs, flags)?;
    match (h[0], from) {
        (0, _) | (_, None) => ctx.mem.write_val(at + 8, &0u32)?,
        (name, Some(a)) => {
            put_name(ctx, name, at + 8, &encode_addr(s.ipv6, a))?;
        }
    }
    // No ancillary data: msg_controllen 0.
    ctx.mem.write_val(at + 40, &0u64)?;
    ctx.mem.write_val(at + 48, &mflags)?;
    Ok(n as i64)
}

/// Reads a guest sockaddr for this socket.
fn read_addr(ctx: &Ctx<'_>, s: &InetFile, addr: u64, len: u64) -> Result<std::net::SocketAddr, Errno> {
    if len > SOCKADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    ctx.mem.read(addr, &mut raw)?;
    parse_addr(s.ipv6, &raw)
}

/// Registers the caller for a wake-up unless the call is non-blocking.
fn waiter(ctx: &Ctx<'_>, nonblock: bool) -> Option<TaskRef> {
    (!nonblock).then_some(ctx.me)
}

/// Turns "would block" into the caller's wait (registered already) or EAGAIN.
fn would_block(ctx: &mut Ctx<'_>, e: Errno, nonblock: bool) -> Errno {
    if e == Errno::EAGAIN && !nonblock {
        ctx.block_forever()
    } else {
        e
    }
}

fn connect(ctx: &mut Ctx<'_>, f: &OpenFile, s: &InetFile) -> SysResult {
    let k = ctx.k;
    let id = s.id;
    let mut family = [0u8; 2];
    if ctx.args[2] >= 2 {
        ctx.mem.read(ctx.args[1], &mut family)?;
    }
    let unspec = ctx.args[2] >= 2 && i32::from(u16::from_ne_bytes(family)) == libc::AF_UNSPEC;
    if s.proto == Protocol::Udp {
        let to = if unspec { None } else { Some(read_addr(ctx, s, ctx.args[1], ctx.args[2])?) };
        return k.inet.with(k, None, |st| st.udp_connect(id, to)).map(|()| 0);
    }
    let nonblock = f.nonblocking();
    // A blocking connect re-run after its wait only looks at how the connection went.
    if ctx.progress == 0 {
        if unspec {
            return Err(Errno::EAFNOSUPPORT);
        }
        let to = read_addr(ctx, s, ctx.args[1], ctx.args[2])?;
        k.inet.with(k, None, |st| st.tcp_connect(id, to))?;
        if nonblock {
            return Err(Errno(libc::EINPROGRESS));
        }
        ctx.progress = 1;
    }
    let me = ctx.me;
    let r = k.inet.with(k, Some(me), |st| {
        if let Some(e) = st.take_error(id) {
            return Err(e);
        }
        match st.tcp_state(id) {
            // SYN_SENT and SYN_RECV: still under way.
            Some(2 | 3) => Err(Errno::EAGAIN),
            _ => Ok(()),
        }
    });
    match r {
        Ok(()) => Ok(0),
        Err(e) => Err(would_block(ctx, e, false)),
    }
}

fn accept(ctx: &mut Ctx<'_>, f: &OpenFile, s: &InetFile, flags: i32) -> SysResult {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if s.proto != Protocol::Tcp {
        return Err(net_errno::EOPNOTSUPP);
    }
    let nonblock = f.nonblocking();
    let k = ctx.k;
    let (id, peer) = match k.inet.with(k, waiter(ctx, nonblock), |st| st.tcp_accept(s.id)) {
        Ok(r) => r,
        Err(e) => return Err(would_block(ctx, e, nonblock)),
    };
    let file = InetFile::adopt(k, id, s.ipv6, Protocol::Tcp);
    let fd = ctx.install(socket_file(file, flags & libc::SOCK_NONBLOCK != 0), flags & libc::SOCK_CLOEXEC != 0)?;
    if ctx.args[1] != 0 {
        if let Err(e) = put_name(ctx, ctx.args[1], ctx.args[2], &encode_addr(s.ipv6, peer)) {
            let _ = ctx.task.files.lock().remove(fd as i32);
            return Err(e);
        }
    }
    Ok(fd)
}

fn shutdown(ctx: &mut Ctx<'_>, s: &InetFile) -> SysResult {
    let how = ctx.int(1);
    let (read, write) = match how {
        libc::SHUT_RD => (true, false),
        libc::SHUT_WR => (false, true),
        libc::SHUT_RDWR => (true, true),
        _ => return Err(Errno::EINVAL),
    };
    let k = ctx.k;
    match s.proto {
        Protocol::Tcp => k.inet.with(k, None, |st| st.tcp_shutdown(s.id, read, write)).map(|()| 0),
        // A datagram socket has no connection to end; Linux answers ENOTCONN unless connected.
        _ => k.inet.with(k, None, |st| st.peer_addr(s.id)).map(|_| 0),
    }
}

/// One send: the bytes of `segs` over the connection or to `to`. A long stream send goes in pieces as
/// room appears, its progress kept across the call's re-runs.
fn send(
    ctx: &mut Ctx<'_>,
    f: &OpenFile,
    s: &InetFile,
    segs: &[(u64, usize)],
    flags: i32,
    to: Option<std::net::SocketAddr>,
) -> SysResult {
    if flags & libc::MSG_OOB != 0 {
        return Err(net_errno::EOPNOTSUPP);
    }
    let nonblock = f.nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let total: usize = segs.iter().map(|s| s.1).sum();
    let k = ctx.k;
    let id = s.id;
    if s.proto == Protocol::Icmp {
        let data = gather(ctx, segs, 0, total)?;
        return match k.inet.with(k, waiter(ctx, nonblock), |st| icmp_send(st, s, data, to)) {
            Ok(n) => Ok(n as i64),
            Err(e) => Err(would_block(ctx, e, nonblock)),
        };
    }
    if s.proto == Protocol::Udp {
        let data = gather(ctx, segs, 0, total)?;
        return match k.inet.with(k, waiter(ctx, nonblock), |st| st.udp_send_to(id, &data, to)) {
            Ok(n) => Ok(n as i64),
            Err(e) => Err(would_block(ctx, e, nonblock)),
        };
    }
    // Linux ignores a TCP destination once connected (and refuses one when not).
    let mut done = ctx.progress;
    loop {
        let chunk = (total - done).min(CHUNK);
        let data = gather(ctx, segs, done, chunk)?;
        match k.inet.with(k, waiter(ctx, nonblock), |st| st.tcp_send(id, &data)) {
            Ok(n) => {
                done += n;
                ctx.progress = done;
                if done >= total || n == 0 {
                    return Ok(done as i64);
                }
            }
            Err(e) if e == net_errno::EPIPE => {
                if flags & libc::MSG_NOSIGNAL == 0 {
                    raise_sigpipe(ctx);
                }
                return if done > 0 { Ok(done as i64) } else { Err(e) };
            }
            Err(Errno::EAGAIN) if done > 0 && nonblock => return Ok(done as i64),
            Err(e) if e != Errno::EAGAIN && done > 0 => return Ok(done as i64),
            Err(e) => return Err(would_block(ctx, e, nonblock)),
        }
    }
}

/// One receive into `segs`: the value the call returns, the sender (datagrams), and msg_flags.
fn recv(
    ctx: &mut Ctx<'_>,
    f: &OpenFile,
    s: &InetFile,
    segs: &[(u64, usize)],
    flags: i32,
) -> Result<(usize, Option<std::net::SocketAddr>, i32), Errno> {
    if flags & libc::MSG_OOB != 0 {
        return Err(net_errno::EOPNOTSUPP);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    let nonblock = f.nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let max: usize = segs.iter().map(|s| s.1).sum();
    let k = ctx.k;
    let id = s.id;
    if s.proto == Protocol::Icmp {
        if peek {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut buf = vec![0u8; 65536];
        let (m, packet) = match k.inet.with(k, waiter(ctx, nonblock), |st| icmp_recv(st, s, &mut buf)) {
            Ok(r) => r,
            Err(e) => return Err(would_block(ctx, e, nonblock)),
        };
        let n = packet.len().min(max);
        scatter_at(ctx, segs, 0, &packet[..n])?;
        let mflags = if packet.len() > n { libc::MSG_TRUNC } else { 0 };
        let n = if flags & libc::MSG_TRUNC != 0 { packet.len() } else { n };
        return Ok((n, Some(m.from), mflags));
    }
    if s.proto == Protocol::Udp {
        let mut buf = vec![0u8; max.min(65536)];
        let m = match k.inet.with(k, waiter(ctx, nonblock), |st| {
            if peek {
                st.udp_peek_from(id, &mut buf)
            } else {
                st.udp_recv_from(id, &mut buf)
            }
        }) {
            Ok(m) => m,
            Err(e) => return Err(would_block(ctx, e, nonblock)),
        };
        scatter_at(ctx, segs, 0, &buf[..m.len])?;
        let mflags = if m.full_len > m.len { libc::MSG_TRUNC } else { 0 };
        let n = if flags & libc::MSG_TRUNC != 0 { m.full_len } else { m.len };
        return Ok((n, Some(m.from), mflags));
    }
    let waitall = flags & libc::MSG_WAITALL != 0 && !nonblock && !peek;
    let mut done = ctx.progress;
    loop {
        let mut buf = vec![0u8; (max - done).min(CHUNK)];
        let r = k.inet.with(k, waiter(ctx, nonblock), |st| {
            if peek {
                st.tcp_peek(id, &mut buf)
            } else {
                st.tcp_recv(id, &mut buf)
            }
        });
        let n = match r {
            Ok(n) => n,
            Err(e) if done > 0 && e != Errno::EAGAIN => return Ok((done, None, 0)),
            Err(e) => return Err(would_block(ctx, e, nonblock)),
        };
        scatter_at(ctx, segs, done, &buf[..n])?;
        done += n;
        ctx.progress = done;
        if !waitall || n == 0 || done >= max {
            return Ok((done, None, 0));
        }
    }
}

/// Sends an ICMP echo message. A ping socket gets an identifier of its own (its "port") on first use,
/// which replaces the message's, as Linux's ping_v4_sendmsg does; a raw socket's message goes as given.
/// The stack computes the checksum either way.
fn icmp_send(
    st: &mut crate::net::stack::Stack,
    s: &InetFile,
    mut data: Vec<u8>,
    to: Option<std::net::SocketAddr>,
) -> Result<usize, Errno> {
    let dst = match to {
        Some(a) => a.ip(),
        None => st.peer_addr(s.id).map_err(|_| net_errno::EDESTADDRREQ)?.ip(),
    };
    if !s.raw && data.len() >= 8 {
        let wildcard = if s.ipv6 { "[::]:0" } else { "0.0.0.0:0" };
        if st.local_addr(s.id)?.port() == 0 {
            st.bind(s.id, wildcard.parse().map_err(|_| Errno::EINVAL)?)?;
        }
        let ident = st.local_addr(s.id)?.port();
        data[4..6].copy_from_slice(&ident.to_be_bytes());
    }
    // A ping socket takes echo requests only (Linux: EINVAL for anything else).
    let echo_request = if s.ipv6 { 128 } else { 8 };
    if !s.raw && data.first() != Some(&echo_request) {
        return Err(Errno::EINVAL);
    }
    st.icmp_send_to(s.id, &data, dst)
}

/// Receives one ICMP message: a raw IPv4 socket sees it behind an IPv4 header, as Linux's raw sockets
/// deliver packets.
fn icmp_recv(
    st: &mut crate::net::stack::Stack,
    s: &InetFile,
    buf: &mut [u8],
) -> Result<(crate::net::stack::RecvMeta, Vec<u8>), Errno> {
    let m = st.icmp_recv_from(s.id, buf)?;
    let message = &buf[..m.len];
    if !s.raw || s.ipv6 {
        return Ok((m, message.to_vec()));
    }
    let (std::net::IpAddr::V4(src), Ok(nic)) = (m.from.ip(), st.route(m.from.ip())) else {
        return Ok((m, message.to_vec()));
    };
    let dst = match st.nics()[nic].source_for(m.from.ip()) {
        Some(std::net::IpAddr::V4(d)) => d,
        _ => std::net::Ipv4Addr::UNSPECIFIED,
    };
    Ok((m, ipv4_header(src, dst, message)))
}

/// `message` behind an IPv4 header from `src` to `dst`. smoltcp does not hand on the received header;
/// its TTL is shown as 64, the initial TTL of Linux (and UML) senders, which is what a host on the same
/// link receives.
fn ipv4_header(src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr, message: &[u8]) -> Vec<u8> {
    let total = (20 + message.len()).min(usize::from(u16::MAX)) as u16;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, libc::IPPROTO_ICMP as u8, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut sum: u32 = p.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p.extend_from_slice(&message[..usize::from(total) - 20]);
    p
}

fn getsockopt(ctx: &mut Ctx<'_>, s: &InetFile) -> SysResult {
    let (level, name, val, lenp) = (ctx.int(1), ctx.int(2), ctx.args[3], ctx.args[4]);
    let room: i32 = ctx.mem.read_val(lenp)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let k = ctx.k;
    let id = s.id;
    let zeros = |n: usize| -> SysResult {
        let n = n.min(room as usize);
        ctx.mem.write(val, &vec![0u8; n])?;
        ctx.mem.write_val(lenp, &(n as u32))?;
        Ok(0)
    };
    match (level, name) {
        // struct linger {0, 0} and a struct timeval of 0: no linger, no timeout.
        (libc::SOL_SOCKET, libc::SO_LINGER) => return zeros(8),
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) => return zeros(16),
        _ => {}
    }
    let flag = |o: OptFlag| i32::from(s.opts.load(std::sync::atomic::Ordering::Relaxed) & o as u8 != 0);
    let v: i32 = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => match s.proto {
            Protocol::Tcp => libc::SOCK_STREAM,
            Protocol::Icmp if s.raw => libc::SOCK_RAW,
            _ => libc::SOCK_DGRAM,
        },
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => s.family(),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => match s.proto {
            Protocol::Tcp => libc::IPPROTO_TCP,
            Protocol::Udp => libc::IPPROTO_UDP,
            Protocol::Icmp if s.ipv6 => libc::IPPROTO_ICMPV6,
            Protocol::Icmp => libc::IPPROTO_ICMP,
        },
        (libc::SOL_SOCKET, libc::SO_ERROR) => k.inet.with(k, None, |st| Ok(st.take_error(id)))?.map_or(0, |e| e.0),
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => {
            i32::from(k.inet.with(k, None, |st| Ok(st.tcp_state(id)))? == Some(10))
        }
        // Linux reports twice what was asked (its bookkeeping overhead); the stack's buffer holds what
        // was asked.
        (libc::SOL_SOCKET, libc::SO_SNDBUF | libc::SO_RCVBUF) if s.proto == Protocol::Tcp => {
            let o = k.inet.with(k, None, |st| Ok(st.sock_opts(id)))?;
            let set = if name == libc::SO_RCVBUF { o.rx_buffer } else { o.tx_buffer };
            set.map_or(DEFAULT_BUF, |b| (b * 2).min(i32::MAX as usize) as i32)
        }
        (libc::SOL_SOCKET, libc::SO_SNDBUF | libc::SO_RCVBUF) => DEFAULT_BUF,
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => flag(OptFlag::ReuseAddr),
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => flag(OptFlag::KeepAlive),
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => 0,
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) if s.proto == Protocol::Tcp => flag(OptFlag::NoDelay),
        (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => {
            let o = k.inet.with(k, None, |st| Ok(st.sock_opts(id)))?;
            o.hop_limit.map_or(DEFAULT_TTL, i32::from)
        }
        (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) if s.ipv6 => 0,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    let bytes = v.to_le_bytes();
    let n = bytes.len().min(room as usize);
    ctx.mem.write(val, &bytes[..n])?;
    ctx.mem.write_val(lenp, &(n as u32))?;
    Ok(0)
}

fn setsockopt(ctx: &mut Ctx<'_>, s: &InetFile) -> SysResult {
    let (level, name, val, len) = (ctx.int(1), ctx.int(2), ctx.args[3], ctx.args[4] as i32);
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    let v: i32 = ctx.mem.read_val(val)?;
    let k = ctx.k;
    let id = s.id;
    let remember = |o: OptFlag| {
        if v != 0 {
            s.opts.fetch_or(o as u8, std::sync::atomic::Ordering::Relaxed);
        } else {
            s.opts.fetch_and(!(o as u8), std::sync::atomic::Ordering::Relaxed);
        }
    };
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => {
            k.inet.with(k, None, |st| st.set_reuse_addr(id, v != 0))?;
            remember(OptFlag::ReuseAddr);
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) if s.proto == Protocol::Tcp => {
            k.inet.with(k, None, |st| st.tcp_set_keepalive(id, v != 0))?;
            remember(OptFlag::KeepAlive);
        }
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) if s.proto == Protocol::Tcp => {
            k.inet.with(k, None, |st| st.tcp_set_nodelay(id, v != 0))?;
            remember(OptFlag::NoDelay);
        }
        (libc::SOL_SOCKET, libc::SO_SNDBUF | libc::SO_RCVBUF) if s.proto == Protocol::Tcp => {
            let rx = name == libc::SO_RCVBUF;
            k.inet.with(k, None, |st| st.set_buffer_size(id, rx, v.max(0) as usize))?;
        }
        // -1 is the default again; 0 and over 255 are EINVAL, as in Linux.
        (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => {
            let hops = match v {
                -1 => None,
                1..=255 => Some(v as u8),
                _ => return Err(Errno::EINVAL),
            };
            k.inet.with(k, None, |st| st.set_hop_limit(id, hops))?;
        }
        // Accepted as Linux accepts them: datagram sockets keep the stack's buffer sizes.
        (
            libc::SOL_SOCKET,
            libc::SO_SNDBUF
            | libc::SO_RCVBUF
            | libc::SO_KEEPALIVE
            | libc::SO_REUSEPORT
            | libc::SO_BROADCAST
            | libc::SO_LINGER
            | libc::SO_RCVTIMEO
            | libc::SO_SNDTIMEO
            | libc::SO_PRIORITY,
        )
        | (libc::IPPROTO_IP, libc::IP_TOS | libc::IP_MULTICAST_TTL | libc::IP_RECVERR)
        // ping's ICMP_FILTER (raw ICMP sockets; its level is SOL_RAW) and ICMPV6_FILTER: the stack
        // delivers only echo replies to ICMP sockets anyway.
        | (libc::SOL_RAW, 1)
        | (libc::IPPROTO_ICMPV6, 1)
        | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR | libc::IPV6_CHECKSUM | libc::IPV6_RECVHOPLIMIT)
        | (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => {}
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

/// read and readv on a socket: recv with no flags.
pub fn read(ctx: &mut Ctx<'_>, f: &OpenFile, s: &InetFile, segs: &[(u64, usize)]) -> SysResult {
    recv(ctx, f, s, segs, 0).map(|(n, _, _)| n as i64)
}

/// write and writev on a socket: send with no flags.
pub fn write(ctx: &mut Ctx<'_>, f: &OpenFile, s: &InetFile, segs: &[(u64, usize)]) -> SysResult {
    send(ctx, f, s, segs, 0, None)
}

/// The ioctls of an inet socket itself (the SIOC* device requests are `netdev_ioctl`'s): FIONREAD
/// (SIOCINQ) and TIOCOUTQ (SIOCOUTQ). ENOTTY for anything else.
pub fn ioctl(ctx: &mut Ctx<'_>, s: &InetFile, req: u64, arg: u64) -> SysResult {
    let k = ctx.k;
    let id = s.id;
    let n = match req {
        libc::FIONREAD => k.inet.with(k, None, |st| st.recv_queue_len(id))?,
        libc::TIOCOUTQ => k.inet.with(k, None, |st| st.send_queue_len(id))?,
        _ => return Err(Errno::ENOTTY),
    };
    ctx.mem.write_val(arg, &(n.min(i32::MAX as usize) as i32))?;
    Ok(0)
}
