//! Turning a `NetRequest` into what plugins receive: `CNI_ARGS` pairs, the
//! `portMappings` capability argument, and each plugin's stdin (its own
//! configuration with the list's `name`/`cniVersion` injected, plus
//! `prevResult` and the `runtimeConfig` for the capabilities it declares,
//! as libcni's `buildOneConfig` does).

use serde_json::{Map, Value, json};

use crate::cni::config::{PluginConf, valid_cni_name};
use crate::{NetError, NetRequest};

/// The capability key for hostPort mappings (CNI CONVENTIONS.md).
pub(crate) const PORT_MAPPINGS: &str = "portMappings";

/// The container id ends up in file names and iptables comments: apply
/// libcni's `ValidateContainerID` rule.
pub(crate) fn validate_container_id(id: &str) -> Result<(), NetError> {
    if valid_cni_name(id) {
        Ok(())
    } else {
        Err(NetError::InvalidRequest {
            field: "sandbox id",
            value: id.to_owned(),
            message: "must start with an alphanumeric and contain only alphanumerics, '_', '.', '-'".into(),
        })
    }
}

/// kubelet's `CNI_ARGS` pairs, `IgnoreUnknown=1` first so that plugins
/// which do not know the `K8S_*` keys accept them.
pub(crate) fn cni_args(req: &NetRequest) -> Result<Vec<[String; 2]>, NetError> {
    let pairs = [
        ("K8S_POD_NAMESPACE", &req.pod_namespace),
        ("K8S_POD_NAME", &req.pod_name),
        ("K8S_POD_INFRA_CONTAINER_ID", &req.sandbox_id),
        ("K8S_POD_UID", &req.pod_uid),
    ];
    let mut out = vec![["IgnoreUnknown".to_owned(), "1".to_owned()]];
    for (k, v) in pairs {
        if v.contains([';', '=']) || v.chars().any(char::is_control) {
            return Err(NetError::InvalidRequest {
                field: k,
                value: v.clone(),
                message: "must not contain ';', '=' or control characters".into(),
            });
        }
        out.push([k.to_owned(), v.clone()]);
    }
    Ok(out)
}

/// Join `CNI_ARGS` pairs as `K=V;K=V`.
pub(crate) fn cni_args_env(args: &[[String; 2]]) -> String {
    args.iter().map(|[k, v]| format!("{k}={v}")).collect::<Vec<_>>().join(";")
}

/// The value of one `CNI_ARGS` key.
pub(crate) fn cni_arg<'a>(args: &'a [[String; 2]], key: &str) -> Option<&'a str> {
    args.iter().find(|[k, _]| k == key).map(|[_, v]| v.as_str())
}

/// Capability arguments for the pod: `portMappings` (only mappings with a
/// host port, protocol lower case as kubelet sends it), present only when
/// the pod has any.
pub(crate) fn capability_args(req: &NetRequest) -> Map<String, Value> {
    let maps: Vec<Value> = req
        .port_mappings
        .iter()
        .filter(|p| p.host_port != 0)
        .map(|p| {
            json!({
                "hostPort": p.host_port,
                "containerPort": p.container_port,
                "protocol": protocol_lower(&p.protocol),
                "hostIP": p.host_ip,
            })
        })
        .collect();
    let mut m = Map::new();
    if !maps.is_empty() {
        m.insert(PORT_MAPPINGS.to_owned(), Value::Array(maps));
    }
    m
}

/// A mapping's protocol as plugins expect it: lower case, TCP if unset.
pub(crate) fn protocol_lower(p: &str) -> String {
    if p.is_empty() { "tcp".to_owned() } else { p.to_ascii_lowercase() }
}

/// The stdin of one plugin of a list.
pub(crate) fn plugin_stdin(
    list_name: &str,
    cni_version: &str,
    plugin: &PluginConf,
    prev_result: Option<&Value>,
    capability_args: &Map<String, Value>,
) -> Vec<u8> {
    let mut conf = plugin.raw.clone();
    conf.insert("name".into(), Value::String(list_name.to_owned()));
    conf.insert("cniVersion".into(), Value::String(cni_version.to_owned()));
    if let Some(prev) = prev_result {
        conf.insert("prevResult".into(), prev.clone());
    }
    let runtime: Map<String, Value> =
        plugin.capabilities().filter_map(|c| capability_args.get(c).map(|v| (c.to_owned(), v.clone()))).collect();
    if !runtime.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(runtime));
    }
    serde_json::to_vec(&Value::Object(conf)).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortMap;

    fn req() -> NetRequest {
        NetRequest {
            sandbox_id: "sb1".into(),
            netns: "/run/ns/sb1".into(),
            pod_name: "hexo".into(),
            pod_namespace: "default".into(),
            pod_uid: "u-1".into(),
            port_mappings: vec![],
        }
    }

    fn plugin(v: Value) -> PluginConf {
        let Value::Object(raw) = v else { panic!() };
        PluginConf { plugin_type: raw["type"].as_str().unwrap().into(), raw }
    }

    #[test]
    fn args_string() {
        let a = cni_args(&req()).unwrap();
        assert_eq!(
            cni_args_env(&a),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=hexo;K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=u-1"
        );
        assert_eq!(cni_arg(&a, "K8S_POD_NAME"), Some("hexo"));
        assert_eq!(cni_arg(&a, "NOPE"), None);
        let mut bad = req();
        bad.pod_name = "a;b".into();
        assert!(matches!(cni_args(&bad), Err(NetError::InvalidRequest { field: "K8S_POD_NAME", .. })));
    }

    #[test]
    fn container_ids() {
        assert!(validate_container_id("0123abcd").is_ok());
        for bad in ["", "../x", "a/b", "-a"] {
            assert!(validate_container_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_mapping_capability() {
        assert!(capability_args(&req()).is_empty());
        let mut r = req();
        r.port_mappings = vec![
            PortMap { protocol: "TCP".into(), container_port: 80, host_port: 8080, host_ip: String::new() },
            // No host port: not a hostPort mapping.
            PortMap { protocol: "tcp".into(), container_port: 81, host_port: 0, host_ip: String::new() },
        ];
        assert_eq!(
            Value::Object(capability_args(&r)),
            json!({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}]})
        );
    }

    #[test]
    fn stdin_injection() {
        let caps = capability_args(&NetRequest {
            port_mappings: vec![PortMap {
                protocol: "udp".into(),
                container_port: 53,
                host_port: 5353,
                host_ip: "127.0.0.1".into(),
            }],
            ..req()
        });
        let prev = json!({"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]});
        let cases: Vec<(Value, Option<&Value>, Value)> = vec![
            // name/cniVersion replaced; no capability → no runtimeConfig.
            (
                json!({"type":"bridge","name":"other","cniVersion":"0.3.1","bridge":"b0"}),
                None,
                json!({"type":"bridge","name":"net","cniVersion":"1.0.0","bridge":"b0"}),
            ),
            // declared capability with data → runtimeConfig; prevResult added.
            (
                json!({"type":"portmap","capabilities":{"portMappings":true}}),
                Some(&prev),
                json!({"type":"portmap","capabilities":{"portMappings":true},"name":"net","cniVersion":"1.0.0",
                       "prevResult":prev,
                       "runtimeConfig":{"portMappings":[{"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]}}),
            ),
            // capability declared false → nothing passed.
            (
                json!({"type":"portmap","capabilities":{"portMappings":false}}),
                None,
                json!({"type":"portmap","capabilities":{"portMappings":false},"name":"net","cniVersion":"1.0.0"}),
            ),
            // capability the runtime has no data for → nothing passed.
            (
                json!({"type":"bandwidth","capabilities":{"bandwidth":true}}),
                None,
                json!({"type":"bandwidth","capabilities":{"bandwidth":true},"name":"net","cniVersion":"1.0.0"}),
            ),
        ];
        for (conf, prev, want) in cases {
            let got: Value =
                serde_json::from_slice(&plugin_stdin("net", "1.0.0", &plugin(conf.clone()), prev, &caps)).unwrap();
            assert_eq!(got, want, "{conf}");
        }
    }
}
