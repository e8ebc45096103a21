//! `cargo fuzz run yaml`: see peapod_fuzz::yaml.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peapod_fuzz::yaml(data));
