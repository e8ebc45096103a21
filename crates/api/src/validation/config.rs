//! ConfigMap and Secret checks (`ValidateConfigMap`, `ValidateSecret` and
//! their update variants).

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::Value;

use super::meta::{validate_object_meta, validate_object_meta_update};
use super::names::{is_config_map_key, name_is_dns_subdomain, push_invalid};
use crate::field::{FieldError, Path};

/// Max total size of a ConfigMap's or Secret's data (1 MiB).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

/// Validates a ConfigMap: metadata, data and binaryData keys, no key in
/// both, total size ≤ 1 MiB.
pub fn validate_configmap(cm: &ConfigMap) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&cm.metadata, true, name_is_dns_subdomain);
    let mut total = 0usize;
    let data_path = Path::new("data");
    let binary_path = Path::new("binaryData");
    for (k, v) in cm.data.iter().flatten() {
        push_invalid(&mut errs, &data_path.key(k), k, is_config_map_key(k));
        if cm.binary_data.as_ref().is_some_and(|b| b.contains_key(k)) {
            errs.push(FieldError::invalid(&data_path.key(k), k.as_str(), "duplicate of key present in binaryData"));
        }
        total += v.len();
    }
    for (k, v) in cm.binary_data.iter().flatten() {
        push_invalid(&mut errs, &binary_path.key(k), k, is_config_map_key(k));
        total += v.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&Path::new(""), MAX_SECRET_SIZE));
    }
    errs
}

/// Validates a ConfigMap update: metadata rules, and nothing may change
/// once `immutable: true` was set.
pub fn validate_configmap_update(new: &ConfigMap, old: &ConfigMap) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata);
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(&Path::new("immutable"), IMMUTABLE_SET));
        }
        if non_empty(&new.data) != non_empty(&old.data) {
            errs.push(FieldError::forbidden(&Path::new("data"), IMMUTABLE_SET));
        }
        if non_empty(&new.binary_data) != non_empty(&old.binary_data) {
            errs.push(FieldError::forbidden(&Path::new("binaryData"), IMMUTABLE_SET));
        }
    }
    errs.extend(validate_configmap(new));
    errs
}

/// `None` and an empty map are the same (Go compares nil and empty maps
/// with reflect.DeepEqual only after decoding, where both are nil).
fn non_empty<T: PartialEq>(
    m: &Option<std::collections::BTreeMap<String, T>>,
) -> Option<&std::collections::BTreeMap<String, T>> {
    m.as_ref().filter(|m| !m.is_empty())
}

/// Validates a Secret: metadata, data keys, total size ≤ 1 MiB, and the
/// keys each built-in `type` requires. Expects `stringData` to be merged
/// into `data` already (see [`crate::defaults::default_secret`]).
pub fn validate_secret(secret: &Secret) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&secret.metadata, true, name_is_dns_subdomain);
    let data_path = Path::new("data");
    let empty = Default::default();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let mut total = 0usize;
    for (k, v) in data {
        push_invalid(&mut errs, &data_path.key(k), k, is_config_map_key(k));
        total += v.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_SECRET_SIZE));
    }
    let json_key = |errs: &mut Vec<FieldError>, key: &str| match data.get(key) {
        None => errs.push(FieldError::required(&data_path.key(key), "")),
        Some(bytes) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes.0) {
                errs.push(FieldError::invalid(&data_path.key(key), "<secret contents redacted>", e.to_string()));
            }
        }
    };
    match secret.type_.as_deref().unwrap_or("") {
        "kubernetes.io/service-account-token" => {
            let name = secret.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/service-account.name"));
            if name.is_none_or(|n| n.is_empty()) {
                errs.push(FieldError::required(
                    &Path::new("metadata").child("annotations").key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => json_key(&mut errs, ".dockercfg"),
        "kubernetes.io/dockerconfigjson" => json_key(&mut errs, ".dockerconfigjson"),
        // Either key may be empty, but one of them must be present.
        "kubernetes.io/basic-auth" if !data.contains_key("username") && !data.contains_key("password") => {
            errs.push(FieldError::required(&data_path.key("username"), ""));
            errs.push(FieldError::required(&data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            errs.push(FieldError::required(&data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    errs.push(FieldError::required(&data_path.key(key), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// Validates a Secret update: metadata rules, `type` is immutable, and
/// nothing may change once `immutable: true` was set.
pub fn validate_secret_update(new: &Secret, old: &Secret) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata);
    let (nt, ot) = (new.type_.as_deref().unwrap_or(""), old.type_.as_deref().unwrap_or(""));
    if nt != ot {
        errs.push(FieldError::invalid(&Path::new("type"), nt, "field is immutable"));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(&Path::new("immutable"), IMMUTABLE_SET));
        }
        if non_empty(&new.data) != non_empty(&old.data) {
            errs.push(FieldError::forbidden(&Path::new("data"), IMMUTABLE_SET));
        }
    }
    errs.extend(validate_secret(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use serde_json::json;

    fn texts(e: Vec<FieldError>) -> Vec<String> {
        e.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn configmap_cases() {
        let cm = |v: Value| -> ConfigMap { serde_json::from_value(v).unwrap() };
        let cases: Vec<(&str, ConfigMap, Vec<&str>)> = vec![
            ("ok", cm(json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a.txt": "x"}})), vec![]),
            (
                "bad key",
                cm(json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"..a": "x"}})),
                vec!["data[..a]: Invalid value: \"..a\": must not start with '..'"],
            ),
            (
                "key in both",
                cm(
                    json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"k": "x"}, "binaryData": {"k": "eA=="}}),
                ),
                vec!["data[k]: Invalid value: \"k\": duplicate of key present in binaryData"],
            ),
            (
                "too big",
                cm(
                    json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"k": "x".repeat(MAX_SECRET_SIZE + 1)}}),
                ),
                vec![": Too long: must have at most 1048576 bytes"],
            ),
        ];
        for (name, c, want) in cases {
            assert_eq!(texts(validate_configmap(&c)), want, "{name}");
        }
    }

    #[test]
    fn immutable_configmap() {
        let old: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}, "immutable": true}),
        )
        .unwrap();
        let mut new = old.clone();
        new.data = Some([("a".to_string(), "2".to_string())].into());
        new.immutable = None;
        assert_eq!(
            texts(validate_configmap_update(&new, &old)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
    }

    #[test]
    fn secret_types() {
        let secret = |t: &str, data: &[(&str, &[u8])]| Secret {
            metadata: serde_json::from_value(json!({"name": "s", "namespace": "d"})).unwrap(),
            type_: Some(t.into()),
            data: Some(data.iter().map(|(k, v)| (k.to_string(), ByteString(v.to_vec()))).collect()),
            ..Default::default()
        };
        let cases: Vec<(&str, Secret, Vec<&str>)> = vec![
            ("opaque", secret("Opaque", &[("k", b"v")]), vec![]),
            (
                "dockerconfigjson missing",
                secret("kubernetes.io/dockerconfigjson", &[]),
                vec!["data[.dockerconfigjson]: Required value"],
            ),
            (
                "dockerconfigjson ok",
                secret("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", b"{\"auths\":{}}")]),
                vec![],
            ),
            ("tls", secret("kubernetes.io/tls", &[("tls.crt", b"x")]), vec!["data[tls.key]: Required value"]),
            (
                "basic-auth",
                secret("kubernetes.io/basic-auth", &[]),
                vec!["data[username]: Required value", "data[password]: Required value"],
            ),
            (
                "ssh",
                secret("kubernetes.io/ssh-auth", &[("ssh-privatekey", b"")]),
                vec!["data[ssh-privatekey]: Required value"],
            ),
            (
                "sa token",
                secret("kubernetes.io/service-account-token", &[]),
                vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
            ),
            (
                "bad key",
                secret("Opaque", &[("a b", b"v")]),
                vec![
                    "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                ],
            ),
        ];
        for (name, s, want) in cases {
            assert_eq!(texts(validate_secret(&s)), want, "{name}");
        }
        let bad_json = secret("kubernetes.io/dockerconfigjson", &[(".dockerconfigjson", b"{")]);
        let e = validate_secret(&bad_json);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].to_string().starts_with("data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": ")
        );
        let mut changed = secret("kubernetes.io/tls", &[("tls.crt", b"x"), ("tls.key", b"y")]);
        let old = changed.clone();
        changed.type_ = Some("Opaque".into());
        assert_eq!(
            texts(validate_secret_update(&changed, &old)),
            vec!["type: Invalid value: \"Opaque\": field is immutable"]
        );
    }
}
