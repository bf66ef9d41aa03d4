//! The console on a terminal: what `./scripts/quickstart` boots, an
//! interactive busybox shell, with umvm's stdin/stdout/stderr on a pty.

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A pty pair: (master, slave).
fn openpty() -> (File, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two fds; the other arguments may be null.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened and are owned by nobody else.
    unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Runs an interactive `/bin/busybox sh` on a terminal, typing `input`;
/// returns umvm's exit code and everything the terminal showed.
fn run_on_terminal(cfg: Config, root: &std::path::Path, input: &str) -> (i32, String) {
    let (mut master, slave) = openpty();
    let mut cmd = Command::new(umvm());
    cmd.args(["run", "--root-dir", root.to_str().unwrap(), "--trap", cfg.trap.name()]);
    let trace_dir = TempDir::new("strace");
    if cfg.strace {
        cmd.args(["--strace", "--strace-file", trace_dir.path().join("trace").to_str().unwrap()]);
    }
    cmd.args(["--", "/bin/busybox", "sh"])
        .env_remove("UMVM_LOG")
        .env("TERM", "linux")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe; the child makes the
    // pty its controlling terminal, as a login would.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // closes our copies of the slave

    let mut reader = master.try_clone().unwrap();
    let output = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the last slave fd is closed.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    });
    master.write_all(input.as_bytes()).unwrap();

    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cfg}: the shell on a terminal did not exit within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(master);
    let shown = output.join().unwrap();
    if cfg.strace {
        let trace = std::fs::read_to_string(trace_dir.path().join("trace")).unwrap_or_default();
        assert!(trace.contains("write("), "{cfg}: no write( in the strace file:\n{trace}");
    }
    (status.code().unwrap_or(-1), shown)
}

#[test]
fn interactive_shell_on_a_terminal_runs_builtins_cleanly() {
    let root = Rootfs::new();
    for cfg in configs() {
        let (code, shown) = run_on_terminal(cfg, root.path(), "echo hello-$((6*7)) $$\ncd /bin; pwd\nexit 3\n");
        let what = format!("{cfg}: the terminal showed:\n{shown}");
        assert!(shown.contains("hello-42 1"), "{what}");
        assert!(shown.contains("\n/bin\r\n") || shown.contains("\r\n/bin\r\n"), "{what}");
        assert!(!shown.contains("not implemented"), "{what}");
        assert!(!shown.contains("panicked"), "{what}");
        assert_eq!(code, 3, "{what}");
    }
}
