//! One round of the bench: the workloads' script on the host, then the
//! same script in a umvm guest booted from the ext2 image through a fresh
//! COW file, then (for `tcp`) a netbench pair on host loopback and a pair
//! of umvm guests on one multicast group, both inside a network namespace
//! of their own (`unshare --net`). Each run has a time limit; its whole
//! output goes to a log file, which a failure quotes.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::programs::{which, BUSYBOX};
use super::workloads::Params;

/// Where a round's files live.
pub struct Setup {
    /// This umvm binary.
    pub umvm: PathBuf,
    /// The compiled programs (host side).
    pub bin: PathBuf,
    /// The run's scratch directory (on the disk the cache is on).
    pub work: PathBuf,
    /// A directory on the host's tmpfs (/dev/shm).
    pub shm: PathBuf,
    /// The guest's root tree (also the TCP guests' hostfs root).
    pub tree: PathBuf,
    pub image: PathBuf,
    pub tarball: PathBuf,
    /// The workloads' script (also /bench.sh in the image).
    pub script: String,
    /// How long one run may take.
    pub timeout: Duration,
}

/// Runs `cmd` in a process group of its own with stdout and stderr in
/// `log`, killing the group after `timeout`; returns the exit status
/// (None when time ran out) and the log's text.
pub fn run_captured(
    mut cmd: Command,
    what: &str,
    log: &Path,
    timeout: Duration,
) -> Result<(Option<std::process::ExitStatus>, String)> {
    let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = file.try_clone().context("cannot duplicate the log's descriptor")?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().with_context(|| format!("waiting for {what}"))? {
            break Some(s);
        }
        if start.elapsed() > timeout {
            // SAFETY: kill has no memory effects; the group is the child's
            // own (process_group(0)), and the child is not reaped yet.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).replace('\r', "");
    Ok((status, text))
}

/// [`run_captured`], failing (naming `what`, with the log's tail) unless
/// `cmd` exited with status 0.
fn run_logged(cmd: Command, what: &str, log: &Path, timeout: Duration) -> Result<String> {
    let (status, text) = run_captured(cmd, what, log, timeout)?;
    let tail = || {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join(" | ")
    };
    match status {
        None => bail!("{what} took more than {} s: {}", timeout.as_secs(), tail()),
        Some(s) if !s.success() => bail!("{what} failed ({s}): {}", tail()),
        Some(_) => Ok(text),
    }
}

/// The script on the host: programs from the cache, tmpfs work in
/// /dev/shm, disk work in the scratch directory.
pub fn host_round(s: &Setup) -> Result<String> {
    let disk = s.work.join("host-disk");
    let tmp = s.shm.join("host");
    for d in [&disk, &tmp] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut cmd = Command::new(BUSYBOX);
    cmd.args(["sh", "-c", &s.script, "bench.sh"]).arg(&s.bin).arg(&tmp).arg(&disk).arg(&s.tarball);
    let out = run_logged(cmd, "the host run", &s.work.join("host.log"), s.timeout);
    let _ = std::fs::remove_dir_all(&disk);
    let _ = std::fs::remove_dir_all(&tmp);
    out
}

/// The script in a umvm guest whose root is the image (ubd0, through a
/// fresh COW file): tmpfs work in /tmp, disk work in /b.
pub fn guest_round(s: &Setup) -> Result<String> {
    let cow = s.work.join("guest.cow");
    let _ = std::fs::remove_file(&cow);
    let mut ubd = std::ffi::OsString::from("ubd0=");
    ubd.push(&cow);
    ubd.push(",");
    ubd.push(&s.image);
    let mut cmd = Command::new(&s.umvm);
    cmd.arg("run").arg(ubd).args([
        "--",
        "/bin/sh",
        "-c",
        "mount -t proc proc /proc 2>/dev/null; mount -t tmpfs tmpfs /tmp 2>/dev/null; \
         sh /bench.sh /bin /tmp /b /t.tar",
    ]);
    let out = run_logged(cmd, "the umvm guest run", &s.work.join("guest.log"), s.timeout);
    let _ = std::fs::remove_file(&cow);
    out
}

/// Why the TCP workload cannot run here, if it cannot.
pub fn tcp_unavailable() -> Option<String> {
    if which("unshare").is_none() {
        return Some("no unshare (util-linux) to make a network namespace".into());
    }
    let probe = Command::new("unshare").args(unshare_args()).arg("true").stdin(Stdio::null()).output();
    match probe {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "cannot make a network namespace: unshare: {}",
            String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("failed").trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

/// `unshare`'s switches for a network namespace (a user namespace too
/// when not root, so that no privilege is needed where the host allows
/// unprivileged user namespaces).
fn unshare_args() -> Vec<&'static str> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        vec!["--net"]
    } else {
        vec!["--user", "--map-root-user", "--net"]
    }
}

/// The TCP pair, in a fresh network namespace: netbench's server and
/// client on host loopback (block `@ host`), then two umvm guests on one
/// multicast group (block `@ guest`; guest 1 serves, guest 2 measures).
pub fn tcp_round(s: &Setup, p: &Params, uml: Option<&Path>) -> Result<String> {
    let nb = s.bin.join("netbench");
    let umvm = s.umvm.display();
    let tree = s.tree.display();
    let (mib, trips) = (p.tcp_mib, p.tcp_trips);
    let client = format!(
        "i=0; until ping -c 1 -W 1 10.0.9.1 >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 60 ] || exit 12; done; \
         netbench client 10.0.9.1 {mib} {trips}"
    );
    let guest = |n: u8| {
        format!("{umvm} run --root-dir {tree} eth0=mcast,fe:fd:0a:00:09:0{n},239.192.9.1,1109,1 ip=10.0.9.{n}/24")
    };
    let script = format!(
        "{bb} ip link set lo up && {bb} ip link set lo multicast on && {bb} ip route add 224.0.0.0/4 dev lo || exit 20\n\
         {nb} serve >/dev/null & s=$!\n\
         echo @ host\n\
         {nb} client 127.0.0.1 {mib} {trips} || echo @ host FAILED\n\
         wait $s\n\
         {server} -- /bin/netbench serve >{log} 2>&1 & s=$!\n\
         echo @ guest\n\
         {client_guest} -- /bin/sh -c '{client}' || {{ echo @ guest FAILED; cat {log}; }}\n\
         wait $s\n\
         {uml_pair}\
         echo @ end\n",
        bb = BUSYBOX,
        nb = nb.display(),
        server = guest(1),
        client_guest = guest(2),
        log = s.work.join("tcp-server.log").display(),
        uml_pair = uml.map(|linux| super::uml::tcp_pair_script(s, linux, mib, trips, s.timeout / 3)).unwrap_or_default(),
    );
    let mut cmd = Command::new("unshare");
    cmd.args(unshare_args()).args([BUSYBOX, "sh", "-c", &script]).env("PATH", "/bin:/usr/bin:/sbin:/usr/sbin");
    run_logged(cmd, "the TCP run (unshare --net)", &s.work.join("tcp.log"), s.timeout)
}
