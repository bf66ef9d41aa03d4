//! splice, tee and vmsplice (Linux's fs/splice.c): moving data between a
//! pipe and a file, another pipe or the caller's memory, without the
//! caller copying it.
//!
//! Pipes are the kernel's (fs/pipe.rs), so bytes move between the pipe's
//! buffer and the other end under the pipe's lock: a pipe's data is taken
//! only once the file has accepted it, and a file's data is read only
//! into room the pipe has. One end must be a pipe (else EINVAL). The file
//! ends Linux can splice are served: host files (not directories), procfs
//! files (but those of /proc/PID, as on Linux), /dev/zero, /dev/full,
//! /dev/random, /dev/urandom to read; host
//! files, /dev/null, /dev/zero, /dev/random, /dev/urandom and the console
//! to write. Others are EINVAL, as for a Linux file without splice_read or
//! splice_write (eventfd, epoll, timerfd, directories, /dev/null to read,
//! /dev/full to write); so is the console as a source, which Linux can
//! splice but umvm does not.

use std::sync::MutexGuard;

use super::io::{self, MAX_RW};
use super::Ctx;
use crate::dev::console;
use crate::dev::devfs::Dev;
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::fs::path;
use crate::fs::pipe::{Pipe, PipeEnd, PipeInner};

/// SPLICE_F_NONBLOCK: do not wait on the pipes.
const SPLICE_F_NONBLOCK: u32 = 0x02;
/// Every flag Linux knows (MOVE, NONBLOCK, MORE, GIFT); MOVE, MORE and
/// GIFT are hints umvm has no use for.
const SPLICE_F_ALL: u32 = 0x0f;

fn pipe_of(f: &OpenFile) -> Option<&PipeEnd> {
    match &f.kind {
        FileKind::Pipe(end) => Some(end),
        _ => None,
    }
}

/// Locks two distinct pipes in a fixed (address) order, so that two
/// splices between the same pipes in opposite directions cannot deadlock.
fn lock_two<'a>(a: &'a Pipe, b: &'a Pipe) -> (MutexGuard<'a, PipeInner>, MutexGuard<'a, PipeInner>) {
    if (a as *const Pipe) < (b as *const Pipe) {
        let ga = a.lock();
        (ga, b.lock())
    } else {
        let gb = b.lock();
        (a.lock(), gb)
    }
}

/// Whether a file takes an explicit offset (Linux's FMODE_PREAD and
/// FMODE_PWRITE): not a stream such as the console or a terminal.
fn positional(f: &OpenFile) -> bool {
    matches!(f.kind, FileKind::Host { .. } | FileKind::Synthetic(..))
        || matches!(f.kind, FileKind::Dev(d) if !matches!(d, Dev::Tty | Dev::Console))
}

/// An offset argument: None for NULL, else the loff_t it points at
/// (EFAULT when unreadable).
fn read_offset(ctx: &Ctx<'_>, addr: u64) -> Result<Option<i64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    ctx.mem.read_val::<i64>(addr).map(Some)
}

/// Whether a procfs file can be spliced from: Linux's machine-wide files
/// and /proc/sys can (their file operations have splice_read), the files
/// of /proc/PID cannot, but for mounts and mountinfo.
fn proc_splices(path: &[u8]) -> bool {
    match path::split(path).as_slice() {
        [b"proc", pid, .., last] if pid.iter().all(u8::is_ascii_digit) => {
            matches!(*last, b"mounts" | b"mountinfo")
        }
        _ => true,
    }
}

/// Reads up to `buf.len()` bytes of a splice source at `off` (or its
/// position): EINVAL for a file Linux has no splice_read for, or that
/// umvm does not splice from (the console).
fn source_read(f: &OpenFile, buf: &mut [u8], off: Option<i64>) -> Result<usize, Errno> {
    match &f.kind {
        FileKind::Host { dir: false, .. } => io::host_read(f, buf, off),
        FileKind::Synthetic(..) if proc_splices(&f.path) => io::host_read(f, buf, off),
        FileKind::Dev(Dev::Zero | Dev::Full) => {
            buf.fill(0);
            Ok(buf.len())
        }
        FileKind::Dev(Dev::Random | Dev::Urandom) => {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
            Errno::result(n).map(|n| n as usize)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Whether `f` is a splice destination (Linux's splice_write), checked
/// before any data is taken from the pipe.
fn sink_ok(f: &OpenFile) -> bool {
    match &f.kind {
        FileKind::Host { dir: false, .. } | FileKind::Console(_) => true,
        FileKind::Dev(d) => !matches!(d, Dev::Full),
        _ => false,
    }
}

/// Writes `data` to a splice destination (see [`sink_ok`]) at `off` (or
/// its position); returns how much it took.
fn sink_write(ctx: &Ctx<'_>, f: &OpenFile, data: &[u8], off: Option<i64>) -> Result<usize, Errno> {
    match &f.kind {
        FileKind::Host { dir: false, .. } | FileKind::Console(_) => io::host_write(f, data, off),
        FileKind::Dev(Dev::Tty | Dev::Console) => match (&ctx.k.tty, &ctx.k.console[1]) {
            (Some(tty), _) => tty.write(data),
            (None, Some(s)) => console::write(s, data),
            (None, None) => Ok(data.len()),
        },
        FileKind::Dev(Dev::Full) => Err(Errno::EINVAL),
        FileKind::Dev(_) => Ok(data.len()),
        _ => Err(Errno::EINVAL),
    }
}

/// `splice(fd_in, off_in, fd_out, off_out, len, flags)`: moves up to
/// `len` bytes from `fd_in` to `fd_out`, one of which must be a pipe.
///
/// As Linux checks, in order: `len` 0 returns 0; unknown flags are
/// EINVAL; bad fds EBADF; an offset given for a pipe end ESPIPE; an
/// unreadable offset EFAULT; `fd_in` not open for reading or `fd_out` not
/// for writing EBADF; the same pipe at both ends, no pipe at all, an
/// offset for a file that has no position (a terminal), a negative
/// offset, an O_APPEND destination or a file that cannot be spliced
/// EINVAL. A pipe with no data waits for some (EAGAIN with
/// SPLICE_F_NONBLOCK or O_NONBLOCK on the pipe) and returns 0 once it has
/// no writer; a full pipe waits for room; a pipe with no reader is EPIPE
/// and SIGPIPE. The offsets given are advanced; otherwise the files'
/// positions are.
pub fn splice(ctx: &mut Ctx<'_>) -> SysResult {
    let (off_in_ptr, off_out_ptr) = (ctx.args[1], ctx.args[3]);
    let len = (ctx.args[4] as usize).min(MAX_RW);
    let flags = ctx.args[5] as u32;
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let inp = ctx.file(0)?;
    let out = ctx.file(2)?;
    let (ipipe, opipe) = (pipe_of(&inp), pipe_of(&out));
    if (ipipe.is_some() && off_in_ptr != 0) || (opipe.is_some() && off_out_ptr != 0) {
        return Err(Errno::ESPIPE);
    }
    let off_out = read_offset(ctx, off_out_ptr)?;
    let off_in = read_offset(ctx, off_in_ptr)?;
    if !inp.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    match (ipipe, opipe) {
        (Some(i), Some(o)) => {
            if std::ptr::eq(&*i.pipe, &*o.pipe) {
                return Err(Errno::EINVAL);
            }
            let nonblock = nonblock || inp.nonblocking() || out.nonblocking();
            pipe_to_pipe(ctx, i, o, len, nonblock, true)
        }
        (Some(i), None) => {
            if off_out.is_some() && !positional(&out) {
                return Err(Errno::EINVAL);
            }
            if off_out.is_some_and(|o| o < 0) || out.flags() & libc::O_APPEND != 0 || !sink_ok(&out) {
                return Err(Errno::EINVAL);
            }
            let n = pipe_to_file(ctx, i, &out, off_out, len, nonblock || inp.nonblocking())?;
            if let Some(o) = off_out {
                ctx.mem.write_val(off_out_ptr, &(o + n as i64))?;
            }
            Ok(n as i64)
        }
        (None, Some(o)) => {
            if off_in.is_some() && !positional(&inp) {
                return Err(Errno::EINVAL);
            }
            if off_in.is_some_and(|o| o < 0) {
                return Err(Errno::EINVAL);
            }
            let n = file_to_pipe(ctx, &inp, o, off_in, len, nonblock || out.nonblocking())?;
            if let Some(o) = off_in {
                ctx.mem.write_val(off_in_ptr, &(o + n as i64))?;
            }
            Ok(n as i64)
        }
        (None, None) => Err(Errno::EINVAL),
    }
}

/// Moves (or with `consume` false, copies: tee) up to `len` bytes from
/// pipe `i` to pipe `o`. Waits for data in `i` unless it has no writer,
/// then for room in `o`; EPIPE (and SIGPIPE) when `o` has no reader; 0
/// when `i` is empty with no writer.
fn pipe_to_pipe(ctx: &mut Ctx<'_>, i: &PipeEnd, o: &PipeEnd, len: usize, nonblock: bool, consume: bool) -> SysResult {
    let n = {
        let (mut ip, mut op) = lock_two(&i.pipe, &o.pipe);
        if ip.buf.is_empty() && ip.writers > 0 {
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            // Registered under the pipe's lock: no wake-up is missed.
            return Err(ctx.block_on(&i.pipe.readers_wait));
        }
        if op.readers == 0 {
            drop((ip, op));
            io::raise_sigpipe(ctx);
            return Err(Errno::EPIPE);
        }
        if op.room() == 0 {
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            return Err(ctx.block_on(&o.pipe.writers_wait));
        }
        let n = len.min(ip.buf.len()).min(op.room());
        if n == 0 {
            return Ok(0);
        }
        if consume {
            let moved: Vec<u8> = ip.buf.drain(..n).collect();
            op.buf.extend(moved);
            ip.rgen += 1;
        } else {
            let copied: Vec<u8> = ip.buf.range(..n).copied().collect();
            op.buf.extend(copied);
        }
        op.wgen += 1;
        n
    };
    if consume {
        i.pipe.wake_writers();
    }
    o.pipe.wake_readers();
    Ok(n as i64)
}

/// Writes up to `len` bytes of pipe `i` to the file `out`; returns how
/// many it took.
fn pipe_to_file(
    ctx: &mut Ctx<'_>,
    i: &PipeEnd,
    out: &OpenFile,
    off: Option<i64>,
    len: usize,
    nonblock: bool,
) -> Result<usize, Errno> {
    // A terminal's TOSTOP check may signal the caller's group: made before
    // the pipe is locked.
    if matches!(out.kind, FileKind::Dev(Dev::Tty | Dev::Console)) {
        if let Some(tty) = &ctx.k.tty {
            if tty.ldisc().termios().l(libc::TOSTOP) {
                super::tty::check_output(ctx)?;
            }
        }
    }
    let n = {
        let mut p = i.pipe.lock();
        if p.buf.is_empty() {
            return io::empty_pipe(ctx, i, p.writers, nonblock).map(|n| n as usize);
        }
        let take = len.min(p.buf.len());
        let data: Vec<u8> = p.buf.range(..take).copied().collect();
        // The bytes leave the pipe only once the file has them.
        let n = sink_write(ctx, out, &data, off)?;
        p.buf.drain(..n.min(take));
        p.rgen += 1;
        n
    };
    i.pipe.wake_writers();
    Ok(n)
}

/// Reads up to `len` bytes of the file `inp` into pipe `o`, as much as it
/// has room for; returns how many.
fn file_to_pipe(
    ctx: &mut Ctx<'_>,
    inp: &OpenFile,
    o: &PipeEnd,
    off: Option<i64>,
    len: usize,
    nonblock: bool,
) -> Result<usize, Errno> {
    if inp.is_dir() {
        return Err(Errno::EINVAL);
    }
    let n = {
        let mut p = o.pipe.lock();
        if p.readers == 0 {
            drop(p);
            io::raise_sigpipe(ctx);
            return Err(Errno::EPIPE);
        }
        if p.room() == 0 {
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            return Err(ctx.block_on(&o.pipe.writers_wait));
        }
        let mut buf = vec![0u8; len.min(p.room())];
        let n = source_read(inp, &mut buf, off)?;
        if n == 0 {
            return Ok(0);
        }
        p.buf.extend(&buf[..n]);
        p.wgen += 1;
        n
    };
    o.pipe.wake_readers();
    Ok(n)
}

/// `tee(fd_in, fd_out, len, flags)`: copies up to `len` bytes from pipe
/// `fd_in` to pipe `fd_out` without consuming them.
///
/// As Linux checks: unknown flags EINVAL; `len` 0 returns 0; bad fds
/// EBADF; `fd_in` not open for reading or `fd_out` not for writing
/// EBADF; either not a pipe, or both the same pipe, EINVAL. It waits as
/// splice does between two pipes.
pub fn tee(ctx: &mut Ctx<'_>) -> SysResult {
    let len = (ctx.args[2] as usize).min(MAX_RW);
    let flags = ctx.args[3] as u32;
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let inp = ctx.file(0)?;
    let out = ctx.file(1)?;
    if !inp.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    match (pipe_of(&inp), pipe_of(&out)) {
        (Some(i), Some(o)) if !std::ptr::eq(&*i.pipe, &*o.pipe) => {
            let nonblock = flags & SPLICE_F_NONBLOCK != 0 || inp.nonblocking() || out.nonblocking();
            pipe_to_pipe(ctx, i, o, len, nonblock, false)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `vmsplice(fd, iov, nr_segs, flags)`: the caller's memory into a pipe
/// (an fd open for writing) or out of one (an fd open only for reading).
///
/// As Linux checks: unknown flags EINVAL; a bad fd, or one neither
/// readable nor writable, EBADF; a bad iovec array EFAULT or EINVAL
/// (more than IOV_MAX entries); an empty one returns 0; a non-pipe
/// EBADF. Only SPLICE_F_NONBLOCK (not the pipe's O_NONBLOCK) stops it
/// waiting. Into a pipe it waits for room and takes what fits; out of
/// one it waits for data (0 once there is no writer) and takes what is
/// there. Unreadable (unwritable) memory is EFAULT, and the pipe is left
/// as it was.
pub fn vmsplice(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.args[3] as u32;
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let f = ctx.file(0)?;
    let to_pipe = if f.writable() {
        true
    } else if f.readable() {
        false
    } else {
        return Err(Errno::EBADF);
    };
    let segs = io::read_iov(ctx, ctx.args[1], ctx.args[2])?;
    let total: usize = segs.iter().map(|s| s.1).sum();
    if total == 0 {
        return Ok(0);
    }
    let end = pipe_of(&f).ok_or(Errno::EBADF)?;
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let mut p = end.pipe.lock();
    if to_pipe {
        if p.readers == 0 {
            drop(p);
            io::raise_sigpipe(ctx);
            return Err(Errno::EPIPE);
        }
        if p.room() == 0 {
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            return Err(ctx.block_on(&end.pipe.writers_wait));
        }
        let data = io::gather(ctx, &segs, 0, total.min(p.room()))?;
        p.buf.extend(&data);
        p.wgen += 1;
        drop(p);
        end.pipe.wake_readers();
        Ok(data.len() as i64)
    } else {
        if p.buf.is_empty() {
            return io::empty_pipe(ctx, end, p.writers, nonblock);
        }
        let n = total.min(p.buf.len());
        let data: Vec<u8> = p.buf.range(..n).copied().collect();
        io::scatter(ctx, &segs, &data)?;
        p.buf.drain(..n);
        p.rgen += 1;
        drop(p);
        end.pipe.wake_writers();
        Ok(n as i64)
    }
}
