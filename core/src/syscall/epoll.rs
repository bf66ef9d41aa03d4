//! epoll_create1, epoll_ctl, epoll_wait and epoll_pwait(2) (Linux's
//! fs/eventpoll.c). Readiness is computed as for poll; an edge-triggered
//! entry reports again only after a new event on its file (a write to a
//! pipe for EPOLLIN, a read for EPOLLOUT), and a one-shot entry once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::poll::{file_events, wait_on_files};
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::epoll::{Epoll, Interest};
use crate::fs::file::{FileKind, OpenFile};
use crate::sched::timer::after;

const EPOLLET: u32 = 1 << 31;
const EPOLLONESHOT: u32 = 1 << 30;
/// Reported whether asked for or not.
const ALWAYS: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
/// `struct epoll_event` is packed on x86-64: u32 events, u64 data.
const EVENT_SIZE: u64 = 12;

fn create(ctx: &mut Ctx<'_>, flags: i32) -> SysResult {
    if flags & !libc::EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let f = OpenFile::new(FileKind::Epoll(Epoll::default()), b"anon_inode:[eventpoll]".to_vec(), libc::O_RDWR);
    ctx.install(Arc::new(f), flags & libc::EPOLL_CLOEXEC != 0)
}

/// `epoll_create(size)`.
pub fn epoll_create(ctx: &mut Ctx<'_>) -> SysResult {
    if ctx.int(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    create(ctx, 0)
}

/// `epoll_create1(flags)`.
pub fn epoll_create1(ctx: &mut Ctx<'_>) -> SysResult {
    create(ctx, ctx.int(0))
}

fn epoll_of(f: &OpenFile) -> Result<&Epoll, Errno> {
    match &f.kind {
        FileKind::Epoll(e) => Ok(e),
        _ => Err(Errno::EINVAL),
    }
}

/// `epoll_ctl(epfd, op, fd, event)`.
pub fn epoll_ctl(ctx: &mut Ctx<'_>) -> SysResult {
    let (epfd, op, fd, ev) = (ctx.int(0), ctx.int(1), ctx.int(2), ctx.args[3]);
    let ep_file = ctx.file(0)?;
    let target = ctx.file(2)?;
    let ep = epoll_of(&ep_file)?;
    if fd == epfd {
        return Err(Errno::EINVAL);
    }
    // Regular files and directories are always ready: Linux refuses them.
    if matches!(target.kind, FileKind::Host { .. }) {
        return Err(Errno::EPERM);
    }
    let (events, data) = if op == libc::EPOLL_CTL_DEL {
        (0, 0)
    } else {
        let raw = ctx.mem.read_vec(ev, EVENT_SIZE as usize)?;
        let events = u32::from_le_bytes(raw[0..4].try_into().expect("4 bytes"));
        let data = u64::from_le_bytes(raw[4..12].try_into().expect("8 bytes"));
        (events, data)
    };
    let mut list = ep.lock();
    match op {
        libc::EPOLL_CTL_ADD => {
            if list.get(&fd).is_some_and(|i| i.file.strong_count() > 0) {
                return Err(Errno::EEXIST);
            }
            let file = Arc::downgrade(&target);
            list.insert(fd, Interest { file, events, data, reported: None, disabled: false });
        }
        libc::EPOLL_CTL_MOD => {
            let i = list.get_mut(&fd).filter(|i| i.file.strong_count() > 0).ok_or(Errno::ENOENT)?;
            *i = Interest { file: Arc::downgrade(&target), events, data, reported: None, disabled: false };
        }
        libc::EPOLL_CTL_DEL => {
            list.remove(&fd).ok_or(Errno::ENOENT)?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

fn do_wait(ctx: &mut Ctx<'_>, timeout: Option<Duration>) -> SysResult {
    let (events_ptr, max) = (ctx.args[1], ctx.int(2));
    if max <= 0 || max as u64 > i32::MAX as u64 / EVENT_SIZE {
        return Err(Errno::EINVAL);
    }
    let ep_file = ctx.file(0)?;
    let ep = epoll_of(&ep_file)?;
    let mut out = Vec::new();
    let mut watched = Vec::new();
    {
        let mut list = ep.lock();
        list.retain(|_, i| i.file.strong_count() > 0);
        for i in list.values_mut() {
            if out.len() >= max as usize * EVENT_SIZE as usize {
                break;
            }
            let Some(f) = i.file.upgrade() else { continue };
            if i.disabled {
                continue;
            }
            let want = i.events & !(EPOLLET | EPOLLONESHOT);
            let (revents, gen) = file_events(ctx.k, &f, (want & 0xffff) as i16);
            let ready = revents as u16 as u32 & (want | ALWAYS);
            watched.push((f, (want & 0xffff) as i16));
            if ready == 0 {
                continue;
            }
            if i.events & EPOLLET != 0 && gen.is_some() && i.reported == gen {
                continue;
            }
            i.reported = gen;
            if i.events & EPOLLONESHOT != 0 {
                i.disabled = true;
            }
            out.extend_from_slice(&ready.to_le_bytes());
            out.extend_from_slice(&i.data.to_le_bytes());
        }
    }
    if !out.is_empty() {
        ctx.mem.write(events_ptr, &out)?;
        return Ok(out.len() as i64 / EVENT_SIZE as i64);
    }
    if timeout == Some(Duration::ZERO) {
        return Ok(0);
    }
    let deadline = timeout.map(|t| *ctx.deadline.get_or_insert_with(|| after(Instant::now(), t)));
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(0);
    }
    wait_on_files(ctx, &watched);
    Err(match deadline {
        Some(d) => ctx.block_until(d),
        None => ctx.block_on(&crate::sched::wait::WaitQueue::default()),
    })
}

fn ms(t: i32) -> Option<Duration> {
    (t >= 0).then(|| Duration::from_millis(t as u64))
}

/// `epoll_wait(epfd, events, maxevents, timeout_ms)`.
pub fn epoll_wait(ctx: &mut Ctx<'_>) -> SysResult {
    do_wait(ctx, ms(ctx.int(3)))
}

/// `epoll_pwait(epfd, events, maxevents, timeout_ms, sigmask, size)`.
pub fn epoll_pwait(ctx: &mut Ctx<'_>) -> SysResult {
    do_wait(ctx, ms(ctx.int(3)))
}

/// `epoll_pwait2(epfd, events, maxevents, timeout, sigmask, size)`.
pub fn epoll_pwait2(ctx: &mut Ctx<'_>) -> SysResult {
    let timeout = if ctx.args[3] == 0 {
        None
    } else {
        let ts: libc::timespec = ctx.mem.read_val(ctx.args[3])?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    };
    do_wait(ctx, timeout)
}
