//! Memory syscalls the kernel emulates: brk, and mmap of files (anonymous
//! mappings up to a megabyte run natively; larger ones trap, to be refused
//! if larger than the machine and to meet the OOM killer first: see
//! trap/seccomp.rs and mm/oom.rs) (Linux's mm/mmap.c).
//! munmap, mprotect, madvise and mincore of file mappings run on the host
//! like those of anonymous memory: the mapping is the host's. msync runs
//! on the host too, then writes back the ext2 files mapped in its range.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, RawFd};

use super::names::nr;
use super::Ctx;
use crate::dev::devfs::Dev;
use crate::errno::{Errno, SysResult};
use crate::fs::ext2_mmap::{CACHE_BYTES, MEMFD_NAME};
use crate::fs::ext2_mount::{DirectPlan, Ext2File};
use crate::fs::file::FileKind;
use crate::kernel::Kernel;
use crate::mm::mem::CHUNK;
use crate::trap::fdpass::PassError;

const PAGE: u64 = 4096;

fn page_up(x: u64) -> u64 {
    x.div_ceil(PAGE) * PAGE
}

/// `brk(addr)`: moves the program break; returns the new break, or the
/// old one when it cannot move (Linux never returns an error from brk).
///
/// The heap is anonymous memory the kernel maps and unmaps by injection,
/// since the host's own break belongs to the stub, not to the program.
pub fn brk(ctx: &mut Ctx<'_>) -> SysResult {
    let want = ctx.args[0];
    let b = ctx.task.mm.lock().brk;
    if want < b.start || want >= crate::stub::USER_TOP {
        return Ok(b.cur as i64);
    }
    let (old_end, new_end) = (page_up(b.cur), page_up(want));
    if new_end > old_end {
        if crate::mm::oom::too_big(new_end - old_end, ctx.k.mem_bytes) {
            return Ok(b.cur as i64);
        }
        crate::mm::oom::at_growth(ctx.k, new_end - old_end);
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let r = ctx.inject(nr::MMAP, [old_end, new_end - old_end, prot, flags, u64::MAX, 0])?;
        if r as u64 != old_end {
            if (-4095..0).contains(&r) {
                return Ok(b.cur as i64);
            }
            // An old kernel took NOREPLACE as a hint and mapped elsewhere.
            ctx.inject(nr::MUNMAP, [r as u64, new_end - old_end, 0, 0, 0, 0])?;
            return Ok(b.cur as i64);
        }
    } else if new_end < old_end {
        ctx.inject(nr::MUNMAP, [new_end, old_end - new_end, 0, 0, 0, 0])?;
    }
    ctx.task.mm.lock().brk.cur = want;
    Ok(want as i64)
}

/// Whether `[addr, addr + len)` touches the stub's page, which belongs to
/// the kernel: Linux has no such page, so touching it is EINVAL, as for an
/// address outside the process's reach.
fn touches_stub(addr: u64, len: u64) -> bool {
    let len = len.max(1);
    addr < crate::stub::end() && addr.saturating_add(len) > crate::stub::base()
}

/// `munmap`, `mprotect` and `madvise` whose range starts below the stub's
/// end (anything else ran natively): refused if the range reaches the
/// stub, otherwise run as the guest asked.
pub fn guarded_range(ctx: &mut Ctx<'_>) -> SysResult {
    if touches_stub(ctx.args[0], ctx.args[1]) {
        return Err(Errno::EINVAL);
    }
    ctx.inject(ctx.regs.orig_rax, ctx.args)
}

/// `mremap(old, old_size, new_size, flags, new_addr)` that may reach the
/// stub: neither the old range nor a fixed new one may.
pub fn mremap(ctx: &mut Ctx<'_>) -> SysResult {
    let [old, old_size, new_size, flags, new_addr, _] = ctx.args;
    if touches_stub(old, old_size.max(new_size))
        || (flags & libc::MREMAP_FIXED as u64 != 0 && touches_stub(new_addr, new_size))
    {
        return Err(Errno::EINVAL);
    }
    if crate::mm::oom::too_big(new_size.saturating_sub(old_size), ctx.k.mem_bytes) {
        return Err(Errno::ENOMEM);
    }
    if new_size > old_size {
        crate::mm::oom::at_growth(ctx.k, new_size - old_size);
    }
    ctx.inject(nr::MREMAP, ctx.args)
}

/// Whether an anonymous mapping is charged against the machine's memory
/// (Linux's accountable_mapping and shmem's accounting in heuristic
/// overcommit mode): private writable or shared, unless MAP_NORESERVE.
fn accountable(args: [u64; 6]) -> bool {
    let [_, _, prot, flags, _, _] = args;
    let shared = flags & libc::MAP_SHARED as u64 != 0;
    flags & libc::MAP_NORESERVE as u64 == 0 && (shared || prot & libc::PROT_WRITE as u64 != 0)
}

/// `mmap` that did not run natively: a fixed anonymous mapping that may
/// reach the stub, or a file mapping.
pub fn mmap(ctx: &mut Ctx<'_>) -> SysResult {
    let [addr, len, _, flags, _, _] = ctx.args;
    if flags & libc::MAP_FIXED as u64 != 0 && touches_stub(addr, len) {
        return Err(Errno::EINVAL);
    }
    if flags & libc::MAP_ANONYMOUS as u64 != 0 {
        if accountable(ctx.args) {
            if crate::mm::oom::too_big(len, ctx.k.mem_bytes) {
                return Err(Errno::ENOMEM);
            }
            crate::mm::oom::at_growth(ctx.k, len);
        }
        return ctx.inject(nr::MMAP, ctx.args);
    }
    mmap_file(ctx)
}

/// `mmap` of a file (Linux's mm/mmap.c, as ARCHITECTURE §4 has it).
///
/// A hostfs file is mapped by the host itself: umvm hands the process a
/// duplicate of its host fd (trap::fdpass), the process maps it and closes
/// it. MAP_SHARED mappings then share the host's page cache with every
/// other process and with read/write, MAP_PRIVATE ones are copy-on-write
/// as in Linux, and one copy of a library's pages serves every guest
/// process. The fd's access mode is the guest's open mode, so the host
/// checks PROT_WRITE on MAP_SHARED exactly as Linux does (EACCES).
///
/// An ext2 file is mapped the same way from the memfd that is its page
/// cache (fs/ext2_mmap.rs): read-write for a shared mapping of a file open
/// for writing, read-only otherwise. A private mapping of a file that has
/// no memfd yet is mapped from the disk's host file where its blocks allow
/// ([`map_direct`]), with no memfd at all.
///
/// `/dev/zero` maps as anonymous memory (shared anonymous for MAP_SHARED).
/// If the fd cannot be handed over, a MAP_PRIVATE mapping falls back to a
/// private copy of the file's bytes.
fn mmap_file(ctx: &mut Ctx<'_>) -> SysResult {
    let [addr, len, prot, flags, _, off] = ctx.args;
    let flags = flags as i32;
    if len == 0 || off % PAGE != 0 {
        return Err(Errno::EINVAL);
    }
    let f = ctx.file(4)?;
    let shared = matches!(flags & libc::MAP_TYPE, libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE);
    if let FileKind::Dev(Dev::Zero) = &f.kind {
        let anon = (flags | libc::MAP_ANONYMOUS) as u64;
        return ctx.inject(nr::MMAP, [addr, len, prot, anon, u64::MAX, 0]);
    }
    if !matches!(&f.kind, FileKind::Host { dir: false, .. } | FileKind::Ext2(Ext2File { dir: false, .. })) {
        return Err(Errno::ENODEV);
    }
    if !f.readable() {
        return Err(Errno::EACCES);
    }
    if shared && prot & libc::PROT_WRITE as u64 != 0 && !f.writable() {
        return Err(Errno::EACCES);
    }
    match &f.kind {
        FileKind::Host { fd, .. } => map_fd(ctx, fd.as_raw_fd(), shared, ctx.args),
        FileKind::Ext2(e) => {
            if !shared {
                let exec = prot & libc::PROT_EXEC as u64 != 0;
                if let Some(plan) = e.fs.map_direct(e.ino, off, len, exec, &f.path)? {
                    return map_direct(ctx, plan);
                }
            }
            // A shared mapping of a writable fd may become writable later
            // (mprotect), so its memfd counts as dirty from now on.
            let writable = shared && f.writable();
            let (page_cache, new) = e.fs.map(e.ino, writable)?;
            page_cache.set_path(&f.path);
            let r = map_fd(ctx, page_cache.fd(writable), shared, ctx.args);
            if new {
                let mut mapped = None;
                e.fs.trim_pages(CACHE_BYTES, &mut |ino| {
                    mapped.get_or_insert_with(|| mapped_memfds(ctx.k)).contains(&ino)
                });
            }
            r
        }
        _ => Err(Errno::ENODEV),
    }
}

/// A MAP_PRIVATE mapping of an ext2 file without its memfd, as
/// [`Ext2Mount::map_direct`](crate::fs::ext2_mount::Ext2Mount::map_direct)
/// planned it: the file's whole pages mapped privately from the disk's
/// host file (the backing image of a COW disk), so that every guest over
/// one image shares the host's page cache of it; the rest of the mapping
/// (the file's partial last page, and any pages past its end) private
/// anonymous memory holding a copy of the file's last bytes, then zeros.
///
/// Deviations from Linux, both invisible to a program that stays within
/// its file and does not change a file it has mapped: pages wholly past
/// the end of the file read as zeros where Linux raises SIGBUS, and a
/// later write(2) or truncate of the file does not show in the pages the
/// mapping has not stored to (they keep the bytes the file had when it
/// was mapped; Linux shows the new bytes until a page is copied).
fn map_direct(ctx: &mut Ctx<'_>, plan: DirectPlan) -> SysResult {
    let [addr, len, prot, flags, _, _] = ctx.args;
    let total = page_up(len);
    let flags = flags as i32;
    let fd = plan.file.fd();
    tracing::debug!(
        "mmap: {} bytes in {} pieces from the disk, {} copied",
        plan.full,
        plan.extents.len(),
        total - plan.full
    );
    if let [(0, n, at)] = plan.extents[..] {
        if n >= total {
            return map_fd(ctx, fd, false, [addr, len, prot, flags as u64, 0, at]);
        }
    }
    // The whole range first, so that the pieces go where the host has
    // room for all of them (or where a fixed mapping asked).
    let anon =
        (flags & !(libc::MAP_TYPE | libc::MAP_HUGETLB | libc::MAP_GROWSDOWN)) | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let base = ctx.inject(nr::MMAP, [addr, total, rw, anon as u64, u64::MAX, 0])?;
    if (-4095..0).contains(&base) {
        return Ok(base);
    }
    let base = base as u64;
    let undo = |ctx: &mut Ctx<'_>| ctx.inject(nr::MUNMAP, [base, total, 0, 0, 0, 0]);
    let fixed = (flags & !libc::MAP_FIXED_NOREPLACE) | libc::MAP_FIXED;
    for &(rel, n, at) in &plan.extents {
        match map_fd(ctx, fd, false, [base + rel, n, prot, fixed as u64, 0, at]) {
            Ok(r) if r as u64 == base + rel => {}
            Ok(r) => {
                undo(ctx)?;
                return Ok(if (-4095..0).contains(&r) { r } else { -(libc::ENOMEM as i64) });
            }
            Err(e) => {
                if ctx.died.is_none() {
                    undo(ctx)?;
                }
                return Err(e);
            }
        }
    }
    if plan.full < total {
        let rest = base + plan.full;
        ctx.mem.write_force(rest, &plan.tail)?;
        if prot != rw {
            let r = ctx.inject(nr::MPROTECT, [rest, total - plan.full, prot, 0, 0, 0])?;
            if (-4095..0).contains(&r) {
                undo(ctx)?;
                return Ok(r);
            }
        }
    }
    Ok(base as i64)
}

/// Maps host fd `fd` into the calling process as `args`, a guest's mmap
/// arguments, ask (their fd aside), by handing the process a duplicate.
fn map_fd(ctx: &mut Ctx<'_>, fd: RawFd, shared: bool, args: [u64; 6]) -> SysResult {
    let [addr, len, prot, flags, _, off] = args;
    let k = ctx.k;
    if let Some(ch) = &k.channel {
        match ch.install(ctx.task.tid, ctx.regs, fd) {
            Ok(gfd) => {
                let r = ctx.inject(nr::MMAP, [addr, len, prot, flags, gfd as u64, off]);
                ctx.inject(nr::CLOSE, [gfd as u64, 0, 0, 0, 0, 0])?;
                let r = r?;
                // A host mount without exec rights does not bind the
                // guest: a private executable mapping is then a copy.
                let noexec = r == -(libc::EPERM as i64) && prot & libc::PROT_EXEC as u64 != 0;
                if !noexec || shared {
                    return Ok(r);
                }
            }
            Err(PassError::Gone(e)) => {
                ctx.died = Some(e);
                return Err(Errno::EFAULT);
            }
            Err(PassError::Host(e)) => tracing::debug!("fd hand-over failed ({e}); mapping a copy"),
        }
    }
    if shared {
        return Err(Errno::ENODEV);
    }
    mmap_copy(ctx, fd, args)
}

/// The host inode numbers of the ext2 page-cache memfds any guest process
/// maps, from the host's /proc/PID/maps of each.
fn mapped_memfds(k: &Kernel) -> HashSet<u64> {
    let procs: Vec<_> = k.procs().processes().cloned().collect();
    let name = format!("/memfd:{MEMFD_NAME}");
    let mut found = HashSet::new();
    for p in procs {
        let pid = p.state().host_pid;
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        for line in maps.lines() {
            if let Some((_, ino, _)) = memfd_line(line, &name) {
                found.insert(ino);
            }
        }
    }
    found
}

/// A /proc/PID/maps line of a mapping of a memfd named `name`: its start,
/// host inode number and end.
fn memfd_line(line: &str, name: &str) -> Option<(u64, u64, u64)> {
    let mut f = line.split_ascii_whitespace();
    let range = f.next()?;
    let ino = f.nth(3)?.parse().ok()?;
    let path = f.next()?;
    if path != name {
        return None;
    }
    let (lo, hi) = range.split_once('-')?;
    Some((u64::from_str_radix(lo, 16).ok()?, ino, u64::from_str_radix(hi, 16).ok()?))
}

/// `msync(addr, len, flags)`: the host's msync, then, for MS_SYNC and
/// MS_ASYNC, the write-back of every ext2 file mapped in the range (a
/// shared mapping's stores then reach the file; fs/ext2_mmap.rs).
pub fn msync(ctx: &mut Ctx<'_>) -> SysResult {
    let [addr, len, flags, ..] = ctx.args;
    if touches_stub(addr, len) {
        return Err(Errno::EINVAL);
    }
    let r = ctx.inject(nr::MSYNC, ctx.args)?;
    if r != 0 || flags & (libc::MS_SYNC | libc::MS_ASYNC) as u64 == 0 {
        return Ok(r);
    }
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{}/maps", ctx.task.tid)) else {
        return Ok(0);
    };
    let name = format!("/memfd:{MEMFD_NAME}");
    let end = addr.saturating_add(len);
    let inos: HashSet<u64> = maps
        .lines()
        .filter_map(|l| memfd_line(l, &name))
        .filter(|&(lo, _, hi)| lo < end.max(addr + 1) && hi > addr)
        .map(|(_, ino, _)| ino)
        .collect();
    if inos.is_empty() {
        return Ok(0);
    }
    for m in ctx.k.vfs.mounts().iter() {
        if let Some(d) = &m.disk {
            for &ino in &inos {
                d.write_back_memfd(ino)?;
            }
        }
    }
    Ok(0)
}

/// A private mapping holding a copy of the file's bytes.
fn mmap_copy(ctx: &mut Ctx<'_>, fd: i32, args: [u64; 6]) -> SysResult {
    let [addr, len, prot, flags, _, off] = args;
    let anon_flags = (flags as i32 & !libc::MAP_TYPE) | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let at = ctx.inject(nr::MMAP, [addr, len, prot, anon_flags as u64, u64::MAX, 0])?;
    if (-4095..0).contains(&at) {
        return Ok(at);
    }
    let at = at as u64;
    let mut buf = vec![0u8; (len as usize).min(CHUNK)];
    let mut done = 0u64;
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        // SAFETY: `buf` is writable for `want` bytes.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), want, (off + done) as i64) };
        let n = Errno::result(n)? as usize;
        if n == 0 {
            break;
        }
        ctx.mem.write_force(at + done, &buf[..n])?;
        done += n as u64;
    }
    Ok(at as i64)
}
