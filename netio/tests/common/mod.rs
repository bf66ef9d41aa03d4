//! Helpers for netio's network tests: every test body runs in a network
//! namespace of its own (a re-exec of the test binary under `unshare`),
//! so nothing ever reaches a host interface.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use umvm_netio::{Mac, Port, FRAME_BUF};

const CHILD: &str = "UMVM_NETIO_NETNS_CHILD";

/// Runs `body` inside a fresh network namespace whose `lo` is up and
/// carries multicast (`ip route add 224.0.0.0/4 dev lo`). `name` must be
/// the calling test's function name.
pub fn in_netns(name: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        for cmd in ["ip link set lo up", "ip link set lo multicast on", "ip route add 224.0.0.0/4 dev lo"] {
            sh(cmd);
        }
        body();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cmd.args(["--user", "--map-root-user"]);
    }
    let out = cmd
        .arg("--net")
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("cannot run unshare (util-linux)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} in its network namespace failed:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run in its namespace:\n{text}");
}

/// Runs a shell command that must succeed.
pub fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An Ethernet II frame: `dst`, `src`, `ethertype`, then `payload`.
pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A locally administered MAC ending in `n`.
pub fn mac(n: u8) -> Mac {
    Mac([0x02, 0xfd, 0, 0, 0, n])
}

/// Waits up to `timeout` for the port's next valid frame.
pub fn recv_within(port: &Port, timeout: Duration) -> Option<Vec<u8>> {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; FRAME_BUF];
    loop {
        if let Some(n) = port.recv(&mut buf).unwrap() {
            return Some(buf[..n].to_vec());
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut pfd = libc::pollfd { fd: port.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
    }
}

/// Asserts that no valid frame arrives within a short while.
pub fn assert_quiet(port: &Port, what: &str) {
    if let Some(f) = recv_within(port, Duration::from_millis(300)) {
        panic!("{what}: unexpected frame {:02x?}", &f[..f.len().min(20)]);
    }
}

/// Waits for `port` to receive exactly `want`, skipping other frames
/// (IPv6 and ARP chatter from the namespace's kernel).
pub fn expect_frame(port: &Port, want: &[u8], what: &str) {
    let end = Instant::now() + Duration::from_secs(5);
    while let Some(f) = recv_within(port, end.saturating_duration_since(Instant::now())) {
        if f == want {
            return;
        }
    }
    panic!("{what}: the frame never arrived");
}
