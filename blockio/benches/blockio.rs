//! `cargo bench -p umvm-blockio --bench blockio`: the engines against fio.
//!
//! Workloads on one O_DIRECT file under target/ (the repository's
//! filesystem): 4 KiB random reads and 1 MiB sequential reads and writes,
//! each at queue depths 1, 8 and 32, for the io_uring engine, the sync
//! engine and, in the same run as the ceiling, `fio --ioengine=io_uring
//! --direct=1` on the same file. Each figure is the median over the rounds
//! of a fixed-time run's throughput; each engine is printed as a ratio to
//! fio. Targets: >= 0.9x fio at QD32 sequential, >= 0.8x at QD32 random.
//! Without fio on the PATH (scripts/deps --test installs it) the fio column
//! is skipped with a message.
//!
//! Buffers: the engine's pool is on transparent huge pages for large
//! buffers (see `BufferPool::new`), so a 1 MiB request is one segment rather
//! than 256 4 KiB ones, which on virtio-blk without indirect descriptors
//! decides how many are at the device at once. For a like-for-like ceiling
//! fio then gets huge-page buffers too (`--mem=mmaphuge`), which needs
//! reserved hugetlb pages (`sysctl vm.nr_hugepages=64` is enough); without
//! them fio runs on malloc'd 4 KiB pages and the header says so, since its
//! sequential figures are then not a fair ceiling.
//!
//! Pinning: the bench pins itself to its first allowed CPU and gives fio the
//! same CPU (`--cpus_allowed`), so both submit from one CPU, as a per-CPU
//! loop does; the kernel's own workers are not pinned.
//!
//! Options: `--quick` (1 round of 0.5 s); env BLOCKIO_BENCH_ROUNDS (default
//! 3), BLOCKIO_BENCH_SECS (default 1.0), BLOCKIO_BENCH_MB (file size,
//! default 512), BLOCKIO_BENCH_ONLY (one case by fio's name: `randread`,
//! `read` or `write`), BLOCKIO_BENCH_QD (depths, comma-separated),
//! BLOCKIO_BENCH_RUNNERS (letters of the runners to run: `u`ring, `s`ync,
//! `f`io). Other arguments (cargo's `--bench`) are ignored.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use umvm_blockio::{
    BlockDevice, DeviceOptions, DirectMode, Engine, EngineChoice, EngineConfig, EngineKind, FileId, Op, Order, UbdFlags,
};

#[derive(Clone, Copy, PartialEq)]
enum Pattern {
    RandRead4k,
    SeqRead1m,
    SeqWrite1m,
}

impl Pattern {
    fn label(self) -> &'static str {
        match self {
            Pattern::RandRead4k => "4 KiB random read",
            Pattern::SeqRead1m => "1 MiB sequential read",
            Pattern::SeqWrite1m => "1 MiB sequential write",
        }
    }
    fn block(self) -> usize {
        if self == Pattern::RandRead4k {
            4096
        } else {
            1 << 20
        }
    }
    fn fio_rw(self) -> &'static str {
        match self {
            Pattern::RandRead4k => "randread",
            Pattern::SeqRead1m => "read",
            Pattern::SeqWrite1m => "write",
        }
    }
}

struct Settings {
    rounds: usize,
    secs: f64,
    size: u64,
    cpu: usize,
    /// Free 2 MiB hugetlb pages, for fio's buffers.
    huge_pages: u64,
}

/// The engine side: keeps `qd` requests in flight for `secs`; bytes per
/// second.
fn run_engine(kind: EngineKind, dev: &BlockDevice, pattern: Pattern, qd: usize, s: &Settings) -> f64 {
    let block = pattern.block();
    let mut engine = Engine::new(EngineConfig {
        queue_depth: 64,
        buffer_size: block,
        buffer_count: qd,
        max_files: 4,
        choice: EngineChoice::Force(kind),
    })
    .expect("engine");
    let id: FileId = dev.register(&mut engine).expect("register");
    let blocks = s.size / block as u64;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next_seq = 0u64;
    let mut next_offset = || {
        let b = if pattern == Pattern::RandRead4k {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % blocks
        } else {
            let b = next_seq % blocks;
            next_seq += 1;
            b
        };
        b * block as u64
    };
    let op = |buf, offset| match pattern {
        Pattern::SeqWrite1m => Op::Write { file: id, offset, buf, len: block },
        _ => Op::Read { file: id, offset, buf, len: block },
    };
    for i in 0..qd {
        let mut buf = engine.buffer().expect("buffer");
        buf.as_mut_slice().fill(0xA5);
        engine.push(op(buf, next_offset()), i as u64, Order::Any).expect("push");
    }
    engine.submit().expect("submit");
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(s.secs);
    let mut bytes = 0u64;
    let mut done = Vec::with_capacity(qd);
    loop {
        done.clear();
        engine.wait(1, &mut done).expect("wait");
        let now = Instant::now();
        for c in done.drain(..) {
            assert_eq!(c.result.expect("I/O"), block);
            bytes += block as u64;
            if now < until {
                engine.push(op(c.buffer.expect("buffer"), next_offset()), c.token, Order::Any).expect("push");
            }
        }
        if now >= until {
            break;
        }
        engine.submit().expect("submit");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut rest = Vec::new();
    engine.wait(engine.in_flight(), &mut rest).expect("drain");
    bytes as f64 / elapsed
}

/// fio on the same file, same pattern, depth and CPU; bytes per second.
fn run_fio(path: &Path, pattern: Pattern, qd: usize, s: &Settings) -> Option<f64> {
    let mut fio = Command::new("fio");
    if fio_huge(pattern, qd, s) {
        fio.arg("--mem=mmaphuge");
    }
    let out = fio
        .args([
            "--name=ceiling",
            "--ioengine=io_uring",
            "--direct=1",
            "--fixedbufs=1",
            "--registerfiles=1",
            "--time_based",
            "--output-format=json",
        ])
        .arg(format!("--filename={}", path.display()))
        .arg(format!("--rw={}", pattern.fio_rw()))
        .arg(format!("--bs={}", pattern.block()))
        .arg(format!("--iodepth={qd}"))
        .arg(format!("--size={}", s.size))
        .arg(format!("--runtime={}ms", (s.secs * 1000.0) as u64))
        .arg(format!("--cpus_allowed={}", s.cpu))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("fio failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let json = String::from_utf8_lossy(&out.stdout);
    // The sections, not the job option `"rw" : "write"`.
    let section = if pattern == Pattern::SeqWrite1m { "\"write\" : {" } else { "\"read\" : {" };
    let rest = &json[json.find(section)?..];
    let rest = &rest[rest.find("\"bw_bytes\"")? + "\"bw_bytes\"".len()..];
    let digits: String = rest.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether fio's buffers (`qd` blocks, plus its alignment slack) fit in the
/// free hugetlb pages.
fn fio_huge(pattern: Pattern, qd: usize, s: &Settings) -> bool {
    let need = (qd * pattern.block()).div_ceil(2 << 20) as u64 + 1;
    s.huge_pages >= need
}

/// HugePages_Free from /proc/meminfo if the huge page size is 2 MiB, else 0.
fn free_huge_pages() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    if field("Hugepagesize:") == Some(2048) {
        field("HugePages_Free:").unwrap_or(0)
    } else {
        0
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn pin_to_first_cpu() -> usize {
    // SAFETY: cpu_set_t is plain data; the calls read and write it only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        let cpu = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set)).unwrap_or(0);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
        cpu
    }
}

fn make_file(size: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/blockio-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join("bench.img");
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
        let mut f = std::fs::File::create(&path).expect("bench file");
        let chunk = vec![0x5Au8; 1 << 20];
        for _ in 0..size >> 20 {
            f.write_all(&chunk).expect("fill");
        }
        f.sync_all().expect("sync");
    }
    path
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let env = |k: &str| std::env::var(k).ok();
    let mb: u64 = env("BLOCKIO_BENCH_MB").and_then(|v| v.parse().ok()).unwrap_or(512);
    let s = Settings {
        rounds: if quick { 1 } else { env("BLOCKIO_BENCH_ROUNDS").and_then(|v| v.parse().ok()).unwrap_or(3) },
        secs: if quick { 0.5 } else { env("BLOCKIO_BENCH_SECS").and_then(|v| v.parse().ok()).unwrap_or(1.0) },
        size: mb << 20,
        cpu: pin_to_first_cpu(),
        huge_pages: free_huge_pages(),
    };
    let path = make_file(s.size);
    // Shared: fio opens the same file while the device holds it.
    let flags = UbdFlags::parse("c").expect("flags");
    let dev = BlockDevice::open(&path, DeviceOptions { flags, direct: DirectMode::Require, expected_size: None })
        .expect("O_DIRECT on the bench file");
    let have_fio = Command::new("fio").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have_fio {
        println!("fio not found: skipping the fio ceiling (scripts/deps --test installs it)");
    } else if !fio_huge(Pattern::SeqRead1m, 32, &s) {
        println!(
            "fio buffers: 4 KiB pages ({} free hugetlb pages), while the engine's large buffers are huge pages: \
             1 MiB ratios overstate the engine; `sysctl vm.nr_hugepages=64` for a like-for-like ceiling",
            s.huge_pages
        );
    }
    println!(
        "blockio bench: {} MiB file {}, O_DIRECT (alignment {}), pinned to CPU {}, {} round(s) of {} s, median",
        mb,
        path.display(),
        dev.alignment().offset,
        s.cpu,
        s.rounds,
        s.secs
    );
    println!(
        "{:<24} {:>3}  {:>12} {:>12} {:>12}  {:>7} {:>7}",
        "case", "QD", "uring", "sync", "fio", "uring/f", "sync/f"
    );
    let only = env("BLOCKIO_BENCH_ONLY");
    let runners = env("BLOCKIO_BENCH_RUNNERS");
    let qds: Vec<usize> =
        env("BLOCKIO_BENCH_QD").map_or(vec![1, 8, 32], |v| v.split(',').filter_map(|q| q.parse().ok()).collect());
    for pattern in [Pattern::RandRead4k, Pattern::SeqRead1m, Pattern::SeqWrite1m] {
        if only.as_deref().is_some_and(|o| o != pattern.fio_rw()) {
            continue;
        }
        for &qd in &qds {
            let (mut u, mut y, mut f) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..s.rounds {
                // Rotate who goes first, so that no runner always meets a
                // warmer (or a more tired) disk than the others.
                for who in (0..3).map(|i| (i + round) % 3) {
                    if runners.as_deref().is_some_and(|r| !r.contains(["u", "s", "f"][who])) {
                        continue;
                    }
                    match who {
                        0 => u.push(run_engine(EngineKind::Uring, &dev, pattern, qd, &s)),
                        1 => y.push(run_engine(EngineKind::Sync, &dev, pattern, qd, &s)),
                        _ if have_fio => f.extend(run_fio(&path, pattern, qd, &s)),
                        _ => {}
                    }
                }
            }
            let (u, y) = (median(u), median(y));
            let f = (!f.is_empty()).then(|| median(f));
            let unit = |bps: f64| {
                if pattern == Pattern::RandRead4k {
                    format!("{:.0} IOPS", bps / 4096.0)
                } else {
                    format!("{:.0} MiB/s", bps / (1 << 20) as f64)
                }
            };
            let ratio = |x: f64| f.map_or("-".to_string(), |f| format!("{:.2}x", x / f));
            println!(
                "{:<24} {:>3}  {:>12} {:>12} {:>12}  {:>7} {:>7}",
                pattern.label(),
                qd,
                unit(u),
                unit(y),
                f.map_or("-".to_string(), unit),
                ratio(u),
                ratio(y)
            );
        }
    }
}
