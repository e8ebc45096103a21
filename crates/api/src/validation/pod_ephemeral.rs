//! The `pods/{name}/ephemeralcontainers` subresource (Go's
//! `podEphemeralContainersStrategy` and `ValidatePodEphemeralContainersUpdate`).
//!
//! A write through this subresource changes `spec.ephemeralContainers` and
//! nothing else: everything else in the body is replaced by the stored pod
//! (like the apiserver, silently), so a strategic merge patch computed from
//! a whole pod, as `kubectl debug` sends, only adds containers. Ephemeral
//! containers may then only be added: an existing one may be neither
//! removed nor changed (they are matched by name, since patches do not keep
//! the order), and the new pod must be valid as a whole, which checks the
//! new entries (unique names across every container list, the fields an
//! ephemeral container may not set, an existing target).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EphemeralContainer, Pod};
use serde_json::Value;

use super::pod::{MIRROR_POD_ANNOTATION, validate_pod_metadata_and_spec};
use super::pod_update::{diff_values, normalize, validate_annotation_updates};
use crate::field::{FieldError, Path};

/// The pod a write to the subresource stores: `old` with the identity the
/// client sent and `new`'s ephemeral containers (Go's
/// `dropNonEphemeralContainerUpdates`). The field manager's record of the
/// write (`managedFields`) is kept too.
pub fn ephemeral_containers_update(new: Pod, old: &Pod) -> Pod {
    let mut pod = old.clone();
    pod.metadata.name = new.metadata.name;
    pod.metadata.namespace = new.metadata.namespace;
    pod.metadata.resource_version = new.metadata.resource_version;
    pod.metadata.uid = new.metadata.uid;
    pod.metadata.managed_fields = new.metadata.managed_fields;
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.ephemeral_containers = new.spec.and_then(|s| s.ephemeral_containers);
    pod
}

/// Validates a write to the subresource; `new` and `old` differ only in
/// their ephemeral containers (see [`ephemeral_containers_update`]), both
/// defaulted.
pub fn validate_pod_ephemeral_containers_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    // Static pods are run from files, not the API (kubernetes#113935): no
    // other check matters.
    if old.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION)) {
        return vec![FieldError::forbidden(&Path::new(""), "static pods do not support ephemeral containers")];
    }
    let mut errs = super::validate_object_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_pod_metadata_and_spec(new));
    errs.extend(validate_annotation_updates(new, old));
    let list = |p: &Pod| p.spec.as_ref().and_then(|s| s.ephemeral_containers.clone()).unwrap_or_default();
    let by_name: BTreeMap<String, EphemeralContainer> = list(new).into_iter().map(|c| (c.name.clone(), c)).collect();
    let path = Path::new("spec").child("ephemeralContainers");
    for o in list(old) {
        match by_name.get(&o.name) {
            None => errs.push(FieldError::forbidden(
                &path,
                format!("existing ephemeral containers {:?} may not be removed\n", o.name),
            )),
            Some(n) => {
                let (ov, nv) = (normalized(&o), normalized(n));
                if ov != nv {
                    let mut lines = Vec::new();
                    diff_values(&ov, &nv, "", &mut lines);
                    errs.push(FieldError::forbidden(
                        &path.key(&o.name),
                        format!("existing ephemeral containers {:?} may not be changed\n{}", o.name, lines.join("\n")),
                    ));
                }
            }
        }
    }
    errs
}

/// The container as JSON compared semantically (empty lists dropped,
/// quantities canonical), like Go's `apiequality.Semantic`.
fn normalized(c: &EphemeralContainer) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    normalize(&mut v, false);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::{apply_v1_pod_defaults, default_pod};
    use serde_json::json;

    fn stored() -> Pod {
        let mut p: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5",
                         "labels": {"app": "web"}},
            "spec": {
                "nodeName": "node1",
                "containers": [{"name": "app", "image": "busybox"}],
                "initContainers": [{"name": "init", "image": "busybox"}],
                "ephemeralContainers": [{"name": "old", "image": "busybox", "targetContainerName": "app"}]
            }
        }))
        .unwrap();
        default_pod(&mut p);
        p
    }

    /// The whole subresource path: the body as a client sends it, the
    /// update applied, defaults, validation; the error strings.
    fn admit(mutate: impl Fn(&mut Value)) -> (Pod, Vec<String>) {
        let old = stored();
        let mut body = serde_json::to_value(&old).unwrap();
        mutate(&mut body);
        let new: Pod = serde_json::from_value(body).unwrap();
        let mut pod = ephemeral_containers_update(new, &old);
        apply_v1_pod_defaults(&mut pod);
        let errs = validate_pod_ephemeral_containers_update(&pod, &old).iter().map(|e| e.to_string()).collect();
        (pod, errs)
    }

    fn add(c: Value) -> impl Fn(&mut Value) {
        move |v: &mut Value| v["spec"]["ephemeralContainers"].as_array_mut().unwrap().push(c.clone())
    }

    #[test]
    fn subresource_update_table() {
        let forbidden =
            |f: &str| format!("spec.ephemeralContainers[1].{f}: Forbidden: cannot be set for an Ephemeral Container");
        type Case = (&'static str, Box<dyn Fn(&mut Value)>, Vec<String>);
        let cases: Vec<Case> = vec![
            ("unchanged", Box::new(|_| {}), vec![]),
            (
                "add one with a target",
                Box::new(add(json!({"name": "dbg", "image": "busybox", "targetContainerName": "app",
                                    "stdin": true, "tty": true, "command": ["sh"]}))),
                vec![],
            ),
            (
                "add one, listed first",
                Box::new(|v| {
                    v["spec"]["ephemeralContainers"].as_array_mut().unwrap().insert(0, json!({"name": "dbg", "image": "busybox"}))
                }),
                vec![],
            ),
            (
                "name of an app container",
                Box::new(add(json!({"name": "app", "image": "busybox"}))),
                vec!["spec.ephemeralContainers[1].name: Duplicate value: \"app\"".into()],
            ),
            (
                "name of an init container",
                Box::new(add(json!({"name": "init", "image": "busybox"}))),
                vec!["spec.ephemeralContainers[1].name: Duplicate value: \"init\"".into()],
            ),
            (
                "target that does not exist",
                Box::new(add(json!({"name": "dbg", "image": "busybox", "targetContainerName": "nope"}))),
                vec!["spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\"".into()],
            ),
            (
                "no image",
                Box::new(add(json!({"name": "dbg"}))),
                vec!["spec.ephemeralContainers[1].image: Required value".into()],
            ),
            (
                "ports, resources, probes, lifecycle",
                Box::new(add(json!({"name": "dbg", "image": "busybox",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "1"}},
                    "readinessProbe": {"exec": {"command": ["true"]}},
                    "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}}))),
                vec![forbidden("ports"), forbidden("resources"), forbidden("readinessProbe"), forbidden("lifecycle")],
            ),
            (
                "existing one removed",
                Box::new(|v| v["spec"]["ephemeralContainers"] = json!([])),
                vec!["spec.ephemeralContainers: Forbidden: existing ephemeral containers \"old\" may not be removed\n".into()],
            ),
            (
                "existing one changed",
                Box::new(|v| v["spec"]["ephemeralContainers"][0]["image"] = json!("alpine")),
                vec!["spec.ephemeralContainers[old]: Forbidden: existing ephemeral containers \"old\" may not be changed\n- .image: \"busybox\"\n+ .image: \"alpine\"".into()],
            ),
        ];
        for (name, mutate, want) in cases {
            let (_, got) = admit(mutate);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn only_ephemeral_containers_change() {
        let (pod, errs) = admit(|v| {
            v["metadata"]["labels"] = json!({"app": "other"});
            v["spec"]["containers"][0]["image"] = json!("nginx");
            v["spec"]["activeDeadlineSeconds"] = json!(5);
            add(json!({"name": "dbg", "image": "busybox:1.36"}))(v);
        });
        assert!(errs.is_empty(), "{errs:?}");
        let old = stored();
        assert_eq!(pod.metadata.labels, old.metadata.labels);
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers, old.spec.as_ref().unwrap().containers);
        assert_eq!(spec.active_deadline_seconds, None);
        let added = &spec.ephemeral_containers.unwrap()[1];
        assert_eq!((added.name.as_str(), added.image_pull_policy.as_deref()), ("dbg", Some("IfNotPresent")));
        assert_eq!(added.termination_message_path.as_deref(), Some("/dev/termination-log"));
    }

    #[test]
    fn static_pods_have_none() {
        let mut old = stored();
        old.metadata.annotations = Some([(MIRROR_POD_ANNOTATION.to_string(), "x".to_string())].into());
        let got: Vec<String> =
            validate_pod_ephemeral_containers_update(&old, &old).iter().map(|e| e.to_string()).collect();
        assert_eq!(got, vec![": Forbidden: static pods do not support ephemeral containers"]);
    }
}
