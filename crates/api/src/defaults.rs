//! Defaulting, as a real cluster applies it on create: the `core/v1`
//! defaulting functions (`pkg/apis/core/v1/defaults.go`) plus the mutations
//! of the admission plugins every cluster runs for pods (ServiceAccount,
//! Priority, DefaultTolerationSeconds) and the registry strategies'
//! `PrepareForCreate` (namespace finalizer and phase, pod status).
//!
//! All functions are idempotent: defaulting an already defaulted object
//! changes nothing, so the server may run them on every write.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, HTTPGetAction, LifecycleHandler, Namespace, NamespaceSpec, NamespaceStatus,
    ObjectFieldSelector, Pod, PodSecurityContext, PodSpec, PodStatus, Probe, ResourceFieldSelector,
    ResourceRequirements, Secret, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

pub use crate::qos::qos_class;

/// `terminationGracePeriodSeconds` when unset.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// File mode of configMap/secret/downwardAPI/projected volume files (0644).
pub const DEFAULT_VOLUME_MODE: i32 = 0o644;
/// Seconds a pod tolerates a not-ready or unreachable node.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn set_if_empty(field: &mut Option<String>, value: &str) {
    if field.as_deref().unwrap_or("").is_empty() {
        *field = Some(value.to_string());
    }
}

/// Defaults a pod as the apiserver does on create: the v1 defaults
/// ([`apply_v1_pod_defaults`]) and the admission mutations
/// ([`admit_pod_create`]).
pub fn default_pod(pod: &mut Pod) {
    apply_v1_pod_defaults(pod);
    admit_pod_create(pod);
}

/// The `core/v1` defaulting functions for a Pod (run on every decode).
pub fn apply_v1_pod_defaults(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    set_if_empty(&mut spec.dns_policy, "ClusterFirst");
    set_if_empty(&mut spec.restart_policy, "Always");
    spec.security_context.get_or_insert_with(PodSecurityContext::default);
    spec.termination_grace_period_seconds.get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    set_if_empty(&mut spec.scheduler_name, "default-scheduler");
    spec.enable_service_links.get_or_insert(true);
    let host_network = spec.host_network == Some(true);

    for c in spec.containers.iter_mut() {
        default_container(c, host_network);
        default_requests_from_limits(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c, host_network);
        default_requests_from_limits(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        default_ephemeral_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
}

/// Admission mutations on pod create: service account `default`, priority
/// 0 with `PreemptLowerPriority` (no PriorityClass exists), and 300 s
/// tolerations of not-ready/unreachable nodes unless already tolerated.
pub fn admit_pod_create(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    set_if_empty(&mut spec.service_account_name, "default");
    // v1 still carries the deprecated alias; conversion keeps them equal.
    spec.service_account = spec.service_account_name.clone();
    spec.priority.get_or_insert(0);
    set_if_empty(&mut spec.preemption_policy, "PreemptLowerPriority");

    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    let tolerates = |key: &str| {
        tolerations.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or("");
            let e = t.effect.as_deref().unwrap_or("");
            (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
        })
    };
    let missing: Vec<&str> = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
        .into_iter()
        .filter(|k| !tolerates(k))
        .collect();
    for key in missing {
        tolerations.push(Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
            value: None,
        });
    }
}

/// What the pod registry does to a new pod's status: phase Pending and
/// the computed QoS class (anything the client sent is dropped).
pub fn prepare_pod_for_create(pod: &mut Pod) {
    let qos = pod.spec.as_ref().map(crate::qos_class).unwrap_or("BestEffort");
    pod.status = Some(PodStatus { phase: Some("Pending".into()), qos_class: Some(qos.into()), ..Default::default() });
}

/// The image pull policy Kubernetes defaults for an image reference:
/// `Always` for `:latest` or no tag (unless pinned by digest),
/// `IfNotPresent` otherwise (also for references that do not parse).
pub fn default_pull_policy(image: &str) -> &'static str {
    match image_tag(image) {
        // No tag means `latest`, unless a digest pins the image.
        Some((tag, digest)) if tag == Some("latest") || (tag.is_none() && !digest) => "Always",
        _ => "IfNotPresent",
    }
}

/// (tag, has digest) of a reference, `None` when it does not parse as a
/// docker reference (Go `parsers.ParseImageName`).
fn image_tag(image: &str) -> Option<(Option<&str>, bool)> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let (alg, hex) = d.split_once(':')?;
        if alg.is_empty() || hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
    }
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
        if b.is_empty() || b.len() > 128 || !word(&b[0]) || !b.iter().all(|c| word(c) || *c == b'.' || *c == b'-') {
            return None;
        }
    }
    // The first component is a registry host when it looks like one; the
    // rest of the path must be lowercase.
    let mut parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first {
            parts.remove(0);
        }
    }
    let component_ok = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
            && p.as_bytes()[0].is_ascii_alphanumeric()
            && p.as_bytes()[p.len() - 1].is_ascii_alphanumeric()
    };
    if !parts.iter().all(|p| component_ok(p)) {
        return None;
    }
    Some((tag, digest.is_some()))
}

fn default_container(c: &mut Container, host_network: bool) {
    if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
        c.image_pull_policy = Some(default_pull_policy(c.image.as_deref().unwrap_or("")).into());
    }
    set_if_empty(&mut c.termination_message_path, "/dev/termination-log");
    set_if_empty(&mut c.termination_message_policy, "File");
    c.resources.get_or_insert_with(ResourceRequirements::default);
    for p in c.ports.iter_mut().flatten() {
        set_if_empty(&mut p.protocol, "TCP");
        if host_network && p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
    default_env(c.env.as_mut());
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_probe(probe);
    }
    if let Some(lc) = c.lifecycle.as_mut() {
        for h in [&mut lc.post_start, &mut lc.pre_stop].into_iter().flatten() {
            default_lifecycle_handler(h);
        }
    }
}

fn default_ephemeral_container(c: &mut EphemeralContainer) {
    if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
        c.image_pull_policy = Some(default_pull_policy(c.image.as_deref().unwrap_or("")).into());
    }
    set_if_empty(&mut c.termination_message_path, "/dev/termination-log");
    set_if_empty(&mut c.termination_message_policy, "File");
    c.resources.get_or_insert_with(ResourceRequirements::default);
    for p in c.ports.iter_mut().flatten() {
        set_if_empty(&mut p.protocol, "TCP");
    }
    default_env(c.env.as_mut());
}

/// Requests default to limits for resources that set only a limit (done
/// for pods only, not templates, in Go's `SetDefaults_Pod`).
fn default_requests_from_limits(c: &mut Container) {
    let Some(res) = c.resources.as_mut() else {
        return;
    };
    let Some(limits) = &res.limits else { return };
    let requests = res.requests.get_or_insert_with(BTreeMap::new);
    for (k, v) in limits {
        requests.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

fn default_env(env: Option<&mut Vec<k8s_openapi::api::core::v1::EnvVar>>) {
    for e in env.into_iter().flatten() {
        let Some(from) = e.value_from.as_mut() else {
            continue;
        };
        if let Some(f) = from.field_ref.as_mut() {
            default_field_selector(f);
        }
        if let Some(r) = from.resource_field_ref.as_mut() {
            default_resource_field_selector(r);
        }
    }
}

fn default_field_selector(f: &mut ObjectFieldSelector) {
    set_if_empty(&mut f.api_version, "v1");
}

/// The Go struct's zero Quantity prints as `"0"`.
fn default_resource_field_selector(r: &mut ResourceFieldSelector) {
    r.divisor.get_or_insert_with(|| K8sQuantity("0".into()));
}

fn default_http_get(h: &mut HTTPGetAction) {
    set_if_empty(&mut h.path, "/");
    set_if_empty(&mut h.scheme, "HTTP");
}

fn default_probe(p: &mut Probe) {
    for (field, value) in [
        (&mut p.timeout_seconds, 1),
        (&mut p.period_seconds, 10),
        (&mut p.success_threshold, 1),
        (&mut p.failure_threshold, 3),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = Some(value);
        }
    }
    if let Some(h) = p.http_get.as_mut() {
        default_http_get(h);
    }
}

fn default_lifecycle_handler(h: &mut LifecycleHandler) {
    if let Some(g) = h.http_get.as_mut() {
        default_http_get(g);
    }
}

fn default_volume(v: &mut Volume) {
    let mut probe = v.clone();
    probe.name = String::new();
    if probe == (Volume::default()) {
        v.empty_dir = Some(Default::default());
    }
    if let Some(cm) = v.config_map.as_mut() {
        cm.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
    }
    if let Some(s) = v.secret.as_mut() {
        s.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
    }
    if let Some(d) = v.downward_api.as_mut() {
        d.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        for f in d.items.iter_mut().flatten() {
            if let Some(fr) = f.field_ref.as_mut() {
                default_field_selector(fr);
            }
            if let Some(r) = f.resource_field_ref.as_mut() {
                default_resource_field_selector(r);
            }
        }
    }
    if let Some(p) = v.projected.as_mut() {
        p.default_mode.get_or_insert(DEFAULT_VOLUME_MODE);
        for src in p.sources.iter_mut().flatten() {
            if let Some(t) = src.service_account_token.as_mut() {
                t.expiration_seconds.get_or_insert(3600);
            }
            for f in src.downward_api.iter_mut().flat_map(|d| d.items.iter_mut().flatten()) {
                if let Some(fr) = f.field_ref.as_mut() {
                    default_field_selector(fr);
                }
                if let Some(r) = f.resource_field_ref.as_mut() {
                    default_resource_field_selector(r);
                }
            }
        }
    }
    if let Some(h) = v.host_path.as_mut() {
        h.type_.get_or_insert_with(String::new);
    }
    if let Some(img) = v.image.as_mut()
        && img.pull_policy.as_deref().unwrap_or("").is_empty()
    {
        img.pull_policy = Some(default_pull_policy(img.reference.as_deref().unwrap_or("")).into());
    }
}

/// Defaults a Secret: `type: Opaque` when empty, and `stringData` merged
/// into `data` (stringData wins) and cleared, as the v1 conversion does.
pub fn default_secret(secret: &mut Secret) {
    set_if_empty(&mut secret.type_, "Opaque");
    if let Some(string_data) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
}

/// Defaults a new Namespace: the `kubernetes.io/metadata.name` label, the
/// `kubernetes` finalizer, and phase Active.
pub fn default_namespace(ns: &mut Namespace) {
    if let Some(name) = ns.metadata.name.clone().filter(|n| !n.is_empty()) {
        ns.metadata.labels.get_or_insert_with(BTreeMap::new).insert(NAMESPACE_NAME_LABEL.to_string(), name);
    }
    let finalizers = ns.spec.get_or_insert_with(NamespaceSpec::default).finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == "kubernetes") {
        finalizers.push("kubernetes".to_string());
    }
    let status = ns.status.get_or_insert_with(NamespaceStatus::default);
    set_if_empty(&mut status.phase, "Active");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn defaulted(v: Value) -> Value {
        let mut pod: Pod = serde_json::from_value(v).unwrap();
        default_pod(&mut pod);
        serde_json::to_value(&pod).unwrap()
    }

    #[test]
    fn pull_policy_table() {
        let table = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("docker.io/library/nginx:1.27", "IfNotPresent"),
            ("localhost:5000/app", "Always"),
            ("localhost:5000/app:v1", "IfNotPresent"),
            ("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "IfNotPresent"),
            ("nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Always"),
            ("Bad/Name", "IfNotPresent"),
            ("", "IfNotPresent"),
            ("nginx:", "IfNotPresent"),
        ];
        for (image, want) in table {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn kubectl_run_pod_defaults() {
        let got = defaulted(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "nginx1", "labels": {"run": "nginx1"}},
            "spec": {"containers": [{"name": "nginx1", "image": "nginx:1.27", "resources": {},
                                     "ports": [{"containerPort": 80}],
                                     "livenessProbe": {"httpGet": {"port": 80}},
                                     "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
                     "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
        }));
        let want = json!({
            "containers": [{
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "livenessProbe": {"failureThreshold": 3, "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                                  "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
                "name": "nginx1",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
            ]
        });
        assert_eq!(got["spec"], want);
    }

    #[test]
    fn volumes_resources_and_idempotence() {
        let input = json!({
            "metadata": {"name": "p"},
            "spec": {
                "hostNetwork": true,
                "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 8080}],
                                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m"}}}],
                "initContainers": [{"name": "i", "image": "busybox:1.36", "resources": {"limits": {"memory": "1Gi"}}}],
                "tolerations": [{"operator": "Exists"}],
                "volumes": [
                    {"name": "a"},
                    {"name": "b", "configMap": {"name": "cm"}},
                    {"name": "c", "secret": {"secretName": "s"}},
                    {"name": "d", "hostPath": {"path": "/tmp"}},
                    {"name": "e", "downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "metadata.name"}},
                                                            {"path": "y", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}}]}},
                    {"name": "f", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
                ]
            }
        });
        let once = defaulted(input);
        let spec = &once["spec"];
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            spec["containers"][0]["ports"][0],
            json!({"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"})
        );
        assert_eq!(spec["containers"][0]["resources"]["requests"], json!({"cpu": "100m", "memory": "64Mi"}));
        assert_eq!(spec["initContainers"][0]["resources"]["requests"], json!({"memory": "1Gi"}));
        // A toleration of everything already covers both node taints.
        assert_eq!(spec["tolerations"], json!([{"operator": "Exists"}]));
        let v = &spec["volumes"];
        assert_eq!(v[0], json!({"emptyDir": {}, "name": "a"}));
        assert_eq!(v[1]["configMap"]["defaultMode"], 420);
        assert_eq!(v[2]["secret"]["defaultMode"], 420);
        assert_eq!(v[3]["hostPath"], json!({"path": "/tmp", "type": ""}));
        assert_eq!(v[4]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(v[4]["downwardAPI"]["items"][1]["resourceFieldRef"]["divisor"], "0");
        assert_eq!(v[5]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3600);
        assert_eq!(defaulted(once.clone()), once, "defaulting is idempotent");
    }

    #[test]
    fn secret_and_namespace() {
        let mut s: Secret = serde_json::from_value(
            json!({"metadata": {"name": "s"}, "type": "", "data": {"a": "eA=="}, "stringData": {"a": "y", "b": "z"}}),
        )
        .unwrap();
        default_secret(&mut s);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"a": "eQ==", "b": "eg=="}, "metadata": {"name": "s"}, "type": "Opaque"})
        );
        let mut ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "dev"}})).unwrap();
        default_namespace(&mut ns);
        default_namespace(&mut ns);
        assert_eq!(
            serde_json::to_value(&ns).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"labels": {"kubernetes.io/metadata.name": "dev"}, "name": "dev"},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        );
    }

    #[test]
    fn status_on_create() {
        let mut pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}})).unwrap();
        prepare_pod_for_create(&mut pod);
        assert_eq!(serde_json::to_value(&pod.status).unwrap(), json!({"phase": "Pending", "qosClass": "BestEffort"}));
    }
}
