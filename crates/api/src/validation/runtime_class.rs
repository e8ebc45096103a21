//! RuntimeClass checks (`node.k8s.io/v1`; the apiserver's
//! `pkg/apis/node/validation`): a DNS-1123 subdomain name, a DNS-1123
//! label `handler` that never changes, `overhead.podFixed` validated like
//! container limits, and `scheduling` (node selector labels, tolerations
//! without duplicates).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::api::node::v1::RuntimeClass;

use super::meta::{validate_labels, validate_object_meta, validate_object_meta_update};
use super::names::{name_is_dns_label, name_is_dns_subdomain, push_invalid};
use super::pod::validate_tolerations;
use super::resources::validate_resource_requirements;
use crate::field::{FieldError, Path};

/// Validates a new RuntimeClass (`ValidateRuntimeClass`).
///
/// A missing `handler` decodes as `""` (Go's zero value) and is reported
/// the way the apiserver reports it: `handler: Invalid value: ""` with the
/// DNS-1123 label message.
pub fn validate_runtime_class(rc: &RuntimeClass) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&rc.metadata, false, name_is_dns_subdomain);
    push_invalid(&mut errs, &Path::new("handler"), &rc.handler, name_is_dns_label(&rc.handler, false));
    if let Some(o) = &rc.overhead {
        let limits = ResourceRequirements { limits: o.pod_fixed.clone(), ..Default::default() };
        errs.extend(validate_resource_requirements(Some(&limits), &BTreeSet::new(), &Path::new("overhead")));
    }
    if let Some(s) = &rc.scheduling {
        let path = Path::new("scheduling");
        errs.extend(validate_labels(s.node_selector.as_ref(), &path.child("nodeSelector")));
        let tolerations = s.tolerations.as_deref().unwrap_or(&[]);
        let tpath = path.child("tolerations");
        errs.extend(validate_tolerations(tolerations, &tpath));
        // The list is keyed by (key, operator, value, effect).
        let mut seen = BTreeSet::new();
        for (i, t) in tolerations.iter().enumerate() {
            let key = (t.key.clone(), t.operator.clone(), t.value.clone(), t.effect.clone());
            if !seen.insert(key) {
                errs.push(FieldError::duplicate(&tpath.index(i), serde_json::to_value(t).unwrap_or_default()));
            }
        }
    }
    errs
}

/// Validates an update (`ValidateRuntimeClassUpdate`): metadata rules and
/// an unchanged `handler`, then the new object as a whole.
pub fn validate_runtime_class_update(new: &RuntimeClass, old: &RuntimeClass) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata);
    if new.handler != old.handler {
        errs.push(FieldError::invalid(&Path::new("handler"), new.handler.as_str(), "field is immutable"));
    }
    errs.extend(validate_runtime_class(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn rc(v: Value) -> RuntimeClass {
        serde_json::from_value(v).unwrap()
    }

    fn texts(e: Vec<FieldError>) -> Vec<String> {
        e.into_iter().map(|e| e.to_string()).collect()
    }

    const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    #[test]
    fn runtime_class_cases() {
        let cases: Vec<(&str, Value, Vec<String>)> = vec![
            ("valid", json!({"metadata": {"name": "gvisor"}, "handler": "runsc"}), vec![]),
            (
                "handler not a label",
                json!({"metadata": {"name": "x"}, "handler": "Run_C"}),
                vec![format!("handler: Invalid value: \"Run_C\": {LABEL_MSG}")],
            ),
            (
                "handler empty",
                json!({"metadata": {"name": "x"}, "handler": ""}),
                vec![format!("handler: Invalid value: \"\": {LABEL_MSG}")],
            ),
            (
                "overhead quantities",
                json!({"metadata": {"name": "x"}, "handler": "kata", "overhead": {"podFixed": {"cpu": "-1"}}}),
                vec!["overhead.limits[cpu]: Invalid value: \"-1\": must be greater than or equal to 0".to_string()],
            ),
            (
                "overhead fine",
                json!({"metadata": {"name": "x"}, "handler": "kata",
                       "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}}}),
                vec![],
            ),
            (
                "duplicate toleration",
                json!({"metadata": {"name": "x"}, "handler": "h", "scheduling": {"tolerations": [
                    {"key": "k", "operator": "Exists"}, {"key": "k", "operator": "Exists"}]}}),
                vec!["scheduling.tolerations[1]: Duplicate value: {\"key\":\"k\",\"operator\":\"Exists\"}".to_string()],
            ),
        ];
        for (name, v, want) in cases {
            assert_eq!(texts(validate_runtime_class(&rc(v))), want, "{name}");
        }
        assert!(
            texts(validate_runtime_class(&rc(json!({"metadata": {"name": "Bad"}, "handler": "h"}))))[0]
                .starts_with("metadata.name: Invalid value: \"Bad\"")
        );
    }

    #[test]
    fn handler_is_immutable() {
        let old = rc(json!({"metadata": {"name": "x", "resourceVersion": "1"}, "handler": "runc"}));
        let same =
            rc(json!({"metadata": {"name": "x", "resourceVersion": "1", "labels": {"a": "b"}}, "handler": "runc"}));
        assert!(validate_runtime_class_update(&same, &old).is_empty());
        let changed = rc(json!({"metadata": {"name": "x", "resourceVersion": "1"}, "handler": "crun"}));
        assert_eq!(
            texts(validate_runtime_class_update(&changed, &old)),
            vec!["handler: Invalid value: \"crun\": field is immutable"]
        );
    }
}
