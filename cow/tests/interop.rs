//! Interoperability with Debian's uml-utilities (scripts/deps --test
//! installs them): a COW file made by uml_mkcow reads right in umvm, and a
//! COW file umvm wrote merges with uml_moo into exactly the image umvm's
//! own merge makes, copying and in place.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

use umvm_blockio::EngineKind;
use umvm_cow::{create, merge, CowDevice, CowOptions, MergeOptions, MergeTarget};

const SIZE: usize = 3 << 20;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Writes a few recognisable ranges (partial sectors, block and bitmap
/// byte boundaries, the last sector, zeroes over data) and returns the disk
/// as it should then read.
fn scribble(cow: &Path, mut disk: Vec<u8>) -> Vec<u8> {
    let mut eng = engine(EngineKind::Uring);
    let mut dev = CowDevice::open(cow, &CowOptions::default(), &mut eng).unwrap();
    for (off, len, byte) in
        [(0u64, 5usize, 0xAAu8), (4600, 9000, 0x11), (SIZE as u64 - 700, 700, 0x22), (1 << 20, 4096, 0)]
    {
        dev.write(&mut eng, off, &vec![byte; len]).unwrap();
        disk[off as usize..][..len].fill(byte);
    }
    dev.close(&mut eng).unwrap();
    disk
}

#[test]
fn umvm_reads_a_cow_file_made_by_uml_mkcow() {
    if !have("uml_mkcow", "umvm_reads_a_cow_file_made_by_uml_mkcow") {
        return;
    }
    let (backing, data) = make_backing("mkcow-back", SIZE);
    let cow = temp_path("mkcow.cow");
    run(Command::new("uml_mkcow").arg(&cow).arg(&backing));
    // Same bytes as umvm's own create (made beside it, over the same file).
    let ours = temp_path("ours.cow");
    create(&ours, &backing, false).unwrap();
    assert!(std::fs::read(&cow).unwrap() == std::fs::read(&ours).unwrap(), "uml_mkcow and umvm create differ");

    let mut eng = engine(EngineKind::Uring);
    let mut dev = CowDevice::open(&cow, &CowOptions::default(), &mut eng).unwrap();
    let mut all = vec![0u8; SIZE];
    dev.read(&mut eng, 0, &mut all).unwrap();
    assert!(all == data, "a fresh uml_mkcow COW file reads as its backing file");
    dev.write(&mut eng, 4608, b"HELLOCOW").unwrap();
    dev.close(&mut eng).unwrap();
    let bytes = std::fs::read(&cow).unwrap();
    assert_eq!(bytes[8192 + 1], 0x02, "sector 9 is bit 1 of bitmap byte 1");
    assert_eq!(&bytes[12288 + 9 * 512..][..8], b"HELLOCOW");
}

#[test]
fn uml_moo_merges_umvms_cow_file_like_umvm() {
    if !have("uml_moo", "uml_moo_merges_umvms_cow_file_like_umvm") {
        return;
    }
    let (backing, data) = make_backing("moo-back", SIZE);
    let cow = temp_path("moo.cow");
    create(&cow, &backing, false).unwrap();
    let disk = scribble(&cow, data);

    let theirs = temp_path("moo-theirs.img");
    run(Command::new("uml_moo").arg(&cow).arg(&theirs));
    let ours = temp_path("moo-ours.img");
    let mut calls = 0;
    let stats = merge(&cow, &MergeTarget::NewImage(ours.clone()), &MergeOptions::default(), |_, _| calls += 1).unwrap();
    assert!(calls >= 3 && stats.bytes == SIZE as u64);
    let (theirs_b, ours_b) = (std::fs::read(&theirs).unwrap(), std::fs::read(&ours).unwrap());
    assert!(ours_b == disk, "umvm's merge is the disk");
    assert!(theirs_b == ours_b, "uml_moo's merge and umvm's differ");

    // In place: uml_moo -d on one copy, umvm on another.
    let (back2, _) = make_backing("moo-back2", SIZE);
    let cow2 = temp_path("moo2.cow");
    create(&cow2, &back2, false).unwrap();
    let disk2 = scribble(&cow2, std::fs::read(&back2).unwrap());
    let saved_back = std::fs::read(&back2).unwrap();
    let saved_cow = std::fs::read(&cow2).unwrap();
    let mtime = std::fs::metadata(&back2).unwrap().modified().unwrap();
    run(Command::new("uml_moo").arg("-d").arg(&cow2));
    let theirs = std::fs::read(&back2).unwrap();
    std::fs::write(&back2, &saved_back).unwrap();
    std::fs::write(&cow2, &saved_cow).unwrap();
    std::fs::File::options().write(true).open(&back2).unwrap().set_modified(mtime).unwrap();
    merge(&cow2, &MergeTarget::InPlace, &MergeOptions::default(), |_, _| {}).unwrap();
    let ours = std::fs::read(&back2).unwrap();
    assert!(ours == disk2, "umvm's in-place merge is the disk");
    assert!(theirs == ours, "uml_moo -d and umvm's in-place merge differ");
}
