//! The three container lists of a pod spec: app containers (required,
//! unique names, host ports unique across them), init containers (sidecars
//! with `restartPolicy: Always` may have probes and hooks) and ephemeral
//! containers (an allow-list of fields, and only on update).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, PodSpec};

use super::container::{PodContext, check_host_port_conflicts, validate_container_common};
use super::or_empty as s;
use super::pod::image_whitespace;
use super::probes::{ProbeKind, validate_lifecycle_handler, validate_probe};
use crate::field::{FieldError, Path};

/// A view of an ephemeral container as a container, for the shared checks.
pub(super) fn ephemeral_as_container(e: &EphemeralContainer) -> Container {
    Container {
        args: e.args.clone(),
        command: e.command.clone(),
        env: e.env.clone(),
        env_from: e.env_from.clone(),
        image: e.image.clone(),
        image_pull_policy: e.image_pull_policy.clone(),
        lifecycle: e.lifecycle.clone(),
        liveness_probe: e.liveness_probe.clone(),
        name: e.name.clone(),
        ports: e.ports.clone(),
        readiness_probe: e.readiness_probe.clone(),
        resize_policy: e.resize_policy.clone(),
        resources: e.resources.clone(),
        restart_policy: e.restart_policy.clone(),
        restart_policy_rules: e.restart_policy_rules.clone(),
        security_context: e.security_context.clone(),
        startup_probe: e.startup_probe.clone(),
        stdin: e.stdin,
        stdin_once: e.stdin_once,
        termination_message_path: e.termination_message_path.clone(),
        termination_message_policy: e.termination_message_policy.clone(),
        tty: e.tty,
        volume_devices: e.volume_devices.clone(),
        volume_mounts: e.volume_mounts.clone(),
        working_dir: e.working_dir.clone(),
    }
}

pub(super) fn validate_containers(spec: &PodSpec, ctx: &PodContext<'_>, path: &Path) -> Vec<FieldError> {
    let fp = path.child("containers");
    if spec.containers.is_empty() {
        return vec![FieldError::required(&fp, "")];
    }
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let p = fp.index(i);
        errs.extend(validate_container_common(c, ctx, &p));
        if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        }
        errs.extend(validate_hooks_and_probes(c, ctx, &p));
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(&p.child("restartPolicy"), "may not be set for non-init containers"));
        }
    }
    let all: Vec<&Container> = spec.containers.iter().collect();
    errs.extend(check_host_port_conflicts(&all, &mut BTreeSet::new(), &fp));
    errs
}

fn validate_hooks_and_probes(c: &Container, ctx: &PodContext<'_>, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(lc) = &c.lifecycle {
        let lp = p.child("lifecycle");
        if let Some(h) = &lc.post_start {
            errs.extend(validate_lifecycle_handler(h, ctx.grace_period, &lp.child("postStart")));
        }
        if let Some(h) = &lc.pre_stop {
            errs.extend(validate_lifecycle_handler(h, ctx.grace_period, &lp.child("preStop")));
        }
    }
    errs.extend(validate_probe(
        c.liveness_probe.as_ref(),
        ProbeKind::Liveness,
        ctx.grace_period,
        &p.child("livenessProbe"),
    ));
    errs.extend(validate_probe(
        c.readiness_probe.as_ref(),
        ProbeKind::Readiness,
        ctx.grace_period,
        &p.child("readinessProbe"),
    ));
    errs.extend(validate_probe(
        c.startup_probe.as_ref(),
        ProbeKind::Startup,
        ctx.grace_period,
        &p.child("startupProbe"),
    ));
    errs
}

pub(super) fn validate_init_containers(spec: &PodSpec, ctx: &PodContext<'_>, path: &Path) -> Vec<FieldError> {
    let fp = path.child("initContainers");
    let mut errs = Vec::new();
    let mut names: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = fp.index(i);
        errs.extend(validate_container_common(c, ctx, &p));
        let mut sidecar = false;
        if let Some(rp) = &c.restart_policy {
            if rp != "Always" {
                errs.push(FieldError::not_supported(&p.child("restartPolicy"), rp.as_str(), &["Always"]));
            }
            sidecar = rp == "Always";
        }
        if names.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), c.name.as_str()));
        } else if !c.name.is_empty() {
            names.insert(c.name.as_str());
        }
        // Init containers run one at a time, so host ports only conflict
        // within one of them.
        errs.extend(check_host_port_conflicts(&[c], &mut BTreeSet::new(), &fp));
        if sidecar {
            errs.extend(validate_hooks_and_probes(c, ctx, &p));
        } else {
            for (field, set) in [
                ("lifecycle", c.lifecycle.is_some()),
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ] {
                if set {
                    errs.push(FieldError::forbidden(
                        &p.child(field),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

pub(super) fn validate_ephemeral_containers(spec: &PodSpec, ctx: &PodContext<'_>, path: &Path) -> Vec<FieldError> {
    let fp = path.child("ephemeralContainers");
    let mut errs = Vec::new();
    let mut others: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    others.extend(spec.init_containers.iter().flatten().map(|c| c.name.as_str()));
    let mut all = others.clone();
    for (i, ec) in spec.ephemeral_containers.iter().flatten().enumerate() {
        let p = fp.index(i);
        let c = ephemeral_as_container(ec);
        errs.extend(validate_container_common(&c, ctx, &p));
        errs.extend(image_whitespace(s(&c.image), &p));
        if !all.insert(ec.name.as_str()) {
            errs.push(FieldError::duplicate(&p.child("name"), ec.name.as_str()));
        }
        let target = s(&ec.target_container_name);
        if !target.is_empty() && !others.contains(target) {
            errs.push(FieldError::not_found(&p.child("targetContainerName"), target));
        }
        let resources_set = c.resources.as_ref().is_some_and(|r| {
            r.limits.as_ref().is_some_and(|m| !m.is_empty())
                || r.requests.as_ref().is_some_and(|m| !m.is_empty())
                || r.claims.as_ref().is_some_and(|m| !m.is_empty())
        });
        // The Go allow-list, in struct field order.
        for (field, set) in [
            ("ports", c.ports.as_ref().is_some_and(|v| !v.is_empty())),
            ("resources", resources_set),
            ("resizePolicy", c.resize_policy.as_ref().is_some_and(|v| !v.is_empty())),
            ("restartPolicy", c.restart_policy.is_some()),
            ("restartPolicyRules", c.restart_policy_rules.as_ref().is_some_and(|v| !v.is_empty())),
            ("livenessProbe", c.liveness_probe.is_some()),
            ("readinessProbe", c.readiness_probe.is_some()),
            ("startupProbe", c.startup_probe.is_some()),
            ("lifecycle", c.lifecycle.is_some()),
        ] {
            if set {
                errs.push(FieldError::forbidden(&p.child(field), "cannot be set for an Ephemeral Container"));
            }
        }
        for (j, vm) in c.volume_mounts.iter().flatten().enumerate() {
            let mp = p.child("volumeMounts").index(j);
            if !s(&vm.sub_path).is_empty() {
                errs.push(FieldError::forbidden(&mp.child("subPath"), "cannot be set for an Ephemeral Container"));
            }
            if !s(&vm.sub_path_expr).is_empty() {
                errs.push(FieldError::forbidden(&mp.child("subPathExpr"), "cannot be set for an Ephemeral Container"));
            }
        }
    }
    errs
}
