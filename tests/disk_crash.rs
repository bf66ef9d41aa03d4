//! Crash safety of a guest's disk (issue 7): a guest booted from
//! `ubd0=COW,root.img` writes files in a loop, fsyncing each one and an
//! append-only log (tests/guest/fsync_loop.c prints "synced N" only after
//! both fsyncs returned); umvm is killed with SIGKILL in the middle of that
//! loop. The COW file, merged into a new image by `umvm cow merge`, must
//! then hold a filesystem e2fsck finds nothing wrong with but the unclean
//! shutdown itself (ACCEPTED_E2FSCK), and every file reported synced with
//! its content, and the log's records up to the last one reported.
//!
//! Why this can hold: umvm's disk cache carries data and metadata (inode
//! tables, bitmaps, directories) alike, and fsync flushes the whole disk,
//! so after "synced N" the COW file is a consistent filesystem as of that
//! moment; what was written after it is metadata and data the writeback
//! timer or the next fsync had not reached yet.

mod common;

use common::disk::*;
use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What e2fsck may say about a filesystem that was not unmounted, beside
/// its progress lines (e2fsck_problems), and nothing else.
///
/// Observed with e2fsprogs 1.47.0 on an ext2 image whose state is "not
/// clean": `e2fsck -n` prints "IMG was not cleanly unmounted, check
/// forced." and then its passes, and exits 0 when they found nothing;
/// `e2fsck -fn` checks anyway, so it prints only its passes. Anything
/// else (a bitmap differing from the inodes, a free count, an entry
/// pointing at a free inode) is a finding.
const ACCEPTED_E2FSCK: &[&str] = &["was not cleanly unmounted, check forced."];

/// The bytes fsync_loop writes to f<n>: keep in step with content() there.
fn content(n: u64) -> Vec<u8> {
    let len = 1 + (n * 7919 % 20000) as usize;
    (0..len as u64).map(|i| ((n * 31 + i * 7) % 251) as u8).collect()
}

/// The log record fsync_loop appends for `n`.
fn record(n: u64) -> Vec<u8> {
    format!("record {n:<56}\n").into_bytes()
}

/// Boots fsync_loop on a fresh COW over `backing`, kills umvm with SIGKILL
/// `pause` after it has read `synced` "synced N" lines, and returns the
/// last N it printed.
fn run_and_kill(trap: Trap, cow: &Path, backing: &Path, synced: u64, pause: Duration) -> u64 {
    let mut cmd = Command::new(umvm());
    cmd.args(["run", "--trap", trap.name()])
        .arg(ubd0(cow, backing))
        .args(["--", "/bin/fsync_loop", "/c"])
        .env_remove("RUST_LOG")
        .env_remove("UMVM_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the guest's processes are umvm's children.
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    let mut seen = 0;
    while seen < synced {
        let line = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(line)) => line,
            other => {
                // SAFETY: kill has no memory effects; the group is umvm's.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let out = child.wait_with_output().unwrap();
                panic!("fsync_loop stopped after {seen} lines ({other:?}): {}", String::from_utf8_lossy(&out.stderr));
            }
        };
        let n: u64 = line.strip_prefix("synced ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(n, last.map_or(0, |l| l + 1), "fsync_loop's lines come in order");
        last = Some(n);
        seen += 1;
    }
    std::thread::sleep(pause);
    // Lines printed during the pause count as synced too.
    while let Ok(Ok(line)) = rx.try_recv() {
        if let Some(n) = line.strip_prefix("synced ").and_then(|n| n.parse::<u64>().ok()) {
            last = Some(n);
        }
    }
    // SAFETY: as above; umvm alone, the guest dies with its tracer
    // (PTRACE_O_EXITKILL).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    // Nothing of umvm's may still write to the COW file when it is merged.
    let gone = Instant::now() + Duration::from_secs(10);
    // SAFETY: signal 0 only checks that the group exists.
    while unsafe { libc::kill(-pid, 0) } == 0 {
        assert!(Instant::now() < gone, "umvm's guest outlived it by 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    last.unwrap()
}

/// Merges `cow` into `img` with `umvm cow merge`, as soon as the killed
/// umvm's lock on it is gone: the lock can outlive the reaped process by a
/// few milliseconds (the kernel tears its io_uring down, and with it the
/// ring's references to the COW file, in a work queue after the exit).
fn merge_after_kill(cow: &Path, img: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let _ = std::fs::remove_file(img);
        let run = run_umvm(&[Path::new("cow"), Path::new("merge"), cow, Path::new("-o"), img], b"");
        if run.code() == 0 {
            return;
        }
        assert!(run.err().contains("already locked") && Instant::now() < deadline, "{run}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One crash: the merged image of a COW file umvm was killed writing to,
/// and the last N fsync_loop reported synced.
struct Crash {
    what: String,
    img: PathBuf,
    last: u64,
}

/// Kill points: the Nth "synced" line and a pause after it, so that the
/// SIGKILL lands in other steps of the loop (a write, a directory entry,
/// an fsync's writeback), in each trap mode in turn.
const KILLS: [(u64, u64); 8] = [(20, 0), (45, 0), (70, 0), (20, 2), (30, 5), (40, 11), (50, 23), (60, 37)];

/// Runs and kills fsync_loop at each of KILLS, each on a COW file of its
/// own over one backing image, and merges each COW file into an image.
fn crashes(dir: &Path) -> Vec<Crash> {
    let tree = dir.join("tree");
    disk_tree(&tree);
    std::fs::copy(guest_program("fsync_loop"), tree.join("bin/fsync_loop")).unwrap();
    let backing = dir.join("root.img");
    mke2fs(&tree, &backing, 64, &[]);
    let traps = traps();
    let mut out = Vec::new();
    for (round, &(synced, pause_ms)) in KILLS.iter().enumerate() {
        let trap = traps[round % traps.len()];
        let what = format!("--trap {} killed {pause_ms} ms after {synced} synced", trap.name());
        let cow = dir.join(format!("crash{round}.cow"));
        let last = run_and_kill(trap, &cow, &backing, synced, Duration::from_millis(pause_ms));
        let img = dir.join(format!("merged{round}.img"));
        merge_after_kill(&cow, &img);
        std::fs::remove_file(&cow).unwrap();
        out.push(Crash { what, img, last });
    }
    out
}

/// Durability: every file fsync_loop reported synced is in the merged
/// image with its bytes, and so are the log's records up to the last one.
#[test]
fn files_reported_synced_survive_sigkill() {
    let dir = TempDir::new("disk-crash");
    for (round, c) in crashes(dir.path()).iter().enumerate() {
        let (what, last) = (&c.what, c.last);
        let state = debugfs(&c.img, "stats");
        assert!(state.contains("Filesystem state:         not clean"), "{what}: the state flag: {state}");
        let out = dir.path().join(format!("dump{round}"));
        std::fs::create_dir(&out).unwrap();
        debugfs(&c.img, &format!("rdump /c {}", out.display()));
        for n in 0..=last {
            let f = out.join(format!("c/f{n}"));
            let got = std::fs::read(&f).unwrap_or_else(|e| panic!("{what}: f{n} (synced) is not there: {e}"));
            assert!(got == content(n), "{what}: f{n} holds other bytes ({} of {})", got.len(), content(n).len());
        }
        let log = std::fs::read(out.join("c/log")).unwrap();
        let want: Vec<u8> = (0..=last).flat_map(record).collect();
        assert!(log.len() >= want.len() && log[..want.len()] == want[..], "{what}: the log: {}", log.len());
        let files = std::fs::read_dir(out.join("c")).unwrap().count() - 1;
        eprintln!("{what}: f0..=f{last} synced and intact; {files} files, {} log bytes", log.len());
    }
}

/// Consistency: e2fsck finds nothing wrong with any of the merged images
/// but the unclean shutdown (ACCEPTED_E2FSCK). Every crash is checked and
/// all findings reported together.
#[test]
fn filesystem_is_consistent_after_sigkill() {
    let dir = TempDir::new("disk-crash-fsck");
    let mut findings = Vec::new();
    for c in crashes(dir.path()) {
        for opts in ["-fn", "-n"] {
            let out = Command::new("e2fsck").arg(opts).arg(&c.img).output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let problems: Vec<&str> = e2fsck_problems(&text)
                .into_iter()
                .filter(|l| !ACCEPTED_E2FSCK.iter().any(|a| l.ends_with(a)))
                .collect();
            if !out.status.success() || !problems.is_empty() {
                findings.push(format!("{} (last synced f{}): e2fsck {opts} ({}):\n{text}", c.what, c.last, out.status));
            }
        }
        eprintln!("{}: last synced f{}: {} findings so far", c.what, c.last, findings.len());
    }
    assert!(
        findings.is_empty(),
        "{} of {} e2fsck runs found problems:\n{}",
        findings.len(),
        2 * KILLS.len(),
        findings.join("\n")
    );
}

/// The commit timer: what a guest wrote without any sync reaches the
/// image within the disk's expiry (5 s) and the timer's period (1 s), so
/// a SIGKILL 7 s later leaves it there, in a consistent filesystem.
#[test]
fn unsynced_writes_are_committed_by_the_timer() {
    let dir = TempDir::new("disk-crash-timer");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 64, &[]);
    let cow = dir.path().join("timer.cow");
    let script = "mkdir /t && seq 1 20000 > /t/numbers && echo written && sleep 60";
    let mut child = Command::new(umvm())
        .args(["run"])
        .arg(ubd0(&cow, &backing))
        .args(["--", "/bin/sh", "-c", script])
        .env_remove("RUST_LOG")
        .env_remove("UMVM_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "written\n", "the guest's output");
    std::thread::sleep(Duration::from_secs(7));
    // SAFETY: kill has no memory effects; the pid is umvm's.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    child.wait().unwrap();
    let gone = Instant::now() + Duration::from_secs(10);
    // SAFETY: signal 0 only checks that the group exists.
    while unsafe { libc::kill(-pid, 0) } == 0 {
        assert!(Instant::now() < gone, "umvm's guest outlived it by 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let img = dir.path().join("merged.img");
    merge_after_kill(&cow, &img);
    let want: String = (1..=20000).map(|n| format!("{n}\n")).collect();
    assert_eq!(debugfs(&img, "cat /t/numbers"), want, "the file written 7 s before the kill");
    let out = Command::new("e2fsck").arg("-fn").arg(&img).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && e2fsck_problems(&text).is_empty(), "e2fsck -fn:\n{text}");
}
