//! What `umvm bench` measures: the workloads, their sizes, the shell
//! fragment each runs (the same text on the host and in the guest) and how
//! their figures are read back from the programs' output.
//!
//! Every figure is a time per operation (a call, a file, a MiB), timed by
//! the program itself with CLOCK_MONOTONIC, so that neither boot nor exit
//! is counted; ratios are guest time / host time.

use std::fmt;

use anyhow::{bail, Result};

/// How much work each workload does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    /// Seconds in all: checks that the harness works (CI).
    Tiny,
    /// A minute or two: figures good to about 10%.
    Small,
    /// Several minutes: the figures to publish.
    Full,
}

/// The operation counts of one size.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub rounds: usize,
    pub syscalls: u64,
    pub forks: u64,
    pub trips: u64,
    pub files: u64,
    pub disk_mib: u64,
    pub rand_reads: u64,
    pub tar_files: u64,
    pub tcp_mib: u64,
    pub tcp_trips: u64,
}

impl Size {
    pub fn params(self) -> Params {
        match self {
            Size::Tiny => Params {
                rounds: 1,
                syscalls: 20_000,
                forks: 30,
                trips: 1_000,
                files: 200,
                disk_mib: 4,
                rand_reads: 500,
                tar_files: 200,
                tcp_mib: 2,
                tcp_trips: 100,
            },
            Size::Small => Params {
                rounds: 3,
                syscalls: 200_000,
                forks: 300,
                trips: 10_000,
                files: 2_000,
                disk_mib: 64,
                rand_reads: 5_000,
                tar_files: 1_000,
                tcp_mib: 32,
                tcp_trips: 1_000,
            },
            Size::Full => Params {
                rounds: 5,
                syscalls: 1_000_000,
                forks: 1_500,
                trips: 20_000,
                files: 10_000,
                disk_mib: 256,
                rand_reads: 20_000,
                tar_files: 3_000,
                tcp_mib: 128,
                tcp_trips: 2_000,
            },
        }
    }
}

/// A workload, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    Syscall,
    ForkExec,
    Pipe,
    FilesTmpfs,
    FilesExt2,
    DiskSeq,
    DiskRand,
    Untar,
    Tcp,
}

/// One row of the report: a figure a workload yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Metric {
    pub workload: Workload,
    /// The marker the runner prints before the program's output.
    pub key: &'static str,
    /// What the row says.
    pub label: &'static str,
    /// What one operation is ("call", "MiB", ...).
    pub unit: &'static str,
}

impl Workload {
    pub const ALL: [Workload; 9] = [
        Workload::Syscall,
        Workload::ForkExec,
        Workload::Pipe,
        Workload::FilesTmpfs,
        Workload::FilesExt2,
        Workload::DiskSeq,
        Workload::DiskRand,
        Workload::Untar,
        Workload::Tcp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Syscall => "syscall",
            Workload::ForkExec => "fork-exec",
            Workload::Pipe => "pipe",
            Workload::FilesTmpfs => "files-tmpfs",
            Workload::FilesExt2 => "files-ext2",
            Workload::DiskSeq => "disk-seq",
            Workload::DiskRand => "disk-rand",
            Workload::Untar => "untar",
            Workload::Tcp => "tcp",
        }
    }

    /// A workload by its name; `net` is another name for `tcp` (the
    /// network figures, as `cargo bench --bench net` calls them).
    pub fn parse(name: &str) -> Result<Workload> {
        let name = if name == "net" { "tcp" } else { name };
        match Workload::ALL.into_iter().find(|w| w.name() == name) {
            Some(w) => Ok(w),
            None => {
                let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                bail!("unknown workload {name:?} (the workloads: {})", names.join(", "))
            }
        }
    }

    /// The rows this workload yields.
    pub fn metrics(self) -> Vec<Metric> {
        let m = |key, label, unit| Metric { workload: self, key, label, unit };
        match self {
            Workload::Syscall => vec![m("syscall", "syscall round trip (getppid)", "call")],
            Workload::ForkExec => vec![m("fork-exec", "fork+exec+wait of true", "process")],
            Workload::Pipe => vec![m("pipe", "pipe ping-pong round trip", "trip")],
            Workload::FilesTmpfs => vec![m("files-tmpfs", "create+stat+unlink, tmpfs", "file")],
            Workload::FilesExt2 => vec![m("files-ext2", "create+stat+unlink, ext2 ubd", "file")],
            Workload::DiskSeq => {
                vec![m("disk-write", "seq write+fsync, ext2 ubd", "MiB"), m("disk-read", "seq read, ext2 ubd", "MiB")]
            }
            Workload::DiskRand => vec![m("disk-rand", "random 4 KiB pread, ext2 ubd", "read")],
            Workload::Untar => vec![m("untar", "busybox tar x, ext2 ubd", "file")],
            Workload::Tcp => vec![
                m("tcp-stream", "TCP stream between two guests", "MiB"),
                m("tcp-rtt", "TCP 1-byte round trip, 2 guests", "trip"),
            ],
        }
    }

    /// Whether the workload runs on one machine (host or guest) through
    /// [`script`]; TCP needs two guests and is run apart.
    pub fn in_script(self) -> bool {
        self != Workload::Tcp
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The C programs the workloads run, compiled with `musl-gcc -static`:
/// (name, source). The same static binary runs on the host and in the
/// guest, so both run the same code.
pub const PROGRAMS: [(&str, &str); 7] = [
    ("getppid_loop", include_str!("../../benches/guest/getppid_loop.c")),
    ("forkexec", include_str!("../../benches/guest/forkexec.c")),
    ("true", include_str!("../../benches/guest/true.c")),
    ("pingpong", include_str!("../../benches/guest/pingpong.c")),
    ("fileops", include_str!("../../benches/guest/fileops.c")),
    ("diskbench", include_str!("../../benches/guest/diskbench.c")),
    ("netbench", include_str!("../../benches/guest/netbench.c")),
];

/// The shell script (busybox sh) that runs `workloads` on one machine.
/// Its arguments: $1 the programs' directory, $2 a directory on tmpfs,
/// $3 a directory on the disk under test, $4 the tarball. Before each
/// metric's output it prints `@ KEY`; a failed step prints `@ KEY FAILED`.
pub fn script(workloads: &[Workload], p: &Params) -> String {
    let mut s = String::from("B=$1; T=$2; D=$3; TAR=$4\n");
    for w in workloads {
        let frag = match w {
            Workload::Syscall => format!("echo @ syscall; $B/getppid_loop {} || echo @ syscall FAILED\n", p.syscalls),
            Workload::ForkExec => {
                format!("echo @ fork-exec; $B/forkexec {} $B/true || echo @ fork-exec FAILED\n", p.forks)
            }
            Workload::Pipe => format!("echo @ pipe; $B/pingpong {} || echo @ pipe FAILED\n", p.trips),
            Workload::FilesTmpfs => format!(
                "mkdir -p $T/files; echo @ files-tmpfs; $B/fileops $T/files {} || echo @ files-tmpfs FAILED\n\
                 rm -rf $T/files\n",
                p.files
            ),
            Workload::FilesExt2 => format!(
                "mkdir -p $D/files; echo @ files-ext2; $B/fileops $D/files {} || echo @ files-ext2 FAILED\n\
                 rm -rf $D/files\n",
                p.files
            ),
            Workload::DiskSeq => format!(
                "echo @ disk-write; $B/diskbench write $D/seq {mib} || echo @ disk-write FAILED\n\
                 echo @ disk-read; $B/diskbench read $D/seq || echo @ disk-read FAILED\n\
                 rm -f $D/seq\n",
                mib = p.disk_mib
            ),
            Workload::DiskRand => format!(
                "$B/diskbench write $D/rand {mib} >/dev/null\n\
                 echo @ disk-rand; $B/diskbench rand $D/rand {n} || echo @ disk-rand FAILED\n\
                 rm -f $D/rand\n",
                mib = p.disk_mib,
                n = p.rand_reads
            ),
            Workload::Untar => "mkdir -p $D/untar; echo @ untar\n\
                 $B/diskbench run /bin/busybox tar xf $TAR -C $D/untar || echo @ untar FAILED\n\
                 rm -rf $D/untar\n"
                .to_string(),
            Workload::Tcp => continue,
        };
        s.push_str(&frag);
    }
    s.push_str("echo @ end\n");
    s
}

/// Seconds per operation of `metric`, read from the output block the
/// script printed after its `@ KEY` line.
pub fn figure(metric: &Metric, block: &str, p: &Params) -> Result<f64> {
    let value = |key: &str| -> Result<f64> {
        let Some(v) = block.lines().find_map(|l| l.trim().strip_prefix(key)) else {
            bail!("{}: no {key:?} in its output: {:?}", metric.key, block.trim());
        };
        match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => bail!("{}: bad figure {key}{v}", metric.key),
        }
    };
    Ok(match metric.key {
        "syscall" => value("ns_per_call=")? * 1e-9,
        "fork-exec" | "pipe" | "files-tmpfs" | "files-ext2" => value("us_per_op=")? * 1e-6,
        "disk-write" => value("write ")? / p.disk_mib as f64,
        "disk-read" => value("read ")? / p.disk_mib as f64,
        "disk-rand" => value("rand ")? / p.rand_reads as f64,
        "untar" => value("run ")? / p.tar_files as f64,
        "tcp-stream" => 1.0 / value("mib_s=")?,
        "tcp-rtt" => value("rtt_us=")? * 1e-6,
        other => bail!("no figure for {other}"),
    })
}

/// The text between `@ KEY` and the next `@ ` line of `out`.
pub fn block<'a>(out: &'a str, key: &str) -> Result<&'a str> {
    let marker = format!("@ {key}\n");
    let Some(start) = out.find(&marker) else {
        bail!("{key}: the run ended before it started");
    };
    let rest = &out[start + marker.len()..];
    // A marker is a line of its own that starts with "@ ".
    let end = rest
        .match_indices("@ ")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || rest.as_bytes()[i - 1] == b'\n')
        .unwrap_or(rest.len());
    let text = &rest[..end];
    if rest[end..].starts_with(&format!("@ {key} FAILED")) {
        bail!("{key} failed: {}", text.trim());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_name_parses_back() {
        for w in Workload::ALL {
            assert_eq!(Workload::parse(w.name()).unwrap(), w);
        }
        assert_eq!(Workload::parse("net").unwrap(), Workload::Tcp);
        let e = Workload::parse("nope").unwrap_err().to_string();
        assert!(e.contains("unknown workload \"nope\"") && e.contains("syscall, fork-exec"), "{e}");
    }

    #[test]
    fn blocks_and_figures() {
        let p = Size::Tiny.params();
        let out =
            "@ syscall\nns_per_call=250.0\n@ disk-write\nwrite 0.5\n@ disk-read\nboom\n@ disk-read FAILED\n@ end\n";
        let m = &Workload::Syscall.metrics()[0];
        let f = figure(m, block(out, "syscall").unwrap(), &p).unwrap();
        assert!((f - 250e-9).abs() < 1e-15);
        let w = &Workload::DiskSeq.metrics()[0];
        assert_eq!(figure(w, block(out, "disk-write").unwrap(), &p).unwrap(), 0.5 / p.disk_mib as f64);
        assert!(block(out, "disk-read").unwrap_err().to_string().contains("disk-read failed: boom"));
        assert!(block(out, "pipe").is_err());
        assert!(figure(m, "ns_per_call=-1\n", &p).is_err());
        assert!(figure(m, "ns_per_call=NaN\n", &p).is_err());
    }
}
