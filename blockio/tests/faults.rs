//! Fault tests: a device on a full small filesystem reports ENOSPC as
//! `Error::NoSpace`, through the byte-granular helpers and through the
//! engine, on both engines; on a tmpfs with size= (page cache) and on a
//! loop-mounted ext2 image (O_DIRECT). And a device on ramfs, which has no
//! direct I/O, falls back to the page cache and still works.
//!
//! The mounts live in a private mount namespace (`unshare -m`), in which
//! this test binary runs again as `enospc_child` with BLOCKIO_ENOSPC_DIR
//! set; the host's mounts are never touched. Needs root: skipped loudly
//! otherwise, and failed under CI.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

use umvm_blockio::{BlockDevice, DeviceOptions, DirectMode, Error, Op, Order};

/// Fills `dir`'s filesystem through a sparse 8 MiB image, expecting ENOSPC.
fn fill(dir: &Path, direct: DirectMode) {
    for kind in KINDS {
        let path = dir.join(format!("full-{kind:?}.img"));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(8 << 20).unwrap();
        drop(file);
        let mut engine = engine(kind);
        let dev = BlockDevice::open(&path, DeviceOptions { direct, ..Default::default() }).unwrap();
        // tmpfs takes O_DIRECT since Linux 6.6 (as the page cache); older
        // kernels refuse it and the device falls back: either is fine here.
        assert!(dev.is_direct() || direct != DirectMode::Require, "{}", dir.display());
        let id = dev.register(&mut engine).unwrap();
        // Through the engine: 64 KiB writes until one fails.
        let mut err = None;
        for i in 0..128u64 {
            let buf = engine.buffer().unwrap();
            dev.push(&mut engine, Op::Write { file: id, offset: i * 65536, buf, len: 65536 }, i, Order::Any).unwrap();
            engine.submit().unwrap();
            let c = engine.wait_for(i).unwrap().unwrap();
            if let Err(e) = c.result {
                err = Some(e);
                break;
            }
        }
        let err = err.unwrap_or_else(|| panic!("{kind:?} {}: 8 MiB fit a small filesystem", dir.display()));
        assert!(matches!(err, Error::NoSpace { .. }), "{kind:?} {}: {err}", dir.display());
        assert_eq!(err.errno(), libc::ENOSPC);
        // Through the helper, misaligned: the same typed error.
        let err = dev.write_at(&mut engine, id, (7 << 20) + 3, &[0x5A; 100_000]).unwrap_err();
        assert!(matches!(err, Error::NoSpace { .. }), "{kind:?} {}: {err}", dir.display());
        eprintln!("{kind:?} on {} (direct: {}): {err}", dir.display(), dev.is_direct());
        drop(engine);
        drop(dev);
        std::fs::remove_file(&path).unwrap();
    }
}

/// ramfs has no direct I/O at all: the device must notice, fall back to the
/// page cache and work; `DirectMode::Require` must fail clearly.
fn buffered_fallback(dir: &Path) {
    let path = dir.join("ramfs.img");
    std::fs::write(&path, vec![7u8; 256 * 1024]).unwrap();
    let err =
        BlockDevice::open(&path, DeviceOptions { direct: DirectMode::Require, ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::Open { .. }) && err.to_string().contains("O_DIRECT"), "{err}");
    for kind in KINDS {
        let dev = BlockDevice::open(&path, DeviceOptions::default()).unwrap();
        assert!(!dev.is_direct(), "ramfs cannot do O_DIRECT");
        let mut engine = engine(kind);
        let id = dev.register(&mut engine).unwrap();
        dev.write_at(&mut engine, id, 1001, b"buffered").unwrap();
        dev.flush(&mut engine, id).unwrap();
        let mut back = [0u8; 10];
        dev.read_at(&mut engine, id, 1000, &mut back).unwrap();
        assert_eq!(&back, b"\x07buffered\x07");
        eprintln!("{kind:?} on ramfs: fell back to the page cache");
    }
}

#[test]
fn enospc_child() {
    let Some(dir) = std::env::var_os("BLOCKIO_ENOSPC_DIR") else { return };
    let dir = Path::new(&dir);
    fill(&dir.join("tmpfs"), DirectMode::Auto);
    fill(&dir.join("ext2"), DirectMode::Require);
    buffered_fallback(&dir.join("ramfs"));
}

#[test]
fn a_full_host_filesystem_is_a_typed_enospc_and_ramfs_falls_back() {
    if !need_root("a_full_host_filesystem_is_a_typed_enospc") {
        return;
    }
    let dir = temp_path("enospc").with_extension("d");
    std::fs::create_dir_all(dir.join("tmpfs")).unwrap();
    std::fs::create_dir_all(dir.join("ext2")).unwrap();
    std::fs::create_dir_all(dir.join("ramfs")).unwrap();
    let image = dir.join("small.ext2");
    std::fs::File::create(&image).unwrap().set_len(4 << 20).unwrap();
    let mkfs = Command::new("mkfs.ext2").args(["-q", "-F"]).arg(&image).status();
    assert!(mkfs.is_ok_and(|s| s.success()), "mkfs.ext2 (e2fsprogs, in scripts/deps) failed");
    let script = r#"set -e
mount -t tmpfs -o size=1m blockio-enospc "$1/tmpfs"
mount -o loop "$1/small.ext2" "$1/ext2"
mount -t ramfs blockio-ramfs "$1/ramfs"
exec "$2" --exact enospc_child --nocapture --test-threads=1"#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&dir)
        .arg(std::env::current_exe().unwrap())
        .env("BLOCKIO_ENOSPC_DIR", &dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the ENOSPC child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    eprintln!("{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
