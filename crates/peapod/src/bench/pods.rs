//! The pods the benchmark runs, as JSON values. The same documents are
//! written to files for `peapod apply -f` and `podman kube play` (JSON is
//! YAML, so both read them), so both systems run exactly the same pods.

use serde_json::{Value, json};

/// examples/my-web.yaml, built into the binary so `peapod bench` needs no
/// checkout: two containers sharing the pod's network namespace.
const MY_WEB_YAML: &str = include_str!("../../../../examples/my-web.yaml");

/// Label put on every benchmark pod (value: the phase), for selectors.
pub const LABEL: &str = "peapod-bench";

/// A one-container pod that idles and exits at once on SIGTERM, as a
/// well-behaved app does (a bare `sleep` as PID 1 ignores SIGTERM and would
/// make every deletion wait for the kill timeout).
pub fn one_container(name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {LABEL: phase}},
        "spec": {
            "containers": [{
                "name": "app",
                "image": "busybox:latest",
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"],
            }],
        },
    })
}

/// examples/my-web.yaml renamed to `name` (its spec unchanged).
pub fn my_web(name: &str, phase: &str) -> Value {
    let mut pod = peapod_api::yaml::decode_one(MY_WEB_YAML).expect("examples/my-web.yaml is a valid pod");
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["labels"][LABEL] = json!(phase);
    pod
}

/// A pod for the API phase: bound to a node that does not exist, so the
/// node agent never runs it and it only costs the API server and store.
pub fn api_only(name: &str, phase: &str, node: &str) -> Value {
    let mut pod = one_container(name, phase);
    pod["spec"]["nodeName"] = json!(node);
    pod
}

/// How many containers a pod spec lists.
pub fn container_count(pod: &Value) -> usize {
    pod.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len)
}

/// Several documents as one multi-document file.
pub fn multi_doc(pods: &[Value]) -> String {
    let mut out = String::new();
    for p in pods {
        out.push_str("---\n");
        out.push_str(&serde_json::to_string_pretty(p).expect("json"));
        out.push('\n');
    }
    out
}

/// Are all containers of this pod object running (and all reported)?
pub fn all_running(obj: &Value) -> bool {
    let want = container_count(obj);
    let Some(cs) = obj.pointer("/status/containerStatuses").and_then(Value::as_array) else {
        return false;
    };
    want > 0 && cs.len() == want && cs.iter().all(|c| c.pointer("/state/running").is_some())
}

pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests() {
        let w = my_web("pb-web-3", "start");
        assert_eq!(name_of(&w), "pb-web-3");
        assert_eq!(container_count(&w), 2);
        assert_eq!(w["metadata"]["labels"]["app"], "my-web");
        assert_eq!(w["metadata"]["labels"][LABEL], "start");
        let a = api_only("x", "api", "elsewhere");
        assert_eq!(a["spec"]["nodeName"], "elsewhere");
        assert_eq!(container_count(&a), 1);
        // A multi-document file reads back as the same documents.
        let docs = peapod_api::yaml::decode_documents(&multi_doc(&[w.clone(), a.clone()])).unwrap();
        assert_eq!(docs, vec![w, a]);
    }

    #[test]
    fn running_needs_every_container() {
        let mut p = my_web("w", "start");
        assert!(!all_running(&p));
        p["status"]["containerStatuses"] = json!([{"name": "server", "state": {"running": {}}}]);
        assert!(!all_running(&p));
        p["status"]["containerStatuses"] = json!([
            {"name": "server", "state": {"running": {}}},
            {"name": "client", "state": {"waiting": {"reason": "ContainerCreating"}}},
        ]);
        assert!(!all_running(&p));
        p["status"]["containerStatuses"][1]["state"] = json!({"running": {"startedAt": "x"}});
        assert!(all_running(&p));
    }
}
