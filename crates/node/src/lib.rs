//! peapod's node agent, kubelet-shaped: it watches the store for pods bound
//! to this node and runs one worker per pod. A worker's sync is: observe
//! what the runtime has, plan with the pure `compute_pod_actions`, execute
//! in a fixed order, compute the status from what it observes, write it.
//! Never two syncs of one pod at once; triggers coalesce; a sync returns
//! when to come back ("requeue after"), it never sleeps inside a step.

pub mod backoff;
pub mod clock;
pub mod env;
pub mod events;
mod hooks;
mod image_pull;
pub mod metrics;
pub mod node_object;
pub mod plan;
pub mod podconfig;
pub mod probes;
pub mod runtime_class;
mod static_pods;
pub mod status;
mod sync;
pub mod volumes;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, broadcast};

use peapod_image::ImageStore;
use peapod_runtime::{ContainerEvent, ContainerState, RuntimeService};
use peapod_store::{EventType as StoreEvent, Store};

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::events::EventRecorder;
use crate::node_object::HostFacts;
use crate::plan::Observed;
use crate::podconfig::NodeSettings;
use crate::status::Waiting;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub settings: NodeSettings,
    /// Periodic resync of every pod.
    pub resync: Duration,
    pub max_pods: u32,
    pub runtime_version: String,
    /// Extra labels of the Node object.
    pub node_labels: Vec<(String, String)>,
    /// Static pod manifests (kubelet's `staticPodPath`), if any.
    pub manifest_dir: Option<PathBuf>,
}

/// The latest known object of a pod bound to this node.
#[derive(Debug, Clone)]
pub(crate) struct PodEntry {
    pub obj: Arc<Value>,
    /// Gone from the store (force-deleted, or its graceful deletion finished elsewhere).
    pub deleted: bool,
    /// A static pod: its object comes from the manifest directory, not the store.
    pub from_file: bool,
}

/// What a worker remembers between syncs.
#[derive(Debug, Default)]
pub(crate) struct WorkerState {
    pub waiting: HashMap<String, Waiting>,
    pub scheduled_recorded: bool,
    pub sandbox_config: Option<(String, peapod_runtime::PodSandboxConfig)>,
    /// The DeadlineExceeded event was recorded.
    pub deadline_recorded: bool,
    /// The last problem with a static pod's mirror pod (logged once).
    pub mirror_problem: Option<String>,
}

pub(crate) struct Ctx<R: RuntimeService> {
    pub cfg: NodeConfig,
    pub store: Store,
    pub runtime: Arc<R>,
    pub images: ImageStore,
    pub clock: Arc<dyn Clock>,
    pub events: EventRecorder,
    pub host: HostFacts,
    pub pods: Mutex<HashMap<String, PodEntry>>,
    pub workers: Mutex<HashMap<String, Arc<Notify>>>,
    pub backoff: Mutex<Backoff>,
    pub state: Mutex<HashMap<String, WorkerState>>,
    /// What each pod's last sync observed (serves logs without a runtime call).
    pub observed: Mutex<HashMap<String, Observed>>,
    /// Probe workers and their verdicts.
    pub probes: probes::ProbeManager,
    /// When each (pod, image) pull last failed (the pull back-off).
    pub pull_failures: image_pull::PullFailures,
    pub metrics: metrics::NodeMetrics,
    /// Set by `Node::shutdown`: workers stop syncing, no new ones start.
    pub stopping: std::sync::atomic::AtomicBool,
}

/// The node agent. Cheap to clone.
pub struct Node<R: RuntimeService> {
    ctx: Arc<Ctx<R>>,
}

impl<R: RuntimeService> Clone for Node<R> {
    fn clone(&self) -> Self {
        Node { ctx: self.ctx.clone() }
    }
}

impl<R: RuntimeService> Node<R> {
    pub fn new(cfg: NodeConfig, store: Store, runtime: Arc<R>, images: ImageStore, clock: Arc<dyn Clock>) -> Self {
        let host = HostFacts::detect(&cfg.runtime_version);
        let events = EventRecorder::new(store.clone(), cfg.settings.node_name.clone());
        Node {
            ctx: Arc::new(Ctx {
                cfg,
                store,
                runtime,
                images,
                clock,
                events,
                host,
                pods: Mutex::new(HashMap::new()),
                workers: Mutex::new(HashMap::new()),
                backoff: Mutex::new(Backoff::default()),
                state: Mutex::new(HashMap::new()),
                observed: Mutex::new(HashMap::new()),
                probes: probes::ProbeManager::default(),
                pull_failures: image_pull::PullFailures::default(),
                metrics: metrics::NodeMetrics::default(),
                stopping: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Run until the process ends: register the Node, follow pods, react to
    /// runtime events, resync.
    pub async fn run(&self, runtime_events: broadcast::Receiver<ContainerEvent>) {
        let ctx = self.ctx.clone();
        let s = &ctx.cfg.settings;
        node_object::register(&ctx.store, &s.node_name, &s.host_ip, &ctx.host, ctx.cfg.max_pods, &ctx.cfg.node_labels);
        tokio::spawn(heartbeat(ctx.clone()));
        tokio::spawn(runtime_event_loop(ctx.clone(), runtime_events));
        tokio::spawn(config_watch(ctx.clone(), "configmaps"));
        tokio::spawn(config_watch(ctx.clone(), "secrets"));
        tokio::spawn(image_pull::gc_loop(ctx.clone()));
        if let Some(dir) = ctx.cfg.manifest_dir.clone() {
            // Read once before the first list, so the start-up clean-up
            // knows the static pods and keeps them.
            let mut m = static_pods::Manifests::default();
            let desired = m.scan(&ctx, &dir);
            // Their workers too: nothing else starts them (a mirror pod
            // pokes its static pod only when deleted).
            for uid in static_pods::reconcile(&ctx, desired) {
                ensure_worker(&ctx, &uid);
            }
            tokio::spawn(static_pods::source_loop(ctx.clone(), dir, m));
        }
        pod_watch(ctx).await;
    }

    /// The CRI log file of container instance `id` of a pod, and whether it may still grow.
    pub fn log_file(&self, uid: &str, id: &str) -> Option<(PathBuf, bool)> {
        let obs = self.ctx.observed.lock().expect("lock");
        let c = obs.get(uid)?.containers.iter().find(|c| c.id == id)?;
        Some((c.log_path.clone(), matches!(c.state, ContainerState::Running | ContainerState::Created)))
    }

    /// Stop acting on pods (the daemon is exiting): no sync starts from now
    /// on, so nothing is (re)created behind the caller's back.
    pub fn shutdown(&self) {
        self.ctx.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        for n in self.ctx.workers.lock().expect("lock").values() {
            n.notify_one();
        }
    }

    /// The node agent's metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        self.ctx.metrics.render(&mut out);
        out
    }

    /// Image ids used by any container instance on this node.
    pub fn images_in_use(&self) -> Vec<String> {
        self.ctx.images_in_use()
    }

    /// Number of pods this node currently handles.
    pub fn pod_count(&self) -> usize {
        self.ctx.workers.lock().expect("lock").len()
    }
}

impl<R: RuntimeService> Ctx<R> {
    /// Image ids used by any container instance on this node, sorted.
    pub(crate) fn images_in_use(&self) -> Vec<String> {
        let obs = self.observed.lock().expect("lock");
        let mut ids: Vec<String> = obs.values().flat_map(|o| o.containers.iter().map(|c| c.image_id.clone())).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Start (or poke) the worker of a pod.
pub(crate) fn ensure_worker<R: RuntimeService>(ctx: &Arc<Ctx<R>>, uid: &str) {
    if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let mut w = ctx.workers.lock().expect("lock");
    if let Some(n) = w.get(uid) {
        n.notify_one();
        return;
    }
    let n = Arc::new(Notify::new());
    w.insert(uid.to_owned(), n.clone());
    let ctx = ctx.clone();
    let uid = uid.to_owned();
    tokio::spawn(async move {
        loop {
            if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            match sync::sync_pod(&ctx, &uid).await {
                None => {
                    ctx.probes.forget_pod(&uid);
                    ctx.pull_failures.forget_pod(&uid);
                    ctx.workers.lock().expect("lock").remove(&uid);
                    ctx.state.lock().expect("lock").remove(&uid);
                    ctx.observed.lock().expect("lock").remove(&uid);
                    ctx.metrics.forget(&uid);
                    return;
                }
                Some(after) => {
                    tokio::select! {
                        _ = n.notified() => {}
                        _ = tokio::time::sleep(after) => {}
                    }
                }
            }
        }
    });
}

fn bound_here(obj: &Value, node: &str) -> bool {
    obj.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
}

fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Is `new` only a status (or resourceVersion) change of `old`? Our own
/// status writes come back as MODIFIED events and need no sync.
fn only_status_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(old) == strip(new)
}

/// Follow the pods bound to this node: list, then watch from the list's
/// revision; after a watch error, list again (pods gone meanwhile are
/// marked deleted).
async fn pod_watch<R: RuntimeService>(ctx: Arc<Ctx<R>>) {
    let node = ctx.cfg.settings.node_name.clone();
    let mut first = true;
    loop {
        let (items, rv) = ctx.store.list("pods", None);
        let mut live: HashSet<String> =
            ctx.pods.lock().expect("lock").iter().filter(|(_, e)| e.from_file).map(|(u, _)| u.clone()).collect();
        for obj in items.iter().filter(|o| bound_here(o, &node)) {
            if peapod_api::static_pod::mirror_of(obj).is_some() {
                // Mirror pods are not run; they show static pods.
                if let Some(uid) = static_pods::on_mirror_event(&ctx, obj, false) {
                    ensure_worker(&ctx, &uid);
                }
                continue;
            }
            let uid = uid_of(obj);
            live.insert(uid.clone());
            ctx.pods
                .lock()
                .expect("lock")
                .insert(uid.clone(), PodEntry { obj: obj.clone(), deleted: false, from_file: false });
            ensure_worker(&ctx, &uid);
        }
        let gone: Vec<String> = {
            let mut pods = ctx.pods.lock().expect("lock");
            let gone: Vec<String> = pods.keys().filter(|u| !live.contains(*u)).cloned().collect();
            for u in &gone {
                if let Some(e) = pods.get_mut(u) {
                    e.deleted = true;
                }
            }
            gone
        };
        for u in gone {
            ensure_worker(&ctx, &u);
        }
        if first {
            first = false;
            sync::cleanup_orphans(&ctx, &live).await;
        }
        let mut w = match ctx.store.watch("pods", None, Some(rv)) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "watching pods");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while let Some(ev) = w.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::info!(error = %e, "pod watch ended; listing again");
                    break;
                }
            };
            if !bound_here(&ev.object, &node) {
                continue;
            }
            if peapod_api::static_pod::mirror_of(&ev.object).is_some() {
                let deleted = ev.kind == StoreEvent::Deleted;
                if let Some(uid) = static_pods::on_mirror_event(&ctx, &ev.object, deleted) {
                    ensure_worker(&ctx, &uid);
                }
                continue;
            }
            let uid = uid_of(&ev.object);
            let poke = {
                let mut pods = ctx.pods.lock().expect("lock");
                match ev.kind {
                    StoreEvent::Deleted => {
                        pods.insert(uid.clone(), PodEntry { obj: ev.object.clone(), deleted: true, from_file: false });
                        true
                    }
                    _ => {
                        let changed = pods.get(&uid).is_none_or(|p| !only_status_changed(&p.obj, &ev.object));
                        pods.insert(uid.clone(), PodEntry { obj: ev.object.clone(), deleted: false, from_file: false });
                        changed
                    }
                }
            };
            if poke {
                ensure_worker(&ctx, &uid);
            }
        }
    }
}

async fn runtime_event_loop<R: RuntimeService>(ctx: Arc<Ctx<R>>, mut rx: broadcast::Receiver<ContainerEvent>) {
    loop {
        match rx.recv().await {
            Ok(ev) => {
                if ctx.pods.lock().expect("lock").contains_key(&ev.pod_uid) {
                    ensure_worker(&ctx, &ev.pod_uid);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Missed some: resync everything.
                let uids: Vec<String> = ctx.pods.lock().expect("lock").keys().cloned().collect();
                for u in uids {
                    ensure_worker(&ctx, &u);
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// A ConfigMap or Secret changed: sync the pods that use it, so mounted
/// volumes update within seconds and waiting containers start.
async fn config_watch<R: RuntimeService>(ctx: Arc<Ctx<R>>, resource: &'static str) {
    loop {
        let rv = ctx.store.revision();
        let mut w = match ctx.store.watch(resource, None, Some(rv)) {
            Ok(w) => w,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(Ok(ev)) = w.next().await {
            let uids: Vec<String> = ctx
                .pods
                .lock()
                .expect("lock")
                .iter()
                .filter(|(_, p)| {
                    p.obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ev.namespace.as_str())
                        && references(&p.obj, resource, &ev.name)
                })
                .map(|(u, _)| u.clone())
                .collect();
            for u in uids {
                ensure_worker(&ctx, &u);
            }
        }
    }
}

/// Does the pod refer to configmap/secret `name` (volumes or env)?
pub fn references(pod: &Value, resource: &str, name: &str) -> bool {
    let text = pod.get("spec").map(|s| s.to_string()).unwrap_or_default();
    let needle = serde_json::to_string(name).unwrap_or_default();
    if !text.contains(&needle) {
        return false;
    }
    let keys: &[&str] = if resource == "configmaps" {
        &["configMap", "configMapRef", "configMapKeyRef"]
    } else {
        &["secret", "secretRef", "secretKeyRef"]
    };
    fn walk(v: &Value, keys: &[&str], name: &str) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, val)| {
                (keys.contains(&k.as_str())
                    && (val.get("name").and_then(Value::as_str) == Some(name)
                        || val.get("secretName").and_then(Value::as_str) == Some(name)))
                    || walk(val, keys, name)
            }),
            Value::Array(a) => a.iter().any(|x| walk(x, keys, name)),
            _ => false,
        }
    }
    walk(pod.get("spec").unwrap_or(&Value::Null), keys, name)
}

async fn heartbeat<R: RuntimeService>(ctx: Arc<Ctx<R>>) {
    let mut n = 0u32;
    loop {
        tokio::time::sleep(Duration::from_secs(40)).await;
        let s = &ctx.cfg.settings;
        node_object::register(&ctx.store, &s.node_name, &s.host_ip, &ctx.host, ctx.cfg.max_pods, &ctx.cfg.node_labels);
        n += 1;
        if n.is_multiple_of(8) {
            let expired = ctx.events.expire(Duration::from_secs(3600), ctx.clock.now());
            if expired > 0 {
                tracing::debug!(expired, "expired events");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_configmap_and_secret_references() {
        let pod = json!({"spec": {
            "volumes": [{"name": "v", "configMap": {"name": "front-config"}}],
            "containers": [{"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}}]}]
        }});
        assert!(references(&pod, "configmaps", "front-config"));
        assert!(!references(&pod, "configmaps", "s1"));
        assert!(references(&pod, "secrets", "s1"));
        assert!(!references(&pod, "secrets", "other"));
        let p2 = json!({"spec": {"volumes": [{"name": "v", "secret": {"secretName": "tls"}}]}});
        assert!(references(&p2, "secrets", "tls"));
    }

    #[test]
    fn status_only_changes_are_recognised() {
        let a = json!({"metadata": {"name": "p", "resourceVersion": "1"}, "spec": {"x": 1}, "status": {"phase": "Pending"}});
        let b = json!({"metadata": {"name": "p", "resourceVersion": "2"}, "spec": {"x": 1}, "status": {"phase": "Running"}});
        let c = json!({"metadata": {"name": "p", "resourceVersion": "3", "deletionTimestamp": "x"}, "spec": {"x": 1}});
        assert!(only_status_changed(&a, &b));
        assert!(!only_status_changed(&a, &c));
    }
}
