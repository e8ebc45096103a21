//! `cargo fuzz run unpack`: see peapod_fuzz::unpack.
#![no_main]

use std::sync::OnceLock;

/// One scratch directory for the whole run (each input is unpacked into a
/// fresh `dest` inside it, which `unpack` removes again).
fn scratch() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("peapod-fuzz-unpack-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("creating the scratch dir");
        d
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| peapod_fuzz::unpack(data, scratch()));
