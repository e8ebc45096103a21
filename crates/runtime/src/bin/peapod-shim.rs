//! The shim as a standalone executable (the same code `peapod __shim` runs):
//! used by this crate's integration tests, and small enough to be worth
//! shipping beside `peapod` when per-pod memory matters.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(peapod_runtime::shim::main(&args));
}
