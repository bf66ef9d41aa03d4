//! Private mappings of ext2 files straight from the disk's backing image
//! (ARCHITECTURE §5, file mmap): a guest booted from `ubd0=COW,IMAGE`
//! maps a file whose blocks lie together in the image, and the host's
//! /proc/PID/maps of the guest process shows the image itself mapped at
//! the file's blocks (so every guest over the image shares the host's
//! page cache of it), while the guest sees its file: the same bytes as
//! read(2), zeros after its end, private stores, its own path in
//! /proc/self/maps (tests/guest/disk_direct.c). A file the guest rewrote
//! (its page written but not yet on the disk, or its COW bits set) is
//! mapped from the page-cache memfd instead, and still reads right.

mod common;

use common::disk::*;
use common::*;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
const FILE: &str = "/data/direct.bin";
/// A file with an indirect block, which mke2fs puts among its data
/// blocks: mapped in two pieces.
const BIG: &str = "/data/big.bin";

/// A mapped file: `pages` pages and 1000 bytes, not all one value (a
/// wrong offset shows), from START!! to THE-END.
fn file_bytes(pages: u32) -> Vec<u8> {
    let mut v: Vec<u8> = (0..pages * 4096 + 1000).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let n = v.len();
    v[..7].copy_from_slice(b"START!!");
    v[n - 7..].copy_from_slice(b"THE-END");
    v
}

/// What disk_direct prints after its address line, up to "ready".
fn expected(start: &str) -> String {
    format!(
        "private equals read 1\nstarts {start}\ntail THE-END\nzeros after end 1\nmaps names the file 1\n\
         offset mapping 1 named 1\nprivate store stays private 1 1\nready\n"
    )
}

/// A umvm run whose guest waits on stdin: its stdout lines as they come.
struct Live {
    child: Child,
    lines: mpsc::Receiver<String>,
    out: String,
    err: std::thread::JoinHandle<String>,
}

impl Live {
    fn start(cfg: Config, switches: &[OsString], argv: &[&str], trace: &Path) -> Live {
        init();
        let mut args: Vec<OsString> = vec!["run".into(), "--trap".into(), cfg.trap.name().into()];
        if cfg.strace {
            args.extend(["--strace".into(), "--strace-file".into(), trace.as_os_str().to_owned()]);
        }
        args.extend(switches.iter().cloned());
        args.push("--".into());
        args.extend(argv.iter().map(OsString::from));
        let mut child = Command::new(umvm())
            .args(&args)
            .env_remove("RUST_LOG")
            .env_remove("UMVM_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("umvm");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Live { child, lines, out: String::new(), err }
    }

    /// Reads lines up to and including `last`; fails after the timeout.
    fn until(&mut self, last: &str) {
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.out.push_str(&l);
                    self.out.push('\n');
                    if l == last {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("no {last:?} line; stdout so far:\n{}", self.out);
                }
            }
        }
    }

    /// Lets the guest go on and waits for umvm's exit: its code and stderr.
    fn finish(mut self) -> (i32, String, String) {
        self.child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        self.until("done");
        let deadline = Instant::now() + T;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("umvm did not exit; stdout:\n{}", self.out);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.code().unwrap_or(-1), self.out, self.err.join().unwrap())
    }
}

/// The host pids of `root` and all its descendants.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The fields after the command name, which may hold spaces.
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r.to_string()) else { continue };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) {
            parent.push((pid, ppid));
        }
    }
    let mut all = vec![root];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        all.extend(parent.iter().filter(|&&(_, pp)| pp == p).map(|&(c, _)| c));
        i += 1;
    }
    all
}

/// The host's /proc/PID/maps line of the mapping starting at `addr` in a
/// process of umvm `root`'s tree: (offset, name).
fn host_mapping(root: u32, addr: u64) -> Option<(u64, String)> {
    let prefix = format!("{addr:08x}-");
    for pid in descendants(root) {
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else { continue };
        if let Some(l) = maps.lines().find(|l| l.starts_with(&prefix)) {
            let f: Vec<&str> = l.split_whitespace().collect();
            return Some((
                u64::from_str_radix(f.get(2)?, 16).ok()?,
                f.get(5..).map(|n| n.join(" ")).unwrap_or_default(),
            ));
        }
    }
    None
}

/// Boots from `cow` over `backing`, runs disk_direct ARGS and returns the
/// address it mapped the file at and the host's view of that mapping.
fn run(cfg: Config, cow: &Path, backing: &Path, file: &str, args: &[&str], start: &str) -> Option<(u64, String)> {
    let trace = TempDir::new("direct-trace");
    let mut argv = vec!["/bin/disk_direct", file];
    argv.extend_from_slice(args);
    let mut live = Live::start(cfg, &[ubd0(cow, backing)], &argv, &trace.path().join("trace"));
    live.until("ready");
    let addr = live
        .out
        .lines()
        .find_map(|l| l.strip_prefix("addr "))
        .and_then(|a| u64::from_str_radix(a, 16).ok())
        .unwrap_or_else(|| panic!("{cfg}: no address line:\n{}", live.out));
    let host = host_mapping(live.child.id(), addr);
    let (code, out, err) = live.finish();
    let rest: String = out.lines().skip_while(|l| l.starts_with("addr ")).map(|l| format!("{l}\n")).collect();
    assert_eq!(rest, format!("{}done\n", expected(start)), "{cfg} {args:?}: stderr:\n{err}");
    assert_eq!(code, 0, "{cfg}: stderr:\n{err}");
    host
}

/// The blocks `debugfs` lists for `file` in `img` (data and indirect).
fn blocks(img: &Path, file: &str) -> Vec<u64> {
    debugfs(img, &format!("blocks {file}")).split_whitespace().filter_map(|b| b.parse().ok()).collect()
}

/// A file whose blocks are contiguous is mapped from the backing image
/// (the host shows the image at the file's first block); after the guest
/// rewrote it, from the memfd, with the new bytes: first while the write
/// is only in umvm's cache, then, in a later boot, with its COW bits set.
#[test]
fn contiguous_files_map_straight_from_the_backing_image() {
    let dir = TempDir::new("disk-direct");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    std::fs::copy(guest_program("disk_direct"), tree.join("bin/disk_direct")).unwrap();
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::write(tree.join("data/direct.bin"), file_bytes(5)).unwrap();
    std::fs::write(tree.join("data/big.bin"), file_bytes(20)).unwrap();
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 32, &["-b", "4096"]);
    let (small, big) = (blocks(&backing, FILE), blocks(&backing, BIG));
    assert_eq!((small.len(), big.len()), (6, 22), "debugfs blocks: {small:?} {big:?}");
    // 21 data blocks and the indirect block, all in one run on the disk.
    if [&small, &big].iter().any(|b| b.windows(2).any(|w| w[1] != w[0] + 1)) {
        eprintln!("skipping: mke2fs did not put the files in contiguous blocks ({small:?}, {big:?})");
        return;
    }
    let image = std::fs::canonicalize(&backing).unwrap().display().to_string();
    for cfg in configs() {
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let _ = std::fs::remove_file(&cow);
        let host = run(cfg, &cow, &backing, FILE, &["past"], "START!!");
        assert_eq!(host, Some((small[0] * 4096, image.clone())), "{cfg}: the host's mapping");
        let host = run(cfg, &cow, &backing, BIG, &["past"], "START!!");
        assert_eq!(host, Some((big[0] * 4096, image.clone())), "{cfg}: the host's mapping of {BIG}");
        // Rewritten in this boot: the page is in umvm's cache, dirty.
        let host = run(cfg, &cow, &backing, FILE, &["rewrite"], "CHANGED");
        let name = host.map(|(_, n)| n).unwrap_or_default();
        assert!(name.starts_with("/memfd:umvm-ext2"), "{cfg}: after a rewrite the host maps {name:?}");
        // A later boot: the block is in the COW file.
        let host = run(cfg, &cow, &backing, FILE, &[], "CHANGED");
        let name = host.map(|(_, n)| n).unwrap_or_default();
        assert!(name.starts_with("/memfd:umvm-ext2"), "{cfg}: over a rewritten COW the host maps {name:?}");
    }
}
