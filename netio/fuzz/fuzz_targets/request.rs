//! Any bytes as a uml_switch control request: a request or an error,
//! never a panic; a v3 request round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umvm_netio::switch::protocol::{parse_request, request_v3, Request};

fuzz_target!(|data: &[u8]| {
    if let Ok(Request::V3 { addr }) = parse_request(data) {
        assert_eq!(parse_request(&request_v3(&addr)), Ok(Request::V3 { addr }));
    }
});
