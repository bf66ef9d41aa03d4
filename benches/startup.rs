//! `cargo bench --bench startup`: how long Debian's `bash -c true` and
//! `perl -e 1` take to start in a guest, beside the same programs started
//! on the host from the same tree (chroot), in one run.
//!
//! Each figure is the mean of N starts (fork, exec, dynamic loading, exit,
//! wait) timed inside one bash: on the host, `chroot ROOT bash -c LOOP`;
//! in the guest, `umvm run --root-dir ROOT -- bash -c LOOP`, so umvm's own
//! boot is not counted. Rounds alternate host and guest runs, so that a
//! noisy machine skews both alike; the bench prints the median of the
//! rounds and the ratio of the medians. umvm runs with its default pinning,
//! the host runs unpinned.
//!
//! Needs the Debian image (scripts/debian-image, run as root once) and
//! root (chroot). Env: `STARTUP_BENCH_ROUNDS` (default 5), `STARTUP_BENCH_N`
//! (default 40).

// Each bench uses its own part of the shared helpers.
#[allow(dead_code)]
mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const PROGRAMS: [&[&str]; 2] = [&["/bin/bash", "-c", "true"], &["/usr/bin/perl", "-e", "1"]];
const MODES: [&str; 2] = ["seccomp", "sysemu"];
/// Runs "$@" $1 times and prints the mean time of one run in microseconds.
const LOOP: &str =
    r#"n=$1; shift; s=$(date +%s%N); for ((i=0;i<n;i++)); do "$@"; done; e=$(date +%s%N); echo $(( (e-s)/n/1000 ))"#;

fn debian_root() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/debian-image");
    let out = Command::new(&script).stdin(Stdio::null()).output().map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Runs `cmd` (which prints one number) and returns that number.
fn micros(cmd: &mut Command) -> Result<f64, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse() {
        Ok(v) if out.status.success() => Ok(v),
        _ => {
            Err(format!("{cmd:?}: {}; stdout {text:?}; stderr {:?}", out.status, String::from_utf8_lossy(&out.stderr)))
        }
    }
}

fn run() -> Result<(), String> {
    let rounds = env_number("STARTUP_BENCH_ROUNDS")?.unwrap_or(5).max(1);
    let n = env_number("STARTUP_BENCH_N")?.unwrap_or(40).max(1).to_string();
    let root = debian_root()?;
    let umvm = build_umvm()?;
    // samples[program][0] is the host; then one per mode.
    let mut samples = vec![vec![Vec::new(); 1 + MODES.len()]; PROGRAMS.len()];
    for _ in 0..rounds {
        for (p, argv) in PROGRAMS.iter().enumerate() {
            let looped = |cmd: &mut Command| {
                cmd.args(["/bin/bash", "-c", LOOP, "loop", &n]).args(argv.iter());
            };
            let mut host = Command::new("chroot");
            host.arg(&root);
            looped(&mut host);
            samples[p][0].push(micros(&mut host)?);
            for (m, mode) in MODES.iter().enumerate() {
                let mut guest = Command::new(&umvm);
                guest.args(["run", "--trap", mode, "--root-dir"]).arg(&root).arg("--");
                looped(&mut guest);
                samples[p][1 + m].push(micros(&mut guest)?);
            }
        }
    }
    println!("startup, mean of {n} starts per round, median of {rounds} rounds (host unpinned, umvm default pinning):");
    for (p, argv) in PROGRAMS.iter().enumerate() {
        let (host, _, _) = stats(&samples[p][0]).expect("rounds >= 1");
        println!("  {:<20} host          {host:>8.0} us", argv.join(" "));
        for (m, mode) in MODES.iter().enumerate() {
            let (g, lo, hi) = stats(&samples[p][1 + m]).expect("rounds >= 1");
            println!("  {:<20} umvm {mode:<8} {g:>8.0} us ({lo:.0}..{hi:.0})  {:.2}x host", "", g / host);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("startup bench: {e}");
            ExitCode::FAILURE
        }
    }
}
