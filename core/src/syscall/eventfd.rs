//! eventfd and eventfd2 (Linux's fs/eventfd.c).

use std::sync::Arc;

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::eventfd::EventFd;
use crate::fs::file::{FileKind, OpenFile};

fn create(ctx: &mut Ctx<'_>, initval: u32, flags: i32) -> SysResult {
    if flags & !(libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let e = EventFd::new(initval as u64, flags & libc::EFD_SEMAPHORE != 0);
    let status = libc::O_RDWR | (flags & libc::EFD_NONBLOCK);
    let f = OpenFile::new(FileKind::EventFd(e), b"anon_inode:[eventfd]".to_vec(), status);
    ctx.install(Arc::new(f), flags & libc::EFD_CLOEXEC != 0)
}

/// `eventfd(initval)`.
pub fn eventfd(ctx: &mut Ctx<'_>) -> SysResult {
    create(ctx, ctx.args[0] as u32, 0)
}

/// `eventfd2(initval, flags)`.
pub fn eventfd2(ctx: &mut Ctx<'_>) -> SysResult {
    create(ctx, ctx.args[0] as u32, ctx.int(1))
}
