//! `cargo bench --bench process`: process workloads under umvm, in both trap
//! modes, beside the very same workload run natively on the host, pinned and
//! unpinned.
//!
//! Two workloads, each a static musl program built at bench time from
//! benches/guest/ into a temporary root directory:
//! - fork+exec+wait (forkexec.c): N cycles of fork, execve of a static musl
//!   `true` (true.c) in the child, waitpid in the parent;
//! - pipe round trip (pingpong.c): N one-byte round trips between a parent
//!   and a forked child through two pipes.
//!
//! Each program times its own loop with CLOCK_MONOTONIC and prints
//! `us_per_op=`, the mean over its N timed operations; the bench reports the
//! median of those means over the rounds, with their min..max, and the ratio
//! of each umvm median to the host median at the same pinning. The host runs
//! the same binaries from the same directory (forkexec is given the host path
//! of `true` instead of `/true`).
//!
//! Pinned: the host run is started with the bench's affinity narrowed to its
//! first CPU (the children inherit it); umvm runs with its default pinning.
//! Unpinned: the host run sees every CPU the bench may use, and umvm runs
//! with UMVM_NO_PIN=1.
//!
//! Options: `--quick` (3 rounds); env `PROCESS_BENCH_ROUNDS` (default 7),
//! `PROCESS_BENCH_FORKEXEC_N` (default 1500) and `PROCESS_BENCH_PINGPONG_N`
//! (default 20000). Other arguments, such as the `--bench` cargo passes, are
//! ignored.

mod common;
use common::*;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const GUEST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/guest");
/// The programs put in the root, each built from `<name>.c` in GUEST_DIR.
const PROGRAMS: [&str; 3] = ["true", "forkexec", "pingpong"];
const DEFAULT_ROUNDS: usize = 7;
const QUICK_ROUNDS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    ForkExec,
    PingPong,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::ForkExec => "fork+exec+wait",
            Workload::PingPong => "pipe round trip",
        }
    }

    fn n_var(self) -> &'static str {
        match self {
            Workload::ForkExec => "PROCESS_BENCH_FORKEXEC_N",
            Workload::PingPong => "PROCESS_BENCH_PINGPONG_N",
        }
    }

    /// Chosen so that a umvm run takes roughly 0.5-2.5 s on a 2-vCPU VM (host
    /// runs are faster: pinned pipe round trips take under 0.1 s).
    fn default_n(self) -> u64 {
        match self {
            Workload::ForkExec => 1_500,
            Workload::PingPong => 20_000,
        }
    }

    /// A per-operation allowance for the run's timeout, some 10x the slowest
    /// figure seen (unpinned umvm), so only a hang trips it.
    fn budget(self) -> Duration {
        match self {
            Workload::ForkExec => Duration::from_millis(20),
            Workload::PingPong => Duration::from_millis(2),
        }
    }

    /// The program and its arguments, with paths as seen from `root`: the
    /// host directory for a host run, "/" for a guest.
    fn command(self, root: &Path, n: u64) -> (PathBuf, Vec<OsString>) {
        match self {
            Workload::ForkExec => (root.join("forkexec"), vec![n.to_string().into(), root.join("true").into()]),
            Workload::PingPong => (root.join("pingpong"), vec![n.to_string().into()]),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Runner {
    Host,
    Umvm(&'static str),
}

impl Runner {
    fn label(self) -> String {
        match self {
            Runner::Host => "host".to_string(),
            Runner::Umvm(mode) => format!("umvm {mode}"),
        }
    }
}

const WORKLOADS: [Workload; 2] = [Workload::ForkExec, Workload::PingPong];
const RUNNERS: [Runner; 3] = [Runner::Host, Runner::Umvm("seccomp"), Runner::Umvm("sysemu")];
const PINNINGS: [bool; 2] = [true, false];

type Config = (Workload, Runner, bool);

/// Everything a run needs that is fixed for the whole bench.
struct Setup {
    /// N for each workload, in WORKLOADS order.
    n: [u64; WORKLOADS.len()],
    root: PathBuf,
    /// Where each run's stdout/stderr go: files, not pipes, so a chatty run
    /// can never block on a full pipe while we wait for it with a timeout.
    scratch: PathBuf,
    umvm: Result<PathBuf, String>,
    /// The affinity the bench started with, restored right after each pinned
    /// host run is spawned so that unpinned runs (and umvm, which inherits
    /// it) see every CPU.
    cpus: libc::cpu_set_t,
}

impl Setup {
    fn n(&self, workload: Workload) -> u64 {
        self.n[WORKLOADS.iter().position(|&w| w == workload).unwrap()]
    }
}

#[derive(Default)]
struct Samples {
    us: Vec<f64>,
    errors: Vec<String>,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("process bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let rounds = env_number("PROCESS_BENCH_ROUNDS")?
        .map(|r| r as usize)
        .unwrap_or(if quick { QUICK_ROUNDS } else { DEFAULT_ROUNDS })
        .max(1);
    let mut n = [0; WORKLOADS.len()];
    for (n, w) in n.iter_mut().zip(WORKLOADS) {
        *n = env_number(w.n_var())?.unwrap_or(w.default_n()).max(1);
    }

    let scratch = scratch_dir().join("process-bench");
    let root = scratch.join("root");
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    for name in PROGRAMS {
        compile_guest(name, &root.join(name))?;
    }
    let umvm = build_umvm();
    if let Err(e) = &umvm {
        eprintln!("process bench: umvm unavailable, its cells will be errors: {e}");
    }
    let setup = Setup { n, root, scratch, umvm, cpus: get_affinity().map_err(|e| format!("sched_getaffinity: {e}"))? };

    let configs: Vec<Config> = WORKLOADS
        .iter()
        .flat_map(|&w| PINNINGS.iter().flat_map(move |&pin| RUNNERS.iter().map(move |&r| (w, r, pin))))
        .collect();
    let mut samples: Vec<Samples> = configs.iter().map(|_| Samples::default()).collect();
    for round in 0..rounds {
        eprint!("process bench: round {}/{rounds}", round + 1);
        // Rotate the starting configuration so that slow phases of the host
        // (another tenant, a frequency change) do not always land on the
        // same one.
        for k in 0..configs.len() {
            let i = (round + k) % configs.len();
            match run_once(&setup, configs[i]) {
                Ok(us) => samples[i].us.push(us),
                Err(e) => samples[i].errors.push(e),
            }
            eprint!(".");
        }
        eprintln!();
    }

    print_report(&setup, rounds, &configs, &samples);
    let complete = samples.iter().all(|s| !s.us.is_empty());
    Ok(if complete { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn compile_guest(name: &str, out: &Path) -> Result<(), String> {
    let src = format!("{GUEST_DIR}/{name}.c");
    let result = Command::new("musl-gcc").args(["-static", "-O2", "-Wall", "-o"]).arg(out).arg(&src).output();
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err("musl-gcc not found: install musl-tools (apt-get install musl-tools) to build the guests".to_string())
        }
        Err(e) => Err(format!("cannot run musl-gcc: {e}")),
        Ok(o) if !o.status.success() => {
            Err(format!("musl-gcc failed on {src} ({}):\n{}", o.status, String::from_utf8_lossy(&o.stderr)))
        }
        Ok(_) => Ok(()),
    }
}

/// Runs one configuration and returns its `us_per_op`.
fn run_once(setup: &Setup, (workload, runner, pin): Config) -> Result<f64, String> {
    let n = setup.n(workload);
    let out_path = setup.scratch.join("run.stdout");
    let err_path = setup.scratch.join("run.stderr");
    let create = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));

    let mut cmd = match runner {
        Runner::Host => {
            let (program, args) = workload.command(&setup.root, n);
            let mut cmd = Command::new(program);
            cmd.args(args);
            cmd
        }
        Runner::Umvm(mode) => {
            let umvm = setup.umvm.as_ref().map_err(Clone::clone)?;
            let (program, args) = workload.command(Path::new("/"), n);
            let mut cmd = Command::new(umvm);
            cmd.arg("run").arg("--root-dir").arg(&setup.root).args(["--trap", mode, "--"]).arg(program).args(args);
            if pin {
                cmd.env_remove("UMVM_NO_PIN");
            } else {
                cmd.env("UMVM_NO_PIN", "1");
            }
            cmd
        }
    };
    cmd.stdin(Stdio::null()).stdout(create(&out_path)?).stderr(create(&err_path)?);

    let host_pin = runner == Runner::Host && pin;
    if host_pin {
        let cpu = first_cpu(&setup.cpus).ok_or("empty CPU affinity mask")?;
        set_single_cpu(cpu).map_err(|e| format!("sched_setaffinity: {e}"))?;
    }
    // The child takes the affinity it has at fork, so ours can be restored
    // as soon as it exists.
    let spawned = cmd.spawn();
    if host_pin {
        set_affinity(&setup.cpus).map_err(|e| format!("sched_setaffinity: {e}"))?;
    }
    let mut child = spawned.map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;

    // Generous (see Workload::budget): a hung run must not hang the bench.
    let budget = workload.budget().saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
    let deadline = Instant::now() + Duration::from_secs(30) + budget;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Ignoring errors: the child may exit between the check and
                // the kill; wait() below reaps it either way.
                let _ = child.kill();
                let _ = child.wait();
                return Err("timed out".to_string());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let first_err = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !status.success() {
        return Err(format!("{status}: {first_err}"));
    }
    parse_us(&stdout).ok_or_else(|| format!("no us_per_op in output {stdout:?} {first_err}"))
}

fn parse_us(stdout: &str) -> Option<f64> {
    stdout.lines().find_map(|l| l.trim().strip_prefix("us_per_op=")).and_then(|v| v.parse().ok())
}

fn print_report(setup: &Setup, rounds: usize, configs: &[Config], samples: &[Samples]) {
    const CELL: usize = 34;
    let find = |w: Workload, runner: Runner, pin: bool| {
        let i = configs.iter().position(|&c| c == (w, runner, pin)).unwrap();
        &samples[i]
    };
    let ns: Vec<String> = WORKLOADS.iter().map(|&w| format!("{} N={}", w.label(), setup.n(w))).collect();
    println!();
    println!("process workloads, {}; {rounds} rounds", ns.join(", "));
    println!("us per operation (each run's mean over N): median over rounds (min..max), ratio to host");
    let mut header = format!("{:<26}", "");
    for runner in RUNNERS {
        write!(header, " {:<CELL$}", runner.label()).unwrap();
    }
    println!("{}", header.trim_end());
    for w in WORKLOADS {
        for pin in PINNINGS {
            let mut line = format!("{:<26}", format!("{} {}", w.label(), if pin { "pinned" } else { "unpinned" }));
            let host = stats(&find(w, Runner::Host, pin).us).map(|(med, _, _)| med);
            for runner in RUNNERS {
                let s = find(w, runner, pin);
                let mut cell = String::new();
                match stats(&s.us) {
                    None => cell.push_str("error"),
                    Some((med, min, max)) => {
                        write!(cell, "{} ({}..{})", fmt_us(med), fmt_us(min), fmt_us(max)).unwrap();
                        if runner != Runner::Host {
                            match host {
                                Some(host) => write!(cell, " {:.1}x", med / host).unwrap(),
                                None => cell.push_str(" -"),
                            }
                        }
                    }
                }
                if !s.errors.is_empty() && !s.us.is_empty() {
                    write!(cell, " [{} failed]", s.errors.len()).unwrap();
                }
                write!(line, " {cell:<CELL$}").unwrap();
            }
            println!("{}", line.trim_end());
        }
    }
    for (&(w, runner, pin), s) in configs.iter().zip(samples) {
        if let Some(first) = s.errors.first() {
            println!(
                "error: {} {} {}: {}/{} runs failed; first: {first}",
                w.label(),
                runner.label(),
                if pin { "pinned" } else { "unpinned" },
                s.errors.len(),
                s.errors.len() + s.us.len(),
            );
        }
    }
}

/// Three significant figures or so, without a trail of noise digits.
fn fmt_us(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.2}")
    }
}
