//! The RuntimeClass admission plugin (the apiserver's
//! `plugin/pkg/admission/runtimeclass`), run when a pod is created:
//!
//! - a pod naming a RuntimeClass that does not exist is refused (403);
//! - the class's `overhead.podFixed` becomes the pod's `spec.overhead`,
//!   and a pod that brings a different overhead of its own is refused, as
//!   is a pod with an overhead but no class that defines one;
//! - the class's `scheduling` is merged into the pod's node selector and
//!   tolerations (a conflicting node selector value is refused).
//!
//! The plugin reads RuntimeClasses through a lookup function, so this file
//! needs no store and its tests no server.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as QuantityText;
use serde_json::Value;

use peapod_api::ApiError;
use peapod_api::field::go_quote;
use peapod_api::quantity::Quantity;

/// Reads a RuntimeClass by name (the plugin's lister).
pub type RuntimeClassLookup<'a> = dyn Fn(&str) -> Option<Value> + 'a;

/// Admit a new pod named `name` (Admit then Validate of the plugin).
pub fn admit_pod(pod: &mut Pod, name: &str, lookup: &RuntimeClassLookup<'_>) -> Result<(), ApiError> {
    let forbidden = |msg: String| ApiError::forbidden_resource("pods", name, &msg);
    let class = match pod.spec.as_ref().and_then(|s| s.runtime_class_name.as_deref()) {
        None => None,
        Some(rc) => {
            let v = lookup(rc)
                .ok_or_else(|| forbidden(format!("pod rejected: RuntimeClass {} not found", go_quote(rc))))?;
            let class: RuntimeClass =
                serde_json::from_value(v).map_err(|e| ApiError::internal(format!("stored RuntimeClass {rc}: {e}")))?;
            Some(class)
        }
    };
    let spec = pod.spec.get_or_insert_with(Default::default);
    let pod_overhead = spec.overhead.clone().filter(|o| !o.is_empty());
    match class.as_ref().and_then(|c| c.overhead.as_ref()) {
        Some(o) => {
            let fixed = o.pod_fixed.clone();
            if pod_overhead.is_some() && !same_resources(pod_overhead.as_ref(), fixed.as_ref()) {
                return Err(forbidden(
                    "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead".into(),
                ));
            }
            spec.overhead = fixed;
        }
        None if pod_overhead.is_some() => {
            return Err(forbidden(
                "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead".into(),
            ));
        }
        None => {}
    }
    if let Some(s) = class.as_ref().and_then(|c| c.scheduling.as_ref()) {
        let selector = spec.node_selector.get_or_insert_with(Default::default);
        for (k, v) in s.node_selector.iter().flatten() {
            match selector.get(k) {
                Some(have) if have != v => {
                    return Err(forbidden(format!(
                        "conflict: runtimeClass.scheduling.nodeSelector[{k}] = {v}; pod.spec.nodeSelector[{k}] = {have}"
                    )));
                }
                _ => {
                    selector.insert(k.clone(), v.clone());
                }
            }
        }
        if selector.is_empty() {
            spec.node_selector = None;
        }
        // The pod's own tolerations first, then the class's it lacks.
        let extra = s.tolerations.iter().flatten();
        let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
        for t in extra {
            if !tolerations.contains(t) {
                tolerations.push(t.clone());
            }
        }
        if tolerations.is_empty() {
            spec.tolerations = None;
        }
    }
    Ok(())
}

/// Go's `Semantic.DeepEqual` of two resource lists: the same names with
/// quantities of equal value (`1` equals `1000m`); absent equals empty.
fn same_resources(a: Option<&BTreeMap<String, QuantityText>>, b: Option<&BTreeMap<String, QuantityText>>) -> bool {
    let empty = BTreeMap::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    a.len() == b.len()
        && a.iter().all(|(k, qa)| {
            b.get(k).is_some_and(|qb| match (Quantity::parse(&qa.0), Quantity::parse(&qb.0)) {
                (Ok(x), Ok(y)) => x == y,
                _ => qa.0 == qb.0,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn classes(name: &str) -> Option<Value> {
        match name {
            "plain" => Some(json!({"metadata": {"name": "plain"}, "handler": "runc"})),
            "kata" => Some(json!({"metadata": {"name": "kata"}, "handler": "kata",
                                  "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}}})),
            "gpu" => Some(json!({"metadata": {"name": "gpu"}, "handler": "nvidia",
                                 "scheduling": {"nodeSelector": {"gpu": "yes"},
                                                "tolerations": [{"key": "gpu", "operator": "Exists"}]}})),
            _ => None,
        }
    }

    fn admit(spec: Value) -> Result<Value, ApiError> {
        let mut p = pod(spec);
        admit_pod(&mut p, "p", &classes)?;
        Ok(serde_json::to_value(&p.spec).unwrap())
    }

    #[test]
    fn runtime_class_admission_table() {
        let c = json!([{"name": "c", "image": "busybox"}]);
        // (case, pod spec, the admitted spec or the refusal's code and message)
        type Case<'a> = (&'a str, Value, Result<Value, (u16, &'a str)>);
        let cases: Vec<Case> = vec![
            ("no class", json!({"containers": c}), Ok(json!({"containers": c}))),
            (
                "plain class",
                json!({"containers": c, "runtimeClassName": "plain"}),
                Ok(json!({"containers": c, "runtimeClassName": "plain"})),
            ),
            (
                "missing class",
                json!({"containers": c, "runtimeClassName": "gone"}),
                Err((403, "pods \"p\" is forbidden: pod rejected: RuntimeClass \"gone\" not found")),
            ),
            (
                "overhead set from the class",
                json!({"containers": c, "runtimeClassName": "kata"}),
                Ok(
                    json!({"containers": c, "runtimeClassName": "kata", "overhead": {"cpu": "250m", "memory": "120Mi"}}),
                ),
            ),
            (
                "the same overhead, written differently",
                json!({"containers": c, "runtimeClassName": "kata", "overhead": {"cpu": "0.25", "memory": "120Mi"}}),
                Ok(
                    json!({"containers": c, "runtimeClassName": "kata", "overhead": {"cpu": "250m", "memory": "120Mi"}}),
                ),
            ),
            (
                "a different overhead",
                json!({"containers": c, "runtimeClassName": "kata", "overhead": {"cpu": "1"}}),
                Err((
                    403,
                    "pods \"p\" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead",
                )),
            ),
            (
                "overhead without a class that defines one",
                json!({"containers": c, "runtimeClassName": "plain", "overhead": {"cpu": "1"}}),
                Err((
                    403,
                    "pods \"p\" is forbidden: pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
                )),
            ),
            (
                "scheduling merged",
                json!({"containers": c, "runtimeClassName": "gpu", "nodeSelector": {"zone": "a"}}),
                Ok(json!({"containers": c, "runtimeClassName": "gpu", "nodeSelector": {"gpu": "yes", "zone": "a"},
                       "tolerations": [{"key": "gpu", "operator": "Exists"}]})),
            ),
            (
                "node selector conflict",
                json!({"containers": c, "runtimeClassName": "gpu", "nodeSelector": {"gpu": "no"}}),
                Err((
                    403,
                    "pods \"p\" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[gpu] = yes; pod.spec.nodeSelector[gpu] = no",
                )),
            ),
        ];
        for (name, spec, want) in cases {
            let got = admit(spec).map_err(|e| (e.code, e.message));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
                (Err((code, msg)), Err((wc, wm))) => assert_eq!((code, msg.as_str()), (wc, wm), "{name}"),
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
    }
}
