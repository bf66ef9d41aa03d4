//! `cargo bench --bench trap`: the guest syscall round trip under umvm, in
//! both trap modes, beside a minimal raw-ptrace tracer, pinned and unpinned.
//!
//! The guest is one static musl program (benches/guest/getppid_loop.c) that
//! times N raw getppid calls with the vDSO clock and prints `ns_per_call=`.
//! The raw tracer runs the very same binary on the host and answers each
//! getppid the way a C tracer would (one SYSEMU, one waitpid, one GETREGS, one
//! SETREGS per call), so the ratio umvm/raw is the cost umvm adds on top of
//! the trap itself.
//!
//! Options: `--quick` (3 rounds); env `TRAP_BENCH_ROUNDS` (default 11) and
//! `TRAP_BENCH_N` (default 200000). Other arguments, such as the `--bench`
//! cargo passes, are ignored.

mod common;
use common::*;

use std::ffi::{c_void, CString};
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::ptr;
use std::time::{Duration, Instant};

const GUEST_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/guest/getppid_loop.c");
const GUEST_NAME: &str = "getppid_loop";
const DEFAULT_ROUNDS: usize = 11;
const QUICK_ROUNDS: usize = 3;
const DEFAULT_N: u64 = 200_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Runner {
    Raw,
    Umvm(&'static str),
}

impl Runner {
    fn label(self) -> String {
        match self {
            Runner::Raw => "raw sysemu".to_string(),
            Runner::Umvm(mode) => format!("umvm {mode}"),
        }
    }
}

const RUNNERS: [Runner; 3] = [Runner::Raw, Runner::Umvm("sysemu"), Runner::Umvm("seccomp")];
const PINNINGS: [bool; 2] = [true, false];

/// Everything a run needs that is fixed for the whole bench.
struct Setup {
    n: u64,
    root: PathBuf,
    guest: PathBuf,
    /// Where umvm's stdout/stderr go: files, not pipes, so a chatty umvm can
    /// never block on a full pipe while we wait for it with a timeout.
    scratch: PathBuf,
    umvm: Result<PathBuf, String>,
    /// The affinity the bench started with, restored after each pinned raw
    /// run so that unpinned runs (and umvm, which inherits it) see every CPU.
    cpus: libc::cpu_set_t,
}

#[derive(Default)]
struct Samples {
    ns: Vec<f64>,
    errors: Vec<String>,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trap bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let rounds = env_number("TRAP_BENCH_ROUNDS")?
        .map(|r| r as usize)
        .unwrap_or(if quick { QUICK_ROUNDS } else { DEFAULT_ROUNDS })
        .max(1);
    let n = env_number("TRAP_BENCH_N")?.unwrap_or(DEFAULT_N).max(1);

    let scratch = scratch_dir().join("trap-bench");
    let root = scratch.join("root");
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let guest = root.join(GUEST_NAME);
    compile_guest(&guest)?;
    let umvm = build_umvm();
    if let Err(e) = &umvm {
        eprintln!("trap bench: umvm unavailable, its rows will be errors: {e}");
    }
    let setup =
        Setup { n, root, guest, scratch, umvm, cpus: get_affinity().map_err(|e| format!("sched_getaffinity: {e}"))? };

    let configs: Vec<(Runner, bool)> =
        PINNINGS.iter().flat_map(|&pin| RUNNERS.iter().map(move |&r| (r, pin))).collect();
    let mut samples: Vec<Samples> = configs.iter().map(|_| Samples::default()).collect();
    for round in 0..rounds {
        eprint!("trap bench: round {}/{rounds}", round + 1);
        // Rotate the starting configuration so that slow phases of the host
        // (another tenant, a frequency change) do not always land on the
        // same one.
        for k in 0..configs.len() {
            let i = (round + k) % configs.len();
            let (runner, pin) = configs[i];
            match run_once(&setup, runner, pin) {
                Ok(ns) => samples[i].ns.push(ns),
                Err(e) => samples[i].errors.push(e),
            }
            eprint!(".");
        }
        eprintln!();
    }

    print_report(&setup, rounds, &configs, &samples);
    let complete = samples.iter().all(|s| !s.ns.is_empty());
    Ok(if complete { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn compile_guest(out: &Path) -> Result<(), String> {
    let result = Command::new("musl-gcc").args(["-static", "-O2", "-Wall", "-o"]).arg(out).arg(GUEST_SRC).output();
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err("musl-gcc not found: install musl-tools (apt-get install musl-tools) to build the guest".to_string())
        }
        Err(e) => Err(format!("cannot run musl-gcc: {e}")),
        Ok(o) if !o.status.success() => {
            Err(format!("musl-gcc failed on {GUEST_SRC} ({}):\n{}", o.status, String::from_utf8_lossy(&o.stderr)))
        }
        Ok(_) => Ok(()),
    }
}

fn run_once(setup: &Setup, runner: Runner, pin: bool) -> Result<f64, String> {
    match runner {
        Runner::Raw => {
            if pin {
                let cpu = first_cpu(&setup.cpus).ok_or("empty CPU affinity mask")?;
                set_single_cpu(cpu).map_err(|e| format!("sched_setaffinity: {e}"))?;
            }
            let result = raw::run(&setup.guest, setup.n);
            if pin {
                set_affinity(&setup.cpus).map_err(|e| format!("sched_setaffinity: {e}"))?;
            }
            result
        }
        Runner::Umvm(mode) => run_umvm(setup, mode, pin),
    }
}

fn run_umvm(setup: &Setup, mode: &str, pin: bool) -> Result<f64, String> {
    let umvm = setup.umvm.as_ref().map_err(Clone::clone)?;
    let out_path = setup.scratch.join("umvm.stdout");
    let err_path = setup.scratch.join("umvm.stderr");
    let create = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut cmd = Command::new(umvm);
    cmd.arg("run")
        .arg("--root-dir")
        .arg(&setup.root)
        .args(["--trap", mode, "--"])
        .arg(format!("/{GUEST_NAME}"))
        .arg(setup.n.to_string())
        .stdin(Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?);
    if pin {
        cmd.env_remove("UMVM_NO_PIN");
    } else {
        cmd.env("UMVM_NO_PIN", "1");
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", umvm.display()))?;

    // Generous: even a cross-CPU trap at 100 us per call finishes well
    // within this; a hung umvm must not hang the bench.
    let deadline = Instant::now() + Duration::from_secs(30) + Duration::from_micros(setup.n * 500);
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
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let first_err = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !status.success() {
        return Err(format!("{status}: {first_err}"));
    }
    parse_ns(&stdout).ok_or_else(|| format!("no ns_per_call in output {stdout:?} {first_err}"))
}

fn parse_ns(stdout: &str) -> Option<f64> {
    stdout.lines().find_map(|l| l.trim().strip_prefix("ns_per_call=")).and_then(|v| v.parse().ok())
}

fn print_report(setup: &Setup, rounds: usize, configs: &[(Runner, bool)], samples: &[Samples]) {
    let find = |runner: Runner, pin: bool| {
        let i = configs.iter().position(|&c| c == (runner, pin)).unwrap();
        &samples[i]
    };
    println!();
    println!("trap round trip (getppid), N={}, {rounds} rounds, medians (min..max) in us", setup.n);
    println!("{:<14} {:<34} unpinned", "", "pinned");
    for runner in RUNNERS {
        let mut line = format!("{:<14}", runner.label());
        for pin in PINNINGS {
            let s = find(runner, pin);
            let mut cell = String::new();
            match stats(&s.ns) {
                None => cell.push_str("error"),
                Some((med, min, max)) => {
                    write!(cell, "{:.2} ({:.2}..{:.2})", med / 1e3, min / 1e3, max / 1e3).unwrap();
                    if runner != Runner::Raw {
                        match stats(&find(Runner::Raw, pin).ns) {
                            Some((raw, _, _)) => write!(cell, " ratio {:.2}x", med / raw).unwrap(),
                            None => cell.push_str(" ratio -"),
                        }
                    }
                }
            }
            if !s.errors.is_empty() && !s.ns.is_empty() {
                write!(cell, " [{} failed]", s.errors.len()).unwrap();
            }
            write!(line, " {cell:<34}").unwrap();
        }
        println!("{}", line.trim_end());
    }
    for (&(runner, pin), s) in configs.iter().zip(samples) {
        if let Some(first) = s.errors.first() {
            println!(
                "error: {} {}: {}/{} runs failed; first: {first}",
                runner.label(),
                if pin { "pinned" } else { "unpinned" },
                s.errors.len(),
                s.errors.len() + s.ns.len(),
            );
        }
    }
}

/// The raw-ptrace baseline: the smallest tracer that can run the guest.
///
/// Everything the guest asks for is emulated under PTRACE_SYSEMU, including
/// musl's few start-up and exit calls, because a SYSEMU stop cannot be
/// turned back into a real syscall; getppid, the call being measured, costs
/// exactly one PTRACE_SYSEMU, one waitpid, one GETREGS and one SETREGS.
mod raw {
    use super::*;

    /// From asm/prctl.h; the libc crate does not export it.
    const ARCH_SET_FS: u64 = 0x1002;

    /// Kills and reaps the tracee on every exit path, including errors, so
    /// a failed run never leaves a stopped process behind.
    struct Tracee(libc::pid_t);

    impl Drop for Tracee {
        fn drop(&mut self) {
            // SAFETY: the pid is our own unreaped child, so it cannot have
            // been reused; kill and waitpid on it touch nothing else.
            unsafe {
                libc::kill(self.0, libc::SIGKILL);
                libc::waitpid(self.0, ptr::null_mut(), 0);
            }
        }
    }

    pub(super) fn run(guest: &Path, n: u64) -> Result<f64, String> {
        let path =
            CString::new(guest.as_os_str().as_encoded_bytes()).map_err(|_| "guest path contains NUL".to_string())?;
        let arg = CString::new(n.to_string()).unwrap();
        // Built before fork: the child may only make async-signal-safe calls.
        let argv = [path.as_ptr(), arg.as_ptr(), ptr::null()];

        // SAFETY: the child below only calls async-signal-safe functions
        // (ptrace, raise, execv, _exit) on data prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: see the fork above; argv is NULL-terminated and its
            // strings outlive the call (execv replaces the image or fails).
            unsafe {
                libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
                libc::raise(libc::SIGSTOP);
                libc::execv(path.as_ptr(), argv.as_ptr());
                libc::_exit(127);
            }
        }
        let tracee = Tracee(pid);

        let status = wait(pid)?;
        if !stopped_with(status, libc::SIGSTOP) {
            return Err(format!("child did not stop before exec (status {status:#x})"));
        }
        let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACEEXEC;
        ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as u64)?;
        // The execve must really happen, so it runs under PTRACE_CONT; only
        // from the exec stop on is every syscall emulated.
        ptrace(libc::PTRACE_CONT, pid, 0, 0)?;
        let status = wait(pid)?;
        if status >> 8 != (libc::SIGTRAP | (libc::PTRACE_EVENT_EXEC << 8)) {
            return Err(format!("no exec stop (status {status:#x}): is the guest runnable?"));
        }

        let mut out = Vec::new();
        let mut errors = Vec::new();
        let mut inject = 0;
        let code = loop {
            ptrace(libc::PTRACE_SYSEMU, pid, 0, inject)?;
            inject = 0;
            let status = wait(pid)?;
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                return Err(format!("guest died without exit_group (status {status:#x})"));
            }
            let sig = libc::WSTOPSIG(status);
            if sig != libc::SIGTRAP | 0x80 {
                // A real signal: hand it to the guest as a kernel would.
                inject = sig as u64;
                continue;
            }
            let mut regs = getregs(pid)?;
            match regs.orig_rax as libc::c_long {
                libc::SYS_getppid => regs.rax = 1,
                libc::SYS_exit_group | libc::SYS_exit => break regs.rdi as i32,
                libc::SYS_write => {
                    regs.rax = output(regs.rdi, &mut out, &mut errors, |buf| {
                        buf.extend(read_mem(pid, regs.rsi, regs.rdx as usize)?);
                        Ok(())
                    });
                }
                libc::SYS_writev => {
                    regs.rax = output(regs.rdi, &mut out, &mut errors, |buf| {
                        let iov = read_mem(pid, regs.rsi, regs.rdx as usize * 16)?;
                        for v in iov.chunks_exact(16) {
                            let base = u64::from_ne_bytes(v[..8].try_into().unwrap());
                            let len = u64::from_ne_bytes(v[8..].try_into().unwrap());
                            buf.extend(read_mem(pid, base, len as usize)?);
                        }
                        Ok(())
                    });
                }
                libc::SYS_arch_prctl if regs.rdi == ARCH_SET_FS => {
                    // PTRACE_SETREGS writes fs_base like arch_prctl would.
                    regs.fs_base = regs.rsi;
                    regs.rax = 0;
                }
                libc::SYS_set_tid_address => regs.rax = pid as u64,
                libc::SYS_ioctl => regs.rax = neg(libc::ENOTTY),
                _ => regs.rax = neg(libc::ENOSYS),
            }
            setregs(pid, &regs)?;
        };
        drop(tracee);

        let stdout = String::from_utf8_lossy(&out);
        let stderr = String::from_utf8_lossy(&errors);
        if code != 0 {
            return Err(format!("guest exited {code}: {}", stderr.trim()));
        }
        parse_ns(&stdout).ok_or_else(|| format!("no ns_per_call in output {stdout:?}"))
    }

    /// Emulates a write to fd 1 or 2 by collecting the bytes; returns the
    /// value for rax.
    fn output(
        fd: u64,
        out: &mut Vec<u8>,
        errors: &mut Vec<u8>,
        gather: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
    ) -> u64 {
        let buf = match fd {
            1 => out,
            2 => errors,
            _ => return neg(libc::EBADF),
        };
        let before = buf.len();
        match gather(buf) {
            Ok(()) => (buf.len() - before) as u64,
            Err(e) => neg(e.raw_os_error().unwrap_or(libc::EFAULT)),
        }
    }

    fn neg(errno: libc::c_int) -> u64 {
        -(errno as i64) as u64
    }

    fn read_mem(pid: libc::pid_t, addr: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: len };
        let remote = libc::iovec { iov_base: addr as *mut c_void, iov_len: len };
        // SAFETY: `local` covers exactly `buf`'s `len` writable bytes; the
        // remote address is only interpreted in the tracee's address space.
        let r = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(r as usize);
        Ok(buf)
    }

    fn ptrace(req: libc::c_uint, pid: libc::pid_t, addr: u64, data: u64) -> Result<(), String> {
        // SAFETY: the requests used here take integer addr/data arguments
        // and touch no memory of ours.
        let r = unsafe { libc::ptrace(req, pid, addr, data) };
        if r < 0 {
            return Err(format!("ptrace({req}): {}", io::Error::last_os_error()));
        }
        Ok(())
    }

    fn getregs(pid: libc::pid_t) -> Result<libc::user_regs_struct, String> {
        let mut regs = MaybeUninit::<libc::user_regs_struct>::uninit();
        // SAFETY: PTRACE_GETREGS writes one user_regs_struct to the pointer.
        let r = unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, regs.as_mut_ptr()) };
        if r < 0 {
            return Err(format!("PTRACE_GETREGS: {}", io::Error::last_os_error()));
        }
        // SAFETY: the kernel filled it in.
        Ok(unsafe { regs.assume_init() })
    }

    fn setregs(pid: libc::pid_t, regs: &libc::user_regs_struct) -> Result<(), String> {
        // SAFETY: PTRACE_SETREGS only reads one user_regs_struct.
        let r = unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0, regs as *const _) };
        if r < 0 {
            return Err(format!("PTRACE_SETREGS: {}", io::Error::last_os_error()));
        }
        Ok(())
    }

    fn wait(pid: libc::pid_t) -> Result<libc::c_int, String> {
        let mut status = 0;
        loop {
            // SAFETY: `status` is a valid int to write to.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
            if r == pid {
                return Ok(status);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(format!("waitpid: {e}"));
            }
        }
    }

    fn stopped_with(status: libc::c_int, sig: libc::c_int) -> bool {
        libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == sig
    }
}
