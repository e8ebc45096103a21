//! One async lock per sandbox, so ADD, DEL, CHECK and gc of one sandbox
//! never overlap (host-local and portmap would see a half-made state).
//! Waiters are served in arrival order (tokio's mutex is fair), and the
//! entry is dropped when the last holder or waiter is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type LockMap = HashMap<String, Arc<tokio::sync::Mutex<()>>>;

/// The per-sandbox locks of one network.
#[derive(Debug, Default)]
pub(crate) struct SandboxLocks {
    map: Arc<Mutex<LockMap>>,
}

/// Holds one sandbox's lock; may be moved into a spawned task.
#[derive(Debug)]
pub(crate) struct SandboxGuard {
    map: Arc<Mutex<LockMap>>,
    id: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl SandboxLocks {
    /// Wait for the sandbox's lock.
    pub async fn lock(&self, id: &str) -> SandboxGuard {
        let m = self.map.lock().expect("sandbox lock map").entry(id.to_owned()).or_default().clone();
        SandboxGuard { map: self.map.clone(), id: id.to_owned(), guard: Some(m.lock_owned().await) }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

impl Drop for SandboxGuard {
    fn drop(&mut self) {
        let Some(g) = self.guard.take() else { return };
        let m = tokio::sync::OwnedMutexGuard::mutex(&g).clone();
        drop(g);
        let mut map = self.map.lock().expect("sandbox lock map");
        // The map's reference and `m`: nobody else holds or awaits it. New
        // lockers clone under the map lock we hold, so this cannot race.
        if Arc::strong_count(&m) == 2 {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn serializes_per_sandbox_and_cleans_up() {
        let locks = Arc::new(SandboxLocks::default());
        let g = locks.lock("a").await;
        // Another sandbox is independent.
        let other = locks.lock("b").await;
        drop(other);
        // Same sandbox waits.
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("a").await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(g);
        waiter.await.unwrap();
        assert_eq!(locks.len(), 0);
    }
}
