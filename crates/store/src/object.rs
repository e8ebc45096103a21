//! Pure helpers over object bodies: shape checks, `metadata.resourceVersion`,
//! no-op detection and delete preconditions. No locking, no I/O.

use serde_json::{Map, Value};

use crate::{ObjKey, Preconditions, StoreError};

/// The kube-apiserver's message for an update whose resourceVersion is stale.
pub const CONFLICT_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

fn metadata_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    metadata(obj)?.get(field)?.as_str()
}

/// Checks that `obj` can be stored under `key`: a JSON object with a
/// `metadata` object whose `name`/`namespace`, when present, match the key.
/// A missing `metadata.namespace` is accepted (Kubernetes fills it from the URL).
pub(crate) fn validate(key: &ObjKey, obj: &Value) -> Result<(), StoreError> {
    let invalid = |msg: String| Err(StoreError::InvalidObject(msg));
    let Some(body) = obj.as_object() else {
        return invalid(format!("{key}: body must be a JSON object"));
    };
    let Some(meta) = body.get("metadata").and_then(Value::as_object) else {
        return invalid(format!("{key}: body has no metadata object"));
    };
    match meta.get("name") {
        None => {}
        Some(Value::String(name)) if *name == key.name => {}
        Some(other) => {
            return invalid(format!("{key}: metadata.name {other} does not match the key"));
        }
    }
    match meta.get("namespace") {
        None => {}
        Some(Value::String(ns)) if *ns == key.namespace => {}
        // Kubernetes clears namespace on cluster-scoped objects; an empty one
        // is the same as none.
        Some(Value::String(ns)) if ns.is_empty() => {}
        Some(other) => {
            return invalid(format!("{key}: metadata.namespace {other} does not match the key"));
        }
    }
    Ok(())
}

/// `metadata.resourceVersion`, if set and non-empty.
pub(crate) fn resource_version(obj: &Value) -> Option<&str> {
    metadata_str(obj, "resourceVersion").filter(|rv| !rv.is_empty())
}

/// `metadata.uid`, or `""`.
pub(crate) fn uid(obj: &Value) -> &str {
    metadata_str(obj, "uid").unwrap_or("")
}

/// Sets `metadata.resourceVersion` to `rv` as a decimal string. Does nothing on
/// a body without a metadata object ([`validate`] rejects those earlier).
pub(crate) fn set_resource_version(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// True when `a` and `b` are equal apart from `metadata.resourceVersion`.
/// Like the kube-apiserver, a write that changes nothing else is a no-op: it
/// keeps the resourceVersion and emits no event (kubectl reports "unchanged").
pub(crate) fn same_content(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    a.len() == b.len()
        && a.iter().all(|(field, va)| match b.get(field) {
            Some(vb) if field == "metadata" => same_metadata(va, vb),
            Some(vb) => va == vb,
            None => false,
        })
}

fn same_metadata(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let fields = |m: &'_ Map<String, Value>| m.keys().filter(|k| *k != "resourceVersion").count();
    fields(a) == fields(b) && a.iter().filter(|(k, _)| *k != "resourceVersion").all(|(k, va)| b.get(k) == Some(va))
}

/// Checks delete preconditions against the stored object; on failure returns
/// the kube-apiserver's message.
pub(crate) fn check_preconditions(pre: &Preconditions, current: &Value) -> Result<(), String> {
    if let Some(want) = &pre.uid {
        let have = uid(current);
        if want != have {
            return Err(format!("Precondition failed: UID in precondition: {want}, UID in object meta: {have}"));
        }
    }
    if let Some(want) = &pre.resource_version {
        let have = resource_version(current).unwrap_or("");
        if want != have {
            return Err(format!(
                "Precondition failed: ResourceVersion in precondition: {want}, \
                 ResourceVersion in object meta: {have}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn validate_table() {
        let ns_key = ObjKey::new("pods", "default", "web");
        let cluster_key = ObjKey::new("nodes", "", "n1");
        let cases: &[(&str, &ObjKey, Value, bool)] = &[
            ("full", &ns_key, json!({"metadata": {"name": "web", "namespace": "default"}}), true),
            ("no name or namespace", &ns_key, json!({"metadata": {}}), true),
            ("cluster, no namespace", &cluster_key, json!({"metadata": {"name": "n1"}}), true),
            ("cluster, empty namespace", &cluster_key, json!({"metadata": {"name": "n1", "namespace": ""}}), true),
            ("not an object", &ns_key, json!([1, 2]), false),
            ("null", &ns_key, Value::Null, false),
            ("no metadata", &ns_key, json!({"spec": {}}), false),
            ("metadata not an object", &ns_key, json!({"metadata": "x"}), false),
            ("other name", &ns_key, json!({"metadata": {"name": "db"}}), false),
            ("name not a string", &ns_key, json!({"metadata": {"name": 7}}), false),
            ("other namespace", &ns_key, json!({"metadata": {"name": "web", "namespace": "kube-system"}}), false),
            (
                "namespaced body, cluster key",
                &cluster_key,
                json!({"metadata": {"name": "n1", "namespace": "a"}}),
                false,
            ),
        ];
        for (name, key, obj, ok) in cases {
            let got = validate(key, obj);
            assert_eq!(got.is_ok(), *ok, "{name}: {got:?}");
            if let Err(e) = got {
                assert!(matches!(e, StoreError::InvalidObject(_)), "{name}: {e:?}");
            }
        }
    }

    #[test]
    fn resource_version_ignores_empty_and_non_strings() {
        let cases = [
            (json!({"metadata": {"resourceVersion": "12"}}), Some("12")),
            (json!({"metadata": {"resourceVersion": ""}}), None),
            (json!({"metadata": {"resourceVersion": 12}}), None),
            (json!({"metadata": {}}), None),
            (json!({}), None),
        ];
        for (obj, want) in cases {
            assert_eq!(resource_version(&obj), want, "{obj}");
        }
    }

    #[test]
    fn set_resource_version_writes_decimal_string() {
        let mut obj = json!({"metadata": {"name": "a", "resourceVersion": "3"}});
        set_resource_version(&mut obj, 42);
        assert_eq!(obj["metadata"]["resourceVersion"], json!("42"));
        let mut no_meta = json!({"spec": {}});
        set_resource_version(&mut no_meta, 1);
        assert_eq!(no_meta, json!({"spec": {}}));
    }

    #[test]
    fn same_content_ignores_only_resource_version() {
        let base = json!({"metadata": {"name": "a", "resourceVersion": "1", "labels": {"x": "1"}}, "spec": {"n": 1}});
        let cases = [
            ("identical", base.clone(), true),
            (
                "other rv",
                json!({"metadata": {"name": "a", "resourceVersion": "9", "labels": {"x": "1"}}, "spec": {"n": 1}}),
                true,
            ),
            ("no rv", json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"n": 1}}), true),
            ("key order", json!({"spec": {"n": 1}, "metadata": {"labels": {"x": "1"}, "name": "a"}}), true),
            ("label changed", json!({"metadata": {"name": "a", "labels": {"x": "2"}}, "spec": {"n": 1}}), false),
            ("spec changed", json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"n": 2}}), false),
            (
                "field added",
                json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"n": 1}, "status": {}}),
                false,
            ),
            (
                "meta field added",
                json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1"}}, "spec": {"n": 1}}),
                false,
            ),
            ("meta field dropped", json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"n": 1}}), false),
        ];
        for (name, other, want) in cases {
            assert_eq!(same_content(&base, &other), want, "{name}");
            assert_eq!(same_content(&other, &base), want, "{name} (swapped)");
        }
    }

    #[test]
    fn preconditions_table() {
        let obj = json!({"metadata": {"uid": "u1", "resourceVersion": "7"}});
        let pre = |uid: Option<&str>, rv: Option<&str>| Preconditions {
            uid: uid.map(Into::into),
            resource_version: rv.map(Into::into),
        };
        let cases = [
            ("none", pre(None, None), None),
            ("both match", pre(Some("u1"), Some("7")), None),
            ("uid differs", pre(Some("u2"), None), Some("UID in precondition: u2, UID in object meta: u1")),
            (
                "rv differs",
                pre(None, Some("6")),
                Some("ResourceVersion in precondition: 6, ResourceVersion in object meta: 7"),
            ),
        ];
        for (name, pre, want) in cases {
            match (check_preconditions(&pre, &obj), want) {
                (Ok(()), None) => {}
                (Err(msg), Some(part)) => {
                    assert!(msg.starts_with("Precondition failed: "), "{name}: {msg}");
                    assert!(msg.contains(part), "{name}: {msg}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }
}
