//! Any bytes: the header parser never panics, and whatever it accepts
//! emits and parses back to the same header with a valid geometry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umvm_cow::Header;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(h)) = Header::parse(data) {
        let g = h.geometry().expect("parse checks the geometry");
        assert!(g.bitmap_offset + g.bitmap_len <= g.data_offset);
        let bytes = h.emit().expect("a parsed header emits");
        assert_eq!(Header::parse(&bytes).unwrap(), Some(h));
    }
});
