//! What callers see of an image: [`ImageInfo`] and its run defaults
//! [`ImageConfig`], built from the stored manifest and config documents.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::oci::ContainerConfig;

/// The `PATH` every imported image gets unless a change sets one (Docker's
/// default).
pub const DEFAULT_PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One image in the store.
#[derive(Clone, Debug, Serialize)]
pub struct ImageInfo {
    /// Docker's image id: `sha256:<config digest hex>`.
    pub id: String,
    /// Manifest digest `sha256:...`.
    pub digest: String,
    /// Full normalized references pointing at the image, sorted.
    pub references: Vec<String>,
    /// Bytes stored for the image: compressed layer blobs plus the config
    /// (Docker's content-store SIZE). Unpacked snapshots are not counted; see
    /// [`crate::ImageStore::disk_usage`] for on-disk totals.
    pub size: u64,
    /// RFC 3339 creation time from the config.
    pub created: Option<String>,
    /// Run defaults.
    pub config: ImageConfig,
    /// Layer diff_ids `sha256:...`, bottom to top.
    pub layers: Vec<String>,
}

/// An image's defaults for containers run from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// Entrypoint argv.
    pub entrypoint: Option<Vec<String>>,
    /// Command argv.
    pub cmd: Option<Vec<String>>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// `user[:group]`.
    pub user: Option<String>,
    /// Stop signal, as written (`SIGTERM`, `15`).
    pub stop_signal: Option<String>,
    /// `port/proto` entries, sorted (`80/tcp`).
    pub exposed_ports: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Volume paths, sorted.
    pub volumes: Vec<String>,
}

impl ImageConfig {
    /// Set `key` in `env`, replacing an existing entry for the same key.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self.env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
            Some(existing) => *existing = entry,
            None => self.env.push(entry),
        }
    }
}

impl From<ContainerConfig> for ImageConfig {
    fn from(c: ContainerConfig) -> Self {
        Self {
            env: c.env.unwrap_or_default(),
            entrypoint: c.entrypoint,
            cmd: c.cmd,
            working_dir: c.working_dir.filter(|w| !w.is_empty()),
            user: c.user.filter(|u| !u.is_empty()),
            stop_signal: c.stop_signal.filter(|s| !s.is_empty()),
            exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
            labels: c.labels.unwrap_or_default(),
            volumes: c.volumes.unwrap_or_default().into_keys().collect(),
        }
    }
}

impl From<&ImageConfig> for ContainerConfig {
    fn from(c: &ImageConfig) -> Self {
        let set = |items: &[String]| {
            (!items.is_empty()).then(|| items.iter().map(|k| (k.clone(), serde_json::json!({}))).collect())
        };
        Self {
            user: c.user.clone(),
            exposed_ports: set(&c.exposed_ports),
            env: Some(c.env.clone()),
            entrypoint: c.entrypoint.clone(),
            cmd: c.cmd.clone(),
            volumes: set(&c.volumes),
            working_dir: c.working_dir.clone(),
            labels: (!c.labels.is_empty()).then(|| c.labels.clone()),
            stop_signal: c.stop_signal.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_env_replaces_by_key() {
        let mut c = ImageConfig { env: vec!["A=1".into(), "AB=2".into(), "NOVALUE".into()], ..Default::default() };
        c.set_env("A", "3");
        c.set_env("NOVALUE", "x");
        c.set_env("C", "4");
        assert_eq!(c.env, ["A=3", "AB=2", "NOVALUE=x", "C=4"]);
    }

    #[test]
    fn container_config_round_trip() {
        let c = ImageConfig {
            env: vec![DEFAULT_PATH_ENV.into()],
            cmd: Some(vec!["sh".into()]),
            exposed_ports: vec!["443/tcp".into(), "80/tcp".into()],
            volumes: vec!["/data".into()],
            labels: [("a".to_string(), "b".to_string())].into(),
            ..Default::default()
        };
        let back = ImageConfig::from(ContainerConfig::from(&c));
        // The OCI maps come back sorted.
        assert_eq!(back.exposed_ports, ["443/tcp", "80/tcp"]);
        assert_eq!(back, c);
    }
}
