//! Restart backoff, as kubelet's `flowcontrol.Backoff`: per container, the
//! delay starts at 10 s and doubles per restart up to 300 s; a container
//! that ran cleanly for twice the maximum (10 minutes) starts over.

use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_secs(10), Duration::from_secs(300))
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max, entries: HashMap::new() }
    }

    fn expired(&self, event: Timestamp, last: Timestamp) -> bool {
        event.duration_since(last) > SignedDuration::try_from(self.max * 2).unwrap_or(SignedDuration::MAX)
    }

    /// Is the container that finished at `finished` still in its back-off
    /// at `now`? Returns the time left if so.
    pub fn remaining(&self, key: &str, finished: Timestamp, now: Timestamp) -> Option<Duration> {
        let e = self.entries.get(key)?;
        if self.expired(finished, e.last_update) {
            return None;
        }
        let elapsed = now.duration_since(finished);
        let backoff = SignedDuration::try_from(e.backoff).ok()?;
        (elapsed < backoff).then(|| Duration::try_from(backoff - elapsed).unwrap_or_default())
    }

    /// Record a restart of the container that finished at `finished`.
    pub fn next(&mut self, key: &str, finished: Timestamp) {
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(finished, e.last_update) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(key.to_owned(), Entry { backoff, last_update: finished });
    }

    /// The current delay for `key` (for the CrashLoopBackOff message).
    pub fn delay(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.backoff).unwrap_or(self.initial)
    }

    /// Forget every key with this prefix (the pod is gone).
    pub fn forget_prefix(&mut self, prefix: &str) {
        self.entries.retain(|k, _| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn schedule_doubles_to_the_cap_and_resets_after_ten_minutes() {
        let mut b = Backoff::default();
        let k = "uid/c";
        // First crash: no back-off, restart at once.
        assert_eq!(b.remaining(k, t(0), t(0)), None);
        b.next(k, t(0));
        assert_eq!(b.delay(k), Duration::from_secs(10));
        // Second crash at 1 s: wait until 11 s.
        assert_eq!(b.remaining(k, t(1), t(1)), Some(Duration::from_secs(10)));
        assert_eq!(b.remaining(k, t(1), t(6)), Some(Duration::from_secs(5)));
        assert_eq!(b.remaining(k, t(1), t(11)), None);
        b.next(k, t(1));
        let mut delays = vec![b.delay(k).as_secs()];
        for i in 2..8 {
            b.next(k, t(i));
            delays.push(b.delay(k).as_secs());
        }
        assert_eq!(delays, vec![20, 40, 80, 160, 300, 300, 300]);
        // Ran cleanly for more than 10 minutes after the last restart: starts over.
        assert_eq!(b.remaining(k, t(7 + 601), t(7 + 601)), None);
        b.next(k, t(7 + 601));
        assert_eq!(b.delay(k), Duration::from_secs(10));
        b.forget_prefix("uid/");
        assert_eq!(b.remaining(k, t(1000), t(1000)), None);
    }
}
