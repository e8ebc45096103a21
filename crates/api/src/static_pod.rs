//! Static pods, as kubelet reads them from its manifest directory
//! (`--manifest-dir`, kubelet's `staticPodPath`), and their mirror pods.
//!
//! A manifest becomes a pod the way kubelet's file source makes one
//! (pkg/kubelet/config/common.go): the v1 defaults, name `<name>-<node>`,
//! namespace `default` unless set, `spec.nodeName`, a toleration of every
//! NoExecute taint, the `kubernetes.io/config.{hash,source}` annotations
//! and a UID that is a hash of the source and the defaulted pod. Editing
//! the file therefore makes a new pod (new UID): the old one is stopped and
//! the new one started, as kubelet does.
//!
//! The API shows a *mirror pod* for each: the same object with its own API
//! UID and the `kubernetes.io/config.mirror` annotation holding the static
//! pod's UID. Everything that goes from an API pod to the node's runtime
//! state uses [`runtime_uid`], which follows that annotation.
//!
//! One difference from a cluster, chosen to keep errors visible: the API
//! server refuses a mirror pod that refers to ConfigMaps, Secrets, service
//! accounts or PersistentVolumeClaims, which in a cluster leaves the static
//! pod running with no API object. peapod refuses such a manifest instead,
//! with an error naming the file and the field.

use k8s_openapi::api::core::v1::{Pod, Toleration, Volume};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::field::{FieldError, Path};
use crate::validation::{MIRROR_POD_ANNOTATION, validate_pod};
use crate::{ApiError, defaults, qos_class, yaml};

/// The annotation holding a static pod's UID (kubelet's ConfigHashAnnotationKey).
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// Where a pod came from: `file` for static pods, `api` otherwise.
pub const CONFIG_SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// When the node first saw the pod.
pub const CONFIG_SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";

/// The UID of the pod whose containers run for this API object: the static
/// pod's for a mirror pod, the object's own otherwise.
pub fn runtime_uid(pod: &Value) -> &str {
    mirror_of(pod).or_else(|| pod.pointer("/metadata/uid").and_then(Value::as_str)).unwrap_or("")
}

/// The static pod UID a mirror pod stands for (None: not a mirror pod).
pub fn mirror_of(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/annotations")?.get(MIRROR_POD_ANNOTATION)?.as_str()
}

/// A manifest file that does not give runnable pods.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ManifestError {
    pub file: String,
    pub message: String,
}

/// The static pods of one manifest file (a Pod, or a `kind: List` of
/// Pods), each prepared as kubelet does and validated as the API server
/// validates a create. `source` names the file (it is part of the UID hash,
/// so two files with the same pod are two pods).
pub fn decode_manifest(text: &str, source: &str, node_name: &str) -> Result<Vec<Value>, ManifestError> {
    let err = |message: String| ManifestError { file: source.to_owned(), message };
    let docs = yaml::decode_documents(text).map_err(|e| err(e.to_string()))?;
    if docs.is_empty() {
        return Err(err("no pod in the file".into()));
    }
    let mut pods = Vec::new();
    for doc in docs {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind != "Pod" || api_version != "v1" {
            return Err(err(format!(
                "only v1 Pods can be static pods, found kind {kind:?} apiVersion {api_version:?}"
            )));
        }
        let pod: Pod = serde_json::from_value(doc).map_err(|e| err(format!("decoding the pod: {e}")))?;
        pods.push(prepare(pod, source, node_name).map_err(err)?);
    }
    Ok(pods)
}

/// Kubelet's applyDefaults for a file-sourced pod, then validation.
fn prepare(mut pod: Pod, source: &str, node_name: &str) -> Result<Value, String> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        let e = FieldError::required(&Path::new("metadata").child("name"), "");
        return Err(ApiError::invalid("Pod", "", vec![e]).to_string());
    }
    let full_name = format!("{name}-{}", node_name.to_lowercase());
    let refs = mirror_reference_errors(&pod);
    if !refs.is_empty() {
        return Err(ApiError::invalid("Pod", &full_name, refs).to_string());
    }
    defaults::apply_v1_pod_defaults(&mut pod);
    let m = &mut pod.metadata;
    m.name = Some(full_name.clone());
    if m.namespace.as_deref().unwrap_or("").is_empty() {
        m.namespace = Some("default".into());
    }
    // Server-set fields mean nothing in a manifest.
    m.uid = None;
    m.resource_version = None;
    m.creation_timestamp = None;
    m.deletion_timestamp = None;
    m.deletion_grace_period_seconds = None;
    m.managed_fields = None;
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.node_name = Some(node_name.to_owned());
    // What the Priority admission plugin sets on the mirror pod.
    spec.priority.get_or_insert(0);
    if spec.preemption_policy.as_deref().unwrap_or("").is_empty() {
        spec.preemption_policy = Some("PreemptLowerPriority".into());
    }
    // A static pod tolerates every NoExecute taint (kubelet adds this).
    spec.tolerations.get_or_insert_with(Vec::new).push(Toleration {
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        ..Default::default()
    });
    pod.status = None;
    let errs = validate_pod(&pod);
    if !errs.is_empty() {
        return Err(ApiError::invalid("Pod", &full_name, errs).to_string());
    }
    let mut v = serde_json::to_value(&pod).map_err(|e| e.to_string())?;
    let uid = hash(source, &v);
    let ann =
        v["metadata"].as_object_mut().expect("a pod has metadata").entry("annotations").or_insert_with(|| json!({}));
    ann[CONFIG_HASH_ANNOTATION] = json!(uid);
    ann[CONFIG_SOURCE_ANNOTATION] = json!("file");
    v["metadata"]["uid"] = json!(uid);
    Ok(v)
}

/// 32 hex digits (kubelet's is an md5 of the same inputs, also 32 digits).
fn hash(source: &str, pod: &Value) -> String {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0]);
    h.update(pod.to_string().as_bytes());
    let d = h.finalize();
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// What the API server refuses in a mirror pod (the ServiceAccount and
/// NodeRestriction admission plugins): references to API objects.
fn mirror_reference_errors(pod: &Pod) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(spec) = &pod.spec else { return errs };
    let sp = Path::new("spec");
    if let Some(sa) = spec.service_account_name.as_deref().filter(|s| !s.is_empty() && *s != "default") {
        errs.push(FieldError::forbidden(
            &sp.child("serviceAccountName"),
            format!("a static pod may not reference service accounts (found {sa:?})"),
        ));
    }
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        if let Some(what) = volume_reference(v) {
            errs.push(FieldError::forbidden(
                &sp.child("volumes").index(i),
                format!("a static pod may not reference {what}"),
            ));
        }
    }
    let lists =
        [("initContainers", spec.init_containers.as_deref().unwrap_or_default()), ("containers", &spec.containers)];
    let containers = lists.into_iter().flat_map(|(list, cs)| cs.iter().enumerate().map(move |(i, c)| (list, i, c)));
    for (list, i, c) in containers {
        let cp = sp.child(list).index(i);
        for (j, e) in c.env.iter().flatten().enumerate() {
            let Some(from) = &e.value_from else { continue };
            let what = if from.config_map_key_ref.is_some() {
                "configmaps"
            } else if from.secret_key_ref.is_some() {
                "secrets"
            } else {
                continue;
            };
            errs.push(FieldError::forbidden(
                &cp.child("env").index(j).child("valueFrom"),
                format!("a static pod may not reference {what}"),
            ));
        }
        for (j, e) in c.env_from.iter().flatten().enumerate() {
            let what = if e.config_map_ref.is_some() { "configmaps" } else { "secrets" };
            errs.push(FieldError::forbidden(
                &cp.child("envFrom").index(j),
                format!("a static pod may not reference {what}"),
            ));
        }
    }
    errs
}

fn volume_reference(v: &Volume) -> Option<&'static str> {
    if v.config_map.is_some() {
        return Some("configmaps");
    }
    if v.secret.is_some() {
        return Some("secrets");
    }
    if v.persistent_volume_claim.is_some() || v.ephemeral.is_some() {
        return Some("persistentvolumeclaims");
    }
    let sources = v.projected.as_ref().and_then(|p| p.sources.as_ref());
    for s in sources.into_iter().flatten() {
        if s.config_map.is_some() {
            return Some("configmaps");
        }
        if s.secret.is_some() {
            return Some("secrets");
        }
        if s.service_account_token.is_some() {
            return Some("service accounts");
        }
        if s.cluster_trust_bundle.is_some() {
            return Some("clustertrustbundles");
        }
    }
    None
}

/// The mirror pod of static pod `pod` (as [`decode_manifest`] made it):
/// the same object under API UID `uid`, created at `now` (RFC 3339), owned
/// by the node, with the annotation that names the static pod and the
/// status the API server gives a new pod.
pub fn mirror_pod(pod: &Value, uid: &str, now: &str, node_uid: Option<&str>) -> Value {
    let mut v = pod.clone();
    let static_uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_owned();
    let node = pod.pointer("/spec/nodeName").cloned().unwrap_or(Value::Null);
    let meta = v["metadata"].as_object_mut().expect("a pod has metadata");
    meta.insert("uid".into(), json!(uid));
    meta.insert("creationTimestamp".into(), json!(now));
    meta.remove("resourceVersion");
    let ann = meta.entry("annotations").or_insert_with(|| json!({}));
    ann[MIRROR_POD_ANNOTATION] = json!(static_uid);
    if let Some(node_uid) = node_uid {
        meta.insert(
            "ownerReferences".into(),
            json!([{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid, "controller": true}]),
        );
    }
    let qos = serde_json::from_value::<Pod>(pod.clone())
        .ok()
        .and_then(|p| p.spec.map(|s| qos_class(&s).to_owned()))
        .unwrap_or_else(|| "BestEffort".into());
    v["status"] = json!({
        "phase": "Pending",
        "qosClass": qos,
        "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}],
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n  labels: {role: myrole}\nspec:\n  containers:\n  - name: web\n    image: nginx\n    ports:\n    - {name: web, containerPort: 80, protocol: TCP}\n";

    #[test]
    fn a_manifest_becomes_a_pod_as_kubelet_makes_it() {
        let pods = decode_manifest(WEB, "/etc/peapod/manifests/web.yaml", "node1").unwrap();
        assert_eq!(pods.len(), 1);
        let p = &pods[0];
        assert_eq!(p["metadata"]["name"], "static-web-node1");
        assert_eq!(p["metadata"]["namespace"], "default");
        assert_eq!(p["spec"]["nodeName"], "node1");
        assert_eq!(p["spec"]["restartPolicy"], "Always", "v1 defaults");
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        let uid = p["metadata"]["uid"].as_str().unwrap();
        assert_eq!(uid.len(), 32);
        assert_eq!(p["metadata"]["annotations"][CONFIG_HASH_ANNOTATION], uid);
        assert_eq!(p["metadata"]["annotations"][CONFIG_SOURCE_ANNOTATION], "file");
        assert!(
            p["spec"]["tolerations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["operator"] == "Exists" && t["effect"] == "NoExecute" && t.get("key").is_none())
        );
        assert_eq!(runtime_uid(p), uid);
    }

    #[test]
    fn the_uid_follows_the_content_and_the_file() {
        let uid = |text: &str, file: &str| {
            decode_manifest(text, file, "n")
                .unwrap()
                .remove(0)
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        };
        let a = uid(WEB, "a.yaml");
        assert_eq!(a, uid(WEB, "a.yaml"), "stable across reads and restarts");
        assert_ne!(a, uid(WEB, "b.yaml"), "another file is another pod");
        assert_ne!(a, uid(&WEB.replace("nginx", "nginx:1.27"), "a.yaml"), "an edit is a new pod");
    }

    #[test]
    fn bad_manifests_name_the_file_and_the_field() {
        let cases: &[(&str, &str)] = &[
            ("kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n", "only v1 Pods"),
            ("apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: c, image: i}]}\n", "metadata.name"),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c}]}\n",
                "spec.containers[0].image",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: c, image: i}]\n  volumes: [{name: v, configMap: {name: cm}}]\n",
                "spec.volumes[0]: Forbidden: a static pod may not reference configmaps",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: c\n    image: i\n    env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n",
                "spec.containers[0].env[0].valueFrom: Forbidden: a static pod may not reference secrets",
            ),
            ("{not yaml: [", "error converting YAML"),
            ("# nothing\n", "no pod in the file"),
        ];
        for (text, want) in cases {
            let e = decode_manifest(text, "/m/bad.yaml", "n").unwrap_err().to_string();
            assert!(e.starts_with("/m/bad.yaml: ") && e.contains(want), "{text:?} → {e}");
        }
    }

    #[test]
    fn lists_give_several_pods() {
        let text = format!("{WEB}---\n{}", WEB.replace("static-web", "other"));
        let pods = decode_manifest(&text, "f", "n").unwrap();
        assert_eq!(pods.len(), 2);
        assert_ne!(pods[0]["metadata"]["uid"], pods[1]["metadata"]["uid"]);
    }

    #[test]
    fn the_mirror_pod_points_at_the_static_pod() {
        let p = decode_manifest(WEB, "f", "n").unwrap().remove(0);
        let m = mirror_pod(&p, "api-uid", "2026-01-01T00:00:00Z", Some("node-uid"));
        assert_eq!(m["metadata"]["uid"], "api-uid");
        assert_eq!(mirror_of(&m), p["metadata"]["uid"].as_str());
        assert_eq!(runtime_uid(&m), p["metadata"]["uid"].as_str().unwrap());
        assert_eq!(m["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(m["status"]["phase"], "Pending");
        assert_eq!(m["status"]["qosClass"], "BestEffort");
        assert_eq!(m["spec"], p["spec"]);
        let back: Pod = serde_json::from_value(m).unwrap();
        assert!(validate_pod(&back).is_empty());
        assert_eq!(mirror_of(&p), None);
    }
}
