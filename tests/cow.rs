//! `umvm cow create|info|merge` from the command line: a COW file made by
//! `create`, written through umvm-cow, shows its used sectors in `info` and
//! merges (to a new image, and in place with a warning) into the disk.

mod common;

use common::*;
use std::path::Path;

use umvm_blockio::{Engine, EngineConfig};
use umvm_cow::{CowDevice, CowOptions};

#[test]
fn create_info_and_merge() {
    let dir = TempDir::new("cowcli");
    let backing = dir.path().join("back.img");
    let mut disk: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8 + 1).collect();
    write_file(&backing, &disk, 0o644);
    let cow = dir.path().join("disk.cow");
    let c = Path::new("cow");
    let run = run_umvm(&[c, Path::new("create"), &cow, &backing], b"");
    assert_eq!(run.code(), 0, "{run}");

    let mut eng = Engine::new(EngineConfig { buffer_count: 8, ..Default::default() }).unwrap();
    let mut dev = CowDevice::open(&cow, &CowOptions::default(), &mut eng).unwrap();
    dev.write(&mut eng, 4096, &[0x5a; 8192]).unwrap();
    dev.close(&mut eng).unwrap();
    disk[4096..4096 + 8192].fill(0x5a);

    let run = run_umvm(&[c, Path::new("info"), &cow], b"");
    assert_eq!(run.code(), 0, "{run}");
    let out = run.out();
    assert!(out.contains("version:        3") && out.contains("back.img"), "{out}");
    assert!(out.contains("used:           16 of 2048 sectors (8192 bytes"), "{out}");
    assert!(out.contains("backing check:  ok"), "{out}");

    let new = dir.path().join("merged.img");
    let run = run_umvm(&[c, Path::new("merge"), &cow, Path::new("-o"), &new], b"");
    assert_eq!(run.code(), 0, "{run}");
    assert!(std::fs::read(&new).unwrap() == disk, "the merged image is the disk");

    let run = run_umvm(&[c, Path::new("merge"), &cow], b"");
    assert_eq!(run.code(), 0, "{run}");
    assert!(run.err().contains("warning: merging") && run.err().contains("in place"), "{run}");
    assert!(std::fs::read(&backing).unwrap() == disk, "the backing file is the disk");
}
