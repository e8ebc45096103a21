//! Events, as kubelet records them: one Event object per distinct
//! (object, fieldPath, type, reason, message, source); a repeat bumps
//! `count` and `lastTimestamp` instead of creating another (the event
//! correlator's aggregation). Events older than the TTL are deleted.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use serde_json::{Value, json};

use peapod_store::{Mutation, ObjKey, Preconditions, Store};

/// The reasons kubelet uses, as their exact strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Scheduled,
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
    MissingClusterDNS,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "Scheduled",
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

pub struct EventRecorder {
    store: Store,
    node_name: String,
    /// Aggregation key → event name.
    seen: Mutex<HashMap<String, String>>,
}

impl EventRecorder {
    pub fn new(store: Store, node_name: impl Into<String>) -> Self {
        EventRecorder { store, node_name: node_name.into(), seen: Mutex::new(HashMap::new()) }
    }

    /// Record an event from the kubelet.
    pub fn record(&self, obj: &InvolvedObject, t: EventType, reason: Reason, message: &str) {
        self.record_from("kubelet", obj, t, reason.as_str(), message);
    }

    /// Record an event from another component (e.g. "default-scheduler").
    pub fn record_from(&self, component: &str, obj: &InvolvedObject, t: EventType, reason: &str, message: &str) {
        let ns = if obj.namespace.is_empty() { "default" } else { obj.namespace.as_str() };
        let key = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
            obj.uid,
            obj.field_path,
            t.as_str(),
            reason,
            message,
            component
        );
        let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now()).to_string();
        let existing = self.seen.lock().expect("lock").get(&key).cloned();
        if let Some(name) = existing {
            let r = self.store.update_with(&ObjKey::new("events", ns, &name), |cur| -> Result<Mutation, ()> {
                let Some(cur) = cur else { return Err(()) };
                let mut ev = cur.clone();
                let count = ev["count"].as_i64().unwrap_or(1) + 1;
                ev["count"] = json!(count);
                ev["lastTimestamp"] = json!(now);
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
            // Bound the cache: it only serves aggregation of recent repeats.
            if seen.len() > 4096 {
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
        let later = Timestamp::now() + jiff::SignedDuration::from_hours(2);
        assert_eq!(r.expire(std::time::Duration::from_secs(3600), later), 2);
    }
}
