//! Giving freed heap back to the system.
//!
//! glibc's allocator keeps memory that was freed in the middle of its
//! arenas: after a burst (200 pods created, their JSON encoded and decoded
//! many times over) the daemon's RSS stays at the burst's peak although the
//! live heap is much smaller. `malloc_trim(0)` returns the free pages of
//! every arena (MADV_DONTNEED); the daemon calls it now and then.
#![allow(unsafe_code)]

use std::time::Duration;

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
