//! procfs, the first part (Linux's fs/proc): /proc/self, /proc/PID (stat,
//! status, cmdline, comm, exe, cwd, root, fd/, maps, mounts) and the
//! machine-wide files (mounts, meminfo, cpuinfo, uptime, loadavg, stat,
//! version, filesystems).
//!
//! procfs is mounted on /proc (fs/mount.rs); where a path walk enters it,
//! the rest of the path is classified here. A node is computed from the
//! process table when looked up; a file's contents are a snapshot taken
//! when it is opened.

use std::fmt::Write as _;

use crate::kernel::Kernel;
use crate::task::{Process, Task};

/// What a /proc path names.
pub enum ProcNode {
    /// A directory and its entries (name, DT_* type).
    Dir(Vec<(Vec<u8>, u8)>),
    /// A symlink and its target.
    Link(Vec<u8>),
    /// A path that goes through a symlink: its target, then the rest of
    /// the path (always followed, like any symlink before the last
    /// component).
    Through(Vec<u8>, Vec<u8>),
    /// A file and its contents.
    File(Vec<u8>),
    /// Under /proc but no such entry.
    Missing,
}

const MACHINE_FILES: [&str; 8] =
    ["cpuinfo", "filesystems", "loadavg", "meminfo", "mounts", "stat", "uptime", "version"];
const PID_ENTRIES: [(&str, u8); 11] = [
    ("cmdline", libc::DT_REG),
    ("comm", libc::DT_REG),
    ("cwd", libc::DT_LNK),
    ("exe", libc::DT_LNK),
    ("fd", libc::DT_DIR),
    ("maps", libc::DT_REG),
    ("mounts", libc::DT_REG),
    ("root", libc::DT_LNK),
    ("stat", libc::DT_REG),
    ("status", libc::DT_REG),
    ("task", libc::DT_DIR),
];

/// Classifies an absolute path for `caller`; None when it is not under
/// /proc. Components are taken one at a time, as the kernel walks them: a
/// link followed by more components is jumped through at once, so `..`
/// after /proc/PID/root means the parent of that root, not of /proc/PID.
pub fn classify(k: &Kernel, caller: &Task, abs: &[u8]) -> Option<ProcNode> {
    let comps: Vec<&[u8]> = abs.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    let mut stack: Vec<&[u8]> = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if *c == b".." {
            stack.pop();
            continue;
        }
        stack.push(c);
        if i + 1 < comps.len() && stack.first() == Some(&&b"proc"[..]) {
            if let Some(target) = link_of(k, caller, &stack[1..]) {
                return Some(ProcNode::Through(target, comps[i + 1..].join(&b'/')));
            }
        }
    }
    if stack.first() != Some(&&b"proc"[..]) {
        return None;
    }
    Some(match &stack[1..] {
        [] => root_dir(k),
        [name] if MACHINE_FILES.iter().any(|f| f.as_bytes() == *name) => ProcNode::File(machine_file(k, name)),
        rest => match link_of(k, caller, rest) {
            Some(target) => ProcNode::Link(target),
            None => match rest {
                [pid, more @ ..] => match std::str::from_utf8(pid).ok().and_then(|p| p.parse::<i32>().ok()) {
                    Some(p) if p > 0 => pid_node(k, caller, p, more),
                    _ => ProcNode::Missing,
                },
                [] => ProcNode::Missing,
            },
        },
    })
}

fn pid_of(caller: &Task, c: &[u8]) -> Option<i32> {
    if c == b"self" {
        return Some(caller.vpid());
    }
    std::str::from_utf8(c).ok()?.parse().ok().filter(|&p: &i32| p > 0)
}

/// The target of the link at /proc/`rel`, if that is a link.
fn link_of(k: &Kernel, caller: &Task, rel: &[&[u8]]) -> Option<Vec<u8>> {
    match rel {
        [b"self"] => Some(caller.vpid().to_string().into_bytes()).map(|p| [b"/proc/".as_slice(), &p].concat()),
        [pid, what @ ..] => {
            let pid = pid_of(caller, pid)?;
            if what.is_empty() {
                return None;
            }
            let p = k.procs().process(pid)?;
            let fs = || if pid == caller.vpid() { Some(caller.fs.clone()) } else { p.state().fs.clone() };
            let files = || if pid == caller.vpid() { Some(caller.files.clone()) } else { p.state().files.clone() };
            match what {
                [b"root"] => Some(b"/".to_vec()),
                [b"exe"] => Some(p.state().exe.clone()),
                [b"cwd"] => fs().map(|fs| fs.lock().cwd.clone()),
                [b"fd", n] => {
                    let fd = std::str::from_utf8(n).ok()?.parse::<i32>().ok()?;
                    files()?.lock().get(fd).ok().map(|f| f.path.clone())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn root_dir(k: &Kernel) -> ProcNode {
    let mut e: Vec<(Vec<u8>, u8)> = vec![(b".".to_vec(), libc::DT_DIR), (b"..".to_vec(), libc::DT_DIR)];
    e.push((b"self".to_vec(), libc::DT_LNK));
    let mut pids: Vec<i32> = k.procs().processes().map(|p| p.vpid).collect();
    pids.sort_unstable();
    e.extend(pids.into_iter().map(|p| (p.to_string().into_bytes(), libc::DT_DIR)));
    e.extend(MACHINE_FILES.iter().map(|f| (f.as_bytes().to_vec(), libc::DT_REG)));
    ProcNode::Dir(e)
}

fn pid_node(k: &Kernel, caller: &Task, pid: i32, rest: &[&[u8]]) -> ProcNode {
    let Some(p) = k.procs().process(pid) else { return ProcNode::Missing };
    match rest {
        [] => {
            let mut e: Vec<(Vec<u8>, u8)> = vec![(b".".to_vec(), libc::DT_DIR), (b"..".to_vec(), libc::DT_DIR)];
            e.extend(PID_ENTRIES.iter().map(|(n, t)| (n.as_bytes().to_vec(), *t)));
            ProcNode::Dir(e)
        }
        [b"cmdline"] => ProcNode::File(p.state().cmdline.clone()),
        [b"comm"] => {
            let comm = p.state().comm;
            let end = comm.iter().position(|&b| b == 0).unwrap_or(16);
            let mut v = comm[..end].to_vec();
            v.push(b'\n');
            ProcNode::File(v)
        }
        [b"stat"] => ProcNode::File(stat(&p, caller)),
        [b"status"] => ProcNode::File(status(&p)),
        [b"maps"] => ProcNode::File(maps(&p)),
        [b"mounts"] => ProcNode::File(machine_file(k, b"mounts")),
        [b"fd"] => {
            let files = if pid == caller.vpid() { Some(caller.files.clone()) } else { p.state().files.clone() };
            let mut e: Vec<(Vec<u8>, u8)> = vec![(b".".to_vec(), libc::DT_DIR), (b"..".to_vec(), libc::DT_DIR)];
            if let Some(files) = files {
                e.extend(files.lock().fds().into_iter().map(|fd| (fd.to_string().into_bytes(), libc::DT_LNK)));
            }
            ProcNode::Dir(e)
        }
        [b"task"] => {
            let mut e: Vec<(Vec<u8>, u8)> = vec![(b".".to_vec(), libc::DT_DIR), (b"..".to_vec(), libc::DT_DIR)];
            e.extend(p.state().threads.iter().map(|t| (t.to_string().into_bytes(), libc::DT_DIR)));
            ProcNode::Dir(e)
        }
        _ => ProcNode::Missing,
    }
}

fn comm_str(p: &Process) -> String {
    let comm = p.state().comm;
    let end = comm.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

fn state_char(p: &Process, caller: &Task) -> char {
    if p.state().exit.is_some() {
        'Z'
    } else if p.vpid == caller.vpid() {
        'R'
    } else {
        'S'
    }
}

/// /proc/PID/stat: the 52 fields of Linux's proc_pid_stat. CPU times and
/// memory sizes are not accounted yet and read as zero.
fn stat(p: &Process, caller: &Task) -> Vec<u8> {
    let (ppid, pgid, sid, threads) = {
        let st = p.state();
        (st.ppid, st.pgid, st.sid, st.threads.len().max(1))
    };
    let mut s = format!("{} ({}) {} {ppid} {pgid} {sid} 0 -1 4194560", p.vpid, comm_str(p), state_char(p, caller));
    // minflt cminflt majflt cmajflt utime stime cutime cstime
    s.push_str(" 0 0 0 0 0 0 0 0");
    // priority nice num_threads itrealvalue starttime vsize rss rsslim
    let _ = write!(s, " 20 0 {threads} 0 0 0 0 18446744073709551615");
    // startcode endcode startstack kstkesp kstkeip signal blocked sigignore
    // sigcatch wchan nswap cnswap exit_signal processor rt_priority policy
    // delayacct_blkio_ticks guest_time cguest_time start_data end_data
    // start_brk arg_start arg_end env_start env_end exit_code
    s.push_str(" 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    s.into_bytes()
}

fn status(p: &Process) -> Vec<u8> {
    let st = p.state();
    let state = if st.exit.is_some() { "Z (zombie)" } else { "S (sleeping)" };
    let c = st.creds;
    let umask = st.fs.as_ref().map_or(0o022, |fs| fs.lock().umask);
    let comm = {
        let end = st.comm.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&st.comm[..end]).into_owned()
    };
    format!(
        "Name:\t{comm}\nUmask:\t{umask:04o}\nState:\t{state}\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{ppid}\n\
         TracerPid:\t0\nUid:\t{u}\t{eu}\t{eu}\t{eu}\nGid:\t{g}\t{eg}\t{eg}\t{eg}\nFDSize:\t64\nGroups:\t\n\
         Threads:\t{threads}\n",
        pid = p.vpid,
        ppid = st.ppid,
        u = c.uid,
        eu = c.euid,
        g = c.gid,
        eg = c.egid,
        threads = st.threads.len().max(1),
    )
    .into_bytes()
}

/// /proc/PID/maps: the host's view of the process's mappings, with the
/// stub and its exec stack labelled as what they are to the guest.
fn maps(p: &Process) -> Vec<u8> {
    let host = p.state().host_pid;
    let Ok(text) = std::fs::read_to_string(format!("/proc/{host}/maps")) else { return Vec::new() };
    let mut out = String::new();
    for line in text.lines() {
        if line.contains("memfd:umvm-stub") {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let _ = writeln!(out, "{} {} {} {} {} [umvm-stub]", cols[0], cols[1], cols[2], cols[3], cols[4]);
        } else if line.ends_with("[stack]") {
            // The stub's own startup stack: to the guest, anonymous memory.
            out.push_str(line.trim_end_matches("[stack]").trim_end());
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn machine_file(k: &Kernel, name: &[u8]) -> Vec<u8> {
    let uptime = k.boot.elapsed().as_secs_f64();
    let nprocs = k.procs().processes().filter(|p| p.state().exit.is_none()).count();
    let s = match name {
        b"mounts" => k.vfs.mounts().proc_mounts(),
        b"meminfo" => {
            let total = k.mem_bytes / 1024;
            // SAFETY: sysinfo is plain integers; all-zero is valid.
            let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
            // SAFETY: `si` is a valid buffer.
            unsafe { libc::sysinfo(&mut si) };
            let free = (si.freeram.saturating_mul(si.mem_unit as u64) / 1024).min(total);
            format!(
                "MemTotal:       {total:8} kB\nMemFree:        {free:8} kB\nMemAvailable:   {free:8} kB\n\
                 Buffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\n\
                 SwapTotal:             0 kB\nSwapFree:              0 kB\nShmem:                 0 kB\n"
            )
        }
        b"cpuinfo" => std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default(),
        b"uptime" => format!("{uptime:.2} {:.2}\n", uptime * k.loops.len() as f64),
        b"loadavg" => format!("0.00 0.00 0.00 1/{nprocs} {}\n", k.procs().last_id()),
        b"stat" => {
            let boot = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
                - uptime as u64;
            let mut s = String::from("cpu  0 0 0 0 0 0 0 0 0 0\n");
            for i in 0..k.loops.len() {
                let _ = writeln!(s, "cpu{i} 0 0 0 0 0 0 0 0 0 0");
            }
            let _ = write!(s, "btime {boot}\nprocesses {}\nprocs_running 1\nprocs_blocked 0\n", k.procs().last_id());
            s
        }
        b"version" => {
            format!("Linux version {} (umvm) #1 SMP umvm\n", String::from_utf8_lossy(crate::syscall::misc::RELEASE))
        }
        b"filesystems" => "nodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\nnodev\thostfs\n".to_string(),
        _ => String::new(),
    };
    s.into_bytes()
}

/// The getdents64 records of a listing from entry `from`, fitting `room`
/// bytes; returns the bytes and the next index.
pub fn dirents(entries: &[(Vec<u8>, u8)], from: usize, room: usize) -> (Vec<u8>, usize) {
    let list: Vec<crate::fs::dirent::Entry<'_>> =
        entries.iter().enumerate().map(|(i, (n, t))| (n.as_slice(), 0x1000 + i as u64, *t)).collect();
    crate::fs::dirent::records(&list, from, room)
}

/// A stat for a procfs node (Linux shows files with size 0).
pub fn node_stat(node: &ProcNode) -> libc::stat {
    // SAFETY: stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_dev = libc::makedev(0, 4);
    st.st_nlink = 1;
    st.st_blksize = 1024;
    st.st_mode = match node {
        ProcNode::Dir(_) => libc::S_IFDIR | 0o555,
        ProcNode::Link(_) | ProcNode::Through(..) => libc::S_IFLNK | 0o777,
        _ => libc::S_IFREG | 0o444,
    };
    st
}
