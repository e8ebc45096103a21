//! Namespace checks (`ValidateNamespace`, `ValidateNamespaceUpdate`).

use k8s_openapi::api::core::v1::Namespace;

use super::meta::{validate_kube_finalizer_name, validate_object_meta, validate_object_meta_update};
use super::names::{is_qualified_name, name_is_dns_label, push_invalid};
use crate::field::{FieldError, Path};

/// Validates a Namespace: a DNS-1123 label name, no namespace of its own,
/// and qualified or standard `spec.finalizers`.
pub fn validate_namespace(ns: &Namespace) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ns.metadata, false, name_is_dns_label);
    let path = Path::new("spec").child("finalizers");
    for f in ns.spec.iter().flat_map(|s| s.finalizers.iter().flatten()) {
        push_invalid(&mut errs, &path, f, is_qualified_name(f));
        errs.extend(validate_kube_finalizer_name(f, &path));
    }
    errs
}

/// Validates a Namespace update (metadata rules plus [`validate_namespace`]
/// on the new object; the spec's finalizers change only via `finalize`).
pub fn validate_namespace_update(new: &Namespace, old: &Namespace) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_namespace(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn texts(e: Vec<FieldError>) -> Vec<String> {
        e.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn namespace_cases() {
        let ns = |v: Value| -> Namespace { serde_json::from_value(v).unwrap() };
        assert!(
            validate_namespace(&ns(json!({"metadata": {"name": "dev"}, "spec": {"finalizers": ["kubernetes"]}})))
                .is_empty()
        );
        assert_eq!(
            texts(validate_namespace(&ns(json!({"metadata": {"name": "Dev"}})))),
            vec![
                "metadata.name: Invalid value: \"Dev\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        assert_eq!(
            texts(validate_namespace(&ns(json!({"metadata": {"name": "dev"}, "spec": {"finalizers": ["custom"]}})))),
            vec![
                "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }
}
