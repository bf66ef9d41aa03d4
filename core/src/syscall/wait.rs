//! wait4 and waitid (Linux's kernel/exit.c): children's exits as umvm
//! recorded them (the host processes were reaped by the tracer loop).

use std::sync::Arc;

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::task::{ExitStatus, Process};

/// Which children a wait is about.
#[derive(Clone, Copy)]
enum Which {
    Any,
    Pid(i32),
    Pgid(i32),
}

fn matches(which: Which, child: &Process) -> bool {
    match which {
        Which::Any => true,
        Which::Pid(p) => child.vpid == p,
        Which::Pgid(g) => child.state().pgid == g,
    }
}

/// Finds a matching zombie child; ECHILD when nothing matches at all.
/// Reaps it unless `keep` (WNOWAIT).
fn find_zombie(ctx: &Ctx<'_>, which: Which, keep: bool) -> Result<Option<(i32, ExitStatus)>, Errno> {
    let me = ctx.task.process.clone();
    let children: Vec<i32> = me.state().children.iter().copied().collect();
    let mut any = false;
    for c in children {
        let Some(cp) = ctx.k.procs().process(c) else { continue };
        if !matches(which, &cp) {
            continue;
        }
        any = true;
        let exit = cp.state().exit;
        if let Some(status) = exit {
            if !keep {
                reap(ctx, &me, c);
            }
            return Ok(Some((c, status)));
        }
    }
    if any {
        Ok(None)
    } else {
        Err(Errno::ECHILD)
    }
}

fn reap(ctx: &Ctx<'_>, parent: &Arc<Process>, child: i32) {
    parent.state().children.remove(&child);
    ctx.k.procs().remove_process(child);
}

const WAIT_OPTIONS: i32 =
    libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED | libc::__WNOTHREAD | libc::__WCLONE | libc::__WALL;

/// `wait4(pid, wstatus, options, rusage)`.
pub fn wait4(ctx: &mut Ctx<'_>) -> SysResult {
    let (pid, status_ptr, options, rusage) = (ctx.int(0), ctx.args[1], ctx.int(2), ctx.args[3]);
    if options & !WAIT_OPTIONS != 0 {
        return Err(Errno::EINVAL);
    }
    let which = match pid {
        -1 => Which::Any,
        0 => Which::Pgid(ctx.task.process.state().pgid),
        p if p < -1 => Which::Pgid(-p),
        p => Which::Pid(p),
    };
    match find_zombie(ctx, which, false)? {
        Some((vpid, status)) => {
            if status_ptr != 0 {
                ctx.mem.write_val(status_ptr, &status.wait_status())?;
            }
            if rusage != 0 {
                // Resource use of children is not accounted yet: zeros.
                ctx.mem.write(rusage, &[0u8; 144])?;
            }
            Ok(vpid as i64)
        }
        None if options & libc::WNOHANG != 0 => Ok(0),
        None => {
            let q = ctx.task.process.child_wait.clone();
            Err(ctx.block_on(&q))
        }
    }
}

/// `waitid(idtype, id, infop, options, rusage)`.
pub fn waitid(ctx: &mut Ctx<'_>) -> SysResult {
    let (idtype, id, infop, options) = (ctx.args[0] as u32, ctx.int(1), ctx.args[2], ctx.int(3));
    let known = libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED | libc::WNOHANG | libc::WNOWAIT | WAIT_OPTIONS;
    if options & !known != 0 || options & (libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let which = match idtype {
        libc::P_ALL => Which::Any,
        libc::P_PID if id > 0 => Which::Pid(id),
        libc::P_PGID if id > 0 => Which::Pgid(id),
        libc::P_PGID if id == 0 => Which::Pgid(ctx.task.process.state().pgid),
        _ => return Err(Errno::EINVAL),
    };
    let found =
        if options & libc::WEXITED != 0 { find_zombie(ctx, which, options & libc::WNOWAIT != 0)? } else { None };
    let mut info = [0u8; 128];
    match found {
        Some((vpid, status)) => {
            let (code, st) = match status {
                ExitStatus::Exited(c) => (libc::CLD_EXITED, c),
                ExitStatus::Killed(s) => (libc::CLD_KILLED, s),
            };
            info[0..4].copy_from_slice(&libc::SIGCHLD.to_le_bytes());
            info[8..12].copy_from_slice(&code.to_le_bytes());
            info[16..20].copy_from_slice(&vpid.to_le_bytes());
            info[24..28].copy_from_slice(&st.to_le_bytes());
        }
        None if options & libc::WNOHANG != 0 => {}
        None => {
            let q = ctx.task.process.child_wait.clone();
            return Err(ctx.block_on(&q));
        }
    }
    if infop != 0 {
        ctx.mem.write(infop, &info)?;
    }
    Ok(0)
}
