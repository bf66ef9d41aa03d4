//! poll, ppoll, select and pselect6 (Linux's fs/select.c).
//!
//! Readiness comes from the file: pipes answer from their buffer; files
//! with a host fd answer through one host poll(2) with a zero timeout.
//! When nothing is ready the syscall waits on every object's wait queue
//! (and its deadline), and is re-run when any of them changes.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Ctx;
use crate::dev::devfs::Dev;
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::pipe::{Access, PIPE_BUF};
use crate::kernel::Kernel;
use crate::sched::timer::after;

/// One polled fd: its file (None: ignored or bad) and the events wanted.
struct Polled {
    file: Option<Arc<OpenFile>>,
    events: i16,
    bad: bool,
}

fn pipe_events(f: &OpenFile) -> i16 {
    if let FileKind::TimerFd(t) = &f.kind {
        return if t.state().expirations > 0 { libc::POLLIN } else { 0 };
    }
    if let FileKind::EventFd(e) = &f.kind {
        let c = *e.count();
        let mut ev = 0;
        if c > 0 {
            ev |= libc::POLLIN;
        }
        if c < crate::fs::eventfd::MAX {
            ev |= libc::POLLOUT;
        }
        return ev;
    }
    if let FileKind::Unix(u) = &f.kind {
        return u.sock.poll_events();
    }
    if let FileKind::Netlink(s) = &f.kind {
        let readable = if s.readable() { libc::POLLIN | libc::POLLRDNORM } else { 0 };
        return readable | libc::POLLOUT | libc::POLLWRNORM;
    }
    if let FileKind::Inet(s) = &f.kind {
        return match s.kernel() {
            Some(k) => k.inet.events(s.id),
            None => 0,
        };
    }
    let FileKind::Pipe(end) = &f.kind else { return 0 };
    let p = end.pipe.lock();
    // Linux's pipe_poll: an O_RDWR end of a FIFO gets both halves.
    let mut ev = 0;
    if end.access.reads() {
        if !p.buf.is_empty() {
            ev |= libc::POLLIN;
        }
        if p.writers == 0 {
            ev |= libc::POLLHUP;
        }
    }
    if end.access.writes() {
        if p.readers == 0 {
            ev |= libc::POLLERR;
        } else if p.room() >= PIPE_BUF {
            ev |= libc::POLLOUT;
        }
    }
    ev
}

/// The readiness of one file for `events` (POLL* bits), and the event
/// generation an edge-triggered watcher compares (None: no generations,
/// edges follow readiness changes).
pub(crate) fn file_events(k: &Kernel, f: &Arc<OpenFile>, events: i16) -> (i16, Option<u64>) {
    let gen = match &f.kind {
        FileKind::Pipe(end) => {
            let p = end.pipe.lock();
            // Either side's event is an edge for an O_RDWR end.
            Some(match end.access {
                Access::Read => p.wgen,
                Access::Write => p.rgen,
                Access::Both => p.wgen.wrapping_add(p.rgen),
            })
        }
        _ => None,
    };
    let list = [Polled { file: Some(f.clone()), events, bad: false }];
    (readiness(k, &list).0[0], gen)
}

/// Registers a wait on everything `files` can change on.
pub(crate) fn wait_on_files(ctx: &mut Ctx<'_>, files: &[(Arc<OpenFile>, i16)]) {
    // The events matter to files whose readiness is checked again under the lock that queues the
    // waiter (inet sockets): a change after epoll looked then wakes the waiter at once.
    let list: Vec<Polled> =
        files.iter().map(|(f, events)| Polled { file: Some(f.clone()), events: *events, bad: false }).collect();
    register(ctx, &list);
}

/// The console terminal's events: readable as a read would return
/// (Linux's input_available_p: a line, or VMIN bytes), always writable.
fn tty_events(tty: &crate::dev::tty::Tty) -> i16 {
    let l = tty.ldisc();
    let t = l.termios();
    let vmin = if t.cc[crate::dev::termios::cc::VTIME] == 0 { t.cc[crate::dev::termios::cc::VMIN] as usize } else { 1 };
    let mut ev = libc::POLLOUT;
    if l.readable(vmin) {
        ev |= libc::POLLIN;
    }
    if l.hung_up() {
        ev |= libc::POLLHUP;
    }
    ev
}

/// Computes revents for every entry; returns them and how many are ready.
fn readiness(k: &Kernel, list: &[Polled]) -> (Vec<i16>, usize) {
    let mut revents = vec![0i16; list.len()];
    let mut host = Vec::new();
    let mut host_idx = Vec::new();
    for (i, p) in list.iter().enumerate() {
        if p.bad {
            revents[i] = libc::POLLNVAL;
            continue;
        }
        let Some(f) = &p.file else { continue };
        let host_fd = match &f.kind {
            FileKind::Dev(Dev::Tty | Dev::Console) if k.tty.is_some() => {
                revents[i] = tty_events(k.tty.as_ref().expect("checked")) & (p.events | libc::POLLHUP);
                continue;
            }
            FileKind::Dev(Dev::Tty | Dev::Console) => k.console[0].as_ref().map(|s| s.fd()),
            FileKind::Dev(_)
            | FileKind::Block(_)
            | FileKind::Synthetic(..)
            | FileKind::SynthDir(..)
            | FileKind::Notify(_) => {
                revents[i] = (libc::POLLIN | libc::POLLOUT) & p.events;
                continue;
            }
            _ => f.host_fd(),
        };
        match host_fd {
            Some(fd) => {
                host.push(libc::pollfd { fd: fd.as_raw_fd(), events: p.events, revents: 0 });
                host_idx.push(i);
            }
            None => {
                let always = libc::POLLERR | libc::POLLHUP;
                revents[i] = pipe_events(f) & (p.events | always);
            }
        }
    }
    if !host.is_empty() {
        // SAFETY: `host` is a live array of pollfds; zero timeout.
        let n = unsafe { libc::poll(host.as_mut_ptr(), host.len() as libc::nfds_t, 0) };
        if n > 0 {
            for (h, &i) in host.iter().zip(&host_idx) {
                revents[i] = h.revents;
            }
        }
    }
    let ready = revents.iter().filter(|&&r| r != 0).count();
    (revents, ready)
}

/// Waits on everything the polled files can change on.
fn register(ctx: &mut Ctx<'_>, list: &[Polled]) {
    for p in list {
        let Some(f) = &p.file else { continue };
        match &f.kind {
            FileKind::Pipe(end) => {
                if end.access.reads() {
                    ctx.block_on(&end.pipe.readers_wait);
                }
                if end.access.writes() {
                    ctx.block_on(&end.pipe.writers_wait);
                }
            }
            FileKind::Unix(u) => {
                for q in u.sock.queues() {
                    ctx.block_on(&q);
                }
            }
            FileKind::Inet(s) => {
                let k = ctx.k;
                k.inet.wait(k, ctx.me, s.id, p.events);
                ctx.block_forever();
            }
            FileKind::Netlink(s) => {
                ctx.block_on(&s.readers);
            }
            FileKind::EventFd(e) => {
                ctx.block_on(&e.readers);
                ctx.block_on(&e.writers);
            }
            FileKind::TimerFd(t) => {
                ctx.block_on(&t.readers);
                if let Some(d) = t.state().deadline {
                    ctx.k.timers.add(d, ctx.me);
                }
            }
            FileKind::Dev(Dev::Tty | Dev::Console) if ctx.k.tty.is_some() => {
                let q = ctx.k.tty.as_ref().expect("checked").readers.clone();
                ctx.block_on(&q);
            }
            FileKind::Console(_) | FileKind::Dev(Dev::Tty | Dev::Console) => {
                let q = ctx.k.console_input.queue.clone();
                ctx.block_on(&q);
                ctx.k.console_input.arm();
            }
            FileKind::Host { .. }
            | FileKind::Ext2(_)
            | FileKind::Dev(_)
            | FileKind::Block(_)
            | FileKind::DevDir(_)
            | FileKind::Epoll(_)
            | FileKind::Synthetic(..)
            | FileKind::SynthDir(..)
            | FileKind::Notify(_) => {}
        }
    }
}

/// The common core: Ok(revents) when something is ready or the timeout
/// passed; Err(BLOCK) when the syscall waits.
fn poll_core(ctx: &mut Ctx<'_>, list: &[Polled], timeout: Option<Duration>) -> Result<Vec<i16>, Errno> {
    let (revents, ready) = readiness(ctx.k, list);
    if ready > 0 || timeout == Some(Duration::ZERO) {
        return Ok(revents);
    }
    let deadline = timeout.map(|t| *ctx.deadline.get_or_insert_with(|| after(Instant::now(), t)));
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(revents);
    }
    register(ctx, list);
    // Something may have changed between the check and the registration.
    let (revents, ready) = readiness(ctx.k, list);
    if ready > 0 {
        return Ok(revents);
    }
    Err(match deadline {
        Some(d) => ctx.block_until(d),
        None => ctx.block_on(&crate::sched::wait::WaitQueue::default()),
    })
}

fn check_nfds(ctx: &Ctx<'_>, nfds: u64) -> Result<usize, Errno> {
    if nfds > ctx.nofile() {
        return Err(Errno::EINVAL);
    }
    Ok(nfds as usize)
}

fn do_poll(ctx: &mut Ctx<'_>, addr: u64, nfds: usize, timeout: Option<Duration>) -> SysResult {
    let mut raw = vec![0u8; nfds * 8];
    ctx.mem.read(addr, &mut raw)?;
    let list: Vec<Polled> = raw
        .chunks_exact(8)
        .map(|p| {
            let fd = i32::from_le_bytes(p[0..4].try_into().expect("4 bytes"));
            let events = i16::from_le_bytes(p[4..6].try_into().expect("2 bytes"));
            let file = if fd < 0 { None } else { ctx.task.files.lock().get(fd).ok() };
            Polled { bad: fd >= 0 && file.is_none(), file, events }
        })
        .collect();
    let revents = poll_core(ctx, &list, timeout)?;
    for (p, r) in raw.chunks_exact_mut(8).zip(&revents) {
        p[6..8].copy_from_slice(&r.to_le_bytes());
    }
    ctx.mem.write(addr, &raw)?;
    Ok(revents.iter().filter(|&&r| r != 0).count() as i64)
}

/// `poll(fds, nfds, timeout_ms)`.
pub fn poll(ctx: &mut Ctx<'_>) -> SysResult {
    let nfds = check_nfds(ctx, ctx.args[1])?;
    let ms = ctx.int(2);
    let timeout = (ms >= 0).then(|| Duration::from_millis(ms as u64));
    do_poll(ctx, ctx.args[0], nfds, timeout)
}

fn read_timespec(ctx: &Ctx<'_>, addr: u64) -> Result<Option<Duration>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: libc::timespec = ctx.mem.read_val(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)))
}

/// `ppoll(fds, nfds, timeout, sigmask, sigsetsize)`.
pub fn ppoll(ctx: &mut Ctx<'_>) -> SysResult {
    let nfds = check_nfds(ctx, ctx.args[1])?;
    let timeout = read_timespec(ctx, ctx.args[2])?;
    do_poll(ctx, ctx.args[0], nfds, timeout)
}

/// select and pselect6 share this: fd_sets in, fd_sets out.
fn do_select(ctx: &mut Ctx<'_>, nfds: i32, sets: [u64; 3], timeout: Option<Duration>) -> SysResult {
    if nfds < 0 || nfds as u64 > ctx.nofile().max(1024) {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let words = n.div_ceil(64);
    let mut bits = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    for (b, &addr) in bits.iter_mut().zip(&sets) {
        if addr != 0 {
            for (w, word) in b.iter_mut().enumerate() {
                *word = ctx.mem.read_val(addr + 8 * w as u64)?;
            }
        }
    }
    let isset = |b: &Vec<u64>, fd: usize| b[fd / 64] & (1 << (fd % 64)) != 0;
    let mut fds = Vec::new();
    let mut list = Vec::new();
    for fd in 0..n {
        let mut ev = 0;
        if isset(&bits[0], fd) {
            ev |= libc::POLLIN;
        }
        if isset(&bits[1], fd) {
            ev |= libc::POLLOUT;
        }
        if isset(&bits[2], fd) {
            ev |= libc::POLLPRI;
        }
        if ev == 0 {
            continue;
        }
        let file = ctx.task.files.lock().get(fd as i32).map_err(|_| Errno::EBADF)?;
        fds.push(fd);
        list.push(Polled { file: Some(file), events: ev, bad: false });
    }
    let revents = poll_core(ctx, &list, timeout)?;
    let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let mut count = 0;
    let readable = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
    let writable = libc::POLLOUT | libc::POLLERR;
    for (&fd, (&r, p)) in fds.iter().zip(revents.iter().zip(&list)) {
        for (i, (mask, want)) in
            [(readable, libc::POLLIN), (writable, libc::POLLOUT), (libc::POLLPRI, libc::POLLPRI)].iter().enumerate()
        {
            if p.events & want != 0 && r & mask != 0 {
                out[i][fd / 64] |= 1 << (fd % 64);
                count += 1;
            }
        }
    }
    for (b, &addr) in out.iter().zip(&sets) {
        if addr != 0 {
            for (w, word) in b.iter().enumerate() {
                ctx.mem.write_val(addr + 8 * w as u64, word)?;
            }
        }
    }
    Ok(count)
}

/// `select(nfds, readfds, writefds, exceptfds, timeout)`.
pub fn select(ctx: &mut Ctx<'_>) -> SysResult {
    let timeout = if ctx.args[4] == 0 {
        None
    } else {
        let tv: libc::timeval = ctx.mem.read_val(ctx.args[4])?;
        if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_usec) {
            return Err(Errno::EINVAL);
        }
        Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
    };
    do_select(ctx, ctx.int(0), [ctx.args[1], ctx.args[2], ctx.args[3]], timeout)
}

/// `pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask)`.
pub fn pselect6(ctx: &mut Ctx<'_>) -> SysResult {
    let timeout = read_timespec(ctx, ctx.args[4])?;
    do_select(ctx, ctx.int(0), [ctx.args[1], ctx.args[2], ctx.args[3]], timeout)
}
