//! A container's environment as kubelet builds it (makeEnvironmentVariables):
//! envFrom first, then env in order, each value `$(VAR)`-expanded against
//! the variables defined before it; then merged over the image's Env.
//! A missing required ConfigMap/Secret or key is a
//! `CreateContainerConfigError` with kubelet's message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use peapod_api::expand::expand;
use peapod_api::quantity::Quantity;
use peapod_store::{ObjKey, Store};

use crate::status::Waiting;

/// Facts about the node and the pod's network that fieldRefs can read.
pub struct EnvContext<'a> {
    pub store: &'a Store,
    pub node_name: &'a str,
    pub host_ip: &'a str,
    pub pod_ips: &'a [String],
    /// Node allocatable (cpu millis, memory bytes) for resourceFieldRef without limits.
    pub node_cpu_millis: i64,
    pub node_memory_bytes: i64,
}

fn config_error(message: String) -> Waiting {
    Waiting { reason: "CreateContainerConfigError".into(), message }
}

fn configmap(ctx: &EnvContext<'_>, ns: &str, name: &str) -> Option<ConfigMap> {
    let v = ctx.store.get(&ObjKey::new("configmaps", ns, name))?;
    serde_json::from_value(v.as_ref().clone()).ok()
}

fn secret(ctx: &EnvContext<'_>, ns: &str, name: &str) -> Option<Secret> {
    let v = ctx.store.get(&ObjKey::new("secrets", ns, name))?;
    serde_json::from_value(v.as_ref().clone()).ok()
}

fn secret_value(s: &Secret, key: &str) -> Option<String> {
    if let Some(v) = s.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&v.0).into_owned());
    }
    s.string_data.as_ref().and_then(|d| d.get(key)).cloned()
}

/// The pod-defined variables of container `c`, in order (no image Env).
pub fn pod_env(pod: &Pod, c: &Container, ctx: &EnvContext<'_>) -> Result<Vec<(String, String)>, Waiting> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        if let Some(e) = vars.iter_mut().find(|(n, _)| *n == k) {
            e.1 = v;
        } else {
            vars.push((k, v));
        }
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            match configmap(ctx, ns, &r.name) {
                Some(cm) => {
                    for (k, v) in cm.data.unwrap_or_default() {
                        set(&mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if optional => {}
                None => return Err(config_error(format!("configmap \"{}\" not found", r.name))),
            }
        }
        if let Some(r) = &from.secret_ref {
            let optional = r.optional.unwrap_or(false);
            match secret(ctx, ns, &r.name) {
                Some(s) => {
                    for (k, v) in s.data.unwrap_or_default() {
                        set(&mut vars, format!("{prefix}{k}"), String::from_utf8_lossy(&v.0).into_owned());
                    }
                }
                None if optional => {}
                None => return Err(config_error(format!("secret \"{}\" not found", r.name))),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(vf) = &e.value_from {
            if let Some(r) = &vf.config_map_key_ref {
                let optional = r.optional.unwrap_or(false);
                match configmap(ctx, ns, &r.name) {
                    Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => {
                            return Err(config_error(format!(
                                "couldn't find key {} in ConfigMap {ns}/{}",
                                r.key, r.name
                            )));
                        }
                    },
                    None if optional => continue,
                    None => return Err(config_error(format!("configmap \"{}\" not found", r.name))),
                }
            } else if let Some(r) = &vf.secret_key_ref {
                let optional = r.optional.unwrap_or(false);
                match secret(ctx, ns, &r.name) {
                    Some(s) => match secret_value(&s, &r.key) {
                        Some(v) => v,
                        None if optional => continue,
                        None => {
                            return Err(config_error(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name)));
                        }
                    },
                    None if optional => continue,
                    None => return Err(config_error(format!("secret \"{}\" not found", r.name))),
                }
            } else if let Some(f) = &vf.field_ref {
                field_ref(pod, &f.field_path, ctx).map_err(config_error)?
            } else if let Some(r) = &vf.resource_field_ref {
                let cname = r.container_name.as_deref().filter(|n| !n.is_empty()).unwrap_or(&c.name);
                resource_field_ref(pod, cname, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()), ctx)
                    .map_err(config_error)?
            } else {
                String::new()
            }
        } else {
            let defined: BTreeMap<String, String> = vars.iter().cloned().collect();
            expand(e.value.as_deref().unwrap_or(""), |n| defined.get(n).cloned())
        };
        set(&mut vars, e.name.clone(), value);
    }
    Ok(vars)
}

/// `valueFrom.fieldRef`.
pub fn field_ref(pod: &Pod, path: &str, ctx: &EnvContext<'_>) -> Result<String, String> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let label_like = |prefix: &str, map: Option<&BTreeMap<String, String>>| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.and_then(|l| l.get(key)).cloned().unwrap_or_default())
    };
    if let Some(v) = label_like("metadata.labels['", m.labels.as_ref()) {
        return Ok(v);
    }
    if let Some(v) = label_like("metadata.annotations['", m.annotations.as_ref()) {
        return Ok(v);
    }
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(m.labels.as_ref()),
        "metadata.annotations" => format_map(m.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_else(|| ctx.node_name.to_owned()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.to_owned(),
        "status.podIP" => ctx.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => ctx.pod_ips.join(","),
        other => return Err(format!("unsupported fieldRef {other}")),
    })
}

fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.map(|m| m.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join("\n")).unwrap_or_default()
}

/// `valueFrom.resourceFieldRef`: the container's limit (or request), the
/// node's allocatable when no limit is set; divided by `divisor`, rounded up.
pub fn resource_field_ref(
    pod: &Pod,
    container: &str,
    resource: &str,
    divisor: Option<&str>,
    ctx: &EnvContext<'_>,
) -> Result<String, String> {
    let c = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
        .find(|c| c.name == container)
        .ok_or_else(|| format!("container {container} not found"))?;
    let res = c.resources.as_ref();
    let (section, name) = resource.split_once('.').ok_or_else(|| format!("unsupported resource {resource}"))?;
    let q = match section {
        "limits" => res.and_then(|r| r.limits.as_ref()),
        "requests" => res.and_then(|r| r.requests.as_ref()),
        _ => None,
    }
    .and_then(|m| m.get(name))
    .and_then(|q| Quantity::parse(&q.0).ok());
    let div = Quantity::parse(divisor.filter(|d| !d.is_empty()).unwrap_or("1")).map_err(|e| e.to_string())?;
    let out = match name {
        "cpu" => {
            let millis = q.map(|q| q.as_milli()).unwrap_or(ctx.node_cpu_millis);
            let d = div.as_milli().max(1);
            (millis + d - 1) / d
        }
        "memory" | "ephemeral-storage" => {
            let bytes = q.map(|q| q.value()).unwrap_or(ctx.node_memory_bytes);
            let d = div.value().max(1);
            (bytes + d - 1) / d
        }
        other => return Err(format!("unsupported resource {other}")),
    };
    Ok(out.to_string())
}

/// The final environment: the image's Env, overridden by the pod's variables.
pub fn merge_with_image(image_env: &[String], pod_vars: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = image_env
        .iter()
        .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap_or((kv.clone(), String::new())))
        .collect();
    for (k, v) in pod_vars {
        match out.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMapKeySelector, EnvVar, EnvVarSource, ObjectFieldSelector, PodSpec};
    use serde_json::json;

    fn ctx(store: &Store) -> EnvContext<'_> {
        EnvContext {
            store,
            node_name: "n1",
            host_ip: "192.0.2.2",
            pod_ips: &[],
            node_cpu_millis: 2000,
            node_memory_bytes: 1 << 30,
        }
    }

    fn env(name: &str, value: &str) -> EnvVar {
        EnvVar { name: name.into(), value: Some(value.into()), value_from: None }
    }

    fn pod_with(envs: Vec<EnvVar>) -> (Pod, Container) {
        let c = Container { name: "c".into(), env: Some(envs), ..Default::default() };
        let mut p = Pod::default();
        p.metadata.name = Some("p".into());
        p.metadata.namespace = Some("default".into());
        p.metadata.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
        p.spec = Some(PodSpec { containers: vec![c.clone()], ..Default::default() });
        (p, c)
    }

    #[test]
    fn values_expand_against_earlier_vars() {
        let store = Store::open_in_memory(Default::default()).unwrap();
        let (p, c) = pod_with(vec![env("os", "ubuntu"), env("msg", "$(os) and $(nope) $$(os)")]);
        let v = pod_env(&p, &c, &ctx(&store)).unwrap();
        assert_eq!(v[1].1, "ubuntu and $(nope) $(os)");
    }

    #[test]
    fn field_and_configmap_refs() {
        let store = Store::open_in_memory(Default::default()).unwrap();
        let (p, mut c) = pod_with(vec![]);
        c.env = Some(vec![
            EnvVar {
                name: "NAME".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.labels['app']".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            },
            EnvVar {
                name: "CFG".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    config_map_key_ref: Some(ConfigMapKeySelector {
                        name: "cm".into(),
                        key: "k".into(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            },
        ]);
        let err = pod_env(&p, &c, &ctx(&store)).unwrap_err();
        assert_eq!(err.reason, "CreateContainerConfigError");
        assert_eq!(err.message, "configmap \"cm\" not found");
        store
            .create(&ObjKey::new("configmaps", "default", "cm"), json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"default"},"data":{"other":"x"}}))
            .unwrap();
        assert_eq!(pod_env(&p, &c, &ctx(&store)).unwrap_err().message, "couldn't find key k in ConfigMap default/cm");
        store
            .update(&ObjKey::new("configmaps", "default", "cm"), json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"default"},"data":{"k":"v1"}}))
            .unwrap();
        let v = pod_env(&p, &c, &ctx(&store)).unwrap();
        assert_eq!(v, vec![("NAME".into(), "web".into()), ("CFG".into(), "v1".into())]);
    }

    #[test]
    fn image_env_is_overridden() {
        let out = merge_with_image(
            &["PATH=/bin".into(), "A=1".into()],
            &[("A".into(), "2".into()), ("B".into(), "3".into())],
        );
        assert_eq!(out, vec![("PATH".into(), "/bin".into()), ("A".into(), "2".into()), ("B".into(), "3".into())]);
    }
}
