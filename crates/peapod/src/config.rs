//! The daemon's configuration file (YAML, default /etc/peapod/config.yaml,
//! k3s-style: one key per `peapod serve` flag, in camelCase). A flag given
//! on the command line wins over the file, the file over the built-in
//! default; an unknown key is an error that names it.
//! `peapod serve --print-config` shows the effective result.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};

use crate::serve::ServeArgs;

/// Every setting of `peapod serve`, each optional (None = not set here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig_out: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_unsafe_sysctls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pods: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_root: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runc: Option<PathBuf>,
    /// Runtime handlers besides `runc`: RuntimeClass handler → OCI runtime binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_handlers: Option<BTreeMap<String, PathBuf>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cni_conf_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cni_plugin_dirs: Option<Vec<PathBuf>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(rename = "noCNI", skip_serializing_if = "Option::is_none")]
    pub no_cni: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registries_config: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_dir: Option<PathBuf>,
    #[serde(rename = "imageGCHighThreshold", skip_serializing_if = "Option::is_none")]
    pub image_gc_high_threshold: Option<String>,
    #[serde(rename = "imageGCLowThreshold", skip_serializing_if = "Option::is_none")]
    pub image_gc_low_threshold: Option<String>,
    #[serde(rename = "imageGCMinAge", skip_serializing_if = "Option::is_none")]
    pub image_gc_min_age: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_frequency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_pods_on_exit: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_log_max_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_log_max_files: Option<u32>,
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl FileConfig {
    /// Parse YAML text; unknown keys are errors naming the key.
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().replace("unknown field", "unknown key").replace("expected one of", "valid keys:"),
        })
    }

    /// Load `path`; a missing file is an empty configuration unless `required`.
    pub fn load(path: &Path, required: bool) -> Result<FileConfig, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(t) => FileConfig::parse(&t, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(FileConfig::default()),
            Err(e) => Err(ConfigError::Read { path: path.to_path_buf(), source: e }),
        }
    }

    /// Every setting of `a`, for --print-config.
    pub fn from_args(a: &ServeArgs) -> FileConfig {
        FileConfig {
            listen: Some(a.listen),
            data_dir: Some(a.data_dir.clone()),
            state_dir: Some(a.state_dir.clone()),
            kubeconfig_out: Some(a.kubeconfig_out.clone()),
            node_name: a.node_name.clone(),
            node_labels: Some(a.node_labels().into_iter().collect()),
            allowed_unsafe_sysctls: Some(a.allowed_unsafe_sysctls.clone()),
            max_pods: Some(a.max_pods),
            cgroup_root: Some(a.cgroup_root.clone()),
            runc: Some(a.runc.clone()),
            runtime_handlers: Some(a.runtime_handlers()),
            cni_conf_dir: Some(a.cni_conf_dir.clone()),
            cni_plugin_dirs: Some(a.cni_plugin_dir.clone()),
            bridge: Some(a.bridge.clone()),
            pod_cidr: Some(a.pod_cidr.clone()),
            no_cni: Some(a.no_cni),
            pids_limit: Some(a.pids_limit),
            registries_config: a.registries_config.clone(),
            manifest_dir: a.manifest_dir.clone(),
            image_gc_high_threshold: Some(threshold_text(a.image_gc_high_threshold)),
            image_gc_low_threshold: Some(threshold_text(a.image_gc_low_threshold)),
            image_gc_min_age: Some(format!("{}s", a.image_gc_min_age.as_secs())),
            sync_frequency: Some(format!("{}s", a.sync_frequency.as_secs())),
            log_format: Some(a.log_format.clone()),
            log_level: Some(a.log_level.clone()),
            stop_pods_on_exit: Some(a.stop_pods_on_exit),
            container_log_max_size: Some(size_text(a.container_log_max_size)),
            container_log_max_files: Some(a.container_log_max_files),
        }
    }

    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

fn threshold_text(t: peapod_image::Threshold) -> String {
    match t {
        peapod_image::Threshold::Percent(p) => format!("{p}%"),
        peapod_image::Threshold::Bytes(b) => b.to_string(),
    }
}

/// Bytes as a quantity that reads back the same (`10Mi`, `64Ki`, `1M`).
fn size_text(bytes: u64) -> String {
    let units = i64::try_from(bytes).unwrap_or(i64::MAX);
    peapod_api::quantity::Quantity::from_units(units, peapod_api::quantity::Format::BinarySi).to_canonical_string()
}

/// Fill every setting of `a` that was not given on the command line from
/// the configuration file (flags > file > defaults).
pub fn apply_file(a: &mut ServeArgs, m: &clap::ArgMatches) -> Result<(), ConfigError> {
    let explicit = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    let path = a.config.clone();
    let f = FileConfig::load(&path, explicit("config"))?;
    let bad = |key: &str, msg: String| ConfigError::Invalid { path: path.clone(), message: format!("{key}: {msg}") };
    macro_rules! take {
        ($field:ident, $id:literal) => {
            if !explicit($id) {
                if let Some(v) = f.$field.clone() {
                    a.$field = v.into();
                }
            }
        };
    }
    take!(listen, "listen");
    take!(data_dir, "data_dir");
    take!(state_dir, "state_dir");
    take!(kubeconfig_out, "kubeconfig_out");
    if !explicit("node_name") && f.node_name.is_some() {
        a.node_name = f.node_name.clone();
    }
    take!(max_pods, "max_pods");
    take!(allowed_unsafe_sysctls, "allowed_unsafe_sysctls");
    take!(cgroup_root, "cgroup_root");
    take!(runc, "runc");
    if !explicit("runtime_handler")
        && let Some(h) = &f.runtime_handlers
    {
        for (name, binary) in h {
            crate::serve::check_runtime_handler(name, binary).map_err(|e| bad("runtimeHandlers", e))?;
        }
        a.runtime_handler = h.iter().map(|(n, b)| (n.clone(), b.clone())).collect();
    }
    take!(cni_conf_dir, "cni_conf_dir");
    if !explicit("cni_plugin_dir")
        && let Some(d) = &f.cni_plugin_dirs
    {
        a.cni_plugin_dir = d.clone();
    }
    take!(bridge, "bridge");
    take!(pod_cidr, "pod_cidr");
    take!(no_cni, "no_cni");
    take!(pids_limit, "pids_limit");
    if !explicit("registries_config") && f.registries_config.is_some() {
        a.registries_config = f.registries_config.clone();
    }
    if !explicit("manifest_dir") && f.manifest_dir.is_some() {
        a.manifest_dir = f.manifest_dir.clone();
    }
    take!(log_format, "log_format");
    take!(log_level, "log_level");
    take!(stop_pods_on_exit, "stop_pods_on_exit");
    take!(container_log_max_files, "container_log_max_files");
    if !explicit("node_label")
        && let Some(l) = &f.node_labels
    {
        a.node_label = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
    }
    if !explicit("image_gc_high_threshold")
        && let Some(t) = &f.image_gc_high_threshold
    {
        a.image_gc_high_threshold = t.parse().map_err(|e| bad("imageGCHighThreshold", e))?;
    }
    if !explicit("image_gc_low_threshold")
        && let Some(t) = &f.image_gc_low_threshold
    {
        a.image_gc_low_threshold = t.parse().map_err(|e| bad("imageGCLowThreshold", e))?;
    }
    if !explicit("image_gc_min_age")
        && let Some(t) = &f.image_gc_min_age
    {
        a.image_gc_min_age = crate::serve::parse_duration(t).map_err(|e| bad("imageGCMinAge", e))?;
    }
    if !explicit("sync_frequency")
        && let Some(t) = &f.sync_frequency
    {
        a.sync_frequency = crate::serve::parse_duration(t).map_err(|e| bad("syncFrequency", e))?;
    }
    if !explicit("container_log_max_size")
        && let Some(t) = &f.container_log_max_size
    {
        a.container_log_max_size = crate::serve::parse_size(t).map_err(|e| bad("containerLogMaxSize", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ServeArgs,
    }

    fn parse(args: &[&str], file: &str) -> Result<ServeArgs, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, file).unwrap();
        let mut argv = vec!["t", "--config", path.to_str().unwrap()];
        argv.extend_from_slice(args);
        let m = T::command().get_matches_from(argv);
        let mut t = T::from_arg_matches(&m).unwrap();
        apply_file(&mut t.a, &m)?;
        Ok(t.a)
    }

    #[test]
    fn unknown_key_is_named() {
        let msg = parse(&[], "listen: 0.0.0.0:6443\ndataDirr: /x\n").unwrap_err().to_string();
        assert!(msg.contains("config.yaml") && msg.contains("dataDirr"), "{msg}");
    }

    #[test]
    fn runtime_handlers_from_flags_or_file() {
        let a = parse(&[], "").unwrap();
        assert!(a.runtime_handlers().is_empty(), "only runc by default");
        let file = "runtimeHandlers:\n  crun: /usr/bin/crun\n  youki: /opt/youki/bin/youki\n";
        let a = parse(&[], file).unwrap();
        let want: BTreeMap<String, PathBuf> =
            [("crun", "/usr/bin/crun"), ("youki", "/opt/youki/bin/youki")].map(|(n, p)| (n.into(), p.into())).into();
        assert_eq!(a.runtime_handlers(), want);
        let shown = FileConfig::from_args(&a).to_yaml();
        assert_eq!(parse(&[], &shown).unwrap().runtime_handlers(), want, "--print-config reads back: {shown}");
        let a = parse(&["--runtime-handler", "traced=/tmp/traced", "--runtime-handler", "kata=kata-runtime"], file)
            .unwrap();
        let flags: Vec<(&str, &str)> =
            a.runtime_handler.iter().map(|(n, p)| (n.as_str(), p.to_str().unwrap())).collect();
        assert_eq!(flags, [("traced", "/tmp/traced"), ("kata", "kata-runtime")], "the flags replace the file's map");
        for (bad_file, want) in [
            ("runtimeHandlers: {runc: /usr/bin/crun}\n", "default handler"),
            ("runtimeHandlers: {Fast_Runtime: /usr/bin/crun}\n", "RFC 1123 label"),
            ("runtimeHandlers: {crun: ''}\n", "the binary is empty"),
        ] {
            let msg = parse(&[], bad_file).unwrap_err().to_string();
            assert!(msg.contains("runtimeHandlers") && msg.contains(want), "{bad_file}: {msg}");
        }
    }

    #[test]
    fn runtime_handler_flag_is_checked() {
        let bad = |args: &[&str]| T::command().try_get_matches_from(args).unwrap_err().to_string();
        assert!(bad(&["t", "--runtime-handler", "crun"]).contains("expected NAME=PATH"));
        assert!(bad(&["t", "--runtime-handler", "runc=/usr/bin/crun"]).contains("--runc"));
        assert_eq!(crate::serve::parse_runtime_handler("crun=/usr/bin/crun").unwrap().0, "crun");
    }

    #[test]
    fn flags_over_file_over_defaults() {
        let a = parse(
            &["--listen", "127.0.0.1:9443"],
            "listen: 0.0.0.0:7443\npodCIDR: 10.90.0.0/16\nnodeLabels: {zone: a}\nimageGCHighThreshold: 20Gi\nmanifestDir: /etc/m\n",
        )
        .unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:9443", "the flag wins");
        assert_eq!(a.pod_cidr, "10.90.0.0/16", "the file over the default");
        assert_eq!(a.bridge, "peapod0", "the default");
        assert_eq!(a.node_labels(), vec![("zone".to_string(), "a".to_string())]);
        assert_eq!(a.image_gc_high_threshold, peapod_image::Threshold::Bytes(20 << 30));
        assert_eq!(a.manifest_dir.as_deref(), Some(Path::new("/etc/m")));
        let shown = FileConfig::from_args(&a).to_yaml();
        assert!(shown.contains("podCIDR: 10.90.0.0/16") && shown.contains("imageGCHighThreshold:"), "{shown}");
        assert!(parse(&[], "imageGCLowThreshold: lots\n").unwrap_err().to_string().contains("imageGCLowThreshold"));
    }

    #[test]
    fn container_log_rotation_keys() {
        let a = parse(&[], "").unwrap();
        assert_eq!((a.container_log_max_size, a.container_log_max_files), (10 << 20, 5), "kubelet's defaults");
        let a =
            parse(&["--container-log-max-files", "7"], "containerLogMaxSize: 64Ki\ncontainerLogMaxFiles: 3\n").unwrap();
        assert_eq!((a.container_log_max_size, a.container_log_max_files), (64 << 10, 7), "the file, and the flag wins");
        let shown = FileConfig::from_args(&a).to_yaml();
        assert!(shown.contains("containerLogMaxSize: 64Ki") && shown.contains("containerLogMaxFiles: 7"), "{shown}");
        let a = parse(&[], "containerLogMaxSize: '1000000'\n").unwrap();
        let shown = FileConfig::from_args(&a).to_yaml();
        assert_eq!(parse(&[], &shown).unwrap().container_log_max_size, 1_000_000, "--print-config reads back: {shown}");
        let msg = parse(&[], "containerLogMaxSize: lots\n").unwrap_err().to_string();
        assert!(msg.contains("containerLogMaxSize"), "{msg}");
        assert!(parse(&[], "containerLogMaxSize: -1Mi\n").unwrap_err().to_string().contains("negative"));
    }
}
