//! read, write and ioctl on the console terminal (Linux's
//! drivers/tty/tty_io.c, tty_jobctrl.c and n_tty.c's read side).
//!
//! Job control: a process of the terminal's session that is not in its
//! foreground group gets SIGTTIN when it reads, and SIGTTOU when it writes
//! with TOSTOP set or changes the terminal's settings; its syscall then
//! restarts once the group is continued. A reader that blocks or ignores
//! SIGTTIN, or whose group is orphaned, gets EIO instead.

use std::time::{Duration, Instant};

use super::Ctx;
use crate::dev::termios::{self, cc, Termios};
use crate::dev::tty::{Tty, Winsize};
use crate::errno::{Errno, SysResult};
use crate::fs::file::OpenFile;
use crate::mm::mem::CHUNK;
use crate::signal::{send, SigInfoFix};
use crate::trap::ptrace;

/// Linux's `__tty_check_change` and `job_control`: whether the caller may
/// go on, or gets `sig` first (Err(RESTART), or EINTR when a handler
/// without SA_RESTART takes it). `read` chooses EIO for a blocked or
/// ignored signal; other operations go on then.
fn check_foreground(ctx: &Ctx<'_>, sig: i32, read: bool) -> Result<(), Errno> {
    let (sid, fg) = ctx.k.console_tty.get();
    let (my_sid, my_pgid) = {
        let s = ctx.task.process.state();
        (s.sid, s.pgid)
    };
    if my_sid != sid || my_pgid == fg {
        return Ok(());
    }
    let blocked = ptrace::get_sigmask(ctx.task.tid).map(|m| m & (1u64 << (sig - 1)) != 0).unwrap_or(false);
    let (ignored, handled_no_restart) = {
        let h = ctx.task.process.sighand.lock();
        let handled = h.has_handler(sig);
        (h.is_ignored(sig) && !handled, handled && !h.restarts(sig))
    };
    if blocked || ignored {
        return if read { Err(Errno::EIO) } else { Ok(()) };
    }
    if ctx.k.procs().pgrp_orphaned(my_pgid) {
        return Err(Errno::EIO);
    }
    let fix = SigInfoFix { code: libc::SI_KERNEL, pid: 0, uid: 0, status: 0, value: None, timer: None };
    let _ = send::to_group(ctx.k, my_pgid, sig, fix);
    Err(if handled_no_restart { Errno::EINTR } else { Errno::RESTART })
}

/// Reads the terminal. Canonical mode returns a line (or end of file);
/// non-canonical mode follows VMIN and VTIME as termios(3) describes:
/// MIN bytes, or a byte within TIME tenths of a second, or a timeout.
pub fn read(ctx: &mut Ctx<'_>, f: &OpenFile, tty: &Tty, max: usize) -> Result<Vec<u8>, Errno> {
    check_foreground(ctx, libc::SIGTTIN, true)?;
    let max = max.min(CHUNK);
    let mut l = tty.ldisc();
    let t = l.termios();
    if max == 0 {
        return Ok(Vec::new());
    }
    if t.l(libc::ICANON) {
        if let Some(d) = tty.take(&mut l, max) {
            return Ok(d);
        }
    } else {
        let (vmin, vtime) = (t.cc[cc::VMIN] as usize, t.cc[cc::VTIME] as u64);
        let avail = l.available();
        let timed_out = ctx.deadline.is_some_and(|d| Instant::now() >= d);
        let enough = avail >= vmin.min(max) || l.hung_up() || (avail > 0 && (vmin == 0 || timed_out));
        if enough || (vmin == 0 && (vtime == 0 || timed_out)) {
            return Ok(tty.take(&mut l, max).unwrap_or_default());
        }
        if vtime > 0 && !f.nonblocking() && (vmin == 0 || avail > 0) && ctx.deadline.is_none() {
            // TIME runs from the call (MIN = 0) or from the first byte.
            let e = ctx.block_on(&tty.readers);
            ctx.block_until(Instant::now() + Duration::from_millis(vtime * 100));
            return Err(e);
        }
    }
    if f.nonblocking() {
        return Err(Errno::EAGAIN);
    }
    // Registered under the line discipline's lock: input arriving after
    // this check wakes us.
    let q = tty.readers.clone();
    Err(ctx.block_on(&q))
}

/// The check a write to the terminal makes first when TOSTOP is set:
/// SIGTTOU for a process outside the foreground group.
pub fn check_output(ctx: &Ctx<'_>) -> Result<(), Errno> {
    check_foreground(ctx, libc::SIGTTOU, false)
}

/// Writes to the terminal (output-processed), after the TOSTOP check.
pub fn write(ctx: &mut Ctx<'_>, tty: &Tty, data: &[u8]) -> SysResult {
    if tty.ldisc().termios().l(libc::TOSTOP) {
        check_foreground(ctx, libc::SIGTTOU, false)?;
    }
    tty.write(data).map(|n| n as i64)
}

fn read_termios(ctx: &Ctx<'_>, arg: u64) -> Result<Termios, Errno> {
    let mut b = [0u8; termios::SIZE];
    ctx.mem.read(arg, &mut b)?;
    Ok(Termios::from_bytes(&b))
}

/// Terminal ioctls on the console terminal.
pub fn ioctl(ctx: &mut Ctx<'_>, tty: &Tty, req: u64, arg: u64) -> SysResult {
    match req {
        libc::TCGETS => {
            let b = tty.ldisc().termios().to_bytes();
            ctx.mem.write(arg, &b)?;
            Ok(0)
        }
        libc::TCSETS | libc::TCSETSW | libc::TCSETSF => {
            let t = read_termios(ctx, arg)?;
            check_foreground(ctx, libc::SIGTTOU, false)?;
            let mut l = tty.ldisc();
            // Output is written synchronously: TCSETSW's drain is done.
            if req == libc::TCSETSF {
                tty.flush_input(&mut l);
            }
            l.set_termios(t);
            drop(l);
            ctx.k.wake_all(&tty.readers);
            Ok(0)
        }
        libc::TIOCGWINSZ => {
            let ws = tty.winsize();
            ctx.mem.write_val(arg, &ws)?;
            Ok(0)
        }
        libc::TIOCSWINSZ => {
            let ws: Winsize = ctx.mem.read_val(arg)?;
            tty.set_winsize(ctx.k, ws);
            Ok(0)
        }
        libc::FIONREAD => {
            let n = tty.ldisc().available() as i32;
            ctx.mem.write_val(arg, &n)?;
            Ok(0)
        }
        libc::TIOCOUTQ => {
            // Nothing is queued: output goes to the host as it is written.
            ctx.mem.write_val(arg, &0i32)?;
            Ok(0)
        }
        libc::TCFLSH => {
            check_foreground(ctx, libc::SIGTTOU, false)?;
            match arg as i32 {
                libc::TCIFLUSH | libc::TCIOFLUSH => tty.flush_input(&mut tty.ldisc()),
                libc::TCOFLUSH => {}
                _ => return Err(Errno::EINVAL),
            }
            Ok(0)
        }
        libc::TCSBRK | libc::TCSBRKP => {
            // tcdrain, or a break: output is never queued, and a console
            // line has no break to send.
            check_foreground(ctx, libc::SIGTTOU, false)?;
            Ok(0)
        }
        libc::TIOCGETD => {
            ctx.mem.write_val(arg, &0i32)?;
            Ok(0)
        }
        _ => job_ioctl(ctx, req, arg),
    }
}

/// The job-control ioctls: the console's session and foreground group.
/// They are also served when the console is the host's terminal passed
/// through (`--console pipe` on a terminal).
pub fn job_ioctl(ctx: &mut Ctx<'_>, req: u64, arg: u64) -> SysResult {
    match req {
        libc::TIOCGPGRP => {
            let (_, fg) = ctx.k.console_tty.get();
            ctx.mem.write_val(arg, &fg)?;
            Ok(0)
        }
        libc::TIOCSPGRP => {
            let pgrp: i32 = ctx.mem.read_val(arg)?;
            if pgrp < 0 {
                return Err(Errno::EINVAL);
            }
            let (sid, _) = ctx.k.console_tty.get();
            if ctx.task.process.state().sid != sid {
                return Err(Errno::ENOTTY);
            }
            check_foreground(ctx, libc::SIGTTOU, false)?;
            let sessions: Vec<i32> = ctx
                .k
                .procs()
                .processes()
                .filter_map(|p| {
                    let s = p.state();
                    (s.pgid == pgrp && s.exit.is_none()).then_some(s.sid)
                })
                .collect();
            if sessions.is_empty() {
                return Err(Errno::ESRCH);
            }
            if !sessions.contains(&sid) {
                return Err(Errno::EPERM);
            }
            ctx.k.console_tty.set_foreground(pgrp);
            Ok(0)
        }
        libc::TIOCGSID => {
            let (sid, _) = ctx.k.console_tty.get();
            ctx.mem.write_val(arg, &sid)?;
            Ok(0)
        }
        libc::TIOCSCTTY => {
            // A session leader takes the console as its controlling terminal.
            let (sid, pgid, vpid) = {
                let s = ctx.task.process.state();
                (s.sid, s.pgid, ctx.task.vpid())
            };
            if sid != vpid {
                return Err(Errno::EPERM);
            }
            ctx.k.console_tty.set_session(sid, pgid);
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}
