//! Helpers shared by the blockio integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use umvm_blockio::{BlockDevice, DeviceOptions, DirectMode, Engine, EngineChoice, EngineConfig, EngineKind};

/// A fresh path for an image under cargo's per-target temporary directory,
/// which is on the repository's filesystem (ext4 here; O_DIRECT works).
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("blockio");
    std::fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{name}-{}-{n}.img", std::process::id()))
}

/// An image of `size` bytes filled with a recognisable pattern.
pub fn make_image(name: &str, size: usize) -> (PathBuf, Vec<u8>) {
    let path = temp_path(name);
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 4096) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// An engine of the given kind, small enough for tests.
pub fn engine(kind: EngineKind) -> Engine {
    Engine::new(EngineConfig {
        queue_depth: 32,
        buffer_size: 64 * 1024,
        buffer_count: 16,
        max_files: 8,
        choice: EngineChoice::Force(kind),
    })
    .unwrap()
}

/// Both engines, for tests that must pass on each.
pub const KINDS: [EngineKind; 2] = [EngineKind::Uring, EngineKind::Sync];

/// Opens `path` writable with the given O_DIRECT policy.
pub fn open(path: &Path, direct: DirectMode) -> BlockDevice {
    BlockDevice::open(path, DeviceOptions { direct, ..Default::default() }).unwrap()
}

/// Whether a test that needs root (mounts) should run: as root yes; not
/// root, skip loudly, but fail under CI, where the tests must run.
pub fn need_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{test}: needs root, and CI must run it");
    eprintln!("SKIPPED {test}: needs root (mount in a private mount namespace)");
    false
}
