//! Memory sharing: 20 COW devices in one process over one 256 MiB backing
//! file, each reading all of it, share one read-only mapping.
//!
//! /proc/self/smaps_rollup counts a file page mapped by one process only as
//! Private_Clean even though it is the page cache's page (reclaimable, and
//! the same page every reader in every process sees), so "private memory"
//! here is what a private copy would show up as: Anonymous and
//! Private_Dirty. The test checks that those grow by at most 5% of the
//! data, that Rss grows by about one copy (not twenty), and that there is
//! exactly one mapping of the backing file; it prints the rollup fields.

mod common;
use common::*;

use std::collections::HashMap;

use umvm_blockio::EngineKind;
use umvm_cow::{create, Backing, CowDevice, CowOptions};

const MIB: u64 = 1 << 20;
const DATA: u64 = 256 * MIB;
const DEVICES: usize = 20;

fn rollup() -> HashMap<String, u64> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb: u64 = v.trim().strip_suffix(" kB")?.trim().parse().ok()?;
            Some((k.to_string(), kb * 1024))
        })
        .collect()
}

fn delta(a: &HashMap<String, u64>, b: &HashMap<String, u64>, k: &str) -> i64 {
    b[k] as i64 - a[k] as i64
}

#[test]
fn twenty_devices_share_one_mapping_of_the_backing_file() {
    let backing = temp_path("shared-back");
    {
        use std::io::Write;
        let chunk = pattern(MIB as usize);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&backing).unwrap());
        for _ in 0..DATA / MIB {
            f.write_all(&chunk).unwrap();
        }
        // Written back, so that its pages are clean page cache (dirty file
        // pages show as Private_Dirty while mapped).
        f.into_inner().unwrap().sync_all().unwrap();
    }
    let cows: Vec<_> = (0..DEVICES)
        .map(|i| {
            let cow = temp_path(&format!("shared-{i}.cow"));
            create(&cow, &backing, false).unwrap();
            cow
        })
        .collect();
    let mut eng = engine(EngineKind::Uring);
    let expect = pattern(MIB as usize);
    let mut buf = vec![1u8; MIB as usize];
    let before = rollup();

    let devs: Vec<CowDevice> =
        cows.iter().map(|c| CowDevice::open(c, &CowOptions::default(), &mut eng).unwrap()).collect();
    assert_eq!(Backing::registered(), 1, "one registry entry for twenty devices");
    for (i, d) in devs.iter().enumerate() {
        for off in (0..DATA).step_by(MIB as usize) {
            d.read(&mut eng, off, &mut buf).unwrap();
            if i == 0 || off == 0 {
                assert!(buf == expect, "device {i} at {off}: wrong data");
            }
        }
    }
    let after = rollup();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = backing.to_str().unwrap();
    let mappings = maps.lines().filter(|l| l.ends_with(name)).count();

    let private = delta(&before, &after, "Anonymous") + delta(&before, &after, "Private_Dirty");
    eprintln!(
        "{DEVICES} devices x {} MiB read: Rss {:+} MiB, Pss {:+} MiB, Private_Clean {:+} MiB, Private_Dirty {:+} MiB, \
         Anonymous {:+} MiB, Shared_Clean {:+} MiB; backing mappings: {mappings}",
        DATA / MIB,
        delta(&before, &after, "Rss") / MIB as i64,
        delta(&before, &after, "Pss") / MIB as i64,
        delta(&before, &after, "Private_Clean") / MIB as i64,
        delta(&before, &after, "Private_Dirty") / MIB as i64,
        delta(&before, &after, "Anonymous") / MIB as i64,
        delta(&before, &after, "Shared_Clean") / MIB as i64,
    );
    assert_eq!(mappings, 1, "one mapping of the backing file");
    assert!(private <= (DATA / 20) as i64, "private memory grew by {private} bytes");
    assert!(delta(&before, &after, "Rss") <= (DATA + DATA / 20) as i64, "Rss grew by more than one copy");
    for d in devs {
        d.close(&mut eng).unwrap();
    }
    assert_eq!(Backing::registered(), 0, "the mapping goes with its last device");
    for c in cows {
        std::fs::remove_file(c).unwrap();
    }
    std::fs::remove_file(backing).unwrap();
}
