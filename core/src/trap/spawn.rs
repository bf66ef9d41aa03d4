//! Creating a guest process: a host child that execs the stub.
//!
//! The tracer thread forks; the child arranges to die with its tracer
//! (PR_SET_PDEATHSIG), waits until it is seized, then (with nothing but
//! raw syscalls, as it is a fork of a threaded process) leaves umvm's
//! session, resets signal state, drops root, sets no_new_privs, closes every
//! host fd but the stub's close-on-exec memfd, installs the seccomp filter
//! and execs the stub. The stub traps at its first instruction: the task
//! is then stopped, clean, and ready for the loader.

use std::os::fd::RawFd;

use super::fdpass::GUEST_FD;
use super::ptrace;
use super::Stop;
use crate::errno::Errno;

/// How to start a guest process.
pub struct SpawnSpec<'a> {
    /// The stub's memfd.
    pub stub_fd: RawFd,
    /// The seccomp filter to install (seccomp mode).
    pub filter: Option<&'a [seccompiler::sock_filter]>,
    /// When umvm runs as root: the uid/gid guest processes run as.
    pub drop_to: Option<(u32, u32)>,
    /// The guest end of the fd-passing channel, installed at
    /// `fdpass::GUEST_FD`.
    pub channel: Option<RawFd>,
}

/// Why a guest process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// fork, pipe or ptrace failed.
    #[error("starting a guest process: {0}")]
    Host(Errno),
    /// The child failed a setup step before exec'ing the stub.
    #[error("guest process setup failed at step {0} (see trap/spawn.rs)")]
    Setup(i32),
    /// The child stopped unexpectedly.
    #[error("guest process stopped unexpectedly: {0:?}")]
    Unexpected(Stop),
}

/// Forks a guest process that is traced by the calling thread and stopped
/// at the stub's entry. Returns its host pid.
pub fn spawn(spec: &SpawnSpec<'_>) -> Result<i32, SpawnError> {
    let (pid, release) = fork_held(spec)?;
    let seized = ptrace::seize(pid);
    // Release the child whether or not the seize worked: it must not block.
    // SAFETY: writing one byte from a local, then closing our fd.
    unsafe {
        libc::write(release, [1u8].as_ptr().cast(), 1);
        libc::close(release);
    }
    if let Err(e) = seized {
        // SAFETY: killing and reaping the child we forked.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
        }
        return Err(SpawnError::Host(e));
    }
    loop {
        let ws = ptrace::wait_tid(pid).map_err(SpawnError::Host)?;
        match Stop::from_status(ws.status) {
            // The stub's first instruction, int3.
            Stop::Signal(libc::SIGTRAP) => return Ok(pid),
            // The filter traps the stub's execveat: it is ours, let it run.
            Stop::Syscall | Stop::Event(_) | Stop::GroupStop(_) => ptrace::cont(pid, 0).map_err(SpawnError::Host)?,
            Stop::Exited(code) => return Err(SpawnError::Setup(code)),
            other => {
                ptrace::kill_thread(pid, pid);
                let _ = ptrace::wait_tid(pid);
                return Err(SpawnError::Unexpected(other));
            }
        }
    }
}

/// Forks the child, held before its first step until a byte arrives on
/// the returned fd (the write end of a pipe, the caller's to close).
/// Returns (pid, that fd).
fn fork_held(spec: &SpawnSpec<'_>) -> Result<(i32, RawFd), SpawnError> {
    let mut pipe = [0; 2];
    // SAFETY: `pipe` has room for two fds.
    Errno::result(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) }).map_err(SpawnError::Host)?;
    // seccompiler's sock_filter is the kernel's struct, as libc's is.
    let prog =
        spec.filter.map(|f| libc::sock_fprog { len: f.len() as u16, filter: f.as_ptr() as *mut libc::sock_filter });
    let argv: [*const libc::c_char; 2] = [c"umvm-stub".as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };

    // SAFETY: the child runs only async-signal-safe raw syscalls (below)
    // on memory prepared before the fork, and never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see child_main.
        unsafe { child_main(pipe, parent, spec, prog.as_ref(), &argv, &envp) }
    }
    // SAFETY: closing our copy of the read end.
    unsafe { libc::close(pipe[0]) };
    if pid < 0 {
        // SAFETY: closing the write end we own.
        unsafe { libc::close(pipe[1]) };
        return Err(SpawnError::Host(Errno::last()));
    }
    Ok((pid, pipe[1]))
}

/// The child side of [`spawn`]. Exit codes 120-127 name the step that
/// failed.
///
/// # Safety
/// Must run in a freshly forked child; every pointer must be valid.
unsafe fn child_main(
    [rd, wr]: [RawFd; 2],
    parent: i32,
    spec: &SpawnSpec<'_>,
    prog: Option<&libc::sock_fprog>,
    argv: &[*const libc::c_char; 2],
    envp: &[*const libc::c_char; 1],
) -> ! {
    let (stub_fd, drop_to) = (spec.stub_fd, spec.drop_to);
    // Until released, the child holds a copy of every fd of umvm (its
    // stdout and stderr among them): if umvm exits before releasing it
    // (an error at boot while another loop forks its doorbell), the child
    // must die at once, not wait forever and keep umvm's output pipes
    // open. Its own copy of the write end would keep the read below from
    // ending, and a sibling forked at the same moment may hold one too:
    // hence the death signal, set before waiting.
    libc::close(wr);
    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != parent {
        libc::_exit(121);
    }
    // Nor may a held child keep umvm's other files while it waits: the
    // death signal is delivered after umvm has exited, and until the child
    // is gone its copies would hold, say, a disk's lock (an open file
    // description lock lives while any copy of its fd does), so a tool or
    // a new umvm started as soon as this one ended would find the disk
    // locked. Only what the child needs stays open.
    close_all_but([rd, stub_fd, spec.channel.unwrap_or(-1)]);
    let mut b = 0u8;
    if libc::read(rd, (&mut b as *mut u8).cast(), 1) != 1 {
        libc::_exit(120);
    }
    libc::close(rd);
    libc::setsid();
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    // exec resets handlers but keeps ignored signals ignored (Rust ignores
    // SIGPIPE): give the guest default dispositions.
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    if let Some((uid, gid)) = drop_to {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(gid, gid, gid) != 0
            || libc::setresuid(uid, uid, uid) != 0
        {
            libc::_exit(122);
        }
    }
    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
        libc::_exit(123);
    }
    // Keep the stub's memfd and the channel (at GUEST_FD, inheritable);
    // close every other fd.
    let keep = match spec.channel {
        Some(c) if stub_fd < GUEST_FD => {
            if libc::dup2(c, GUEST_FD) != GUEST_FD {
                libc::_exit(126);
            }
            GUEST_FD
        }
        _ => stub_fd,
    };
    if stub_fd > 0 {
        libc::syscall(libc::SYS_close_range, 0, stub_fd - 1, 0);
    }
    if keep > stub_fd + 1 {
        libc::syscall(libc::SYS_close_range, stub_fd + 1, keep - 1, 0);
    }
    libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0);
    if let Some(p) = prog {
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, p as *const libc::sock_fprog) != 0 {
            libc::_exit(124);
        }
    }
    libc::syscall(libc::SYS_execveat, stub_fd, c"".as_ptr(), argv.as_ptr(), envp.as_ptr(), libc::AT_EMPTY_PATH);
    libc::_exit(125);
}

/// Closes every fd but those of `keep` (-1: none), with raw close_range
/// calls only, as a forked child may.
///
/// # Safety
/// Closes fds behind any owner's back: only for a freshly forked child.
unsafe fn close_all_but(mut keep: [RawFd; 3]) {
    keep.sort_unstable();
    let mut from: u32 = 0;
    for k in keep {
        if k < 0 || (k as u32) < from {
            continue;
        }
        if k as u32 > from {
            libc::syscall(libc::SYS_close_range, from, k as u32 - 1, 0);
        }
        from = k as u32 + 1;
    }
    libc::syscall(libc::SYS_close_range, from, u32::MAX, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A child whose parent dies before releasing it (umvm exiting on an
    /// error while a loop forks its doorbell) must not live on holding
    /// umvm's fds: here a pipe's write end stands for umvm's stderr, and
    /// its reader must see end-of-file.
    #[test]
    fn a_held_child_dies_with_its_parent() {
        let mut p = [0; 2];
        // SAFETY: `p` has room for two fds.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let [rd, wr] = p;
        let spec = SpawnSpec { stub_fd: -1, filter: None, drop_to: None, channel: None };
        // SAFETY: the middle process runs fork_held (raw syscalls on
        // memory prepared before its fork), writes the held child's pid
        // and exits without releasing it.
        let middle = unsafe { libc::fork() };
        if middle == 0 {
            // SAFETY: as above; only raw syscalls and _exit.
            unsafe {
                let code = match fork_held(&spec) {
                    Ok((pid, _release)) => {
                        libc::write(wr, (&pid as *const i32).cast(), 4);
                        0
                    }
                    Err(_) => 1,
                };
                libc::_exit(code);
            }
        }
        assert!(middle > 0);
        // SAFETY: closing our write end; reaping our child.
        let mut status = 0;
        unsafe {
            libc::close(wr);
            libc::waitpid(middle, &mut status, 0);
        }
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "middle process: {status:#x}");
        let mut pid = 0i32;
        // SAFETY: reading 4 bytes into a local.
        assert_eq!(unsafe { libc::read(rd, (&mut pid as *mut i32).cast(), 4) }, 4);
        let deadline = Instant::now() + Duration::from_secs(10);
        let eof = loop {
            let mut pfd = libc::pollfd { fd: rd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one pollfd, 100 ms.
            unsafe { libc::poll(&mut pfd, 1, 100) };
            let mut b = 0u8;
            // SAFETY: reading at most one byte into a local (only when readable).
            if pfd.revents != 0 && unsafe { libc::read(rd, (&mut b as *mut u8).cast(), 1) } == 0 {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
        };
        // SAFETY: closing our read end; the held child (ours no more) is
        // killed if it outlived its parent, so that a failure leaks nothing.
        unsafe {
            libc::close(rd);
            if !eof {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        assert!(eof, "held child {pid} outlived its parent and kept its fds");
    }

    /// While it waits to be released, a held child keeps none of umvm's
    /// files (here a pipe's write end stands for a locked disk): when umvm
    /// closes its own copy, the file is closed for good at once.
    #[test]
    fn a_held_child_keeps_no_files_while_it_waits() {
        let mut p = [0; 2];
        // SAFETY: `p` has room for two fds.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let [rd, wr] = p;
        let spec = SpawnSpec { stub_fd: -1, filter: None, drop_to: None, channel: None };
        let (pid, release) = fork_held(&spec).expect("fork_held");
        let mut pfd = libc::pollfd { fd: rd, events: libc::POLLIN, revents: 0 };
        let mut b = 0u8;
        // SAFETY: closing our write end, then polling and reading one
        // byte into a local; the child is killed and reaped, never released.
        let got = unsafe {
            libc::close(wr);
            libc::poll(&mut pfd, 1, 5000);
            let got = if pfd.revents != 0 { libc::read(rd, (&mut b as *mut u8).cast(), 1) } else { -1 };
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
            libc::close(release);
            libc::close(rd);
            got
        };
        assert_eq!(got, 0, "the held child still held the pipe's write end");
    }
}
