//! Events, as kubelet records them through client-go's EventCorrelator:
//! - one Event object per distinct (object, fieldPath, type, reason,
//!   message, source); a repeat bumps `count` and `lastTimestamp` instead of
//!   creating another;
//! - the aggregator: once ten events with the same (object, type, reason,
//!   source) but different messages arrive within ten minutes, later ones
//!   are folded into one event whose message starts with
//!   "(combined from similar events): " (so a probe whose output changes on
//!   every failure does not flood the store);
//! - events older than the TTL are deleted.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use peapod_store::{Mutation, ObjKey, Preconditions, Store};

/// The reasons kubelet uses, as their exact strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Scheduled,
    Pulling,
    Pulled,
    Failed,
    BackOff,
    Created,
    Started,
    Killing,
    FailedMount,
    FailedCreatePodSandBox,
    SandboxChanged,
    Unhealthy,
    ProbeWarning,
    FailedPostStartHook,
    FailedPreStopHook,
    DeadlineExceeded,
    FailedKillPod,
    SysctlForbidden,
    MissingClusterDNS,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "Scheduled",
            Reason::Pulling => "Pulling",
            Reason::Pulled => "Pulled",
            Reason::Failed => "Failed",
            Reason::BackOff => "BackOff",
            Reason::Created => "Created",
            Reason::Started => "Started",
            Reason::Killing => "Killing",
            Reason::FailedMount => "FailedMount",
            Reason::FailedCreatePodSandBox => "FailedCreatePodSandBox",
            Reason::SandboxChanged => "SandboxChanged",
            Reason::Unhealthy => "Unhealthy",
            Reason::ProbeWarning => "ProbeWarning",
            Reason::FailedPostStartHook => "FailedPostStartHook",
            Reason::FailedPreStopHook => "FailedPreStopHook",
            Reason::DeadlineExceeded => "DeadlineExceeded",
            Reason::FailedKillPod => "FailedKillPod",
            Reason::SysctlForbidden => "SysctlForbidden",
            Reason::MissingClusterDNS => "MissingClusterDNS",
        }
    }
}

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvolvedObject {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub field_path: String,
}

/// client-go's aggregator limits: this many distinct messages for one
/// (object, type, reason, source) within the interval start folding.
const AGGREGATE_MAX_EVENTS: usize = 10;
const AGGREGATE_INTERVAL: SignedDuration = SignedDuration::from_secs(600);
/// Cache bounds: they only serve aggregation of recent repeats.
const CACHE_LIMIT: usize = 4096;

/// Distinct messages seen for one aggregate key.
#[derive(Debug, Default)]
struct Similar {
    messages: HashSet<String>,
    last: Option<Timestamp>,
}

/// The aggregator's decision for one event: the message to record and
/// whether it is the folded ("combined") form.
fn aggregate(cache: &mut HashMap<String, Similar>, key: &str, message: &str, now: Timestamp) -> (String, bool) {
    if cache.len() > CACHE_LIMIT {
        cache.clear();
    }
    let entry = cache.entry(key.to_owned()).or_default();
    if entry.last.is_some_and(|l| now.duration_since(l) > AGGREGATE_INTERVAL) {
        *entry = Similar::default();
    }
    entry.last = Some(now);
    // The set never grows past the limit: beyond it everything folds anyway.
    if entry.messages.len() < AGGREGATE_MAX_EVENTS {
        entry.messages.insert(message.to_owned());
    }
    if entry.messages.len() >= AGGREGATE_MAX_EVENTS {
        (format!("(combined from similar events): {message}"), true)
    } else {
        (message.to_owned(), false)
    }
}

pub struct EventRecorder {
    store: Store,
    node_name: String,
    /// Deduplication key → event name.
    seen: Mutex<HashMap<String, String>>,
    /// Aggregate key (no message) → distinct messages seen lately.
    similar: Mutex<HashMap<String, Similar>>,
}

impl EventRecorder {
    pub fn new(store: Store, node_name: impl Into<String>) -> Self {
        EventRecorder {
            store,
            node_name: node_name.into(),
            seen: Mutex::new(HashMap::new()),
            similar: Mutex::new(HashMap::new()),
        }
    }

    /// Record an event from the kubelet.
    pub fn record(&self, obj: &InvolvedObject, t: EventType, reason: Reason, message: &str) {
        self.record_from("kubelet", obj, t, reason.as_str(), message);
    }

    /// Record an event from another component (e.g. "default-scheduler").
    pub fn record_from(&self, component: &str, obj: &InvolvedObject, t: EventType, reason: &str, message: &str) {
        let ns = if obj.namespace.is_empty() { "default" } else { obj.namespace.as_str() };
        let aggregate_key =
            format!("{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}", obj.uid, obj.field_path, t.as_str(), reason, component);
        let (message, combined) =
            aggregate(&mut self.similar.lock().expect("lock"), &aggregate_key, message, Timestamp::now());
        let message = message.as_str();
        // A combined event is one object whatever its latest message says.
        let key = if combined { aggregate_key } else { format!("{aggregate_key}\u{0}{message}") };
        let now = crate::clock::whole_seconds(Timestamp::now()).to_string();
        let existing = self.seen.lock().expect("lock").get(&key).cloned();
        if let Some(name) = existing {
            let r = self.store.update_with(&ObjKey::new("events", ns, &name), |cur| -> Result<Mutation, ()> {
                let Some(cur) = cur else { return Err(()) };
                let mut ev = cur.clone();
                let count = ev["count"].as_i64().unwrap_or(1) + 1;
                ev["count"] = json!(count);
                ev["lastTimestamp"] = json!(now);
                ev["message"] = json!(message);
                Ok(Mutation::Put(ev))
            });
            if r.is_ok() {
                return;
            }
        }
        let nanos = Timestamp::now().as_nanosecond();
        let name = format!("{}.{:x}", obj.name, nanos);
        let mut involved =
            json!({"kind": obj.kind, "namespace": obj.namespace, "name": obj.name, "uid": obj.uid, "apiVersion": "v1"});
        if !obj.field_path.is_empty() {
            involved["fieldPath"] = json!(obj.field_path);
        }
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": {"component": component, "host": self.node_name},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": t.as_str(),
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": self.node_name,
        });
        if self.store.create(&ObjKey::new("events", ns, &name), ev).is_ok() {
            let mut seen = self.seen.lock().expect("lock");
            if seen.len() > CACHE_LIMIT {
                seen.clear();
            }
            seen.insert(key, name);
        }
    }

    /// Delete events whose lastTimestamp is older than `ttl` (the
    /// apiserver's --event-ttl, 1 h by default). Returns how many.
    pub fn expire(&self, ttl: std::time::Duration, now: Timestamp) -> usize {
        let (events, _) = self.store.list("events", None);
        let cutoff = now - jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX);
        let mut n = 0;
        for e in events {
            let last = e.get("lastTimestamp").and_then(Value::as_str).and_then(|s| s.parse::<Timestamp>().ok());
            if last.is_some_and(|l| l < cutoff) {
                let ns = e.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
                let name = e.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                if self.store.delete(&ObjKey::new("events", ns, name), &Preconditions::default()).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_window_resets_after_ten_minutes() {
        let mut c = HashMap::new();
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        for i in 0..9 {
            assert!(!aggregate(&mut c, "k", &format!("m{i}"), t).1, "message {i}");
        }
        assert_eq!(aggregate(&mut c, "k", "m9", t), ("(combined from similar events): m9".to_string(), true));
        // Past the limit even a repeat folds, and the cache stops growing.
        assert!(aggregate(&mut c, "k", "m0", t).1);
        assert!(aggregate(&mut c, "k", "new", t).1);
        assert_eq!(c["k"].messages.len(), AGGREGATE_MAX_EVENTS);
        assert!(!aggregate(&mut c, "other", "m0", t).1, "keys are independent");
        let later = t + SignedDuration::from_secs(601);
        assert!(!aggregate(&mut c, "k", "m10", later).1);
    }

    #[test]
    fn repeats_are_aggregated() {
        let store = Store::open_in_memory(Default::default()).unwrap();
        let r = EventRecorder::new(store.clone(), "n1");
        let o = InvolvedObject {
            kind: "Pod".into(),
            namespace: "default".into(),
            name: "busy".into(),
            uid: "u".into(),
            field_path: "spec.containers{busy}".into(),
        };
        r.record(&o, EventType::Warning, Reason::BackOff, "Back-off restarting failed container");
        r.record(&o, EventType::Warning, Reason::BackOff, "Back-off restarting failed container");
        r.record(&o, EventType::Normal, Reason::Started, "Started container busy");
        let (evs, _) = store.list("events", Some("default"));
        assert_eq!(evs.len(), 2);
        let backoff = evs.iter().find(|e| e["reason"] == "BackOff").unwrap();
        assert_eq!(backoff["count"], 2);
        assert_eq!(backoff["involvedObject"]["fieldPath"], "spec.containers{busy}");
        assert_eq!(backoff["source"]["component"], "kubelet");
        assert_eq!(r.expire(std::time::Duration::from_secs(3600), Timestamp::now()), 0);
        // Ten different messages for one reason: the tenth and later fold into one event.
        for i in 0..14 {
            r.record(&o, EventType::Warning, Reason::Unhealthy, &format!("Liveness probe failed: try {i}"));
        }
        let (evs, _) = store.list("events", Some("default"));
        let unhealthy: Vec<&Value> = evs.iter().map(|e| e.as_ref()).filter(|e| e["reason"] == "Unhealthy").collect();
        assert_eq!(unhealthy.len(), 10, "nine distinct events plus one combined");
        let combined = unhealthy
            .iter()
            .find(|e| e["message"].as_str().unwrap().starts_with("(combined from similar events): "))
            .unwrap();
        assert_eq!(combined["count"], 5);
        assert_eq!(combined["message"], "(combined from similar events): Liveness probe failed: try 13");
        let later = Timestamp::now() + jiff::SignedDuration::from_hours(2);
        assert_eq!(r.expire(std::time::Duration::from_secs(3600), later), 12);
    }
}
