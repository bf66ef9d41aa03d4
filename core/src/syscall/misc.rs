//! The machine as a whole: uname, sethostname, sysinfo, getrandom.

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::mm::mem::CHUNK;

/// The kernel release umvm reports (a Linux its syscalls follow).
pub const RELEASE: &[u8] = b"6.1.0-umvm";

fn field(dst: &mut [libc::c_char; 65], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.iter().take(64)) {
        *d = *s as libc::c_char;
    }
}

/// `uname(buf)`.
pub fn uname(ctx: &mut Ctx<'_>) -> SysResult {
    // SAFETY: utsname is plain arrays of chars; all-zero is valid.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    field(&mut u.sysname, b"Linux");
    field(&mut u.nodename, &ctx.k.hostname.lock().map(|h| h.clone()).unwrap_or_default());
    field(&mut u.release, RELEASE);
    field(&mut u.version, b"#1 SMP umvm");
    field(&mut u.machine, b"x86_64");
    field(&mut u.domainname, b"(none)");
    ctx.mem.write_val(ctx.args[0], &u)?;
    Ok(0)
}

/// `sethostname(name, len)`: root only, at most 64 bytes.
pub fn sethostname(ctx: &mut Ctx<'_>) -> SysResult {
    if ctx.task.process.state().creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    let len = ctx.args[1] as usize;
    if len > 64 {
        return Err(Errno::EINVAL);
    }
    let name = ctx.mem.read_vec(ctx.args[0], len)?;
    if let Ok(mut h) = ctx.k.hostname.lock() {
        *h = name;
    }
    Ok(0)
}

/// `sysinfo(info)`: uptime since boot, the VM's memory (as
/// /proc/meminfo counts it: no swap, no buffers), its threads (Linux's
/// nr_threads). The VM keeps no load average.
pub fn sysinfo(ctx: &mut Ctx<'_>) -> SysResult {
    let m = crate::fs::procfs::machine::mem_usage(ctx.k);
    let threads = crate::fs::procfs::machine::thread_count(ctx.k);
    // SAFETY: sysinfo is plain integers; all-zero is valid.
    let mut s: libc::sysinfo = unsafe { std::mem::zeroed() };
    s.uptime = ctx.k.boot.elapsed().as_secs() as i64;
    s.totalram = m.total;
    s.freeram = m.free;
    s.sharedram = m.shmem;
    s.procs = threads.min(u16::MAX as usize) as u16;
    s.mem_unit = 1;
    ctx.mem.write_val(ctx.args[0], &s)?;
    Ok(0)
}

/// `getrandom(buf, len, flags)`.
pub fn getrandom(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.args[2] as u32;
    if flags & !(libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE) != 0 {
        return Err(Errno::EINVAL);
    }
    // Linux returns at most 32 MiB - 1 per call; one buffer's worth is
    // just as valid a short count.
    let len = (ctx.args[1] as usize).min(CHUNK);
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        // SAFETY: the slice is writable for its length.
        let n = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), len - got, 0) };
        got += Errno::result(n)? as usize;
    }
    ctx.mem.write(ctx.args[0], &buf)?;
    Ok(len as i64)
}

/// `personality(persona)`: the execution domain flags (ADDR_NO_RANDOMIZE
/// and friends, as setarch sets them). 0xffffffff queries. umvm keeps
/// the value per process and reports it; only PER_LINUX is a domain it
/// runs, so another base personality is EINVAL.
pub fn personality(ctx: &mut Ctx<'_>) -> SysResult {
    let new = ctx.args[0] as u32;
    let mut st = ctx.task.process.state();
    let old = st.personality;
    if new != u32::MAX {
        if new & 0xff != 0 {
            return Err(Errno::EINVAL);
        }
        st.personality = new;
    }
    Ok(old as i64)
}

/// `sched_getaffinity(pid, size, mask)`: the CPUs the VM has (one per
/// tracer loop); the result is the mask's size in bytes, as the raw
/// syscall returns it.
pub fn sched_getaffinity(ctx: &mut Ctx<'_>) -> SysResult {
    let pid = ctx.int(0);
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && ctx.k.procs().thread(pid).is_none() {
        return Err(Errno::ESRCH);
    }
    let size = ctx.args[1] as usize;
    if size < 8 || !size.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let cpus = ctx.k.loops.len().min(64);
    let mask: u64 = if cpus == 64 { u64::MAX } else { (1u64 << cpus) - 1 };
    ctx.mem.write_val(ctx.args[2], &mask)?;
    Ok(8)
}

/// `getcpu(&cpu, &node, cache)`: the CPU of the tracer loop serving the
/// caller, node 0.
pub fn getcpu(ctx: &mut Ctx<'_>) -> SysResult {
    let cpu = ctx.me.loop_id as u32;
    if ctx.args[0] != 0 {
        ctx.mem.write_val(ctx.args[0], &cpu)?;
    }
    if ctx.args[1] != 0 {
        ctx.mem.write_val(ctx.args[1], &0u32)?;
    }
    Ok(0)
}

/// The processes `which`/`who` of getpriority/setpriority name.
fn prio_targets(ctx: &Ctx<'_>) -> Result<Vec<std::sync::Arc<crate::task::Process>>, Errno> {
    let (which, who) = (ctx.args[0] as u32, ctx.int(1));
    let (my_pgid, my_uid) = {
        let me = ctx.task.process.state();
        (me.pgid, me.creds.uid)
    };
    let procs = ctx.k.procs();
    let live = procs.processes().filter(|p| p.state().exit.is_none());
    let v: Vec<_> = match which {
        libc::PRIO_PROCESS if who == 0 => vec![ctx.task.process.clone()],
        libc::PRIO_PROCESS => live.filter(|p| p.vpid == who).cloned().collect(),
        libc::PRIO_PGRP => {
            let g = if who == 0 { my_pgid } else { who };
            live.filter(|p| p.state().pgid == g).cloned().collect()
        }
        libc::PRIO_USER => {
            let u = if who == 0 { my_uid } else { who as u32 };
            live.filter(|p| p.state().creds.uid == u).cloned().collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if v.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(v)
}

/// `getpriority(which, who)`: the highest priority (lowest nice) among
/// the processes named, as the raw syscall encodes it: 20 - nice.
pub fn getpriority(ctx: &mut Ctx<'_>) -> SysResult {
    let targets = prio_targets(ctx)?;
    let nice = targets.iter().map(|p| p.state().nice).min().unwrap_or(0);
    Ok(20 - nice as i64)
}

/// `setpriority(which, who, nice)`: nice clamped to -20..19; lowering it
/// takes root. The host process gets the same nice value, so the host
/// scheduler honours it.
pub fn setpriority(ctx: &mut Ctx<'_>) -> SysResult {
    let nice = ctx.int(2).clamp(-20, 19);
    let targets = prio_targets(ctx)?;
    let root = ctx.task.process.state().creds.euid == 0;
    for p in &targets {
        let mut st = p.state();
        if nice < st.nice && !root {
            return Err(Errno::EACCES);
        }
        st.nice = nice;
        // SAFETY: plain setpriority on a host process umvm owns; a failure
        // only leaves the host's scheduling as it was.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, st.host_pid as u32, nice) };
    }
    Ok(0)
}
