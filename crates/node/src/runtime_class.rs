//! kubelet's RuntimeClass manager: a pod's `runtimeClassName` resolved to
//! the RuntimeClass's `handler`, the CRI `runtime_handler` its sandbox is
//! created with.
//!
//! The lookup happens once, when the sandbox is created, as in kubelet: a
//! RuntimeClass deleted or recreated later does not change running pods
//! (their sandbox records name the handler). A class that does not exist
//! fails the sandbox creation with kubelet's message, which the executor
//! reports as a `FailedCreatePodSandBox` event while the pod waits.

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use peapod_store::{ObjKey, Store};

/// The runtime handler of `pod`, read from the store: empty without a
/// `runtimeClassName` (the runtime's default handler).
pub fn runtime_handler(store: &Store, pod: &Pod) -> Result<String, String> {
    handler_for(pod, |name| store.get(&ObjKey::new("runtimeclasses", "", name)).map(|o| o.as_ref().clone()))
}

/// kubelet's `LookupRuntimeHandler` over any way of reading RuntimeClasses.
fn handler_for(pod: &Pod, lookup: impl Fn(&str) -> Option<Value>) -> Result<String, String> {
    let Some(name) = pod.spec.as_ref().and_then(|s| s.runtime_class_name.as_deref()).filter(|n| !n.is_empty()) else {
        return Ok(String::new());
    };
    let class = lookup(name).ok_or_else(|| format!("runtimeclass.node.k8s.io {name:?} not found"))?;
    match class.get("handler").and_then(Value::as_str) {
        Some(h) => Ok(h.to_owned()),
        None => Err(format!("failed to lookup RuntimeClass {name}: it has no handler")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn handler_of_the_pods_class() {
        let lookup = |name: &str| (name == "fast").then(|| json!({"metadata": {"name": "fast"}, "handler": "crun"}));
        let pod = |rc: Option<&str>| -> Pod {
            serde_json::from_value(json!({"spec": {"containers": [], "runtimeClassName": rc}})).unwrap()
        };
        let table = [
            (None, Ok(String::new())),
            (Some(""), Ok(String::new())),
            (Some("fast"), Ok("crun".to_string())),
            (Some("gone"), Err("runtimeclass.node.k8s.io \"gone\" not found".to_string())),
        ];
        for (rc, want) in table {
            assert_eq!(handler_for(&pod(rc), lookup), want, "{rc:?}");
        }
    }
}
