//! The watch history: a ring of the most recent events, so a watch can resume
//! from a resourceVersion (the kube-apiserver watch cache's job).
//!
//! A watch on resource `r` resuming after revision `n` is possible only if no
//! event of `r` newer than `n` has been dropped. The ring is shared by all
//! resources, but the *horizon* (the oldest revision a watch can resume from)
//! is tracked per resource: dropping a burst of `events` objects must not
//! expire every `pods` watch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::WatchEvent;

#[derive(Debug)]
pub(crate) struct History {
    capacity: usize,
    /// Oldest first; revisions strictly increasing.
    events: VecDeque<Arc<WatchEvent>>,
    /// Revision when recording started (the store's revision at open). Events
    /// at or before it were never recorded, for any resource.
    base: u64,
    /// Per resource, the revision of the newest event dropped from the ring.
    dropped: HashMap<String, u64>,
}

impl History {
    pub(crate) fn new(capacity: usize, base: u64) -> History {
        History {
            capacity,
            // Grows as needed: a small store should not hold 10_000 slots.
            events: VecDeque::new(),
            base,
            dropped: HashMap::new(),
        }
    }

    /// Appends the newest event, dropping the oldest beyond capacity.
    pub(crate) fn push(&mut self, event: Arc<WatchEvent>) {
        debug_assert!(self.events.back().is_none_or(|last| last.rv < event.rv));
        self.events.push_back(event);
        while self.events.len() > self.capacity {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            // Revisions only grow, so the last drop is the newest dropped.
            self.dropped.insert(old.resource.clone(), old.rv);
        }
    }

    /// The smallest revision a watch on `resource` can resume after: every
    /// event of `resource` with a higher revision is still in the ring.
    pub(crate) fn horizon(&self, resource: &str) -> u64 {
        self.dropped.get(resource).map_or(self.base, |&rv| rv.max(self.base))
    }

    /// Events with revision greater than `after`, oldest first.
    pub(crate) fn since(&self, after: u64) -> impl Iterator<Item = &Arc<WatchEvent>> {
        let start = self.events.partition_point(|e| e.rv <= after);
        self.events.range(start..)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::EventType;

    fn ev(resource: &str, rv: u64) -> Arc<WatchEvent> {
        Arc::new(WatchEvent {
            kind: EventType::Added,
            resource: resource.into(),
            namespace: String::new(),
            name: format!("o{rv}"),
            rv,
            object: Arc::new(Value::Null),
        })
    }

    fn rvs<'a>(it: impl Iterator<Item = &'a Arc<WatchEvent>>) -> Vec<u64> {
        it.map(|e| e.rv).collect()
    }

    #[test]
    fn keeps_the_last_capacity_events() {
        let mut h = History::new(3, 10);
        for rv in 11..=15 {
            h.push(ev("pods", rv));
        }
        assert_eq!(rvs(h.since(0)), [13, 14, 15]);
        assert_eq!(rvs(h.since(13)), [14, 15]);
        assert_eq!(rvs(h.since(15)), Vec::<u64>::new());
    }

    #[test]
    fn horizon_starts_at_base_and_follows_drops_per_resource() {
        let mut h = History::new(2, 10);
        assert_eq!(h.horizon("pods"), 10);
        h.push(ev("pods", 11));
        h.push(ev("events", 12));
        assert_eq!(h.horizon("pods"), 10, "nothing dropped yet");
        h.push(ev("events", 13));
        // pods@11 dropped: a pods watch must resume at 11 or later.
        assert_eq!(h.horizon("pods"), 11);
        assert_eq!(h.horizon("events"), 10);
        h.push(ev("events", 14));
        h.push(ev("events", 15));
        assert_eq!(h.horizon("events"), 13);
        assert_eq!(h.horizon("pods"), 11, "events drops do not move pods");
        assert_eq!(h.horizon("nodes"), 10);
    }

    #[test]
    fn zero_capacity_keeps_nothing_but_tracks_horizon() {
        let mut h = History::new(0, 0);
        h.push(ev("pods", 1));
        h.push(ev("pods", 2));
        assert_eq!(rvs(h.since(0)), Vec::<u64>::new());
        assert_eq!(h.horizon("pods"), 2);
    }
}
