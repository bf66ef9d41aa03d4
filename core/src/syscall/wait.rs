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

/// A state change wait reports.
#[derive(Clone, Copy)]
enum Change {
    Exited(ExitStatus),
    Stopped(i32),
    Continued,
}

/// Finds a matching child whose state changed in a way `options` asks
/// for (exit always; WUNTRACED/WSTOPPED stops; WCONTINUED continues);
/// ECHILD when no child matches at all. Reaps or marks it reported
/// unless `keep` (WNOWAIT).
fn find_change(ctx: &Ctx<'_>, which: Which, options: i32, keep: bool) -> Result<Option<(i32, Change)>, Errno> {
    let me = ctx.task.process.clone();
    let children: Vec<i32> = me.state().children.iter().copied().collect();
    let mut any = false;
    for c in children {
        let Some(cp) = ctx.k.procs().process(c) else { continue };
        if !matches(which, &cp) {
            continue;
        }
        any = true;
        let mut st = cp.state();
        if let (Some(status), true) = (st.exit, options & libc::WEXITED != 0) {
            drop(st);
            if !keep {
                reap(ctx, &me, c);
            }
            return Ok(Some((c, Change::Exited(status))));
        }
        if let (Some((sig, false)), true) = (st.stopped, options & libc::WUNTRACED != 0) {
            if !keep {
                st.stopped = Some((sig, true));
            }
            return Ok(Some((c, Change::Stopped(sig))));
        }
        if st.continued && options & libc::WCONTINUED != 0 {
            if !keep {
                st.continued = false;
            }
            return Ok(Some((c, Change::Continued)));
        }
    }
    if any {
        Ok(None)
    } else {
        Err(Errno::ECHILD)
    }
}

/// Reaps a zombie: its CPU use (and its children's) becomes its parent's
/// children's use (RUSAGE_CHILDREN, times).
fn reap(ctx: &Ctx<'_>, parent: &Arc<Process>, child: i32) {
    let gone = ctx.k.procs().remove_process(child);
    let mut st = parent.state();
    st.children.remove(&child);
    if let Some(c) = gone {
        let cs = c.state();
        st.usage_children.add(cs.usage_dead_threads);
        st.usage_children.add(cs.usage_children);
    }
}

/// A child's total usage, for wait4's rusage.
fn child_usage(ctx: &Ctx<'_>, vpid: i32) -> crate::trap::ptrace::Usage {
    ctx.k.procs().process(vpid).map_or_else(Default::default, |c| {
        let cs = c.state();
        let mut u = cs.usage_dead_threads;
        u.add(cs.usage_children);
        u
    })
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
    // Read the child's usage before the wait reaps it.
    let peek = find_change(ctx, which, options | libc::WEXITED, true)?;
    let usage = peek.map(|(v, _)| child_usage(ctx, v)).unwrap_or_default();
    match find_change(ctx, which, options | libc::WEXITED, false)? {
        Some((vpid, change)) => {
            let word = match change {
                Change::Exited(s) => s.wait_status(),
                Change::Stopped(sig) => (sig << 8) | 0x7f,
                Change::Continued => 0xffff,
            };
            if status_ptr != 0 {
                ctx.mem.write_val(status_ptr, &word)?;
            }
            if rusage != 0 {
                ctx.mem.write_val(rusage, &super::time::rusage_of(usage))?;
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
    // waitid spells WUNTRACED as WSTOPPED (the same bit).
    let found = find_change(ctx, which, options, options & libc::WNOWAIT != 0)?;
    let mut info = [0u8; 128];
    match found {
        Some((vpid, change)) => {
            let (code, st) = match change {
                Change::Exited(ExitStatus::Exited(c)) => (libc::CLD_EXITED, c),
                Change::Exited(ExitStatus::Killed(s)) => (libc::CLD_KILLED, s),
                Change::Stopped(sig) => (libc::CLD_STOPPED, sig),
                Change::Continued => (libc::CLD_CONTINUED, libc::SIGCONT),
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
