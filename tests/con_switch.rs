//! `con0=` channels in a real guest: null discards the console, fd:N
//! writes it to umvm's fd N, pty prints the new terminal's name as UML
//! does and the guest's output reaches it, port:N serves it to the first
//! TCP connection on 127.0.0.1.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const UMVM: &str = env!("CARGO_BIN_EXE_umvm");

/// A root with busybox (and an `sh` link) in a directory of its own.
fn root(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("con-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["bin", "dev", "proc", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
    dir
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("/bin/sh").args(["-c", cmd]).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn null_discards_and_fd_redirects() {
    let r = root("null");
    let out = sh(&format!("{UMVM} run --root-dir {} con0=null -- /bin/busybox echo hidden", r.display()));
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    // con= sets every console; con0= overrides it for con0.
    let out = sh(&format!(
        "{UMVM} run --root-dir {} con=null con0=fd:0,fd:1 ssl=pty -- /bin/busybox echo shown",
        r.display()
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "shown\n", "{out:?}");
    let file = r.join("fd5.txt");
    let out = sh(&format!(
        "{UMVM} run --root-dir {} con0=fd:0,fd:5 -- /bin/sh -c 'echo to-five; echo err >&2' 5>{}",
        r.display(),
        file.display()
    ));
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "to-five\nerr\n");
    std::fs::remove_dir_all(&r).unwrap();
}

#[test]
fn pty_prints_its_name_and_carries_the_console() {
    let r = root("pty");
    let mut child = Command::new(UMVM)
        .arg("run")
        .arg("--root-dir")
        .arg(&r)
        .args(["con0=pty", "--", "/bin/sh", "-c", "sleep 1; echo over-the-pty"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    let name = line
        .strip_prefix("Virtual console 0 assigned device '")
        .and_then(|l| l.strip_suffix('\''))
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(name.starts_with("/dev/pts/"), "{line}");
    let mut pty = std::fs::File::open(name).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("over-the-pty") {
        let n = pty.read(&mut buf).unwrap();
        assert!(n > 0, "{got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(&r).unwrap();
}

#[test]
fn port_serves_the_console_on_loopback() {
    let r = root("port");
    // A free port: bind 0, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(UMVM)
        .arg("run")
        .arg("--root-dir")
        .arg(&r)
        .args([&format!("con0=port:{port}"), "--", "/bin/busybox", "echo", "over-tcp"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(e) if start.elapsed().as_secs() > 30 => {
                let _ = child.kill();
                panic!("umvm never listened on {port}: {e}");
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "over-tcp\n");
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(&r).unwrap();
}
