//! Rows of the simpler kinds: ConfigMap (NAME DATA AGE), Secret (NAME TYPE
//! DATA AGE), Namespace (NAME STATUS AGE), Node (NAME STATUS ROLES AGE
//! VERSION + wide addresses and node info), RuntimeClass (NAME HANDLER
//! AGE), and the generic NAME CREATED AT.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{CREATED_DESCRIPTION, Column, Row, age, text};

fn map_len(obj: &Value, key: &str) -> usize {
    obj.get(key).and_then(Value::as_object).map_or(0, |m| m.len())
}

pub(super) fn configmap_columns() -> Vec<Column> {
    vec![Column::name_column(), Column::new("Data", "integer", "Number of data in configmap"), Column::age_column()]
}

pub(super) fn configmap_row(obj: &Value, now: Timestamp) -> Row {
    let data = map_len(obj, "data") + map_len(obj, "binaryData");
    Row::new(vec![json!(text(obj, "/metadata/name")), json!(data), age(obj, now)])
}

pub(super) fn secret_columns() -> Vec<Column> {
    vec![
        Column::name_column(),
        Column::new("Type", "string", "The type of the secret"),
        Column::new("Data", "integer", "The number of data in the secret"),
        Column::age_column(),
    ]
}

pub(super) fn secret_row(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![
        json!(text(obj, "/metadata/name")),
        json!(text(obj, "/type")),
        json!(map_len(obj, "data")),
        age(obj, now),
    ])
}

pub(super) fn namespace_columns() -> Vec<Column> {
    vec![Column::name_column(), Column::new("Status", "string", "The status of the namespace"), Column::age_column()]
}

pub(super) fn namespace_row(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![json!(text(obj, "/metadata/name")), json!(text(obj, "/status/phase")), age(obj, now)])
}

pub(super) fn node_columns() -> Vec<Column> {
    vec![
        Column::name_column(),
        Column::new("Status", "string", "The status of the node"),
        Column::new("Roles", "string", "The roles of the node"),
        Column::age_column(),
        Column::new("Version", "string", "Kubelet Version reported by the node."),
        Column::new("Internal-IP", "string", "List of addresses reachable to the node.").wide(),
        Column::new("External-IP", "string", "List of addresses reachable to the node.").wide(),
        Column::new(
            "OS-Image",
            "string",
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        )
        .wide(),
        Column::new(
            "Kernel-Version",
            "string",
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        )
        .wide(),
        Column::new(
            "Container-Runtime",
            "string",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        )
        .wide(),
    ]
}

/// Roles from `node-role.kubernetes.io/<role>` labels and the legacy
/// `kubernetes.io/role` label, sorted and unique.
fn node_roles(node: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in node.pointer("/metadata/labels").and_then(Value::as_object).into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role.to_string());
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.push(v.to_string());
        }
    }
    roles.sort();
    roles.dedup();
    if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }
}

fn node_address(node: &Value, type_: &str) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a["type"] == type_)
        .and_then(|a| a["address"].as_str())
        .unwrap_or("<none>")
        .to_string()
}

pub(super) fn node_row(node: &Value, now: Timestamp) -> Row {
    let mut status: Vec<String> = Vec::new();
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .rfind(|c| c["type"] == "Ready");
    if let Some(c) = ready {
        status.push(if c["status"] == "True" { "Ready".into() } else { "NotReady".into() });
    } else {
        status.push("Unknown".into());
    }
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push("SchedulingDisabled".into());
    }
    let unknown_if_empty = |s: &str| {
        if s.is_empty() { "<unknown>".to_string() } else { s.to_string() }
    };
    Row::new(vec![
        json!(text(node, "/metadata/name")),
        json!(status.join(",")),
        json!(node_roles(node)),
        age(node, now),
        json!(text(node, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(unknown_if_empty(text(node, "/status/nodeInfo/osImage"))),
        json!(unknown_if_empty(text(node, "/status/nodeInfo/kernelVersion"))),
        json!(unknown_if_empty(text(node, "/status/nodeInfo/containerRuntimeVersion"))),
    ])
}

const HANDLER_DESCRIPTION: &str = "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class. The possible values are specific to the node & CRI configuration.  It is assumed that all handlers are available on every node, and handlers of the same name are equivalent on every node. For example, a handler called \"runc\" might specify that the runc OCI runtime (using native Linux containers) will be used to run the containers in a pod. The Handler must be lowercase, conform to the DNS Label (RFC 1123) requirements, and is immutable.";

pub(super) fn runtime_class_columns() -> Vec<Column> {
    vec![Column::name_column(), Column::new("Handler", "string", HANDLER_DESCRIPTION), Column::age_column()]
}

pub(super) fn runtime_class_row(obj: &Value, now: Timestamp) -> Row {
    Row::new(vec![json!(text(obj, "/metadata/name")), json!(text(obj, "/handler")), age(obj, now)])
}

pub(super) fn default_columns() -> Vec<Column> {
    vec![Column::name_column(), Column::new("Created At", "date", CREATED_DESCRIPTION)]
}

/// The generic row: name and the creation time in RFC 3339 (UTC).
pub(super) fn default_row(obj: &Value) -> Row {
    let created = super::timestamp(obj, "/metadata/creationTimestamp")
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    Row::new(vec![json!(text(obj, "/metadata/name")), json!(created)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2025-01-03T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn simple_kinds() {
        let secret = json!({"metadata": {"name": "s", "creationTimestamp": "2025-01-01T00:00:00Z"},
                            "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(Value::Array(secret_row(&secret, now()).cells), json!(["s", "kubernetes.io/tls", 2, "2d"]));
        let ns = json!({"metadata": {"name": "dev", "creationTimestamp": "2024-12-31T00:00:00Z"}, "status": {"phase": "Active"}});
        assert_eq!(Value::Array(namespace_row(&ns, now()).cells), json!(["dev", "Active", "3d"]));
        let cm = json!({"metadata": {"name": "c"}});
        assert_eq!(Value::Array(configmap_row(&cm, now()).cells), json!(["c", 0, "<unknown>"]));
    }

    #[test]
    fn nodes() {
        let node = json!({
            "metadata": {"name": "node1", "creationTimestamp": "2025-01-02T22:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "", "kubernetes.io/role": "worker"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "node1"}],
                       "nodeInfo": {"kubeletVersion": "v1.35.0-peapod", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "6.1.0", "containerRuntimeVersion": "runc://1.1.5"}}
        });
        assert_eq!(
            Value::Array(node_row(&node, now()).cells),
            json!([
                "node1",
                "Ready,SchedulingDisabled",
                "control-plane,worker",
                "120m",
                "v1.35.0-peapod",
                "10.0.0.2",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0",
                "runc://1.1.5"
            ])
        );
        let bare = json!({"metadata": {"name": "n"}});
        assert_eq!(
            Value::Array(node_row(&bare, now()).cells),
            json!([
                "n",
                "Unknown",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ])
        );
    }
}
