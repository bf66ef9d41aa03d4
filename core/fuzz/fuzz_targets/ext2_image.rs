//! Any bytes as an ext2 image: opening, walking the root directory,
//! reading files and symlinks, then creating, writing and removing never
//! panic (the same pass the corruption unit test runs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use umvm_core::fs::ext2::exercise::exercise;

fuzz_target!(|data: &[u8]| {
    exercise(data.to_vec());
});
