//! Crash test: a child process writes rounds of blocks through the engine,
//! flushes after each round and reports the round once the flush completed;
//! the parent SIGKILLs it at a random moment. Every write acknowledged by a
//! completed flush must be in the file afterwards, whole; blocks written
//! after the last acknowledgement may hold the old or the new round, but
//! never anything torn or foreign.
//!
//! The child is this test binary again, running `crash_child` with
//! BLOCKIO_CRASH_IMAGE set (without it, that test does nothing).

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use umvm_blockio::{BlockDevice, DeviceOptions, DirectMode, EngineKind, Op, Order};

const BLOCKS: u64 = 64;
const BLOCK: usize = 4096;
/// Blocks per round, pushed together and submitted once.
const PER_ROUND: u64 = 4;

/// Block contents for write number `n`: n repeated, so a block names the
/// write that made it and a torn block shows.
fn stamp(n: u64) -> Vec<u8> {
    n.to_le_bytes().iter().copied().cycle().take(BLOCK).collect()
}

#[test]
fn crash_child() {
    let Some(path) = std::env::var_os("BLOCKIO_CRASH_IMAGE") else { return };
    let kind = match std::env::var("BLOCKIO_CRASH_ENGINE").as_deref() {
        Ok("sync") => EngineKind::Sync,
        _ => EngineKind::Uring,
    };
    let mut engine = engine(kind);
    let dev = BlockDevice::open(&path, DeviceOptions { direct: DirectMode::Require, ..Default::default() }).unwrap();
    let id = dev.register(&mut engine).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0u64;
    while Instant::now() < deadline {
        for _ in 0..PER_ROUND {
            n += 1;
            let mut buf = engine.buffer().unwrap();
            buf.as_mut_slice()[..BLOCK].copy_from_slice(&stamp(n));
            let op = Op::Write { file: id, offset: (n % BLOCKS) * BLOCK as u64, buf, len: BLOCK };
            dev.push(&mut engine, op, n, Order::Any).unwrap();
        }
        engine.push(Op::Fdatasync { file: id }, 0, Order::Drain).unwrap();
        engine.submit().unwrap();
        let mut done = Vec::new();
        engine.wait(PER_ROUND as usize + 1, &mut done).unwrap();
        assert!(done.iter().all(|c| c.result.is_ok()));
        let line = format!("acked {n}\n");
        // SAFETY: writes a valid buffer to stdout, unbuffered, so that the
        // parent sees the acknowledgement the moment the flush completed.
        unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
    }
}

fn crash_once(kind: &str, kill_after: Duration) {
    let path = temp_path("crash");
    std::fs::write(&path, vec![0u8; BLOCKS as usize * BLOCK]).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("BLOCKIO_CRASH_IMAGE", &path)
        .env("BLOCKIO_CRASH_ENGINE", kind)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acked = 0u64;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("acked ") {
                acked = n.parse().unwrap();
            }
        }
        acked
    });
    std::thread::sleep(kill_after);
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    child.wait().unwrap();
    let acked = reader.join().unwrap();
    assert!(acked > 0, "{kind}: the child acknowledged nothing in {kill_after:?}");

    let file = std::fs::read(&path).unwrap();
    for b in 0..BLOCKS {
        let block = &file[b as usize * BLOCK..(b as usize + 1) * BLOCK];
        let n = u64::from_le_bytes(block[..8].try_into().unwrap());
        assert_eq!(block, stamp(n).as_slice(), "{kind}: block {b} is torn");
        // The last acknowledged write to this block, if any.
        let last_acked = (1..=acked).rev().find(|m| m % BLOCKS == b);
        match last_acked {
            Some(m) => assert!(
                n >= m && n % BLOCKS == b,
                "{kind}: block {b} holds write {n}, but write {m} was acknowledged (last ack {acked})"
            ),
            None => assert!(n == 0 || n % BLOCKS == b, "{kind}: block {b} holds foreign write {n}"),
        }
    }
    eprintln!("{kind}: killed after {kill_after:?}, {acked} writes acknowledged and present");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    // A random kill point per run, from the clock (no PRNG needed).
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    for (i, kind) in ["uring", "sync"].into_iter().enumerate() {
        for round in 0..2u64 {
            // splitmix64's finaliser spreads the clock over the range.
            let mut x = seed ^ (i as u64 * 2 + round + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let ms = 100 + (x ^ (x >> 31)) % 300;
            crash_once(kind, Duration::from_millis(ms));
        }
    }
}
