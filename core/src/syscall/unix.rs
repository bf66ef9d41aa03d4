//! The socket calls on AF_UNIX sockets (Linux's net/socket.c over
//! net/unix/af_unix.c): the guest's arguments are read and checked here,
//! the sockets themselves live in `net::unix`. A call that would block
//! has registered its wait on the socket's queue and is re-run when that
//! queue is woken; a signal ends the wait as for pipes.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use super::io::{gather, raise_sigpipe, read_iov, Segments};
use super::{dac, names::nr, Ctx, Node};
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::net::unix::address::SOCKADDR_UN_LEN;
use crate::net::unix::ancillary::{self, Ancillary, ControlIn, ControlOut, Cred, SenderIds};
use crate::net::unix::socket::{Conn, DEFAULT_BUF, MIN_BUF};
use crate::net::unix::stream::Received;
use crate::net::unix::{dgram, stream, NameKey, SockType, UnixAddr, UnixFile, UnixSocket};
use crate::task::caps;

/// The path open files of sockets carry.
const SOCKET_PATH: &[u8] = b"socket:";
/// The most a stream send queues per pass (the rest on the next pass).
const SEND_CHUNK: usize = 1 << 20;

/// The calling process's credentials as a peer sees them: SO_PEERCRED
/// shows the effective ids, SCM_CREDENTIALS the real ones.
fn cred(ctx: &Ctx<'_>, effective: bool) -> Cred {
    let st = ctx.task.process.state();
    let c = &st.creds;
    let (uid, gid) = if effective { (c.euid, c.egid) } else { (c.uid, c.gid) };
    Cred { pid: ctx.task.vpid(), uid, gid }
}

fn socket_file(sock: Arc<UnixSocket>, nonblock: bool) -> Arc<OpenFile> {
    let flags = libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 };
    Arc::new(OpenFile::new(FileKind::Unix(UnixFile { sock }), SOCKET_PATH.to_vec(), flags))
}

/// Splits socket's type argument: the type, SOCK_NONBLOCK, SOCK_CLOEXEC.
fn split_type(raw: i32) -> Result<(SockType, bool, bool), Errno> {
    let flags = raw & !0xf;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let ty = SockType::from_raw(raw & 0xf)?;
    Ok((ty, flags & libc::SOCK_NONBLOCK != 0, flags & libc::SOCK_CLOEXEC != 0))
}

fn check_protocol(p: i32) -> Result<(), Errno> {
    if p != 0 && p != libc::PF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok(())
}

/// `socket(AF_UNIX, type, protocol)`.
pub fn socket(ctx: &mut Ctx<'_>) -> SysResult {
    let (ty, nonblock, cloexec) = split_type(ctx.int(1))?;
    check_protocol(ctx.int(2))?;
    ctx.install(socket_file(UnixSocket::new(ctx.k, ty), nonblock), cloexec)
}

/// `socketpair(AF_UNIX, type, protocol, sv)`.
pub fn socketpair(ctx: &mut Ctx<'_>) -> SysResult {
    let (ty, nonblock, cloexec) = split_type(ctx.int(1))?;
    check_protocol(ctx.int(2))?;
    let (a, b) = UnixSocket::pair(ctx.k, ty, cred(ctx, true));
    let fa = ctx.install(socket_file(a, nonblock), cloexec)? as i32;
    let fb = match ctx.install(socket_file(b, nonblock), cloexec) {
        Ok(fd) => fd as i32,
        Err(e) => {
            let _ = ctx.task.files.lock().remove(fa);
            return Err(e);
        }
    };
    if let Err(e) = ctx.mem.write_val(ctx.args[3], &[fa, fb]) {
        let mut files = ctx.task.files.lock();
        let _ = files.remove(fa);
        let _ = files.remove(fb);
        return Err(e);
    }
    Ok(0)
}

/// Every call on an AF_UNIX socket fd, by syscall number.
pub fn on_socket(ctx: &mut Ctx<'_>, f: &Arc<OpenFile>, sock: &Arc<UnixSocket>) -> SysResult {
    match ctx.regs.orig_rax {
        nr::BIND => bind(ctx, sock),
        nr::CONNECT => connect(ctx, f, sock),
        nr::LISTEN => sock.listen(ctx.int(1), cred(ctx, true)).map(|()| 0),
        nr::ACCEPT => accept(ctx, f, sock, 0),
        nr::ACCEPT4 => accept(ctx, f, sock, ctx.int(3)),
        nr::GETSOCKNAME => {
            let addr = sock.lock().addr.clone();
            put_name(ctx, ctx.args[1], ctx.args[2], &addr.encode())
        }
        nr::GETPEERNAME => {
            let peer = sock.lock().peer().ok_or(Errno::ENOTCONN)?;
            let addr = peer.lock().addr.clone();
            put_name(ctx, ctx.args[1], ctx.args[2], &addr.encode())
        }
        nr::SHUTDOWN => sock.shutdown(ctx.int(1)).map(|()| 0),
        nr::GETSOCKOPT => getsockopt(ctx, sock),
        nr::SETSOCKOPT => setsockopt(ctx, sock),
        nr::SENDTO => {
            let segs = vec![(ctx.args[1], ctx.args[2] as usize)];
            let to = if ctx.args[4] != 0 { Some(read_name(ctx, ctx.args[4], ctx.args[5])?) } else { None };
            send(ctx, f, sock, &segs, ctx.int(3), to, None)
        }
        nr::SENDMSG => sendmsg(ctx, f, sock, ctx.args[1], ctx.int(2)),
        nr::SENDMMSG => super::socket::sendmmsg_with(ctx, |ctx, at, fl| sendmsg(ctx, f, sock, at, fl)),
        nr::RECVFROM => {
            let segs = vec![(ctx.args[1], ctx.args[2] as usize)];
            let (n, r, _) = recv(ctx, f, sock, &segs, ctx.int(3))?;
            if ctx.args[4] != 0 {
                put_from(ctx, ctx.args[4], ctx.args[5], &r)?;
            }
            Ok(n as i64)
        }
        nr::RECVMSG => recvmsg(ctx, f, sock, ctx.args[1], ctx.int(2)),
        nr::RECVMMSG => super::socket::recvmmsg_with(ctx, |ctx, at, fl| recvmsg(ctx, f, sock, at, fl)),
        _ => Err(Errno::ENOSYS),
    }
}

/// Reads a guest sockaddr of `len` bytes as an AF_UNIX name.
fn read_name(ctx: &Ctx<'_>, addr: u64, len: u64) -> Result<UnixAddr, Errno> {
    let len = usize::try_from(len).ok().filter(|&l| l <= 128).ok_or(Errno::EINVAL)?;
    let mut raw = vec![0u8; len];
    ctx.mem.read(addr, &mut raw)?;
    if len > SOCKADDR_UN_LEN {
        raw.truncate(SOCKADDR_UN_LEN);
    }
    UnixAddr::parse(&raw)
}

/// Writes a name to a guest (sockaddr, socklen_t*) pair: as much as fits,
/// and its whole length.
pub(super) fn put_name(ctx: &Ctx<'_>, addr: u64, lenp: u64, name: &[u8]) -> SysResult {
    let room: i32 = ctx.mem.read_val(lenp)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let n = name.len().min(room as usize);
    ctx.mem.write(addr, &name[..n])?;
    ctx.mem.write_val(lenp, &(name.len() as u32))?;
    Ok(0)
}

/// The name recvfrom reports: the sender's, none for an unnamed one.
fn put_from(ctx: &Ctx<'_>, addr: u64, lenp: u64, r: &Received) -> Result<(), Errno> {
    match r.from.as_ref().filter(|a| **a != UnixAddr::Unnamed) {
        Some(a) => put_name(ctx, addr, lenp, &a.encode()).map(|_| ()),
        None => ctx.mem.write_val(lenp, &0u32),
    }
}

/// The socket bound to `name`: ECONNREFUSED when none is; a path must
/// lead to a socket file.
fn find(ctx: &Ctx<'_>, name: &UnixAddr) -> Result<Arc<UnixSocket>, Errno> {
    let key = match name {
        UnixAddr::Unnamed => return Err(Errno::EINVAL),
        UnixAddr::Abstract(n) => NameKey::Abstract(n.clone()),
        UnixAddr::Path(p) => {
            let st = match ctx.node_at(libc::AT_FDCWD, p, true)? {
                Node::Host(l) => l.existing()?,
                Node::Ext2(l) => l.stat()?,
            };
            if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                return Err(Errno::ECONNREFUSED);
            }
            NameKey::Inode(st.st_dev, st.st_ino)
        }
    };
    ctx.k.unix.lookup(&key).ok_or(Errno::ECONNREFUSED)
}

/// Makes the socket file a path bind names (EADDRINUSE when the name
/// exists) and returns where the names table finds it.
fn make_socket_node(ctx: &mut Ctx<'_>, path: &[u8]) -> Result<NameKey, Errno> {
    let mode = libc::S_IFSOCK | 0o777;
    match ctx.node_at(libc::AT_FDCWD, path, false)? {
        Node::Ext2(l) => {
            if l.inode.is_some() {
                return Err(Errno::EADDRINUSE);
            }
            super::ext2::mknod(ctx, l, mode, 0)?;
        }
        Node::Host(l) => {
            // A lookup that does not follow the last link leaves its stat
            // to the caller.
            if l.lstat().is_ok() {
                return Err(Errno::EADDRINUSE);
            }
            super::mount::creatable(ctx, &l)?;
            dac::may_create(dac::fs_who(ctx).as_ref(), &l)?;
            let perm = mode & !ctx.task.fs.lock().umask;
            // SAFETY: the name is a C string and the dir fd is open.
            let r = unsafe { libc::mknodat(l.dir.as_raw_fd(), l.name.as_ptr(), perm, 0) };
            if r < 0 {
                let e = Errno::last();
                return Err(if e == Errno::EEXIST { Errno::EADDRINUSE } else { e });
            }
            dac::own_new(ctx, &l, None, perm);
        }
    }
    let st = match ctx.node_at(libc::AT_FDCWD, path, false)? {
        Node::Host(l) => l.lstat()?,
        Node::Ext2(l) => l.stat()?,
    };
    Ok(NameKey::Inode(st.st_dev, st.st_ino))
}

fn bind(ctx: &mut Ctx<'_>, sock: &Arc<UnixSocket>) -> SysResult {
    let name = read_name(ctx, ctx.args[1], ctx.args[2])?;
    if sock.lock().addr != UnixAddr::Unnamed {
        return Err(Errno::EINVAL);
    }
    let (addr, key) = match name {
        UnixAddr::Unnamed => {
            let n = ctx.k.unix.autobind(sock)?;
            (UnixAddr::Abstract(n.clone()), NameKey::Abstract(n))
        }
        UnixAddr::Abstract(n) => {
            let key = NameKey::Abstract(n.clone());
            ctx.k.unix.bind(key.clone(), sock)?;
            (UnixAddr::Abstract(n), key)
        }
        UnixAddr::Path(p) => {
            let key = make_socket_node(ctx, &p)?;
            ctx.k.unix.bind(key.clone(), sock)?;
            (UnixAddr::Path(p), key)
        }
    };
    let mut s = sock.lock();
    s.addr = addr;
    s.key = Some(key);
    Ok(0)
}

/// Registers the caller for a wake-up unless the call is non-blocking.
fn waiter(ctx: &Ctx<'_>, nonblock: bool) -> Option<crate::sched::wait::TaskRef> {
    (!nonblock).then_some(ctx.me)
}

/// Turns a socket's "would block" into the caller's wait (its wait is
/// registered already) or EAGAIN.
fn would_block(ctx: &mut Ctx<'_>, e: Errno, nonblock: bool) -> Errno {
    if e == Errno::EAGAIN && !nonblock {
        ctx.block_forever()
    } else {
        e
    }
}

fn connect(ctx: &mut Ctx<'_>, f: &OpenFile, sock: &Arc<UnixSocket>) -> SysResult {
    let mut raw = [0u8; 2];
    if ctx.args[2] >= 2 {
        ctx.mem.read(ctx.args[1], &mut raw)?;
    }
    if sock.ty == SockType::Dgram && ctx.args[2] >= 2 && u16::from_le_bytes(raw) == libc::AF_UNSPEC as u16 {
        return dgram::connect(sock, None).map(|()| 0);
    }
    let name = read_name(ctx, ctx.args[1], ctx.args[2])?;
    let target = find(ctx, &name)?;
    if sock.ty == SockType::Dgram {
        return dgram::connect(sock, Some(target)).map(|()| 0);
    }
    let nonblock = f.nonblocking();
    let me = cred(ctx, true);
    match sock.connect_stream(ctx.k, &target, me, waiter(ctx, nonblock)) {
        Ok(()) => Ok(0),
        Err(e) => Err(would_block(ctx, e, nonblock)),
    }
}

fn accept(ctx: &mut Ctx<'_>, f: &OpenFile, sock: &Arc<UnixSocket>, flags: i32) -> SysResult {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let nonblock = f.nonblocking();
    let got = match sock.accept(waiter(ctx, nonblock)) {
        Ok(s) => s,
        Err(e) => return Err(would_block(ctx, e, nonblock)),
    };
    let peer_name = got.lock().peer().map(|p| p.lock().addr.encode()).unwrap_or_else(|| UnixAddr::Unnamed.encode());
    let fd = ctx.install(socket_file(got, flags & libc::SOCK_NONBLOCK != 0), flags & libc::SOCK_CLOEXEC != 0)?;
    if ctx.args[1] != 0 {
        if let Err(e) = put_name(ctx, ctx.args[1], ctx.args[2], &peer_name) {
            let _ = ctx.task.files.lock().remove(fd as i32);
            return Err(e);
        }
    }
    Ok(fd)
}

/// The ancillary data a sender attaches: the files its SCM_RIGHTS name,
/// and its credentials (those it claims, once checked, else its own).
fn ancillary_of(ctx: &Ctx<'_>, control: Option<&[u8]>) -> Result<Ancillary, Errno> {
    let mut anc = Ancillary { files: Vec::new(), creds: Some(cred(ctx, false)) };
    let Some(control) = control else { return Ok(anc) };
    for c in ancillary::parse(control)? {
        match c {
            ControlIn::Rights(fds) => {
                let files = ctx.task.files.lock();
                for fd in fds {
                    anc.files.push(files.get(fd)?);
                }
            }
            ControlIn::Creds(claim) => {
                let st = ctx.task.process.state();
                let c = &st.creds;
                let ids = SenderIds {
                    pid: ctx.task.vpid(),
                    uids: [c.uid, c.euid, c.suid],
                    gids: [c.gid, c.egid, c.sgid],
                    sys_admin: c.capable(caps::CAP_SYS_ADMIN),
                    setuid: c.capable(caps::CAP_SETUID),
                    setgid: c.capable(caps::CAP_SETGID),
                };
                ancillary::check_creds(&claim, &ids)?;
                anc.creds = Some(claim);
            }
        }
    }
    Ok(anc)
}

/// One send: the bytes of `segs` to the peer or to `to`. A long stream
/// send goes in pieces as room appears, its progress kept across the
/// call's re-runs; ancillary data rides with the first piece.
fn send(
    ctx: &mut Ctx<'_>,
    f: &OpenFile,
    sock: &Arc<UnixSocket>,
    segs: &[(u64, usize)],
    flags: i32,
    to: Option<UnixAddr>,
    control: Option<Vec<u8>>,
) -> SysResult {
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = f.nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let total: usize = segs.iter().map(|s| s.1).sum();
    let target = match (&to, sock.ty) {
        (Some(_), SockType::Stream) => {
            let connected = matches!(sock.lock().conn, Conn::Connected(_));
            return Err(if connected { Errno::EISCONN } else { Errno::EOPNOTSUPP });
        }
        (Some(name), SockType::Dgram) => Some(find(ctx, name)?),
        _ => None,
    };
    let mut done = ctx.progress;
    loop {
        let mut anc = if done == 0 { Some(ancillary_of(ctx, control.as_deref())?) } else { None };
        let chunk = if sock.ty == SockType::Stream { (total - done).min(SEND_CHUNK) } else { total };
        let data = gather(ctx, segs, done, chunk)?;
        let w = waiter(ctx, nonblock);
        let r = match sock.ty {
            SockType::Dgram => dgram::send(sock, target.clone(), &data, &mut anc, w),
            _ => stream::send(sock, &data, &mut anc, w),
        };
        match r {
            Ok(n) => {
                done += n;
                ctx.progress = done;
                if sock.ty != SockType::Stream || done >= total {
                    return Ok(done as i64);
                }
            }
            Err(Errno::EPIPE) => {
                if flags & libc::MSG_NOSIGNAL == 0 {
                    raise_sigpipe(ctx);
                }
                return if done > 0 { Ok(done as i64) } else { Err(Errno::EPIPE) };
            }
            Err(Errno::EAGAIN) if nonblock && done > 0 => return Ok(done as i64),
            Err(e) => return Err(would_block(ctx, e, nonblock)),
        }
    }
}

/// Writes `data` across the guest segments, starting `skip` bytes in.
pub(super) fn scatter_at(ctx: &Ctx<'_>, segs: &[(u64, usize)], mut skip: usize, mut data: &[u8]) -> Result<(), Errno> {
    for &(addr, len) in segs {
        if data.is_empty() {
            break;
        }
        if skip >= len {
            skip -= len;
            continue;
        }
        let k = (len - skip).min(data.len());
        ctx.mem.write(addr + skip as u64, &data[..k])?;
        data = &data[k..];
        skip = 0;
    }
    Ok(())
}

/// One receive into `segs`: the value the call returns, what came with
/// the bytes, and the MSG_* flags for msg_flags.
fn recv(
    ctx: &mut Ctx<'_>,
    f: &OpenFile,
    sock: &Arc<UnixSocket>,
    segs: &[(u64, usize)],
    flags: i32,
) -> Result<(usize, Received, i32), Errno> {
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = f.nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let peek = flags & libc::MSG_PEEK != 0;
    let max: usize = segs.iter().map(|s| s.1).sum();
    if sock.ty != SockType::Stream {
        let r = match dgram::recv(sock, max, peek, waiter(ctx, nonblock)) {
            Ok(r) => r,
            Err(e) => return Err(would_block(ctx, e, nonblock)),
        };
        scatter_at(ctx, segs, 0, &r.data)?;
        let mut mflags = 0;
        if r.full_len > r.data.len() {
            mflags |= libc::MSG_TRUNC;
        }
        let n = if flags & libc::MSG_TRUNC != 0 { r.full_len } else { r.data.len() };
        return Ok((n, r, mflags));
    }
    let waitall = flags & libc::MSG_WAITALL != 0 && !peek && !nonblock;
    let mut done = ctx.progress;
    loop {
        let r = match stream::recv(sock, max - done, peek, waiter(ctx, nonblock)) {
            Ok(r) => r,
            Err(e) if done > 0 && e != Errno::EAGAIN => return Ok((done, Received::default(), 0)),
            Err(e) => return Err(would_block(ctx, e, nonblock)),
        };
        scatter_at(ctx, segs, done, &r.data)?;
        done += r.data.len();
        ctx.progress = done;
        if !waitall || r.data.is_empty() || done >= max || !r.anc.files.is_empty() {
            return Ok((done, r, 0));
        }
    }
}

/// Fills a receiver's control buffer: its credentials message when it
/// asked (SO_PASSCRED), then the files, installed as new fds as far as
/// the buffer holds them (the rest are closed, and MSG_CTRUNC set).
fn deliver_control(ctx: &Ctx<'_>, sock: &UnixSocket, anc: Ancillary, cap: usize, cloexec: bool) -> ControlOut {
    let mut out = ControlOut::new(cap);
    if sock.lock().passcred {
        let c = anc.creds.unwrap_or(Cred { pid: 0, uid: 65534, gid: 65534 });
        out.put(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &c.to_bytes());
    }
    if !anc.files.is_empty() {
        let sent = anc.files.len();
        let room = out.fd_room();
        let mut fds = Vec::new();
        for file in anc.files.into_iter().take(room) {
            match ctx.install(file, cloexec) {
                Ok(fd) => fds.push(fd as i32),
                Err(_) => break,
            }
        }
        out.put_rights(&fds, sent);
    }
    out
}

fn read_msghdr(ctx: &Ctx<'_>, at: u64) -> Result<[u64; 7], Errno> {
    ctx.mem.read_val(at)
}

fn sendmsg(ctx: &mut Ctx<'_>, f: &OpenFile, sock: &Arc<UnixSocket>, at: u64, flags: i32) -> SysResult {
    let h = read_msghdr(ctx, at)?;
    let segs: Segments = read_iov(ctx, h[2], h[3])?;
    let to = if h[0] != 0 && h[1] as u32 != 0 { Some(read_name(ctx, h[0], u64::from(h[1] as u32))?) } else { None };
    let control = if h[4] != 0 && h[5] != 0 {
        let len = usize::try_from(h[5]).ok().filter(|&l| l <= i32::MAX as usize).ok_or(Errno::ENOBUFS)?;
        if len > 1 << 20 {
            return Err(Errno::ENOBUFS);
        }
        let mut buf = vec![0u8; len];
        ctx.mem.read(h[4], &mut buf)?;
        Some(buf)
    } else {
        None
    };
    send(ctx, f, sock, &segs, flags, to, control)
}

fn recvmsg(ctx: &mut Ctx<'_>, f: &OpenFile, sock: &Arc<UnixSocket>, at: u64, flags: i32) -> SysResult {
    let h = read_msghdr(ctx, at)?;
    let segs: Segments = read_iov(ctx, h[2], h[3])?;
    let (n, r, mut mflags) = recv(ctx, f, sock, &segs, flags)?;
    if h[0] != 0 {
        put_from(ctx, h[0], at + 8, &r)?;
    } else {
        ctx.mem.write_val(at + 8, &0u32)?;
    }
    let cap = if h[4] == 0 { 0 } else { usize::try_from(h[5]).unwrap_or(0).min(1 << 20) };
    let out = deliver_control(ctx, sock, r.anc, cap, flags & libc::MSG_CMSG_CLOEXEC != 0);
    if out.truncated {
        mflags |= libc::MSG_CTRUNC;
    }
    if !out.buf.is_empty() {
        ctx.mem.write(h[4], &out.buf)?;
    }
    ctx.mem.write_val(at + 40, &(out.buf.len() as u64))?;
    ctx.mem.write_val(at + 48, &mflags)?;
    Ok(n as i64)
}

fn getsockopt(ctx: &mut Ctx<'_>, sock: &UnixSocket) -> SysResult {
    let (level, name, val, lenp) = (ctx.int(1), ctx.int(2), ctx.args[3], ctx.args[4]);
    let room: i32 = ctx.mem.read_val(lenp)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    if level != libc::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let int = |v: i32| v.to_le_bytes().to_vec();
    let bytes = {
        let mut s = sock.lock();
        match name {
            libc::SO_TYPE => int(sock.ty.raw()),
            libc::SO_DOMAIN => int(libc::AF_UNIX),
            libc::SO_PROTOCOL => int(0),
            libc::SO_ERROR => int(s.take_err().map_or(0, |e| e.0)),
            libc::SO_SNDBUF => int(s.sndbuf as i32),
            libc::SO_RCVBUF => int(s.rcvbuf as i32),
            libc::SO_PASSCRED => int(i32::from(s.passcred)),
            libc::SO_ACCEPTCONN => int(i32::from(matches!(s.conn, Conn::Listening { .. }))),
            libc::SO_REUSEADDR | libc::SO_KEEPALIVE | libc::SO_BROADCAST | libc::SO_PASSSEC => int(0),
            libc::SO_RCVLOWAT | libc::SO_SNDLOWAT => int(1),
            libc::SO_LINGER => vec![0; 8],
            libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => vec![0; 16],
            libc::SO_PEERCRED => s.peercred.unwrap_or(Cred { pid: 0, uid: 65534, gid: 65534 }).to_bytes().to_vec(),
            _ => return Err(Errno::ENOPROTOOPT),
        }
    };
    let n = bytes.len().min(room as usize);
    ctx.mem.write(val, &bytes[..n])?;
    ctx.mem.write_val(lenp, &(n as u32))?;
    Ok(0)
}

fn setsockopt(ctx: &mut Ctx<'_>, sock: &UnixSocket) -> SysResult {
    let (level, name, val, len) = (ctx.int(1), ctx.int(2), ctx.args[3], ctx.args[4] as i32);
    if level != libc::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    let v: i32 = ctx.mem.read_val(val)?;
    let mut s = sock.lock();
    // Linux doubles the size asked for (bookkeeping room), up to twice
    // wmem_max/rmem_max.
    let size = |v: i32| ((v.max(0) as usize).min(DEFAULT_BUF) * 2).max(MIN_BUF);
    match name {
        libc::SO_PASSCRED => s.passcred = v != 0,
        libc::SO_SNDBUF | libc::SO_SNDBUFFORCE => s.sndbuf = size(v),
        libc::SO_RCVBUF | libc::SO_RCVBUFFORCE => s.rcvbuf = size(v),
        // Accepted as Linux accepts them; they change nothing an AF_UNIX
        // socket does here.
        libc::SO_REUSEADDR
        | libc::SO_REUSEPORT
        | libc::SO_KEEPALIVE
        | libc::SO_LINGER
        | libc::SO_BROADCAST
        | libc::SO_PASSSEC
        | libc::SO_RCVLOWAT
        | libc::SO_SNDLOWAT
        | libc::SO_RCVTIMEO
        | libc::SO_SNDTIMEO
        | libc::SO_PRIORITY => {}
        _ => return Err(Errno::ENOPROTOOPT),
    }
    drop(s);
    sock.wake();
    Ok(0)
}

/// read and readv on a socket: recv with no flags.
pub fn read(ctx: &mut Ctx<'_>, f: &OpenFile, sock: &Arc<UnixSocket>, segs: &[(u64, usize)]) -> SysResult {
    recv(ctx, f, sock, segs, 0).map(|(n, _, _)| n as i64)
}

/// write and writev on a socket: send with no flags.
pub fn write(ctx: &mut Ctx<'_>, f: &OpenFile, sock: &Arc<UnixSocket>, segs: &[(u64, usize)]) -> SysResult {
    send(ctx, f, sock, segs, 0, None, None)
}
