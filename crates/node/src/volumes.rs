//! Pod volumes, kubelet's layout: `<pods_root>/<uid>/volumes/<plugin>/<name>`.
//! emptyDir (disk, or tmpfs for `medium: Memory`), hostPath with its type
//! checks, and configMap/secret/downwardAPI/projected written by an atomic
//! writer: files live in a timestamped `..<ts>` directory, `..data` points at
//! it and is swapped with one rename, so a running pod sees updates
//! all at once (never a half-written set).
//!
//! `fsGroup` (kubelet's SetVolumeOwnership): emptyDir, configMap, secret,
//! downwardAPI and projected volumes are group-owned by it; files get group
//! read (and write, for emptyDir), directories the setgid bit so files the
//! containers create inherit the group. hostPath volumes are left alone.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, Volume};
use peapod_runtime::MountSpec;
use peapod_store::{ObjKey, Store};

use crate::env::{EnvContext, field_ref, resource_field_ref};
use crate::status::Waiting;

/// A volume that could not be set up (`FailedMount` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountError {
    pub volume: String,
    pub message: String,
}

impl MountError {
    fn new(volume: &str, message: impl Into<String>) -> Self {
        MountError { volume: volume.to_owned(), message: message.into() }
    }
}

fn plugin_dir(pod_dir: &Path, plugin: &str, name: &str) -> PathBuf {
    pod_dir.join("volumes").join(plugin).join(name)
}

/// Set up (or refresh) every volume of the pod; returns host paths by volume name.
pub fn setup(pod: &Pod, pod_dir: &Path, ctx: &EnvContext<'_>) -> Result<HashMap<String, PathBuf>, MountError> {
    let mut out = HashMap::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let path = setup_one(pod, v, pod_dir, ctx)?;
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

/// The pod's fsGroup, if it sets one.
pub fn fs_group(pod: &Pod) -> Option<u32> {
    pod.spec.as_ref()?.security_context.as_ref()?.fs_group.and_then(|g| u32::try_from(g).ok())
}

/// Give `path` to group `gid`: group read (and write unless `readonly`)
/// for files, plus setgid and search for directories (kubelet's
/// changeFilePermission). Symlinks are left alone.
pub fn set_group_ownership(path: &Path, gid: u32, readonly: bool) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, None, Some(gid))?;
    let mut mask = if readonly { 0o440 } else { 0o660 };
    if meta.is_dir() {
        mask |= 0o2000 | 0o110;
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode | mask != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | mask))?;
    }
    Ok(())
}

fn setup_one(pod: &Pod, v: &Volume, pod_dir: &Path, ctx: &EnvContext<'_>) -> Result<PathBuf, MountError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let io_err = |e: io::Error| MountError::new(&v.name, e.to_string());
    let group = fs_group(pod);
    if let Some(ed) = &v.empty_dir {
        let dir = plugin_dir(pod_dir, "kubernetes.io~empty-dir", &v.name);
        // Set up once: later syncs must not undo what the containers did to it.
        let memory = ed.medium.as_deref() == Some("Memory");
        if dir.exists() && (!memory || peapod_runtime::mounts::is_mounted(&dir)) {
            return Ok(dir);
        }
        std::fs::create_dir_all(&dir).map_err(io_err)?;
        if memory && !peapod_runtime::mounts::is_mounted(&dir) {
            let mut opts = String::from("mode=0777");
            if let Some(limit) = ed.size_limit.as_ref().and_then(|q| peapod_api::quantity::Quantity::parse(&q.0).ok()) {
                opts.push_str(&format!(",size={}", limit.value()));
            }
            peapod_runtime::mounts::mount_tmpfs(&dir, &opts).map_err(io_err)?;
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(io_err)?;
        if let Some(gid) = group {
            set_group_ownership(&dir, gid, false).map_err(io_err)?;
        }
        return Ok(dir);
    }
    if let Some(hp) = &v.host_path {
        let p = PathBuf::from(&hp.path);
        check_host_path(&p, hp.type_.as_deref().unwrap_or("")).map_err(|m| MountError::new(&v.name, m))?;
        return Ok(p);
    }
    if let Some(cm) = &v.config_map {
        let dir = plugin_dir(pod_dir, "kubernetes.io~configmap", &v.name);
        let optional = cm.optional.unwrap_or(false);
        let files = match get::<ConfigMap>(ctx.store, "configmaps", ns, &cm.name) {
            Some(obj) => {
                let mut data: BTreeMap<String, Vec<u8>> =
                    obj.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                for (k, b) in obj.binary_data.unwrap_or_default() {
                    data.insert(k, b.0);
                }
                project(&v.name, &data, cm.items.as_deref(), cm.default_mode.unwrap_or(0o644), optional, "ConfigMap")?
            }
            None if optional => BTreeMap::new(),
            None => return Err(MountError::new(&v.name, format!("configmap \"{}\" not found", cm.name))),
        };
        write_atomic(&dir, &files, false, group).map_err(io_err)?;
        return Ok(dir);
    }
    if let Some(sv) = &v.secret {
        let dir = plugin_dir(pod_dir, "kubernetes.io~secret", &v.name);
        let name = sv.secret_name.clone().unwrap_or_default();
        let optional = sv.optional.unwrap_or(false);
        let files = match get::<Secret>(ctx.store, "secrets", ns, &name) {
            Some(obj) => {
                let data: BTreeMap<String, Vec<u8>> =
                    obj.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
                project(&v.name, &data, sv.items.as_deref(), sv.default_mode.unwrap_or(0o644), optional, "Secret")?
            }
            None if optional => BTreeMap::new(),
            None => return Err(MountError::new(&v.name, format!("secret \"{name}\" not found"))),
        };
        // Secrets never touch the disk: a tmpfs per volume, as kubelet does.
        write_atomic(&dir, &files, true, group).map_err(io_err)?;
        return Ok(dir);
    }
    if let Some(da) = &v.downward_api {
        let dir = plugin_dir(pod_dir, "kubernetes.io~downward-api", &v.name);
        let files = downward(pod, &v.name, da.items.as_deref().unwrap_or(&[]), da.default_mode.unwrap_or(0o644), ctx)?;
        write_atomic(&dir, &files, false, group).map_err(io_err)?;
        return Ok(dir);
    }
    if let Some(pr) = &v.projected {
        let dir = plugin_dir(pod_dir, "kubernetes.io~projected", &v.name);
        let mode = pr.default_mode.unwrap_or(0o644);
        let mut files = BTreeMap::new();
        for src in pr.sources.iter().flatten() {
            if let Some(cm) = &src.config_map {
                let optional = cm.optional.unwrap_or(false);
                match get::<ConfigMap>(ctx.store, "configmaps", ns, &cm.name) {
                    Some(obj) => {
                        let data: BTreeMap<String, Vec<u8>> =
                            obj.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                        files.extend(project(&v.name, &data, cm.items.as_deref(), mode, optional, "ConfigMap")?);
                    }
                    None if optional => {}
                    None => return Err(MountError::new(&v.name, format!("configmap \"{}\" not found", cm.name))),
                }
            }
            if let Some(s) = &src.secret {
                let optional = s.optional.unwrap_or(false);
                match get::<Secret>(ctx.store, "secrets", ns, &s.name) {
                    Some(obj) => {
                        let data: BTreeMap<String, Vec<u8>> =
                            obj.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
                        files.extend(project(&v.name, &data, s.items.as_deref(), mode, optional, "Secret")?);
                    }
                    None if optional => {}
                    None => return Err(MountError::new(&v.name, format!("secret \"{}\" not found", s.name))),
                }
            }
            if let Some(d) = &src.downward_api {
                files.extend(downward(pod, &v.name, d.items.as_deref().unwrap_or(&[]), mode, ctx)?);
            }
        }
        write_atomic(&dir, &files, false, group).map_err(io_err)?;
        return Ok(dir);
    }
    Err(MountError::new(&v.name, "volume type is not supported by this node"))
}

fn get<T: serde::de::DeserializeOwned>(store: &Store, res: &str, ns: &str, name: &str) -> Option<T> {
    let v = store.get(&ObjKey::new(res, ns, name))?;
    serde_json::from_value(v.as_ref().clone()).ok()
}

/// A relative path that stays inside its volume (no `..`, not absolute).
pub fn safe_relative(p: &str) -> bool {
    !p.is_empty() && Path::new(p).components().all(|c| matches!(c, Component::Normal(_)))
}

/// Keys (or the listed items) as files with their modes.
fn project(
    volume: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    optional: bool,
    kind: &str,
) -> Result<BTreeMap<String, (Vec<u8>, u32)>, MountError> {
    let mut out = BTreeMap::new();
    match items {
        None => {
            for (k, v) in data {
                out.insert(k.clone(), (v.clone(), default_mode as u32));
            }
        }
        Some(items) => {
            for it in items {
                if !safe_relative(&it.path) {
                    return Err(MountError::new(
                        volume,
                        format!("invalid path {:?}: must be relative and may not contain '..'", it.path),
                    ));
                }
                match data.get(&it.key) {
                    Some(v) => {
                        out.insert(it.path.clone(), (v.clone(), it.mode.unwrap_or(default_mode) as u32));
                    }
                    None if optional => {}
                    None => {
                        return Err(MountError::new(
                            volume,
                            format!("configuration of {kind} is invalid: key {} not found", it.key),
                        ));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn downward(
    pod: &Pod,
    volume: &str,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
    ctx: &EnvContext<'_>,
) -> Result<BTreeMap<String, (Vec<u8>, u32)>, MountError> {
    let mut out = BTreeMap::new();
    for it in items {
        if !safe_relative(&it.path) {
            return Err(MountError::new(volume, format!("invalid path {:?}", it.path)));
        }
        let value = if let Some(f) = &it.field_ref {
            field_ref(pod, &f.field_path, ctx).map_err(|m| MountError::new(volume, m))?
        } else if let Some(r) = &it.resource_field_ref {
            let c = r.container_name.clone().unwrap_or_default();
            resource_field_ref(pod, &c, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()), ctx)
                .map_err(|m| MountError::new(volume, m))?
        } else {
            String::new()
        };
        out.insert(it.path.clone(), (value.into_bytes(), it.mode.unwrap_or(default_mode) as u32));
    }
    Ok(out)
}

/// kubelet's AtomicWriter: write `files` into a new `..<ts>` directory,
/// swap `..data` to it with one rename, link each top-level name through
/// `..data`, and remove what is no longer part of the payload. With an
/// fsGroup, everything written belongs to it (group-readable, setgid dirs).
pub fn write_atomic(
    dir: &Path,
    files: &BTreeMap<String, (Vec<u8>, u32)>,
    tmpfs: bool,
    group: Option<u32>,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if tmpfs && !peapod_runtime::mounts::is_mounted(dir) {
        peapod_runtime::mounts::mount_tmpfs(dir, "mode=0755")?;
    }
    // The modes as they will end up, so an unchanged payload is recognised.
    let owned;
    let files = match group {
        Some(_) => {
            owned = files.iter().map(|(k, (c, m))| (k.clone(), (c.clone(), m | 0o440))).collect();
            &owned
        }
        None => files,
    };
    if let Some(gid) = group {
        set_group_ownership(dir, gid, true)?;
    }
    let data_link = dir.join("..data");
    if let Ok(cur) = std::fs::read_link(&data_link)
        && same_payload(&dir.join(&cur), files)
    {
        return Ok(());
    }
    let ts = format!("..{}", jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S.%f"));
    let new_dir = dir.join(&ts);
    std::fs::create_dir_all(&new_dir)?;
    for (rel, (content, mode)) in files {
        let p = new_dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, content)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode & 0o7777))?;
        if let Some(gid) = group {
            std::os::unix::fs::lchown(&p, None, Some(gid))?;
        }
    }
    if let Some(gid) = group {
        // The payload's directories (files are done above).
        let mut dirs = vec![new_dir.clone()];
        while let Some(d) = dirs.pop() {
            set_group_ownership(&d, gid, true)?;
            for e in std::fs::read_dir(&d)?.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    dirs.push(e.path());
                }
            }
        }
    }
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    symlink(&ts, &tmp_link)?;
    // The swap: readers see the old set or the new one, never a mix.
    std::fs::rename(&tmp_link, &data_link)?;
    let top: std::collections::BTreeSet<String> =
        files.keys().map(|k| k.split('/').next().unwrap_or(k).to_owned()).collect();
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(name), &link)?;
        }
    }
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "..data" || name == ts {
            continue;
        }
        if name.starts_with("..") {
            let _ = std::fs::remove_dir_all(e.path());
        } else if !top.contains(&name) && e.file_type().map(|t| t.is_symlink()).unwrap_or(false) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

fn same_payload(dir: &Path, files: &BTreeMap<String, (Vec<u8>, u32)>) -> bool {
    let mut count = 0;
    fn walk(d: &Path, n: &mut usize) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(&e.path(), n);
                } else {
                    *n += 1;
                }
            }
        }
    }
    walk(dir, &mut count);
    count == files.len()
        && files.iter().all(|(rel, (content, mode))| {
            let p = dir.join(rel);
            std::fs::read(&p).map(|c| &c == content).unwrap_or(false)
                && std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o7777 == *mode & 0o7777).unwrap_or(false)
        })
}

fn check_host_path(p: &Path, kind: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(p);
    let fail = |what: &str| Err(format!("hostPath type check failed: {} is not a {what}", p.display()));
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => fail("directory"),
            Err(_) => {
                std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())
            }
        },
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => fail("directory"),
            Err(_) => Err(format!("hostPath type check failed: {} is not a directory", p.display())),
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => fail("file"),
            Err(_) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(p)
                    .map_err(|e| e.to_string())?;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())
            }
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => fail("file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => fail("socket"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => fail("character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => fail("block device"),
        },
        other => Err(format!("invalid hostPath type {other:?}")),
    }
}

/// The container's bind mounts from its volumeMounts.
pub fn container_mounts(
    c: &Container,
    vols: &HashMap<String, PathBuf>,
    env: &BTreeMap<String, String>,
) -> Result<Vec<MountSpec>, Waiting> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let base = vols.get(&m.name).ok_or_else(|| Waiting {
            reason: "CreateContainerConfigError".into(),
            message: format!("cannot find volume \"{}\" to mount into container \"{}\"", m.name, c.name),
        })?;
        let sub = match (&m.sub_path, &m.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(e)) if !e.is_empty() => Some(peapod_api::expand::expand(e, |n| env.get(n).cloned())),
            _ => None,
        };
        let host_path = match sub {
            Some(s) => {
                subpath(base, &s).map_err(|message| Waiting { reason: "CreateContainerConfigError".into(), message })?
            }
            None => base.clone(),
        };
        let propagation = match m.mount_propagation.as_deref() {
            Some("HostToContainer") => "rslave",
            Some("Bidirectional") => "rshared",
            _ => "rprivate",
        };
        out.push(MountSpec {
            container_path: m.mount_path.clone(),
            host_path,
            readonly: m.read_only.unwrap_or(false),
            propagation: propagation.into(),
        });
    }
    Ok(out)
}

/// Resolve a subPath inside `base`, refusing anything that ends up outside
/// it (`..`, or a symlink planted by a container: CVE-2017-1002101).
pub fn subpath(base: &Path, sub: &str) -> Result<PathBuf, String> {
    if !safe_relative(sub) {
        return Err(format!("subPath {sub:?} must be a relative path without '..'"));
    }
    let full = base.join(sub);
    if std::fs::symlink_metadata(&full).is_err() {
        std::fs::create_dir_all(&full).map_err(|e| format!("creating subPath {sub:?}: {e}"))?;
    }
    let real_base = std::fs::canonicalize(base).map_err(|e| e.to_string())?;
    let real = std::fs::canonicalize(&full).map_err(|e| e.to_string())?;
    if !real.starts_with(&real_base) {
        return Err(format!("subPath {sub:?} resolves outside of volume {}", base.display()));
    }
    Ok(real)
}

/// Tear down the pod's volumes: unmount tmpfs volumes, remove the pod dir.
pub fn teardown(pod_dir: &Path) -> io::Result<()> {
    for m in peapod_runtime::mounts::mounts_under(pod_dir) {
        peapod_runtime::mounts::unmount(&m)?;
    }
    match std::fs::remove_dir_all(pod_dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writer_swaps_and_cleans() {
        let d = tempfile::tempdir().unwrap();
        let mut files =
            BTreeMap::from([("a".to_string(), (b"1".to_vec(), 0o644)), ("sub/b".to_string(), (b"2".to_vec(), 0o600))]);
        write_atomic(d.path(), &files, false, None).unwrap();
        assert_eq!(std::fs::read(d.path().join("a")).unwrap(), b"1");
        assert_eq!(std::fs::read(d.path().join("sub/b")).unwrap(), b"2");
        let first = std::fs::read_link(d.path().join("..data")).unwrap();
        // Same payload: no new directory.
        write_atomic(d.path(), &files, false, None).unwrap();
        assert_eq!(std::fs::read_link(d.path().join("..data")).unwrap(), first);
        files.insert("a".into(), (b"changed".to_vec(), 0o644));
        files.remove("sub/b");
        write_atomic(d.path(), &files, false, None).unwrap();
        assert_eq!(std::fs::read(d.path().join("a")).unwrap(), b"changed");
        assert!(std::fs::symlink_metadata(d.path().join("sub")).is_err(), "stale link removed");
        assert!(!d.path().join(&first).exists(), "old payload removed");
    }

    #[test]
    fn fs_group_owns_what_is_written() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let files = BTreeMap::from([("sub/k".to_string(), (b"v".to_vec(), 0o600))]);
        write_atomic(d.path(), &files, false, Some(2345)).unwrap();
        let f = std::fs::metadata(d.path().join("sub/k")).unwrap();
        assert_eq!((f.gid(), f.mode() & 0o7777), (2345, 0o640), "group-readable, owned by the fsGroup");
        let sub = std::fs::metadata(d.path().join("..data/sub")).unwrap();
        assert_eq!(sub.gid(), 2345);
        assert_ne!(sub.mode() & 0o2000, 0, "setgid directory");
        let first = std::fs::read_link(d.path().join("..data")).unwrap();
        write_atomic(d.path(), &files, false, Some(2345)).unwrap();
        assert_eq!(std::fs::read_link(d.path().join("..data")).unwrap(), first, "unchanged payload not rewritten");

        // A read-write volume root (emptyDir).
        let e = d.path().join("empty");
        std::fs::create_dir(&e).unwrap();
        std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o777)).unwrap();
        set_group_ownership(&e, 2345, false).unwrap();
        let m = std::fs::metadata(&e).unwrap();
        assert_eq!((m.gid(), m.mode() & 0o7777), (2345, 0o2777));
    }

    #[test]
    fn items_must_stay_inside() {
        let data = BTreeMap::from([("k".to_string(), b"v".to_vec())]);
        let bad = [KeyToPath { key: "k".into(), path: "../escape".into(), mode: None }];
        assert!(project("v", &data, Some(&bad), 0o644, false, "ConfigMap").is_err());
        let abs = [KeyToPath { key: "k".into(), path: "/etc/x".into(), mode: None }];
        assert!(project("v", &data, Some(&abs), 0o644, false, "ConfigMap").is_err());
        let missing = [KeyToPath { key: "zz".into(), path: "x".into(), mode: None }];
        assert!(project("v", &data, Some(&missing), 0o644, false, "ConfigMap").is_err());
        assert!(project("v", &data, Some(&missing), 0o644, true, "ConfigMap").unwrap().is_empty());
    }

    #[test]
    fn subpath_symlink_escape_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), base.path().join("evil")).unwrap();
        assert!(subpath(base.path(), "evil").is_err());
        assert!(subpath(base.path(), "../x").is_err());
        assert!(subpath(base.path(), "ok/dir").unwrap().starts_with(std::fs::canonicalize(base.path()).unwrap()));
    }

    #[test]
    fn host_path_types() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("new");
        assert!(check_host_path(&p, "Directory").is_err());
        check_host_path(&p, "DirectoryOrCreate").unwrap();
        assert!(p.is_dir());
        assert!(check_host_path(&p, "File").is_err());
        let f = d.path().join("f");
        check_host_path(&f, "FileOrCreate").unwrap();
        check_host_path(&f, "File").unwrap();
        assert!(check_host_path(&f, "Socket").is_err());
    }
}
