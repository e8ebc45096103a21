//! Watch events: what a change looks like to a watcher.

use std::sync::Arc;

use serde_json::Value;

/// Kind of change, as in the Kubernetes watch protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was replaced.
    Modified,
    /// The object was deleted.
    Deleted,
}

impl EventType {
    /// The wire name: `"ADDED"`, `"MODIFIED"` or `"DELETED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    /// What happened.
    pub kind: EventType,
    /// Resource of the object (`"pods"`, ...).
    pub resource: String,
    /// Namespace of the object (`""` if cluster-scoped).
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// Revision of this change; equals `object.metadata.resourceVersion`.
    pub rv: u64,
    /// The object after the change. For [`EventType::Deleted`]: the last
    /// state, with `metadata.resourceVersion` set to the deletion's revision
    /// (as Kubernetes does).
    pub object: Arc<Value>,
}

/// Which events a watch wants: one resource, optionally one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub(crate) resource: String,
    pub(crate) namespace: Option<String>,
}

impl Filter {
    pub(crate) fn matches(&self, ev: &WatchEvent) -> bool {
        self.matches_key(&ev.resource, &ev.namespace)
    }

    pub(crate) fn matches_key(&self, resource: &str, namespace: &str) -> bool {
        resource == self.resource && self.namespace.as_deref().is_none_or(|ns| namespace == ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(resource: &str, namespace: &str) -> WatchEvent {
        WatchEvent {
            kind: EventType::Added,
            resource: resource.into(),
            namespace: namespace.into(),
            name: "x".into(),
            rv: 1,
            object: Arc::new(Value::Null),
        }
    }

    #[test]
    fn as_str_is_the_wire_name() {
        assert_eq!(EventType::Added.as_str(), "ADDED");
        assert_eq!(EventType::Modified.as_str(), "MODIFIED");
        assert_eq!(EventType::Deleted.as_str(), "DELETED");
    }

    #[test]
    fn filter_matches_resource_and_optional_namespace() {
        let cases = [
            ("pods", None, "pods", "a", true),
            ("pods", None, "pods", "", true),
            ("pods", Some("a"), "pods", "a", true),
            ("pods", Some("a"), "pods", "b", false),
            ("pods", Some(""), "pods", "a", false),
            ("pods", None, "configmaps", "a", false),
        ];
        for (resource, namespace, ev_resource, ev_namespace, want) in cases {
            let filter = Filter { resource: resource.into(), namespace: namespace.map(Into::into) };
            assert_eq!(
                filter.matches(&event(ev_resource, ev_namespace)),
                want,
                "filter {resource}/{namespace:?} on {ev_resource}/{ev_namespace}"
            );
        }
    }
}
