//! Pod volume checks (`ValidateVolumes`, `validateVolumeSource`): unique
//! DNS-label names, exactly one source, and the source-specific rules for
//! the sources a node can actually serve (emptyDir, hostPath, configMap,
//! secret, downwardAPI, projected, persistentVolumeClaim, nfs, image).
//! Other sources are counted for the one-source rule but not inspected.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Volume};

use super::container::{
    VOLUME_FIELD_PATHS, validate_object_field_selector, validate_pull_policy, validate_resource_field_selector,
};
use super::names::{is_dns1123_label, push_invalid};
use super::paths::{validate_local_non_reserved_path, validate_path_no_backsteps};
use crate::field::{FieldError, Path};
use crate::quantity::Quantity;

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Validates `spec.volumes`; returns the errors and the volumes that are
/// valid, by name (mounts may only refer to those, as in Go).
pub(super) fn validate_volumes<'a>(
    volumes: &'a [Volume],
    pod_name: &str,
    path: &Path,
) -> (BTreeMap<&'a str, &'a Volume>, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut valid = BTreeMap::new();
    let created_pvcs: BTreeSet<String> = if pod_name.is_empty() {
        BTreeSet::new()
    } else {
        volumes.iter().filter(|v| v.ephemeral.is_some()).map(|v| format!("{pod_name}-{}", v.name)).collect()
    };
    for (i, vol) in volumes.iter().enumerate() {
        let idx = path.index(i);
        let name_path = idx.child("name");
        let mut el = validate_volume_source(vol, &idx);
        if vol.name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            push_invalid(&mut el, &name_path, &vol.name, is_dns1123_label(&vol.name));
        }
        if valid.contains_key(vol.name.as_str()) {
            el.push(FieldError::duplicate(&name_path, vol.name.as_str()));
        }
        if el.is_empty() {
            valid.insert(vol.name.as_str(), vol);
        } else {
            errs.extend(el);
        }
        if let Some(pvc) = &vol.persistent_volume_claim
            && created_pvcs.contains(&pvc.claim_name)
        {
            errs.push(FieldError::invalid(
                &idx.child("persistentVolumeClaim").child("claimName"),
                pvc.claim_name.as_str(),
                "must not reference a PVC that gets created for an ephemeral volume",
            ));
        }
    }
    (valid, errs)
}

fn check_mode(errs: &mut Vec<FieldError>, mode: Option<i32>, path: &Path) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid(path, m, FILE_MODE_ERROR));
    }
}

fn validate_key_to_path(kp: &KeyToPath, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if kp.key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    }
    if kp.path.is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(&kp.path, &path.child("path")));
    check_mode(&mut errs, kp.mode, &path.child("mode"));
    errs
}

fn validate_downward_api_file(f: &DownwardAPIVolumeFile, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if f.path.is_empty() {
        errs.push(FieldError::required(&path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(&f.path, &path.child("path")));
    match (&f.field_ref, &f.resource_field_ref) {
        (Some(fr), rfr) => {
            errs.extend(validate_object_field_selector(fr, &VOLUME_FIELD_PATHS, &path.child("fieldRef")));
            if rfr.is_some() {
                errs.push(FieldError::invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(rfr)) => errs.extend(validate_resource_field_selector(rfr, true, &path.child("resourceFieldRef"))),
        (None, None) => errs.push(FieldError::required(path, "one of fieldRef and resourceFieldRef is required")),
    }
    check_mode(&mut errs, f.mode, &path.child("mode"));
    errs
}

/// Exactly one source, each checked; mirrors Go's order and its field
/// names in the "more than 1" errors (including the `downwarAPI` typo).
fn validate_volume_source(v: &Volume, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let present: &[(&str, bool)] = &[
        ("emptyDir", v.empty_dir.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("secret", v.secret.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("rbd", v.rbd.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephFS", v.cephfs.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("downwarAPI", v.downward_api.is_some()),
        ("fc", v.fc.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("configMap", v.config_map.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("storageos", v.storageos.is_some()),
        ("projected", v.projected.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
    ];
    let mut n = 0;
    let mut first = "";
    for &(name, set) in present {
        if !set {
            continue;
        }
        if n > 0 {
            errs.push(FieldError::forbidden(&path.child(name), "may not specify more than 1 volume type"));
        } else {
            first = name;
        }
        n += 1;
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
        return errs;
    }
    match first {
        "emptyDir" => {
            let limit = v.empty_dir.as_ref().and_then(|e| e.size_limit.as_ref());
            if let Some(q) = limit
                && Quantity::parse(&q.0).map(|q| q.is_negative()).unwrap_or(true)
            {
                errs.push(FieldError::forbidden(
                    &path.child("emptyDir").child("sizeLimit"),
                    "SizeLimit field must be a valid resource quantity",
                ));
            }
        }
        "hostPath" => {
            let hp = v.host_path.as_ref().expect("present");
            let p = path.child("hostPath");
            if hp.path.is_empty() {
                errs.push(FieldError::required(&p.child("path"), ""));
            } else {
                errs.extend(validate_path_no_backsteps(&hp.path, &p.child("path")));
                let supported = [
                    "",
                    "BlockDevice",
                    "CharDevice",
                    "Directory",
                    "DirectoryOrCreate",
                    "File",
                    "FileOrCreate",
                    "Socket",
                ];
                if let Some(t) = &hp.type_
                    && !supported.contains(&t.as_str())
                {
                    errs.push(FieldError::not_supported(&p.child("type"), t.as_str(), &supported));
                }
            }
        }
        "secret" => {
            let sv = v.secret.as_ref().expect("present");
            let p = path.child("secret");
            if sv.secret_name.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::required(&p.child("secretName"), ""));
            }
            check_mode(&mut errs, sv.default_mode, &p.child("defaultMode"));
            for (i, kp) in sv.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &p.child("items").index(i)));
            }
        }
        "configMap" => {
            let cm = v.config_map.as_ref().expect("present");
            let p = path.child("configMap");
            if cm.name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            }
            check_mode(&mut errs, cm.default_mode, &p.child("defaultMode"));
            for (i, kp) in cm.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &p.child("items").index(i)));
            }
        }
        "downwarAPI" => {
            let d = v.downward_api.as_ref().expect("present");
            let p = path.child("downwardAPI");
            check_mode(&mut errs, d.default_mode, &p.child("defaultMode"));
            for f in d.items.iter().flatten() {
                errs.extend(validate_downward_api_file(f, &p));
            }
        }
        "projected" => {
            let pr = v.projected.as_ref().expect("present");
            let p = path.child("projected");
            check_mode(&mut errs, pr.default_mode, &p.child("defaultMode"));
            errs.extend(validate_projection_sources(pr, &p));
        }
        "persistentVolumeClaim" => {
            let pvc = v.persistent_volume_claim.as_ref().expect("present");
            if pvc.claim_name.is_empty() {
                errs.push(FieldError::required(&path.child("persistentVolumeClaim").child("claimName"), ""));
            }
        }
        "nfs" => {
            let nfs = v.nfs.as_ref().expect("present");
            let p = path.child("nfs");
            if nfs.server.is_empty() {
                errs.push(FieldError::required(&p.child("server"), ""));
            }
            if nfs.path.is_empty() {
                errs.push(FieldError::required(&p.child("path"), ""));
            }
            if !nfs.path.starts_with('/') {
                errs.push(FieldError::invalid(&p.child("path"), nfs.path.as_str(), "must be an absolute path"));
            }
        }
        "image" => {
            let img = v.image.as_ref().expect("present");
            let p = path.child("image");
            let reference = img.reference.as_deref().unwrap_or("");
            if reference.is_empty() {
                errs.push(FieldError::required(&p.child("reference"), ""));
            }
            if reference.trim() != reference {
                errs.push(FieldError::invalid(
                    &p.child("reference"),
                    reference,
                    "must not have leading or trailing whitespace",
                ));
            }
            errs.extend(validate_pull_policy(img.pull_policy.as_deref().unwrap_or(""), &p.child("pullPolicy")));
        }
        _ => {}
    }
    errs
}

fn validate_projection_sources(pr: &k8s_openapi::api::core::v1::ProjectedVolumeSource, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut all_paths: BTreeSet<String> = BTreeSet::new();
    let mut note_path = |errs: &mut Vec<FieldError>, p: &str, value: &str| {
        if !p.is_empty() && !all_paths.insert(p.to_string()) {
            errs.push(FieldError::invalid(path, value, "conflicting duplicate paths"));
        }
    };
    for (i, src) in pr.sources.iter().flatten().enumerate() {
        let sp = path.child("sources").index(i);
        let mut n = 0;
        if let Some(sec) = &src.secret {
            n += 1;
            let p = sp.child("secret");
            if sec.name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            }
            for (j, kp) in sec.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &p.child("items").index(j)));
                note_path(&mut errs, &kp.path, &sec.name);
            }
        }
        if let Some(cm) = &src.config_map {
            n += 1;
            let p = sp.child("configMap");
            if cm.name.is_empty() {
                errs.push(FieldError::required(&p.child("name"), ""));
            }
            for (j, kp) in cm.items.iter().flatten().enumerate() {
                errs.extend(validate_key_to_path(kp, &p.child("items").index(j)));
                note_path(&mut errs, &kp.path, &cm.name);
            }
        }
        if let Some(d) = &src.downward_api {
            n += 1;
            let p = sp.child("downwardAPI");
            for f in d.items.iter().flatten() {
                errs.extend(validate_downward_api_file(f, &p));
                note_path(&mut errs, &f.path, &f.path);
            }
        }
        if let Some(t) = &src.service_account_token {
            n += 1;
            let p = sp.child("serviceAccountToken");
            let exp = t.expiration_seconds.unwrap_or(0);
            if exp < 600 {
                errs.push(FieldError::invalid(
                    &p.child("expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(FieldError::invalid(
                    &p.child("expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if t.path.is_empty() {
                errs.push(FieldError::required(&path.child("path"), ""));
            } else {
                errs.extend(validate_local_non_reserved_path(&t.path, &path.child("path")));
            }
        }
        n += usize::from(src.cluster_trust_bundle.is_some()) + usize::from(src.pod_certificate.is_some());
        if n > 1 {
            errs.push(FieldError::forbidden(&sp, "may not specify more than 1 volume type per source"));
        }
    }
    errs
}
