//! The socket syscalls: `socket` and `socketpair` dispatch on the address
//! family, every other call on the kind of socket its fd is (ARCHITECTURE
//! §7). AF_UNIX lives in `unix`, AF_INET and AF_INET6 in `inet` (which has
//! no socketpair: EOPNOTSUPP, as Linux), AF_NETLINK in `netlink`; other
//! families answer EAFNOSUPPORT, as Linux does for a family it was built
//! without.
//! A socket call on an fd
//! that is not a socket fails with ENOTSOCK (EBADF for a closed fd):
//! programs probe this way (bash's getpeername on its stdin) and cope.

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::file::FileKind;

/// `socket(domain, type, protocol)`.
pub fn socket(ctx: &mut Ctx<'_>) -> SysResult {
    match ctx.int(0) {
        libc::AF_UNIX => super::unix::socket(ctx),
        libc::AF_INET => super::inet::socket(ctx, false),
        libc::AF_INET6 => super::inet::socket(ctx, true),
        libc::AF_NETLINK => super::netlink::socket(ctx),
        d => {
            tracing::debug!("socket(domain {d}): family not built");
            Err(Errno::EAFNOSUPPORT)
        }
    }
}

/// `socketpair(domain, type, protocol, sv)`.
pub fn socketpair(ctx: &mut Ctx<'_>) -> SysResult {
    match ctx.int(0) {
        libc::AF_UNIX => super::unix::socketpair(ctx),
        libc::AF_INET | libc::AF_INET6 | libc::AF_NETLINK => Err(Errno::EOPNOTSUPP),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// Every call whose first argument is a socket fd.
pub fn on_fd(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    match &f.kind {
        FileKind::Unix(u) => {
            let sock = u.sock.clone();
            super::unix::on_socket(ctx, &f, &sock)
        }
        FileKind::Inet(s) => super::inet::on_socket(ctx, &f, s),
        FileKind::Netlink(s) => super::netlink::on_socket(ctx, &f, s),
        _ => Err(Errno::ENOTSOCK),
    }
}

/// `sizeof(struct msghdr)` in bytes, and `sizeof(struct mmsghdr)`.
const MSGHDR: u64 = 56;
const MMSGHDR: u64 = 64;
/// How many messages one sendmmsg/recvmmsg handles (UIO_MAXIOV).
const MMSG_MAX: u64 = 1024;

/// `sendmmsg(fd, vec, vlen, flags)` for any family, over its sendmsg of
/// the `msghdr` at a guest address: each message's count goes in its
/// `msg_len`; an error after the first message ends the batch with what
/// was sent, as Linux does.
pub(super) fn sendmmsg_with(
    ctx: &mut Ctx<'_>,
    mut sendmsg: impl FnMut(&mut Ctx<'_>, u64, i32) -> SysResult,
) -> SysResult {
    let (vec, vlen, flags) = (ctx.args[1], ctx.args[2].min(MMSG_MAX), ctx.int(3));
    let mut sent = 0;
    while sent < vlen {
        let at = vec + sent * MMSGHDR;
        ctx.progress = 0;
        match sendmsg(ctx, at, flags) {
            Ok(n) => ctx.mem.write_val(at + MSGHDR, &(n as u32))?,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
        sent += 1;
    }
    Ok(sent as i64)
}

/// `recvmmsg(fd, vec, vlen, flags, timeout)` for any family, over its
/// recvmsg: after the first message only what is already queued is taken.
pub(super) fn recvmmsg_with(
    ctx: &mut Ctx<'_>,
    mut recvmsg: impl FnMut(&mut Ctx<'_>, u64, i32) -> SysResult,
) -> SysResult {
    let (vec, vlen, flags) = (ctx.args[1], ctx.args[2].min(MMSG_MAX), ctx.int(3));
    let mut got = 0;
    while got < vlen {
        let at = vec + got * MMSGHDR;
        let fl = if got > 0 { flags | libc::MSG_DONTWAIT } else { flags };
        ctx.progress = 0;
        match recvmsg(ctx, at, fl & !libc::MSG_WAITFORONE) {
            Ok(n) => ctx.mem.write_val(at + MSGHDR, &(n as u32))?,
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
        }
        got += 1;
    }
    Ok(got as i64)
}
