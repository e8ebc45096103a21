//! Volume mount and device checks (`ValidateVolumeMounts`,
//! `ValidateVolumeDevices`): every mount names a valid volume, mount paths
//! are unique, subPaths stay inside the volume.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, VolumeDevice, VolumeMount};

use super::container::PodContext;
use super::or_empty as s;
use super::paths::validate_local_descending_path;
use crate::field::{FieldError, Path};

pub(super) fn validate_volume_mounts(
    mounts: &[VolumeMount],
    devices: &[VolumeDevice],
    ctx: &PodContext<'_>,
    c: &Container,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let idx = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        }
        let volume = ctx.volumes.get(m.name.as_str());
        if volume.is_none() {
            errs.push(FieldError::not_found(&idx.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&idx.child("mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(&idx.child("mountPath"), m.mount_path.as_str(), "must be unique"));
        }
        if devices.iter().any(|d| d.name == m.name) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                m.name.as_str(),
                "must not already exist in volumeDevices",
            ));
        }
        if devices.iter().any(|d| d.device_path == m.mount_path) {
            errs.push(FieldError::invalid(
                &idx.child("mountPath"),
                m.mount_path.as_str(),
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = s(&m.sub_path);
        let sub_path_expr = s(&m.sub_path_expr);
        if volume.is_some_and(|v| v.image.is_some()) {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(&idx.child("subPath"), sub_path, "not allowed in image volume sources"));
            }
            if !sub_path_expr.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPathExpr"),
                    sub_path_expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        if !sub_path.is_empty() {
            errs.extend(validate_local_descending_path(sub_path, &path.child("subPath")));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &idx.child("subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(sub_path_expr, &path.child("subPathExpr")));
        }
        if let Some(mp) = &m.mount_propagation {
            let p = path.child("mountPropagation");
            let supported = ["Bidirectional", "HostToContainer", "None"];
            if !supported.contains(&mp.as_str()) {
                errs.push(FieldError::not_supported(&p, mp.as_str(), &supported));
            }
            let privileged = c.security_context.as_ref().and_then(|sc| sc.privileged).unwrap_or(false);
            if mp == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &p,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = &m.recursive_read_only {
            let p = path.child("recursiveReadOnly");
            match rro.as_str() {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if !m.read_only.unwrap_or(false) {
                        errs.push(FieldError::forbidden(&p, "may only be specified when readOnly is true"));
                    }
                    if m.mount_propagation.as_deref().is_some_and(|v| v != "None") {
                        errs.push(FieldError::forbidden(
                            &p,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(&p, other, &["Disabled", "Enabled", "IfPossible"])),
            }
        }
    }
    errs
}

pub(super) fn validate_volume_devices(
    devices: &[VolumeDevice],
    mounts: &[VolumeMount],
    ctx: &PodContext<'_>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut paths = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, d) in devices.iter().enumerate() {
        let idx = path.index(i);
        let volume = ctx.volumes.get(d.name.as_str());
        let is_pvc = volume.is_some_and(|v| v.persistent_volume_claim.is_some() || v.ephemeral.is_some());
        if d.name.is_empty() {
            errs.push(FieldError::required(&idx.child("name"), ""));
        }
        if names.contains(d.name.as_str()) {
            errs.push(FieldError::invalid(&idx.child("name"), d.name.as_str(), "must be unique"));
        }
        if volume.is_some() && !is_pvc {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                d.name.as_str(),
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            ));
        }
        if volume.is_none() {
            errs.push(FieldError::not_found(&idx.child("name"), d.name.as_str()));
        }
        if d.device_path.is_empty() {
            errs.push(FieldError::required(&idx.child("devicePath"), ""));
        }
        if paths.contains(d.device_path.as_str()) {
            errs.push(FieldError::invalid(&idx.child("devicePath"), d.device_path.as_str(), "must be unique"));
        }
        if !d.device_path.is_empty() && d.device_path.split('/').any(|e| e == "..") {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                d.device_path.as_str(),
                "can not contain backsteps ('..')",
            ));
        } else {
            paths.insert(d.device_path.as_str());
        }
        if mounts.iter().any(|m| m.name == d.name) {
            errs.push(FieldError::invalid(
                &idx.child("name"),
                d.name.as_str(),
                "must not already exist in volumeMounts",
            ));
        }
        if mounts.iter().any(|m| m.mount_path == d.device_path) {
            errs.push(FieldError::invalid(
                &idx.child("devicePath"),
                d.device_path.as_str(),
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !d.name.is_empty() {
            names.insert(d.name.as_str());
        }
    }
    errs
}
