//! Builds the pod infra ("pause") binary as a static executable with the C
//! compiler the `cc` crate finds, so peapod needs no pause image.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("pause");
    let src = "pause/pause.c";
    println!("cargo:rerun-if-changed={src}");
    let compiler = cc::Build::new().opt_level(2).get_compiler();
    let status = Command::new(compiler.path())
        .args(["-static", "-Os", "-s", "-Wall", "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .expect("running the C compiler for the pause binary");
    assert!(status.success(), "building the pause binary failed (is libc6-dev installed?)");
}
