//! Giving freed heap back to the system.
//!
//! glibc's allocator keeps memory that was freed in the middle of its
//! arenas: after a burst (200 pods created, their JSON encoded and decoded
//! many times over) the daemon's RSS stays at the burst's peak although the
//! live heap is much smaller. `malloc_trim(0)` returns the free pages of
//! every arena (MADV_DONTNEED); the daemon calls it now and then.
#![allow(unsafe_code)]

use std::time::Duration;

/// How many malloc arenas the daemon may use. glibc makes up to eight per
/// core as threads contend (tokio workers, blocking-pool threads), and each
/// keeps its own free memory: at 200 pods, after the benchmark's start and
/// churn phases, capping them at two took the daemon from 70.9 to 59.4 MiB
/// RSS (`scripts/bench.sh --only start,churn,density`).
const ARENAS: libc::c_int = 2;

/// Cap the malloc arenas; call first thing, before other threads exist.
pub fn limit_arenas() {
    // SAFETY: mallopt takes no pointers; called before the process has
    // other threads (it is also safe with them: it takes the main arena lock).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// How often the heap is trimmed.
const EVERY: Duration = Duration::from_secs(10);

/// Trim the heap every [`EVERY`] until the process ends, on a thread of
/// its own: a trim walks every arena under its lock and madvises, which
/// must not hold up a tokio worker.
pub fn spawn_trimmer() {
    let _ = std::thread::Builder::new().name("heap-trim".into()).spawn(|| {
        loop {
            std::thread::sleep(EVERY);
            // SAFETY: malloc_trim takes no pointers and may be called from
            // any thread at any time; it only takes the allocator's own locks.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    });
}
