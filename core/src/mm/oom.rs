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
//! An allocation that could never fit is refused with ENOMEM, as Linux's
//! heuristic overcommit refuses one larger than RAM and swap
//! ([`too_big`], syscall/mm.rs): brk always passes through umvm, and an
//! anonymous mmap or a mremap whose size exceeds `mem=` is kept from
//! running natively in both trap modes (trap/seccomp.rs's FitsInMemory,
//! in the BPF filter and in the sysemu dispatch alike), so it reaches the
//! kernel's handler. Smaller ones run natively and overcommit on the host,
//! as Linux overcommits anything smaller than RAM; touching the memory
//! then meets the killer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// The killer's state in the kernel.
#[derive(Default)]
pub struct OomKiller {
    /// Set when the machine goes down: the thread ends.
    stopped: AtomicBool,
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
    let page = page_size();
    let limit_pages = limit(k.mem_bytes) / page;
    // (host pid, when it was killed) of a victim not yet dead.
    let mut victim: Option<(i32, Instant)> = None;
    let mut period = PERIOD;
    loop {
        std::thread::sleep(period);
        if k.oom.stopped() {
            return;
        }
        if k.power.halting() || k.power.frozen() {
            continue;
        }
        let live: Vec<(i32, i32)> = k
            .procs()
            .processes()
            .filter_map(|p| {
                let st = p.state();
                (st.exit.is_none() && st.host_pid > 0).then_some((p.vpid, st.host_pid))
            })
            .collect();
        if let Some((pid, at)) = victim {
            if live.iter().any(|&(_, h)| h == pid) && at.elapsed() < VICTIM_GRACE {
                continue;
            }
            victim = None;
        }
        let samples: Vec<Sample> = live
            .into_iter()
            .filter_map(|(vpid, host_pid)| {
                let (_, resident, shared) = statm(host_pid)?;
                Some(Sample { vpid, host_pid, resident, anon: resident.saturating_sub(shared) })
            })
            .collect();
        let used: u64 = samples.iter().map(|s| s.anon).sum();
        period = if used > limit_pages / 2 { FAST_PERIOD } else { PERIOD };
        if used <= limit_pages {
            continue;
        }
        let others = samples.iter().any(|s| s.vpid != 1);
        let Some(v) = samples.iter().filter(|s| s.vpid != 1 || !others).max_by_key(|s| s.resident) else {
            continue;
        };
        if k.oom.stopped() || k.power.halting() {
            return;
        }
        let line = kill_message(k, v);
        // SAFETY: kill takes plain integers. The pid is a guest process
        // umvm traces and has not reaped (its exit is unrecorded), so it
        // is not yet another process's pid.
        unsafe { libc::kill(v.host_pid, libc::SIGKILL) };
        eprintln!("{line}");
        tracing::warn!("{line}");
        victim = Some((v.host_pid, Instant::now()));
    }
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
