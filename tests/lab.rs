//! `umvm lab` (docs/lab.md): a lab of ten guests from one backing image on
//! one multicast group, in a network namespace of its own — every guest
//! pings every other through `umvm lab exec`, the COW files are the only
//! per-guest disk space, a guest that dies shows as dead, and stop leaves
//! no umvm behind — and bad lab files are one-line errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::disk::{disk_tree, mke2fs};
use common::netns::in_netns;
use common::*;

const GUESTS: u32 = 10;
const LAB_TIMEOUT: Duration = Duration::from_secs(300);

/// The sha256 of `path`.
fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// `umvm lab ARGS...`.
fn lab(args: &[&str], timeout: Duration) -> Run {
    let mut all = vec!["lab"];
    all.extend_from_slice(args);
    run_umvm_timeout(&all, b"", timeout)
}

/// Pids of processes whose command line names `dir`.
fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
        if !zombie && cmd.windows(needle.len()).any(|w| w == needle) {
            found.push(format!("{name}: {}", String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    found
}

/// A busybox ext2 image for lab guests, in `dir`.
fn backing_image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    disk_tree(&tree);
    for a in ["ping", "ifconfig", "hostname"] {
        symlink("busybox", &tree.join("bin").join(a));
    }
    let img = dir.join("rootfs.img");
    mke2fs(&tree, &img, 32, &[]);
    img
}

#[test]
fn ten_guests_from_one_backing_image_ping_each_other_on_a_multicast_group() {
    in_netns("ten_guests_from_one_backing_image_ping_each_other_on_a_multicast_group", || {
        let dir = TempDir::new("lab");
        let img = backing_image(dir.path());
        let hash = sha256(&img);
        let file = dir.path().join("lab.toml");
        write_file(
            &file,
            format!(
                "[lab]\nname = \"ten\"\nbacking = \"rootfs.img\"\nmem = \"64M\"\n\n\
                 [[network]]\nname = \"lan\"\nkind = \"mcast\"\n\n\
                 [guests]\ncount = {GUESTS}\nprefix = \"n\"\nsubnet = \"10.0.0.0/24\"\n\
                 startup = \"echo started $(hostname) > /tmp/started\"\n"
            ),
            0o644,
        );
        let f = file.to_str().unwrap();
        let labdir = dir.path().join("lab-ten");
        let t = Instant::now();
        let start = lab(&["start", f], LAB_TIMEOUT);
        assert_eq!(start.code(), 0, "{start}");
        let names: Vec<String> = (1..=GUESTS).map(|i| format!("n{i:02}")).collect();
        println!("{} (test saw {:.2} s)", start.out().trim(), t.elapsed().as_secs_f64());
        assert!(start.out().contains(&format!("lab ten: {GUESTS} guests ready in")), "{start}");

        // A second start of a running lab is refused.
        let again = lab(&["start", f], LAB_TIMEOUT);
        assert_eq!(again.code(), 1, "{again}");
        assert!(again.err().contains("lab ten is already running"), "{again}");

        let status = lab(&["status", f], LAB_TIMEOUT);
        assert_eq!(status.code(), 0, "{status}");
        for (i, n) in names.iter().enumerate() {
            let line = status.out().lines().find(|l| l.starts_with(n.as_str())).map(str::to_string);
            let line = line.unwrap_or_else(|| panic!("{n} missing\n{status}"));
            assert!(line.contains(" ready ") && line.contains(&format!("10.0.0.{}/24", i + 1)), "{line}");
            assert!(line.contains(&labdir.join(format!("{n}.console")).display().to_string()), "{line}");
        }

        // Every guest pings every other, all guests at once.
        let pingers: Vec<_> = (1..=GUESTS)
            .map(|me| {
                let f = f.to_string();
                std::thread::spawn(move || {
                    let script = format!(
                        "cat /tmp/started; for i in $(seq 1 {GUESTS}); do [ $i = {me} ] && continue; \
                         ping -c 1 -W 3 10.0.0.$i > /dev/null || ping -c 1 -W 5 10.0.0.$i > /dev/null \
                         || echo NO-ANSWER-$i; done; echo PINGED-ALL"
                    );
                    lab(&["exec", &f, &format!("n{me:02}"), &script], LAB_TIMEOUT)
                })
            })
            .collect();
        for (i, p) in pingers.into_iter().enumerate() {
            let run = p.join().unwrap();
            let n = &names[i];
            assert_eq!(run.code(), 0, "{n}\n{run}");
            assert_eq!(run.out(), format!("started {n}\nPINGED-ALL\n"), "{n}\n{run}");
        }

        // exec: exit status, stderr, the guest's name.
        let run = lab(&["exec", f, "n03", "hostname; echo oops >&2; exit 42"], LAB_TIMEOUT);
        assert_eq!((run.code(), run.out().as_str(), run.err().as_str()), (42, "n03\n", "oops\n"), "{run}");
        let run = lab(&["exec", f, "nobody", "true"], LAB_TIMEOUT);
        assert_eq!(run.code(), 1, "{run}");
        assert!(run.err().contains("lab ten has no guest \"nobody\""), "{run}");

        // The backing image is untouched; each guest's writes are in its
        // small COW file, and nothing else in the lab directory is large.
        assert_eq!(sha256(&img), hash, "the backing image changed");
        let mut used = 0;
        for e in std::fs::read_dir(&labdir).unwrap().flatten() {
            use std::os::unix::fs::MetadataExt;
            let m = e.metadata().unwrap();
            let bytes = m.blocks() * 512;
            if e.file_name().to_string_lossy().ends_with(".cow") {
                assert!(bytes < 1 << 20, "{}: {bytes} bytes", e.path().display());
            }
            used += bytes;
        }
        let cows: Vec<_> = names.iter().map(|n| labdir.join(format!("{n}.cow"))).collect();
        assert!(cows.iter().all(|c| c.exists()));
        assert!(used < 4 << 20, "the lab directory uses {used} bytes");

        // A guest whose umvm dies shows as dead; exec to it fails clearly.
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(labdir.join("state.json")).unwrap()).unwrap();
        let pid = state["guests"][GUESTS as usize - 1]["pid"].as_i64().unwrap() as i32;
        // SAFETY: kill on the pid of a guest this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            let s = lab(&["status", f], LAB_TIMEOUT);
            if s.code() != 0 || Instant::now() > deadline {
                break s;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), 3, "{status}");
        let last = &names[GUESTS as usize - 1];
        assert!(status.out().lines().any(|l| l.starts_with(last.as_str()) && l.contains(" dead ")), "{status}");
        let run = lab(&["exec", f, last, "true"], LAB_TIMEOUT);
        assert_eq!(run.code(), 1, "{run}");
        assert!(run.err().contains(&format!("guest {last} is not running")), "{run}");
        assert_eq!(run.err().lines().count(), 1, "{run}");

        let stop = lab(&["stop", f], LAB_TIMEOUT);
        assert_eq!(stop.code(), 0, "{stop}");
        assert!(stop.out().contains(&format!("stopped {} guests", GUESTS - 1)), "{stop}");
        assert!(!labdir.join("state.json").exists());
        let left = processes_naming(&labdir);
        assert!(left.is_empty(), "left running: {left:?}");
        let run = lab(&["status", f], LAB_TIMEOUT);
        assert_eq!(run.code(), 1, "{run}");
        assert!(run.err().contains("lab ten is not running"), "{run}");
        assert_eq!(sha256(&img), hash, "the backing image changed");
    });
}

#[test]
fn bad_lab_files_are_one_line_errors_naming_the_file_and_fault() {
    let dir = TempDir::new("labbad");
    write_file(&dir.path().join("rootfs.img"), b"not used", 0o644);
    let head = "[lab]\nname = \"x\"\nbacking = \"rootfs.img\"\n[[network]]\nname = \"lan\"\nkind = \"mcast\"\n";
    let cases = [
        ("missing.toml", "[lab]\nbacking = \"rootfs.img\"\n".to_string(), ":1: missing field `name`"),
        (
            "address.toml",
            format!("{head}[[guest]]\nname = \"a\"\naddresses = {{ lan = \"10.0.0.1/33\" }}\n"),
            ":9: [[guest]] addresses: \"10.0.0.1/33\": prefix \"33\" is not 1 to 30",
        ),
        ("unknown.toml", format!("{head}colour = \"red\"\n"), ":7: unknown field `colour`"),
        (
            "network.toml",
            format!("{head}[[guest]]\nname = \"a\"\naddresses = {{ wan = \"10.0.0.1/24\" }}\n"),
            ":9: [[guest]] addresses: no [[network]] is named \"wan\"",
        ),
        ("backing.toml", "[lab]\nname = \"x\"\nbacking = \"nope.img\"\n".to_string(), ":3: backing: "),
    ];
    for (name, text, want) in cases {
        let file = dir.path().join(name);
        write_file(&file, text, 0o644);
        for cmd in ["start", "status", "stop"] {
            let run = lab(&[cmd, file.to_str().unwrap()], TIMEOUT);
            assert_eq!(run.code(), 1, "{run}");
            let err = run.err();
            assert_eq!(err.lines().count(), 1, "{run}");
            assert!(err.starts_with(&format!("umvm: {}{want}", file.display())), "want {want:?}\n{run}");
        }
    }
    // `umvm lab FILE` is start; a file that is not there is named.
    let run = lab(&[dir.path().join("none.toml").to_str().unwrap()], TIMEOUT);
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.err().contains("none.toml: cannot read: No such file"), "{run}");
    // Nothing was started: no lab directory was made.
    assert!(!dir.path().join("lab-x").exists());

    // A guest that cannot boot (the image is no ext2) fails the start,
    // naming it and its console; nothing is left running.
    let file = dir.path().join("noboot.toml");
    write_file(&file, "[lab]\nname = \"x\"\nbacking = \"rootfs.img\"\n[[guest]]\nname = \"a\"\n", 0o644);
    let run = lab(&["start", file.to_str().unwrap()], TIMEOUT);
    assert_eq!(run.code(), 1, "{run}");
    let labdir = dir.path().join("lab-x");
    let want = "umvm: lab x did not start (stopped): guest a exited during boot (exit status: 1): umvm: ";
    assert!(run.err().starts_with(want), "{run}");
    assert!(run.err().ends_with(&format!("its console is {}\n", labdir.join("a.console").display())), "{run}");
    assert_eq!(run.err().lines().count(), 1, "{run}");
    assert!(!labdir.join("state.json").exists());
    assert!(processes_naming(&labdir).is_empty());
}

#[test]
fn twenty_guests_on_a_switch_and_a_router_with_files_and_a_startup_script() {
    in_netns("twenty_guests_on_a_switch_and_a_router_with_files_and_a_startup_script", || {
        let dir = TempDir::new("lab20");
        backing_image(dir.path());
        write_file(&dir.path().join("motd.txt"), "welcome to the lab\n", 0o644);
        let file = dir.path().join("lab.toml");
        write_file(
            &file,
            "[lab]\nname = \"big\"\nbacking = \"rootfs.img\"\ndir = \"state\"\nmem = \"64M\"\n\n\
             [[network]]\nname = \"lan\"\nkind = \"mcast\"\ngroup = \"239.192.168.7\"\nport = 1200\n\n\
             [[network]]\nname = \"sw\"\nkind = \"switch\"\n\n\
             [[guest]]\nname = \"router\"\naddresses = { lan = \"10.0.0.254/24\", sw = \"10.1.0.254/24\" }\n\
             files = { \"/etc/motd\" = \"motd.txt\", \"/opt/x/y\" = \"motd.txt\" }\nstartup = \"cat /etc/motd\"\n\n\
             [guests]\ncount = 20\nsubnet = \"10.1.0.0/24\"\nnetwork = \"sw\"\nfirst = 11\n",
            0o644,
        );
        let f = file.to_str().unwrap();
        let labdir = dir.path().join("state");
        let start = lab(&[f], LAB_TIMEOUT);
        assert_eq!(start.code(), 0, "{start}");
        println!("{}", start.out().trim());
        assert!(start.out().contains("lab big: 21 guests ready in"), "{start}");
        let console = std::fs::read_to_string(labdir.join("router.console")).unwrap();
        assert!(
            console.contains("welcome to the lab\numvm lab: startup script exit status 0\nLAB-READY router\n"),
            "{console}"
        );
        let run = lab(&["exec", f, "router", "cat /opt/x/y; ifconfig eth1 | grep -o 'inet addr:[0-9.]*'"], LAB_TIMEOUT);
        assert_eq!((run.code(), run.out().as_str()), (0, "welcome to the lab\ninet addr:10.1.0.254\n"), "{run}");
        // Each guest on the switch reaches the router and its neighbour.
        let pingers: Vec<_> = (1..=20u32)
            .map(|k| {
                let f = f.to_string();
                std::thread::spawn(move || {
                    let next = 11 + k % 20;
                    let script = format!(
                        "for a in 10.1.0.254 10.1.0.{next}; do ping -c 1 -W 3 $a > /dev/null || \
                         ping -c 1 -W 5 $a > /dev/null || echo NO-ANSWER-$a; done; hostname"
                    );
                    (k, lab(&["exec", &f, &format!("g{k:02}"), &script], LAB_TIMEOUT))
                })
            })
            .collect();
        for p in pingers {
            let (k, run) = p.join().unwrap();
            assert_eq!((run.code(), run.out()), (0, format!("g{k:02}\n")), "{run}");
        }
        let stop = lab(&["stop", f], LAB_TIMEOUT);
        assert_eq!(stop.code(), 0, "{stop}");
        assert!(stop.out().contains("stopped 21 guests and 1 switch"), "{stop}");
        assert!(!labdir.join("sw.ctl").exists());
        let left = processes_naming(&labdir);
        assert!(left.is_empty(), "left running: {left:?}");
    });
}

#[test]
fn a_guest_keeps_its_disk_across_restarts_until_clean() {
    in_netns("a_guest_keeps_its_disk_across_restarts_until_clean", || {
        let dir = TempDir::new("labkeep");
        let img = backing_image(dir.path());
        let hash = sha256(&img);
        let file = dir.path().join("lab.toml");
        write_file(
            &file,
            "[lab]\nname = \"keep\"\nbacking = \"rootfs.img\"\ndir = \"state\"\n\n\
             [[network]]\nname = \"lan\"\nkind = \"mcast\"\ngroup = \"239.192.168.9\"\nport = 1300\n\n\
             [[guest]]\nname = \"solo\"\naddresses = { lan = \"10.0.0.1/24\" }\n",
            0o644,
        );
        // The user's own file in the lab's directory, which clean must keep.
        let labdir = dir.path().join("state");
        std::fs::create_dir_all(&labdir).unwrap();
        write_file(&labdir.join("notes.txt"), "mine\n", 0o644);
        let f = file.to_str().unwrap();
        let up = |what: &str| {
            let start = lab(&[f], LAB_TIMEOUT);
            assert_eq!(start.code(), 0, "{what}: {start}");
        };
        let exec = |cmd: &str| lab(&["exec", f, "solo", cmd], LAB_TIMEOUT);
        let down = || assert_eq!(lab(&["stop", f], LAB_TIMEOUT).code(), 0);

        up("first start");
        let w = exec("echo kept > /kept-mark && sync && cat /kept-mark");
        assert_eq!((w.code(), w.out().as_str()), (0, "kept\n"), "{w}");
        let busy = lab(&["clean", f], LAB_TIMEOUT);
        assert_eq!(busy.code(), 1, "{busy}");
        assert!(busy.err().contains("lab keep is running (umvm lab stop"), "{busy}");
        assert!(labdir.join("solo.cow").exists());
        down();

        up("restart");
        let r = exec("cat /kept-mark");
        assert_eq!((r.code(), r.out().as_str()), (0, "kept\n"), "the disk was kept: {r}");
        // One guest restarted in the running lab: a new umvm over the same disk.
        let state = || std::fs::read_to_string(labdir.join("state.json")).unwrap();
        let before = state();
        let again = lab(&["restart", f, "solo"], LAB_TIMEOUT);
        assert_eq!(again.code(), 0, "{again}");
        assert!(again.out().contains("lab keep: guest solo ready again in"), "{again}");
        assert_ne!(state(), before, "a new pid");
        let r = exec("cat /kept-mark; hostname");
        assert_eq!((r.code(), r.out().as_str()), (0, "kept\nsolo\n"), "{r}");
        let none = lab(&["restart", f, "nobody"], LAB_TIMEOUT);
        assert_eq!(none.code(), 1, "{none}");
        assert!(none.err().contains("lab keep has no guest \"nobody\""), "{none}");
        down();

        let clean = lab(&["clean", f], LAB_TIMEOUT);
        assert_eq!(clean.code(), 0, "{clean}");
        assert!(clean.out().contains("lab keep: removed 1 guest disk"), "{clean}");
        let mut left: Vec<String> = std::fs::read_dir(&labdir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["notes.txt"], "clean removes only what the lab made");

        up("start after clean");
        let r = exec("cat /kept-mark 2>&1; echo rc=$?");
        assert!(r.out().contains("No such file") && r.out().ends_with("rc=1\n"), "a fresh disk: {r}");
        down();

        // A kept disk whose backing image changed is refused, not replaced.
        let t = std::fs::metadata(&img).unwrap().modified().unwrap() + Duration::from_secs(5);
        std::fs::File::options().write(true).open(&img).unwrap().set_modified(t).unwrap();
        let refused = lab(&[f], LAB_TIMEOUT);
        assert_eq!(refused.code(), 1, "{refused}");
        let err = refused.err();
        assert!(err.contains("guest solo: COW file") && err.contains("mtime mismatch"), "{refused}");
        assert!(err.contains("umvm lab clean"), "{refused}");
        assert!(labdir.join("solo.cow").exists(), "the disk is kept");
        assert_eq!(lab(&["clean", f], LAB_TIMEOUT).code(), 0);
        assert_eq!(sha256(&img), hash, "the backing image's bytes never changed");
        let left = processes_naming(&labdir);
        assert!(left.is_empty(), "left running: {left:?}");
    });
}
