//! `CowDevice::write_blocks`: a batch of extents, aligned or not, lands
//! where `write` would put it, sets exactly the bits of what it wrote, and
//! survives flush and reopen.

mod common;
use common::*;

use umvm_blockio::EngineKind;
use umvm_cow::{create, CowDevice, CowOptions};

fn batch(kind: EngineKind, buffered: bool) {
    let size = 4 << 20;
    let (back, data) = make_backing("batch-backing", size);
    let cow = temp_path("batch.cow");
    create(&cow, &back, false).unwrap();
    let mut eng = engine(kind);
    let opts = CowOptions { buffered, ..Default::default() };
    let mut dev = CowDevice::open(&cow, &opts, &mut eng).unwrap();
    let block = dev.block_size() as usize;
    let mut model = data.clone();
    // More data than the test engine's 16 x 64 KiB pool holds, so the batch
    // must be completed in several rounds; plus a misaligned extent.
    let extents: Vec<(u64, Vec<u8>)> = (0..20u64)
        .map(|i| (i * 200 * 1024 - (i * 200 * 1024) % block as u64, vec![i as u8 + 1; 70 * 1024 / block * block]))
        .chain([(3 * 1024 * 1024 + 100, vec![0xee; 1000])])
        .collect();
    for (off, d) in &extents {
        model[*off as usize..][..d.len()].copy_from_slice(d);
    }
    let refs: Vec<(u64, &[u8])> = extents.iter().map(|(o, d)| (*o, d.as_slice())).collect();
    dev.write_blocks(&mut eng, &refs).unwrap();
    let aligned_sectors: u64 = extents[..20].iter().map(|(_, d)| d.len() as u64 / 512).sum();
    let partial = (1000u64 + 100).div_ceil(block as u64) * block as u64 / 512;
    assert_eq!(dev.bitmap().count(), aligned_sectors + partial);
    let mut got = vec![0u8; size];
    dev.read(&mut eng, 0, &mut got).unwrap();
    assert!(got == model, "batch read back differs");
    dev.close(&mut eng).unwrap();
    let mut dev = CowDevice::open(&cow, &opts, &mut eng).unwrap();
    got.fill(0);
    dev.read(&mut eng, 0, &mut got).unwrap();
    assert!(got == model, "batch differs after reopen");
    let end = dev.size();
    assert!(dev.write_blocks(&mut eng, &[(end, &[0u8; 512][..])]).is_err(), "past the end");
}

#[test]
fn write_blocks_direct_uring() {
    batch(EngineKind::Uring, false);
}

#[test]
fn write_blocks_buffered_sync() {
    batch(EngineKind::Sync, true);
}
