//! `cargo bench --bench ubd`: reads through a ubd disk's page cache beside
//! pread(2) on the host file, in one run.
//!
//! One image under target/ (the repository's filesystem), read:
//! - sequentially, whole disk, in 4 KiB reads (what ext2 issues; the
//!   disk's read-ahead turns them into up-to-128 KiB O_DIRECT requests);
//! - at random 4 KiB offsets, for a fixed time;
//!
//! through three paths: pread on the host file (buffered, warm: the host
//! page cache holds the file after the first pass), a plain ubd (O_DIRECT
//! misses into umvm's own 64 MiB cache), and a COW ubd with nothing written
//! (every page served from the backing file's shared mapping). Each ubd
//! figure is printed as a ratio to pread.
//! Env: UBD_BENCH_MB (image size, default 256), UBD_BENCH_SECS (per random
//! figure, default 1.0). Other arguments (cargo's `--bench`) are ignored.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use umvm_blockio::UbdFlags;
use umvm_core::dev::ubd::Ubd;
use umvm_cow::UbdSpec;

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

/// MiB/s of reading `size` bytes front to back, 4 KiB at a time.
fn sequential(size: u64, mut f: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for off in (0..size).step_by(IO) {
        f(off);
    }
    (size >> 20) as f64 / start.elapsed().as_secs_f64()
}

/// Random 4 KiB reads per second below `span`, for `secs`.
fn random(secs: f64, span: u64, mut f: impl FnMut(u64)) -> f64 {
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

fn spec(file: &Path, flags: &str) -> UbdSpec {
    UbdSpec { unit: 0, flags: UbdFlags::parse(flags).unwrap(), file: file.to_path_buf(), backing: None, serial: None }
}

fn main() {
    let mb: u64 = env_or("UBD_BENCH_MB", 256);
    let secs: f64 = env_or("UBD_BENCH_SECS", 1.0);
    let size = mb << 20;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ubd-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("image.img");
    let cow = dir.join("image.cow");
    for p in [&image, &cow] {
        let _ = std::fs::remove_file(p);
    }
    write_image(&image, size);
    umvm_cow::create(&cow, &image, false).unwrap();

    let mut buf = vec![0u8; IO];
    let host = std::fs::File::open(&image).unwrap();
    // Warm the host page cache, as the COW path's mapping will be.
    sequential(size, |o| host.read_exact_at(&mut buf, o).unwrap());
    let pread_seq = sequential(size, |o| host.read_exact_at(&mut buf, o).unwrap());
    let pread_rand = random(secs, size, |o| host.read_exact_at(&mut buf, o).unwrap());

    // Read-only and shared: both disks use the image at once.
    let plain = Ubd::open(&spec(&image, "rc"), false).unwrap();
    let plain_seq = sequential(size, |o| plain.read_at(o, &mut buf).unwrap());
    let plain_rand = random(secs, size, |o| plain.read_at(o, &mut buf).unwrap());
    let plain_cached = plain.cached_bytes();
    drop(plain);

    let cowdisk = Ubd::open(&spec(&cow, ""), false).unwrap();
    let cow_seq = sequential(size, |o| cowdisk.read_at(o, &mut buf).unwrap());
    let cow_rand = random(secs, size, |o| cowdisk.read_at(o, &mut buf).unwrap());
    assert_eq!(cowdisk.cached_bytes(), 0, "clean backing data is never cached in umvm");
    drop(cowdisk);

    println!("ubd bench: {mb} MiB image, 4 KiB reads; random for {secs} s");
    println!("{:<40} {:>12} {:>8} {:>12} {:>8}", "", "seq MiB/s", "ratio", "rand IOPS", "ratio");
    println!(
        "{:<40} {:>12.0} {:>8} {:>12.0} {:>8}",
        "pread, host page cache (warm)", pread_seq, "1.00", pread_rand, "1.00"
    );
    println!(
        "{:<40} {:>12.0} {:>7.2}x {:>12.0} {:>7.2}x",
        format!("plain ubd (O_DIRECT, {} MiB cached)", plain_cached >> 20),
        plain_seq,
        plain_seq / pread_seq,
        plain_rand,
        plain_rand / pread_rand
    );
    println!(
        "{:<40} {:>12.0} {:>7.2}x {:>12.0} {:>7.2}x",
        "COW ubd, clean (backing mmap)",
        cow_seq,
        cow_seq / pread_seq,
        cow_rand,
        cow_rand / pread_rand
    );
    for p in [&image, &cow] {
        let _ = std::fs::remove_file(p);
    }
}
