//! The files of /proc/PID and /proc/PID/task/TID: stat, statm, status,
//! cmdline, environ, auxv and maps (Linux's fs/proc/array.c, base.c and
//! task_mmu.c).
//!
//! A guest process is a host process: its CPU time, faults, memory sizes
//! and mappings are the host's figures for it, given the guest's ids and
//! paths; what exec laid out (argv and environment on the stack, the
//! auxv, the program's segments) is the kernel's own record.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use super::host::{HostStat, HostStatus};
use super::machine::TICKS_PER_SEC;
use crate::kernel::Kernel;
use crate::mm::GuestMem;
use crate::task::{Process, Task};

/// One task as procfs shows it: /proc/PID (the process, `tid` is its
/// pid) or /proc/PID/task/TID (one of its threads).
pub struct View {
    /// The process.
    pub p: Arc<Process>,
    /// The thread shown.
    pub tid: i32,
}

impl View {
    /// The host tid of the thread shown, when it is not the main thread.
    fn host_thread(&self, k: &Kernel) -> Option<i32> {
        if self.tid == self.p.vpid {
            return None;
        }
        k.procs().thread(self.tid).map(|t| t.tid)
    }
}

/// The largest argv or environment procfs reads back (the loader's limit
/// on both together).
const MAX_AREA: u64 = crate::mm::loader::MAX_ARGS_TOTAL as u64;

/// Reads `[lo, hi)` of a process's memory (what is readable of it).
fn read_area(host_pid: i32, lo: u64, hi: u64) -> Vec<u8> {
    let len = hi.saturating_sub(lo).min(MAX_AREA) as usize;
    let mut buf = vec![0u8; len];
    let n = GuestMem::new(host_pid).read_partial(lo, &mut buf).unwrap_or(0);
    buf.truncate(n);
    buf
}

/// The process's host pid and exec layout, unless it is a zombie (whose
/// memory is gone: Linux shows its cmdline, environ and auxv empty).
fn live_image(p: &Process) -> Option<(i32, Arc<crate::task::ExecImage>)> {
    let st = p.state();
    st.exit.is_none().then(|| (st.host_pid, st.image.clone()))
}

/// /proc/PID/cmdline: the argv area of the process's stack, read from its
/// memory as Linux does (a program may rewrite it). When the NUL that
/// ends it has been overwritten (setproctitle), the title runs on to the
/// first NUL, into the environment area.
pub fn cmdline(p: &Process) -> Vec<u8> {
    let Some((host, img)) = live_image(p) else { return Vec::new() };
    let l = &img.layout;
    let mut v = read_area(host, l.arg_start, l.arg_end);
    if v.last().is_some_and(|&b| b != 0) {
        v = read_area(host, l.arg_start, l.env_end.max(l.arg_end));
        let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
        v.truncate(end);
    }
    v
}

/// /proc/PID/environ: the environment area of the process's stack.
pub fn environ(p: &Process) -> Vec<u8> {
    let Some((host, img)) = live_image(p) else { return Vec::new() };
    read_area(host, img.layout.env_start, img.layout.env_end)
}

/// /proc/PID/auxv: the auxiliary vector exec gave the program, as pairs of
/// native-endian words ending with AT_NULL.
pub fn auxv(p: &Process) -> Vec<u8> {
    let Some((_, img)) = live_image(p) else { return Vec::new() };
    img.layout.auxv.iter().flat_map(|(k, v)| k.to_ne_bytes().into_iter().chain(v.to_ne_bytes())).collect()
}

/// The command name of a process's main thread.
pub fn comm(p: &Process) -> String {
    let comm = p.state().comm;
    let end = comm.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

/// The one-letter state: the kernel's own (zombie, stopped by job
/// control), then the host's for the thread: a guest thread stopped by
/// its tracer is in a syscall the kernel emulates, asleep unless it is
/// the reader itself.
fn state_char(v: &View, caller: &Task, host: Option<&HostStat>) -> char {
    let st = v.p.state();
    if st.exit.is_some() {
        return 'Z';
    }
    if st.stopped.is_some() {
        return 'T';
    }
    drop(st);
    if v.tid == caller.vtid || (v.tid == v.p.vpid && v.p.vpid == caller.vpid()) {
        return 'R';
    }
    host.map(|h| h.state).filter(|c| matches!(c, 'R' | 'D')).unwrap_or('S')
}

fn state_name(c: char) -> &'static str {
    match c {
        'R' => "R (running)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        'Z' => "Z (zombie)",
        _ => "S (sleeping)",
    }
}

/// Linux's new_encode_dev, as stat's tty_nr holds a device number.
fn encode_dev(major: u32, minor: u32) -> u64 {
    u64::from(minor & 0xff) | (u64::from(major) << 8) | (u64::from(minor & !0xff) << 12)
}

/// The console's device number and foreground group when `sid` is the
/// session it controls (only when the console is a terminal).
fn ctty(k: &Kernel, sid: i32) -> Option<(u64, i32)> {
    k.tty.as_ref()?;
    let (session, fg) = k.console_tty.get();
    let (ma, mi) = crate::dev::devfs::Dev::Console.number();
    (session == sid).then_some((encode_dev(ma, mi), fg))
}

/// PF_* flags of /proc/PID/stat.
const PF_EXITING: u64 = 0x4;
const PF_FORKNOEXEC: u64 = 0x40;
const PF_RANDOMIZE: u64 = 0x40_0000;

/// Signals with SIG_IGN and with a handler, as bit masks (bit N-1 for
/// signal N).
fn ignored_and_caught(p: &Process) -> (u64, u64) {
    let h = p.sighand.lock();
    let (mut ign, mut cgt) = (0u64, 0u64);
    for sig in 1..=crate::signal::NSIG as i32 {
        let a = h.get(sig);
        if a.handler == crate::signal::SIG_IGN {
            ign |= 1 << (sig - 1);
        } else if a.handler > crate::signal::SIG_IGN {
            cgt |= 1 << (sig - 1);
        }
    }
    (ign, cgt)
}

fn page_down(x: u64) -> u64 {
    x & !4095
}

fn page_up(x: u64) -> u64 {
    x.div_ceil(4096) * 4096
}

/// The program's text size in bytes (Linux's VmExe, statm's text).
fn text_bytes(l: &crate::mm::loader::Layout) -> u64 {
    if l.end_code <= l.start_code {
        return 0;
    }
    page_up(l.end_code) - page_down(l.start_code)
}

/// /proc/PID/stat (and /proc/PID/task/TID/stat): the 52 fields of Linux's
/// do_task_stat. `permitted`: the reader may see the process's addresses
/// (Linux's ptrace read check).
pub fn stat(k: &Kernel, v: &View, caller: &Task, permitted: bool) -> Vec<u8> {
    let host_pid = v.p.state().host_pid;
    let host_tid = v.host_thread(k);
    let hs = HostStat::read(host_pid, host_tid);
    let state = state_char(v, caller, hs.as_ref());
    let hs = hs.unwrap_or_default();
    let status = HostStatus::read(host_pid, host_tid);
    let mem = HostStatus::read(host_pid, None).map(HostStatus::without_stub).unwrap_or_default();
    let (ign, cgt) = ignored_and_caught(&v.p);
    let comm = comm(&v.p);
    let st = v.p.state();
    let (tty, tpgid) = ctty(k, st.sid).unwrap_or((0, -1));
    let live = st.exit.is_none();
    let mut flags = PF_RANDOMIZE;
    if !st.did_exec {
        flags |= PF_FORKNOEXEC;
    }
    if !live {
        flags |= PF_EXITING;
    }
    let ticks = |us: u64| us * TICKS_PER_SEC / 1_000_000;
    let (utime, stime) = if live {
        (hs.utime, hs.stime)
    } else {
        (ticks(st.usage_dead_threads.utime_us), ticks(st.usage_dead_threads.stime_us))
    };
    let kids = st.usage_children;
    let start = st.started.saturating_duration_since(k.boot);
    let starttime = start.as_millis() as u64 * TICKS_PER_SEC / 1000;
    let l = &st.image.layout;
    let brk = st.mm.as_ref().map(|mm| mm.lock().brk).unwrap_or_default();
    let addr = |a: u64| if permitted && live { a } else { 0 };
    // Linux shows 1 for the code addresses of a process it hides them of.
    let code = |a: u64| {
        if !live {
            0
        } else if permitted {
            a
        } else {
            1
        }
    };
    let (signal, blocked) = status.map_or((0, 0), |s| (s.sig_pnd | s.shd_pnd, s.sig_blk));
    let exit_code = match st.exit {
        Some(e) if permitted => e.wait_status(),
        _ => 0,
    };
    let mut s = format!(
        "{} ({comm}) {state} {} {} {} {tty} {tpgid} {flags} {} 0 {} 0 {utime} {stime} {} {} {} {} {} 0 {starttime} {} {} {}",
        v.tid,
        st.ppid,
        st.pgid,
        st.sid,
        hs.minflt,
        hs.majflt,
        ticks(kids.utime_us),
        ticks(kids.stime_us),
        hs.priority,
        hs.nice,
        st.threads.len().max(1),
        mem.size * 1024,
        mem.rss / 4,
        st.rlimits.0[libc::RLIMIT_RSS as usize].0,
    );
    // startcode endcode startstack kstkesp kstkeip signal blocked
    // sigignore sigcatch wchan nswap cnswap exit_signal processor
    // rt_priority policy delayacct_blkio_ticks guest_time cguest_time
    let _ = write!(
        s,
        " {} {} {} 0 0 {signal} {blocked} {ign} {cgt} 0 0 0 {} {} 0 0 0 0 0",
        code(l.start_code),
        code(l.end_code),
        addr(l.start_stack),
        libc::SIGCHLD,
        hs.processor,
    );
    // start_data end_data start_brk arg_start arg_end env_start env_end
    // exit_code
    let _ = writeln!(
        s,
        " {} {} {} {} {} {} {} {exit_code}",
        addr(l.start_data),
        addr(l.end_data),
        addr(brk.start),
        addr(l.arg_start),
        addr(l.arg_end),
        addr(l.env_start),
        addr(l.env_end),
    );
    s.into_bytes()
}

/// /proc/PID/statm: sizes in pages (size resident shared text lib data
/// dt), from the host's figures without the stub page.
pub fn statm(p: &Process) -> Vec<u8> {
    let (host, live, text) = {
        let st = p.state();
        (st.host_pid, st.exit.is_none(), text_bytes(&st.image.layout) / 4096)
    };
    let m = if live { HostStatus::read(host, None).map(HostStatus::without_stub) } else { None };
    let Some(m) = m else { return b"0 0 0 0 0 0 0\n".to_vec() };
    format!("{} {} {} {text} 0 {} 0\n", m.size / 4, m.rss / 4, (m.rss_file + m.rss_shmem) / 4, (m.data + m.stk) / 4)
        .into_bytes()
}

/// /proc/PID/status (and /proc/PID/task/TID/status).
pub fn status(k: &Kernel, v: &View, caller: &Task) -> Vec<u8> {
    let host_pid = v.p.state().host_pid;
    let host_tid = v.host_thread(k);
    let hs = HostStat::read(host_pid, host_tid);
    let state = state_char(v, caller, hs.as_ref());
    let thread = HostStatus::read(host_pid, host_tid).unwrap_or_default();
    let (ign, cgt) = ignored_and_caught(&v.p);
    let comm = comm(&v.p);
    let st = v.p.state();
    let c = st.creds;
    let umask = st.fs.as_ref().map_or(0o022, |fs| fs.lock().umask);
    // Linux's fd table grows by powers of two from 64.
    let fdsize = st.files.as_ref().map_or(0, |f| {
        let top = f.lock().fds().last().map_or(0, |&fd| fd as usize + 1);
        top.max(64).next_power_of_two()
    });
    let mut s = format!(
        "Name:\t{comm}\nUmask:\t{umask:04o}\nState:\t{}\nTgid:\t{pid}\nNgid:\t0\nPid:\t{tid}\nPPid:\t{ppid}\n\
         TracerPid:\t0\nUid:\t{u}\t{eu}\t{eu}\t{eu}\nGid:\t{g}\t{eg}\t{eg}\t{eg}\nFDSize:\t{fdsize}\nGroups:\t\n\
         NStgid:\t{pid}\nNSpid:\t{tid}\nNSpgid:\t{pgid}\nNSsid:\t{sid}\n",
        state_name(state),
        pid = v.p.vpid,
        tid = v.tid,
        ppid = st.ppid,
        u = c.uid,
        eu = c.euid,
        g = c.gid,
        eg = c.egid,
        pgid = st.pgid,
        sid = st.sid,
    );
    let caps = crate::syscall::creds::status_lines(&c.caps);
    let live = st.exit.is_none();
    let text = text_bytes(&st.image.layout) / 1024;
    let threads = st.threads.len().max(1);
    drop(st);
    if let Some(m) = HostStatus::read(host_pid, None).filter(|_| live).map(HostStatus::without_stub) {
        // The host's executable is the stub; the guest's is its program,
        // and the rest of what is executable is its libraries.
        let lib = (m.lib + m.exe).saturating_sub(text);
        for (key, kb) in [
            ("VmPeak", m.peak),
            ("VmSize", m.size),
            ("VmLck", m.lck),
            ("VmPin", m.pin),
            ("VmHWM", m.hwm),
            ("VmRSS", m.rss),
            ("RssAnon", m.rss_anon),
            ("RssFile", m.rss_file),
            ("RssShmem", m.rss_shmem),
            ("VmData", m.data),
            ("VmStk", m.stk),
            ("VmExe", text),
            ("VmLib", lib),
            ("VmPTE", m.pte),
            ("VmSwap", m.swap),
        ] {
            let _ = writeln!(s, "{key}:\t{kb:8} kB");
        }
    }
    let _ = write!(
        s,
        "Threads:\t{threads}\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nSigIgn:\t{ign:016x}\n\
         SigCgt:\t{cgt:016x}\n{caps}voluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n",
        thread.sig_pnd, thread.shd_pnd, thread.sig_blk, thread.voluntary, thread.nonvoluntary,
    );
    s.into_bytes()
}

/// Where the guest's namespace is on the host: each host-backed mount's
/// host directory (canonical, as the host's maps show paths), its mount
/// point and the device number its files show; longest host path first.
struct HostPaths(Vec<(Vec<u8>, Vec<u8>, Option<u64>)>);

impl HostPaths {
    fn new(k: &Kernel) -> HostPaths {
        let mut v: Vec<(Vec<u8>, Vec<u8>, Option<u64>)> = k
            .vfs
            .mounts()
            .iter()
            .filter_map(|m| {
                let host = m.fs.as_ref()?.host_path();
                let host = std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf());
                Some((host.as_os_str().as_bytes().to_vec(), m.point.clone(), m.dev))
            })
            .collect();
        v.sort_by_key(|(h, _, _)| std::cmp::Reverse(h.len()));
        HostPaths(v)
    }

    /// The guest path of a host path, and the mount's device number when
    /// its files do not show the host's; None outside the namespace.
    fn guest(&self, host: &[u8]) -> Option<(Vec<u8>, Option<u64>)> {
        self.0.iter().find_map(|(dir, point, dev)| {
            let rest = host.strip_prefix(dir.as_slice())?;
            let rest = rest.strip_prefix(b"/").map(|_| rest).or_else(|| rest.is_empty().then_some(rest))?;
            let mut g = if point.as_slice() == b"/" && !rest.is_empty() { Vec::new() } else { point.clone() };
            g.extend_from_slice(rest);
            Some((g, *dev))
        })
    }
}

/// One line of a maps file.
struct MapLine {
    lo: u64,
    hi: u64,
    perms: String,
    offset: u64,
    dev: (u32, u32),
    ino: u64,
    name: Option<Vec<u8>>,
}

impl MapLine {
    /// Parses a line of the host's maps.
    fn parse(line: &str) -> Option<MapLine> {
        let mut f = line.splitn(6, ' ');
        let (lo, hi) = f.next()?.split_once('-')?;
        let perms = f.next()?.to_string();
        let offset = u64::from_str_radix(f.next()?, 16).ok()?;
        let (ma, mi) = f.next()?.split_once(':')?;
        let ino = f.next()?.parse().ok()?;
        let name = f.next().map(str::trim_start).filter(|n| !n.is_empty()).map(|n| n.as_bytes().to_vec());
        Some(MapLine {
            lo: u64::from_str_radix(lo, 16).ok()?,
            hi: u64::from_str_radix(hi, 16).ok()?,
            perms,
            offset,
            dev: (u32::from_str_radix(ma, 16).ok()?, u32::from_str_radix(mi, 16).ok()?),
            ino,
            name,
        })
    }

    /// The same range, anonymous.
    fn anonymous(self) -> MapLine {
        MapLine { offset: 0, dev: (0, 0), ino: 0, name: None, ..self }
    }

    /// Appends it as Linux's show_map_vma prints it: the name, if any,
    /// starts in column 74.
    fn write(&self, out: &mut Vec<u8>) {
        let mut l = format!(
            "{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {} ",
            self.lo, self.hi, self.perms, self.offset, self.dev.0, self.dev.1, self.ino
        );
        if let Some(name) = &self.name {
            while l.len() < 73 {
                l.push(' ');
            }
            out.extend_from_slice(l.as_bytes());
            out.extend_from_slice(name);
        } else {
            out.extend_from_slice(l.as_bytes());
        }
        out.push(b'\n');
    }
}

/// Names the host's mappings never show the guest: the host's own stack
/// and heap (the stub's) are anonymous memory to the guest.
fn host_only(name: &[u8]) -> bool {
    name == b"[stack]" || name == b"[heap]"
}

/// /proc/PID/maps: the host's mappings of the process, as the guest's
/// Linux would show them. File mappings are the host's files: a path in a
/// host-backed mount shows as its guest path (with the mount's device
/// number), and nothing outside the guest's namespace is named (such a
/// mapping shows as anonymous). The program and its loader, which the
/// loader copies into anonymous memory, are named as the files they came
/// from; the heap and the main stack are labelled as Linux labels them;
/// the stub's page is `[umvm-stub]`.
/// Paths are shown as a reader whose root directory is `root` sees them.
pub fn maps(k: &Kernel, p: &Process, root: &[u8]) -> Vec<u8> {
    let (host, img, brk) = {
        let st = p.state();
        if st.exit.is_some() {
            return Vec::new();
        }
        (st.host_pid, st.image.clone(), st.mm.as_ref().map(|mm| mm.lock().brk).unwrap_or_default())
    };
    let Ok(text) = std::fs::read_to_string(format!("/proc/{host}/maps")) else { return Vec::new() };
    let paths = HostPaths::new(k);
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(mut m) = MapLine::parse(line) else { continue };
        // A direct mapping of an ext2 file from its disk's host file
        // (syscall/mm.rs map_direct): the file, at its own offset.
        if let Some((dev, ino, path, offset)) = m.name.is_some().then(|| direct_file(k, &m)).flatten() {
            m.dev = (libc::major(dev), libc::minor(dev));
            m.ino = u64::from(ino);
            m.offset = offset;
            m.name = Some(crate::fs::path::view(root, &path));
            m.write(&mut out);
            continue;
        }
        match m.name.take() {
            None => anonymous(m, &img, brk, root, &mut out),
            Some(n) if host_only(&n) => anonymous(m, &img, brk, root, &mut out),
            Some(n) if n.windows(15).any(|w| w == b"memfd:umvm-stub") => {
                m.name = Some(b"[umvm-stub]".to_vec());
                m.write(&mut out);
            }
            // The page cache of an ext2 file (fs/ext2_mmap.rs): the file.
            Some(n) if n.starts_with(format!("/memfd:{}", crate::fs::ext2_mmap::MEMFD_NAME).as_bytes()) => {
                let file = k.vfs.mounts().iter().find_map(|mnt| {
                    let d = mnt.disk.as_ref()?;
                    d.memfd_file(m.ino).map(|(ino, path)| (d.dev(), ino, path))
                });
                match file {
                    Some((dev, ino, path)) => {
                        m.dev = (libc::major(dev), libc::minor(dev));
                        m.ino = u64::from(ino);
                        m.name = Some(crate::fs::path::view(root, &path));
                        m.write(&mut out);
                    }
                    None => m.anonymous().write(&mut out),
                }
            }
            // The host kernel's own mappings, and the names of shared
            // anonymous memory and SysV segments, are the same in any
            // namespace.
            Some(n) if n.starts_with(b"[") || n.starts_with(b"/dev/zero ") || n.starts_with(b"/SYSV") => {
                m.name = Some(n);
                m.write(&mut out);
            }
            Some(n) => {
                let (path, deleted) = match n.strip_suffix(b" (deleted)") {
                    Some(p) => (p, true),
                    None => (n.as_slice(), false),
                };
                match paths.guest(path) {
                    Some((mut g, dev)) => {
                        if deleted {
                            g.extend_from_slice(b" (deleted)");
                        }
                        if let Some(d) = dev {
                            m.dev = (libc::major(d), libc::minor(d));
                        }
                        m.name = Some(crate::fs::path::view(root, &g));
                        m.write(&mut out);
                    }
                    None => m.anonymous().write(&mut out),
                }
            }
        }
    }
    out
}

/// The ext2 file a host mapping `m` maps directly from its disk's host
/// file, if it is one: its mount's st_dev, inode number, guest path and
/// the file offset the mapping starts at.
fn direct_file(k: &Kernel, m: &MapLine) -> Option<(u64, u32, Vec<u8>, u64)> {
    let host = (libc::makedev(m.dev.0, m.dev.1), m.ino);
    k.vfs.mounts().iter().find_map(|mnt| {
        let d = mnt.disk.as_ref()?;
        d.direct_file(host, m.offset).map(|(ino, path, off)| (d.dev(), ino, path, off))
    })
}

/// Writes an anonymous host mapping, split where it holds the pages of
/// an image file (named as that file), and labelled `[heap]` or `[stack]`
/// as Linux's show_map_vma decides: the heap is what overlaps
/// [start_brk, brk], the stack what holds the initial stack pointer.
fn anonymous(m: MapLine, img: &crate::task::ExecImage, brk: crate::task::Brk, root: &[u8], out: &mut Vec<u8>) {
    let mut cuts = vec![m.lo, m.hi];
    for fp in &img.layout.file_pages {
        cuts.extend([fp.lo, fp.hi].into_iter().filter(|&c| c > m.lo && c < m.hi));
    }
    cuts.sort_unstable();
    cuts.dedup();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        let mut piece = MapLine { lo, hi, perms: m.perms.clone(), offset: 0, dev: (0, 0), ino: 0, name: None };
        let file = img.layout.file_pages.iter().find(|fp| fp.lo <= lo && hi <= fp.hi);
        if let Some((fp, f)) = file.and_then(|fp| Some((fp, img.files.get(fp.image)?))) {
            piece.offset = fp.offset + (lo - fp.lo);
            piece.dev = (libc::major(f.dev), libc::minor(f.dev));
            piece.ino = f.ino;
            piece.name = Some(crate::fs::path::view(root, &f.path));
        } else if brk.start != 0 && lo <= brk.cur && hi >= brk.start {
            piece.name = Some(b"[heap]".to_vec());
        } else if lo <= img.layout.start_stack && hi >= img.layout.start_stack && img.layout.start_stack != 0 {
            piece.name = Some(b"[stack]".to_vec());
        }
        piece.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_lines_parse_and_print_as_linux_prints_them() {
        let host = "7f3a78e44000-7f3a78f9a000 r-xp 00026000 fe:00 10122150                   /a b/libc.so.6";
        let m = MapLine::parse(host).unwrap();
        assert_eq!(
            (m.lo, m.hi, m.offset, m.dev, m.ino),
            (0x7f3a78e44000, 0x7f3a78f9a000, 0x26000, (0xfe, 0), 10122150)
        );
        assert_eq!(m.name.as_deref(), Some(&b"/a b/libc.so.6"[..]));
        let mut out = Vec::new();
        m.write(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), format!("{host}\n"));
        let anon = "559c969ef000-559c96a10000 rw-p 00000000 00:00 0 ";
        let mut out = Vec::new();
        MapLine::parse(anon).unwrap().write(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), format!("{anon}\n"));
    }

    #[test]
    fn host_paths_become_guest_paths() {
        let paths = HostPaths(vec![
            (b"/h/shm/tmp".to_vec(), b"/tmp".to_vec(), Some(7)),
            (b"/h/root".to_vec(), b"/".to_vec(), None),
        ]);
        assert_eq!(paths.guest(b"/h/root/usr/lib/libc.so"), Some((b"/usr/lib/libc.so".to_vec(), None)));
        assert_eq!(paths.guest(b"/h/root"), Some((b"/".to_vec(), None)));
        assert_eq!(paths.guest(b"/h/shm/tmp/x"), Some((b"/tmp/x".to_vec(), Some(7))));
        assert_eq!(paths.guest(b"/h/rootx/y"), None);
        assert_eq!(paths.guest(b"/usr/lib/libc.so"), None);
    }

    #[test]
    fn anonymous_memory_is_split_at_image_pages() {
        use crate::mm::loader::{FilePages, Layout};
        let layout = Layout {
            start_stack: 0x9000_0100,
            file_pages: vec![FilePages { image: 0, lo: 0x1000, hi: 0x3000, offset: 0x2000 }],
            ..Default::default()
        };
        let img = crate::task::ExecImage {
            layout,
            files: vec![crate::task::ImageFile { path: b"/bin/x".to_vec(), dev: libc::makedev(8, 1), ino: 5 }],
        };
        let brk = crate::task::Brk { start: 0x5000, cur: 0x6800 };
        let mut out = Vec::new();
        for l in ["00001000-00004000 rw-p 00000000 00:00 0 ", "00005000-00007000 rw-p 00000000 00:00 0 "] {
            anonymous(MapLine::parse(l).unwrap(), &img, brk, b"/", &mut out);
        }
        anonymous(MapLine::parse("90000000-90001000 rw-p 00000000 00:00 0 ").unwrap(), &img, brk, b"/", &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("00001000-00003000 rw-p 00002000 08:01 5 ") && lines[0].ends_with(" /bin/x"));
        assert_eq!(lines[1], "00003000-00004000 rw-p 00000000 00:00 0 ");
        assert!(lines[2].ends_with(" [heap]"));
        assert!(lines[3].ends_with(" [stack]"));
    }
}
