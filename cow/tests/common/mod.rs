//! Helpers shared by the COW integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use umvm_blockio::{Engine, EngineChoice, EngineConfig, EngineKind};

/// A fresh path under cargo's per-target temporary directory, on the
/// repository's filesystem (O_DIRECT works there; /tmp may be tmpfs).
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cow");
    std::fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{name}-{}-{n}", std::process::id()))
}

/// The backing pattern: never zero, and different in every sector, so that
/// a sector read from the wrong place or never written shows.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 7 + i / 512 * 13) % 251) as u8 + 1).collect()
}

/// A backing file of `size` bytes with `pattern`.
pub fn make_backing(name: &str, size: usize) -> (PathBuf, Vec<u8>) {
    let path = temp_path(name);
    let data = pattern(size);
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// An engine small enough for tests.
pub fn engine(kind: EngineKind) -> Engine {
    Engine::new(EngineConfig {
        queue_depth: 32,
        buffer_size: 64 * 1024,
        buffer_count: 16,
        max_files: 32,
        choice: EngineChoice::Force(kind),
    })
    .unwrap()
}

/// Whether `cmd` is on the PATH; if not, skip loudly, but fail under CI,
/// where scripts/deps --test installs it.
pub fn have(cmd: &str, test: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{test}: needs {cmd} (scripts/deps --test installs it)");
        eprintln!("SKIPPED {test}: {cmd} not found");
    }
    found
}
