//! The socket syscalls: `socket` and `socketpair` dispatch on the address
//! family, every other call on the kind of socket its fd is (ARCHITECTURE
//! §7). AF_UNIX lives in `unix`, AF_INET and AF_INET6 in `inet` (which has
//! no socketpair: EOPNOTSUPP, as Linux); AF_NETLINK and other families
//! answer EAFNOSUPPORT, as Linux does for a family it was built without.
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
        libc::AF_INET | libc::AF_INET6 => Err(Errno::EOPNOTSUPP),
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
        _ => Err(Errno::ENOTSOCK),
    }
}
