//! Link settings of the `peapod` binary.

fn main() {
    // Link `peapod` as a position-dependent executable. Every container has a
    // shim, and the shim is this binary re-executed (`peapod __shim`). As a
    // PIE, the dynamic loader applies its ~31 000 relative relocations at
    // every start, which dirties the ~500 KiB of .data.rel.ro and .got in
    // every shim: private memory paid once per container. At a fixed address
    // there is nothing to relocate, those pages stay clean and shared, and a
    // shim's private memory drops from ~680 to ~190 KiB (bench: density).
    // The cost: the executable image itself is not randomized (libraries,
    // heap, stack and mmaps still are), as with Go's default builds.
    println!("cargo:rustc-link-arg-bin=peapod=-no-pie");
}
