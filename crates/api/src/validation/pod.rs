//! Pod and PodSpec checks (`ValidatePodCreate`, `validatePodMetadataAndSpec`,
//! `ValidatePodSpec`). Expects a defaulted pod: like the apiserver, it
//! reports unset defaulted fields (`restartPolicy`, `dnsPolicy`,
//! `terminationGracePeriodSeconds`, `imagePullPolicy`, port `protocol`) as
//! Required.
//!
//! Not checked (accepted as is): affinity terms, topology spread constraints,
//! Windows host-process rules, pod-level resource consistency.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec, Toleration};
use serde_json::json;

use super::container::{PodContext, range_error, to_json};
use super::container_lists::{validate_containers, validate_ephemeral_containers, validate_init_containers};
use super::meta::{validate_labels, validate_object_meta_at};
use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value, name_is_dns_subdomain,
    push_invalid, validate_ip,
};
use super::or_empty as s;
use super::resources::validate_resource_requirements;
use super::security::validate_pod_security_context;
use super::volume::validate_volumes;
use crate::field::{FieldError, Path};

/// The annotation that marks a mirror pod of a static pod.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Validates a pod on create (Go `ValidatePodCreate`). Run it after
/// [`crate::defaults::default_pod`].
pub fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    let mut errs = validate_pod_metadata_and_spec(pod);
    let spec_path = Path::new("spec");
    if let Some(spec) = &pod.spec {
        if spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()) {
            errs.push(FieldError::forbidden(&spec_path.child("ephemeralContainers"), "cannot be set on create"));
        }
        if !s(&spec.node_name).is_empty() && spec.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty()) {
            errs.push(FieldError::forbidden(
                &spec_path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
    }
    errs
}

/// Metadata, pod-specific annotations, the spec, and the pod-only rules.
pub(super) fn validate_pod_metadata_and_spec(pod: &Pod) -> Vec<FieldError> {
    let meta_path = Path::new("metadata");
    let spec_path = Path::new("spec");
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    let mut errs = validate_object_meta_at(&pod.metadata, true, name_is_dns_subdomain, &meta_path);
    let ann_path = meta_path.child("annotations");
    if let Some(ann) = &pod.metadata.annotations {
        if let Some(v) = ann.get(MIRROR_POD_ANNOTATION)
            && s(&spec.node_name).is_empty()
        {
            errs.push(FieldError::invalid(
                &ann_path.key(MIRROR_POD_ANNOTATION),
                v.as_str(),
                "must set spec.nodeName if mirror pod annotation is set",
            ));
        }
        if let Some(v) = ann.get(POD_DELETION_COST_ANNOTATION)
            && v.parse::<i32>().is_err()
        {
            errs.push(FieldError::invalid(
                &ann_path.key(POD_DELETION_COST_ANNOTATION),
                v.as_str(),
                "must be a 32bit integer",
            ));
        }
    }
    errs.extend(validate_pod_spec(spec, pod.metadata.name.as_deref().unwrap_or(""), &spec_path));
    if s(&spec.service_account_name).is_empty() {
        for (vi, v) in spec.volumes.iter().flatten().enumerate() {
            let Some(p) = &v.projected else { continue };
            for (si, src) in p.sources.iter().flatten().enumerate() {
                if src.service_account_token.is_some() {
                    errs.push(FieldError::forbidden(
                        &spec_path
                            .child("volumes")
                            .index(vi)
                            .child("projected")
                            .child("sources")
                            .index(si)
                            .child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for (field, list) in
        [("containers", &spec.containers), ("initContainers", spec.init_containers.as_ref().unwrap_or(&Vec::new()))]
    {
        for (i, c) in list.iter().enumerate() {
            errs.extend(image_whitespace(s(&c.image), &spec_path.child(field).index(i)));
        }
    }
    errs
}

pub(super) fn image_whitespace(image: &str, path: &Path) -> Vec<FieldError> {
    if image.trim() != image {
        vec![FieldError::invalid(&path.child("image"), image, "must not have leading or trailing whitespace")]
    } else {
        vec![]
    }
}

/// Validates a pod spec at `path` (Go `ValidatePodSpec`). `pod_name` is used
/// for generic ephemeral volume names and may be empty.
pub fn validate_pod_spec(spec: &PodSpec, pod_name: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(FieldError::required(&path.child("terminationGracePeriodSeconds"), ""));
    }
    let host_users = spec.host_users.unwrap_or(true);
    let (volumes, verrs) = validate_volumes(spec.volumes.as_deref().unwrap_or(&[]), pod_name, &path.child("volumes"));
    errs.extend(verrs);
    let claims = spec.resource_claims.as_deref().unwrap_or(&[]);
    let claim_names: BTreeSet<&str> = claims.iter().filter(|c| !c.name.is_empty()).map(|c| c.name.as_str()).collect();
    let mut seen_claims = BTreeSet::new();
    for (i, claim) in claims.iter().enumerate() {
        let p = path.child("resourceClaims").index(i);
        if claim.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else if !seen_claims.insert(claim.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), claim.name.as_str()));
        } else {
            push_invalid(&mut errs, &p.child("name"), &claim.name, is_dns1123_label(&claim.name));
        }
        match (&claim.resource_claim_name, &claim.resource_claim_template_name) {
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                &p,
                to_json(claim),
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
            )),
            (None, None) => errs.push(FieldError::invalid(
                &p,
                to_json(claim),
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            )),
            _ => {}
        }
    }
    let ctx = PodContext {
        volumes,
        claim_names,
        grace_period: spec.termination_grace_period_seconds,
        restart_policy: s(&spec.restart_policy),
        host_users,
    };
    errs.extend(validate_containers(spec, &ctx, path));
    errs.extend(validate_init_containers(spec, &ctx, path));
    errs.extend(validate_ephemeral_containers(spec, &ctx, path));
    if spec.resources.is_some() {
        errs.extend(validate_resource_requirements(
            spec.resources.as_ref(),
            &ctx.claim_names,
            &path.child("resources"),
        ));
    }
    if spec.host_network == Some(true) {
        for (i, c) in spec.containers.iter().enumerate() {
            for (j, p) in c.ports.iter().flatten().enumerate() {
                if p.host_port.unwrap_or(0) != p.container_port {
                    errs.push(FieldError::invalid(
                        &path.child("containers").index(i).child("ports").index(j).child("hostPort"),
                        p.host_port.unwrap_or(0),
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    match s(&spec.restart_policy) {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(&path.child("restartPolicy"), "")),
        other => {
            errs.push(FieldError::not_supported(&path.child("restartPolicy"), other, &["Always", "OnFailure", "Never"]))
        }
    }
    let dns_policy = s(&spec.dns_policy);
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(&path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            &path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(spec.node_selector.as_ref(), &path.child("nodeSelector")));
    errs.extend(validate_pod_security_context(spec, &path.child("securityContext")));
    errs.extend(validate_dns_config(spec, dns_policy, &path.child("dnsConfig")));
    for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
        push_invalid(
            &mut errs,
            &path.child("readinessGates").index(i).child("conditionType"),
            &g.condition_type,
            is_qualified_name(&g.condition_type),
        );
    }
    let mut gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        push_invalid(&mut errs, &p, &g.name, is_qualified_name(&g.name));
        if !gates.insert(g.name.as_str()) {
            errs.push(FieldError::duplicate(&p, g.name.as_str()));
        }
    }
    if spec.host_users == Some(false) {
        for (field, on) in [("hostNetwork", spec.host_network), ("HostPID", spec.host_pid), ("HostIPC", spec.host_ipc)]
        {
            if on == Some(true) {
                errs.push(FieldError::forbidden(&path.child(field), "when `pod.Spec.HostUsers` is false"));
            }
        }
    }
    for (field, value) in [("serviceAccountName", s(&spec.service_account_name)), ("nodeName", s(&spec.node_name))] {
        if !value.is_empty() {
            push_invalid(&mut errs, &path.child(field), value, is_dns1123_subdomain(value));
        }
    }
    if let Some(v) = spec.active_deadline_seconds
        && !(1..=i32::MAX as i64).contains(&v)
    {
        errs.push(FieldError::invalid(&path.child("activeDeadlineSeconds"), v, range_error(1, i32::MAX as i64)));
    }
    for (field, value) in [("hostname", s(&spec.hostname)), ("subdomain", s(&spec.subdomain))] {
        if !value.is_empty() {
            push_invalid(&mut errs, &path.child(field), value, is_dns1123_label(value));
        }
    }
    errs.extend(validate_tolerations(spec.tolerations.as_deref().unwrap_or(&[]), &path.child("tolerations")));
    for (i, ha) in spec.host_aliases.iter().flatten().enumerate() {
        let p = path.child("hostAliases").index(i);
        errs.extend(validate_ip(&p.child("ip"), &ha.ip));
        for (j, h) in ha.hostnames.iter().flatten().enumerate() {
            push_invalid(&mut errs, &p.child("hostnames").index(j), h, is_dns1123_subdomain(h));
        }
    }
    let pcn = s(&spec.priority_class_name);
    if !pcn.is_empty() {
        push_invalid(&mut errs, &path.child("priorityClassName"), pcn, is_dns1123_subdomain(pcn));
    }
    if let Some(rc) = &spec.runtime_class_name {
        push_invalid(&mut errs, &path.child("runtimeClassName"), rc, is_dns1123_subdomain(rc));
    }
    if let Some(pp) = &spec.preemption_policy {
        match pp.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(&path.child("preemptionPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                &path.child("preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(os) = &spec.os {
        let p = path.child("os").child("name");
        match os.name.as_str() {
            "linux" => {
                if spec.security_context.as_ref().is_some_and(|sc| sc.windows_options.is_some()) {
                    errs.push(FieldError::forbidden(
                        &path.child("securityContext").child("windowsOptions"),
                        "windows options cannot be set for a linux pod",
                    ));
                }
            }
            "windows" => {}
            "" => errs.push(FieldError::required(&p, "")),
            other => errs.push(FieldError::not_supported(&p, other, &["linux", "windows"])),
        }
    }
    errs
}

fn validate_dns_config(spec: &PodSpec, dns_policy: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let cfg = spec.dns_config.as_ref();
    if dns_policy == "None" {
        let Some(cfg) = cfg else {
            return vec![FieldError::required(path, "must provide `dnsConfig` when `dnsPolicy` is None")];
        };
        if cfg.nameservers.as_ref().is_none_or(|n| n.is_empty()) {
            return vec![FieldError::required(
                &path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )];
        }
    }
    let Some(cfg) = cfg else { return errs };
    let nameservers = cfg.nameservers.as_deref().unwrap_or(&[]);
    if nameservers.len() > 3 {
        errs.push(FieldError::invalid(
            &path.child("nameservers"),
            json!(nameservers),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, ns) in nameservers.iter().enumerate() {
        errs.extend(validate_ip(&path.child("nameservers").index(i), ns));
    }
    let searches = cfg.searches.as_deref().unwrap_or(&[]);
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            json!(searches),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            json!(searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        if search == "." {
            continue;
        }
        let trimmed = search.strip_suffix('.').unwrap_or(search);
        // The relaxed rule (default since 1.32) also allows `_`.
        let with_dashes = trimmed.replace('_', "-");
        let msgs = is_dns1123_subdomain(&with_dashes);
        push_invalid(&mut errs, &path.child("searches").index(i), trimmed, msgs);
    }
    for (i, o) in cfg.options.iter().flatten().enumerate() {
        if s(&o.name).is_empty() {
            errs.push(FieldError::required(&path.child("options").index(i), "must not be empty"));
        }
    }
    errs
}

/// Validates tolerations (Go `ValidateTolerations`).
pub(super) fn validate_tolerations(tolerations: &[Toleration], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = s(&t.key);
        let op = s(&t.operator);
        let effect = s(&t.effect);
        let value = s(&t.value);
        if !key.is_empty() {
            push_invalid(&mut errs, &p.child("key"), key, is_qualified_name(key));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(&p.child("operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(&p.child("operator"), other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(FieldError::not_supported(
                &p.child("effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
