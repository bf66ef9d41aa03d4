//! ubd disks through their page cache, over plain images and COW files:
//! random reads, writes, flushes and reopens against an in-memory model;
//! where data is cached (never clean backing data); writeback by the dirty
//! limit, the timer and its thread, and none of it while a filesystem holds
//! the disk; the write-ahead log applied at open; errnos; and ext2 over a
//! disk, checked by e2fsck after `cow merge`.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use umvm_blockio::UbdFlags;
use umvm_core::dev::ubd::{Ubd, UbdConfig};
use umvm_core::errno::Errno;
use umvm_core::fs::ext2::Ext2;
use umvm_cow::{MergeOptions, MergeTarget, UbdSpec};

/// A fresh path on the repository's filesystem (O_DIRECT works there).
fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ubd");
    std::fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{name}-{}-{n}", std::process::id()))
}

/// Never zero, different in every sector.
fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 7 + i / 512 * 13) % 251) as u8 + 1).collect()
}

fn file_with(name: &str, data: &[u8]) -> PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, data).unwrap();
    path
}

fn spec(file: &Path, backing: Option<&Path>, flags: &str) -> UbdSpec {
    UbdSpec {
        unit: 0,
        flags: UbdFlags::parse(flags).unwrap(),
        file: file.to_path_buf(),
        backing: backing.map(Path::to_path_buf),
        serial: None,
    }
}

/// A COW file (created as `umvm cow create` does) over a new backing file.
fn cow_disk(name: &str, size: usize) -> (PathBuf, PathBuf, Vec<u8>) {
    let data = pattern(size);
    let back = file_with(&format!("{name}.img"), &data);
    let cow = temp_path(&format!("{name}.cow"));
    umvm_cow::create(&cow, &back, false).unwrap();
    (cow, back, data)
}

fn small_cache() -> UbdConfig {
    UbdConfig { cache_limit: 1 << 20, dirty_limit: 256 << 10, ..UbdConfig::default() }
}

/// xorshift64*: a seeded, reproducible stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn read_all(ubd: &Ubd) -> Vec<u8> {
    let mut got = vec![0u8; ubd.size() as usize];
    ubd.read_at(0, &mut got).unwrap();
    got
}

/// Random writes, reads, flushes and reopens, compared with `model`.
fn random_steps(open: &dyn Fn() -> Ubd, model: &mut [u8], seed: u64, steps: usize) {
    let size = model.len() as u64;
    let mut rng = Rng(seed);
    let mut ubd = open();
    for step in 0..steps {
        // Offsets clustered around page edges, and anywhere.
        let offset = match rng.below(3) {
            0 => (rng.below(size / 4096) * 4096 + rng.below(16)).saturating_sub(8).min(size - 1),
            1 => size.saturating_sub(rng.below(10_000) + 1),
            _ => rng.below(size),
        };
        let max_len = if rng.below(4) == 0 { 300_000 } else { 9000 };
        let len = (1 + rng.below(max_len)).min(size - offset) as usize;
        match rng.below(20) {
            0..=8 => {
                let seed = rng.next() as u8;
                let src: Vec<u8> = (0..len).map(|i| seed.wrapping_add((i / 300) as u8)).collect();
                ubd.write_at(offset, &src).unwrap();
                model[offset as usize..][..len].copy_from_slice(&src);
            }
            9..=16 => {
                let mut got = vec![0u8; len];
                ubd.read_at(offset, &mut got).unwrap();
                assert!(got == model[offset as usize..][..len], "step {step}: read {offset}+{len} differs");
            }
            17 | 18 => {
                ubd.flush().unwrap();
                assert_eq!(ubd.dirty_bytes(), 0);
            }
            _ => {
                // Reopen: by close, or by drop (which writes back too).
                if rng.below(2) == 0 {
                    ubd.close().unwrap();
                } else {
                    drop(ubd);
                }
                ubd = open();
            }
        }
        assert!(ubd.dirty_bytes() <= ubd.config().dirty_limit, "step {step}: dirty limit");
        assert!(ubd.cached_bytes() <= ubd.config().cache_limit, "step {step}: cache limit");
    }
    assert!(read_all(&ubd) == model, "whole disk differs before flush");
    ubd.flush().unwrap();
    drop(ubd);
    assert!(read_all(&open()) == model, "whole disk differs after reopen");
}

#[test]
fn plain_image_matches_a_model() {
    // Not a multiple of the page: the last page is partial.
    let size = (6 << 20) + 1536;
    let mut model = pattern(size);
    let img = file_with("plain-model.img", &model);
    let open = || Ubd::open_with(&spec(&img, None, ""), false, small_cache()).unwrap();
    random_steps(&open, &mut model, 0x5eed_0001, 400);
    assert!(std::fs::read(&img).unwrap() == model, "the host file differs");
}

#[test]
fn cow_disk_matches_a_model_and_merges() {
    let size = (6 << 20) + 4096;
    let (cow, back, mut model) = cow_disk("cow-model", size);
    let open = || Ubd::open_with(&spec(&cow, None, ""), false, small_cache()).unwrap();
    random_steps(&open, &mut model, 0x5eed_0002, 400);
    assert_eq!(std::fs::read(&back).unwrap(), pattern(size), "the backing file is never written");
    let merged = temp_path("cow-model-merged.img");
    umvm_cow::merge(&cow, &MergeTarget::NewImage(merged.clone()), &MergeOptions::default(), |_, _| {}).unwrap();
    assert!(std::fs::read(&merged).unwrap() == model, "the merged image differs");
}

#[test]
fn clean_backing_reads_are_not_cached_private_reads_are() {
    let size = 4 << 20;
    let (cow, _back, data) = cow_disk("clean", size);
    let ubd = Ubd::open(&spec(&cow, None, ""), false).unwrap();
    assert!(read_all(&ubd) == data);
    assert_eq!(ubd.cached_bytes(), 0, "clean backing data is the host's to cache");
    // Private data: written, written back, evicted by reopening, read.
    ubd.write_at(1 << 20, &[7u8; 64 << 10]).unwrap();
    ubd.close().unwrap();
    let ubd = Ubd::open(&spec(&cow, None, ""), false).unwrap();
    let mut got = vec![0u8; 64 << 10];
    ubd.read_at(1 << 20, &mut got).unwrap();
    assert!(got.iter().all(|&b| b == 7));
    assert_eq!(ubd.cached_bytes(), 64 << 10, "exactly the private pages are cached");
    // Reading around them caches nothing more.
    let mut around = vec![0u8; 2 << 20];
    ubd.read_at(0, &mut around).unwrap();
    assert_eq!(ubd.cached_bytes(), 64 << 10);
    assert!(
        around[..1 << 20] == data[..1 << 20]
            && around[(1 << 20) + (64 << 10)..] == data[(1 << 20) + (64 << 10)..2 << 20]
    );

    // A plain image is all private.
    let img = file_with("private.img", &data);
    let ubd = Ubd::open(&spec(&img, None, ""), false).unwrap();
    let mut page = vec![0u8; 4096];
    ubd.read_at(8192, &mut page).unwrap();
    assert_eq!(page, data[8192..12288]);
    assert_eq!(ubd.cached_bytes(), 4096, "a random read reads no more than it needs");
}

#[test]
fn sequential_reads_read_ahead_and_the_cache_keeps_its_limit() {
    let size = 8 << 20;
    let data = pattern(size);
    let img = file_with("readahead.img", &data);
    let config = UbdConfig { cache_limit: 1 << 20, ..UbdConfig::default() };
    let ubd = Ubd::open_with(&spec(&img, None, ""), false, config).unwrap();
    let mut buf = vec![0u8; 4096];
    for i in 0..16u64 {
        ubd.read_at(i * 4096, &mut buf).unwrap();
        assert_eq!(buf, data[(i * 4096) as usize..][..4096]);
    }
    assert!(ubd.cached_bytes() > 16 * 4096 + 64 * 1024, "read ahead: {} cached", ubd.cached_bytes());
    for i in 16..(size as u64 / 4096) {
        ubd.read_at(i * 4096, &mut buf).unwrap();
        assert_eq!(buf, data[(i * 4096) as usize..][..4096], "page {i}");
    }
    assert!(ubd.cached_bytes() <= 1 << 20, "{} cached past the 1 MiB limit", ubd.cached_bytes());
}

#[test]
fn the_dirty_limit_writes_back_oldest_first() {
    let size = 4 << 20;
    let data = pattern(size);
    let img = file_with("dirty-limit.img", &data);
    let config = UbdConfig { cache_limit: 4 << 20, dirty_limit: 256 << 10, ..UbdConfig::default() };
    let ubd = Ubd::open_with(&spec(&img, None, ""), false, config).unwrap();
    let host = std::fs::File::open(&img).unwrap();
    let mut on_host = vec![0u8; 4096];
    for i in 0..100u64 {
        ubd.write_at(i * 4096, &[i as u8 + 1; 4096]).unwrap();
        assert!(ubd.dirty_bytes() <= 256 << 10);
    }
    // Page 0, the oldest, is on the host; page 99, the newest, is not yet.
    host.read_exact_at(&mut on_host, 0).unwrap();
    assert!(on_host.iter().all(|&b| b == 1), "oldest page not written back");
    host.read_exact_at(&mut on_host, 99 * 4096).unwrap();
    assert_eq!(on_host, data[99 * 4096..100 * 4096], "newest page written back early");
    assert!(ubd.dirty_bytes() > 0);
    ubd.flush().unwrap();
    host.read_exact_at(&mut on_host, 99 * 4096).unwrap();
    assert!(on_host.iter().all(|&b| b == 100));
}

#[test]
fn a_held_disk_commits_only_when_told() {
    let size = 4 << 20;
    let data = pattern(size);
    let img = file_with("held.img", &data);
    let config = UbdConfig { cache_limit: 4 << 20, dirty_limit: 256 << 10, ..UbdConfig::default() };
    let ubd = Ubd::open_with(&spec(&img, None, ""), false, config).unwrap();
    ubd.hold_writeback(true);
    let start = Instant::now();
    assert!(!ubd.commit_due(start), "nothing dirty");
    for i in 0..100u64 {
        ubd.write_at(i * 4096, &[i as u8 + 1; 4096]).unwrap();
    }
    // Past the dirty limit, and nothing written back: the holder decides.
    assert_eq!(ubd.dirty_bytes(), 100 * 4096);
    assert!(ubd.commit_due(start), "over the dirty limit");
    let later = start + ubd.config().dirty_expire + Duration::from_secs(1);
    assert_eq!(ubd.writeback_tick(later).unwrap(), 0, "the timer leaves a held disk alone");
    assert_eq!(std::fs::read(&img).unwrap(), data, "nothing reached the image");
    ubd.flush().unwrap();
    assert_eq!(ubd.dirty_bytes(), 0);
    let on_host = std::fs::read(&img).unwrap();
    assert!((0..100).all(|i| on_host[i * 4096..(i + 1) * 4096].iter().all(|&b| b == i as u8 + 1)));
    // The log is emptied by the commit, and goes with the disk.
    let log = umvm_cow::wal::log_path(&img);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
    // Young dirty data under the limit is not due; old data is.
    ubd.write_at(0, &[7u8; 4096]).unwrap();
    assert!(!ubd.commit_due(Instant::now()));
    assert!(ubd.commit_due(Instant::now() + ubd.config().dirty_expire));
    // Given back, the disk writes back on its own again.
    ubd.hold_writeback(false);
    assert_eq!(ubd.writeback_tick(Instant::now() + ubd.config().dirty_expire).unwrap(), 4096);
    drop(ubd);
    assert!(!log.exists(), "a disk closed cleanly leaves no log");
}

#[test]
fn opening_a_disk_applies_a_complete_log_and_discards_a_torn_one() {
    let (cow, _back, data) = cow_disk("replay", 2 << 20);
    // A commit umvm was killed in after its log was durable.
    let mut log = umvm_cow::wal::LogFile::new(&cow);
    log.write(2 << 20, &[(8192, &[3u8; 4096][..]), (1 << 20, &[4u8; 8192][..])]).unwrap();
    let ubd = Ubd::open(&spec(&cow, None, ""), false).unwrap();
    let mut got = vec![0u8; 2 << 20];
    ubd.read_at(0, &mut got).unwrap();
    let mut want = data.clone();
    want[8192..12288].fill(3);
    want[1 << 20..(1 << 20) + 8192].fill(4);
    assert!(got == want, "the log's pages are the disk's");
    ubd.close().unwrap();
    // One torn while it was written: the disk stays as it was.
    let torn = log_bytes(&cow, &[(0, &[5u8; 4096][..])]);
    std::fs::write(umvm_cow::wal::log_path(&cow), &torn[..torn.len() - 1]).unwrap();
    let ubd = Ubd::open(&spec(&cow, None, ""), false).unwrap();
    ubd.read_at(0, &mut got).unwrap();
    assert!(got == want, "a torn log changes nothing");
    ubd.close().unwrap();
    let merged = temp_path("replay-merged.img");
    umvm_cow::merge(&cow, &MergeTarget::NewImage(merged.clone()), &MergeOptions::default(), |_, _| {}).unwrap();
    assert!(std::fs::read(&merged).unwrap() == want);
}

/// The bytes of a complete log of `extents` for the 2 MiB disk `image`.
fn log_bytes(image: &Path, extents: &[(u64, &[u8])]) -> Vec<u8> {
    let scratch = temp_path("log-scratch");
    let mut log = umvm_cow::wal::LogFile::new(&scratch);
    log.write(2 << 20, extents).unwrap();
    let bytes = std::fs::read(umvm_cow::wal::log_path(&scratch)).unwrap();
    log.remove().unwrap();
    assert!(!umvm_cow::wal::log_path(image).exists());
    bytes
}

/// Sectors the COW file's bitmap on disk names (read behind the disk's
/// back: `inspect` would want the lock the open disk holds).
fn bits_on_disk(cow: &Path) -> u32 {
    let bytes = std::fs::read(cow).unwrap();
    let header = umvm_cow::Header::parse(&bytes[..umvm_cow::header::MAX_LEN]).unwrap().unwrap();
    let g = header.geometry().unwrap();
    bytes[g.bitmap_offset as usize..][..g.bitmap_len as usize].iter().map(|b| b.count_ones()).sum()
}

#[test]
fn writeback_tick_writes_and_syncs_old_dirty_data() {
    let (cow, _back, _) = cow_disk("tick", 2 << 20);
    let ubd = Ubd::open(&spec(&cow, None, ""), false).unwrap();
    let start = Instant::now();
    ubd.write_at(4096, &[9u8; 8192]).unwrap();
    assert_eq!(ubd.dirty_bytes(), 8192);
    assert_eq!(ubd.writeback_tick(start).unwrap(), 0, "too young");
    assert_eq!(ubd.dirty_bytes(), 8192);
    assert_eq!(bits_on_disk(&cow), 0, "nothing on disk yet");
    let later = start + ubd.config().dirty_expire + Duration::from_secs(1);
    assert_eq!(ubd.writeback_tick(later).unwrap(), 8192);
    assert_eq!(ubd.dirty_bytes(), 0);
    // Durable: the bitmap on disk names the sectors (and the data is there).
    assert_eq!(bits_on_disk(&cow), 16);
    let cached = ubd.cached_bytes();
    let mut got = vec![0u8; 8192];
    ubd.read_at(4096, &mut got).unwrap();
    assert!(got.iter().all(|&b| b == 9));
    assert_eq!(ubd.cached_bytes(), cached, "written-back pages stay cached, clean");
}

#[test]
fn the_writeback_thread_ticks_until_the_disk_is_dropped() {
    let data = pattern(1 << 20);
    let img = file_with("thread.img", &data);
    let config = UbdConfig { dirty_expire: Duration::from_millis(50), ..UbdConfig::default() };
    let ubd = Arc::new(Ubd::open_with(&spec(&img, None, ""), false, config).unwrap());
    ubd.start_writeback_thread(Duration::from_millis(20)).unwrap();
    ubd.write_at(0, &[5u8; 4096]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ubd.dirty_bytes() > 0 {
        assert!(Instant::now() < deadline, "the thread never wrote back");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut on_host = vec![0u8; 4096];
    std::fs::File::open(&img).unwrap().read_exact_at(&mut on_host, 0).unwrap();
    assert!(on_host.iter().all(|&b| b == 5));
    let weak = Arc::downgrade(&ubd);
    drop(ubd);
    assert!(weak.upgrade().is_none(), "the thread holds no reference between ticks");
    // The image's lock went with the disk: it opens again at once.
    Ubd::open(&spec(&img, None, ""), false).unwrap();
}

#[test]
fn errors_carry_the_guests_errno_and_the_file() {
    let img = file_with("errors.img", &pattern(1 << 20));
    let ro = Ubd::open(&spec(&img, None, "r"), false).unwrap();
    assert!(ro.read_only());
    let e = ro.write_at(0, b"x").unwrap_err();
    assert_eq!(e.errno(), Errno::EROFS);
    assert!(e.to_string().contains("errors.img"), "{e}");
    let mut b = [0u8; 2];
    assert_eq!(ro.read_at((1 << 20) - 1, &mut b).unwrap_err().errno(), Errno::EIO);
    drop(ro);
    let rw = Ubd::open(&spec(&img, None, ""), false).unwrap();
    assert_eq!(rw.write_at(1 << 20, b"x").unwrap_err().errno(), Errno::ENOSPC);
    // A second writer is refused while the disk is open.
    let e = Ubd::open(&spec(&img, None, ""), false).unwrap_err();
    assert!(e.to_string().contains("errors.img") && e.errno() == Errno::EBUSY, "{e}");
    let e = Ubd::open(&spec(&temp_path("missing.img"), None, ""), false).unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT, "{e}");
}

fn have(cmd: &str) -> bool {
    let ok = Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "needs {cmd}");
        eprintln!("SKIPPED: {cmd} not found");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_file(fs: &Ext2<Arc<Ubd>>, name: &[u8]) -> Vec<u8> {
    let root = fs.inode(2).unwrap();
    let ino = fs.lookup(&root, name).unwrap().expect("the file exists");
    let inode = fs.inode(ino).unwrap();
    let mut buf = vec![0u8; inode.size as usize];
    assert_eq!(fs.read(&inode, 0, &mut buf).unwrap(), buf.len());
    buf
}

#[test]
fn ext2_over_a_cow_disk_reads_writes_and_passes_e2fsck_after_merge() {
    if !(have("mke2fs") && have("e2fsck") && have("debugfs")) {
        return;
    }
    for block_size in ["1024", "4096"] {
        let tree = temp_path("ext2-tree");
        std::fs::create_dir_all(&tree).unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(tree.join("big.bin"), &big).unwrap();
        std::fs::write(tree.join("hello.txt"), b"hello from the backing image\n").unwrap();
        let back = temp_path("ext2-backing.img");
        run(Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext2", "-b", block_size, "-d"])
            .arg(&tree)
            .arg(&back)
            .arg("16M"));
        let cow = temp_path("ext2.cow");
        umvm_cow::create(&cow, &back, false).unwrap();

        let ubd = Arc::new(Ubd::open(&spec(&cow, None, ""), false).unwrap());
        let mut fs = Ext2::open(ubd.clone()).unwrap();
        assert_eq!(read_file(&fs, b"big.bin"), big);
        assert_eq!(read_file(&fs, b"hello.txt"), b"hello from the backing image\n");
        let written: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut inode = fs.create(2, b"new.bin", 0o644, 0, 0).unwrap();
        assert_eq!(fs.write(&mut inode, 0, &written).unwrap(), written.len());
        assert_eq!(read_file(&fs, b"new.bin"), written);
        ubd.flush().unwrap();
        drop(fs);
        drop(ubd);

        let ubd = Arc::new(Ubd::open(&spec(&cow, None, ""), false).unwrap());
        let fs = Ext2::open(ubd.clone()).unwrap();
        assert_eq!(read_file(&fs, b"new.bin"), written, "lost across reopen ({block_size})");
        assert_eq!(read_file(&fs, b"big.bin"), big);
        drop(fs);
        drop(ubd);

        let merged = temp_path("ext2-merged.img");
        umvm_cow::merge(&cow, &MergeTarget::NewImage(merged.clone()), &MergeOptions::default(), |_, _| {}).unwrap();
        run(Command::new("e2fsck").arg("-fn").arg(&merged));
        let out = temp_path("ext2-dumped");
        run(Command::new("debugfs").arg("-R").arg(format!("dump /new.bin {}", out.display())).arg(&merged));
        assert_eq!(std::fs::read(&out).unwrap(), written, "debugfs sees other bytes ({block_size})");
    }
}

/// umvm forks guests from a multithreaded process: a child holds copies of
/// every descriptor until it execs. Closing a disk must still release its
/// image at once.
#[test]
fn a_closed_disk_reopens_at_once_while_other_threads_fork() {
    let (cow, _back, _) = cow_disk("reopen", 1 << 20);
    let img = file_with("reopen.img", &pattern(1 << 20));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let forker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                Command::new("true").status().unwrap();
            }
        })
    };
    let result = std::panic::catch_unwind(|| {
        for i in 0..200 {
            let file = if i % 2 == 0 { &cow } else { &img };
            let ubd = Ubd::open(&spec(file, None, ""), false).unwrap_or_else(|e| panic!("reopen {i}: {e}"));
            ubd.write_at(0, &[i as u8; 4096]).unwrap();
            drop(ubd);
        }
    });
    stop.store(true, Ordering::Relaxed);
    forker.join().unwrap();
    result.unwrap();
}

#[test]
fn threads_share_a_disk() {
    let size = 4 << 20;
    let (cow, _back, data) = cow_disk("threads", size);
    let ubd = Arc::new(Ubd::open_with(&spec(&cow, None, ""), false, small_cache()).unwrap());
    let region = size as u64 / 4;
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let ubd = ubd.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234 + t);
                let mut model = vec![0u8; region as usize];
                ubd.read_at(t * region, &mut model).unwrap();
                for _ in 0..300 {
                    let off = rng.below(region - 10_000);
                    let len = 1 + rng.below(9_999) as usize;
                    if rng.below(2) == 0 {
                        let v = rng.next() as u8;
                        ubd.write_at(t * region + off, &vec![v; len]).unwrap();
                        model[off as usize..][..len].fill(v);
                    } else {
                        let mut got = vec![0u8; len];
                        ubd.read_at(t * region + off, &mut got).unwrap();
                        assert!(got == model[off as usize..][..len], "thread {t}: read {off}+{len} differs");
                    }
                }
                model
            })
        })
        .collect();
    let mut model = Vec::new();
    for w in workers {
        model.extend(w.join().unwrap());
    }
    assert_ne!(model, data);
    ubd.flush().unwrap();
    drop(ubd);
    assert!(read_all(&Ubd::open(&spec(&cow, None, ""), false).unwrap()) == model);
}

/// The bytes of `len` at `at` in the host file a direct source names.
fn mapped_bytes(src: &umvm_core::dev::ubd::DirectFile, at: u64, len: usize) -> Vec<u8> {
    let file = std::fs::File::open(format!("/proc/self/fd/{}", src.fd())).unwrap();
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, at).unwrap();
    buf
}

#[test]
fn direct_sources_are_clean_backing_ranges_and_read_only_images() {
    let (cow, back, data) = cow_disk("direct", 1 << 20);
    let ubd = Ubd::open(&spec(&cow, Some(&back), ""), false).unwrap();
    // Clean: the backing file at the same offset, read-only, its bytes.
    let (src, at) = ubd.direct_source(64 << 10, 32 << 10).expect("a clean range");
    assert_eq!(at, 64 << 10);
    assert_eq!(mapped_bytes(&src, at, 32 << 10), data[64 << 10..96 << 10]);
    // SAFETY: fcntl on an fd the source owns.
    let mode = unsafe { libc::fcntl(src.fd(), libc::F_GETFL) } & libc::O_ACCMODE;
    assert_eq!(mode, libc::O_RDONLY);
    // Unaligned, empty or past the end: none.
    assert!(ubd.direct_source(100, 4096).is_none());
    assert!(ubd.direct_source(0, 0).is_none());
    assert!(ubd.direct_source((1 << 20) - 4096, 8192).is_none());
    // One sector written: cached dirty, then in the COW file.
    ubd.write_at((80 << 10) + 512, b"x").unwrap();
    assert!(ubd.direct_source(64 << 10, 32 << 10).is_none(), "a dirty cached page");
    ubd.flush().unwrap();
    assert!(ubd.direct_source(64 << 10, 32 << 10).is_none(), "a sector in the COW file");
    assert!(ubd.direct_source(64 << 10, 16 << 10).is_some(), "the clean part before it");
    assert!(ubd.direct_source(84 << 10, 12 << 10).is_some(), "the clean part after it");
    drop(ubd);
    // A plain image: only when read-only (its blocks never change hands).
    let img = file_with("direct-plain.img", &data);
    let rw = Ubd::open(&spec(&img, None, ""), false).unwrap();
    assert!(rw.direct_source(0, 4096).is_none());
    drop(rw);
    let ro = Ubd::open(&spec(&img, None, "r"), false).unwrap();
    let (src, at) = ro.direct_source(8192, 4096).expect("a read-only image");
    assert_eq!(mapped_bytes(&src, at, 4096), data[8192..12288]);
}
