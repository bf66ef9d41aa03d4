//! Resource limits: getrlimit, setrlimit, prlimit64.
//!
//! Limits are per process and virtual: they start at Linux's defaults for
//! init, and the kernel enforces the ones it implements (RLIMIT_NOFILE
//! today; RLIMIT_STACK sizes the main stack).

use super::Ctx;
use crate::errno::{Errno, SysResult};

const INF: u64 = libc::RLIM_INFINITY;
const NLIMITS: usize = 16;

/// The 16 limits of a process.
#[derive(Clone, Copy, Debug)]
pub struct Rlimits(pub [(u64, u64); NLIMITS]);

impl Default for Rlimits {
    fn default() -> Rlimits {
        let mut l = [(INF, INF); NLIMITS];
        l[libc::RLIMIT_STACK as usize] = (8 << 20, INF);
        l[libc::RLIMIT_CORE as usize] = (0, INF);
        l[libc::RLIMIT_NOFILE as usize] = (1024, 4096);
        l[libc::RLIMIT_MEMLOCK as usize] = (8 << 20, 8 << 20);
        l[libc::RLIMIT_NPROC as usize] = (63_459, 63_459);
        l[libc::RLIMIT_SIGPENDING as usize] = (63_459, 63_459);
        l[libc::RLIMIT_MSGQUEUE as usize] = (819_200, 819_200);
        l[libc::RLIMIT_NICE as usize] = (0, 0);
        l[libc::RLIMIT_RTPRIO as usize] = (0, 0);
        Rlimits(l)
    }
}

impl Rlimits {
    /// The soft limit on open fds.
    pub fn nofile(&self) -> u64 {
        self.0[libc::RLIMIT_NOFILE as usize].0
    }
}

fn resource(r: u64) -> Result<usize, Errno> {
    usize::try_from(r).ok().filter(|&r| r < NLIMITS).ok_or(Errno::EINVAL)
}

fn set(ctx: &mut Ctx<'_>, res: usize, new: libc::rlimit) -> Result<(), Errno> {
    let (_, max) = ctx.task.process.state().rlimits.0[res];
    if new.rlim_cur > new.rlim_max {
        return Err(Errno::EINVAL);
    }
    if new.rlim_max > max && ctx.task.process.state().creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    ctx.task.process.state().rlimits.0[res] = (new.rlim_cur, new.rlim_max);
    Ok(())
}

/// `prlimit64(pid, resource, new, old)`: pid 0 or the caller itself.
pub fn prlimit64(ctx: &mut Ctx<'_>) -> SysResult {
    let pid = ctx.int(0);
    if pid != 0 && pid != ctx.task.vpid() {
        return Err(Errno::ESRCH);
    }
    let res = resource(ctx.args[1])?;
    let new = if ctx.args[2] != 0 { Some(ctx.mem.read_val::<libc::rlimit>(ctx.args[2])?) } else { None };
    if ctx.args[3] != 0 {
        let (cur, max) = ctx.task.process.state().rlimits.0[res];
        ctx.mem.write_val(ctx.args[3], &libc::rlimit { rlim_cur: cur, rlim_max: max })?;
    }
    if let Some(new) = new {
        set(ctx, res, new)?;
    }
    Ok(0)
}

/// `getrlimit(resource, rlim)`.
pub fn getrlimit(ctx: &mut Ctx<'_>) -> SysResult {
    let res = resource(ctx.args[0])?;
    let (cur, max) = ctx.task.process.state().rlimits.0[res];
    ctx.mem.write_val(ctx.args[1], &libc::rlimit { rlim_cur: cur, rlim_max: max })?;
    Ok(0)
}

/// `setrlimit(resource, rlim)`.
pub fn setrlimit(ctx: &mut Ctx<'_>) -> SysResult {
    let res = resource(ctx.args[0])?;
    let new = ctx.mem.read_val::<libc::rlimit>(ctx.args[1])?;
    set(ctx, res, new)?;
    Ok(0)
}
