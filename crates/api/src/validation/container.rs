//! Container checks (`validateContainerCommon` and what it calls in
//! `pkg/apis/core/validation/validation.go`): name, image, ports, env and
//! envFrom, downward API selectors, pull policy; mounts, resources and the
//! security context are delegated to their modules.
//!
//! Field paths and messages follow the Go code, quirks included (a bad
//! `subPath` is reported at `...volumeMounts.subPath`, not at the indexed
//! mount, because that is what the apiserver says).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, ObjectFieldSelector, ResourceFieldSelector, Volume,
};
use serde_json::json;

use super::mounts::{validate_volume_devices, validate_volume_mounts};
use super::names::{
    inclusive_range_error, is_config_map_key, is_dns1123_label, is_qualified_name, is_relaxed_env_var_name,
    is_valid_port_name, is_valid_port_num, name_is_dns_subdomain, push_invalid,
};
use super::or_empty as s;
use super::resources::validate_resource_requirements;
use super::security::validate_security_context;
use crate::field::{FieldError, Path};
use crate::quantity::{FORMAT_ERROR, Quantity};

/// What container checks need to know about the rest of the pod.
pub(super) struct PodContext<'a> {
    /// Volumes that passed validation, by name.
    pub volumes: BTreeMap<&'a str, &'a Volume>,
    /// Names in `spec.resourceClaims`.
    pub claim_names: BTreeSet<&'a str>,
    /// `spec.terminationGracePeriodSeconds`.
    pub grace_period: Option<i64>,
    /// `spec.restartPolicy`.
    pub restart_policy: &'a str,
    /// False when `spec.hostUsers: false` (user namespaces).
    pub host_users: bool,
}

/// Checks shared by app, init and ephemeral containers.
pub(super) fn validate_container_common(c: &Container, ctx: &PodContext<'_>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        push_invalid(&mut errs, &name_path, &c.name, is_dns1123_label(&c.name));
    }
    if s(&c.image).is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    match s(&c.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(&path.child("terminationMessagePolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    let mounts = c.volume_mounts.as_deref().unwrap_or(&[]);
    let devices = c.volume_devices.as_deref().unwrap_or(&[]);
    errs.extend(validate_container_ports(c, &path.child("ports")));
    errs.extend(validate_env(c.env.as_deref().unwrap_or(&[]), &path.child("env")));
    errs.extend(validate_env_from(c.env_from.as_deref().unwrap_or(&[]), &path.child("envFrom")));
    errs.extend(validate_volume_mounts(mounts, devices, ctx, c, &path.child("volumeMounts")));
    errs.extend(validate_volume_devices(devices, mounts, ctx, &path.child("volumeDevices")));
    errs.extend(validate_pull_policy(s(&c.image_pull_policy), &path.child("imagePullPolicy")));
    errs.extend(validate_resource_requirements(c.resources.as_ref(), &ctx.claim_names, &path.child("resources")));
    let resize_policy = c.resize_policy.as_deref().unwrap_or(&[]);
    for (i, p) in resize_policy.iter().enumerate() {
        let rp = path.child("resizePolicy");
        if resize_policy[..i].iter().any(|q| q.resource_name == p.resource_name) {
            errs.push(FieldError::duplicate(&rp.index(i), p.resource_name.as_str()));
        }
        match p.resource_name.as_str() {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(&rp, "")),
            other => errs.push(FieldError::not_supported(&rp, other, &["cpu", "memory"])),
        }
        match p.restart_policy.as_str() {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(&rp, "")),
            other => errs.push(FieldError::not_supported(&rp, other, &["NotRequired", "RestartContainer"])),
        }
        if ctx.restart_policy == "Never" && p.restart_policy != "NotRequired" {
            errs.push(FieldError::invalid(
                &rp,
                p.restart_policy.as_str(),
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
    errs.extend(validate_security_context(c.security_context.as_ref(), &path.child("securityContext"), ctx.host_users));
    errs
}

fn validate_container_ports(c: &Container, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let idx = path.index(i);
        let name = s(&port.name);
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                push_invalid(&mut errs, &idx.child("name"), name, msgs);
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(&idx.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&idx.child("containerPort"), ""));
        } else {
            for m in is_valid_port_num(port.container_port as i64) {
                errs.push(FieldError::invalid(&idx.child("containerPort"), port.container_port, m));
            }
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            for m in is_valid_port_num(host_port as i64) {
                errs.push(FieldError::invalid(&idx.child("hostPort"), host_port, m));
            }
        }
        match s(&port.protocol) {
            "TCP" | "UDP" | "SCTP" => {}
            "" => errs.push(FieldError::required(&idx.child("protocol"), "")),
            other => errs.push(FieldError::not_supported(&idx.child("protocol"), other, &["SCTP", "TCP", "UDP"])),
        }
    }
    errs
}

/// Duplicate `protocol/hostIP/hostPort` triples across `containers`
/// (Go `AccumulateUniqueHostPorts`), reported at the second occurrence.
pub(super) fn check_host_port_conflicts(
    containers: &[&Container],
    seen: &mut BTreeSet<String>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in c.ports.iter().flatten().enumerate() {
            let host_port = p.host_port.unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!("{}/{}/{}", s(&p.protocol), s(&p.host_ip), host_port);
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(&path.index(ci).child("ports").index(pi).child("hostPort"), key));
            }
        }
    }
    errs
}

const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

pub(super) const VOLUME_FIELD_PATHS: [&str; 5] =
    ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"];

const RESOURCE_FIELD_PATHS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

fn validate_env(vars: &[EnvVar], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in vars.iter().enumerate() {
        let idx = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        } else {
            push_invalid(&mut errs, &idx.child("name"), &ev.name, is_relaxed_env_var_name(&ev.name));
        }
        let Some(from) = &ev.value_from else { continue };
        let vf = idx.child("valueFrom");
        let mut sources = 0;
        if let Some(f) = &from.field_ref {
            sources += 1;
            errs.extend(validate_object_field_selector(f, &ENV_FIELD_PATHS, &vf.child("fieldRef")));
        }
        if let Some(r) = &from.resource_field_ref {
            sources += 1;
            errs.extend(validate_resource_field_selector(r, false, &vf.child("resourceFieldRef")));
        }
        if let Some(k) = &from.config_map_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(&k.name, &k.key, &vf.child("configMapKeyRef")));
        }
        if let Some(k) = &from.secret_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(&k.name, &k.key, &vf.child("secretKeyRef")));
        }
        if from.file_key_ref.is_some() {
            sources += 1;
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &vf,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !s(&ev.value).is_empty() {
            errs.push(FieldError::invalid(&vf, "", "may not be specified when `value` is not empty"));
        } else if sources > 1 {
            errs.push(FieldError::invalid(&vf, "", "may not have more than one field specified at a time"));
        }
    }
    errs
}

/// Splits `metadata.labels['key']` into (`metadata.labels`, `key`).
pub(super) fn split_subscripted(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (base, key) = inner.split_once("['")?;
    (!base.is_empty()).then_some((base, key))
}

pub(super) fn validate_object_field_selector(
    fs: &ObjectFieldSelector,
    allowed: &[&str],
    path: &Path,
) -> Vec<FieldError> {
    let api_version = s(&fs.api_version);
    if api_version.is_empty() {
        return vec![FieldError::required(&path.child("apiVersion"), "")];
    }
    if fs.field_path.is_empty() {
        return vec![FieldError::required(&path.child("fieldPath"), "")];
    }
    let fp = fs.field_path.as_str();
    let conversion_error = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if let Some((base, _)) = split_subscripted(fp) {
        (!matches!(base, "metadata.annotations" | "metadata.labels"))
            .then(|| format!("field label does not support subscript: {fp}"))
    } else {
        let known = [
            "metadata.annotations",
            "metadata.labels",
            "metadata.name",
            "metadata.namespace",
            "metadata.uid",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.serviceAccountName",
            "spec.schedulerName",
            "status.phase",
            "status.hostIP",
            "status.hostIPs",
            "status.podIP",
            "status.podIPs",
            "spec.host",
        ];
        (!known.contains(&fp)).then(|| format!("field label not supported: {fp}"))
    };
    if let Some(e) = conversion_error {
        return vec![FieldError::invalid(&path.child("fieldPath"), fp, format!("error converting fieldPath: {e}"))];
    }
    let mut errs = Vec::new();
    let internal = if fp == "spec.host" { "spec.nodeName" } else { fp };
    if let Some((base, key)) = split_subscripted(internal) {
        let key = if base == "metadata.annotations" { key.to_lowercase() } else { key.to_string() };
        push_invalid(&mut errs, path, &key, is_qualified_name(&key));
    } else if !allowed.contains(&internal) {
        errs.push(FieldError::not_supported(&path.child("fieldPath"), internal, allowed));
    }
    errs
}

pub(super) fn validate_resource_field_selector(
    r: &ResourceFieldSelector,
    volume: bool,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if volume && s(&r.container_name).is_empty() {
        errs.push(FieldError::required(&path.child("containerName"), ""));
    } else if r.resource.is_empty() {
        errs.push(FieldError::required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&r.resource.as_str())
        && !r.resource.starts_with("requests.hugepages-")
        && !r.resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(&path.child("resource"), r.resource.as_str(), &RESOURCE_FIELD_PATHS));
    }
    if let Some(d) = &r.divisor {
        let canonical = Quantity::parse(&d.0).map(|q| q.to_string());
        let res = r.resource.as_str();
        let (allowed, what): (&[&str], &str) = match res {
            "limits.cpu" | "requests.cpu" => (&["1m", "1"], "cpu"),
            "limits.memory" | "requests.memory" => (&MEMORY_DIVISORS, "memory"),
            "limits.ephemeral-storage" | "requests.ephemeral-storage" => (&MEMORY_DIVISORS, "local ephemeral storage"),
            _ if res.contains(".hugepages-") => (&MEMORY_DIVISORS, "hugepages"),
            _ => (&[], ""),
        };
        match canonical {
            Ok(c) if c == "0" || allowed.is_empty() || allowed.contains(&c.as_str()) => {}
            Ok(_) => {
                let detail = if what == "cpu" {
                    "only divisor's values 1m and 1 are supported with the cpu resource".to_string()
                } else {
                    format!(
                        "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the {what} resource"
                    )
                };
                errs.push(FieldError::invalid(&path.child("divisor"), res, detail));
            }
            Err(_) => errs.push(FieldError::invalid(&path.child("divisor"), d.0.as_str(), FORMAT_ERROR)),
        }
    }
    errs
}

const MEMORY_DIVISORS: [&str; 13] = ["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"];

fn validate_key_selector(name: &str, key: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    push_invalid(&mut errs, &path.child("name"), name, name_is_dns_subdomain(name, false));
    if key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    } else {
        push_invalid(&mut errs, &path.child("key"), key, is_config_map_key(key));
    }
    errs
}

fn validate_env_from(sources: &[EnvFromSource], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ef) in sources.iter().enumerate() {
        let idx = path.index(i);
        let prefix = s(&ef.prefix);
        if !prefix.is_empty() {
            push_invalid(&mut errs, &idx.child("prefix"), prefix, is_relaxed_env_var_name(prefix));
        }
        let mut n = 0;
        let mut check_name = |errs: &mut Vec<FieldError>, name: &str, p: Path| {
            n += 1;
            if name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            } else {
                push_invalid(errs, &p.child("name"), name, name_is_dns_subdomain(name, true));
            }
        };
        if let Some(r) = &ef.config_map_ref {
            check_name(&mut errs, &r.name, idx.child("configMapRef"));
        }
        if let Some(r) = &ef.secret_ref {
            check_name(&mut errs, &r.name, idx.child("secretRef"));
        }
        if n == 0 {
            errs.push(FieldError::invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"));
        } else if n > 1 {
            errs.push(FieldError::invalid(path, "", "may not have more than one field specified at a time"));
        }
    }
    errs
}

pub(super) fn validate_pull_policy(policy: &str, path: &Path) -> Vec<FieldError> {
    match policy {
        "Always" | "IfNotPresent" | "Never" => vec![],
        "" => vec![FieldError::required(path, "")],
        other => vec![FieldError::not_supported(path, other, &["Always", "IfNotPresent", "Never"])],
    }
}

/// `activeDeadlineSeconds`-style range message, re-exported for the spec.
pub(super) fn range_error(lo: i64, hi: i64) -> String {
    inclusive_range_error(lo, hi)
}

/// Compact JSON of a value for `Invalid` errors on whole structs.
pub(super) fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|_| json!(null))
}
