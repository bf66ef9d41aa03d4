//! `cargo bench --bench disk`: a guest's file I/O on its ext2 disk root
//! (`umvm run ubd0=COW,IMAGE`) beside the host doing the same on its own
//! filesystem, and beside Debian's UML kernel on the same kind of disk
//! when /usr/bin/linux is there, in one run.
//!
//! Four steps, each timed inside the guest by benches/guest/diskbench.c
//! (the same static binary runs on the host, in umvm and in UML):
//! - sequential write of SIZE MiB in 1 MiB writes, then fsync;
//! - sequential read of that file right after (1 MiB reads);
//! - N random 4 KiB preads of it;
//! - busybox `tar xf` of a tarball of FILES small files.
//!
//! The host runs the steps in a temporary directory under target/ (the
//! file system the images live on); umvm and UML boot from a fresh COW
//! file over one mke2fs image (4 KiB blocks) holding busybox, diskbench and
//! the tarball, and run them on that disk. Every figure is the median of
//! ROUNDS rounds (host, umvm and UML in turn each round); ratios are
//! guest time / host time, so 2.0x means half the host's speed.
//!
//! Env: DISK_BENCH_ROUNDS (default 3), DISK_BENCH_MB (default 256),
//! DISK_BENCH_READS (default 20000), DISK_BENCH_FILES (default 2000);
//! UMVM_BENCH_SMALL=1 shrinks all four (1 round, 16 MiB, 2000 reads, 200
//! files) for a quick check in CI. Other arguments are ignored.

// Each bench uses its own part of the shared helpers.
#[allow(dead_code)]
mod common;
use common::*;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const GUEST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/guest");
const STEPS: [&str; 4] = ["write", "read", "rand", "run"];
const APPLETS: [&str; 8] = ["sh", "mkdir", "mount", "poweroff", "sync", "tar", "echo", "cat"];
const UML: &str = "/usr/bin/linux";

struct Params {
    rounds: usize,
    mb: u64,
    reads: u64,
    files: u64,
}

/// The steps as a shell script over the directory $1 (the host's temp
/// dir, or /b on the guest's disk) and diskbench at $2, tarball at $3.
const SCRIPT: &str = r#"set -e
d=$1; b=$2; t=$3
mkdir -p $d/x
$b write $d/big $MB
$b read $d/big
$b rand $d/big $READS
$b run /bin/busybox tar xf $t -C $d/x
"#;

fn params() -> Result<Params, String> {
    let small = std::env::var("UMVM_BENCH_SMALL").is_ok_and(|v| !v.is_empty() && v != "0");
    let get = |name: &str, big: u64, tiny: u64| -> Result<u64, String> {
        Ok(env_number(name)?.unwrap_or(if small { tiny } else { big }).max(1))
    };
    Ok(Params {
        rounds: get("DISK_BENCH_ROUNDS", 3, 1)? as usize,
        mb: get("DISK_BENCH_MB", 256, 16)?,
        reads: get("DISK_BENCH_READS", 20_000, 2_000)?,
        files: get("DISK_BENCH_FILES", 2_000, 200)?,
    })
}

fn check(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The "STEP SECONDS" lines of diskbench's output.
fn parse(out: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut got = BTreeMap::new();
    for line in out.lines() {
        if let Some((step, secs)) = line.trim().split_once(' ') {
            if STEPS.contains(&step) {
                got.insert(step.to_string(), secs.parse().map_err(|_| format!("bad line {line:?}"))?);
            }
        }
    }
    if got.len() != STEPS.len() {
        return Err(format!("missing steps in:\n{out}"));
    }
    Ok(got)
}

/// The image's tree: busybox and applet links, diskbench, the tarball,
/// the script, UML's init, and empty /b /dev /proc /sys /tmp.
fn make_tree(tree: &Path, diskbench: &Path, tarball: &Path, p: &Params) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    for d in ["bin", "b", "dev", "proc", "sys", "tmp"] {
        std::fs::create_dir_all(tree.join(d)).map_err(io)?;
    }
    std::fs::copy("/bin/busybox", tree.join("bin/busybox")).map_err(|e| format!("/bin/busybox: {e}"))?;
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", tree.join("bin").join(a)).map_err(io)?;
    }
    std::fs::copy(diskbench, tree.join("bin/diskbench")).map_err(io)?;
    std::fs::copy(tarball, tree.join("t.tar")).map_err(io)?;
    let script = format!("export MB={} READS={}\n{SCRIPT}", p.mb, p.reads);
    std::fs::write(tree.join("bench.sh"), script).map_err(io)?;
    let init = "#!/bin/sh\nexport PATH=/bin\nmount -t proc proc /proc\nmount -o remount,rw /\necho BENCH-BEGIN\n\
                sh /bench.sh /b /bin/diskbench /t.tar\necho BENCH-END\nsync\nmount -o remount,ro /\npoweroff -f\n";
    std::fs::write(tree.join("init"), init).map_err(io)?;
    std::fs::set_permissions(tree.join("init"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(io)
}

/// A tarball of `files` small files (100 to 4000 bytes, 20 directories).
fn make_tarball(dir: &Path, files: u64) -> Result<PathBuf, String> {
    let src = dir.join("tarsrc");
    for i in 0..files {
        let d = src.join(format!("d{:02}", i % 20));
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        let len = 100 + (i * 7919 % 3900) as usize;
        let body: Vec<u8> = (0..len).map(|j| b'a' + ((i as usize + j) % 26) as u8).collect();
        std::fs::write(d.join(format!("f{i}")), body).map_err(|e| e.to_string())?;
    }
    let tarball = dir.join("t.tar");
    check(Command::new("tar").arg("cf").arg(&tarball).arg("-C").arg(&src).arg("."))?;
    std::fs::remove_dir_all(&src).map_err(|e| e.to_string())?;
    Ok(tarball)
}

fn host_round(dir: &Path, diskbench: &Path, tarball: &Path, p: &Params) -> Result<BTreeMap<String, f64>, String> {
    let work = dir.join("host");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let out = check(
        Command::new("/bin/busybox")
            .args(["sh", "-c", SCRIPT, "sh"])
            .arg(&work)
            .arg(diskbench)
            .arg(tarball)
            .env("MB", p.mb.to_string())
            .env("READS", p.reads.to_string()),
    )?;
    std::fs::remove_dir_all(&work).map_err(|e| e.to_string())?;
    parse(&out)
}

fn umvm_round(umvm: &Path, dir: &Path, image: &Path) -> Result<BTreeMap<String, f64>, String> {
    let cow = dir.join("umvm.cow");
    let _ = std::fs::remove_file(&cow);
    let mut ubd = std::ffi::OsString::from("ubd0=");
    ubd.push(&cow);
    ubd.push(",");
    ubd.push(image);
    let out = check(Command::new(umvm).arg("run").arg(ubd).args([
        "--",
        "/bin/sh",
        "/bench.sh",
        "/b",
        "/bin/diskbench",
        "/t.tar",
    ]))?;
    let _ = std::fs::remove_file(&cow);
    parse(&out)
}

/// One UML boot running init (bench.sh between markers); once more after
/// UML 6.1's rare -12 panic before init.
fn uml_round(dir: &Path, image: &Path) -> Result<BTreeMap<String, f64>, String> {
    let mut last = String::new();
    for _ in 0..2 {
        let cow = dir.join("uml.cow");
        let _ = std::fs::remove_file(&cow);
        let uml_dir = dir.join("uml");
        std::fs::create_dir_all(&uml_dir).map_err(|e| e.to_string())?;
        let log = dir.join("uml.log");
        let mut child = Command::new(UML)
            .arg(format!("ubd0={},{}", cow.display(), image.display()))
            .args(["root=/dev/ubda", "init=/init", "mem=128M", "con=null", "ssl=null", "con0=fd:0,fd:1", "quiet"])
            .arg(format!("uml_dir={}", uml_dir.display()))
            .env("TMPDIR", "/dev/shm")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{UML}: {e}"))?;
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
                break Some(s);
            }
            if start.elapsed() > Duration::from_secs(600) {
                // SAFETY: kill has no memory effects; the group is UML's.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = String::from_utf8_lossy(&std::fs::read(&log).map_err(|e| e.to_string())?).replace('\r', "");
        let _ = std::fs::remove_file(&cow);
        if let Some(text) = out.split_once("BENCH-BEGIN\n").and_then(|(_, r)| r.split_once("BENCH-END\n")) {
            if status.is_some_and(|s| s.success()) {
                return parse(text.0);
            }
        }
        last = out;
        if !last.contains("Kernel panic") || last.contains("BENCH-BEGIN") {
            break;
        }
    }
    Err(format!("UML failed:\n{last}"))
}

fn run() -> Result<(), String> {
    let p = params()?;
    let umvm = build_umvm()?;
    let dir = scratch_dir().join(format!("umvm-disk-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = bench(&p, &umvm, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(p: &Params, umvm: &Path, dir: &Path) -> Result<(), String> {
    let diskbench = dir.join("diskbench");
    check(
        Command::new("musl-gcc")
            .args(["-static", "-O2", "-Wall", "-o"])
            .arg(&diskbench)
            .arg(format!("{GUEST_DIR}/diskbench.c")),
    )
    .map_err(|e| format!("musl-gcc (musl-tools): {e}"))?;
    let tarball = make_tarball(dir, p.files)?;
    let tree = dir.join("tree");
    make_tree(&tree, &diskbench, &tarball, p)?;
    let image = dir.join("image.img");
    let size = format!("{}M", p.mb + 64 + p.files * 8 / 1024);
    check(
        Command::new("mke2fs").args(["-q", "-F", "-t", "ext2", "-b", "4096", "-d"]).arg(&tree).arg(&image).arg(size),
    )?;
    let uml = Path::new(UML).is_file();

    let mut samples: BTreeMap<(&str, String), Vec<f64>> = BTreeMap::new();
    let mut add = |who: &'static str, got: BTreeMap<String, f64>| {
        for (step, secs) in got {
            samples.entry((who, step)).or_default().push(secs);
        }
    };
    for round in 0..p.rounds {
        eprintln!("disk bench: round {} of {}", round + 1, p.rounds);
        add("host", host_round(dir, &diskbench, &tarball, p)?);
        add("umvm", umvm_round(umvm, dir, &image)?);
        if uml {
            add("UML", uml_round(dir, &image)?);
        }
    }

    let median = |who: &str, step: &str| stats(&samples[&(who, step.to_string())]).map(|s| s.0).unwrap();
    let rate = |step: &str, secs: f64| -> String {
        match step {
            "write" | "read" => format!("{:>9.0} MiB/s", p.mb as f64 / secs),
            "rand" => format!("{:>9.0} IOPS ", p.reads as f64 / secs),
            _ => format!("{:>9.0} files/s", p.files as f64 / secs),
        }
    };
    println!(
        "disk bench: {} MiB file, {} random 4 KiB reads, untar of {} files; median of {} rounds",
        p.mb, p.reads, p.files, p.rounds
    );
    println!("(time ratios: guest / host; the host runs in a temp dir under target/)");
    let labels = [
        ("write", "seq write + fsync"),
        ("read", "seq read back"),
        ("rand", "random 4 KiB pread"),
        ("run", "busybox tar xf"),
    ];
    let whos: &[&str] = if uml { &["host", "umvm", "UML"] } else { &["host", "umvm"] };
    for (step, label) in labels {
        let host = median("host", step);
        for who in whos {
            let t = median(who, step);
            let ratio = if *who == "host" { String::new() } else { format!("{:>7.2}x", t / host) };
            println!("  {label:<20} {who:<5} {:>9.3} s {} {ratio}", t, rate(step, t));
        }
    }
    if !uml {
        println!("  (no {UML}: install user-mode-linux for the UML figures)");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("disk bench: {e}");
            ExitCode::FAILURE
        }
    }
}
