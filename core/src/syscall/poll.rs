//! poll and ppoll (Linux's fs/select.c).
//!
//! Every guest fd maps to a host fd the kernel holds, so readiness is the
//! host's: one host poll(2) over the mapped fds. While Step 1 runs one
//! process per VM, that poll blocks its tracer loop; Step 2 turns every
//! wait into an asynchronous one that lets the loop serve other tasks.

use std::os::fd::AsRawFd;

use super::Ctx;
use crate::errno::{Errno, SysResult};

/// Most pollfds one call may pass (Linux: RLIMIT_NOFILE).
fn check_nfds(ctx: &Ctx<'_>, nfds: u64) -> Result<usize, Errno> {
    if nfds > ctx.nofile() {
        return Err(Errno::EINVAL);
    }
    Ok(nfds as usize)
}

fn do_poll(ctx: &mut Ctx<'_>, addr: u64, nfds: usize, timeout_ms: i32) -> SysResult {
    let mut guest = vec![0u8; nfds * 8];
    ctx.mem.read(addr, &mut guest)?;
    // Host pollfds, with the guest's fd in a side table; negative fds are
    // ignored (host fd -1), unknown ones answer POLLNVAL.
    let mut files = Vec::with_capacity(nfds);
    let mut host = Vec::with_capacity(nfds);
    let mut ready_now = 0;
    let mut revents = vec![0i16; nfds];
    for (i, p) in guest.chunks_exact(8).enumerate() {
        let fd = i32::from_le_bytes(p[0..4].try_into().expect("4 bytes"));
        let events = i16::from_le_bytes(p[4..6].try_into().expect("2 bytes"));
        let file = if fd < 0 { None } else { ctx.task.files.lock().get(fd).ok() };
        if fd >= 0 && file.is_none() {
            revents[i] = libc::POLLNVAL;
            ready_now += 1;
        }
        let hfd = file.as_ref().map_or(-1, |f| f.host_fd().as_raw_fd());
        host.push(libc::pollfd { fd: hfd, events, revents: 0 });
        files.push(file);
    }
    let timeout = if ready_now > 0 { 0 } else { timeout_ms };
    let n = loop {
        // SAFETY: `host` is a live array of `nfds` pollfds.
        let n = unsafe { libc::poll(host.as_mut_ptr(), host.len() as libc::nfds_t, timeout) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    let mut count = ready_now;
    if n > 0 {
        for (r, h) in revents.iter_mut().zip(&host) {
            if h.fd >= 0 && h.revents != 0 {
                *r = h.revents;
                count += 1;
            }
        }
    }
    for (i, p) in guest.chunks_exact_mut(8).enumerate() {
        p[6..8].copy_from_slice(&revents[i].to_le_bytes());
    }
    ctx.mem.write(addr, &guest)?;
    Ok(count as i64)
}

/// `poll(fds, nfds, timeout_ms)`.
pub fn poll(ctx: &mut Ctx<'_>) -> SysResult {
    let nfds = check_nfds(ctx, ctx.args[1])?;
    do_poll(ctx, ctx.args[0], nfds, ctx.int(2))
}

/// `ppoll(fds, nfds, timeout, sigmask, sigsetsize)`: the signal mask only
/// matters for asynchronous signals, which guests receive from Step 2 on.
pub fn ppoll(ctx: &mut Ctx<'_>) -> SysResult {
    let nfds = check_nfds(ctx, ctx.args[1])?;
    let timeout_ms = if ctx.args[2] == 0 {
        -1
    } else {
        let ts: libc::timespec = ctx.mem.read_val(ctx.args[2])?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        let ms = ts.tv_sec.saturating_mul(1000).saturating_add((ts.tv_nsec + 999_999) / 1_000_000);
        ms.min(i32::MAX as i64) as i32
    };
    do_poll(ctx, ctx.args[0], nfds, timeout_ms)
}
