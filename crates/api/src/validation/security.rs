//! Security context checks for pods and containers: user and group IDs,
//! sysctls (names and host-namespace conflicts), seccomp and AppArmor
//! profiles, proc mount, privilege escalation.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{AppArmorProfile, PodSecurityContext, PodSpec, SeccompProfile, SecurityContext};

use super::container::to_json;
use super::names::is_valid_user_id;
use super::paths::validate_local_descending_path;
use crate::field::{FieldError, Path};

/// A container's `securityContext` (Go `ValidateSecurityContext`).
pub(super) fn validate_security_context(
    sc: Option<&SecurityContext>,
    path: &Path,
    host_users: bool,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc) = sc else { return errs };
    for (field, id) in [("runAsUser", sc.run_as_user), ("runAsGroup", sc.run_as_group)] {
        if let Some(id) = id {
            for m in is_valid_user_id(id) {
                errs.push(FieldError::invalid(&path.child(field), id, m));
            }
        }
    }
    if let Some(pm) = &sc.proc_mount {
        match pm.as_str() {
            "Default" | "Unmasked" => {}
            other => errs.push(FieldError::not_supported(&path.child("procMount"), other, &["Default", "Unmasked"])),
        }
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(
                &path.child("procMount"),
                pm.as_str(),
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    errs.extend(validate_seccomp_profile(sc.seccomp_profile.as_ref(), &path.child("seccompProfile")));
    if sc.allow_privilege_escalation == Some(false) {
        let value = serde_json::to_value(sc).unwrap_or_default();
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds = sc.capabilities.as_ref().and_then(|c| c.add.as_ref());
        if adds.is_some_and(|a| a.iter().any(|c| c == "CAP_SYS_ADMIN")) {
            errs.push(FieldError::invalid(
                path,
                value,
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(validate_app_armor_profile(sc.app_armor_profile.as_ref(), &path.child("appArmorProfile")));
    errs
}

const SYSCTL_REGEX: &str = "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

/// `[a-z0-9]([-_a-z0-9]*[a-z0-9])?` segments joined by `.` or `/`, ≤ 253.
fn is_valid_sysctl_name(name: &str) -> bool {
    name.len() <= 253
        && name.split(['.', '/']).all(|seg| {
            let b = seg.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
        })
}

pub(super) fn validate_pod_security_context(spec: &PodSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sc): Option<&PodSecurityContext> = spec.security_context.as_ref() else {
        return errs;
    };
    for (field, id) in [("fsGroup", sc.fs_group), ("runAsUser", sc.run_as_user), ("runAsGroup", sc.run_as_group)] {
        if let Some(id) = id {
            for m in is_valid_user_id(id) {
                errs.push(FieldError::invalid(&path.child(field), id, m));
            }
        }
    }
    for (g, gid) in sc.supplemental_groups.iter().flatten().enumerate() {
        for m in is_valid_user_id(*gid) {
            errs.push(FieldError::invalid(&path.child("supplementalGroups").index(g), *gid, m));
        }
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            &path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let mut names = BTreeSet::new();
    for (i, sysctl) in sc.sysctls.iter().flatten().enumerate() {
        let p = path.child("sysctls").index(i).child("name");
        if sysctl.name.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if !is_valid_sysctl_name(&sysctl.name) {
            errs.push(FieldError::invalid(
                &p,
                sysctl.name.as_str(),
                format!("must have at most 253 characters and match regex {SYSCTL_REGEX}"),
            ));
        } else if names.contains(sysctl.name.as_str()) {
            errs.push(FieldError::duplicate(&p, sysctl.name.as_str()));
        }
        let namespace = sysctl_namespace(&sysctl.name);
        if spec.host_network == Some(true) && namespace == Some("net") {
            errs.push(FieldError::invalid(&p, sysctl.name.as_str(), "may not be specified when 'hostNetwork' is true"));
        } else if spec.host_ipc == Some(true) && namespace == Some("ipc") {
            errs.push(FieldError::invalid(&p, sysctl.name.as_str(), "may not be specified when 'hostIPC' is true"));
        }
        names.insert(sysctl.name.as_str());
    }
    if let Some(p) = &sc.fs_group_change_policy
        && !matches!(p.as_str(), "Always" | "OnRootMismatch")
    {
        errs.push(FieldError::not_supported(
            &path.child("fsGroupChangePolicy"),
            p.as_str(),
            &["Always", "OnRootMismatch"],
        ));
    }
    errs.extend(validate_seccomp_profile(sc.seccomp_profile.as_ref(), &path.child("seccompProfile")));
    errs.extend(validate_app_armor_profile(sc.app_armor_profile.as_ref(), &path.child("appArmorProfile")));
    if let Some(p) = &sc.supplemental_groups_policy
        && !matches!(p.as_str(), "Merge" | "Strict")
    {
        errs.push(FieldError::not_supported(&path.child("supplementalGroupsPolicy"), p.as_str(), &["Merge", "Strict"]));
    }
    if let Some(p) = &sc.se_linux_change_policy
        && !matches!(p.as_str(), "MountOption" | "Recursive")
    {
        errs.push(FieldError::not_supported(
            &path.child("seLinuxChangePolicy"),
            p.as_str(),
            &["MountOption", "Recursive"],
        ));
    }
    errs
}

fn validate_seccomp_profile(sp: Option<&SeccompProfile>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sp) = sp else { return errs };
    match sp.type_.as_str() {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(&path.child("type"), "type is required when seccompProfile is set")),
        other => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    if sp.type_ == "Localhost" {
        match &sp.localhost_profile {
            None => errs.push(FieldError::required(
                &path.child("localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => errs.extend(validate_local_descending_path(p, &path.child("localhostProfile"))),
        }
    } else if sp.localhost_profile.is_some() {
        errs.push(FieldError::invalid(
            &path.child("localhostProfile"),
            to_json(sp),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

fn validate_app_armor_profile(p: Option<&AppArmorProfile>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(p) = p else { return errs };
    match p.type_.as_str() {
        "Localhost" => match &p.localhost_profile {
            None => errs.push(FieldError::required(
                &path.child("localhostProfile"),
                "must be set when AppArmor type is Localhost",
            )),
            Some(lp) => {
                if lp.trim() != lp {
                    errs.push(FieldError::invalid(
                        &path.child("localhostProfile"),
                        lp.as_str(),
                        "must not be padded with whitespace",
                    ));
                } else if lp.is_empty() {
                    errs.push(FieldError::required(
                        &path.child("localhostProfile"),
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if lp.len() > 4095 {
                    errs.push(FieldError::too_long(&path.child("localhostProfile"), 4095));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(lp) = &p.localhost_profile {
                errs.push(FieldError::invalid(
                    &path.child("localhostProfile"),
                    lp.as_str(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(&path.child("type"), "type is required when appArmorProfile is set")),
        other => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    errs
}

/// The namespace a sysctl belongs to (kubelet's `NamespacedBy`): `ipc`,
/// `net`, or None for sysctls of the whole host. `/` separators count as `.`.
pub fn sysctl_namespace(name: &str) -> Option<&'static str> {
    let name = name.replace('/', ".");
    let ipc = ["kernel.shm", "kernel.msg", "fs.mqueue."].iter().any(|p| name.starts_with(p)) || name == "kernel.sem";
    if ipc {
        Some("ipc")
    } else if name.starts_with("net.") {
        Some("net")
    } else {
        None
    }
}
