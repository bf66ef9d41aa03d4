//! The console as a terminal over a pipe (`--console tty`): umvm's own line
//! discipline, driven byte by byte so every result is deterministic. The
//! same line discipline serves a host terminal (tests/console.rs).
//!
//! Canonical editing with echo and CR/LF mapping, ^D, the signal
//! characters, raw mode passing every byte through, VMIN/VTIME, FIONREAD,
//! TIOCSWINSZ and SIGWINCH, job control (SIGTTIN/SIGTTOU/EIO), and the
//! default of plain, byte-exact streams when stdin is a pipe.

mod common;

use common::*;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STEP_TIMEOUT: Duration = Duration::from_secs(20);

fn tty_run(cfg: Config, root: &Rootfs, argv: &[&str], stdin: &[u8]) -> Run {
    run_guest_opts(cfg, root.path(), &["--console", "tty"], argv, stdin, STEP_TIMEOUT)
}

#[test]
fn canonical_mode_edits_lines_echoes_and_maps_newlines() {
    let root = Rootfs::system();
    let script = r#"read x; echo "[$x]"; read y; echo "[$y]"; [ -t 0 ] && echo "stdin is a tty""#;
    for cfg in configs() {
        // ERASE (DEL) and a word erase (^W) edit the line before the shell
        // sees it; echo shows the typing; ONLCR makes every \n a \r\n.
        let run = tty_run(cfg, &root, &["/bin/sh", "-c", script], b"abc\x7fd\nthe wrong\x17right\n");
        assert_eq!(
            run.out(),
            "abc\x08 \x08d\r\nthe wrong\x08 \x08\x08 \x08\x08 \x08\x08 \x08\x08 \x08right\r\n\
             [abd]\r\n[the right]\r\nstdin is a tty\r\n",
            "{cfg}\n{run}"
        );
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}

#[test]
fn eof_character_ends_a_read_and_hangup_ends_input() {
    let root = Rootfs::system();
    for cfg in configs() {
        // ^D on an empty line is end of file for cat; the second cat gets
        // the rest, then end of input (umvm's stdin closed) ends it too.
        let run = tty_run(cfg, &root, &["/bin/sh", "-c", "cat; echo cat done; cat; echo rc=$?"], b"line\n\x04more");
        assert_eq!(run.out(), "line\r\nmoreline\r\ncat done\r\nmorerc=0\r\n", "{cfg}\n{run}");
    }
}

#[test]
fn stty_sees_linux_defaults() {
    let root = Rootfs::system();
    for cfg in configs() {
        let run = tty_run(cfg, &root, &["/bin/busybox", "stty", "-a"], b"");
        let out = run.out();
        for want in ["rows 24; columns 80", "intr = ^C", "erase = ^?", "eof = ^D", "icrnl", "onlcr", "icanon", "echo"] {
            assert!(out.contains(want), "{cfg}: stty -a lacks {want:?}\n{run}");
        }
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}

#[test]
fn pipes_stay_byte_exact_by_default() {
    let root = Rootfs::system();
    for cfg in configs() {
        // Without --console tty, a piped stdin is not a terminal: no echo,
        // no CR/LF mapping, ^C is data.
        let run = run_guest_with_stdin(
            cfg,
            root.path(),
            &["/bin/sh", "-c", "[ -t 0 ] || echo pipe; od -An -tx1"],
            b"a\x03\r\n",
        );
        assert_eq!(run.out(), "pipe\n 61 03 0d 0a\n", "{cfg}\n{run}");
    }
}

/// A umvm whose stdin the test writes step by step, answering prompts.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    seen: usize,
    cfg: Config,
}

impl Session {
    fn start(cfg: Config, root: &Rootfs, argv: &[&str]) -> Session {
        let mut cmd = Command::new(umvm());
        cmd.args(["run", "--console", "tty", "--root-dir", root.path().to_str().unwrap(), "--trap", cfg.trap.name()]);
        if cfg.strace {
            cmd.args(["--strace", "--strace-file", "/dev/null"]);
        }
        let mut child = cmd
            .arg("--")
            .args(argv)
            .env_remove("UMVM_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Session { stdin: child.stdin.take(), child, out, seen: 0, cfg }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits for `s` after what was already matched.
    fn expect(&mut self, s: &str) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let text = self.text();
            if let Some(at) = text[self.seen.min(text.len())..].find(s) {
                self.seen += at + s.len();
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{}: {s:?} never came; output so far:\n{text:?}", self.cfg);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn send(&mut self, b: &[u8]) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(b).unwrap();
        w.flush().unwrap();
    }

    fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + STEP_TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{}: umvm did not exit; output:\n{:?}", self.cfg, self.text());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        std::thread::sleep(Duration::from_millis(50));
        (status.code().unwrap_or(-1), self.text())
    }
}

#[test]
fn signal_chars_raw_mode_vmin_vtime_and_winsize() {
    let root = Rootfs::system();
    let probe = root.install("ttyprobe");
    for cfg in configs() {
        // The probe runs as a child of init, in its own foreground group.
        let mut s = Session::start(cfg, &root, &["/bin/sh", "-c", &format!("{probe}; echo status $?")]);
        s.expect("> signals\r\n");
        s.send(b"junk\x03\x1c\x1aafter\n");
        s.expect("junk^C^\\^Zafter\r\n");
        s.expect("line 6: after\r\nINT 1 QUIT 1 TSTP 1\r\n");
        s.expect("> raw\n");
        s.send(b"\x03\x04\r\x7f\x1a\n");
        s.expect("raw bytes: 03 04 0d 7f 1a 0a\nvtime read: 0\npoll read: 0\n> vmin\n");
        s.send(b"xyz");
        s.expect("vmin read: 3 xyz\n> fionread\n");
        s.send(b"12345");
        s.expect("fionread 5, read 5\n> canonical\r\n");
        s.send(b"done\n");
        s.expect("done\r\ncanonical 5: done\r\nwinsize 33x111 WINCH 1\r\n> eof\r\n");
        let (code, text) = s.finish();
        assert!(text.ends_with("eof read 0\r\nstatus 0\r\n"), "{cfg}: {text:?}");
        assert_eq!(code, 0, "{cfg}: {text:?}");
    }
}

#[test]
fn background_jobs_get_sigttin_sigttou_or_eio() {
    let root = Rootfs::system();
    let prog = root.install("ttyjob");
    let expected = "hello\r\n\
        isatty 1, foreground is ours: 1\r\n\
        bg reader: stopped by Stopped (tty input)\r\n\
        bg reader: read 6 hello\r\n\
        fg reader: exited 0\r\n\
        ignoring reader: read -1 I/O error\r\n\
        ignoring reader: exited 0\r\n\
        blocking reader: read -1 I/O error\r\n\
        blocking reader: exited 0\r\n\
        handling reader: read -1 Interrupted system call\r\n\
        handling reader: exited 0\r\n\
        bg write\r\n\
        bg writer: exited 0\r\n\
        tostop writer: stopped by Stopped (tty output)\r\n\
        bg tcsetattr: stopped by Stopped (tty output)\r\n\
        orphan maker: exited 0\r\n\
        orphan read: -1 I/O error\r\n\
        done\r\n";
    for cfg in configs() {
        let run = tty_run(cfg, &root, &["/bin/sh", "-c", &format!("{prog}; echo done")], b"hello\n");
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
    }
}
