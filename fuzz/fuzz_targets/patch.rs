//! `cargo fuzz run patch`: see peapod_fuzz::patch.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peapod_fuzz::patch(data));
