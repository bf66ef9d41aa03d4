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
