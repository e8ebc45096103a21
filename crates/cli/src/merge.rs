//! The three-way JSON merge patch of client-side `apply`.
//!
//! Inputs: `original` (the last-applied configuration, from the annotation),
//! `modified` (the new manifest, annotation included) and `current` (the live
//! object). The result is an RFC 7396 merge patch that
//!
//! - sets every field of `modified` whose value differs from `current`;
//! - deletes (`null`) every field that was in `original`, is gone from
//!   `modified` and is still in `current` (fields the user stopped managing);
//! - leaves alone fields only `current` has (server defaults, status,
//!   fields set by others);
//! - replaces lists whole (merge patch has no list merging). A list counts as
//!   unchanged when the live list matches the manifest's element by element,
//!   ignoring fields the manifest does not set (server defaults inside
//!   containers, ports...), *and* the manifest's list equals the last-applied
//!   one; otherwise the manifest's list is sent. This keeps a re-apply of an
//!   unchanged pod `unchanged` while still catching removals inside a list.
//!
//! An empty patch means `unchanged`: apply then sends nothing.

use serde_json::{Map, Value};

/// Compute the patch. `original` is `None` when the object has no
/// last-applied annotation.
pub fn three_way(original: Option<&Value>, modified: &Value, current: &Value) -> Value {
    match (modified, current) {
        (Value::Object(m), Value::Object(c)) => Value::Object(merge_maps(original.and_then(Value::as_object), m, c)),
        _ => modified.clone(),
    }
}

fn merge_maps(
    original: Option<&Map<String, Value>>,
    modified: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Map<String, Value> {
    let mut patch = Map::new();
    if let Some(o) = original {
        for k in o.keys() {
            if !modified.contains_key(k) && current.get(k).is_some_and(|v| !v.is_null()) {
                patch.insert(k.clone(), Value::Null);
            }
        }
    }
    for (k, mv) in modified {
        let ov = original.and_then(|o| o.get(k));
        let cv = current.get(k);
        match (mv, cv) {
            (Value::Null, None | Some(Value::Null)) => {}
            (Value::Object(m), Some(Value::Object(c))) => {
                let sub = merge_maps(ov.and_then(Value::as_object), m, c);
                if !sub.is_empty() {
                    patch.insert(k.clone(), Value::Object(sub));
                }
            }
            (Value::Array(m), Some(Value::Array(c))) => {
                let managed_same = ov.is_none_or(|o| values_equal(o, mv));
                if !managed_same || !lists_match(m, c) {
                    patch.insert(k.clone(), mv.clone());
                }
            }
            (_, Some(c)) if values_equal(mv, c) => {}
            _ => {
                patch.insert(k.clone(), mv.clone());
            }
        }
    }
    patch
}

/// `m` (from the manifest) matches `c` (live) when they have the same length
/// and each element of `m` is contained in the element of `c` at its index.
fn lists_match(m: &[Value], c: &[Value]) -> bool {
    m.len() == c.len() && m.iter().zip(c).all(|(a, b)| contained(a, b))
}

/// Every field `a` sets has the same value in `b` (recursively); fields only
/// `b` has are ignored.
fn contained(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => ma.iter().all(|(k, va)| match mb.get(k) {
            Some(vb) => contained(va, vb),
            None => va.is_null(),
        }),
        (Value::Array(la), Value::Array(lb)) => lists_match(la, lb),
        _ => values_equal(a, b),
    }
}

/// Equality that treats `80` and `80.0` as the same number.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| values_equal(v, w)),
        _ => a == b,
    }
}

/// Whether a patch changes nothing.
pub fn is_empty_patch(p: &Value) -> bool {
    p.as_object().is_some_and(Map::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_pod(labels: Value, image: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5", "labels": labels},
               "spec": {"containers": [{"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                        "terminationMessagePath": "/dev/termination-log"}],
                        "restartPolicy": "Always"},
               "status": {"phase": "Running"}})
    }

    fn manifest(labels: Value, container: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": labels},
               "spec": {"containers": [container]}})
    }

    #[test]
    fn three_way_cases() {
        let base_c = json!({"name": "main", "image": "nginx:1", "ports": [{"containerPort": 80}]});
        let base = manifest(json!({"app": "web"}), base_c.clone());
        struct Case {
            name: &'static str,
            original: Option<Value>,
            modified: Value,
            current: Value,
            want: Value,
        }
        let cases = [
            Case {
                name: "unchanged despite server defaults in the list",
                original: Some(base.clone()),
                modified: base.clone(),
                current: live_pod(json!({"app": "web"}), "nginx:1"),
                want: json!({}),
            },
            Case {
                name: "added label",
                original: Some(base.clone()),
                modified: manifest(json!({"app": "web", "tier": "front"}), base_c.clone()),
                current: live_pod(json!({"app": "web"}), "nginx:1"),
                want: json!({"metadata": {"labels": {"tier": "front"}}}),
            },
            Case {
                name: "removed label is deleted",
                original: Some(manifest(json!({"app": "web", "tier": "front"}), base_c.clone())),
                modified: base.clone(),
                current: live_pod(json!({"app": "web", "tier": "front"}), "nginx:1"),
                want: json!({"metadata": {"labels": {"tier": null}}}),
            },
            Case {
                name: "label added by someone else is kept",
                original: Some(base.clone()),
                modified: base.clone(),
                current: live_pod(json!({"app": "web", "other": "x"}), "nginx:1"),
                want: json!({}),
            },
            Case {
                name: "changed image replaces the list",
                original: Some(base.clone()),
                modified: manifest(
                    json!({"app": "web"}),
                    json!({"name": "main", "image": "nginx:2", "ports": [{"containerPort": 80}]}),
                ),
                current: live_pod(json!({"app": "web"}), "nginx:1"),
                want: json!({"spec": {"containers": [{"name": "main", "image": "nginx:2", "ports": [{"containerPort": 80}]}]}}),
            },
            Case {
                name: "field dropped inside a list element replaces the list",
                original: Some(base.clone()),
                modified: manifest(json!({"app": "web"}), json!({"name": "main", "image": "nginx:1"})),
                current: live_pod(json!({"app": "web"}), "nginx:1"),
                want: json!({"spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}),
            },
            Case {
                name: "image changed live by someone else is put back",
                original: Some(base.clone()),
                modified: base.clone(),
                current: live_pod(json!({"app": "web"}), "nginx:other"),
                want: json!({"spec": {"containers": [base_c.clone()]}}),
            },
            Case {
                name: "no last-applied: only additions and changes",
                original: None,
                modified: manifest(json!({"app": "web2"}), base_c.clone()),
                current: live_pod(json!({"app": "web", "x": "y"}), "nginx:1"),
                want: json!({"metadata": {"labels": {"app": "web2"}}}),
            },
            Case {
                name: "deleting a field already gone sends nothing",
                original: Some(json!({"data": {"a": "1", "b": "2"}})),
                modified: json!({"data": {"a": "1"}}),
                current: json!({"data": {"a": "1"}}),
                want: json!({}),
            },
            Case {
                name: "numbers compare by value",
                original: None,
                modified: json!({"spec": {"n": 1.0}}),
                current: json!({"spec": {"n": 1}}),
                want: json!({}),
            },
            Case {
                name: "whole new sub-object",
                original: None,
                modified: json!({"data": {"a": "1"}}),
                current: json!({"metadata": {}}),
                want: json!({"data": {"a": "1"}}),
            },
        ];
        for c in cases {
            let got = three_way(c.original.as_ref(), &c.modified, &c.current);
            assert_eq!(got, c.want, "case: {}", c.name);
        }
    }

    #[test]
    fn empty_patch() {
        assert!(is_empty_patch(&json!({})));
        assert!(!is_empty_patch(&json!({"a": null})));
    }
}
