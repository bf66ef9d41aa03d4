//! The machine-wide files of procfs: /proc/meminfo, stat, uptime,
//! loadavg, cpuinfo, version, filesystems, mounts, partitions, cmdline,
//! and /proc/sys.
//!
//! Their figures are the VM's: the memory the guest was given and what
//! its processes and tmpfs mounts use of it, the CPU time its processes
//! used on its virtual CPUs, its uptime.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use super::host::{HostPss, HostStat};
use super::ProcNode;
use crate::fs::mount::FsType;
use crate::kernel::Kernel;
use crate::task::Process;

/// The machine-wide files directly under /proc.
pub const FILES: [&str; 10] =
    ["cmdline", "cpuinfo", "filesystems", "loadavg", "meminfo", "mounts", "partitions", "stat", "uptime", "version"];

/// Clock ticks per second in everything procfs reports (Linux's USER_HZ
/// on x86-64, which AT_CLKTCK passes on).
pub const TICKS_PER_SEC: u64 = 100;

/// Linux's limit on a process's supplementary groups (NGROUPS_MAX in
/// include/uapi/linux/limits.h): /proc/sys/kernel/ngroups_max, which
/// glibc's sysconf(_SC_NGROUPS_MAX) reads.
pub const NGROUPS_MAX: u32 = 65536;

/// Every process in the table, without holding the table's lock (their
/// states are locked one at a time afterwards).
pub fn processes(k: &Kernel) -> Vec<Arc<Process>> {
    k.procs().processes().cloned().collect()
}

/// The VM's memory, in bytes, as /proc/meminfo and sysinfo report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemUsage {
    /// What the guest was given (mem=).
    pub total: u64,
    /// Not used by anything.
    pub free: u64,
    /// Free, plus page cache that could be dropped.
    pub available: u64,
    /// Page cache: mapped file pages and tmpfs contents.
    pub cached: u64,
    /// Shared memory: tmpfs contents and shared mappings.
    pub shmem: u64,
}

/// What the guest's memory holds: its processes' proportional share of
/// anonymous memory, mapped files and shared memory (shared pages count
/// once across the processes that share them), and its tmpfs files
/// (which live in memory). Free memory is bounded by what the host still
/// has available, since the guest's pages are the host's.
pub fn mem_usage(k: &Kernel) -> MemUsage {
    let mut pss = HostPss::default();
    for p in processes(k) {
        let host = {
            let st = p.state();
            if st.exit.is_some() {
                continue;
            }
            st.host_pid
        };
        if let Some(x) = HostPss::read(host) {
            pss.anon += x.anon;
            pss.file += x.file;
            pss.shmem += x.shmem;
        }
    }
    let tmpfs: u64 = k
        .vfs
        .mounts()
        .iter()
        .filter(|m| m.fstype == FsType::Tmpfs && m.opts.root.is_empty())
        .filter_map(|m| m.fs.as_ref())
        .map(|fs| tree_bytes(fs.host_path()))
        .sum();
    let total = k.mem_bytes;
    let shmem = pss.shmem + tmpfs;
    let cached = pss.file + shmem;
    let host_available = super::host::meminfo("MemAvailable").unwrap_or(u64::MAX);
    let free = total.saturating_sub(pss.anon + cached).min(host_available);
    let available = (free + pss.file).min(total).min(host_available);
    MemUsage { total, free, available, cached, shmem }
}

/// The bytes the files under `dir` occupy (symlinks not followed).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut sum = 0;
    for e in entries.flatten() {
        let Ok(md) = e.metadata() else { continue };
        sum += md.blocks() * 512;
        if md.is_dir() {
            sum += tree_bytes(&e.path());
        }
    }
    sum
}

/// CPU time of the VM since boot, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Spent in guest code.
    pub user: u64,
    /// Spent in the host kernel for the guest.
    pub system: u64,
    /// Spent idle, over all virtual CPUs.
    pub idle: u64,
}

/// The CPU time every process of the VM used: live ones as the host
/// accounts them, zombies as their threads ended, and the reaped ones as
/// their reapers collected it. What is left of the virtual CPUs' time
/// since boot is idle.
pub fn cpu_times(k: &Kernel) -> CpuTimes {
    let us_to_ticks = |us: u64| us * TICKS_PER_SEC / 1_000_000;
    let (mut user, mut system) = (0, 0);
    for p in processes(k) {
        let (host, exit, dead, children) = {
            let st = p.state();
            (st.host_pid, st.exit, st.usage_dead_threads, st.usage_children)
        };
        user += us_to_ticks(children.utime_us);
        system += us_to_ticks(children.stime_us);
        match exit.map_or_else(|| HostStat::read(host, None), |_| None) {
            Some(h) => {
                user += h.utime;
                system += h.stime;
            }
            None => {
                user += us_to_ticks(dead.utime_us);
                system += us_to_ticks(dead.stime_us);
            }
        }
    }
    let all = uptime_ticks(k) * k.loops.len() as u64;
    CpuTimes { user, system, idle: all.saturating_sub(user + system) }
}

/// Clock ticks since the VM booted.
pub fn uptime_ticks(k: &Kernel) -> u64 {
    (k.boot.elapsed().as_millis() as u64) * TICKS_PER_SEC / 1000
}

/// The live threads of the VM (Linux's nr_threads).
pub fn thread_count(k: &Kernel) -> usize {
    processes(k).iter().map(|p| p.state().threads.len()).sum()
}

/// The contents of /proc/`name`, one of [`FILES`], for a reader whose
/// root directory is `root`.
pub fn file(k: &Kernel, root: &[u8], name: &[u8]) -> Vec<u8> {
    let s = match name {
        // The kernel command line: bytes as given, not necessarily UTF-8.
        b"cmdline" => return k.cmdline.clone(),
        b"mounts" => k.vfs.mounts().proc_mounts(root),
        b"meminfo" => meminfo(k),
        b"cpuinfo" => cpuinfo(k),
        b"uptime" => {
            let idle = cpu_times(k).idle as f64 / TICKS_PER_SEC as f64;
            format!("{:.2} {idle:.2}\n", k.boot.elapsed().as_secs_f64())
        }
        // The reader is running; the VM keeps no load average.
        b"loadavg" => format!("0.00 0.00 0.00 1/{} {}\n", thread_count(k), k.procs().last_id()),
        b"stat" => stat(k),
        b"version" => {
            format!("Linux version {} (umvm) #1 SMP umvm\n", String::from_utf8_lossy(crate::syscall::misc::RELEASE))
        }
        b"filesystems" => {
            "nodev\tsysfs\nnodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\nnodev\thostfs\n\text2\n\text3\n".to_string()
        }
        b"partitions" => partitions(&k.vfs.sysfs.block_devices()),
        _ => String::new(),
    };
    s.into_bytes()
}

/// /proc/partitions (Linux's show_partition): a header, then one line
/// per block device, its size in KiB blocks.
pub fn partitions(devs: &[crate::fs::sysfs::BlockDevice]) -> String {
    let mut s = String::from("major minor  #blocks  name\n\n");
    for d in devs {
        let _ = writeln!(s, "{:4}  {:7} {:10} {}", d.major, d.minor, d.sectors / 2, d.name);
    }
    s
}

/// /proc/meminfo: Linux's first lines, from [`mem_usage`]. The VM has no
/// swap and no block-device buffers (its root is a host directory).
fn meminfo(k: &Kernel) -> String {
    let m = mem_usage(k);
    let mut s = String::new();
    for (key, bytes) in [
        ("MemTotal", m.total),
        ("MemFree", m.free),
        ("MemAvailable", m.available),
        ("Buffers", 0),
        ("Cached", m.cached),
        ("SwapCached", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Shmem", m.shmem),
    ] {
        let _ = writeln!(s, "{:<16}{:>8} kB", format!("{key}:"), bytes / 1024);
    }
    s
}

/// /proc/stat: CPU time (the VM does not know which virtual CPU ran what,
/// so each cpuN line gets an equal share and they add up to the total),
/// boot time and process counts.
fn stat(k: &Kernel) -> String {
    let t = cpu_times(k);
    let n = k.loops.len().max(1) as u64;
    let mut s = String::new();
    let line = |s: &mut String, name: &str, user: u64, system: u64, idle: u64| {
        let _ = writeln!(s, "{name} {user} 0 {system} {idle} 0 0 0 0 0 0");
    };
    line(&mut s, "cpu ", t.user, t.system, t.idle);
    for i in 0..n {
        // The remainders go to cpu0.
        let share = |x: u64| x / n + if i == 0 { x % n } else { 0 };
        line(&mut s, &format!("cpu{i}"), share(t.user), share(t.system), share(t.idle));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let boot = now.saturating_sub(k.boot.elapsed().as_secs());
    let _ = write!(s, "btime {boot}\nprocesses {}\nprocs_running 1\nprocs_blocked 0\n", k.procs().last_id());
    s
}

/// /proc/cpuinfo: the host's entries for the CPUs the VM's loops run on,
/// numbered as the guest's CPUs.
fn cpuinfo(k: &Kernel) -> String {
    let host = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut s = String::new();
    let mut vcpu = 0;
    for block in host.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let id = block.lines().find_map(|l| {
            let (key, v) = l.split_once(':')?;
            (key.trim() == "processor").then(|| v.trim().parse::<usize>().ok())?
        });
        if !id.is_some_and(|id| k.cpus.contains(&id)) {
            continue;
        }
        for l in block.lines() {
            match l.split_once(':') {
                Some((key, _)) if key.trim() == "processor" => {
                    let _ = writeln!(s, "{key}: {vcpu}");
                }
                _ => {
                    s.push_str(l);
                    s.push('\n');
                }
            }
        }
        s.push('\n');
        vcpu += 1;
    }
    s
}

fn dir(names: &[&str], t: u8) -> ProcNode {
    let mut e: Vec<(Vec<u8>, u8)> = vec![(b".".to_vec(), libc::DT_DIR), (b"..".to_vec(), libc::DT_DIR)];
    e.extend(names.iter().map(|n| (n.as_bytes().to_vec(), t)));
    ProcNode::Dir(e)
}

fn line(v: impl std::fmt::Display) -> ProcNode {
    ProcNode::File(format!("{v}\n").into_bytes())
}

/// /proc/sys/`rest`: the kernel's names and limits, and the host's
/// overcommit policy (the guest's memory is mapped by the host, under its
/// policy).
pub fn sys_node(k: &Kernel, rest: &[&[u8]]) -> ProcNode {
    match rest {
        [] => dir(&["kernel", "vm"], libc::DT_DIR),
        [b"kernel"] => dir(&["hostname", "ngroups_max", "osrelease", "pid_max"], libc::DT_REG),
        [b"kernel", b"hostname"] => {
            let mut v = k.hostname.lock().map(|h| h.clone()).unwrap_or_default();
            v.push(b'\n');
            ProcNode::File(v)
        }
        [b"kernel", b"osrelease"] => line(String::from_utf8_lossy(crate::syscall::misc::RELEASE)),
        [b"kernel", b"pid_max"] => line(crate::task::table::PID_MAX),
        [b"kernel", b"ngroups_max"] => line(NGROUPS_MAX),
        [b"vm"] => dir(&["overcommit_memory"], libc::DT_REG),
        [b"vm", b"overcommit_memory"] => match std::fs::read("/proc/sys/vm/overcommit_memory") {
            Ok(v) => ProcNode::File(v),
            Err(_) => ProcNode::Missing,
        },
        _ => ProcNode::Missing,
    }
}
