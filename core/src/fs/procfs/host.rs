//! What the host knows about a guest process: a guest process is a host
//! process, so its CPU time, page faults and memory are the host's
//! figures for it, read from the host's /proc.

/// Fields of the host's /proc/PID/stat (or /proc/PID/task/TID/stat).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStat {
    /// Minor faults.
    pub minflt: u64,
    /// Major faults.
    pub majflt: u64,
    /// User time, clock ticks.
    pub utime: u64,
    /// System time, clock ticks.
    pub stime: u64,
    /// Scheduling priority.
    pub priority: i64,
    /// Nice value.
    pub nice: i64,
    /// The CPU it last ran on.
    pub processor: u64,
    /// Its state letter (R, S, D, t...).
    pub state: char,
}

impl HostStat {
    /// Reads `/proc/{pid}/stat`, or `/proc/{pid}/task/{tid}/stat` for one
    /// thread; None when the host process is gone.
    pub fn read(pid: i32, tid: Option<i32>) -> Option<HostStat> {
        let path = match tid {
            Some(t) => format!("/proc/{pid}/task/{t}/stat"),
            None => format!("/proc/{pid}/stat"),
        };
        parse_stat(&std::fs::read_to_string(path).ok()?)
    }
}

/// Parses a /proc/PID/stat line.
fn parse_stat(s: &str) -> Option<HostStat> {
    // The fields after the command name, which may hold spaces and `)`:
    // index 0 is field 3 (the state).
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let u = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let i = |field: usize| f.get(field - 3).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    Some(HostStat {
        state: f.first()?.chars().next()?,
        minflt: u(10),
        majflt: u(12),
        utime: u(14),
        stime: u(15),
        priority: i(18),
        nice: i(19),
        processor: u(39),
    })
}

/// The memory lines (in KiB), signal masks and context switches of the
/// host's /proc/PID/status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStatus {
    /// VmPeak.
    pub peak: u64,
    /// VmSize.
    pub size: u64,
    /// VmLck.
    pub lck: u64,
    /// VmPin.
    pub pin: u64,
    /// VmHWM.
    pub hwm: u64,
    /// VmRSS.
    pub rss: u64,
    /// RssAnon.
    pub rss_anon: u64,
    /// RssFile.
    pub rss_file: u64,
    /// RssShmem.
    pub rss_shmem: u64,
    /// VmData.
    pub data: u64,
    /// VmStk.
    pub stk: u64,
    /// VmExe.
    pub exe: u64,
    /// VmLib.
    pub lib: u64,
    /// VmPTE.
    pub pte: u64,
    /// VmSwap.
    pub swap: u64,
    /// voluntary_ctxt_switches.
    pub voluntary: u64,
    /// nonvoluntary_ctxt_switches.
    pub nonvoluntary: u64,
    /// SigPnd: signals pending for the thread.
    pub sig_pnd: u64,
    /// ShdPnd: signals pending for the process.
    pub shd_pnd: u64,
    /// SigBlk: blocked signals (masks stay with the host).
    pub sig_blk: u64,
}

impl HostStatus {
    /// Reads the host's /proc/`pid`/status (or that of its thread `tid`);
    /// None when the process is gone.
    pub fn read(pid: i32, tid: Option<i32>) -> Option<HostStatus> {
        let path = match tid {
            Some(t) => format!("/proc/{pid}/task/{t}/status"),
            None => format!("/proc/{pid}/status"),
        };
        Some(parse_status(&std::fs::read_to_string(path).ok()?))
    }

    /// The figures as the guest's Linux would show them: less the stub's
    /// page, which the guest's program never mapped (it is the kernel's,
    /// shared memory from a memfd, and part of the host's "executable").
    pub fn without_stub(mut self) -> HostStatus {
        let stub = crate::stub::SIZE / 1024;
        self.peak = self.peak.saturating_sub(stub);
        self.size = self.size.saturating_sub(stub);
        self.rss = self.rss.saturating_sub(stub.min(self.rss_shmem));
        self.hwm = self.hwm.saturating_sub(stub.min(self.rss_shmem));
        self.rss_shmem = self.rss_shmem.saturating_sub(stub);
        self.exe = self.exe.saturating_sub(stub);
        self
    }
}

/// Parses the lines of a /proc/PID/status that [`HostStatus`] holds.
fn parse_status(s: &str) -> HostStatus {
    let mut m = HostStatus::default();
    for line in s.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let hex = || u64::from_str_radix(value.trim(), 16).unwrap_or(0);
        match key {
            "SigPnd" => m.sig_pnd = hex(),
            "ShdPnd" => m.shd_pnd = hex(),
            "SigBlk" => m.sig_blk = hex(),
            _ => {}
        }
        let n = value.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
        let slot = match key {
            "VmPeak" => &mut m.peak,
            "VmSize" => &mut m.size,
            "VmLck" => &mut m.lck,
            "VmPin" => &mut m.pin,
            "VmHWM" => &mut m.hwm,
            "VmRSS" => &mut m.rss,
            "RssAnon" => &mut m.rss_anon,
            "RssFile" => &mut m.rss_file,
            "RssShmem" => &mut m.rss_shmem,
            "VmData" => &mut m.data,
            "VmStk" => &mut m.stk,
            "VmExe" => &mut m.exe,
            "VmLib" => &mut m.lib,
            "VmPTE" => &mut m.pte,
            "VmSwap" => &mut m.swap,
            "voluntary_ctxt_switches" => &mut m.voluntary,
            "nonvoluntary_ctxt_switches" => &mut m.nonvoluntary,
            _ => continue,
        };
        *slot = n;
    }
    m
}

/// A process's proportional share of memory, in bytes (the host's
/// /proc/PID/smaps_rollup): pages shared by several processes (a library,
/// a forked parent's heap) count once across them, so these add up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostPss {
    /// Anonymous memory.
    pub anon: u64,
    /// Mapped file pages.
    pub file: u64,
    /// Mapped shared memory.
    pub shmem: u64,
}

impl HostPss {
    /// Reads the host's /proc/`pid`/smaps_rollup; None when it is gone.
    pub fn read(pid: i32) -> Option<HostPss> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        let mut p = HostPss::default();
        for line in s.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            let kb = value.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
            match key {
                "Pss_Anon" => p.anon = kb * 1024,
                "Pss_File" => p.file = kb * 1024,
                "Pss_Shmem" => p.shmem = kb * 1024,
                _ => {}
            }
        }
        Some(p)
    }
}

/// A field of the host's /proc/meminfo, in bytes.
pub fn meminfo(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kb| kb * 1024))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_parses_past_a_command_name_with_spaces() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 7 0 3 0 11 12 0 0 20 0 1 0 100 1000 10 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let s = parse_stat(line).unwrap();
        let want =
            HostStat { minflt: 7, majflt: 3, utime: 11, stime: 12, priority: 20, nice: 0, processor: 1, state: 'S' };
        assert_eq!(s, want);
    }

    #[test]
    fn status_memory_lines_parse_and_lose_the_stub() {
        let m = parse_status(
            "Name:\tx\nVmPeak:\t  100 kB\nVmSize:\t   90 kB\nVmRSS:\t 20 kB\nRssShmem:\t 8 kB\nSigBlk:\t0000000000010002\n",
        );
        assert_eq!(m.sig_blk, 0x10002);
        assert_eq!((m.peak, m.size, m.rss, m.rss_shmem), (100, 90, 20, 8));
        let g = m.without_stub();
        assert_eq!((g.peak, g.size, g.rss, g.rss_shmem), (96, 86, 16, 4));
    }

    #[test]
    fn this_process_has_host_figures() {
        let me = std::process::id() as i32;
        assert!(HostStat::read(me, None).is_some());
        assert!(HostStatus::read(me, None).unwrap().rss > 0);
        assert!(meminfo("MemTotal").unwrap() > 0);
    }
}
