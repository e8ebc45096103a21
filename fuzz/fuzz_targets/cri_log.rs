//! `cargo fuzz run cri_log`: see peapod_fuzz::cri_log.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peapod_fuzz::cri_log(data));
