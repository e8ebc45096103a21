//! Pod QoS class (`qos.ComputePodQOS`): Guaranteed when every app and init
//! container sets cpu and memory limits and all requests equal the limits,
//! BestEffort when no cpu/memory request or limit is set anywhere,
//! Burstable otherwise. With pod-level `spec.resources`, those decide alone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

use crate::quantity::Quantity;

const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// The QoS class of a pod spec: `Guaranteed`, `Burstable` or `BestEffort`.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&'static str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&'static str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;

    let pod_level = spec.resources.as_ref().filter(|r| {
        r.requests.as_ref().is_some_and(|m| !m.is_empty()) || r.limits.as_ref().is_some_and(|m| !m.is_empty())
    });
    let mut accumulate = |r: Option<&ResourceRequirements>| {
        let empty = ResourceRequirements::default();
        let r = r.unwrap_or(&empty);
        for (name, q) in r.requests.iter().flatten() {
            add_positive(&mut requests, name, &q.0);
        }
        let mut found = 0;
        for (name, q) in r.limits.iter().flatten() {
            if add_positive(&mut limits, name, &q.0) {
                found += 1;
            }
        }
        if found < QOS_RESOURCES.len() {
            guaranteed = false;
        }
    };
    match pod_level {
        Some(r) => accumulate(Some(r)),
        None => {
            for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
                accumulate(c.resources.as_ref());
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().all(|(k, v)| limits.get(k) == Some(v)) && requests.len() == limits.len() {
        return "Guaranteed";
    }
    "Burstable"
}

/// Adds a positive cpu/memory quantity to `sums`; true when it counted.
fn add_positive(sums: &mut BTreeMap<&'static str, Quantity>, name: &str, raw: &str) -> bool {
    let Some(&key) = QOS_RESOURCES.iter().find(|r| **r == name) else {
        return false;
    };
    let Ok(q) = Quantity::parse(raw) else {
        return false;
    };
    if q <= Quantity::ZERO {
        return false;
    }
    let sum = sums.get(key).map(|s| s.add(&q)).unwrap_or(q);
    sums.insert(key, sum);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn spec(containers: Value, init: Value) -> PodSpec {
        serde_json::from_value(json!({"containers": containers, "initContainers": init})).unwrap()
    }

    fn c(requests: Value, limits: Value) -> Value {
        json!({"name": "c", "resources": {"requests": requests, "limits": limits}})
    }

    #[test]
    fn qos_table() {
        let full = json!({"cpu": "1", "memory": "1Gi"});
        let cases: Vec<(&str, PodSpec, &str)> = vec![
            ("no resources", spec(json!([{"name": "c"}]), json!([])), "BestEffort"),
            ("zero requests", spec(json!([c(json!({"cpu": "0"}), json!({}))]), json!([])), "BestEffort"),
            (
                "only extended",
                spec(json!([c(json!({"nvidia.com/gpu": "1"}), json!({"nvidia.com/gpu": "1"}))]), json!([])),
                "BestEffort",
            ),
            ("equal limits", spec(json!([c(full.clone(), full.clone())]), json!([])), "Guaranteed"),
            (
                "limits only (requests defaulted elsewhere)",
                spec(json!([c(json!({}), full.clone())]), json!([])),
                "Burstable",
            ),
            (
                "same value other spelling",
                spec(json!([c(json!({"cpu": "1000m", "memory": "1Gi"}), full.clone())]), json!([])),
                "Guaranteed",
            ),
            ("cpu only", spec(json!([c(json!({"cpu": "1"}), json!({"cpu": "1"}))]), json!([])), "Burstable"),
            (
                "request below limit",
                spec(json!([c(json!({"cpu": "500m", "memory": "1Gi"}), full.clone())]), json!([])),
                "Burstable",
            ),
            (
                "init container without limits",
                spec(json!([c(full.clone(), full.clone())]), json!([{"name": "i"}])),
                "Burstable",
            ),
            (
                "init container guaranteed too",
                spec(json!([c(full.clone(), full.clone())]), json!([c(full.clone(), full.clone())])),
                "Guaranteed",
            ),
            (
                "one of two containers",
                spec(json!([c(full.clone(), full.clone()), {"name": "d"}]), json!([])),
                "Burstable",
            ),
        ];
        for (name, s, want) in cases {
            assert_eq!(qos_class(&s), want, "{name}");
        }
    }

    #[test]
    fn pod_level_resources_decide() {
        let mut s = spec(json!([{"name": "c"}]), json!([]));
        s.resources = serde_json::from_value(
            json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        )
        .unwrap();
        assert_eq!(qos_class(&s), "Guaranteed");
    }
}
