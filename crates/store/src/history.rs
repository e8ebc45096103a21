//! The watch history: a ring of the most recent events, so a watch can resume
//! from a resourceVersion (the kube-apiserver watch cache's job).
//!
//! A watch on resource `r` resuming after revision `n` is possible only if no
//! event of `r` newer than `n` has been dropped. The ring is shared by all
//! resources, but the *horizon* (the oldest revision a watch can resume from)
//! is tracked per resource: dropping a burst of `events` objects must not
//! expire every `pods` watch.
//!
//! Events are kept serialized (the JSON the write already produced for
//! SQLite): a decoded pod is about ten times the size of its JSON, and the
//! history exists for the rare watch that resumes or lags, which pays the
//! decoding — after the store lock is released: under the lock a replay only
//! copies [`Recorded`] events (an `Arc` of the text each). Like the apiserver's watch cache, the ring keeps what is fresh:
//! at most `capacity` events, and none older than [`FRESH`] beyond the
//! newest [`MIN_KEEP`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{EventType, WatchEvent};

/// How long an event stays resumable (the apiserver's eventFreshDuration).
pub(crate) const FRESH: Duration = Duration::from_secs(75);
/// Events kept whatever their age (a quiet store still resumes recent watches).
pub(crate) const MIN_KEEP: usize = 100;

/// One recorded event: its identity and the object's JSON.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    kind: EventType,
    resource: String,
    namespace: String,
    name: String,
    rv: u64,
    body: Arc<str>,
}

impl Recorded {
    /// The event with its object decoded.
    pub(crate) fn decode(self) -> WatchEvent {
        WatchEvent {
            kind: self.kind,
            resource: self.resource,
            namespace: self.namespace,
            name: self.name,
            rv: self.rv,
            // The text came from serializing a Value: it parses back.
            object: Arc::new(serde_json::from_str(&self.body).unwrap_or(Value::Null)),
        }
    }
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    event: Recorded,
}

#[derive(Debug)]
pub(crate) struct History {
    capacity: usize,
    /// Oldest first; revisions strictly increasing.
    events: VecDeque<Entry>,
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

    /// Appends the newest event (`body`: its object as JSON), dropping the
    /// oldest beyond capacity and those no longer fresh.
    pub(crate) fn push(&mut self, event: &WatchEvent, body: String) {
        self.push_at(event, body, Instant::now());
    }

    fn push_at(&mut self, event: &WatchEvent, body: String, now: Instant) {
        debug_assert!(self.events.back().is_none_or(|last| last.event.rv < event.rv));
        let event = Recorded {
            kind: event.kind,
            resource: event.resource.clone(),
            namespace: event.namespace.clone(),
            name: event.name.clone(),
            rv: event.rv,
            body: body.into(),
        };
        self.events.push_back(Entry { at: now, event });
        while self.events.len() > self.capacity
            || (self.events.len() > MIN_KEEP && self.events.front().is_some_and(|e| now.duration_since(e.at) > FRESH))
        {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            // Revisions only grow, so the last drop is the newest dropped.
            self.dropped.insert(old.event.resource, old.event.rv);
        }
    }

    /// The smallest revision a watch on `resource` can resume after: every
    /// event of `resource` with a higher revision is still in the ring.
    pub(crate) fn horizon(&self, resource: &str) -> u64 {
        self.dropped.get(resource).map_or(self.base, |&rv| rv.max(self.base))
    }

    /// Events with revision greater than `after` that `keep` accepts
    /// (resource, namespace), oldest first, still encoded.
    pub(crate) fn since(&self, after: u64, keep: impl Fn(&str, &str) -> bool) -> Vec<Recorded> {
        let start = self.events.partition_point(|e| e.event.rv <= after);
        self.events
            .range(start..)
            .filter(|e| keep(&e.event.resource, &e.event.namespace))
            .map(|e| e.event.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(resource: &str, rv: u64) -> WatchEvent {
        WatchEvent {
            kind: EventType::Added,
            resource: resource.into(),
            namespace: String::new(),
            name: format!("o{rv}"),
            rv,
            object: Arc::new(serde_json::json!({"rv": rv})),
        }
    }

    fn push(h: &mut History, e: WatchEvent) {
        let body = e.object.to_string();
        h.push(&e, body);
    }

    fn rvs(h: &History, after: u64) -> Vec<u64> {
        h.since(after, |_, _| true).iter().map(|e| e.rv).collect()
    }

    #[test]
    fn keeps_the_last_capacity_events() {
        let mut h = History::new(3, 10);
        for rv in 11..=15 {
            push(&mut h, ev("pods", rv));
        }
        assert_eq!(rvs(&h, 0), [13, 14, 15]);
        assert_eq!(rvs(&h, 13), [14, 15]);
        assert_eq!(rvs(&h, 15), Vec::<u64>::new());
        let back = h.since(14, |_, _| true).remove(0).decode();
        assert_eq!(back.object["rv"], 15, "the object decodes back");
        assert_eq!(back.name, "o15");
    }

    #[test]
    fn horizon_starts_at_base_and_follows_drops_per_resource() {
        let mut h = History::new(2, 10);
        assert_eq!(h.horizon("pods"), 10);
        push(&mut h, ev("pods", 11));
        push(&mut h, ev("events", 12));
        assert_eq!(h.horizon("pods"), 10, "nothing dropped yet");
        push(&mut h, ev("events", 13));
        // pods@11 dropped: a pods watch must resume at 11 or later.
        assert_eq!(h.horizon("pods"), 11);
        assert_eq!(h.horizon("events"), 10);
        push(&mut h, ev("events", 14));
        push(&mut h, ev("events", 15));
        assert_eq!(h.horizon("events"), 13);
        assert_eq!(h.horizon("pods"), 11, "events drops do not move pods");
        assert_eq!(h.horizon("nodes"), 10);
        assert_eq!(h.since(0, |r, _| r == "events").len(), 2);
        assert!(h.since(0, |r, _| r == "pods").is_empty());
    }

    #[test]
    fn zero_capacity_keeps_nothing_but_tracks_horizon() {
        let mut h = History::new(0, 0);
        push(&mut h, ev("pods", 1));
        push(&mut h, ev("pods", 2));
        assert_eq!(rvs(&h, 0), Vec::<u64>::new());
        assert_eq!(h.horizon("pods"), 2);
    }

    #[test]
    fn stale_events_go_beyond_the_newest_ones_kept() {
        let mut h = History::new(10_000, 0);
        let t0 = Instant::now();
        let n = MIN_KEEP as u64 + 50;
        for rv in 1..=n {
            let e = ev("pods", rv);
            h.push_at(&e, "{}".into(), t0);
        }
        assert_eq!(h.events.len(), n as usize, "all fresh");
        let later = t0 + FRESH + Duration::from_secs(1);
        h.push_at(&ev("pods", n + 1), "{}".into(), later);
        // The stale ones go, down to the newest MIN_KEEP.
        assert_eq!(h.events.len(), MIN_KEEP);
        assert_eq!(h.horizon("pods"), n + 1 - MIN_KEEP as u64);
    }
}
