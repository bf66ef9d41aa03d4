//! The out-of-memory killer: `mem=` as a real limit (Linux's mm/oom_kill.c
//! for a machine with that much RAM and no swap).
//!
//! Guest processes are host processes, and in seccomp mode their anonymous
//! mmap, brk-free malloc and page faults never pass through umvm, so the
//! limit cannot be kept at the syscall. Instead a small thread
//! (`umvm-oom`) measures what the guest really holds, as Linux's page
//! allocator would notice it running out:
//!
//! - Every [`PERIOD`] (every [`FAST_PERIOD`] once the guest holds more than
//!   half its limit, so that a fast-growing process is caught early) it
//!   reads `/proc/HOSTPID/statm` of each live guest process: one open and
//!   one read per process. The guest's usage is the sum of their anonymous
//!   resident memory (resident minus shared pages, i.e. RssAnon). File
//!   pages (programs, libraries, mapped files) are the host's or the disk
//!   page cache's, which Linux would reclaim before killing anyone, so they
//!   do not count. Pages a fork shares copy-on-write count in each process,
//!   as Linux's oom_badness counts them.
//! - The limit is `mem=` minus [`kernel_reserve`], what a Linux kernel of
//!   that size keeps for itself (its text, page tables, min_free_kbytes):
//!   a sixteenth, at most 16 MiB. umvm's own disk page cache is already
//!   bounded by `mem=` (fs/ext2_mmap.rs) and is reclaimable, so it is not
//!   subtracted. tmpfs lives in host directories and is not counted.
//! - Over the limit, the victim is the process with the largest resident
//!   set (Linux's oom_badness: rss, page tables aside), never init while
//!   another process is left. It gets SIGKILL from the host, so a process
//!   spinning in native code dies at once; its tracer loop sees it killed
//!   by SIGKILL and its parent's wait reports that. The kernel's line,
//!   `Out of memory: Killed process PID (COMM) total-vm:...kB,
//!   anon-rss:...kB, file-rss:...kB, shmem-rss:...kB, UID:... pgtables:...kB
//!   oom_score_adj:0`, goes to umvm's stderr. No second victim is chosen
//!   until the first has died (Linux's oom_reaper waits likewise), or
//!   [`VICTIM_GRACE`] has passed.
//! - Nothing is killed while the machine is frozen (mconsole `stop`) or
//!   going down, and umvm's own threads are never candidates: only the
//!   host pids of guest processes in the process table are.
//!
//! Polling alone loses a race a Linux kernel never loses: a process that
//! touches memory faster than the thread wakes (a 2-vCPU host under load
//! can delay a 10 ms sleep by tens of milliseconds) would get far past the
//! limit. So the killer also runs where Linux's page allocator would find
//! itself short, at the allocation: every anonymous mapping larger than
//! [`NATIVE_GROWTH_MAX`], every brk that grows the heap and every mremap
//! that grows past it traps to the kernel (trap/seccomp.rs's SmallGrowth,
//! in the BPF filter and in the sysemu dispatch alike). Once what the guest
//! held at the last measurement plus what such calls were given since
//! passes half its limit, each of them first measures the guest and kills
//! as the thread would ([`at_growth`]). A program that allocates in
//! big steps (malloc of a megabyte and up, which musl and glibc serve with
//! mmap, or a heap grown with brk) is stopped within one step of the
//! limit; one that grows in many small native mappings meets the thread.
//!
//! An allocation that could never fit is refused with ENOMEM, as Linux's
//! heuristic overcommit refuses one larger than RAM and swap
//! ([`too_big`], syscall/mm.rs). Smaller ones are given and overcommit on
//! the host, as Linux overcommits anything smaller than RAM; touching the
//! memory then meets the killer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::kernel::Kernel;

/// How often the guest's memory is measured.
pub const PERIOD: Duration = Duration::from_millis(100);
/// How often once the guest holds more than half its limit.
pub const FAST_PERIOD: Duration = Duration::from_millis(10);
/// How long a victim may take to die before another may be chosen.
pub const VICTIM_GRACE: Duration = Duration::from_secs(2);

/// What the memory a Linux kernel with `mem` bytes of RAM keeps for itself.
pub fn kernel_reserve(mem: u64) -> u64 {
    (mem / 16).min(16 << 20)
}

/// The anonymous memory the guest's processes may hold together.
pub fn limit(mem: u64) -> u64 {
    mem - kernel_reserve(mem)
}

/// Whether an accountable allocation of `bytes` can never fit in a
/// machine of `mem` bytes without swap (Linux's __vm_enough_memory in
/// heuristic mode: more pages than RAM plus swap).
pub fn too_big(bytes: u64, mem: u64) -> bool {
    bytes > mem
}

/// The largest anonymous mapping (or mremap's new size) that runs natively
/// when the machine is larger: bigger ones trap so that the killer can act
/// before the memory is touched ([`at_growth`]). A megabyte is where musl
/// and glibc stop carving malloc from their heaps and map each block, and
/// a trap (a few microseconds) costs little next to the faults that
/// touching a megabyte takes (256 of them).
pub const NATIVE_GROWTH_MAX: u64 = 1 << 20;

/// The machine's memory, for the seccomp filter's size test (a process
/// runs one VM; unlimited until [`set_machine_mem`]).
static MACHINE_MEM: AtomicU64 = AtomicU64::new(u64::MAX);

/// Records the machine's memory before the seccomp filter is built: an
/// anonymous mmap or mremap larger than it then traps (trap/seccomp.rs).
pub fn set_machine_mem(bytes: u64) {
    MACHINE_MEM.store(bytes, Ordering::Relaxed);
}

/// The memory [`set_machine_mem`] recorded.
pub fn machine_mem() -> u64 {
    MACHINE_MEM.load(Ordering::Relaxed)
}

/// The largest anonymous mapping that runs natively in this machine: up
/// to [`NATIVE_GROWTH_MAX`], never more than the machine (a larger one is
/// refused: [`too_big`]).
pub fn native_growth_max() -> u64 {
    machine_mem().min(NATIVE_GROWTH_MAX)
}

/// The killer's state in the kernel.
#[derive(Default)]
pub struct OomKiller {
    /// Set when the machine goes down: the thread ends.
    stopped: AtomicBool,
    /// Bytes of anonymous memory the guest held when last measured.
    measured: AtomicU64,
    /// Bytes trapped allocations were given since: with `measured`, a
    /// bound on what the guest may now hold through them, so that a burst
    /// of allocations between two measurements is noticed.
    granted: AtomicU64,
    /// One measurement at a time, from the thread or an allocation, so
    /// that two never pick a victim each.
    scan: Mutex<ScanState>,
}

#[derive(Default)]
struct ScanState {
    /// (host pid, when it was killed) of a victim not yet dead.
    victim: Option<(i32, Instant)>,
}

impl OomKiller {
    /// Ends the thread before the machine's shutdown kills everything.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// One guest process as measured.
struct Sample {
    vpid: i32,
    host_pid: i32,
    /// Pages.
    resident: u64,
    /// Pages (resident minus shared).
    anon: u64,
}

/// `/proc/PID/statm`'s size, resident and shared fields, in pages.
fn statm(host_pid: i32) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{host_pid}/statm")).ok()?;
    parse_statm(&text)
}

fn parse_statm(text: &str) -> Option<(u64, u64, u64)> {
    let mut f = text.split_ascii_whitespace().map(|v| v.parse::<u64>().ok());
    Some((f.next()??, f.next()??, f.next()??))
}

fn page_size() -> u64 {
    // SAFETY: sysconf takes a plain integer.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// The `umvm-oom` thread's body: measures and kills until [`OomKiller::stop`].
pub fn run(k: &Kernel) {
    let mut period = PERIOD;
    loop {
        std::thread::sleep(period);
        if k.oom.stopped() {
            return;
        }
        if scan(k) {
            let pressed = k.oom.measured.load(Ordering::Relaxed) > limit(k.mem_bytes) / 2;
            period = if pressed { FAST_PERIOD } else { PERIOD };
        }
    }
}

/// The killer at an allocation of `bytes` that grows the guest (brk, a
/// trapped anonymous mmap or mremap: syscall/mm.rs): two atomic adds
/// while what the guest held at the last measurement plus what it has
/// been given since is under half its limit; past that it measures again
/// and kills as the thread would, before the new memory can be touched.
/// The victim may be the caller, whose SIGKILL then ends it as it returns.
pub fn at_growth(k: &Kernel, bytes: u64) {
    let granted = k.oom.granted.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
    let bound = k.oom.measured.load(Ordering::Relaxed).saturating_add(granted);
    if bound > limit(k.mem_bytes) / 2 && !k.oom.stopped() {
        scan(k);
    }
}

/// Measures the guest's anonymous memory (into `OomKiller::measured`)
/// and, over the limit, kills the largest process. False when there was
/// nothing to measure: the machine is frozen, going down, or waiting for
/// its last victim to die.
fn scan(k: &Kernel) -> bool {
    let mut state = k.oom.scan.lock().unwrap_or_else(|e| e.into_inner());
    if k.power.halting() || k.power.frozen() {
        return false;
    }
    let page = page_size();
    let limit_pages = limit(k.mem_bytes) / page;
    let live: Vec<(i32, i32)> = k
        .procs()
        .processes()
        .filter_map(|p| {
            let st = p.state();
            (st.exit.is_none() && st.host_pid > 0).then_some((p.vpid, st.host_pid))
        })
        .collect();
    if let Some((pid, at)) = state.victim {
        if live.iter().any(|&(_, h)| h == pid) && at.elapsed() < VICTIM_GRACE {
            return false;
        }
        state.victim = None;
    }
    let samples: Vec<Sample> = live
        .into_iter()
        .filter_map(|(vpid, host_pid)| {
            let (_, resident, shared) = statm(host_pid)?;
            Some(Sample { vpid, host_pid, resident, anon: resident.saturating_sub(shared) })
        })
        .collect();
    let used: u64 = samples.iter().map(|s| s.anon).sum();
    k.oom.measured.store(used * page, Ordering::Relaxed);
    k.oom.granted.store(0, Ordering::Relaxed);
    if used <= limit_pages {
        return true;
    }
    let others = samples.iter().any(|s| s.vpid != 1);
    let Some(v) = samples.iter().filter(|s| s.vpid != 1 || !others).max_by_key(|s| s.resident) else {
        return true;
    };
    if k.oom.stopped() || k.power.halting() {
        return false;
    }
    let line = kill_message(k, v);
    // SAFETY: kill takes plain integers. The pid is a guest process
    // umvm traces and has not reaped (its exit is unrecorded), so it
    // is not yet another process's pid.
    unsafe { libc::kill(v.host_pid, libc::SIGKILL) };
    eprintln!("{line}");
    tracing::warn!("{line}");
    state.victim = Some((v.host_pid, Instant::now()));
    true
}

/// Linux's line (mm/oom_kill.c, __oom_kill_process), from the victim's
/// `/proc/HOSTPID/status`.
fn kill_message(k: &Kernel, v: &Sample) -> String {
    let (comm, uid) = match k.procs().process(v.vpid) {
        Some(p) => {
            let st = p.state();
            let end = st.comm.iter().position(|&b| b == 0).unwrap_or(st.comm.len());
            (String::from_utf8_lossy(&st.comm[..end]).into_owned(), st.creds.uid)
        }
        None => (String::from("?"), 0),
    };
    let status = std::fs::read_to_string(format!("/proc/{}/status", v.host_pid)).unwrap_or_default();
    let kb = |key: &str| status_kb(&status, key).unwrap_or(0);
    format!(
        "Out of memory: Killed process {} ({comm}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, \
         UID:{uid} pgtables:{}kB oom_score_adj:0",
        v.vpid,
        kb("VmSize:"),
        kb("RssAnon:"),
        kb("RssFile:"),
        kb("RssShmem:"),
        kb("VmPTE:"),
    )
}

/// The kB value of a `/proc/PID/status` line.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_and_status_fields_parse() {
        assert_eq!(parse_statm("765 444 416 5 0 123 0\n"), Some((765, 444, 416)));
        assert_eq!(parse_statm("765 x 416"), None);
        assert_eq!(parse_statm(""), None);
        let s = "Name:\tcat\nVmSize:\t    8000 kB\nRssAnon:\t  96 kB\n";
        assert_eq!(status_kb(s, "VmSize:"), Some(8000));
        assert_eq!(status_kb(s, "RssAnon:"), Some(96));
        assert_eq!(status_kb(s, "VmPTE:"), None);
    }

    #[test]
    fn the_limit_keeps_a_kernel_reserve() {
        assert_eq!(limit(64 << 20), 60 << 20);
        assert_eq!(limit(1 << 30), (1 << 30) - (16 << 20));
        assert!(too_big((64 << 20) + 1, 64 << 20));
        assert!(!too_big(64 << 20, 64 << 20));
    }
}
