//! `cargo bench --bench cow`: COW disk I/O beside raw blockio, in one run.
//!
//! On one backing image under target/ (the repository's filesystem), 4 KiB
//! random I/O at queue depth 1, each for a fixed time:
//! - raw read: `BlockDevice::read_at` on the backing image (O_DIRECT);
//! - COW clean read: sectors whose bit is clear, served from the shared
//!   backing mapping (page cache: expect it above raw O_DIRECT reads);
//! - COW written read: sectors whose bit is set, O_DIRECT from the COW file;
//! - raw write: `BlockDevice::write_at` on a scratch image of the same size
//!   (writing the backing image would invalidate the COW file);
//! - COW write: into the COW file (first writes and overwrites), with the
//!   bitmap persisted by a flush every 64 writes, as a guest's FLUSH would.
//!
//! Each COW figure is printed as a ratio to its raw counterpart.
//! Env: COW_BENCH_MB (image size, default 256), COW_BENCH_SECS (per
//! figure, default 1.0). Other arguments (cargo's `--bench`) are ignored.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use umvm_blockio::{BlockDevice, DeviceOptions, DirectMode, Engine, EngineConfig, FileId, UbdFlags};
use umvm_cow::{create, CowDevice, CowOptions};

const IO: usize = 4096;

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `f(offset)` on random 4 KiB-aligned offsets below `span` for
/// `secs`; returns operations per second.
fn timed(secs: f64, span: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let blocks = span / IO as u64;
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while start.elapsed() < limit {
        for _ in 0..64 {
            f(rng.next() % blocks * IO as u64);
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn write_image(path: &Path, bytes: u64) {
    use std::io::Write;
    let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8 + 1).collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..bytes >> 20 {
        f.write_all(&chunk).unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();
}

fn raw(path: &Path, read_only: bool, eng: &mut Engine) -> (BlockDevice, FileId) {
    let flags = UbdFlags { read_only, shared: true, ..Default::default() };
    let dev =
        BlockDevice::open(path, DeviceOptions { flags, direct: DirectMode::Require, expected_size: None }).unwrap();
    let id = dev.register(eng).unwrap();
    (dev, id)
}

fn main() {
    let mb: u64 = env_or("COW_BENCH_MB", 256);
    let secs: f64 = env_or("COW_BENCH_SECS", 1.0);
    let size = mb << 20;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/cow-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let backing = dir.join("backing.img");
    let scratch = dir.join("scratch.img");
    let cow = dir.join("bench.cow");
    for p in [&backing, &scratch, &cow] {
        let _ = std::fs::remove_file(p);
    }
    write_image(&backing, size);
    write_image(&scratch, size);
    create(&cow, &backing, false).unwrap();

    let mut eng = Engine::new(EngineConfig::default()).unwrap();
    let mut buf = vec![0u8; IO];
    let (rb, rb_id) = raw(&backing, true, &mut eng);
    let (rs, rs_id) = raw(&scratch, false, &mut eng);
    let mut dev = CowDevice::open(&cow, &CowOptions::default(), &mut eng).unwrap();
    assert!(dev.is_direct(), "the COW file should be O_DIRECT here");

    // The first half of the disk stays clean, the second half is written.
    let half = size / 2;
    let fill = vec![0x5au8; 1 << 20];
    for off in (half..size).step_by(fill.len()) {
        dev.write(&mut eng, off, &fill).unwrap();
    }
    dev.flush(&mut eng).unwrap();

    let raw_read = timed(secs, size, |o| rb.read_at(&mut eng, rb_id, o, &mut buf).unwrap());
    let clean = timed(secs, half, |o| dev.read(&mut eng, o, &mut buf).unwrap());
    let written = timed(secs, half, |o| dev.read(&mut eng, half + o, &mut buf).unwrap());
    let data = vec![0xa5u8; IO];
    let raw_write = timed(secs, size, |o| rs.write_at(&mut eng, rs_id, o, &data).unwrap());
    let mut n = 0u32;
    let cow_write = timed(secs, size, |o| {
        dev.write(&mut eng, o, &data).unwrap();
        n += 1;
        if n.is_multiple_of(64) {
            dev.flush(&mut eng).unwrap();
        }
    });
    dev.close(&mut eng).unwrap();

    println!("cow bench: 4 KiB random, QD1, {mb} MiB image, {:?} engine, {secs} s per figure", eng.kind());
    println!("{:<34} {:>12} {:>8}", "", "IOPS", "ratio");
    println!("{:<34} {:>12.0} {:>8}", "raw blockio read (O_DIRECT)", raw_read, "1.00");
    println!("{:<34} {:>12.0} {:>7.2}x", "COW read, clean (backing mmap)", clean, clean / raw_read);
    println!("{:<34} {:>12.0} {:>7.2}x", "COW read, written (COW file)", written, written / raw_read);
    println!("{:<34} {:>12.0} {:>8}", "raw blockio write (O_DIRECT)", raw_write, "1.00");
    println!("{:<34} {:>12.0} {:>7.2}x", "COW write (flush every 64)", cow_write, cow_write / raw_write);
    for p in [&backing, &scratch, &cow] {
        let _ = std::fs::remove_file(p);
    }
}
