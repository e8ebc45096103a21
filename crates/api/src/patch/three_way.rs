//! kubectl's three-way JSON merge patch for `apply`
//! (`jsonmergepatch.CreateThreeWayJSONMergePatch`): additions and changes
//! come from the live object → new manifest diff, deletions from the
//! last-applied → new manifest diff, so fields set by others (the server,
//! controllers) survive and fields the user removed from the manifest are
//! deleted. Lists are replaced wholesale, as JSON merge patch does.

use serde_json::{Map, Value};

/// The RFC 7386 merge patch that turns `from` into `to`: changed and new
/// keys with their new values, removed keys as `null`, nested objects
/// diffed recursively (Go `jsonpatch.CreateMergePatch`).
pub fn create_merge_patch(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => Value::Object(diff_objects(a, b)),
        _ => to.clone(),
    }
}

fn diff_objects(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, bv) in b {
        match a.get(k) {
            Some(av) if av == bv => {}
            Some(Value::Object(ao)) if bv.is_object() => {
                let Value::Object(bo) = bv else { continue };
                let d = diff_objects(ao, bo);
                if !d.is_empty() {
                    out.insert(k.clone(), Value::Object(d));
                }
            }
            _ => {
                out.insert(k.clone(), bv.clone());
            }
        }
    }
    for k in a.keys() {
        if !b.contains_key(k) {
            out.insert(k.clone(), Value::Null);
        }
    }
    out
}

/// Keeps only the deletions (`keep_null`) or only the additions/changes of
/// a merge patch (Go `keepOrDeleteNullInObj`). An explicitly empty object
/// counts as a value, not as an empty sub-patch.
fn filter_nulls(m: &Map<String, Value>, keep_null: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        match v {
            Value::Null => {
                if keep_null {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(sub) if sub.is_empty() => {
                if !keep_null {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(sub) => {
                let f = filter_nulls(sub, keep_null);
                if !f.is_empty() {
                    out.insert(k.clone(), Value::Object(f));
                }
            }
            other => {
                if !keep_null {
                    out.insert(k.clone(), other.clone());
                }
            }
        }
    }
    out
}

/// Overlays `top` on `base`, merging nested objects and keeping `base`'s
/// nulls (Go `jsonpatch.MergePatch` of two patches).
fn overlay(base: &mut Map<String, Value>, top: Map<String, Value>) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(t)) => overlay(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The JSON merge patch `kubectl apply` sends for an object without
/// strategic-merge metadata. `original` is the last-applied configuration
/// (`Value::Null` when there is none), `modified` the new manifest,
/// `current` the live object. An empty object means "unchanged".
pub fn three_way_merge_patch(original: &Value, modified: &Value, current: &Value) -> Value {
    let empty = Value::Object(Map::new());
    let original = if original.is_null() { &empty } else { original };
    let add_and_change = match create_merge_patch(current, modified) {
        Value::Object(m) => filter_nulls(&m, false),
        other => return other,
    };
    let mut deletions = match create_merge_patch(original, modified) {
        Value::Object(m) => filter_nulls(&m, true),
        _ => Map::new(),
    };
    overlay(&mut deletions, add_and_change);
    Value::Object(deletions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn two_way_diff() {
        assert_eq!(
            create_merge_patch(
                &json!({"a": 1, "b": {"c": 1, "d": 2}, "e": [1]}),
                &json!({"a": 1, "b": {"c": 2}, "e": [2], "f": {}})
            ),
            json!({"b": {"c": 2, "d": null}, "e": [2], "f": {}})
        );
        assert_eq!(create_merge_patch(&json!({"a": 1}), &json!({"a": 1})), json!({}));
    }

    #[test]
    fn three_way_table() {
        let live_extra = json!({"metadata": {"uid": "u1", "resourceVersion": "5"}, "status": {"phase": "Active"}});
        let with = |manifest: Value| -> Value {
            let mut v = live_extra.clone();
            json_patch::merge(&mut v, &manifest);
            v
        };
        let cases = [
            (
                "unchanged",
                json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
                json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
                json!({}),
            ),
            (
                "change and add",
                json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
                json!({"metadata": {"name": "c", "labels": {"t": "x"}}, "data": {"a": "2"}}),
                json!({"metadata": {"labels": {"t": "x"}}, "data": {"a": "2"}}),
            ),
            (
                "removed from manifest is deleted",
                json!({"metadata": {"name": "c", "labels": {"t": "x"}}, "data": {"a": "1", "b": "2"}}),
                json!({"metadata": {"name": "c"}, "data": {"a": "1"}}),
                json!({"metadata": {"labels": null}, "data": {"b": null}}),
            ),
            (
                "lists are replaced",
                json!({"metadata": {"name": "c"}, "spec": {"finalizers": ["a"]}}),
                json!({"metadata": {"name": "c"}, "spec": {"finalizers": ["a", "b"]}}),
                json!({"spec": {"finalizers": ["a", "b"]}}),
            ),
        ];
        for (name, last_applied, manifest, want) in cases {
            let live = with(last_applied.clone());
            assert_eq!(three_way_merge_patch(&last_applied, &manifest, &live), want, "{name}");
            // Applying the patch gives the manifest plus the server's fields.
            let mut applied = live.clone();
            json_patch::merge(&mut applied, &three_way_merge_patch(&last_applied, &manifest, &live));
            assert_eq!(applied, with(manifest.clone()), "{name}: applied");
        }
        // A field someone else set (not in last-applied) survives.
        let live = json!({"metadata": {"name": "c", "annotations": {"by": "other"}}, "data": {"a": "1"}});
        let patch = three_way_merge_patch(&Value::Null, &json!({"metadata": {"name": "c"}, "data": {"a": "1"}}), &live);
        assert_eq!(patch, json!({}));
    }
}
