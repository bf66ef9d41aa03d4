//! The management console: a busybox guest booted with `umid=` and
//! `uml_dir=` (a temp dir, never the real ~/.uml) is driven through
//! Debian's `uml_mconsole` and through `umvm mconsole`: version, help,
//! proc, log, sysrq, stop and go (the guest stops making progress, then
//! goes on), config/remove of a disk the guest mounts, malformed
//! datagrams, then cad, reboot and halt; and, in a network namespace,
//! config/remove of a network card the guest pings through. The guest runs a small loop that
//! prints a tick every 0.1 s and runs the script the test drops in
//! /cmd, writing its output to /cmd.out.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Rootfs, TempDir};

const UML_MCONSOLE: &str = "/usr/bin/uml_mconsole";

/// The guest's init: ticks, and runs /cmd when it appears.
const LOOP: &str = "i=0; while true; do i=$((i+1)); echo tick$i; \
    if [ -f /cmd ]; then sh /cmd > /cmd.out 2>&1; echo \"rc=$?\" >> /cmd.out; rm /cmd; fi; sleep 0.1; done";

struct Guest {
    root: Rootfs,
    dir: TempDir,
    child: Option<Child>,
    umid: String,
}

impl Guest {
    fn boot(umid: &str) -> Guest {
        Guest::boot_with(umid, &[])
    }

    /// Boots with more switches on the kernel command line.
    fn boot_with(umid: &str, switches: &[String]) -> Guest {
        let root = Rootfs::system();
        for a in ["mount", "umount"] {
            std::os::unix::fs::symlink("busybox", root.host_path(&format!("/bin/{a}"))).unwrap();
        }
        std::fs::create_dir_all(root.host_path("/mnt")).unwrap();
        let dir = TempDir::new("mconsole");
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let err = std::fs::File::create(dir.path().join("err")).unwrap();
        let child = Command::new(common::umvm())
            .args(["run", "--root-dir"])
            .arg(root.path())
            .arg(format!("umid={umid}"))
            .arg(format!("uml_dir={}", dir.path().join("uml").display()))
            .args(switches)
            .args(["--", "/bin/sh", "-c", LOOP])
            .env("HOME", dir.path())
            .env_remove("UMVM_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let g = Guest { root, dir, child: Some(child), umid: umid.to_string() };
        g.wait_for(|| g.socket().exists() && g.ticks() > 0, "the mconsole socket and the first tick");
        g
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("uml").join(&self.umid).join("mconsole")
    }

    fn out(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("out")).unwrap_or_default()
    }

    fn err(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("err")).unwrap_or_default()
    }

    fn ticks(&self) -> usize {
        self.out().lines().filter(|l| l.starts_with("tick")).count()
    }

    fn wait_for(&self, mut cond: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                self.out(),
                self.err()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` in the guest; its output and `rc=N`.
    fn sh(&self, script: &str) -> String {
        let _ = std::fs::remove_file(self.root.host_path("/cmd.out"));
        std::fs::write(self.root.host_path("/cmd.tmp"), script).unwrap();
        std::fs::rename(self.root.host_path("/cmd.tmp"), self.root.host_path("/cmd")).unwrap();
        self.wait_for(|| !self.root.host_path("/cmd").exists(), "the guest to run a command");
        std::fs::read_to_string(self.root.host_path("/cmd.out")).unwrap()
    }

    /// Waits for umvm to end; its exit code.
    fn wait_exit(&mut self) -> i32 {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("umvm did not end\nstdout:\n{}\nstderr:\n{}", self.out(), self.err());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM first: umvm then removes its directories.
            // SAFETY: kill takes plain integers; our child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            std::thread::sleep(Duration::from_millis(300));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One of the two clients.
#[derive(Clone, Copy, Debug)]
enum Client {
    UmlMconsole,
    Umvm,
}

/// Runs `client SOCKET WORDS...`: (exit code, stdout).
fn mc(g: &Guest, client: Client, words: &[&str]) -> (i32, String) {
    let mut cmd = match client {
        Client::UmlMconsole => Command::new(UML_MCONSOLE),
        Client::Umvm => {
            let mut c = Command::new(common::umvm());
            c.arg("mconsole");
            c
        }
    };
    let out = cmd.arg(g.socket()).args(words).env("HOME", g.dir.path()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ok(g: &Guest, client: Client, words: &[&str]) -> String {
    let (code, out) = mc(g, client, words);
    assert!(out.starts_with("OK"), "{client:?} {words:?}: {out}\nstderr:\n{}", g.err());
    assert_eq!(code, 0, "{client:?} {words:?}: {out}");
    out
}

fn err(g: &Guest, client: Client, words: &[&str]) -> String {
    let (code, out) = mc(g, client, words);
    assert!(out.starts_with("ERR"), "{client:?} {words:?}: {out}");
    assert_ne!(code, 0, "{client:?} {words:?}: {out}");
    out
}

fn have_uml_mconsole() -> bool {
    Path::new(UML_MCONSOLE).exists()
}

fn clients() -> Vec<Client> {
    let mut c = vec![Client::Umvm];
    if have_uml_mconsole() {
        c.insert(0, Client::UmlMconsole);
    } else {
        eprintln!("{UML_MCONSOLE} missing (uml-utilities): only umvm mconsole is tested");
    }
    c
}

#[test]
fn every_command_through_both_clients() {
    let g = Guest::boot("mc1");
    let pid = std::fs::read_to_string(g.socket().with_file_name("pid")).unwrap();
    assert_eq!(pid.trim().parse::<u32>().unwrap(), g.child.as_ref().unwrap().id());
    assert!(g.err().contains(&format!("mconsole (version 2) initialized on {}", g.socket().display())), "{}", g.err());
    let tree = TempDir::new("mconsole-disk");
    std::fs::write(tree.path().join("hello.txt"), "hello from a hot-plugged disk\n").unwrap();
    let img = tree.path().join("disk.img");
    let src = TempDir::new("mconsole-src");
    std::fs::write(src.path().join("hello.txt"), "hello from a hot-plugged disk\n").unwrap();
    common::disk::mke2fs(src.path(), &img, 4, &[]);

    assert!(g.sh("ls /proc/mconsole 2>&1").contains("No such file"), "only with mconsole=notify:");
    for client in clients() {
        let v = ok(&g, client, &["version"]);
        assert!(v.starts_with("OK Linux umvm 6.1.0-umvm #1 SMP umvm ") && v.trim_end().ends_with(" x86_64"), "{v}");
        let h = ok(&g, client, &["help"]);
        assert!(h.contains("cad - invoke the Ctrl-Alt-Del handler") && h.contains("stack <pid>"), "{h}");
        let m = ok(&g, client, &["proc", "meminfo"]);
        assert!(m.contains("MemTotal:"), "{m}");
        let u = ok(&g, client, &["proc", "uptime"]);
        let secs: f64 = u.trim_start_matches("OK").split_whitespace().next().unwrap().parse().unwrap();
        assert!(secs > 0.0 && secs < 300.0, "{u}");
        assert!(err(&g, client, &["proc", "no-such-file"]).contains("Failed to open file"));
        // A process's files too, read as the kernel reads them.
        let st = ok(&g, client, &["proc", "1/status"]);
        assert!(st.contains("\nPid:\t1\n") && st.contains("\nPPid:\t0\n"), "{st}");
        assert!(ok(&g, client, &["proc", "1/cmdline"]).len() > "OK".len());
        assert!(err(&g, client, &["proc", "1"]).contains("Failed to open file"), "a directory");
        assert!(err(&g, client, &["proc", "99999/status"]).contains("Failed to open file"));
        let mark = format!("mark-{client:?}");
        ok(&g, client, &["log", &mark]);
        g.wait_for(|| g.out().contains(&mark), "the log line on the console");
        assert!(ok(&g, client, &["sysrq", "h"]).contains("sysrq: HELP"));
        assert!(ok(&g, client, &["sysrq", "s"]).contains("Emergency Sync complete"));
        assert!(err(&g, client, &["frobnicate"]).contains("Unknown command"));

        // stop: no more ticks until go; the guest sees nothing.
        assert_eq!(ok(&g, client, &["stop"]).trim(), "OK stopped");
        assert!(err(&g, client, &["stop"]).contains("Already stopped"));
        std::thread::sleep(Duration::from_millis(300));
        let frozen = g.ticks();
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(g.ticks(), frozen, "the guest made progress while stopped");
        // The console still answers while stopped.
        ok(&g, client, &["version"]);
        ok(&g, client, &["go"]);
        assert!(err(&g, client, &["go"]).contains("Not stopped"));
        g.wait_for(|| g.ticks() >= frozen + 5, "ticks after go");

        // Hot-plug a disk, mount it, read it; it is busy while mounted.
        assert_eq!(ok(&g, client, &["config", "ubd1"]).trim(), "OK");
        ok(&g, client, &["config", &format!("ubd1={}", img.display())]);
        assert!(ok(&g, client, &["config", "ubd1"]).contains(&img.display().to_string()));
        assert!(err(&g, client, &["config", &format!("ubd1={}", img.display())]).contains("already configured"));
        let r = g.sh("mount -t ext2 /dev/ubdb /mnt && cat /mnt/hello.txt && cat /proc/partitions");
        assert!(r.contains("hello from a hot-plugged disk") && r.contains("ubdb") && r.contains("rc=0"), "{r}");
        assert!(err(&g, client, &["remove", "ubd1"]).contains("Device is currently open"));
        assert!(g.sh("umount /mnt").contains("rc=0"));
        ok(&g, client, &["remove", "ubd1"]);
        assert!(err(&g, client, &["remove", "ubd1"]).contains("Device doesn't exist"));
        let r = g.sh("cat /proc/partitions; ls /dev/ubdb");
        assert!(!r.contains("ubdb\n") || r.contains("No such file"), "{r}");
        assert!(err(&g, client, &["remove", "ubd99"]).contains("Invalid device number"));
        assert!(err(&g, client, &["remove", "nothing"]).contains("Bad remove option"));
        assert!(err(&g, client, &["config", "nothing"]).contains("Bad configuration option"));
        assert!(err(&g, client, &["config", "ubd2=/no/such/image"]).starts_with("ERR"));
    }

    // Malformed datagrams get UML's answers; the guest runs on.
    let dir = TempDir::new("mconsole-raw");
    let sock = UnixDatagram::bind(dir.path().join("c")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sock.connect(g.socket()).unwrap();
    let mut buf = [0u8; 1024];
    sock.send(b"not an mconsole request").unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ERR Version 0 mconsole clients are not supported by this driver");
    let mut req = vec![0u8; 524];
    req[..4].copy_from_slice(&0xCAFEBABEu32.to_ne_bytes());
    req[4..8].copy_from_slice(&2u32.to_ne_bytes());
    req[8..12].copy_from_slice(&4000u32.to_ne_bytes());
    sock.send(&req).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..12], [1u32.to_ne_bytes(), 0u32.to_ne_bytes(), 18u32.to_ne_bytes()].concat());
    assert_eq!(&buf[12..n], b"Request too large\0");
    // A request cut short is dropped; then a version-1 one is answered
    // with an error and served anyway.
    sock.send(&req[..7]).unwrap();
    req[4..8].copy_from_slice(&1u32.to_ne_bytes());
    req[8..12].copy_from_slice(&7u32.to_ne_bytes());
    req[12..19].copy_from_slice(b"version");
    sock.send(&req).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[12..n], b"This driver only supports version 2 clients\0");
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(buf[0..4], 0u32.to_ne_bytes());
    assert!(String::from_utf8_lossy(&buf[12..n]).starts_with("Linux umvm"));
    let before = g.ticks();
    g.wait_for(|| g.ticks() > before + 3, "ticks after malformed requests");
}

#[test]
fn reboot_cad_and_halt() {
    let mut g = Guest::boot("mc2");
    let client = *clients().first().unwrap();
    let boots = |g: &Guest| g.err().matches("mconsole (version 2) initialized").count();
    ok(&g, client, &["reboot"]);
    g.wait_for(|| boots(&g) == 2 && g.socket().exists(), "the second boot");
    g.wait_for(|| g.out().matches("tick1\n").count() == 2, "init's second run");
    ok(&g, Client::Umvm, &["cad"]);
    g.wait_for(|| boots(&g) == 3 && g.socket().exists(), "the third boot (ctrl-alt-del restarts)");
    g.wait_for(|| g.out().matches("tick1\n").count() == 3, "init's third run");
    // A halt while stopped still ends the machine.
    ok(&g, client, &["stop"]);
    ok(&g, client, &["halt"]);
    assert_eq!(g.wait_exit(), 0, "{}", g.err());
    assert!(!g.socket().parent().unwrap().exists(), "the umid directory is removed at exit");
}

/// A notify socket (its directory kept alive with it) and a guest `umid` booted with
/// `mconsole=notify:` naming it.
fn boot_notifying(umid: &str) -> (TempDir, UnixDatagram, Guest) {
    let dir = TempDir::new("mconsole-notify");
    let path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let g = Guest::boot_with(umid, &[format!("mconsole=notify:{}", path.display())]);
    (dir, notify, g)
}

#[test]
fn sysrq_poweroff_notify_and_the_umvm_client_errors() {
    let (_dir, notify, mut g) = boot_notifying("mc3");
    // The boot notification: magic, version, type 0 (socket), len, the path and its NUL.
    let mut buf = [0u8; 1024];
    let n = notify.recv(&mut buf).unwrap();
    let word_at = |buf: &[u8], i: usize| u32::from_ne_bytes(buf[i * 4..i * 4 + 4].try_into().unwrap());
    let word = |i: usize| word_at(&buf, i);
    let path = format!("{}\0", g.socket().display());
    assert_eq!((word(0), word(1), word(2), word(3) as usize), (0xCAFEBABE, 2, 0, path.len()));
    assert_eq!(&buf[16..n], path.as_bytes());
    // The switches are the kernel's: in /proc/cmdline, not in init's environment.
    assert!(g.sh("cat /proc/cmdline").contains(" mconsole=notify:"));
    let env = g.sh("env");
    assert!(env.contains("PATH=") && !["mconsole=", "umid=", "uml_dir="].iter().any(|k| env.contains(k)), "{env}");
    // /proc/mconsole (there only with notify=): each write is a type-3
    // notification of the bytes written, cut to 512; reading is refused.
    let w = g.sh(
        "echo -n user-notify-test > /proc/mconsole; echo rc=$?; ls -l /proc/mconsole; cat /proc/mconsole; echo rc=$?",
    );
    assert!(w.starts_with("rc=0\n--w-------") && w.contains("Permission denied\nrc=1\n"), "{w}");
    let mut buf = [0u8; 1024];
    let n = notify.recv(&mut buf).unwrap();
    let w: Vec<u32> = (0..4).map(|i| word_at(&buf, i)).collect();
    assert_eq!(w, [0xCAFEBABE, 2, 3, 16]);
    assert_eq!(&buf[16..n], b"user-notify-test");
    g.sh("printf '%0600d' 0 > /proc/mconsole");
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!((word_at(&buf, 2), word_at(&buf, 3), n), (3, 512, 16 + 512));
    let (code, out) = mc(&g, Client::Umvm, &[]);
    assert_ne!(code, 0, "{out}");
    let nobody = Command::new(common::umvm())
        .args(["mconsole", "no-such-umid", "version"])
        .env("HOME", g.dir.path())
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no machine no-such-umid"), "{nobody:?}");
    // The umid resolves through $HOME/.uml as uml_mconsole's does; here uml_dir is elsewhere.
    let by_dir = Command::new(common::umvm())
        .args(["mconsole", "--uml-dir"])
        .arg(g.dir.path().join("uml"))
        .args(["mc3", "version"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&by_dir.stdout).starts_with("OK Linux"), "{by_dir:?}");
    // A second machine asking for the same umid gets a random one.
    let other = Guest::boot_with_umid_taken(&g);
    drop(other);
    ok(&g, Client::Umvm, &["sysrq", "o"]);
    assert_eq!(g.wait_exit(), 0, "{}", g.err());
    assert!(g.err().contains("sysrq: Power Off") || g.out().contains("sysrq: Power Off"));
    assert!(!g.socket().exists());
}

impl Guest {
    /// Boots a second machine with `g`'s umid: UML falls back to a random
    /// one (6 characters) while the first is alive.
    fn boot_with_umid_taken(g: &Guest) -> Guest {
        let dir = TempDir::new("mconsole2");
        let err_path = dir.path().join("err");
        let child = Command::new(common::umvm())
            .args(["run", "--root-dir"])
            .arg(g.root.path())
            .arg(format!("umid={}", g.umid))
            .arg(format!("uml_dir={}", g.dir.path().join("uml").display()))
            .args(["--", "/bin/sh", "-c", "sleep 30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let text = loop {
            let t = std::fs::read_to_string(&err_path).unwrap_or_default();
            if t.contains("initialized on") {
                break t;
            }
            assert!(Instant::now() < deadline, "no mconsole: {t}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(text.contains("is in use"), "{text}");
        let path = text.lines().find_map(|l| l.strip_prefix("mconsole (version 2) initialized on ")).unwrap();
        let umid = Path::new(path).parent().unwrap().file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(umid.len(), 6, "{text}");
        assert_ne!(umid, g.umid);
        Guest { root: Rootfs::system(), dir, child: Some(child), umid }
    }
}

/// Network cards: a guest booted without any gets one plugged in through each client, pings a guest
/// that booted with one, and has it unplugged (refused while up, as UML's net_remove).
#[test]
fn a_network_card_hot_plugged_queried_and_unplugged() {
    common::netns::in_netns("a_network_card_hot_plugged_queried_and_unplugged", || {
        let a = Guest::boot_with("neta", &["eth0=mcast,fe:fd:0a:00:00:01".into(), "ip=10.0.0.1/24".into()]);
        let b = Guest::boot("netb");
        for app in ["ifconfig", "ping", "cat", "grep"] {
            let _ = std::os::unix::fs::symlink("busybox", b.root.host_path(&format!("/bin/{app}")));
        }
        assert!(!b.sh("cat /proc/net/dev").contains("eth0:"), "no card at boot");
        for (i, client) in clients().into_iter().enumerate() {
            let mac = format!("fe:fd:0a:00:00:0{}", i + 2);
            assert_eq!(ok(&b, client, &["config", "eth0"]).trim(), "OK", "{client:?}: no card yet");
            ok(&b, client, &["config", &format!("eth0=mcast,{mac}")]);
            let shown = ok(&b, client, &["config", "eth0"]);
            assert!(shown.contains(&format!("mcast,{mac}")), "{client:?}: {shown}");
            let e = err(&b, client, &["config", &format!("eth0=mcast,{mac}")]);
            assert!(e.contains("already configured"), "{client:?}: {e}");
            let e = err(&b, client, &["config", "eth1=nonsense"]);
            assert!(e.starts_with("ERR"), "{client:?}: {e}");

            let up = b.sh("ifconfig eth0 10.0.0.2 up && ping -c 2 -W 5 10.0.0.1 && cat /proc/net/dev");
            assert!(up.contains("2 packets received") && up.contains("eth0:") && up.contains("rc=0"), "{up}");

            let e = err(&b, client, &["remove", "eth0"]);
            assert!(e.contains("Device is currently open"), "{client:?}: {e}");
            let down = b.sh("ifconfig eth0 down");
            assert!(down.contains("rc=0"), "{down}");
            ok(&b, client, &["remove", "eth0"]);
            let gone = b.sh("cat /proc/net/dev; ifconfig eth0");
            let listed = |name: &str| gone.lines().any(|l| l.trim_start().starts_with(name));
            assert!(!listed("eth0:") && listed("lo:") && gone.contains("Device not found"), "{gone}");
            assert_eq!(ok(&b, client, &["config", "eth0"]).trim(), "OK", "{client:?}: the card is gone");
            let e = err(&b, client, &["remove", "eth0"]);
            assert!(e.contains("Device doesn't exist"), "{client:?}: {e}");
            assert!(err(&b, client, &["remove", "ethx"]).contains("Couldn't parse device number"));
        }
        // The guest that booted with its card answers `config eth0` with its switch too.
        assert!(ok(&a, Client::Umvm, &["config", "eth0"]).contains("mcast,fe:fd:0a:00:00:01"));
    });
}

#[test]
fn sysrq_crash_panics_the_machine_and_notifies() {
    let (_dir, notify, mut g) = boot_notifying("mc5");
    let mut buf = [0u8; 1024];
    notify.recv(&mut buf).unwrap(); // the boot notification
    let r = ok(&g, Client::UmlMconsole, &["sysrq", "c"]);
    assert!(r.contains("sysrq: Trigger a crash"), "{r}");
    // UML's panic notifier: type 1, the message and its NUL.
    let n = notify.recv(&mut buf).unwrap();
    let w: Vec<u32> = (0..4).map(|i| u32::from_ne_bytes(buf[i * 4..i * 4 + 4].try_into().unwrap())).collect();
    assert_eq!(w, [0xCAFEBABE, 2, 1, 22]);
    assert_eq!(&buf[16..n], b"sysrq triggered crash\0");
    assert_eq!(g.wait_exit(), 1, "UML's exit code after a panic; {}", g.err());
    let console = format!("{}{}", g.out(), g.err());
    assert!(console.contains("Kernel panic - not syncing: sysrq triggered crash"), "{console}");
    assert!(!g.socket().exists());
}
