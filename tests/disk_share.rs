//! One backing image shared by many guests (issue 7): 20 umvm processes
//! boot at once from one 200 MB ext2 image (50 files of 4 MiB of random
//! data, made by mke2fs -d), each through a COW file of its own, and each
//! guest reads every file (sha256sum). While all 20 are up, the host page
//! cache must hold the backing data once (Cached grows by about 200 MB,
//! not 20 times that), and no umvm may hold a private copy of it: umvm
//! reads clean backing sectors through a shared mapping of the backing
//! file, so its private memory stays well under the data's size and its
//! share (Pss) of that mapping is a fraction of what it maps (Rss).
//!
//! The backing file's pages are dropped from the page cache before the
//! guests boot (posix_fadvise DONTNEED after an fsync: just this file, no
//! root needed, and checked with mincore), so that the growth is theirs.

mod common;

use common::disk::*;
use common::*;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GUESTS: usize = 20;
const FILES: usize = 50;
const FILE_MB: usize = 4;
const DATA: u64 = (FILES * FILE_MB) as u64 * 1024 * 1024;
const MB: f64 = 1024.0 * 1024.0;

/// Each guest's init: reads every file, prints the sha256 of one (its own:
/// $1), then "ready", then waits for a line on stdin (sent once everything
/// is measured). cat, not sha256sum, reads them all: busybox sha256sum
/// reads 4 KiB at a time, 20 times slower through a debug build of umvm.
const GUEST: &str = "cat /data/* > /dev/null && sha256sum /data/$1 && echo ready && read line";

/// A field of /proc/meminfo or smaps, in bytes.
fn kb_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        * 1024
}

fn meminfo(name: &str) -> u64 {
    kb_field(&fs::read_to_string("/proc/meminfo").unwrap(), name)
}

/// How many bytes of `path` are in the host page cache (mincore).
fn resident(path: &Path) -> u64 {
    let f = fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    // SAFETY: a fresh read-only shared mapping of a file we opened; only
    // mincore looks at it, and it is unmapped before returning.
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0);
        assert_ne!(p, libc::MAP_FAILED, "mmap {}", path.display());
        let page = 4096;
        let mut vec = vec![0u8; len.div_ceil(page)];
        assert_eq!(libc::mincore(p, len, vec.as_mut_ptr()), 0);
        libc::munmap(p, len);
        vec.iter().filter(|&&b| b & 1 != 0).count() as u64 * page as u64
    }
}

/// Drops `path`'s pages from the host page cache.
fn drop_from_page_cache(path: &Path) {
    let f = fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    f.sync_all().unwrap();
    // SAFETY: advice on a file descriptor we own; no memory is involved.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(r, 0, "posix_fadvise");
}

/// Memory figures of one umvm process.
struct Usage {
    private: u64,
    rss: u64,
    pss: u64,
    /// Rss and Pss of its mappings of the backing file.
    backing_rss: u64,
    backing_pss: u64,
}

fn usage(pid: u32, backing: &Path) -> Usage {
    let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let (mut backing_rss, mut backing_pss) = (0, 0);
    let name = backing.to_string_lossy();
    // A mapping is a header line (address range ... path) and its fields.
    let mut lines = smaps.lines().peekable();
    while let Some(header) = lines.next() {
        let mut fields = String::new();
        while let Some(l) = lines.peek() {
            if l.split_whitespace().next().is_some_and(|w| w.contains('-') && !w.ends_with(':')) {
                break;
            }
            fields.push_str(lines.next().unwrap());
            fields.push('\n');
        }
        if header.ends_with(&*name) {
            backing_rss += kb_field(&fields, "Rss");
            backing_pss += kb_field(&fields, "Pss");
        }
    }
    Usage {
        private: kb_field(&rollup, "Private_Clean") + kb_field(&rollup, "Private_Dirty"),
        rss: kb_field(&rollup, "Rss"),
        pss: kb_field(&rollup, "Pss"),
        backing_rss,
        backing_pss,
    }
}

/// Kills the guests left running when a test fails.
struct Guests(Vec<Child>);

impl Drop for Guests {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn twenty_guests_share_one_backing_image() {
    let started = Instant::now();
    let dir = TempDir::new("disk-share");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    fs::create_dir(tree.join("data")).unwrap();
    let mut random = fs::File::open("/dev/urandom").unwrap();
    let mut buf = vec![0u8; FILE_MB << 20];
    let mut sums = Vec::new();
    for i in 0..FILES {
        std::io::Read::read_exact(&mut random, &mut buf).unwrap();
        let path = tree.join(format!("data/f{i:02}"));
        fs::write(&path, &buf).unwrap();
        let out = Command::new("sha256sum").arg(&path).output().unwrap();
        let sum = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string();
        sums.push(format!("{sum}  /data/f{i:02}\n"));
    }
    let backing = dir.path().join("backing.img");
    mke2fs(&tree, &backing, (DATA >> 20) as u32 + 48, &["-b", "4096"]);
    fs::remove_dir_all(tree.join("data")).unwrap();
    drop_from_page_cache(&backing);
    let before_resident = resident(&backing);
    assert!(before_resident < DATA / 100, "the backing file stayed in the page cache: {before_resident} bytes");
    let (cached_before, shmem_before) = (meminfo("Cached"), meminfo("Shmem"));
    let prepared = started.elapsed();

    let mut guests = Guests(Vec::new());
    let mut readers = Vec::new();
    for g in 0..GUESTS {
        let cow = dir.path().join(format!("guest{g}.cow"));
        let mut child = Command::new(umvm())
            .args(["run", "--trap", traps()[g % traps().len()].name()])
            .arg(ubd0(&cow, &backing))
            .args(["--", "/bin/sh", "-c", GUEST, "sh", &format!("f{:02}", g % FILES)])
            .env_remove("RUST_LOG")
            .env_remove("UMVM_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        guests.0.push(child);
        // Each guest's lines up to "ready", read on a thread of its own.
        readers.push(std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap_or_default();
                if line == "ready" {
                    return (text, true);
                }
                text.push_str(&line);
                text.push('\n');
            }
            (text, false)
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    for (g, r) in readers.into_iter().enumerate() {
        while !r.is_finished() {
            assert!(Instant::now() < deadline, "guest {g} not ready after 300 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let (text, ready) = r.join().unwrap();
        assert!(ready, "guest {g} ended before it was ready; it printed:\n{text}");
        assert_eq!(text, sums[g % FILES], "guest {g} read other data");
    }
    let booted = started.elapsed() - prepared;

    // All 20 are up, each having read all the data.
    let (cached_after, shmem_after) = (meminfo("Cached"), meminfo("Shmem"));
    let growth = cached_after.saturating_sub(cached_before);
    let shmem_growth = shmem_after.saturating_sub(shmem_before);
    let after_resident = resident(&backing);
    let cows: Vec<PathBuf> = (0..GUESTS).map(|g| dir.path().join(format!("guest{g}.cow"))).collect();
    let cow_resident: u64 = cows.iter().map(|c| resident(c)).sum();
    let cow_allocated: u64 = cows.iter().map(|c| fs::metadata(c).unwrap().blocks() * 512).sum();
    let usages: Vec<Usage> = guests.0.iter().map(|c| usage(c.id(), &backing)).collect();
    println!(
        "{GUESTS} guests, {} MiB of data: booted and read in {:.1} s (image made in {:.1} s)",
        DATA >> 20,
        booted.as_secs_f64(),
        prepared.as_secs_f64()
    );
    println!(
        "host Cached: {:.0} -> {:.0} MiB (+{:.0} MiB); backing file resident {:.0} MiB (was {:.0})",
        cached_before as f64 / MB,
        cached_after as f64 / MB,
        growth as f64 / MB,
        after_resident as f64 / MB,
        before_resident as f64 / MB
    );
    println!(
        "host Shmem +{:.1} MiB; the {GUESTS} COW files: {:.1} MiB allocated, {:.1} MiB resident",
        shmem_growth as f64 / MB,
        cow_allocated as f64 / MB,
        cow_resident as f64 / MB
    );
    println!("umvm   private MiB   Rss MiB   Pss MiB   backing Rss MiB   backing Pss MiB");
    for (g, u) in usages.iter().enumerate() {
        println!(
            "{g:>4}   {:>11.1}   {:>7.1}   {:>7.1}   {:>15.1}   {:>15.1}",
            u.private as f64 / MB,
            u.rss as f64 / MB,
            u.pss as f64 / MB,
            u.backing_rss as f64 / MB,
            u.backing_pss as f64 / MB
        );
    }

    assert!(after_resident >= DATA * 9 / 10, "the guests' reads did not go through the host page cache");
    // Where a copy per guest could hide in the page cache: the COW files
    // (umvm copying backing sectors up) and shared memory (a memfd cache).
    assert!(cow_allocated < DATA / 4 && cow_resident < DATA / 4, "the COW files hold {cow_allocated} bytes");
    assert!(shmem_growth < DATA / 2, "Shmem grew by {shmem_growth} bytes");
    // The whole page cache: the data about once, far from once per guest.
    // A loose bound, as other processes on a shared host (builds) change
    // Cached by hundreds of MB in a minute, either way.
    assert!(growth < GUESTS as u64 / 2 * DATA, "the page cache grew by {growth} bytes for {DATA} bytes of data");
    for (g, u) in usages.iter().enumerate() {
        assert!(u.private < DATA / 4, "umvm {g} holds {} bytes of private memory", u.private);
        assert!(u.backing_rss > 0, "umvm {g} does not map the backing file");
        // Each mapped page is shared with the other umvms (Pss is Rss
        // divided among the sharers): far less than the whole here.
        assert!(u.backing_pss * 4 < u.backing_rss, "umvm {g}: backing Pss {} of Rss {}", u.backing_pss, u.backing_rss);
    }

    for (g, c) in guests.0.iter_mut().enumerate() {
        c.stdin.take().unwrap().write_all(b"go\n").unwrap_or_else(|e| panic!("guest {g}: {e}"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (g, c) in guests.0.iter_mut().enumerate() {
        let status = loop {
            if let Some(status) = c.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "guest {g} did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "guest {g}: {status}");
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
