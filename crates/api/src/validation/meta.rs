//! `metadata` checks shared by every kind (apimachinery `ValidateObjectMeta`,
//! `ValidateObjectMetaUpdate`, label and annotation rules).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use super::names::{NameValidator, is_dns1123_label, is_qualified_name, is_valid_label_value, push_invalid};
use crate::field::{FieldError, Path};

/// Total size limit of all annotation keys and values (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// Validates `metadata` of a new object. A missing `name` is accepted when
/// `generateName` is set: the caller must then generate the name (see
/// [`name_from_generate_name`]) before storing the object.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, name_validator: NameValidator) -> Vec<FieldError> {
    validate_object_meta_at(meta, namespaced, name_validator, &Path::new("metadata"))
}

pub(crate) fn validate_object_meta_at(
    meta: &ObjectMeta,
    namespaced: bool,
    name_validator: NameValidator,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    let name = meta.name.as_deref().unwrap_or("");
    if !generate_name.is_empty() {
        push_invalid(&mut errs, &path.child("generateName"), generate_name, name_validator(generate_name, true));
    }
    if name.is_empty() {
        if generate_name.is_empty() {
            errs.push(FieldError::required(&path.child("name"), "name or generateName is required"));
        }
    } else {
        push_invalid(&mut errs, &path.child("name"), name, name_validator(name, false));
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            push_invalid(&mut errs, &path.child("namespace"), namespace, is_dns1123_label(namespace));
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(&path.child("namespace"), "not allowed on this type"));
    }
    if let Some(g) = meta.generation
        && g < 0
    {
        errs.push(FieldError::invalid(&path.child("generation"), g, "must be greater than or equal to 0"));
    }
    errs.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(meta.annotations.as_ref(), &path.child("annotations")));
    errs.extend(validate_owner_references(
        meta.owner_references.as_deref().unwrap_or(&[]),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(meta.finalizers.as_deref().unwrap_or(&[]), &path.child("finalizers")));
    errs
}

/// Validates `metadata` on update: identity fields are immutable, no
/// finalizer may be added while the object is being deleted, and the new
/// labels/annotations must be valid. (The resourceVersion precondition is the
/// store's business.)
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> Vec<FieldError> {
    let path = Path::new("metadata");
    let mut errs = Vec::new();
    if old.deletion_timestamp.is_some() {
        let old_f = old.finalizers.as_deref().unwrap_or(&[]);
        let added: Vec<&String> =
            new.finalizers.as_deref().unwrap_or(&[]).iter().filter(|f| !old_f.contains(f)).collect();
        if !added.is_empty() {
            errs.push(FieldError::forbidden(
                &path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_string_slice(&added)
                ),
            ));
        }
    }
    if new.generation.unwrap_or(0) < old.generation.unwrap_or(0) {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            new.generation.unwrap_or(0),
            "must not be decremented",
        ));
    }
    let immutable = |errs: &mut Vec<FieldError>, field: &str, new: Value, old: Value| {
        if new != old {
            errs.push(FieldError::invalid(&path.child(field), new, "field is immutable"));
        }
    };
    let s = |v: &Option<String>| json!(v.as_deref().unwrap_or(""));
    immutable(&mut errs, "name", s(&new.name), s(&old.name));
    immutable(&mut errs, "namespace", s(&new.namespace), s(&old.namespace));
    immutable(&mut errs, "uid", s(&new.uid), s(&old.uid));
    let t = |v: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        v.as_ref().map(|t| json!(t.0.to_string())).unwrap_or(Value::Null)
    };
    immutable(&mut errs, "creationTimestamp", t(&new.creation_timestamp), t(&old.creation_timestamp));
    immutable(&mut errs, "deletionTimestamp", t(&new.deletion_timestamp), t(&old.deletion_timestamp));
    immutable(
        &mut errs,
        "deletionGracePeriodSeconds",
        json!(new.deletion_grace_period_seconds),
        json!(old.deletion_grace_period_seconds),
    );
    errs.extend(validate_labels(new.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(new.annotations.as_ref(), &path.child("annotations")));
    errs.extend(validate_owner_references(
        new.owner_references.as_deref().unwrap_or(&[]),
        &path.child("ownerReferences"),
    ));
    for (i, f) in new.finalizers.as_deref().unwrap_or(&[]).iter().enumerate() {
        errs.extend(validate_kube_finalizer_name(f, &path.child("finalizers").index(i)));
    }
    errs
}

/// Go's `%#v` of a `[]string`, used in a few messages.
fn go_string_slice(items: &[&String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| crate::field::go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Validates label keys (qualified names) and values.
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        push_invalid(&mut errs, path, k, is_qualified_name(k));
        push_invalid(&mut errs, path, v, is_valid_label_value(v));
    }
    errs
}

/// Validates annotation keys (qualified names, case-insensitive) and the
/// 256 KiB total size.
pub fn validate_annotations(annotations: Option<&BTreeMap<String, String>>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        push_invalid(&mut errs, path, k, is_qualified_name(&k.to_lowercase()));
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(refs: &[OwnerReference], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let version = r.api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                r.api_version.as_str(),
                "version must not be empty",
            ));
        }
        for (field, value) in [("kind", &r.kind), ("name", &r.name), ("uid", &r.uid)] {
            if value.is_empty() {
                errs.push(FieldError::invalid(&path.child(field), "", "must not be empty"));
            }
        }
        if r.controller == Some(true) {
            let this = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    serde_json::to_value(refs).unwrap_or(Value::Null),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                    ),
                )),
                None => first_controller = Some(this),
            }
        }
    }
    errs
}

fn validate_finalizers(finalizers: &[String], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, f) in finalizers.iter().enumerate() {
        push_invalid(&mut errs, path, f, is_qualified_name(f));
        errs.extend(validate_kube_finalizer_name(f, &path.index(i)));
    }
    if finalizers.iter().any(|f| f == "orphan") && finalizers.iter().any(|f| f == "foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            json!(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// A finalizer without a `/` must be one of the standard ones.
pub(crate) fn validate_kube_finalizer_name(f: &str, path: &Path) -> Vec<FieldError> {
    if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
        vec![FieldError::invalid(path, f, "name is neither a standard finalizer name nor is it fully qualified")]
    } else {
        vec![]
    }
}

/// The name the apiserver gives an object created with `generateName`:
/// the prefix (cut to leave room) plus a 5-character random suffix, which
/// the caller supplies (apiserver alphabet: `bcdfghjklmnpqrstvwxz2456789`).
pub fn name_from_generate_name(prefix: &str, random_suffix: &str) -> String {
    const MAX_NAME_LENGTH: usize = 63;
    const RANDOM_LENGTH: usize = 5;
    const MAX_GENERATED_NAME_LENGTH: usize = MAX_NAME_LENGTH - RANDOM_LENGTH;
    let mut cut = prefix.len().min(MAX_GENERATED_NAME_LENGTH);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{random_suffix}", &prefix[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::names::{name_is_dns_label, name_is_dns_subdomain};

    fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: (!name.is_empty()).then(|| name.to_string()),
            namespace: ns.map(str::to_string),
            ..Default::default()
        }
    }

    fn texts(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn object_meta_cases() {
        let subdomain_msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
        let cases: Vec<(&str, ObjectMeta, bool, NameValidator, Vec<String>)> = vec![
            ("ok", meta("web", Some("default")), true, name_is_dns_subdomain, vec![]),
            (
                "missing name",
                meta("", Some("default")),
                true,
                name_is_dns_subdomain,
                vec!["metadata.name: Required value: name or generateName is required".into()],
            ),
            (
                "generateName only",
                ObjectMeta {
                    generate_name: Some("web-".into()),
                    namespace: Some("default".into()),
                    ..Default::default()
                },
                true,
                name_is_dns_subdomain,
                vec![],
            ),
            (
                "bad name",
                meta("Bad_", Some("default")),
                true,
                name_is_dns_subdomain,
                vec![format!("metadata.name: Invalid value: \"Bad_\": {subdomain_msg}")],
            ),
            (
                "namespace required",
                meta("web", None),
                true,
                name_is_dns_subdomain,
                vec!["metadata.namespace: Required value".into()],
            ),
            (
                "namespace forbidden on cluster scope",
                meta("dev", Some("x")),
                false,
                name_is_dns_label,
                vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
            ),
            (
                "dotted namespace name",
                meta("a.b", None),
                false,
                name_is_dns_label,
                vec!["metadata.name: Invalid value: \"a.b\": must not contain dots".into()],
            ),
        ];
        for (name, m, namespaced, f, want) in cases {
            assert_eq!(texts(&validate_object_meta(&m, namespaced, f)), want, "{name}");
        }
    }

    #[test]
    fn labels_annotations_finalizers() {
        let mut m = meta("web", Some("default"));
        m.labels = Some(BTreeMap::from([("app".into(), "-bad".into()), ("ok".into(), "".into())]));
        m.annotations = Some(BTreeMap::from([("Big".into(), "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT))]));
        m.finalizers = Some(vec!["custom".into(), "example.com/f".into()]);
        let errs = validate_object_meta(&m, true, name_is_dns_subdomain);
        let t = texts(&errs);
        assert_eq!(t.len(), 3, "{t:#?}");
        assert!(t[0].starts_with("metadata.labels: Invalid value: \"-bad\": a valid label must be"));
        assert_eq!(t[1], "metadata.annotations: Too long: must have at most 262144 bytes");
        assert_eq!(
            t[2],
            "metadata.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        );
    }

    #[test]
    fn meta_update_immutability() {
        let mut old = meta("web", Some("default"));
        old.uid = Some("u1".into());
        let mut new = old.clone();
        new.uid = Some("u2".into());
        new.name = Some("web2".into());
        let t = texts(&validate_object_meta_update(&new, &old));
        assert_eq!(
            t,
            vec![
                "metadata.name: Invalid value: \"web2\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable"
            ]
        );
        assert!(validate_object_meta_update(&old, &old).is_empty());
    }

    #[test]
    fn generated_names() {
        assert_eq!(name_from_generate_name("web-", "x7k2q"), "web-x7k2q");
        assert_eq!(name_from_generate_name(&"a".repeat(70), "bcdfg").len(), 63);
    }
}
