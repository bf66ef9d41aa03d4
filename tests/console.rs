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

/// A umvm running on a pty.
struct OnPty {
    child: std::process::Child,
    master: File,
    /// The pty's modes before umvm started.
    modes_before: libc::termios,
    trace_dir: TempDir,
}

/// Starts umvm on a new pty (its controlling terminal, as a login shell's
/// would be) with `argv` as init.
fn spawn_on_pty(cfg: Config, root: &std::path::Path, argv: &[&str]) -> OnPty {
    let (master, slave) = openpty();
    let modes_before = modes(&master);
    let mut cmd = Command::new(umvm());
    cmd.args(["run", "--root-dir", root.to_str().unwrap(), "--trap", cfg.trap.name()]);
    let trace_dir = TempDir::new("strace");
    if cfg.strace {
        cmd.args(["--strace", "--strace-file", trace_dir.path().join("trace").to_str().unwrap()]);
    }
    cmd.arg("--")
        .args(argv)
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
    let child = cmd.spawn().unwrap();
    drop(cmd); // closes our copies of the slave
    OnPty { child, master, modes_before, trace_dir }
}

/// Runs an interactive `/bin/busybox sh` on a terminal, typing `input`;
/// returns umvm's exit code and everything the terminal showed.
fn run_on_terminal(cfg: Config, root: &std::path::Path, input: &str) -> (i32, String) {
    let OnPty { mut child, mut master, trace_dir, .. } = spawn_on_pty(cfg, root, &["/bin/busybox", "sh"]);

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

/// Everything a pty's master shows, collected by a reader thread.
struct Screen {
    shown: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Screen {
    fn watch(master: &File) -> Screen {
        let mut reader = master.try_clone().unwrap();
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = shown.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last slave fd is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Screen { shown, reader }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().unwrap()).into_owned()
    }

    /// Waits until `what` has appeared on the terminal.
    fn wait_for(&self, cfg: Config, what: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !self.text().contains(what) {
            assert!(std::time::Instant::now() < deadline, "{cfg}: no {what:?} on the terminal:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for umvm to exit (killing it after 20 s).
    fn wait_exit(&self, cfg: Config, child: &mut std::process::Child) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{cfg}: the shell did not exit:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything shown, once the master was closed.
    fn finish(self) -> String {
        let _ = self.reader.join();
        String::from_utf8_lossy(&self.shown.lock().unwrap()).into_owned()
    }
}

/// Reads the terminal modes of a pty (through its master).
fn modes(master: &File) -> libc::termios {
    use std::os::fd::AsRawFd;
    // SAFETY: tcgetattr fills the struct for a valid pty fd.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(master.as_raw_fd(), &mut t), 0);
        t
    }
}

#[test]
fn ctrl_c_kills_the_foreground_job_not_the_shell_and_modes_are_restored() {
    let root = Rootfs::system();
    for cfg in configs() {
        let OnPty { mut child, mut master, modes_before: before, trace_dir: _trace_dir } =
            spawn_on_pty(cfg, root.path(), &["/bin/sh"]);
        let screen = Screen::watch(&master);
        let wait_for = |what: &str| screen.wait_for(cfg, what);
        master.write_all(b"echo started-$((1+1))\n").unwrap();
        wait_for("started-2");
        master.write_all(b"sleep 100\n").unwrap();
        // Let sleep start and the shell hand it the terminal.
        std::thread::sleep(Duration::from_millis(700));
        master.write_all(b"\x03").unwrap();
        // The shell survives, and saw its job die of SIGINT (128 + 2).
        master.write_all(b"echo alive-$?\n").unwrap();
        wait_for("alive-130");
        master.write_all(b"exit 3\n").unwrap();
        let status = screen.wait_exit(cfg, &mut child);
        let after = modes(&master);
        drop(master);
        let shown = screen.finish();
        assert!(!shown.contains("job control turned off"), "{cfg}: {shown}");
        assert_eq!(status.code(), Some(3), "{cfg}: {shown}");
        assert_eq!(
            (before.c_iflag, before.c_oflag, before.c_lflag, before.c_cc),
            (after.c_iflag, after.c_oflag, after.c_lflag, after.c_cc),
            "{cfg}: the terminal's modes were not restored"
        );
    }
}

#[test]
fn host_terminal_is_raw_while_running_ctrl_z_stops_and_resize_reaches_the_guest() {
    use std::os::fd::AsRawFd;
    let root = Rootfs::system();
    for cfg in configs() {
        let OnPty { mut child, mut master, modes_before: before, trace_dir: _trace_dir } =
            spawn_on_pty(cfg, root.path(), &["/bin/sh"]);
        let screen = Screen::watch(&master);
        let wait_for = |what: &str| screen.wait_for(cfg, what);
        master.write_all(b"echo up-$((2+3))\n").unwrap();
        wait_for("up-5");
        // umvm runs the line discipline: the host's is off.
        let during = modes(&master);
        assert_eq!(during.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG), 0, "{cfg}: host terminal not raw");
        // ^Z stops the foreground job; the shell reports it and goes on.
        master.write_all(b"sleep 100\n").unwrap();
        std::thread::sleep(Duration::from_millis(700));
        master.write_all(b"\x1a").unwrap();
        wait_for("Stopped");
        master.write_all(b"kill -9 %1; echo after-$?\n").unwrap();
        wait_for("after-0");
        // A resize of the host terminal is the guest terminal's too.
        let ws = libc::winsize { ws_row: 40, ws_col: 100, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
        assert_eq!(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) }, 0);
        std::thread::sleep(Duration::from_millis(300));
        master.write_all(b"echo size-$(stty size | tr ' ' x)\n").unwrap();
        wait_for("size-40x100");
        master.write_all(b"exit 0\n").unwrap();
        let status = screen.wait_exit(cfg, &mut child);
        let after = modes(&master);
        drop(master);
        let shown = screen.finish();
        assert_eq!(status.code(), Some(0), "{cfg}: {shown}");
        assert_eq!(
            (before.c_iflag, before.c_oflag, before.c_lflag, before.c_cc),
            (after.c_iflag, after.c_oflag, after.c_lflag, after.c_cc),
            "{cfg}: the terminal's modes were not restored"
        );
    }
}

#[test]
fn terminal_modes_are_restored_on_sigterm_and_on_a_failed_boot() {
    let root = Rootfs::system();
    let cfg = configs()[0];
    // SIGTERM to umvm while the guest waits for input.
    let shm_entries = || -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into()).collect())
            .unwrap_or_default()
    };
    let shm_before = shm_entries();
    let OnPty { mut child, mut master, modes_before: before, trace_dir: _t } =
        spawn_on_pty(cfg, root.path(), &["/bin/sh"]);
    master.write_all(b"echo ready-$((3*3))\n").unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains("ready-9") {
        assert!(std::time::Instant::now() < deadline, "no prompt: {:?}", String::from_utf8_lossy(&seen));
        let mut buf = [0u8; 1024];
        let n = master.read(&mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    // SAFETY: plain kill of our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    // Nor does the host directory behind the guest's tmpfs stay behind.
    let prefix = format!("umvm-tmpfs-{}-", child.id());
    let left: Vec<_> =
        shm_entries().into_iter().filter(|e| e.starts_with(&prefix) && !shm_before.contains(e)).collect();
    assert!(left.is_empty(), "left behind in /dev/shm: {left:?}");
    let after = modes(&master);
    assert_eq!((before.c_lflag, before.c_iflag, before.c_oflag), (after.c_lflag, after.c_iflag, after.c_oflag));
    // init that does not exist: an error, and the modes are the same.
    let OnPty { mut child, master, modes_before: before, trace_dir: _t } =
        spawn_on_pty(cfg, root.path(), &["/nonexistent"]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let after = modes(&master);
    assert_eq!((before.c_lflag, before.c_iflag, before.c_oflag), (after.c_lflag, after.c_iflag, after.c_oflag));
}
