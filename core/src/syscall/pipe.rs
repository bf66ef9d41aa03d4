//! pipe and pipe2 (Linux's fs/pipe.c).

use std::sync::Arc;

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::pipe::Pipe;

fn do_pipe(ctx: &mut Ctx<'_>, flags: i32) -> SysResult {
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = Pipe::pair(ctx.k);
    let status = flags & libc::O_NONBLOCK;
    let rf = Arc::new(OpenFile::new(FileKind::Pipe(r), crate::fs::pipe::ANON_PATH.to_vec(), libc::O_RDONLY | status));
    let wf = Arc::new(OpenFile::new(FileKind::Pipe(w), crate::fs::pipe::ANON_PATH.to_vec(), libc::O_WRONLY | status));
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let rfd = ctx.install(rf, cloexec)? as i32;
    let wfd = match ctx.install(wf, cloexec) {
        Ok(fd) => fd as i32,
        Err(e) => {
            let _ = ctx.task.files.lock().remove(rfd);
            return Err(e);
        }
    };
    if let Err(e) = ctx.mem.write_val(ctx.args[0], &[rfd, wfd]) {
        let mut files = ctx.task.files.lock();
        let _ = files.remove(rfd);
        let _ = files.remove(wfd);
        return Err(e);
    }
    Ok(0)
}

/// `pipe(fds)`.
pub fn pipe(ctx: &mut Ctx<'_>) -> SysResult {
    do_pipe(ctx, 0)
}

/// `pipe2(fds, flags)`.
pub fn pipe2(ctx: &mut Ctx<'_>) -> SysResult {
    do_pipe(ctx, ctx.int(1))
}
