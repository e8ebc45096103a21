//! Decoding of manifests: YAML (1.1 flavoured, as kubectl reads it) or JSON,
//! one or many documents.

use serde_json::Value;

/// A manifest that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("error converting YAML to JSON: {0}")]
pub struct DecodeError(pub String);

fn options() -> serde_saphyr::Options {
    // kubectl (sigs.k8s.io/yaml) reads YAML 1.1: `defaultMode: 0644` is octal 420.
    let mut o = serde_saphyr::Options::default();
    o.legacy_octal_numbers = true;
    o
}

/// Decode every document of a YAML or JSON stream. Empty documents (a
/// trailing `---`, comments only) are skipped, as kubectl skips them.
pub fn decode_documents(text: &str) -> Result<Vec<Value>, DecodeError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // JSON: one value, or a stream of concatenated values.
        let mut out = Vec::new();
        for v in serde_json::Deserializer::from_str(trimmed).into_iter::<Value>() {
            let v = v.map_err(|e| DecodeError(e.to_string()))?;
            push_doc(&mut out, v);
        }
        return Ok(out);
    }
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(|e| DecodeError(e.to_string()))?;
    let mut out = Vec::new();
    for d in docs {
        push_doc(&mut out, d);
    }
    Ok(out)
}

/// Decode exactly one object (a request body: JSON or YAML).
pub fn decode_one(text: &str) -> Result<Value, DecodeError> {
    let mut docs = decode_documents(text)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => Err(DecodeError("empty document".into())),
        n => Err(DecodeError(format!("expected one document, found {n}"))),
    }
}

fn push_doc(out: &mut Vec<Value>, v: Value) {
    match v {
        Value::Null => {}
        // A `kind: List` document expands to its items, as kubectl does.
        Value::Object(ref m)
            if m.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = v.get("items").cloned() {
                out.extend(items.into_iter().filter(|i| !i.is_null()));
            }
        }
        v => out.push(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_doc_with_octal_and_empty_docs() {
        let text = "---\n# c\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Pod\nspec:\n  volumes:\n  - secret: {defaultMode: 0644}\n---\n";
        let docs = decode_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["metadata"]["name"], "a");
        assert_eq!(docs[1]["spec"]["volumes"][0]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn json_and_list_expand() {
        let docs = decode_documents(r#"{"kind":"List","items":[{"kind":"Pod"},{"kind":"ConfigMap"}]}"#).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "ConfigMap");
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(decode_documents("a: [1, 2\nb: c").is_err());
        assert!(decode_one("").is_err());
    }
}
