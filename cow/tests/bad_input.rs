//! Bad input: each a clear one-line error naming the file(s), never a panic.

mod common;
use common::*;

use std::path::Path;
use std::time::{Duration, SystemTime};

use umvm_blockio::{EngineKind, UbdFlags};
use umvm_cow::{create, CowDevice, CowOptions, Error, HeaderError};

fn open(cow: &Path) -> Result<CowDevice, Error> {
    CowDevice::open(cow, &CowOptions::default(), &mut engine(EngineKind::Sync))
}

fn one_line(e: &Error, names: &[&Path]) -> String {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    for p in names {
        assert!(msg.contains(&*p.to_string_lossy()), "{msg} should name {}", p.display());
    }
    msg
}

fn fresh(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (backing, _) = make_backing(&format!("{name}-back"), 64 * 1024);
    let cow = temp_path(&format!("{name}.cow"));
    create(&cow, &backing, false).unwrap();
    (cow, backing)
}

#[test]
fn truncated_header() {
    let (cow, _) = fresh("trunc-header");
    let bytes = std::fs::read(&cow).unwrap();
    std::fs::write(&cow, &bytes[..100]).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::Header { source: HeaderError::Short { len: 100, need: 4128 }, .. }), "{e}");
    assert!(one_line(&e, &[&cow]).contains("short header"));
    std::fs::write(&cow, b"OOO").unwrap();
    assert!(matches!(open(&cow).unwrap_err(), Error::Header { source: HeaderError::Short { .. }, .. }));
}

#[test]
fn wrong_magic_and_version() {
    let (cow, _) = fresh("magic");
    let mut bytes = std::fs::read(&cow).unwrap();
    bytes[0] = b'X';
    std::fs::write(&cow, &bytes).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::NotCow { .. }), "{e}");
    assert!(one_line(&e, &[&cow]).contains("not a COW file"));
    bytes[0] = b'O';
    bytes[7] = 9;
    std::fs::write(&cow, &bytes).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(one_line(&e, &[&cow]).contains("unsupported COW version 9"), "{e}");
}

#[test]
fn bitmap_past_the_end() {
    let (cow, _) = fresh("past-end");
    std::fs::OpenOptions::new().write(true).open(&cow).unwrap().set_len(5000).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::PastEnd { what: "bitmap", offset: 8192, len: 5000, .. }), "{e}");
    one_line(&e, &[&cow]);
    // A bitmap in the file, the data area cut short.
    std::fs::OpenOptions::new().write(true).open(&cow).unwrap().set_len(20000).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::PastEnd { what: "data area", .. }), "{e}");
    // A header whose size puts the bitmap past 2^31.
    let mut bytes = std::fs::read(&cow).unwrap();
    bytes[12..20].copy_from_slice(&(1u64 << 45).to_be_bytes());
    std::fs::write(&cow, &bytes).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::Header { source: HeaderError::TooLarge { .. }, .. }), "{e}");
}

#[test]
fn missing_backing() {
    let (cow, backing) = fresh("missing");
    std::fs::remove_file(&backing).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::Backing { .. }), "{e}");
    assert!(one_line(&e, &[&cow, &backing]).contains("No such file"));
}

#[test]
fn smaller_backing() {
    let (cow, backing) = fresh("smaller");
    let mtime = std::fs::metadata(&backing).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&backing).unwrap();
    f.set_len(32 * 1024).unwrap();
    f.set_modified(mtime).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { expected: 65536, actual: 32768, .. }), "{e}");
    let msg = one_line(&e, &[&cow, &backing]);
    assert!(msg.contains("65536") && msg.contains("32768"), "{msg}");
}

#[test]
fn newer_backing_and_the_override() {
    let (cow, backing) = fresh("newer");
    let f = std::fs::OpenOptions::new().write(true).open(&backing).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(100)).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(matches!(e, Error::MtimeMismatch { .. }), "{e}");
    assert!(one_line(&e, &[&cow, &backing]).contains("mtime mismatch"));
    let opts = CowOptions { force_backing: true, ..Default::default() };
    let mut eng = engine(EngineKind::Sync);
    CowDevice::open(&cow, &opts, &mut eng).unwrap().close(&mut eng).unwrap();
}

#[test]
fn locked_unless_shared() {
    let (cow, _) = fresh("locked");
    let mut eng = engine(EngineKind::Sync);
    let first = CowDevice::open(&cow, &CowOptions::default(), &mut eng).unwrap();
    let e = open(&cow).unwrap_err();
    assert!(one_line(&e, &[&cow]).contains("locked"), "{e}");
    let shared = CowOptions { flags: UbdFlags { shared: true, ..Default::default() }, ..Default::default() };
    let mut eng2 = engine(EngineKind::Sync);
    CowDevice::open(&cow, &shared, &mut eng2).unwrap().close(&mut eng2).unwrap();
    first.close(&mut eng).unwrap();
    open(&cow).unwrap();
}

#[test]
fn writes_to_a_read_only_device_fail() {
    let (cow, _) = fresh("ro");
    let opts = CowOptions { flags: UbdFlags { read_only: true, ..Default::default() }, ..Default::default() };
    let mut eng = engine(EngineKind::Sync);
    let mut d = CowDevice::open(&cow, &opts, &mut eng).unwrap();
    assert!(matches!(d.write(&mut eng, 0, &[1; 512]), Err(Error::ReadOnly { .. })));
    let e = d.read(&mut eng, 65536 - 10, &mut [0; 20]).unwrap_err();
    assert!(matches!(e, Error::OutOfRange { .. }), "{e}");
}

#[test]
fn create_refuses_an_existing_file() {
    let (cow, backing) = fresh("exists");
    let e = create(&cow, &backing, false).unwrap_err();
    assert!(matches!(e, Error::Exists { .. }));
    one_line(&e, &[&cow]);
    create(&cow, &backing, true).unwrap();
}
