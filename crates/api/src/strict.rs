//! Unknown-field detection for `fieldValidation=Strict|Warn`.
//!
//! The server decodes a body into a typed object and serializes it back;
//! any field present in the input but missing from that round trip was not
//! understood. Explicit `null`s are not reported (they decode to "unset").

use serde_json::Value;

/// JSON paths (`.spec.containers[0].imagee`) of input fields dropped by the
/// typed round trip, in input order.
pub fn unknown_fields(input: &Value, roundtrip: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(input, roundtrip, "", &mut out);
    out
}

fn walk(input: &Value, rt: &Value, path: &str, out: &mut Vec<String>) {
    match (input, rt) {
        (Value::Object(i), Value::Object(r)) => {
            for (k, v) in i {
                if v.is_null() {
                    continue;
                }
                let p = format!("{path}.{k}");
                match r.get(k) {
                    Some(rv) => walk(v, rv, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(r)) => {
            for (idx, (iv, rv)) in i.iter().zip(r).enumerate() {
                walk(iv, rv, &format!("{path}[{idx}]"), out);
            }
        }
        _ => {}
    }
}

/// The apiserver's Strict error message for the given paths:
/// `strict decoding error: unknown field "spec.x", unknown field "y"`.
pub fn strict_error_message(paths: &[String]) -> String {
    let parts: Vec<String> = paths.iter().map(|p| format!("unknown field \"{}\"", p.trim_start_matches('.'))).collect();
    format!("strict decoding error: {}", parts.join(", "))
}

/// The `Warning` header texts for `fieldValidation=Warn`, one per path.
pub fn warn_messages(paths: &[String]) -> Vec<String> {
    paths.iter().map(|p| format!("unknown field \"{}\"", p.trim_start_matches('.'))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    #[test]
    fn typos_are_reported_nulls_are_not() {
        let input = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "creationTimestamp": null, "labels": {"any": "key"}},
            "spec": {"containers": [{"name": "c", "image": "x", "imagePullPolicyy": "Always",
                                      "resources": {}, "env": [{"name": "A", "valu": "1"}]}],
                     "restartPolcy": "Never"},
            "status": {}
        });
        let pod: Pod = serde_json::from_value(input.clone()).unwrap();
        let rt = serde_json::to_value(&pod).unwrap();
        let paths = unknown_fields(&input, &rt);
        assert_eq!(
            paths,
            vec![".spec.containers[0].imagePullPolicyy", ".spec.containers[0].env[0].valu", ".spec.restartPolcy"]
        );
        assert_eq!(
            strict_error_message(&paths[..1]),
            "strict decoding error: unknown field \"spec.containers[0].imagePullPolicyy\""
        );
        assert_eq!(warn_messages(&paths)[2], "unknown field \"spec.restartPolcy\"");
    }

    #[test]
    fn clean_input_has_no_unknowns() {
        let input = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(input.clone()).unwrap();
        assert!(unknown_fields(&input, &serde_json::to_value(&cm).unwrap()).is_empty());
    }
}
