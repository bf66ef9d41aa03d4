//! Network namespaces for the network tests and benches: every test body
//! (or a whole bench) runs in a namespace of its own, made by re-running
//! the binary under `unshare --net`, so nothing ever reaches a host
//! interface and the abstract sockets of switches never meet another
//! test's. Inside, `lo` is up and carries multicast (the route
//! 224.0.0.0/4 via lo), which is all the mcast transport needs. Needs only
//! std and libc, so that benches can include it with `#[path]`.

use std::ffi::OsString;
use std::process::{Command, Stdio};

/// Set in the re-run binary: it is already inside its namespace.
const CHILD: &str = "UMVM_NETNS_CHILD";

/// Whether this process is the re-run inside a namespace.
pub fn inside_netns() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// `unshare --net` (with `--user --map-root-user` when not root) running
/// this binary again with `args`, marked as inside.
fn unshare_self(args: &[OsString]) -> Command {
    let mut cmd = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.arg("--net").arg(std::env::current_exe().expect("current_exe")).args(args).env(CHILD, "1");
    cmd
}

/// Brings up `lo` with multicast and the multicast route.
pub fn setup_lo() -> Result<(), String> {
    for cmd in [
        &["link", "set", "lo", "up"][..],
        &["link", "set", "lo", "multicast", "on"],
        &["route", "add", "224.0.0.0/4", "dev", "lo"],
    ] {
        let out = Command::new("ip").args(cmd).stdin(Stdio::null()).output().map_err(|e| format!("ip: {e}"))?;
        if !out.status.success() {
            return Err(format!("ip {}: {}", cmd.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
        }
    }
    Ok(())
}

/// Runs the test `name` (the calling test's function name) in a fresh
/// network namespace: in the test binary's own run this re-runs just that
/// test under `unshare --net` (with `envs` added to its environment) and
/// fails if it fails; in that re-run it sets up `lo` and calls `body`.
pub fn in_netns_with(name: &str, envs: &[(&str, OsString)], body: impl FnOnce()) {
    if inside_netns() {
        setup_lo().unwrap();
        body();
        return;
    }
    let args: Vec<OsString> = [name, "--exact", "--nocapture", "--test-threads=1"].map(OsString::from).into();
    let mut cmd = unshare_self(&args);
    cmd.envs(envs.iter().map(|(k, v)| (k, v)));
    let out = cmd.stdin(Stdio::null()).output().expect("cannot run unshare (util-linux)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} in its network namespace failed:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run in its namespace:\n{text}");
    // What the re-run printed (skips, timings) goes to this run's output.
    print!("{text}");
}

/// [`in_netns_with`] without extra environment.
pub fn in_netns(name: &str, body: impl FnOnce()) {
    in_netns_with(name, &[], body)
}

/// For a bench's main: outside a namespace, runs this binary again with
/// the same arguments under `unshare --net` (stdio inherited) and returns
/// its exit code; inside, sets up `lo` and returns None (go on).
pub fn reexec_in_netns() -> Result<Option<i32>, String> {
    if inside_netns() {
        setup_lo()?;
        return Ok(None);
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let status = unshare_self(&args).status().map_err(|e| format!("cannot run unshare (util-linux): {e}"))?;
    Ok(Some(status.code().unwrap_or(1)))
}

/// Runs a shell command that must succeed (inside the namespace) and returns its output.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
