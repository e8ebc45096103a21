//! The PATCH content types the apiserver accepts, applied to JSON objects:
//!
//! - `application/merge-patch+json`: [`merge_patch`] (RFC 7386);
//! - `application/json-patch+json`: [`json_patch()`] (RFC 6902, atomic);
//! - `application/strategic-merge-patch+json`: [`strategic_merge_patch`],
//!   driven by the merge keys of the served kinds (see `schema`);
//!
//! plus [`three_way_merge_patch`], the JSON merge patch kubectl computes for
//! `apply` from the last-applied configuration, the new manifest and the
//! live object.

mod schema;
mod strategic;
mod three_way;

pub use three_way::{create_merge_patch, three_way_merge_patch};

use serde_json::Value;

use crate::errors::ApiError;

/// A patch that cannot be decoded or applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch body is malformed (wrong JSON shape, bad directive format).
    #[error("{0}")]
    Decode(String),
    /// The patch is well-formed but cannot be applied to this object.
    #[error("{0}")]
    Apply(String),
    /// A JSON patch operation failed; nothing was applied.
    #[error(transparent)]
    JsonPatch(#[from] json_patch::PatchError),
    /// Strategic merge patch is not defined for this kind (as for custom
    /// resources in a real cluster).
    #[error("strategic merge patch is not supported for kind {0:?}")]
    UnsupportedKind(String),
}

impl PatchError {
    /// The Status the apiserver answers with: malformed patches are 400,
    /// patches that do not apply 422, unsupported strategic patches 415.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            PatchError::Decode(m) => ApiError::bad_request(m.clone()),
            PatchError::Apply(m) => invalid_patch(m),
            PatchError::JsonPatch(e) => invalid_patch(&e.to_string()),
            PatchError::UnsupportedKind(_) => ApiError::unsupported_media_type(&[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]),
        }
    }
}

fn invalid_patch(msg: &str) -> ApiError {
    ApiError { code: 422, reason: crate::errors::StatusReason::Invalid, message: msg.to_string(), details: None }
}

/// Applies an RFC 7386 JSON merge patch (`null` deletes, objects merge,
/// everything else replaces).
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut doc = target.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

/// Applies an RFC 6902 JSON patch (a list of operations) atomically: on
/// any failure the target is left untouched and the error names the
/// operation.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, PatchError> {
    let patch: json_patch::Patch =
        serde_json::from_value(ops.clone()).map_err(|e| PatchError::Decode(e.to_string()))?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &patch)?;
    Ok(doc)
}

/// Applies a strategic merge patch to an object of `resource_kind` (`Pod`,
/// `ConfigMap`, `Secret`, `Namespace`, `Event`, `Node`).
pub fn strategic_merge_patch(resource_kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let root =
        schema::root_type(resource_kind).ok_or_else(|| PatchError::UnsupportedKind(resource_kind.to_string()))?;
    let Value::Object(p) = patch else {
        return Err(PatchError::Decode(format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            json_type_name(patch)
        )));
    };
    let o = match original {
        Value::Object(o) => o.clone(),
        Value::Null => Default::default(),
        other => {
            return Err(PatchError::Decode(format!("expected an object to patch, got {}", json_type_name(other))));
        }
    };
    let merged = strategic::apply(o, p.clone(), Some(root), &schema::CORE)?;
    Ok(Value::Object(merged))
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod strategic_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (
                json!({"metadata": {"labels": {"env": "dev", "t": "x"}}}),
                json!({"metadata": {"labels": {"env": null}}}),
                json!({"metadata": {"labels": {"t": "x"}}}),
            ),
            (json!({"a": [1, 2]}), json!({"a": [3]}), json!({"a": [3]})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(merge_patch(&target, &patch), want, "{patch}");
        }
    }

    #[test]
    fn json_patch_is_atomic() {
        let doc = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"list": [1, 2]}});
        let ok = json_patch(
            &doc,
            &json!([
                {"op": "replace", "path": "/metadata/labels/a", "value": "2"},
                {"op": "add", "path": "/spec/list/-", "value": 3},
                {"op": "remove", "path": "/spec/list/0"},
                {"op": "test", "path": "/metadata/name", "value": "x"}
            ]),
        )
        .unwrap();
        assert_eq!(ok, json!({"metadata": {"name": "x", "labels": {"a": "2"}}, "spec": {"list": [2, 3]}}));
        let err = json_patch(
            &doc,
            &json!([{"op": "add", "path": "/x", "value": 1}, {"op": "test", "path": "/metadata/name", "value": "y"}]),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "operation '/1' failed at path '/metadata/name': value did not match");
        assert_eq!(err.to_api_error().code, 422);
        let bad = json_patch(&doc, &json!([{"op": "frobnicate", "path": "/x"}])).unwrap_err();
        assert!(matches!(bad, PatchError::Decode(_)));
        assert_eq!(bad.to_api_error().code, 400);
    }

    #[test]
    fn strategic_kinds() {
        let err = strategic_merge_patch("Widget", &json!({}), &json!({})).unwrap_err();
        assert_eq!(err.to_api_error().code, 415);
        assert!(matches!(strategic_merge_patch("Pod", &json!({}), &json!([1])), Err(PatchError::Decode(_))));
        // RuntimeClass (what `kubectl apply` sends on update): labels merge, tolerations are atomic.
        let rc = json!({"handler": "runsc", "metadata": {"name": "g", "labels": {"a": "1"}},
                        "scheduling": {"tolerations": [{"key": "x", "operator": "Exists"}]}});
        let p = json!({"metadata": {"labels": {"b": "2"}}, "scheduling": {"tolerations": [{"key": "y", "operator": "Exists"}]}});
        let got = strategic_merge_patch("RuntimeClass", &rc, &p).unwrap();
        assert_eq!(got["metadata"]["labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(got["scheduling"]["tolerations"], json!([{"key": "y", "operator": "Exists"}]));
    }
}
