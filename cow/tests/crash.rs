//! Crash test: a child process writes runs of sectors to a COW disk and
//! flushes every few writes, reporting each write before it starts and
//! each flush once it completed; the parent SIGKILLs it at a random moment,
//! reopens the disk and checks every sector:
//! - every write acknowledged by a completed flush is there (or a later
//!   write over it);
//! - every sector holds either its backing data or exactly the data of one
//!   write that covered it: a set bit never points at unwritten (zero) or
//!   torn data.
//!
//! The child is this test binary again, running `crash_child` with
//! COW_CRASH_FILE set (without it, that test does nothing).

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use umvm_blockio::EngineKind;
use umvm_cow::{create, CowDevice, CowOptions};

/// 4 MiB: the bitmap spans two 512-byte sectors.
const SECTORS: u64 = 8192;

/// Sector contents for write `n` at sector `s`: names both, whole.
fn stamp(n: u32, s: u32) -> Vec<u8> {
    let mut word = [0u8; 8];
    word[..4].copy_from_slice(&n.to_le_bytes());
    word[4..].copy_from_slice(&s.to_le_bytes());
    word.iter().copied().cycle().take(512).collect()
}

/// A small deterministic generator (no shared state with the parent).
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn say(line: String) {
    // SAFETY: writes a valid buffer to stdout, unbuffered, so the parent
    // has the line before anything that follows can happen.
    unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
}

#[test]
fn crash_child() {
    let Some(path) = std::env::var_os("COW_CRASH_FILE") else { return };
    let mut eng = engine(EngineKind::Uring);
    let mut dev = CowDevice::open(&path, &CowOptions::default(), &mut eng).unwrap();
    let mut rng = std::process::id() as u64 | 1;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0u32;
    // The harness's "test crash_child ... " has no newline yet.
    say("\n".to_string());
    while Instant::now() < deadline {
        n += 1;
        let s = next(&mut rng) % SECTORS;
        let k = (1 + next(&mut rng) % 24).min(SECTORS - s);
        let data: Vec<u8> = (s..s + k).flat_map(|t| stamp(n, t as u32)).collect();
        say(format!("w {n} {s} {k}\n"));
        dev.write(&mut eng, s * 512, &data).unwrap();
        if n.is_multiple_of(5) {
            dev.flush(&mut eng).unwrap();
            say(format!("a {n}\n"));
        }
    }
}

#[test]
fn sigkill_mid_write_keeps_flushed_data_and_no_bit_over_unwritten_data() {
    let (backing, base) = make_backing("crash-back", (SECTORS * 512) as usize);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ std::process::id() as u64;
    for round in 0..3 {
        let cow = temp_path("crash.cow");
        create(&cow, &backing, false).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("COW_CRASH_FILE", &cow)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(300 + next(&mut seed) % 500));
        child.kill().unwrap();
        child.wait().unwrap();
        let lines = reader.join().unwrap();

        // Every write, and the last acknowledged one.
        let mut writes: Vec<(u32, u64, u64)> = Vec::new();
        let mut acked = 0u32;
        for l in &lines {
            let f: Vec<&str> = l.split(' ').collect();
            match f.as_slice() {
                ["w", n, s, k] => writes.push((n.parse().unwrap(), s.parse().unwrap(), k.parse().unwrap())),
                ["a", n] => acked = n.parse().unwrap(),
                _ => {}
            }
        }
        assert!(acked > 0, "round {round}: the child acknowledged nothing ({} lines)", lines.len());

        let mut eng = engine(EngineKind::Sync);
        // The dead child's io_uring is torn down asynchronously by the
        // kernel, and its registered file (with the lock) goes with it.
        let give_up = Instant::now() + Duration::from_secs(5);
        let dev = loop {
            match CowDevice::open(&cow, &CowOptions::default(), &mut eng) {
                Err(e) if e.is_locked() && Instant::now() < give_up => std::thread::sleep(Duration::from_millis(20)),
                other => break other.unwrap(),
            }
        };
        let mut disk = vec![0u8; (SECTORS * 512) as usize];
        dev.read(&mut eng, 0, &mut disk).unwrap();
        let mut checked_cow = 0;
        for s in 0..SECTORS {
            let got = &disk[(s * 512) as usize..][..512];
            let covering = writes.iter().filter(|(_, ws, k)| (*ws..ws + k).contains(&s)).map(|w| w.0);
            let last_acked = covering.clone().filter(|&n| n <= acked).max().unwrap_or(0);
            let allowed: Vec<u32> = std::iter::once(last_acked).chain(covering.filter(|&n| n > acked)).collect();
            let found = if got == &base[(s * 512) as usize..][..512] {
                Some(0)
            } else {
                allowed.iter().copied().find(|&n| n > 0 && got == stamp(n, s as u32).as_slice())
            };
            assert!(
                found.is_some_and(|n| allowed.contains(&n)),
                "round {round}: sector {s} (bit {}) holds neither backing data nor an allowed write \
                 (acked {acked}, allowed {allowed:?}, first bytes {:?})",
                dev.bitmap().get(s),
                &got[..8]
            );
            checked_cow += u32::from(found != Some(0));
        }
        assert!(checked_cow > 0, "round {round}: nothing reached the disk");
        eprintln!(
            "round {round}: {} writes, {acked} acknowledged, {checked_cow} sectors from the COW file",
            writes.len()
        );
        dev.close(&mut eng).unwrap();
        std::fs::remove_file(&cow).unwrap();
    }
}
