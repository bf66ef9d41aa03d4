//! Property test against a model: random reads, writes, flushes and
//! reopens of a COW disk, at offsets clustered around sector, block, bitmap
//! byte, bitmap sector (2 MiB of disk) and bitmap block (16 MiB of disk)
//! boundaries, compared byte for byte with a plain in-memory disk. A reopen
//! either closes the device (which flushes) or drops it unflushed, as a
//! crash would: then each sector must show its flushed or its latest data.

mod common;
use common::*;

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use umvm_blockio::{Engine, EngineKind};
use umvm_cow::{create, CowDevice, CowOptions};

/// Just past 16 MiB, so that the bitmap spans two 4 KiB blocks.
const DIRECT_SIZE: usize = (16 << 20) + (2 << 20);
/// Not a multiple of the sector: the last sector is partial. Run buffered,
/// on the sync engine, where the block is one sector.
const ODD_SIZE: usize = (3 << 20) + 1000;

#[derive(Debug, Clone)]
enum Step {
    Write { offset: u64, len: usize, seed: u8 },
    Read { offset: u64, len: usize },
    Flush,
    Reopen { flush_first: bool },
}

fn offset(size: usize) -> impl Strategy<Value = u64> {
    let anchors = prop_oneof![Just(0i64), Just(2 << 20), Just(16 << 20), Just(size as i64), 0..size as i64];
    (anchors, -5000i64..5000).prop_map(move |(a, d)| (a + d).clamp(0, size as i64 - 1) as u64)
}

fn step(size: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (offset(size), 1usize..70_000, any::<u8>()).prop_map(|(offset, len, seed)| Step::Write { offset, len, seed }),
        3 => (offset(size), 1usize..70_000).prop_map(|(offset, len)| Step::Read { offset, len }),
        1 => Just(Step::Flush),
        1 => any::<bool>().prop_map(|flush_first| Step::Reopen { flush_first }),
    ]
}

fn backing(size: usize) -> &'static (PathBuf, Vec<u8>) {
    static DIRECT: OnceLock<(PathBuf, Vec<u8>)> = OnceLock::new();
    static ODD: OnceLock<(PathBuf, Vec<u8>)> = OnceLock::new();
    let cell = if size == DIRECT_SIZE { &DIRECT } else { &ODD };
    cell.get_or_init(|| make_backing(&format!("model-backing-{size}"), size))
}

fn run(size: usize, kind: EngineKind, buffered: bool, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let (back, data) = backing(size);
    let disk_size = size.next_multiple_of(512);
    let mut model = data.clone();
    model.resize(disk_size, 0);
    let cow = temp_path("model.cow");
    create(&cow, back, false).unwrap();
    let mut eng: Engine = engine(kind);
    let opts = CowOptions { buffered, ..Default::default() };
    let open = |eng: &mut Engine| CowDevice::open(&cow, &opts, eng).unwrap();
    let mut dev = open(&mut eng);
    prop_assert_eq!(dev.is_direct(), !buffered);
    // What the disk must show after a crash: the model as of the last flush.
    let mut flushed = model.clone();
    for s in steps {
        match s {
            Step::Write { offset, len, seed } => {
                let len = len.min(disk_size - offset as usize);
                let src: Vec<u8> = (0..len).map(|i| seed.wrapping_add((i / 300) as u8)).collect();
                dev.write(&mut eng, offset, &src).unwrap();
                model[offset as usize..][..len].copy_from_slice(&src);
            }
            Step::Read { offset, len } => {
                let len = len.min(disk_size - offset as usize);
                let mut got = vec![0u8; len];
                dev.read(&mut eng, offset, &mut got).unwrap();
                prop_assert!(got == model[offset as usize..][..len], "read {offset}+{len} differs");
            }
            Step::Flush => {
                dev.flush(&mut eng).unwrap();
                flushed.copy_from_slice(&model);
            }
            Step::Reopen { flush_first } => {
                if flush_first {
                    dev.close(&mut eng).unwrap();
                    flushed.copy_from_slice(&model);
                } else {
                    // As after a crash: only what was flushed may count;
                    // anything since may or may not be there.
                    drop(dev);
                    eng = engine(kind);
                }
                dev = open(&mut eng);
                let mut all = vec![0u8; disk_size];
                dev.read(&mut eng, 0, &mut all).unwrap();
                if !flush_first {
                    // Each sector shows its flushed contents or its latest:
                    // an overwrite of a sector whose bit was already on disk
                    // lands at once; one whose bit was not is lost with the
                    // in-memory bitmap.
                    for (i, got) in all.chunks(512).enumerate() {
                        let r = i * 512..(i * 512 + 512).min(disk_size);
                        prop_assert!(
                            got == &flushed[r.clone()] || got == &model[r],
                            "sector {i} after an unflushed reopen is neither its flushed nor its latest contents"
                        );
                    }
                    model.copy_from_slice(&all);
                    flushed.copy_from_slice(&all);
                } else {
                    prop_assert!(all == model, "after close and reopen the disk differs");
                }
            }
        }
    }
    dev.close(&mut eng).unwrap();
    let dev = open(&mut eng);
    let mut all = vec![0u8; disk_size];
    dev.read(&mut eng, 0, &mut all).unwrap();
    prop_assert!(all == model, "after the final reopen the disk differs");
    std::fs::remove_file(&cow).unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn direct_cow_matches_the_model(steps in proptest::collection::vec(step(DIRECT_SIZE), 1..40)) {
        run(DIRECT_SIZE, EngineKind::Uring, false, steps)?;
    }

    #[test]
    fn buffered_odd_sized_cow_matches_the_model(steps in proptest::collection::vec(step(ODD_SIZE), 1..40)) {
        run(ODD_SIZE, EngineKind::Sync, true, steps)?;
    }
}
