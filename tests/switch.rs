//! `umvm switch` as a process: daemon ports learn through it, a fake UML
//! client joins it, SIGTERM removes its control socket. Each test body
//! runs in a network namespace of its own (a re-exec under `unshare`).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use umvm_netio::daemon::Daemon;
use umvm_netio::{Mac, Port, FRAME_BUF};

const CHILD: &str = "UMVM_SWITCH_NETNS_CHILD";

fn in_netns(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    let mut cmd = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cmd.args(["--user", "--map-root-user"]);
    }
    let out = cmd
        .arg("--net")
        .arg(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("cannot run unshare (util-linux)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{name} in its network namespace:\n{text}");
}

fn start(ctl: &Path, hub: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_umvm"));
    cmd.arg("switch").arg("--unix").arg(ctl);
    if hub {
        cmd.arg("--hub");
    }
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(ctl).is_err() {
        assert!(Instant::now() < end, "umvm switch never listened on {}", ctl.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn ctl(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("umvm-switch-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir(&dir);
    dir.join("ctl")
}

fn eth(dst: Mac, src: Mac, payload: &[u8]) -> Vec<u8> {
    [&dst.0[..], &src.0[..], &[0x88, 0xb5], payload].concat()
}

fn recv(port: &Port, within: Duration) -> Option<Vec<u8>> {
    let end = Instant::now() + within;
    let mut buf = [0u8; FRAME_BUF];
    while Instant::now() < end {
        if let Some(n) = port.recv(&mut buf).unwrap() {
            return Some(buf[..n].to_vec());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn terminate(mut child: Child, ctl: &Path) {
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "umvm switch exits cleanly on SIGTERM");
    assert!(!ctl.exists(), "SIGTERM removes the control socket");
}

#[test]
fn umvm_switch_learns_and_floods() {
    in_netns("umvm_switch_learns_and_floods", || {
        let path = ctl("learn");
        let sw = start(&path, false);
        let port = |n: u8| Port::new(Box::new(Daemon::connect(&path).unwrap()), Mac([2, 0, 0, 0, 0, n]));
        let (a, b, c) = (port(1), port(2), port(3));
        let f = eth(b.mac(), a.mac(), b"unknown yet");
        a.send(&f).unwrap();
        assert_eq!(recv(&b, Duration::from_secs(5)).as_deref(), Some(&f[..]));
        assert_eq!(recv(&c, Duration::from_secs(5)).as_deref(), Some(&f[..]), "flooded");
        let g = eth(a.mac(), b.mac(), b"learned");
        b.send(&g).unwrap();
        assert_eq!(recv(&a, Duration::from_secs(5)).as_deref(), Some(&g[..]));
        assert_eq!(recv(&c, Duration::from_millis(300)), None, "unicast goes only to the learned port");
        drop((a, b, c));
        terminate(sw, &path);
    });
}

#[test]
fn umvm_switch_hub_and_fake_uml() {
    in_netns("umvm_switch_hub_and_fake_uml", || {
        let path = ctl("hub");
        // A stale socket from a dead switch is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let sw = start(&path, true);
        let a = Port::new(Box::new(Daemon::connect(&path).unwrap()), Mac([2, 0, 0, 0, 0, 1]));
        let b = Port::new(Box::new(Daemon::connect(&path).unwrap()), Mac([2, 0, 0, 0, 0, 2]));
        // What UML 6.1 sends, byte for byte (uml-interop spec §3.2).
        let mut req = vec![0xce, 0xfa, 0xed, 0xfe, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x4a, 0x26, 0, 0];
        req.extend_from_slice(&[0xb2, 0x2b, 0x04, 0]);
        req.resize(124, 0);
        let mut uml = UnixStream::connect(&path).unwrap();
        uml.write_all(&req).unwrap();
        uml.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = [0u8; 110];
        uml.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[..3], &[1, 0, 0], "the switch's abstract data address");
        // In hub mode a unicast between a and b reaches everyone else.
        let f = eth(b.mac(), a.mac(), b"hub");
        a.send(&f).unwrap();
        assert_eq!(recv(&b, Duration::from_secs(5)).as_deref(), Some(&f[..]));
        assert_eq!(recv(&a, Duration::from_millis(300)), None, "never back out the ingress port");
        drop((a, b, uml));
        terminate(sw, &path);
    });
}
