//! Any bytes as an Ethernet frame: a header or an error, never a panic;
//! a valid frame's header matches its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = umvm_netio::frame::parse(data) {
        assert!(data.len() >= 14 && data.len() <= umvm_netio::MAX_FRAME);
        assert_eq!(&h.dst.0, &data[..6]);
        assert_eq!(&h.src.0, &data[6..12]);
        assert!(h.src.is_valid_unicast() && h.ethertype >= 0x0600);
    }
});
