//! Network tests run only inside network namespaces they create: a test's body runs in a re-exec of
//! the test binary under `unshare --net`, whose `lo` is up and carries multicast, so nothing ever
//! reaches a host interface.

use std::process::Command;

use super::disk::under_ci;

const CHILD: &str = "UMVM_TEST_NETNS_CHILD";

/// Whether this process is the re-exec inside the namespace.
pub fn inside() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs `body` inside a fresh network namespace (`lo` up, 224.0.0.0/4 routed to it). `name` must be
/// the calling test's function name. Outside CI, a machine without `unshare` skips with a message.
pub fn in_netns(name: &str, body: impl FnOnce()) {
    if inside() {
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
    let out = match cmd
        .arg("--net")
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
    {
        Ok(out) => out,
        Err(e) if !under_ci() => {
            eprintln!("\n*** SKIPPED {name}: cannot run unshare (util-linux): {e}\n");
            return;
        }
        Err(e) => panic!("{name}: cannot run unshare (util-linux): {e}"),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} in its network namespace failed:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run in its namespace:\n{text}");
}

/// Runs a shell command that must succeed (inside the namespace).
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
