//! Pod update rules (`ValidatePodUpdate`): the new pod must be valid, its
//! identity unchanged, and its spec identical to the old one except for the
//! few mutable fields: container and init-container images,
//! `activeDeadlineSeconds` (set, or lowered), additions to `tolerations`
//! (and their `tolerationSeconds`), removals from `schedulingGates`, and a
//! negative `terminationGracePeriodSeconds` raised to 1.
//!
//! The comparison is semantic like Go's `apiequality.Semantic`: an empty
//! list equals an absent one, and quantities compare by value.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Toleration};
use serde_json::Value;

use super::meta::validate_object_meta_update;
use super::names::inclusive_range_error;
use super::pod::{MIRROR_POD_ANNOTATION, validate_pod_metadata_and_spec, validate_tolerations};
use crate::field::{FieldError, Path};
use crate::quantity::Quantity;

/// The list of updatable fields in the apiserver's Forbidden message.
pub const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Validates an update of a pod (`new` replaces `old`). Both should be
/// defaulted.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_pod_metadata_and_spec(new));
    errs.extend(validate_annotation_updates(new, old));

    let spec_path = Path::new("spec");
    let new_spec = new.spec.clone().unwrap_or_default();
    let old_spec = old.spec.clone().unwrap_or_default();

    for (field, n, o) in [
        ("containers", &new_spec.containers, &old_spec.containers),
        (
            "initContainers",
            new_spec.init_containers.as_ref().unwrap_or(&Vec::new()),
            old_spec.init_containers.as_ref().unwrap_or(&Vec::new()),
        ),
    ] {
        let (cerrs, stop) = validate_container_updates(n, o, &spec_path.child(field));
        errs.extend(cerrs);
        if stop {
            return errs;
        }
    }

    let ads = spec_path.child("activeDeadlineSeconds");
    match (new_spec.active_deadline_seconds, old_spec.active_deadline_seconds) {
        (Some(n), old) => {
            if n < 0 || n > i32::MAX as i64 {
                errs.push(FieldError::invalid(&ads, n, inclusive_range_error(0, i32::MAX as i64)));
                return errs;
            }
            if let Some(o) = old
                && o < n
            {
                errs.push(FieldError::invalid(&ads, n, "must be less than or equal to previous value"));
                return errs;
            }
        }
        (None, Some(_)) => {
            errs.push(FieldError::invalid(&ads, Value::Null, "must not update from a positive integer to nil value"))
        }
        (None, None) => {}
    }

    errs.extend(validate_only_added_tolerations(
        new_spec.tolerations.as_deref().unwrap_or(&[]),
        old_spec.tolerations.as_deref().unwrap_or(&[]),
        &spec_path.child("tolerations"),
    ));

    let old_gates: Vec<&str> = old_spec.scheduling_gates.iter().flatten().map(|g| g.name.as_str()).collect();
    for (i, g) in new_spec.scheduling_gates.iter().flatten().enumerate() {
        if !old_gates.contains(&g.name.as_str()) {
            errs.push(FieldError::forbidden(
                &spec_path.child("schedulingGates").index(i).child("name"),
                format!("only deletion is allowed, but found new scheduling gate '{}'", g.name),
            ));
        }
    }

    let old_value = normalized(&old_spec);
    if normalized(&new_spec) == old_value {
        return errs;
    }
    let munged = munge(new_spec, &old_spec);
    let munged_value = normalized(&munged);
    if munged_value != old_value {
        let mut lines = Vec::new();
        diff_values(&old_value, &munged_value, "spec", &mut lines);
        errs.push(FieldError::forbidden(
            &spec_path,
            format!("pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}", lines.join("\n")),
        ));
    }
    errs
}

/// Validates a write to `pods/status` (Go `ValidatePodStatusUpdate`):
/// metadata rules, the node binding and QoS class cannot change, and a
/// container that terminated for good (per the restart policy) may not be
/// reported as running again.
pub fn validate_pod_status_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_annotation_updates(new, old));
    let status_path = Path::new("status");
    let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    if node(new) != node(old) {
        errs.push(FieldError::forbidden(&status_path.child("nodeName"), "may not be changed directly"));
    }
    let qos = |p: &Pod| p.status.as_ref().and_then(|s| s.qos_class.clone()).unwrap_or_default();
    if qos(new) != qos(old) {
        errs.push(FieldError::invalid(&status_path.child("qosClass"), qos(new), "field is immutable"));
    }
    let old_spec = old.spec.clone().unwrap_or_default();
    let restart_policy = old_spec.restart_policy.as_deref().unwrap_or("");
    let statuses = |p: &Pod, init: bool| {
        p.status
            .as_ref()
            .and_then(|s| if init { s.init_container_statuses.clone() } else { s.container_statuses.clone() })
            .unwrap_or_default()
    };
    for (init, field) in [(false, "containerStatuses"), (true, "initContainerStatuses")] {
        if restart_policy == "Always" {
            break;
        }
        let new_statuses = statuses(new, init);
        for (i, o) in statuses(old, init).iter().enumerate() {
            let Some(t) = o.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
                continue;
            };
            if t.exit_code != 0 && restart_policy == "OnFailure" {
                continue;
            }
            let sidecar = init
                && old_spec
                    .init_containers
                    .iter()
                    .flatten()
                    .any(|c| c.name == o.name && c.restart_policy.as_deref() == Some("Always"));
            if sidecar {
                continue;
            }
            let revived = new_statuses
                .iter()
                .any(|n| n.name == o.name && n.state.as_ref().is_none_or(|s| s.terminated.is_none()));
            if revived {
                errs.push(FieldError::forbidden(
                    &status_path.child(field).index(i).child("state"),
                    "may not be transitioned to non-terminated state",
                ));
            }
        }
    }
    errs
}

pub(super) fn validate_annotation_updates(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let path = Path::new("metadata").child("annotations");
    let empty = Default::default();
    let n = new.metadata.annotations.as_ref().unwrap_or(&empty);
    let o = old.metadata.annotations.as_ref().unwrap_or(&empty);
    for (k, ov) in o {
        if n.get(k) == Some(ov) {
            continue;
        }
        if k.starts_with(APPARMOR_ANNOTATION_PREFIX) {
            errs.push(FieldError::forbidden(&path.key(k), "may not remove or update AppArmor annotations"));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(&path.key(k), "may not remove or update mirror pod annotation"));
        }
    }
    for k in n.keys().filter(|k| !o.contains_key(*k)) {
        if k.starts_with(APPARMOR_ANNOTATION_PREFIX) {
            errs.push(FieldError::forbidden(&path.key(k), "may not add AppArmor annotations"));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(&path.key(k), "may not add mirror pod annotation"));
        }
    }
    errs
}

/// Same number of containers, and every image set without surrounding
/// whitespace. The bool asks the caller to stop (Go's `stop`).
fn validate_container_updates(new: &[Container], old: &[Container], path: &Path) -> (Vec<FieldError>, bool) {
    if new.len() != old.len() {
        return (vec![FieldError::forbidden(path, "pod updates may not add or remove containers")], true);
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = c.image.as_deref().unwrap_or("");
        if image.is_empty() {
            errs.push(FieldError::required(&path.index(i).child("image"), ""));
        }
        if image.trim() != image {
            errs.push(FieldError::invalid(
                &path.index(i).child("image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

/// Every old toleration must still be there, unchanged except for
/// `tolerationSeconds`; new ones are validated.
fn validate_only_added_tolerations(new: &[Toleration], old: &[Toleration], path: &Path) -> Vec<FieldError> {
    for o in old {
        let found = new.iter().any(|n| {
            let mut clone = o.clone();
            clone.toleration_seconds = n.toleration_seconds;
            clone == *n
        });
        if !found {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, path)
}

/// The new spec with every updatable field reset to the old value.
fn munge(mut spec: PodSpec, old: &PodSpec) -> PodSpec {
    for (c, o) in spec.containers.iter_mut().zip(&old.containers) {
        c.image = o.image.clone();
    }
    if let (Some(new_init), Some(old_init)) = (spec.init_containers.as_mut(), &old.init_containers) {
        for (c, o) in new_init.iter_mut().zip(old_init) {
            c.image = o.image.clone();
        }
    }
    spec.active_deadline_seconds = old.active_deadline_seconds;
    spec.scheduling_gates = old.scheduling_gates.clone();
    spec.tolerations = old.tolerations.clone();
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0) && spec.termination_grace_period_seconds == Some(1) {
        spec.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    spec
}

/// The spec as JSON with empty lists dropped and resource quantities in
/// canonical form, so that semantically equal specs compare equal.
fn normalized(spec: &PodSpec) -> Value {
    let mut v = serde_json::to_value(spec).unwrap_or(Value::Null);
    normalize(&mut v, false);
    v
}

pub(super) fn normalize(v: &mut Value, in_resource_list: bool) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !matches!(x, Value::Array(a) if a.is_empty()));
            for (k, x) in m.iter_mut() {
                let quantities = matches!(k.as_str(), "limits" | "requests" | "overhead");
                if in_resource_list {
                    if let Value::String(s) = x
                        && let Ok(q) = Quantity::parse(s)
                    {
                        *s = q.to_string();
                    }
                } else {
                    normalize(x, quantities);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, false)),
        _ => {}
    }
}

/// Lists differing leaves as `- path: old` / `+ path: new` lines.
pub(super) fn diff_values(old: &Value, new: &Value, path: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))).collect();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_values(x, y, &p, out),
                    (Some(x), None) => out.push(format!("- {p}: {x}")),
                    (None, Some(y)) => out.push(format!("+ {p}: {y}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_values(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => {
            out.push(format!("- {path}: {a}"));
            out.push(format!("+ {path}: {b}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::default_pod;
    use serde_json::json;

    fn pod(v: Value) -> Pod {
        let mut p: Pod = serde_json::from_value(v).unwrap();
        default_pod(&mut p);
        p
    }

    fn base() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5"},
            "spec": {
                "containers": [{"name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                                "resources": {"limits": {"cpu": "1"}}}],
                "initContainers": [{"name": "init", "image": "busybox:1"}],
                "activeDeadlineSeconds": 100,
                "tolerations": [{"key": "k", "operator": "Exists"}]
            }
        })
    }

    fn with(mutate: impl Fn(&mut Value)) -> Pod {
        let mut v = base();
        mutate(&mut v);
        pod(v)
    }

    #[test]
    fn update_table() {
        let old = pod(base());
        let forbidden_prefix =
            format!("spec: Forbidden: pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n");
        type Case = (&'static str, Box<dyn Fn(&mut Value)>, Vec<String>);
        let cases: Vec<Case> = vec![
            ("unchanged", Box::new(|_| {}), vec![]),
            (
                "image change",
                Box::new(|v| v["spec"]["containers"][0]["image"] = json!("nginx:1.28")),
                vec![],
            ),
            (
                "init image change",
                Box::new(|v| v["spec"]["initContainers"][0]["image"] = json!("busybox:2")),
                vec![],
            ),
            (
                "labels change",
                Box::new(|v| v["metadata"]["labels"] = json!({"tier": "front"})),
                vec![],
            ),
            (
                "lower deadline",
                Box::new(|v| v["spec"]["activeDeadlineSeconds"] = json!(50)),
                vec![],
            ),
            (
                "raise deadline",
                Box::new(|v| v["spec"]["activeDeadlineSeconds"] = json!(500)),
                vec!["spec.activeDeadlineSeconds: Invalid value: 500: must be less than or equal to previous value".into()],
            ),
            (
                "unset deadline",
                Box::new(|v| {
                    v["spec"].as_object_mut().unwrap().remove("activeDeadlineSeconds");
                }),
                vec!["spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value".into()],
            ),
            (
                "add toleration",
                Box::new(|v| {
                    v["spec"]["tolerations"].as_array_mut().unwrap().push(json!({"key": "x", "operator": "Exists"}))
                }),
                vec![],
            ),
            (
                "remove toleration",
                Box::new(|v| v["spec"]["tolerations"] = json!([])),
                vec!["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds".into()],
            ),
            (
                "add container",
                Box::new(|v| {
                    v["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "b", "image": "x"}))
                }),
                vec!["spec.containers: Forbidden: pod updates may not add or remove containers".into()],
            ),
            (
                "change port",
                Box::new(|v| v["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8080)),
                vec![format!(
                    "{forbidden_prefix}- spec.containers[0].ports[0].containerPort: 80\n+ spec.containers[0].ports[0].containerPort: 8080"
                )],
            ),
            (
                "same quantity other spelling",
                Box::new(|v| v["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("1000m")),
                vec![],
            ),
            (
                "rename",
                Box::new(|v| v["metadata"]["name"] = json!("web2")),
                vec!["metadata.name: Invalid value: \"web2\": field is immutable".into()],
            ),
        ];
        for (name, mutate, want) in cases {
            let new = with(mutate);
            let got: Vec<String> = validate_pod_update(&new, &old).iter().map(|e| e.to_string()).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn mirror_annotation_is_sticky() {
        let mut v = base();
        v["spec"]["nodeName"] = json!("node1");
        v["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
        let old = pod(v.clone());
        v["metadata"]["annotations"] = json!({});
        let got: Vec<String> = validate_pod_update(&pod(v), &old).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "metadata.annotations[kubernetes.io/config.mirror]: Forbidden: may not remove or update mirror pod annotation"
            ]
        );
    }

    #[test]
    fn status_updates() {
        let mut old = pod(base());
        old.spec.as_mut().unwrap().restart_policy = Some("Never".into());
        old.status = serde_json::from_value(json!({"qosClass": "Burstable", "containerStatuses": [
            {"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0}}}]}))
        .unwrap();
        let mut new = old.clone();
        assert!(validate_pod_status_update(&new, &old).is_empty());
        new.status.as_mut().unwrap().qos_class = Some("Guaranteed".into());
        new.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0].state =
            serde_json::from_value(json!({"running": {}})).unwrap();
        new.spec.as_mut().unwrap().node_name = Some("n2".into());
        let got: Vec<String> = validate_pod_status_update(&new, &old).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "status.nodeName: Forbidden: may not be changed directly",
                "status.qosClass: Invalid value: \"Guaranteed\": field is immutable",
                "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
            ]
        );
    }
}
