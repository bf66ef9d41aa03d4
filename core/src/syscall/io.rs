//! Data transfer on fds: read, write and their vector and positional
//! forms, lseek, ioctl (Linux's fs/read_write.c, fs/ioctl.c).
//!
//! Data is copied between the host fd and guest memory through a bounded
//! buffer: a guest-chosen length never sizes a host allocation.

use std::os::fd::AsRawFd;

use super::Ctx;
use crate::dev::blockdev::{self, BlockFile, IoctlAnswer};
use crate::dev::console::{self, ConsoleStream};
use crate::dev::devfs::Dev;
use crate::errno::{Errno, SysResult};
use crate::fs::eventfd::{self, EventFd};
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::pipe::{PipeEnd, PIPE_BUF, PIPE_SIZE};
use crate::fs::timerfd::TimerFd;
use crate::mm::mem::CHUNK;
use crate::signal::{send, SigInfoFix};
use crate::task::caps::CAP_SYS_ADMIN;
use std::sync::atomic::Ordering;

/// Linux's MAX_RW_COUNT: the most one read or write transfers.
pub(super) const MAX_RW: usize = 0x7fff_f000;
/// Linux's UIO_MAXIOV.
const IOV_MAX: usize = 1024;

/// Reads a host-backed or procfs file (at `off`, or its position).
pub(super) fn host_read(f: &OpenFile, buf: &mut [u8], off: Option<i64>) -> Result<usize, Errno> {
    match (&f.kind, off) {
        (FileKind::Console(s), None) => console::read(s, buf),
        (
            FileKind::Console(_) | FileKind::Pipe(_) | FileKind::Unix(_) | FileKind::Inet(_) | FileKind::Netlink(_),
            _,
        ) => Err(Errno::ESPIPE),
        (FileKind::Synthetic(data, pos), off) => {
            let at = off.map_or_else(|| pos.load(Ordering::Relaxed), |o| o as usize);
            let n = data.len().saturating_sub(at).min(buf.len());
            buf[..n].copy_from_slice(&data[at..at + n]);
            if off.is_none() {
                pos.store(at + n, Ordering::Relaxed);
            }
            Ok(n)
        }
        (
            FileKind::Dev(_)
            | FileKind::DevDir(_)
            | FileKind::Epoll(_)
            | FileKind::EventFd(_)
            | FileKind::TimerFd(_)
            | FileKind::SynthDir(..)
            | FileKind::Notify(_),
            _,
        ) => Err(Errno::EINVAL),
        (FileKind::Ext2(e), off) => e.read(buf, off),
        (FileKind::Block(b), off) => b.read(buf, off),
        (FileKind::Host { fd, .. }, off) => {
            let fd = fd.as_raw_fd();
            // SAFETY: `buf` is writable for its length.
            let n = unsafe {
                match off {
                    None => libc::read(fd, buf.as_mut_ptr().cast(), buf.len()),
                    Some(o) => libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), o),
                }
            };
            Errno::result(n).map(|n| n as usize)
        }
    }
}

/// Writes a host-backed file or the console stream (at `off`, or its
/// position).
pub(super) fn host_write(f: &OpenFile, data: &[u8], off: Option<i64>) -> Result<usize, Errno> {
    match (&f.kind, off) {
        (FileKind::Console(s), None) => console::write(s, data),
        (
            FileKind::Console(_) | FileKind::Pipe(_) | FileKind::Unix(_) | FileKind::Inet(_) | FileKind::Netlink(_),
            _,
        ) => Err(Errno::ESPIPE),
        (FileKind::Synthetic(..), _) => Err(Errno::EACCES),
        // UML's mconsole_proc_write: the bytes (cut to a datagram's 512)
        // go to the notify socket, and the whole write counts as done
        // whether or not anyone listens there.
        (FileKind::Notify(socket), _) => {
            let sent = crate::mconsole::server::notify(socket, crate::mconsole::wire::NotifyType::UserNotify, data);
            if let Err(e) = sent {
                tracing::debug!("/proc/mconsole: {}: {e}", socket.display());
            }
            Ok(data.len())
        }
        (
            FileKind::Dev(_)
            | FileKind::DevDir(_)
            | FileKind::Epoll(_)
            | FileKind::EventFd(_)
            | FileKind::TimerFd(_)
            | FileKind::SynthDir(..),
            _,
        ) => Err(Errno::EINVAL),
        (FileKind::Ext2(e), off) => e.write(data, off, f.flags() & libc::O_APPEND != 0),
        (FileKind::Block(b), off) => b.write(data, off, f.flags() & libc::O_APPEND != 0),
        (FileKind::Host { fd, .. }, off) => {
            let fd = fd.as_raw_fd();
            // SAFETY: `data` is readable for its length.
            let n = unsafe {
                match off {
                    None => libc::write(fd, data.as_ptr().cast(), data.len()),
                    Some(o) => libc::pwrite(fd, data.as_ptr().cast(), data.len(), o),
                }
            };
            Errno::result(n).map(|n| n as usize)
        }
    }
}

fn readable(ctx: &Ctx<'_>, i: usize) -> Result<std::sync::Arc<OpenFile>, Errno> {
    let f = ctx.file(i)?;
    if f.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

fn writable(ctx: &Ctx<'_>, i: usize) -> Result<std::sync::Arc<OpenFile>, Errno> {
    let f = ctx.file(i)?;
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

/// Guest buffers of one vector call: (address, length) pairs.
pub(super) type Segments = Vec<(u64, usize)>;

/// Reads a guest iovec array of `cnt` entries (EINVAL past IOV_MAX or for
/// a length past isize::MAX; the total is clamped to MAX_RW as Linux does).
pub(super) fn read_iov(ctx: &Ctx<'_>, addr: u64, cnt: u64) -> Result<Segments, Errno> {
    let cnt = usize::try_from(cnt).ok().filter(|&c| c <= IOV_MAX).ok_or(Errno::EINVAL)?;
    let mut segs = Vec::with_capacity(cnt);
    let mut total = 0usize;
    for i in 0..cnt as u64 {
        let iov: [u64; 2] = ctx.mem.read_val(addr + i * 16)?;
        let len = usize::try_from(iov[1]).ok().filter(|&l| l <= isize::MAX as usize).ok_or(Errno::EINVAL)?;
        total = total.checked_add(len).filter(|&t| t <= isize::MAX as usize).ok_or(Errno::EINVAL)?;
        // Linux clamps the total to MAX_RW_COUNT.
        let room = MAX_RW.saturating_sub(total - len);
        segs.push((iov[0], len.min(room)));
    }
    Ok(segs)
}

/// Reads into the guest segments; stops at a short read (end of file, or
/// a console/pipe that had less), as Linux's readv does.
fn read_into(ctx: &Ctx<'_>, f: &OpenFile, segs: &[(u64, usize)], mut off: Option<i64>) -> SysResult {
    let total: usize = segs.iter().map(|s| s.1).sum();
    let mut buf = vec![0u8; total.min(CHUNK)];
    let mut done = 0usize;
    let mut seg = 0;
    let mut seg_off = 0;
    while done < total {
        let want = (total - done).min(buf.len());
        let n = match host_read(f, &mut buf[..want], off) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        // Scatter what was read.
        let mut put = 0;
        while put < n {
            let (addr, len) = segs[seg];
            let k = (len - seg_off).min(n - put);
            ctx.mem.write(addr + seg_off as u64, &buf[put..put + k])?;
            put += k;
            seg_off += k;
            if seg_off == len {
                seg += 1;
                seg_off = 0;
            }
        }
        done += n;
        if let Some(o) = off.as_mut() {
            *o += n as i64;
        }
        if n < want || matches!(f.kind, FileKind::Console(_)) {
            break;
        }
    }
    Ok(done as i64)
}

/// Writes the guest segments, gathering them so that one guest write is
/// one host write whenever it fits a buffer.
fn write_from(ctx: &Ctx<'_>, f: &OpenFile, segs: &[(u64, usize)], mut off: Option<i64>) -> SysResult {
    let total: usize = segs.iter().map(|s| s.1).sum();
    let mut buf = Vec::with_capacity(total.min(CHUNK));
    let mut done = 0usize;
    let mut pending = segs.iter().copied().filter(|s| s.1 > 0).collect::<std::collections::VecDeque<_>>();
    while done < total {
        buf.clear();
        while buf.len() < CHUNK {
            let Some((addr, len)) = pending.pop_front() else {
                break;
            };
            let k = len.min(CHUNK - buf.len());
            let at = buf.len();
            buf.resize(at + k, 0);
            ctx.mem.read(addr, &mut buf[at..])?;
            if k < len {
                pending.push_front((addr + k as u64, len - k));
            }
        }
        let n = match host_write(f, &buf, off) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += n;
        if let Some(o) = off.as_mut() {
            *o += n as i64;
        }
        if n < buf.len() {
            break;
        }
    }
    Ok(done as i64)
}

fn offset(v: u64) -> Result<i64, Errno> {
    let o = v as i64;
    if o < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(o)
}

/// Reads from a stream-like or host file into the guest's segments:
/// pipes and the console wait (asynchronously) for data.
fn read_stream(ctx: &mut Ctx<'_>, f: &OpenFile, segs: &[(u64, usize)]) -> SysResult {
    match &f.kind {
        FileKind::Pipe(end) => pipe_read(ctx, f, end, segs),
        FileKind::Unix(u) => super::unix::read(ctx, f, &u.sock, segs),
        FileKind::Inet(s) => super::inet::read(ctx, f, s, segs),
        FileKind::Netlink(s) => super::netlink::read(ctx, f, s, segs),
        FileKind::EventFd(e) => eventfd_read(ctx, f, e, segs),
        FileKind::TimerFd(t) => timerfd_read(ctx, f, t, segs),
        FileKind::Console(s) => console_read(ctx, f, s, segs),
        FileKind::Dev(Dev::Tty | Dev::Console) => {
            let k = ctx.k;
            match (&k.tty, &k.console[0]) {
                (Some(tty), _) => {
                    let total: usize = segs.iter().map(|s| s.1).sum();
                    let data = super::tty::read(ctx, f, tty, total)?;
                    scatter(ctx, segs, &data)?;
                    Ok(data.len() as i64)
                }
                (None, Some(s)) => console_read(ctx, f, s, segs),
                (None, None) => Ok(0),
            }
        }
        FileKind::Dev(Dev::Null) => Ok(0),
        FileKind::Dev(d) => {
            let total: usize = segs.iter().map(|s| s.1).sum::<usize>().min(CHUNK);
            let mut data = vec![0u8; total];
            if matches!(d, Dev::Random | Dev::Urandom) {
                // SAFETY: `data` is writable for its length.
                let n = unsafe { libc::getrandom(data.as_mut_ptr().cast(), total, 0) };
                data.truncate(Errno::result(n)? as usize);
            }
            scatter(ctx, segs, &data)?;
            Ok(data.len() as i64)
        }
        _ => read_into(ctx, f, segs, None),
    }
}

/// Reads an eventfd: 8 bytes, the whole count (or 1 with EFD_SEMAPHORE);
/// waits while it is zero.
fn eventfd_read(ctx: &mut Ctx<'_>, f: &OpenFile, e: &EventFd, segs: &[(u64, usize)]) -> SysResult {
    if segs.iter().map(|s| s.1).sum::<usize>() < 8 {
        return Err(Errno::EINVAL);
    }
    let value = {
        let mut c = e.count();
        if *c == 0 {
            if f.nonblocking() {
                return Err(Errno::EAGAIN);
            }
            return Err(ctx.block_on(&e.readers));
        }
        let v = if e.semaphore { 1 } else { *c };
        *c -= v;
        v
    };
    ctx.k.wake_all(&e.writers);
    scatter(ctx, segs, &value.to_le_bytes())?;
    Ok(8)
}

/// Writes an eventfd: adds an 8-byte value; waits while that would pass
/// the maximum.
fn eventfd_write(ctx: &mut Ctx<'_>, f: &OpenFile, e: &EventFd, segs: &[(u64, usize)]) -> SysResult {
    if segs.iter().map(|s| s.1).sum::<usize>() < 8 {
        return Err(Errno::EINVAL);
    }
    let raw = gather(ctx, segs, 0, 8)?;
    let v = u64::from_le_bytes(raw[..8].try_into().expect("8 bytes"));
    if v == u64::MAX {
        return Err(Errno::EINVAL);
    }
    {
        let mut c = e.count();
        if v > eventfd::MAX - *c {
            if f.nonblocking() {
                return Err(Errno::EAGAIN);
            }
            return Err(ctx.block_on(&e.writers));
        }
        *c += v;
    }
    ctx.k.wake_all(&e.readers);
    Ok(8)
}

/// Reads a timerfd: the expirations since the last read; waits for one.
fn timerfd_read(ctx: &mut Ctx<'_>, f: &OpenFile, t: &TimerFd, segs: &[(u64, usize)]) -> SysResult {
    if segs.iter().map(|s| s.1).sum::<usize>() < 8 {
        return Err(Errno::EINVAL);
    }
    let n = {
        let mut s = t.state();
        if s.expirations == 0 {
            if f.nonblocking() {
                return Err(Errno::EAGAIN);
            }
            let e = ctx.block_on(&t.readers);
            if let Some(d) = s.deadline {
                ctx.k.timers.add(d, ctx.me);
            }
            return Err(e);
        }
        std::mem::take(&mut s.expirations)
    };
    scatter(ctx, segs, &n.to_le_bytes())?;
    Ok(8)
}

/// Reads the console; when there is no input yet, waits (the loop never
/// blocks on the host's stdin).
fn console_read(ctx: &mut Ctx<'_>, f: &OpenFile, s: &ConsoleStream, segs: &[(u64, usize)]) -> SysResult {
    if !console::host_readable(s.fd().as_raw_fd()) {
        if f.nonblocking() {
            return Err(Errno::EAGAIN);
        }
        let q = ctx.k.console_input.queue.clone();
        let e = ctx.block_on(&q);
        ctx.k.console_input.arm();
        return Err(e);
    }
    let total: usize = segs.iter().map(|s| s.1).sum::<usize>().min(CHUNK);
    let mut buf = vec![0u8; total];
    let n = console::read(s, &mut buf)?;
    scatter(ctx, segs, &buf[..n])?;
    Ok(n as i64)
}

fn write_stream(ctx: &mut Ctx<'_>, f: &OpenFile, segs: &[(u64, usize)]) -> SysResult {
    let total: usize = segs.iter().map(|s| s.1).sum();
    match &f.kind {
        FileKind::Pipe(end) => pipe_write(ctx, f, end, segs),
        FileKind::Unix(u) => super::unix::write(ctx, f, &u.sock, segs),
        FileKind::Inet(s) => super::inet::write(ctx, f, s, segs),
        FileKind::Netlink(s) => super::netlink::write(ctx, f, s, segs),
        FileKind::EventFd(e) => eventfd_write(ctx, f, e, segs),
        FileKind::Dev(Dev::Full) => Err(Errno::ENOSPC),
        FileKind::Dev(Dev::Tty | Dev::Console) if ctx.k.tty.is_some() => {
            let k = ctx.k;
            let tty = k.tty.as_ref().expect("checked");
            let mut written = 0;
            while written < total {
                let n = (total - written).min(CHUNK);
                let data = gather(ctx, segs, written, n)?;
                match super::tty::write(ctx, tty, &data) {
                    Ok(n) => written += n as usize,
                    Err(e) if written == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(written as i64)
        }
        FileKind::Dev(Dev::Tty | Dev::Console) => {
            let Some(s) = &ctx.k.console[1] else { return Ok(total as i64) };
            let mut written = 0;
            while written < total {
                let n = (total - written).min(CHUNK);
                let data = gather(ctx, segs, written, n)?;
                written += console::write(s, &data)?;
            }
            Ok(written as i64)
        }
        FileKind::Dev(_) => Ok(total as i64),
        _ => write_from(ctx, f, segs, None),
    }
}

/// What reading an empty pipe gives (Linux's pipe_read): 0 at end of
/// file (no writer left), EAGAIN when non-blocking, else a wait for data.
/// `writers` is read under the pipe's lock, which the caller still holds,
/// so the wait is registered before any writer can miss it.
pub(super) fn empty_pipe(ctx: &mut Ctx<'_>, end: &PipeEnd, writers: usize, nonblock: bool) -> SysResult {
    if writers == 0 {
        return Ok(0);
    }
    if nonblock {
        return Err(Errno::EAGAIN);
    }
    Err(ctx.block_on(&end.pipe.readers_wait))
}

fn pipe_read(ctx: &mut Ctx<'_>, f: &OpenFile, end: &PipeEnd, segs: &[(u64, usize)]) -> SysResult {
    let total: usize = segs.iter().map(|s| s.1).sum::<usize>().min(PIPE_SIZE);
    if total == 0 {
        return Ok(0);
    }
    let data: Vec<u8> = {
        let mut p = end.pipe.lock();
        if p.buf.is_empty() {
            return empty_pipe(ctx, end, p.writers, f.nonblocking());
        }
        let n = total.min(p.buf.len());
        p.rgen += 1;
        p.buf.drain(..n).collect()
    };
    end.pipe.wake_writers();
    scatter(ctx, segs, &data)?;
    Ok(data.len() as i64)
}

/// Writes `data` across the guest segments, in order.
pub(super) fn scatter(ctx: &Ctx<'_>, segs: &[(u64, usize)], mut data: &[u8]) -> Result<(), Errno> {
    for &(addr, len) in segs {
        if data.is_empty() {
            break;
        }
        let k = len.min(data.len());
        ctx.mem.write(addr, &data[..k])?;
        data = &data[k..];
    }
    Ok(())
}

/// Reads `len` bytes of the guest's segments starting `skip` bytes in.
pub(super) fn gather(ctx: &Ctx<'_>, segs: &[(u64, usize)], mut skip: usize, mut len: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::with_capacity(len);
    for &(addr, seg_len) in segs {
        if len == 0 {
            break;
        }
        if skip >= seg_len {
            skip -= seg_len;
            continue;
        }
        let k = (seg_len - skip).min(len);
        let at = out.len();
        out.resize(at + k, 0);
        ctx.mem.read(addr + skip as u64, &mut out[at..])?;
        skip = 0;
        len -= k;
    }
    Ok(out)
}

/// Sends SIGPIPE to the calling thread: a write to a pipe with no reader
/// left (Linux's `send_sig(SIGPIPE, current, 0)`).
pub(super) fn raise_sigpipe(ctx: &Ctx<'_>) {
    let fix = SigInfoFix { code: libc::SI_USER, pid: ctx.task.vpid(), uid: 0, status: 0, value: None, timer: None };
    let _ = send::to_thread(ctx.k, ctx.task.vtid, libc::SIGPIPE, fix);
}

/// Writes to a pipe: all of a write of up to PIPE_BUF bytes at once or
/// none; longer writes in pieces as room appears, the progress kept
/// across the syscall's re-runs.
fn pipe_write(ctx: &mut Ctx<'_>, f: &OpenFile, end: &PipeEnd, segs: &[(u64, usize)]) -> SysResult {
    let total: usize = segs.iter().map(|s| s.1).sum();
    loop {
        let done = ctx.progress;
        if done >= total {
            return Ok(total as i64);
        }
        let remaining = total - done;
        let wrote = {
            let mut p = end.pipe.lock();
            if p.readers == 0 {
                drop(p);
                raise_sigpipe(ctx);
                return if done > 0 { Ok(done as i64) } else { Err(Errno::EPIPE) };
            }
            let room = p.room();
            let fits = if remaining <= PIPE_BUF { room >= remaining } else { room > 0 };
            if !fits {
                if f.nonblocking() {
                    return if done > 0 { Ok(done as i64) } else { Err(Errno::EAGAIN) };
                }
                return Err(ctx.block_on(&end.pipe.writers_wait));
            }
            let n = remaining.min(room);
            let bytes = gather(ctx, segs, done, n)?;
            p.buf.extend(bytes);
            p.wgen += 1;
            n
        };
        ctx.progress += wrote;
        end.pipe.wake_readers();
    }
}

/// `read(fd, buf, count)`.
pub fn read(ctx: &mut Ctx<'_>) -> SysResult {
    let f = readable(ctx, 0)?;
    read_stream(ctx, &f, &[(ctx.args[1], (ctx.args[2] as usize).min(MAX_RW))])
}

/// `write(fd, buf, count)`.
pub fn write(ctx: &mut Ctx<'_>) -> SysResult {
    let f = writable(ctx, 0)?;
    write_stream(ctx, &f, &[(ctx.args[1], (ctx.args[2] as usize).min(MAX_RW))])
}

/// `pread64(fd, buf, count, offset)`.
pub fn pread64(ctx: &mut Ctx<'_>) -> SysResult {
    let f = readable(ctx, 0)?;
    let off = offset(ctx.args[3])?;
    read_into(ctx, &f, &[(ctx.args[1], (ctx.args[2] as usize).min(MAX_RW))], Some(off))
}

/// `pwrite64(fd, buf, count, offset)`.
pub fn pwrite64(ctx: &mut Ctx<'_>) -> SysResult {
    let f = writable(ctx, 0)?;
    let off = offset(ctx.args[3])?;
    write_from(ctx, &f, &[(ctx.args[1], (ctx.args[2] as usize).min(MAX_RW))], Some(off))
}

/// `readv(fd, iov, iovcnt)`.
pub fn readv(ctx: &mut Ctx<'_>) -> SysResult {
    let f = readable(ctx, 0)?;
    let segs = read_iov(ctx, ctx.args[1], ctx.args[2])?;
    read_stream(ctx, &f, &segs)
}

/// `writev(fd, iov, iovcnt)`.
pub fn writev(ctx: &mut Ctx<'_>) -> SysResult {
    let f = writable(ctx, 0)?;
    let segs = read_iov(ctx, ctx.args[1], ctx.args[2])?;
    write_stream(ctx, &f, &segs)
}

/// `lseek(fd, offset, whence)`.
pub fn lseek(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    match &f.kind {
        FileKind::Console(_)
        | FileKind::Pipe(_)
        | FileKind::Unix(_)
        | FileKind::Inet(_)
        | FileKind::Netlink(_)
        | FileKind::Epoll(_)
        | FileKind::EventFd(_)
        | FileKind::TimerFd(_)
        | FileKind::Dev(Dev::Tty | Dev::Console) => Err(Errno::ESPIPE),
        // proc_create's default lseek without a read: offsets mean nothing.
        FileKind::Notify(_) => Ok(0),
        FileKind::Dev(_) => Ok(0),
        FileKind::Synthetic(data, pos) => {
            let base = match ctx.int(2) {
                libc::SEEK_SET => 0,
                libc::SEEK_CUR => pos.load(Ordering::Relaxed) as i64,
                libc::SEEK_END => data.len() as i64,
                _ => return Err(Errno::EINVAL),
            };
            let at = base.checked_add(ctx.args[1] as i64).filter(|&a| a >= 0).ok_or(Errno::EINVAL)?;
            pos.store(at as usize, Ordering::Relaxed);
            Ok(at)
        }
        FileKind::DevDir(pos) | FileKind::SynthDir(_, pos) => {
            if ctx.args[1] != 0 || ctx.int(2) != libc::SEEK_SET {
                return Err(Errno::EINVAL);
            }
            pos.store(0, std::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        FileKind::Ext2(e) => e.seek(ctx.args[1] as i64, ctx.int(2)),
        FileKind::Block(b) => b.seek(ctx.args[1] as i64, ctx.int(2)),
        FileKind::Host { fd, .. } => {
            let whence = ctx.int(2);
            if !(0..=4).contains(&whence) {
                return Err(Errno::EINVAL);
            }
            // SAFETY: plain lseek on an fd we own.
            Errno::result(unsafe { libc::lseek(fd.as_raw_fd(), ctx.args[1] as i64, whence) })
        }
    }
}

/// The kernel's `struct termios` (what TCGETS copies), not glibc's.
const KERNEL_TERMIOS: usize = 36;

/// `ioctl(fd, request, arg)`: the generic fd requests, and terminal
/// requests on the console: served by umvm's terminal (`syscall::tty`)
/// when the console is one, else passed through to the host terminal
/// (ENOTTY when there is none).
pub fn ioctl(ctx: &mut Ctx<'_>) -> SysResult {
    let fd = ctx.int(0);
    let f = ctx.task.files.lock().get(fd)?;
    let req = ctx.args[1] as u32 as u64;
    let arg = ctx.args[2];
    match req {
        libc::FIOCLEX => return ctx.task.files.lock().set_cloexec(fd, true).map(|_| 0),
        libc::FIONCLEX => return ctx.task.files.lock().set_cloexec(fd, false).map(|_| 0),
        libc::FIONBIO => {
            let on: i32 = ctx.mem.read_val(arg)?;
            let fl = f.flags();
            f.set_flags(if on != 0 { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK });
            return Ok(0);
        }
        _ => {}
    }
    if let (FileKind::Pipe(end), libc::FIONREAD) = (&f.kind, req) {
        // Linux's pipe_ioctl: the bytes queued, as an int.
        let queued = end.pipe.lock().buf.len() as i32;
        return ctx.mem.write(arg, &queued.to_le_bytes()).map(|()| 0);
    }
    if let (FileKind::Inet(s), libc::FIONREAD | libc::TIOCOUTQ) = (&f.kind, req) {
        return super::inet::ioctl(ctx, s, req, arg);
    }
    if super::netdev_ioctl::is_netdev_request(req)
        && matches!(f.kind, FileKind::Unix(_) | FileKind::Inet(_) | FileKind::Netlink(_))
    {
        return super::netdev_ioctl::ioctl(ctx, &f, req, arg);
    }
    if let FileKind::Block(b) = &f.kind {
        return block_ioctl(ctx, b, req, arg);
    }
    if matches!(f.kind, FileKind::Dev(Dev::Tty | Dev::Console)) {
        let k = ctx.k;
        if let Some(tty) = &k.tty {
            return super::tty::ioctl(ctx, tty, req, arg);
        }
    }
    let s = match &f.kind {
        FileKind::Console(s) => s,
        FileKind::Dev(Dev::Tty | Dev::Console) => ctx.k.console[0].as_ref().ok_or(Errno::ENOTTY)?,
        _ => return Err(Errno::ENOTTY),
    };
    if !s.is_tty() {
        return Err(Errno::ENOTTY);
    }
    let hfd = s.fd().as_raw_fd();
    let mut buf = [0u8; 64];
    let host_ioctl = |buf: &mut [u8; 64]| -> SysResult {
        // SAFETY: `buf` is larger than any structure these requests use.
        Errno::result(unsafe { libc::ioctl(hfd, req, buf.as_mut_ptr()) }).map(i64::from)
    };
    match req {
        libc::TCGETS => {
            host_ioctl(&mut buf)?;
            ctx.mem.write(arg, &buf[..KERNEL_TERMIOS])?;
            Ok(0)
        }
        libc::TCSETS | libc::TCSETSW | libc::TCSETSF => {
            ctx.mem.read(arg, &mut buf[..KERNEL_TERMIOS])?;
            host_ioctl(&mut buf)
        }
        libc::TIOCGWINSZ => {
            host_ioctl(&mut buf)?;
            ctx.mem.write(arg, &buf[..8])?;
            Ok(0)
        }
        libc::TIOCSWINSZ => {
            ctx.mem.read(arg, &mut buf[..8])?;
            host_ioctl(&mut buf)
        }
        _ => super::tty::job_ioctl(ctx, req, arg),
    }
}

/// An ioctl on a block device (Linux's blkdev_ioctl): sizes, geometry,
/// read-only state, and BLKFLSBUF (CAP_SYS_ADMIN, else EACCES).
fn block_ioctl(ctx: &Ctx<'_>, b: &BlockFile, req: u64, arg: u64) -> SysResult {
    match blockdev::ioctl(&b.disk, req)? {
        IoctlAnswer::Data(bytes) => ctx.mem.write(arg, &bytes).map(|()| 0),
        IoctlAnswer::Flush if !ctx.task.process.state().creds.capable(CAP_SYS_ADMIN) => Err(Errno::EACCES),
        IoctlAnswer::Flush => super::mount::sync_disk(ctx, &b.disk).map(|()| 0),
    }
}

/// `sendfile(out_fd, in_fd, offset, count)`: both ends are host fds the
/// kernel holds, so the host copies in-kernel (no bytes pass through
/// umvm or the guest).
pub fn sendfile(ctx: &mut Ctx<'_>) -> SysResult {
    let out = writable(ctx, 0)?;
    let inp = readable(ctx, 1)?;
    if out.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let count = (ctx.args[3] as usize).min(MAX_RW);
    if matches!(inp.kind, FileKind::Ext2(_)) || matches!(out.kind, FileKind::Ext2(_)) {
        return sendfile_copy(ctx, &inp, &out, count);
    }
    let (ofd, ifd) = (out.need_host_fd()?.as_raw_fd(), inp.need_host_fd()?.as_raw_fd());
    if ctx.args[2] == 0 {
        // SAFETY: both fds are open; a NULL offset uses the file position.
        return Errno::result(unsafe { libc::sendfile(ofd, ifd, std::ptr::null_mut(), count) }).map(|n| n as i64);
    }
    let mut off: i64 = ctx.mem.read_val(ctx.args[2])?;
    if off < 0 {
        return Err(Errno::EINVAL);
    }
    // SAFETY: both fds are open and `off` outlives the call.
    let n = Errno::result(unsafe { libc::sendfile(ofd, ifd, &mut off, count) })?;
    ctx.mem.write_val(ctx.args[2], &off)?;
    Ok(n as i64)
}

/// sendfile where a disk file is one end: umvm copies, a buffer at a
/// time, from the input (at `*offset` when given, else its position) to
/// the output, which must take plain writes (a file or the console;
/// EINVAL otherwise, as Linux gives for outputs it cannot splice to, and
/// callers then copy themselves).
fn sendfile_copy(ctx: &mut Ctx<'_>, inp: &OpenFile, out: &OpenFile, count: usize) -> SysResult {
    if !matches!(out.kind, FileKind::Ext2(_) | FileKind::Host { dir: false, .. } | FileKind::Console(_))
        || !matches!(inp.kind, FileKind::Ext2(_) | FileKind::Host { dir: false, .. })
    {
        return Err(Errno::EINVAL);
    }
    let mut off = match ctx.args[2] {
        0 => None,
        addr => {
            let o: i64 = ctx.mem.read_val(addr)?;
            if o < 0 {
                return Err(Errno::EINVAL);
            }
            Some(o)
        }
    };
    let mut buf = vec![0u8; count.min(CHUNK)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(buf.len());
        let n = match host_read(inp, &mut buf[..want], off) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match host_write(out, &buf[..n], None) {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += w;
        if let Some(o) = off.as_mut() {
            *o += w as i64;
        } else if w < n {
            // The input moved past what the output took: put it back.
            if let FileKind::Ext2(e) = &inp.kind {
                e.seek(-((n - w) as i64), libc::SEEK_CUR)?;
            }
        }
        if w < n {
            break;
        }
    }
    if let (Some(o), addr) = (off, ctx.args[2]) {
        ctx.mem.write_val(addr, &o)?;
    }
    Ok(done as i64)
}

/// `fadvise64(fd, offset, len, advice)`: advice about future access.
/// The host page cache holds hostfs files, so the host gets the advice.
pub fn fadvise64(ctx: &mut Ctx<'_>) -> SysResult {
    let f = ctx.file(0)?;
    let advice = ctx.int(3);
    if !(0..=5).contains(&advice) || (ctx.args[2] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    match &f.kind {
        FileKind::Host { fd, .. } => {
            // SAFETY: plain posix_fadvise on an fd umvm owns.
            let r = unsafe { libc::posix_fadvise(fd.as_raw_fd(), ctx.args[1] as i64, ctx.args[2] as i64, advice) };
            if r != 0 {
                return Err(Errno(r));
            }
            Ok(0)
        }
        FileKind::Pipe(_) | FileKind::Console(_) => Err(Errno::ESPIPE),
        _ => Ok(0),
    }
}

/// `copy_file_range(fd_in, off_in, fd_out, off_out, len, flags)`: both
/// ends are host files umvm holds, so the host copies (in-kernel, and
/// with reflinks where the filesystem has them).
pub fn copy_file_range(ctx: &mut Ctx<'_>) -> SysResult {
    let inp = readable(ctx, 0)?;
    let out = writable(ctx, 2)?;
    if ctx.args[5] != 0 {
        return Err(Errno::EINVAL);
    }
    if out.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let (ifd, ofd) = match (&inp.kind, &out.kind) {
        (FileKind::Host { fd: i, dir: false, .. }, FileKind::Host { fd: o, dir: false, .. }) => {
            (i.as_raw_fd(), o.as_raw_fd())
        }
        (FileKind::Host { dir: true, .. }, _) | (_, FileKind::Host { dir: true, .. }) => return Err(Errno::EISDIR),
        _ => return Err(Errno::EINVAL),
    };
    let len = (ctx.args[4] as usize).min(MAX_RW);
    let read_off = |a: u64| -> Result<Option<i64>, Errno> {
        if a == 0 {
            return Ok(None);
        }
        let o: i64 = ctx.mem.read_val(a)?;
        if o < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(Some(o))
    };
    let (mut oi, mut oo) = (read_off(ctx.args[1])?, read_off(ctx.args[3])?);
    let pi = oi.as_mut().map_or(std::ptr::null_mut(), |o| o as *mut i64);
    let po = oo.as_mut().map_or(std::ptr::null_mut(), |o| o as *mut i64);
    // SAFETY: both fds are open; the offset pointers are null or point at
    // locals that outlive the call.
    let n = Errno::result(unsafe { libc::copy_file_range(ifd, pi, ofd, po, len, 0) })?;
    if let Some(o) = oi {
        ctx.mem.write_val(ctx.args[1], &o)?;
    }
    if let Some(o) = oo {
        ctx.mem.write_val(ctx.args[3], &o)?;
    }
    Ok(n as i64)
}
