//! Helpers both benches share: options from the environment, the scratch
//! directory, building umvm, medians, and CPU affinity for pinned runs.

use std::io;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn env_number(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(None),
    }
}

pub fn scratch_dir() -> PathBuf {
    option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir)
}

/// Builds umvm and returns its path. Always asking cargo is cheap when it is
/// up to date and saves guessing whether the binary is stale; the bench
/// binary lives in `<target>/release/deps/`, umvm in `<target>/release/`.
pub fn build_umvm() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--bin", "umvm"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| l.starts_with("error")).unwrap_or("no error line");
        return Err(format!("cargo build --release --bin umvm failed: {first}"));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe.parent().and_then(Path::parent).ok_or_else(|| format!("unexpected bench path {}", exe.display()))?;
    let umvm = dir.join("umvm");
    if umvm.is_file() {
        Ok(umvm)
    } else {
        Err(format!("{} missing after cargo build", umvm.display()))
    }
}

/// (median, min, max) of the samples, or None if there are none.
pub fn stats(ns: &[f64]) -> Option<(f64, f64, f64)> {
    if ns.is_empty() {
        return None;
    }
    let mut v = ns.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
    Some((median, v[0], v[v.len() - 1]))
}

pub fn get_affinity() -> io::Result<libc::cpu_set_t> {
    let mut set = MaybeUninit::<libc::cpu_set_t>::zeroed();
    // SAFETY: `set` is a zeroed cpu_set_t (all-zero is a valid value) and
    // the size passed is its exact size.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised above and filled in by the kernel.
    Ok(unsafe { set.assume_init() })
}

pub fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn first_cpu(set: &libc::cpu_set_t) -> Option<usize> {
    // SAFETY: CPU_ISSET only reads the set, and the index is below
    // CPU_SETSIZE, the number of bits a cpu_set_t holds.
    (0..libc::CPU_SETSIZE as usize).find(|&cpu| unsafe { libc::CPU_ISSET(cpu, set) })
}

pub fn set_single_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: all-zero is a valid (empty) cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` came from first_cpu, so it is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}
