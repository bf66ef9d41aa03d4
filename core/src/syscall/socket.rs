//! Sockets, before the network step (ARCHITECTURE §7) brings AF_UNIX and
//! AF_INET: `socket` and `socketpair` fail with EAFNOSUPPORT for every
//! family, as Linux does for a family it was built without, and every
//! socket call on an fd fails as Linux fails it on an fd that is not a
//! socket: EBADF for a closed fd, else ENOTSOCK. Programs probe this way
//! (bash's getpeername on its stdin, glibc's nscd client) and cope.

use super::Ctx;
use crate::errno::{Errno, SysResult};

/// `socket(domain, type, protocol)` and `socketpair(...)`.
pub fn socket(ctx: &mut Ctx<'_>) -> SysResult {
    tracing::debug!("socket(domain {}): no socket family before the network step", ctx.int(0));
    Err(Errno::EAFNOSUPPORT)
}

/// Every call whose first argument is a socket fd.
pub fn on_fd(ctx: &mut Ctx<'_>) -> SysResult {
    ctx.file(0)?;
    Err(Errno::ENOTSOCK)
}
