//! The socket calls on AF_NETLINK sockets (Linux's net/netlink/af_netlink.c): NETLINK_ROUTE only,
//! SOCK_RAW or SOCK_DGRAM. A send hands the datagram to `net::netlink::process`, which answers it
//! from the VM's stack at once; the answers wait in the socket's queue (`net::netlink::socket`) for
//! the reads.

use std::sync::Arc;

use super::io::{gather, read_iov, Segments};
use super::unix::{put_name, scatter_at};
use super::{names::nr, Ctx};
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::net::netlink::socket::{NetlinkFile, MAX_BUF, MIN_BUF};
use crate::net::netlink::{process, NETLINK_ROUTE};
use crate::task::caps::CAP_NET_ADMIN;

/// `sizeof(struct sockaddr_nl)`.
const SOCKADDR_NL_LEN: usize = 12;
/// `sizeof(struct msghdr)` in 64-bit words.
const MSGHDR_WORDS: usize = 7;
/// How many netlink protocols Linux numbers (MAX_LINKS).
const MAX_LINKS: i32 = 32;
/// SOL_NETLINK and its options.
const SOL_NETLINK: i32 = 270;
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
const NETLINK_DROP_MEMBERSHIP: i32 = 2;
const NETLINK_PKTINFO: i32 = 3;
const NETLINK_BROADCAST_ERROR: i32 = 4;
const NETLINK_NO_ENOBUFS: i32 = 5;
const NETLINK_LISTEN_ALL_NSID: i32 = 8;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
const NETLINK_GET_STRICT_CHK: i32 = 12;

/// `socket(AF_NETLINK, type, protocol)`.
pub fn socket(ctx: &mut Ctx<'_>) -> SysResult {
    let raw = ctx.int(1);
    let flags = raw & !0xf;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let dgram = match raw & 0xf {
        libc::SOCK_RAW => false,
        libc::SOCK_DGRAM => true,
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    match ctx.int(2) {
        NETLINK_ROUTE => {}
        p if !(0..MAX_LINKS).contains(&p) => return Err(Errno::EPROTONOSUPPORT),
        p => {
            tracing::debug!("socket(AF_NETLINK, protocol {p}): only NETLINK_ROUTE is served");
            return Err(Errno::EPROTONOSUPPORT);
        }
    }
    let file = NetlinkFile::new(ctx.k, dgram);
    let fl = libc::O_RDWR | if flags & libc::SOCK_NONBLOCK != 0 { libc::O_NONBLOCK } else { 0 };
    let f = Arc::new(OpenFile::new(FileKind::Netlink(file), b"socket:".to_vec(), fl));
    ctx.k.netlink.register(&f);
    ctx.install(f, flags & libc::SOCK_CLOEXEC != 0)
}

/// A `struct sockaddr_nl`.
fn encode(pid: u32, groups: u32) -> Vec<u8> {
    let mut v = vec![0u8; SOCKADDR_NL_LEN];
    v[0..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
    v[4..8].copy_from_slice(&pid.to_ne_bytes());
    v[8..12].copy_from_slice(&groups.to_ne_bytes());
    v
}

/// Reads a guest `sockaddr_nl`: its port id and groups (EINVAL when short or of another family).
fn read_addr(ctx: &Ctx<'_>, addr: u64, len: u64) -> Result<(u32, u32), Errno> {
    if len < SOCKADDR_NL_LEN as u64 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; SOCKADDR_NL_LEN];
    ctx.mem.read(addr, &mut raw)?;
    if i32::from(u16::from_ne_bytes([raw[0], raw[1]])) != libc::AF_NETLINK {
        return Err(Errno::EINVAL);
    }
    let word = |at: usize| u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
    Ok((word(4), word(8)))
}

fn net_admin(ctx: &Ctx<'_>) -> bool {
    ctx.task.process.state().creds.capable(CAP_NET_ADMIN)
}

/// Binds the socket if it is not yet (Linux autobinds on send and connect).
fn autobind(ctx: &Ctx<'_>, s: &NetlinkFile) -> Result<u32, Errno> {
    s.bind(&ctx.k.netlink, 0, ctx.task.vpid() as u32)
}

/// Every call on a netlink socket fd, by syscall number.
pub fn on_socket(ctx: &mut Ctx<'_>, f: &Arc<OpenFile>, s: &NetlinkFile) -> SysResult {
    match ctx.regs.orig_rax {
        nr::BIND => {
            let (pid, groups) = read_addr(ctx, ctx.args[1], ctx.args[2])?;
            // Listening to groups other than the kernel's needs privileges Linux grants rtnetlink freely.
            s.bind(&ctx.k.netlink, pid, ctx.task.vpid() as u32)?;
            s.state().groups = groups;
            Ok(0)
        }
        nr::CONNECT => {
            let mut family = [0u8; 2];
            if ctx.args[2] >= 2 {
                ctx.mem.read(ctx.args[1], &mut family)?;
            }
            if ctx.args[2] >= 2 && i32::from(u16::from_ne_bytes(family)) == libc::AF_UNSPEC {
                s.state().peer = (0, 0);
                return Ok(0);
            }
            let (pid, groups) = read_addr(ctx, ctx.args[1], ctx.args[2])?;
            if groups != 0 && !net_admin(ctx) {
                return Err(Errno::EPERM);
            }
            autobind(ctx, s)?;
            s.state().peer = (pid, groups);
            Ok(0)
        }
        nr::GETSOCKNAME => {
            let st = s.state();
            let name = encode(st.portid, st.groups);
            drop(st);
            put_name(ctx, ctx.args[1], ctx.args[2], &name)
        }
        nr::GETPEERNAME => {
            let (pid, groups) = s.state().peer;
            put_name(ctx, ctx.args[1], ctx.args[2], &encode(pid, groups))
        }
        nr::LISTEN | nr::ACCEPT | nr::ACCEPT4 | nr::SHUTDOWN => Err(Errno::EOPNOTSUPP),
        nr::GETSOCKOPT => getsockopt(ctx, s),
        nr::SETSOCKOPT => setsockopt(ctx, s),
        nr::SENDTO => {
            let segs = vec![(ctx.args[1], ctx.args[2] as usize)];
            let to = if ctx.args[4] != 0 { Some(read_addr(ctx, ctx.args[4], ctx.args[5])?) } else { None };
            send(ctx, s, &segs, to)
        }
        nr::SENDMSG => sendmsg(ctx, s, ctx.args[1]),
        nr::RECVFROM => {
            let segs = vec![(ctx.args[1], ctx.args[2] as usize)];
            let (n, _) = recv(ctx, f, s, &segs, ctx.int(3))?;
            if ctx.args[4] != 0 {
                put_name(ctx, ctx.args[4], ctx.args[5], &encode(0, 0))?;
            }
            Ok(n as i64)
        }
        nr::RECVMSG => recvmsg(ctx, f, s, ctx.args[1], ctx.int(2)),
        nr::SENDMMSG => super::socket::sendmmsg_with(ctx, |ctx, at, _| sendmsg(ctx, s, at)),
        nr::RECVMMSG => super::socket::recvmmsg_with(ctx, |ctx, at, fl| recvmsg(ctx, f, s, at, fl)),
        _ => Err(Errno::ENOSYS),
    }
}

fn sendmsg(ctx: &mut Ctx<'_>, s: &NetlinkFile, at: u64) -> SysResult {
    let h: [u64; MSGHDR_WORDS] = ctx.mem.read_val(at)?;
    let segs: Segments = read_iov(ctx, h[2], h[3])?;
    let to = if h[0] != 0 && h[1] as u32 != 0 { Some(read_addr(ctx, h[0], u64::from(h[1] as u32))?) } else { None };
    send(ctx, s, &segs, to)
}

/// One datagram to the kernel (or, with a group, to nobody: only the kernel sends to groups here).
fn send(ctx: &mut Ctx<'_>, s: &NetlinkFile, segs: &[(u64, usize)], to: Option<(u32, u32)>) -> SysResult {
    let total: usize = segs.iter().map(|s| s.1).sum();
    let (pid, groups) = to.unwrap_or_else(|| s.state().peer);
    if groups != 0 && !net_admin(ctx) {
        return Err(Errno::EPERM);
    }
    if total > s.state().sndbuf.max(MIN_BUF) {
        return Err(Errno::EMSGSIZE);
    }
    autobind(ctx, s)?;
    if pid != 0 {
        // Only the kernel (port 0) answers here: no user port is reachable.
        return Err(Errno::ECONNREFUSED);
    }
    if groups != 0 {
        return Ok(total as i64);
    }
    let data = gather(ctx, segs, 0, total)?;
    let sender = s.sender(net_admin(ctx));
    let dumping = s.dumping();
    let k = ctx.k;
    // Listeners hear of a change before the requester's acknowledgement, as in Linux.
    let replies = k.inet.reconfigure(k, |st| Ok(process(st, &data, &sender, dumping)))?;
    if !replies.is_empty() {
        s.queue(replies);
        k.wake_all(&s.readers);
    }
    Ok(total as i64)
}

/// One datagram to the guest: the count the call returns and msg_flags.
fn recv(
    ctx: &mut Ctx<'_>,
    f: &OpenFile,
    s: &NetlinkFile,
    segs: &[(u64, usize)],
    flags: i32,
) -> Result<(usize, i32), Errno> {
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = f.nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let room: usize = segs.iter().map(|s| s.1).sum();
    let t = match s.take(room, flags & libc::MSG_PEEK != 0) {
        Ok(t) => t,
        Err(Errno::EAGAIN) if !nonblock => return Err(ctx.block_on(&s.readers)),
        Err(e) => return Err(e),
    };
    scatter_at(ctx, segs, 0, &t.data)?;
    let mflags = if t.full > t.data.len() { libc::MSG_TRUNC } else { 0 };
    let n = if flags & libc::MSG_TRUNC != 0 { t.full } else { t.data.len() };
    Ok((n, mflags))
}

fn recvmsg(ctx: &mut Ctx<'_>, f: &OpenFile, s: &NetlinkFile, at: u64, flags: i32) -> SysResult {
    let h: [u64; MSGHDR_WORDS] = ctx.mem.read_val(at)?;
    let segs: Segments = read_iov(ctx, h[2], h[3])?;
    let (n, mflags) = recv(ctx, f, s, &segs, flags)?;
    if h[0] != 0 {
        let name = encode(0, 0);
        let room = (h[1] as u32 as usize).min(name.len());
        ctx.mem.write(h[0], &name[..room])?;
        ctx.mem.write_val(at + 8, &(SOCKADDR_NL_LEN as u32))?;
    }
    // No ancillary data (NETLINK_PKTINFO's group of a multicast is not given).
    ctx.mem.write_val(at + 40, &0u64)?;
    ctx.mem.write_val(at + 48, &mflags)?;
    Ok(n as i64)
}

fn getsockopt(ctx: &mut Ctx<'_>, s: &NetlinkFile) -> SysResult {
    let (level, name, val, lenp) = (ctx.int(1), ctx.int(2), ctx.args[3], ctx.args[4]);
    let room: i32 = ctx.mem.read_val(lenp)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let st = s.state();
    let o = st.opts;
    let v: i32 = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => {
            if s.dgram {
                libc::SOCK_DGRAM
            } else {
                libc::SOCK_RAW
            }
        }
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => libc::AF_NETLINK,
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => NETLINK_ROUTE,
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => st.rcvbuf as i32,
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => st.sndbuf as i32,
        (libc::SOL_SOCKET, libc::SO_ERROR | libc::SO_PASSCRED | libc::SO_ACCEPTCONN) => 0,
        (SOL_NETLINK, NETLINK_PKTINFO) => i32::from(o.pktinfo),
        (SOL_NETLINK, NETLINK_BROADCAST_ERROR) => i32::from(o.broadcast_error),
        (SOL_NETLINK, NETLINK_NO_ENOBUFS) => i32::from(o.no_enobufs),
        (SOL_NETLINK, NETLINK_LISTEN_ALL_NSID) => i32::from(o.listen_all_nsid),
        (SOL_NETLINK, NETLINK_CAP_ACK) => i32::from(o.cap_ack),
        (SOL_NETLINK, NETLINK_EXT_ACK) => i32::from(o.ext_ack),
        (SOL_NETLINK, NETLINK_GET_STRICT_CHK) => i32::from(o.strict_chk),
        _ => return Err(Errno::ENOPROTOOPT),
    };
    drop(st);
    // Linux's netlink options want a whole int (EINVAL for less).
    if level == SOL_NETLINK && room < 4 {
        return Err(Errno::EINVAL);
    }
    let bytes = v.to_ne_bytes();
    let n = bytes.len().min(room as usize);
    ctx.mem.write(val, &bytes[..n])?;
    ctx.mem.write_val(lenp, &(n as u32))?;
    Ok(0)
}

fn setsockopt(ctx: &mut Ctx<'_>, s: &NetlinkFile) -> SysResult {
    let (level, name, val, len) = (ctx.int(1), ctx.int(2), ctx.args[3], ctx.args[4] as i32);
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    let v: i32 = ctx.mem.read_val(val)?;
    let admin = net_admin(ctx);
    let mut st = s.state();
    // Linux doubles the size asked for (room for its bookkeeping) and clamps it.
    let size = |v: i32, force: bool| {
        let want = (v.max(0) as usize).saturating_mul(2);
        if force {
            want.max(MIN_BUF)
        } else {
            want.clamp(MIN_BUF, MAX_BUF)
        }
    };
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => st.rcvbuf = size(v, false),
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => st.sndbuf = size(v, false),
        (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE | libc::SO_SNDBUFFORCE) if !admin => return Err(Errno::EPERM),
        (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE) => st.rcvbuf = size(v, true),
        (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE) => st.sndbuf = size(v, true),
        // Accepted as Linux accepts them; nothing here uses credentials, timestamps or priorities.
        (libc::SOL_SOCKET, libc::SO_PASSCRED | libc::SO_TIMESTAMP | libc::SO_PRIORITY | libc::SO_ATTACH_FILTER) => {}
        (SOL_NETLINK, NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP) => {
            // Groups 1..=32 fit the bind bitmap; larger ones have nothing to send either.
            if v == 0 {
                return Err(Errno::EINVAL);
            }
            if (1..=32).contains(&v) {
                let bit = 1u32 << (v - 1);
                if name == NETLINK_ADD_MEMBERSHIP {
                    st.groups |= bit;
                } else {
                    st.groups &= !bit;
                }
            }
        }
        (SOL_NETLINK, NETLINK_PKTINFO) => st.opts.pktinfo = v != 0,
        (SOL_NETLINK, NETLINK_BROADCAST_ERROR) => st.opts.broadcast_error = v != 0,
        (SOL_NETLINK, NETLINK_NO_ENOBUFS) => st.opts.no_enobufs = v != 0,
        (SOL_NETLINK, NETLINK_LISTEN_ALL_NSID) => st.opts.listen_all_nsid = v != 0,
        (SOL_NETLINK, NETLINK_CAP_ACK) => st.opts.cap_ack = v != 0,
        (SOL_NETLINK, NETLINK_EXT_ACK) => st.opts.ext_ack = v != 0,
        (SOL_NETLINK, NETLINK_GET_STRICT_CHK) => st.opts.strict_chk = v != 0,
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

/// read and readv on a netlink socket: recv with no flags.
pub fn read(ctx: &mut Ctx<'_>, f: &OpenFile, s: &NetlinkFile, segs: &[(u64, usize)]) -> SysResult {
    recv(ctx, f, s, segs, 0).map(|(n, _)| n as i64)
}

/// write and writev on a netlink socket: a send to the connected peer (the kernel by default).
pub fn write(ctx: &mut Ctx<'_>, _f: &OpenFile, s: &NetlinkFile, segs: &[(u64, usize)]) -> SysResult {
    send(ctx, s, segs, None)
}
