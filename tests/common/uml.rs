//! UML-style guests for the tests and benches that compare umvm with Debian's
//! user-mode-linux (/usr/bin/linux): the kernel lookup, a guest booted from
//! a shared read-only ext2 image through a COW file of its own, its console
//! captured in a file, boots retried once after UML 6.1's panic before
//! init, and background guests killed (their whole process group) on drop.
//! The same spec boots umvm (`umvm run ubd0=COW,IMAGE init=...`) instead of
//! UML, so that a test or bench runs both kinds of guest alike. Also the
//! switches guests join: Debian's `uml_switch` and `umvm switch`, run in
//! the background the same way.
//!
//! A guest's directory holds its COW file, UML's `uml_dir` (its pid and
//! mconsole files), its console log and `share/`, which [`NET_INIT`]
//! mounts at /host with hostfs (UML's, or umvm's own): the init script
//! reads the test's script from there, and tests put input files in it.
//! UML's memory file goes in /dev/shm (TMPDIR). Needs only std and libc
//! plus [`super::tools`], so that benches can include it with `#[path]`.

use super::tools::require_tool;

use std::ffi::OsString;
use std::fs;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Debian's UML kernel.
pub const UML_KERNEL: &str = "/usr/bin/linux";

/// The line every init here prints first: a boot that got this far
/// reached userspace (and is not retried).
pub const INIT_STARTED: &str = "INIT-STARTED";

/// What [`NET_INIT`] prints when the script is over, followed by its exit
/// status (`INIT-DONE 0`).
pub const INIT_DONE: &str = "INIT-DONE";

/// How long a UML boot may take to reach init (about 1-3 s here, much more
/// on a loaded machine).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The init a network guest's image holds at /init: proc, sysfs and a
/// tmpfs /tmp, the guest's share (the host directory named by UMVM_SHARE on
/// the kernel command line, which the kernel passes to init's environment)
/// at /host, then the test's /host/script, then a forced poweroff.
pub const NET_INIT: &str = r#"#!/bin/sh
export PATH=/bin:/sbin
echo INIT-STARTED
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t hostfs none /host -o "$UMVM_SHARE" || echo "INIT: no hostfs share $UMVM_SHARE"
sh /host/script
echo "INIT-DONE $?"
poweroff -f
"#;

/// The busybox applets a network guest's image links in /bin.
pub const NET_APPLETS: &[&str] = &[
    "sh",
    "mount",
    "umount",
    "poweroff",
    "sleep",
    "cat",
    "echo",
    "dd",
    "ifconfig",
    "route",
    "ip",
    "ping",
    "nc",
    "sha256sum",
    "grep",
    "head",
    "tail",
    "wc",
    "seq",
    "time",
    "test",
    "[",
    "ls",
    "rm",
    "mkdir",
    "sync",
    "hostname",
    "kill",
    "true",
    "false",
    "cmp",
    "netstat",
    "expr",
    "date",
    "usleep",
    "mkfifo",
];

/// Debian's UML kernel, or None (with a printed skip) when it is absent
/// outside CI; under CI a missing kernel fails `test`.
pub fn uml_kernel(test: &str) -> Option<PathBuf> {
    require_tool(test, UML_KERNEL, "user-mode-linux")
}

/// Makes `tree` (or completes it) into a network guest's root: busybox in
/// /bin with [`NET_APPLETS`] linked to it, /init ([`NET_INIT`]) and empty
/// /dev, /host, /proc, /sys and /tmp. What is already there stays.
pub fn net_guest_tree(tree: &Path) -> Result<(), String> {
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    for d in ["bin", "dev", "host", "proc", "sys", "tmp"] {
        fs::create_dir_all(tree.join(d)).map_err(|e| io(&tree.join(d), e))?;
    }
    let busybox = tree.join("bin/busybox");
    if !busybox.exists() {
        fs::copy("/bin/busybox", &busybox).map_err(|e| io(Path::new("/bin/busybox"), e))?;
    }
    for applet in NET_APPLETS {
        let link = tree.join("bin").join(applet);
        if fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink("busybox", &link).map_err(|e| io(&link, e))?;
        }
    }
    let init = tree.join("init");
    fs::write(&init, NET_INIT).map_err(|e| io(&init, e))?;
    fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(|e| io(&init, e))
}

/// A locally administered unicast MAC ending in `n`, as UML's switches
/// spell it.
pub fn guest_mac(n: u8) -> String {
    format!("02:00:00:00:08:{n:02x}")
}

/// Which kernel boots a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// A UML kernel binary (Debian's /usr/bin/linux).
    Uml(PathBuf),
    /// The umvm binary (`umvm run`).
    Umvm(PathBuf),
}

impl Kernel {
    /// "UML" or "umvm", for messages and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Uml(_) => "UML",
            Kernel::Umvm(_) => "umvm",
        }
    }
}

/// How to boot one guest: a builder, then [`GuestSpec::boot`] (in the
/// background) or [`GuestSpec::run`] (to its end).
#[derive(Clone, Debug)]
pub struct GuestSpec {
    /// The kernel.
    pub kernel: Kernel,
    /// The guest's directory: console log, uml_dir, share/.
    pub dir: PathBuf,
    /// ubd0's COW file (made by the kernel if missing) over `image`.
    pub cow: PathBuf,
    /// The read-only backing image.
    pub image: PathBuf,
    /// `mem=` in MiB.
    pub mem_mb: u32,
    /// `init=`.
    pub init: String,
    /// Further switches: `eth0=...`, `KEY=VALUE` for init's environment.
    pub switches: Vec<OsString>,
}

impl GuestSpec {
    /// A UML guest of the kernel `linux`: see [`GuestSpec::with`].
    pub fn new(linux: &Path, image: &Path, dir: &Path) -> Result<GuestSpec, String> {
        GuestSpec::with(Kernel::Uml(linux.to_path_buf()), image, dir)
    }

    /// A guest of `kernel` booting `image` (through `dir/root.cow`) with
    /// [`NET_INIT`] and 64 MiB; makes `dir` and `dir/share`.
    pub fn with(kernel: Kernel, image: &Path, dir: &Path) -> Result<GuestSpec, String> {
        fs::create_dir_all(dir.join("share")).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(GuestSpec {
            kernel,
            dir: dir.to_path_buf(),
            cow: dir.join("root.cow"),
            image: image.to_path_buf(),
            mem_mb: 64,
            init: "/init".into(),
            switches: Vec::new(),
        })
    }

    /// Adds a switch such as `eth0=mcast,MAC,GROUP,PORT,1`.
    pub fn switch(mut self, s: impl Into<OsString>) -> GuestSpec {
        self.switches.push(s.into());
        self
    }

    /// Sets `init=`.
    pub fn init(mut self, init: &str) -> GuestSpec {
        self.init = init.into();
        self
    }

    /// Sets `mem=` (MiB).
    pub fn mem(mut self, mb: u32) -> GuestSpec {
        self.mem_mb = mb;
        self
    }

    /// Sets the COW file (instead of `dir/root.cow`).
    pub fn cow(mut self, cow: &Path) -> GuestSpec {
        self.cow = cow.to_path_buf();
        self
    }

    /// Writes the shell script [`NET_INIT`] runs (share/script).
    pub fn script(self, text: &str) -> Result<GuestSpec, String> {
        let path = self.share().join("script");
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(self)
    }

    /// The directory the guest sees at /host.
    pub fn share(&self) -> PathBuf {
        self.dir.join("share")
    }

    /// The console log (the kernel's stdout and stderr).
    pub fn log(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    fn command(&self) -> Result<Command, String> {
        let uml_dir = self.dir.join("uml");
        fs::create_dir_all(&uml_dir).map_err(|e| format!("{}: {e}", uml_dir.display()))?;
        let log = fs::File::create(self.log()).map_err(|e| format!("{}: {e}", self.log().display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut ubd = OsString::from("ubd0=");
        ubd.push(&self.cow);
        ubd.push(",");
        ubd.push(&self.image);
        let mut share = OsString::from("UMVM_SHARE=");
        share.push(self.share());
        let shm = Path::new("/dev/shm");
        let mut cmd = match &self.kernel {
            Kernel::Uml(linux) => {
                let mut cmd = Command::new(linux);
                cmd.arg(ubd)
                    .args(["root=/dev/ubda", "con=null", "ssl=null", "con0=fd:0,fd:1", "quiet"])
                    .arg(format!("uml_dir={}", uml_dir.display()))
                    // UML's memory file goes in TMPDIR.
                    .env("TMPDIR", if shm.is_dir() { shm } else { &self.dir });
                cmd
            }
            Kernel::Umvm(umvm) => {
                let mut cmd = Command::new(umvm);
                cmd.arg("run").arg(ubd);
                cmd
            }
        };
        cmd.arg(format!("mem={}M", self.mem_mb))
            .arg(format!("init={}", self.init))
            .arg(share)
            .args(&self.switches)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0);
        Ok(cmd)
    }

    /// Starts the guest and returns at once.
    pub fn spawn(&self) -> Result<Guest, String> {
        let mut cmd = self.command()?;
        let child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
        let term_first = matches!(self.kernel, Kernel::Umvm(_));
        Ok(Guest { child: Some(child), log: self.log(), cmdline: format!("{cmd:?}"), term_first })
    }

    /// Starts the guest and waits until its init prints [`INIT_STARTED`],
    /// booting once more after a panic before that (UML 6.1 sometimes fails
    /// to mount its root with -12 under host load).
    pub fn boot(&self) -> Result<Guest, String> {
        let mut last = String::new();
        for attempt in 0..2 {
            let mut guest = self.spawn()?;
            match guest.wait_for(INIT_STARTED, BOOT_TIMEOUT) {
                Ok(_) => return Ok(guest),
                Err(e) => {
                    let console = guest.console();
                    let uml = matches!(self.kernel, Kernel::Uml(_));
                    if uml && attempt == 0 && guest.exited() && console.contains("Kernel panic") {
                        eprintln!("UML panicked before init; booting again. Its output:\n{console}");
                        last = e;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last)
    }

    /// Boots the guest ([`GuestSpec::boot`]) and waits up to `timeout` for it
    /// to exit; returns its exit status and console.
    pub fn run(&self, timeout: Duration) -> Result<(ExitStatus, String), String> {
        let mut guest = self.boot()?;
        let status = guest.wait_exit(timeout)?;
        Ok((status, guest.console()))
    }
}

/// A running guest (UML or umvm); killed with its whole process group on
/// drop.
pub struct Guest {
    child: Option<Child>,
    log: PathBuf,
    cmdline: String,
    /// SIGTERM before SIGKILL: umvm then removes its tmpfs directories in
    /// /dev/shm, which a SIGKILL leaves behind.
    term_first: bool,
}

impl Guest {
    /// The console so far, carriage returns removed.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).replace('\r', "")
    }

    /// The rest of the first console line that starts with `prefix`.
    pub fn line(&self, prefix: &str) -> Option<String> {
        self.console().lines().find_map(|l| l.strip_prefix(prefix).map(str::to_string))
    }

    /// Whether the guest has exited.
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Waits up to `timeout` for a console line starting with `marker`;
    /// returns the console then. Fails (with the console) if the guest exits
    /// first or time runs out.
    pub fn wait_for(&mut self, marker: &str, timeout: Duration) -> Result<String, String> {
        let end = Instant::now() + timeout;
        loop {
            // Read before checking for exit: what the guest printed last counts.
            let exited = self.exited();
            let console = self.console();
            if console.lines().any(|l| l.starts_with(marker)) {
                return Ok(console);
            }
            if exited {
                return Err(format!("the guest exited before printing {marker:?}; {}:\n{console}", self.cmdline));
            }
            if Instant::now() >= end {
                return Err(format!(
                    "the guest printed no {marker:?} within {timeout:?}; {}:\n{console}",
                    self.cmdline
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for the guest to exit (and kills it then).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let end = Instant::now() + timeout;
        let child = self.child.as_mut().ok_or("the guest is already reaped")?;
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() >= end {
                self.kill();
                return Err(format!(
                    "the guest did not exit within {timeout:?}; {}:\n{}",
                    self.cmdline,
                    self.console()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the guest's process group (UML and umvm run their helpers and
    /// the guest's processes as host processes of that group) and reaps it.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // An exited (reaped) child's pid may already be someone else's.
        let exited = !matches!(child.try_wait(), Ok(None));
        if self.term_first && !exited {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let end = Instant::now() + Duration::from_secs(3);
            while Instant::now() < end && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if !exited {
            kill_group(&child);
        }
        let _ = child.wait();
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILLs the process group `child` leads.
fn kill_group(child: &Child) {
    // SAFETY: kill has no memory effects; the group is the child's own
    // (process_group(0)).
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
}

/// A switch process guests join with `ethN=daemon,MAC,unix,CTL`
/// (Debian's `uml_switch` or `umvm switch`): stopped with SIGTERM and
/// reaped on drop.
pub struct SwitchProcess {
    child: Option<Child>,
    ctl: PathBuf,
    log: PathBuf,
}

impl SwitchProcess {
    /// Debian's `uml_switch -unix CTL [-hub]`, or None (with a printed skip)
    /// when uml-utilities is missing outside CI.
    pub fn uml_switch(test: &str, ctl: &Path, hub: bool) -> Option<Result<SwitchProcess, String>> {
        let bin = require_tool(test, "uml_switch", "uml-utilities")?;
        let mut cmd = Command::new(bin);
        cmd.arg("-unix").arg(ctl);
        if hub {
            cmd.arg("-hub");
        }
        Some(SwitchProcess::start(cmd, ctl))
    }

    /// `umvm switch --unix CTL [--hub]` with the umvm binary `umvm`.
    pub fn umvm_switch(umvm: &Path, ctl: &Path, hub: bool) -> Result<SwitchProcess, String> {
        let mut cmd = Command::new(umvm);
        cmd.arg("switch").arg("--unix").arg(ctl);
        if hub {
            cmd.arg("--hub");
        }
        SwitchProcess::start(cmd, ctl)
    }

    /// Starts `cmd` (its output in CTL.log) and waits until it listens on
    /// `ctl`.
    pub fn start(mut cmd: Command, ctl: &Path) -> Result<SwitchProcess, String> {
        let mut log = ctl.as_os_str().to_owned();
        log.push(".log");
        let log = PathBuf::from(log);
        let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        let mut sw = SwitchProcess { child: Some(child), ctl: ctl.to_path_buf(), log };
        let end = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(ctl).is_err() {
            if Instant::now() >= end || sw.child.as_mut().is_some_and(|c| !matches!(c.try_wait(), Ok(None))) {
                return Err(format!("{cmd:?} never listened on {}:\n{}", ctl.display(), sw.output()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(sw)
    }

    /// The control socket.
    pub fn ctl(&self) -> &Path {
        &self.ctl
    }

    /// The switch's stdout and stderr so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// `ethN=daemon,MAC,unix,CTL` for this switch.
    pub fn eth(&self, n: u32, mac: &str) -> OsString {
        let mut s = OsString::from(format!("eth{n}=daemon,{mac},unix,"));
        s.push(&self.ctl);
        s
    }

    /// Whether the switch is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the switch with SIGTERM (SIGKILL after 5 s) and returns its
    /// exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // An exited (reaped) child's pid may already be someone else's.
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= end {
                kill_group(&child);
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SwitchProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
