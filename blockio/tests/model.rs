//! Property tests: random mixes of reads, writes, flushes, discards and
//! batched asynchronous writes against an in-memory model of the disk, on
//! both engines, with O_DIRECT and buffered files. Byte-granular requests go
//! through the bouncing helpers; batched ones are aligned blocks pushed
//! together and submitted once. After every step the device must read back
//! exactly what the model holds, and so must the file at the end.

mod common;
use common::*;

use proptest::prelude::*;
use umvm_blockio::{BlockDevice, DirectMode, EngineKind, Op, Order};

const SIZE: usize = 256 * 1024;

#[derive(Debug, Clone)]
enum Step {
    Write {
        offset: usize,
        len: usize,
        seed: u8,
    },
    Read {
        offset: usize,
        len: usize,
    },
    Flush,
    Discard {
        offset: usize,
        len: usize,
    },
    /// Aligned 4 KiB blocks (distinct), one submit.
    Batch {
        blocks: Vec<usize>,
        seed: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let span = (0..SIZE).prop_flat_map(|offset| (Just(offset), 1..=(SIZE - offset).min(80_000)));
    prop_oneof![
        4 => (span.clone(), any::<u8>()).prop_map(|((offset, len), seed)| Step::Write { offset, len, seed }),
        3 => span.clone().prop_map(|(offset, len)| Step::Read { offset, len }),
        1 => Just(Step::Flush),
        1 => span.prop_map(|(offset, len)| Step::Discard { offset, len }),
        2 => (proptest::sample::subsequence((0..SIZE / 4096).collect::<Vec<_>>(), 1..12), any::<u8>())
            .prop_map(|(blocks, seed)| Step::Batch { blocks, seed }),
    ]
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn run(kind: EngineKind, direct: DirectMode, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let (path, mut model) = make_image("model", SIZE);
    let mut engine = engine(kind);
    let dev = open(&path, direct);
    prop_assert_eq!(dev.is_direct(), direct == DirectMode::Require);
    let id = dev.register(&mut engine).unwrap();
    for step in steps {
        match step {
            Step::Write { offset, len, seed } => {
                let data = pattern(len, seed);
                dev.write_at(&mut engine, id, offset as u64, &data).unwrap();
                model[offset..offset + len].copy_from_slice(&data);
            }
            Step::Read { offset, len } => {
                let mut back = vec![0u8; len];
                dev.read_at(&mut engine, id, offset as u64, &mut back).unwrap();
                prop_assert!(back == model[offset..offset + len], "read {}+{} differs", offset, len);
            }
            Step::Flush => dev.flush(&mut engine, id).unwrap(),
            Step::Discard { offset, len } => {
                dev.discard(&mut engine, id, offset as u64, len as u64).unwrap();
                model[offset..offset + len].fill(0);
            }
            Step::Batch { blocks, seed } => {
                for (i, &b) in blocks.iter().enumerate() {
                    let mut buf = engine.buffer().unwrap();
                    let data = pattern(4096, seed.wrapping_add(i as u8));
                    buf.as_mut_slice()[..4096].copy_from_slice(&data);
                    model[b * 4096..(b + 1) * 4096].copy_from_slice(&data);
                    let op = Op::Write { file: id, offset: (b * 4096) as u64, buf, len: 4096 };
                    dev.push(&mut engine, op, i as u64, Order::Any).unwrap();
                }
                engine.submit().unwrap();
                let mut done = Vec::new();
                engine.wait(blocks.len(), &mut done).unwrap();
                prop_assert_eq!(done.len(), blocks.len());
                for c in done {
                    prop_assert_eq!(c.result.unwrap(), 4096);
                }
            }
        }
    }
    let mut all = vec![0u8; SIZE];
    dev.read_at(&mut engine, id, 0, &mut all).unwrap();
    prop_assert!(all == model, "device differs from the model");
    drop(engine);
    drop(dev);
    prop_assert!(std::fs::read(&path).unwrap() == model, "file differs from the model");
    std::fs::remove_file(&path).unwrap();
    Ok(())
}

macro_rules! model_test {
    ($name:ident, $kind:expr, $direct:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
            #[test]
            fn $name(steps in proptest::collection::vec(step(), 1..24)) {
                run($kind, $direct, steps)?;
            }
        }
    };
}

model_test!(uring_direct_matches_the_model, EngineKind::Uring, DirectMode::Require);
model_test!(uring_buffered_matches_the_model, EngineKind::Uring, DirectMode::Never);
model_test!(sync_direct_matches_the_model, EngineKind::Sync, DirectMode::Require);
model_test!(sync_buffered_matches_the_model, EngineKind::Sync, DirectMode::Never);

#[test]
fn one_device_serves_two_engines() {
    // Two engines (two CPU loops) on one device: each registers it.
    let (path, model) = make_image("two-engines", SIZE);
    let dev: BlockDevice = open(&path, DirectMode::Require);
    let mut a = engine(EngineKind::Uring);
    let mut b = engine(EngineKind::Sync);
    let (ia, ib) = (dev.register(&mut a).unwrap(), dev.register(&mut b).unwrap());
    dev.write_at(&mut a, ia, 5000, b"hello").unwrap();
    let mut back = vec![0u8; 10];
    dev.read_at(&mut b, ib, 4998, &mut back).unwrap();
    assert_eq!(&back[..2], &model[4998..5000]);
    assert_eq!(&back[2..7], b"hello");
}
