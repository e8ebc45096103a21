//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which
//! kubectl ≥ 1.32 sends for `create configmap|secret|namespace` with no
//! JSON fallback (kubectl-wire.md §12.2).
//!
//! The body is the magic `k8s\0` followed by a `runtime.Unknown` message
//! (`typeMeta` 1 {apiVersion 1, kind 2}, `raw` 2 = the object's message,
//! `contentEncoding` 3, `contentType` 4). We decode ConfigMap, Secret and
//! Namespace (field numbers from k8s.io/api/core/v1/generated.proto and
//! apimachinery's meta/v1) into the same JSON the JSON path would have
//! received, so everything after decoding is shared. Proto3 has no
//! presence for scalars, so empty strings and zero numbers mean "unset".

use base64::Engine;
use serde_json::{Map, Value, json};

use peapod_api::ApiError;

/// The magic prefix of Kubernetes protobuf payloads.
pub const MAGIC: &[u8] = b"k8s\0";

/// One field of a message: its number and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    /// 32- and 64-bit values (no field we read uses them).
    Fixed(u32),
}

/// A malformed payload.
fn malformed(what: &str) -> ApiError {
    ApiError::bad_request(format!("unable to decode protobuf body: {what}"))
}

fn varint(b: &mut &[u8]) -> Result<u64, ApiError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = b.split_first().ok_or_else(|| malformed("truncated varint"))?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(malformed("varint too long"))
}

/// The fields of a message, in wire order.
fn fields(mut b: &[u8]) -> Result<Vec<Field<'_>>, ApiError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let num = (key >> 3) as u32;
        let skip = |b: &mut &[u8], n: usize| -> Result<(), ApiError> {
            if b.len() < n {
                return Err(malformed("truncated field"));
            }
            *b = &b[n..];
            Ok(())
        };
        match key & 7 {
            0 => out.push(Field::Varint(num, varint(&mut b)?)),
            1 => {
                skip(&mut b, 8)?;
                out.push(Field::Fixed(num));
            }
            2 => {
                let n = varint(&mut b)? as usize;
                if b.len() < n {
                    return Err(malformed("truncated length-delimited field"));
                }
                out.push(Field::Bytes(num, &b[..n]));
                b = &b[n..];
            }
            5 => {
                skip(&mut b, 4)?;
                out.push(Field::Fixed(num));
            }
            t => return Err(malformed(&format!("wire type {t}"))),
        }
    }
    Ok(out)
}

fn text(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
}

/// A `map<string, string|bytes>` entry list into a JSON object (bytes as base64).
fn map_entries(entries: &[&[u8]], bytes_values: bool) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for e in entries {
        let (mut k, mut v): (&[u8], &[u8]) = (&[], &[]);
        for f in fields(e)? {
            match f {
                Field::Bytes(1, b) => k = b,
                Field::Bytes(2, b) => v = b,
                _ => {}
            }
        }
        let value =
            if bytes_values { json!(base64::engine::general_purpose::STANDARD.encode(v)) } else { json!(text(v)?) };
        m.insert(text(k)?, value);
    }
    Ok(Value::Object(m))
}

/// `metav1.Time` (seconds, nanos) as RFC 3339, or None for the zero time.
fn time(b: &[u8]) -> Result<Option<String>, ApiError> {
    let mut secs = 0i64;
    for f in fields(b)? {
        if let Field::Varint(1, v) = f {
            secs = v as i64;
        }
    }
    if secs == 0 {
        return Ok(None);
    }
    let ts = jiff::Timestamp::from_second(secs).map_err(|_| malformed("time out of range"))?;
    Ok(Some(ts.to_string()))
}

fn owner_reference(b: &[u8]) -> Result<Value, ApiError> {
    let mut o = Map::new();
    for f in fields(b)? {
        match f {
            Field::Bytes(1, v) => _ = o.insert("kind".into(), json!(text(v)?)),
            Field::Bytes(3, v) => _ = o.insert("name".into(), json!(text(v)?)),
            Field::Bytes(4, v) => _ = o.insert("uid".into(), json!(text(v)?)),
            Field::Bytes(5, v) => _ = o.insert("apiVersion".into(), json!(text(v)?)),
            Field::Varint(6, v) => _ = o.insert("controller".into(), json!(v != 0)),
            Field::Varint(7, v) => _ = o.insert("blockOwnerDeletion".into(), json!(v != 0)),
            _ => {}
        }
    }
    Ok(Value::Object(o))
}

/// `ObjectMeta` (server-managed fields such as managedFields are skipped).
fn object_meta(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    let (mut labels, mut annotations, mut owners, mut finalizers) = (vec![], vec![], vec![], vec![]);
    for f in fields(b)? {
        let key = match f {
            Field::Bytes(1, _) => "name",
            Field::Bytes(2, _) => "generateName",
            Field::Bytes(3, _) => "namespace",
            Field::Bytes(5, _) => "uid",
            Field::Bytes(6, _) => "resourceVersion",
            Field::Varint(7, v) => {
                if v != 0 {
                    m.insert("generation".into(), json!(v as i64));
                }
                continue;
            }
            Field::Bytes(8, t) => {
                if let Some(t) = time(t)? {
                    m.insert("creationTimestamp".into(), json!(t));
                }
                continue;
            }
            Field::Bytes(11, e) => {
                labels.push(e);
                continue;
            }
            Field::Bytes(12, e) => {
                annotations.push(e);
                continue;
            }
            Field::Bytes(13, o) => {
                owners.push(owner_reference(o)?);
                continue;
            }
            Field::Bytes(14, s) => {
                finalizers.push(json!(text(s)?));
                continue;
            }
            _ => continue,
        };
        if let Field::Bytes(_, v) = f
            && !v.is_empty()
        {
            m.insert(key.into(), json!(text(v)?));
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), map_entries(&labels, false)?);
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), map_entries(&annotations, false)?);
    }
    if !owners.is_empty() {
        m.insert("ownerReferences".into(), Value::Array(owners));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

/// The object message of `kind` as JSON (without kind/apiVersion).
fn object(kind: &str, b: &[u8]) -> Result<Value, ApiError> {
    let mut o = Map::new();
    let mut maps: [Vec<&[u8]>; 3] = [vec![], vec![], vec![]];
    for f in fields(b)? {
        match (kind, f) {
            (_, Field::Bytes(1, m)) => _ = o.insert("metadata".into(), object_meta(m)?),
            ("ConfigMap" | "Secret", Field::Bytes(2, e)) => maps[0].push(e),
            ("ConfigMap", Field::Bytes(3, e)) => maps[1].push(e),
            ("ConfigMap", Field::Varint(4, v)) | ("Secret", Field::Varint(5, v)) => {
                _ = o.insert("immutable".into(), json!(v != 0))
            }
            ("Secret", Field::Bytes(3, t)) if !t.is_empty() => _ = o.insert("type".into(), json!(text(t)?)),
            ("Secret", Field::Bytes(4, e)) => maps[2].push(e),
            ("Namespace", Field::Bytes(2, spec)) => {
                let fin: Vec<Value> = fields(spec)?
                    .into_iter()
                    .filter_map(|f| if let Field::Bytes(1, s) = f { Some(text(s).map(Value::from)) } else { None })
                    .collect::<Result<_, _>>()?;
                if !fin.is_empty() {
                    o.insert("spec".into(), json!({"finalizers": fin}));
                }
            }
            _ => {}
        }
    }
    let secret = kind == "Secret";
    if !maps[0].is_empty() {
        o.insert("data".into(), map_entries(&maps[0], secret)?);
    }
    if !maps[1].is_empty() {
        o.insert("binaryData".into(), map_entries(&maps[1], true)?);
    }
    if !maps[2].is_empty() {
        o.insert("stringData".into(), map_entries(&maps[2], false)?);
    }
    Ok(Value::Object(o))
}

/// Decode a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let unknown = body.strip_prefix(MAGIC).ok_or_else(|| malformed("missing the k8s magic prefix"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    for f in fields(unknown)? {
        match f {
            Field::Bytes(1, tm) => {
                for g in fields(tm)? {
                    match g {
                        Field::Bytes(1, v) => api_version = text(v)?,
                        Field::Bytes(2, v) => kind = text(v)?,
                        _ => {}
                    }
                }
            }
            Field::Bytes(2, r) => raw = Some(r),
            Field::Bytes(3, enc) if !enc.is_empty() => {
                return Err(malformed(&format!("content encoding {:?}", String::from_utf8_lossy(enc))));
            }
            _ => {}
        }
    }
    if !matches!(kind.as_str(), "ConfigMap" | "Secret" | "Namespace") || api_version != "v1" {
        return Err(ApiError::unsupported_media_type(&["application/json", "application/yaml"]));
    }
    let mut obj = object(&kind, raw.unwrap_or_default())?;
    let m = obj.as_object_mut().expect("object() returns an object");
    m.insert("kind".into(), json!(kind));
    m.insert("apiVersion".into(), json!(api_version));
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(num: u32, data: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8];
        let mut n = data.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(data);
        out
    }

    fn entry(num: u32, k: &str, v: &[u8]) -> Vec<u8> {
        ld(num, &[ld(1, k.as_bytes()), ld(2, v)].concat())
    }

    fn envelope(kind: &str, raw: &[u8]) -> Vec<u8> {
        let tm = [ld(1, b"v1"), ld(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), ld(1, &tm), ld(2, raw), ld(3, b""), ld(4, b"")].concat()
    }

    /// ObjectMeta as kubectl sends it: the name, empty strings, zero time.
    fn meta(name: &str) -> Vec<u8> {
        let m = [
            ld(1, name.as_bytes()),
            ld(2, b""),
            ld(3, b""),
            ld(4, b""),
            ld(5, b""),
            ld(6, b""),
            vec![0x38, 0],
            ld(8, b""),
        ]
        .concat();
        ld(1, &m)
    }

    #[test]
    fn decodes_kubectl_create_configmap() {
        let raw = [meta("appcfg"), entry(2, "app.properties", b"key1=val1\nkey2=val2\n"), entry(2, "x", b"y")].concat();
        let obj = decode(&envelope("ConfigMap", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"name": "appcfg"}, "data": {"app.properties": "key1=val1\nkey2=val2\n", "x": "y"},
                   "kind": "ConfigMap", "apiVersion": "v1"})
        );
    }

    #[test]
    fn decodes_secrets_and_namespaces() {
        let raw = [meta("s1"), entry(2, "pw", b"x"), ld(3, b"")].concat();
        let obj = decode(&envelope("Secret", &raw)).unwrap();
        assert_eq!(obj["data"], json!({"pw": "eA=="}));
        assert!(obj.get("type").is_none(), "an empty type is defaulted later");
        let ns_meta = ld(1, &[ld(1, b"team-a"), entry(11, "env", b"dev")].concat());
        let raw = [ns_meta, ld(2, &ld(1, b"kubernetes"))].concat();
        let obj = decode(&envelope("Namespace", &raw)).unwrap();
        assert_eq!(obj["metadata"], json!({"name": "team-a", "labels": {"env": "dev"}}));
        assert_eq!(obj["spec"], json!({"finalizers": ["kubernetes"]}));
    }

    #[test]
    fn rejects_what_it_cannot_decode() {
        assert!(decode(b"{\"kind\":\"ConfigMap\"}").is_err());
        assert_eq!(decode(&envelope("Deployment", &meta("d"))).unwrap_err().code, 415);
        let mut truncated = envelope("ConfigMap", &meta("c"));
        truncated.pop();
        assert_eq!(decode(&truncated).unwrap_err().code, 400);
    }
}
