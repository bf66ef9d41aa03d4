//! Opening `ubdN=` switches as UML does: two names create the COW file if
//! missing; one name auto-detects a COW header unless `d`.

mod common;
use common::*;

use umvm_blockio::EngineKind;
use umvm_cow::{Disk, UbdSwitch};

fn spec(s: &str) -> umvm_cow::UbdSpec {
    match UbdSwitch::parse(s).unwrap() {
        UbdSwitch::Device(d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn cow_backing_creates_then_one_name_detects() {
    let (backing, data) = make_backing("ubd-back", 64 * 1024);
    let cow = temp_path("ubd.cow");
    let mut eng = engine(EngineKind::Sync);
    let two = spec(&format!("ubd0={},{},SER", cow.display(), backing.display()));
    let Disk::Cow(mut d) = two.open(&mut eng, false).unwrap() else { panic!("not COW") };
    d.write(&mut eng, 0, b"written").unwrap();
    d.close(&mut eng).unwrap();
    assert!(cow.exists());

    let Disk::Cow(d) = spec(&format!("ubd1={}", cow.display())).open(&mut eng, false).unwrap() else {
        panic!("a COW header not detected")
    };
    let mut got = vec![0u8; 64 * 1024];
    d.read(&mut eng, 0, &mut got).unwrap();
    assert_eq!(&got[..7], b"written");
    assert!(got[7..] == data[7..]);
    d.close(&mut eng).unwrap();

    // `d`: the COW file as a plain image; a plain image stays plain.
    assert!(matches!(spec(&format!("ubd1d={}", cow.display())).open(&mut eng, false).unwrap(), Disk::Plain(..)));
    assert!(matches!(spec(&format!("ubd2r={}", backing.display())).open(&mut eng, false).unwrap(), Disk::Plain(..)));
}
