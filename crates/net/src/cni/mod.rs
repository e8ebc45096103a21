//! The CNI pod network: `CniNetwork` runs the plugin chain of one network
//! configuration list (by default bridge + host-local, portmap, firewall)
//! for each pod, the way libcni does, without libcni.
//!
//! Design:
//! - **Configuration** (`config`): written once if the directory is empty,
//!   loaded and validated at start-up (names, versions, plugin binaries
//!   and the versions they support), so pod setup never finds out late.
//! - **ADD** (`attach`): per SPEC, plugins in order, each given the
//!   previous result. A *pending* cache record is written before the first
//!   plugin runs, so a daemon killed half-way leaves a trace that teardown
//!   and `gc` act on; the final result replaces it before `setup` returns.
//!   A chain that fails half-way is deleted at once (all plugins, reverse
//!   order) so nothing leaks: lease, veth, iptables chains.
//! - **DEL** (`detach`): reverse order with the cached config, args and
//!   result, so it works after a restart or a config change. A namespace
//!   that is no longer pinned is passed as an empty `CNI_NETNS` (a stale
//!   file would make plugins fail forever), and the masquerade rules the
//!   bridge plugin then leaves behind are removed by us (`iptables`).
//! - **hostPorts** (`ports`): refused when another pod on the network holds
//!   the same (hostIP, hostPort, protocol); checked and recorded under one
//!   lock, so two pods racing for a port cannot both win.
//! - **Cancellation**: `setup`/`teardown` run on their own task, so a
//!   dropped caller future never leaves a chain half-run; a per-sandbox
//!   lock (`locks`) keeps ADD, DEL, CHECK and gc of one sandbox from
//!   overlapping. `Inner`'s operations expect the caller to hold it.

mod attach;
mod cache;
mod check;
mod config;
mod detach;
mod gc;
mod hostrules;
mod invoke;
mod ipam;
pub mod iptables;
mod locks;
mod ports;
mod request;
mod result;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

pub use config::{CniConfig, DEFAULT_CONFLIST, DefaultNetwork, KNOWN_VERSIONS, default_conflist};

use crate::network::{BoxFuture, NetRequest, NetResult, Network};
use crate::{NetError, netns};
use config::{NetworkList, PluginConf};
use invoke::{CniCommand, Invocation};

/// The interface name every pod gets.
pub(crate) const IFNAME: &str = "eth0";

/// A pod network made of CNI plugins. Cheap to clone (shared state).
#[derive(Clone)]
pub struct CniNetwork {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CniNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CniNetwork")
            .field("network", &self.inner.list.name)
            .field("config", &self.inner.list.source)
            .finish()
    }
}

pub(crate) struct Inner {
    cfg: CniConfig,
    /// The network loaded at start-up; new attachments use it.
    list: NetworkList,
    /// `CNI_PATH`.
    cni_path: String,
    ports: Mutex<ports::PortBook>,
    /// One lock per sandbox with an operation in flight.
    locks: locks::SandboxLocks,
    /// The subnet's masquerade and forward rules, when the network is our
    /// default one (see `hostrules`); installed before the first ADD.
    host_rules: Option<hostrules::HostRules>,
    /// Whether they are installed. Every ADD holds it shared until its
    /// cache record is written, so `shutdown` (exclusive) sees every
    /// attachment that counts on the rules.
    host_rules_installed: tokio::sync::RwLock<bool>,
}

/// Everything DEL (or CHECK) needs about one attachment.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub list: NetworkList,
    pub container_id: String,
    pub netns: PathBuf,
    pub cni_args: Vec<[String; 2]>,
    pub capability_args: Map<String, Value>,
    /// The cached (or, when rolling back, the partial) ADD result.
    pub prev_result: Option<Value>,
}

impl CniNetwork {
    /// Load (writing the default conflist first if `conf_dir` holds no
    /// configuration) and validate the network; read the attachment cache
    /// to learn which host ports are taken. Start-up work: it blocks for a
    /// few ms running each plugin's `VERSION`.
    pub fn new(cfg: CniConfig) -> Result<Self, NetError> {
        let (list, ours) = config::load_network(&cfg)?;
        let host_rules = ours.and_then(|(bridge, subnet)| hostrules::HostRules::new(&list.name, &bridge, &subnet));
        config::validate_plugins(&list, &cfg.plugin_dirs)?;
        let swept = cache::sweep_temp_files(&cfg.cache_dir);
        if swept > 0 {
            tracing::info!(swept, "removed temp files of interrupted CNI cache writes");
        }
        let mut book = ports::PortBook::default();
        for (path, rec) in cache::list(&cfg.cache_dir)? {
            match rec {
                Ok(rec) => {
                    let pod = pod_label(&rec.cni_args);
                    let held = ports::host_ports(&rec.capability_args);
                    if let Err(e) = book.reserve(&rec.container_id, &pod, held) {
                        tracing::warn!(path = %path.display(), error = %e, "cached attachments clash");
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable CNI cache entry")
                }
            }
        }
        tracing::info!(network = %list.name, config = %list.source.display(), "CNI network loaded");
        Ok(CniNetwork {
            inner: Arc::new(Inner {
                cni_path: config::join_dirs(&cfg.plugin_dirs),
                cfg,
                list,
                ports: Mutex::new(book),
                locks: locks::SandboxLocks::default(),
                host_rules,
                host_rules_installed: tokio::sync::RwLock::new(false),
            }),
        })
    }

    /// The network's name (from the loaded configuration).
    pub fn network_name(&self) -> &str {
        &self.inner.list.name
    }

    /// The configuration file in use.
    pub fn config_file(&self) -> &Path {
        &self.inner.list.source
    }

    /// How many pods the network can hold: the usable addresses of its
    /// host-local ranges (network, broadcast and gateway excluded); 0 if it
    /// does not use host-local.
    pub fn capacity(&self) -> u64 {
        ipam::list_capacity(&self.inner.list)
    }

    /// Run CHECK for the sandbox's attachment with its cached result.
    /// `NotAttached` if it has no completed attachment. Networks older than
    /// CNI 0.4.0 or with `disableCheck` pass without running plugins.
    pub async fn check(&self, req: &NetRequest) -> Result<(), NetError> {
        let _guard = self.inner.locks.lock(&req.sandbox_id).await;
        self.inner.check(req).await
    }

    /// Start-up: if pods are attached from before a restart, make sure the
    /// subnet's rules are in place (a daemon killed while it removed them
    /// would leave those pods without masquerade until the next ADD).
    pub async fn resume(&self) -> Result<(), NetError> {
        if cache::list(&self.inner.cfg.cache_dir)?.is_empty() {
            return Ok(());
        }
        self.inner.ensure_host_rules().await.map(drop)
    }

    /// Start-up garbage collection: DEL every cached attachment whose
    /// sandbox is not in `live_sandbox_ids` (the daemon died before its
    /// teardown), then release host-local leases held by sandboxes that are
    /// not live and have no cache record. Returns how many attachments or
    /// lease owners were cleaned.
    pub async fn gc(&self, live_sandbox_ids: &std::collections::HashSet<String>) -> Result<usize, NetError> {
        self.inner.gc(live_sandbox_ids).await
    }
}

impl CniNetwork {
    /// Run `op` for the sandbox of `req` under its lock. The lock is taken
    /// here, in call order, and then moved into a task of its own: if the
    /// caller's future is dropped, a chain still runs to the end (and
    /// caches) instead of stopping between two plugins, and a teardown
    /// called afterwards waits for it.
    async fn locked<T, F, Fut>(&self, what: &'static str, req: &NetRequest, op: F) -> Result<T, NetError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>, NetRequest) -> Fut,
        Fut: Future<Output = Result<T, NetError>> + Send + 'static,
    {
        let guard = self.inner.locks.lock(&req.sandbox_id).await;
        let fut = op(self.inner.clone(), req.clone());
        tokio::spawn(async move {
            let _guard = guard;
            fut.await
        })
        .await
        .map_err(|e| NetError::io(what, std::io::Error::other(e)))?
    }
}

impl Network for CniNetwork {
    fn setup<'a>(&'a self, req: &'a NetRequest) -> BoxFuture<'a, Result<NetResult, NetError>> {
        Box::pin(self.locked("CNI ADD task", req, |inner, req| async move { inner.add(&req).await }))
    }

    fn teardown<'a>(&'a self, req: &'a NetRequest) -> BoxFuture<'a, Result<(), NetError>> {
        Box::pin(self.locked("CNI DEL task", req, |inner, req| async move { inner.teardown(&req).await }))
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<(), NetError>> {
        Box::pin(async move {
            let Some(rules) = &self.inner.host_rules else { return Ok(()) };
            let mut installed = self.inner.host_rules_installed.write().await;
            let attached = cache::list(&self.inner.cfg.cache_dir)?.len();
            if attached > 0 {
                tracing::info!(attached, "pods are still attached: keeping the pod network's masquerade rules");
                return Ok(());
            }
            let removed = rules.remove().await?;
            *installed = false;
            tracing::info!(removed, "removed the pod network's masquerade and forward rules");
            Ok(())
        })
    }
}

impl Inner {
    /// Install the subnet's rules if they are not (a no-op for a network
    /// that is not ours). The guard keeps `shutdown` from removing them
    /// while it is held.
    pub(crate) async fn ensure_host_rules(&self) -> Result<Option<tokio::sync::RwLockReadGuard<'_, bool>>, NetError> {
        let Some(rules) = &self.host_rules else { return Ok(None) };
        let shared = self.host_rules_installed.read().await;
        if *shared {
            return Ok(Some(shared));
        }
        drop(shared);
        let mut installed = self.host_rules_installed.write().await;
        if !*installed {
            rules.install().await?;
            *installed = true;
        }
        Ok(Some(installed.downgrade()))
    }
}

/// `namespace/name` from cached CNI_ARGS.
pub(crate) fn pod_label(args: &[[String; 2]]) -> String {
    format!(
        "{}/{}",
        request::cni_arg(args, "K8S_POD_NAMESPACE").unwrap_or_default(),
        request::cni_arg(args, "K8S_POD_NAME").unwrap_or_default()
    )
}

/// Does the list's CNI version carry `prevResult` on DEL/CHECK (≥ 0.4.0)?
pub(crate) fn has_prev_result_on_del(version: &str) -> bool {
    let idx = |v: &str| KNOWN_VERSIONS.iter().position(|k| *k == v);
    matches!((idx(version), idx("0.4.0")), (Some(a), Some(b)) if a >= b)
}

/// `CNI_NETNS` for DEL: the path if it is a live pinned namespace, else
/// empty (SPEC: optional on DEL). A stale plain file would make bridge
/// fail with "unknown FS magic" forever.
pub(crate) fn del_netns_arg(path: &Path) -> String {
    if !path.as_os_str().is_empty() && netns::is_pinned(path) { path.display().to_string() } else { String::new() }
}

impl Inner {
    /// The cache record of `id` on `network`.
    fn record_path(&self, network: &str, id: &str) -> PathBuf {
        cache::record_path(&self.cfg.cache_dir, network, id, IFNAME)
    }

    /// Run one plugin of `list` for the attachment.
    async fn run_plugin(
        &self,
        att: &Attachment,
        plugin: &PluginConf,
        command: CniCommand,
        netns: &str,
        prev_result: Option<&Value>,
    ) -> Result<Vec<u8>, NetError> {
        let bin = config::find_plugin(&plugin.plugin_type, &self.cfg.plugin_dirs).ok_or_else(|| {
            NetError::PluginNotFound { plugin: plugin.plugin_type.clone(), dirs: self.cni_path.clone() }
        })?;
        let stdin =
            request::plugin_stdin(&att.list.name, &att.list.cni_version, plugin, prev_result, &att.capability_args);
        let cni_args = request::cni_args_env(&att.cni_args);
        let inv = Invocation {
            command,
            container_id: &att.container_id,
            netns,
            ifname: IFNAME,
            cni_args: &cni_args,
            cni_path: &self.cni_path,
        };
        invoke::exec_plugin(&bin, &plugin.plugin_type, &inv, &stdin).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prev_result_versions() {
        for (v, want) in [("0.1.0", false), ("0.3.1", false), ("0.4.0", true), ("1.0.0", true), ("2.0.0", false)] {
            assert_eq!(has_prev_result_on_del(v), want, "{v}");
        }
    }

    #[test]
    fn labels_and_netns_arg() {
        let args = vec![
            ["IgnoreUnknown".to_owned(), "1".to_owned()],
            ["K8S_POD_NAMESPACE".to_owned(), "default".to_owned()],
            ["K8S_POD_NAME".to_owned(), "hexo".to_owned()],
        ];
        assert_eq!(pod_label(&args), "default/hexo");
        let d = tempfile::tempdir().unwrap();
        let stale = d.path().join("stale");
        std::fs::write(&stale, "").unwrap();
        assert_eq!(del_netns_arg(&stale), "");
        assert_eq!(del_netns_arg(&d.path().join("missing")), "");
        assert_eq!(del_netns_arg(Path::new("")), "");
    }
}
