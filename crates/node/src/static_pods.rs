//! Static pods: the manifest directory (`--manifest-dir`) is a second
//! source of pods beside the API, as kubelet's file source is.
//!
//! The directory is read every second (kubelet re-reads every 20 s and
//! also reacts to inotify; a stat of a few files a second costs nothing
//! measurable). Each file gives pods as `peapod_api::static_pod` makes
//! them, with a UID that is a hash of the file and the pod, so an edit is a
//! new pod: the old one is stopped (gracefully, and its mirror pod deleted
//! at once, as kubelet deletes orphaned mirror pods), and the new one
//! starts once the old one has stopped (kubelet's pod workers never run two
//! pods of one full name at a time). A removed file stops its pods.
//!
//! Static pods run like any other: one worker per UID, the same sync.
//! What differs is where their object comes from (here, not the store),
//! and that their status goes to the mirror pod, which the worker creates
//! and recreates when someone deletes it; the API can't stop a static pod.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use peapod_api::static_pod::{CONFIG_SEEN_ANNOTATION, decode_manifest, mirror_of, mirror_pod};
use peapod_runtime::RuntimeService;
use peapod_store::{ObjKey, Preconditions};

use crate::clock::whole_seconds;
use crate::events::{EventType, InvolvedObject};
use crate::{Ctx, PodEntry, ensure_worker};

/// How often the directory is read.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// What a file gave the last time it was read, and how it looked then.
struct Cached {
    stamp: (u64, i128, u64),
    pods: Result<Vec<Value>, String>,
}

/// The file source: what each manifest gave, re-read when it changes.
#[derive(Default)]
pub(crate) struct Manifests {
    cache: HashMap<PathBuf, Cached>,
    /// Problems found by the last scan (each is reported when it appears,
    /// not every second; one that goes away and comes back is reported again).
    reported: HashSet<String>,
    /// Problems found by the scan in progress.
    current: HashSet<String>,
}

impl Manifests {
    /// Read `dir`: the static pods its files give now, by UID. Files that
    /// fail give nothing (their previous pods stop, as in kubelet, where a
    /// file that no longer decodes is a file without pods).
    pub(crate) fn scan<R: RuntimeService>(&mut self, ctx: &Ctx<R>, dir: &Path) -> BTreeMap<String, Value> {
        let node = &ctx.cfg.settings.node_name;
        self.current.clear();
        let mut files: Vec<(PathBuf, std::fs::Metadata)> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .filter_map(|e| Some((e.path(), std::fs::metadata(e.path()).ok()?)))
                .filter(|(_, m)| m.is_file())
                .collect(),
            Err(e) => {
                self.report(ctx, format!("reading the manifest directory {}: {e}", dir.display()));
                Vec::new()
            }
        };
        files.sort_by(|a, b| a.0.cmp(&b.0));
        self.cache.retain(|p, _| files.iter().any(|(f, _)| f == p));
        let mut out = BTreeMap::new();
        let mut names: HashMap<String, PathBuf> = HashMap::new();
        for (path, meta) in files {
            use std::os::unix::fs::MetadataExt;
            let stamp =
                (meta.ino(), i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()), meta.size());
            let fresh = self.cache.get(&path).is_none_or(|c| c.stamp != stamp);
            if fresh {
                let source = path.display().to_string();
                let pods = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{source}: {e}"))
                    .and_then(|text| decode_manifest(&text, &source, node).map_err(|e| e.to_string()));
                self.cache.insert(path.clone(), Cached { stamp, pods });
            }
            let pods = match &self.cache[&path].pods {
                Ok(p) => p.clone(),
                Err(e) => {
                    let e = format!("static pod manifest refused: {e}");
                    self.report(ctx, e);
                    continue;
                }
            };
            for p in pods {
                let full = full_name(&p);
                if let Some(first) = names.get(&full) {
                    let msg = format!(
                        "static pod manifest {}: pod {full} is already defined in {}; ignored",
                        path.display(),
                        first.display()
                    );
                    self.report(ctx, msg);
                    continue;
                }
                names.insert(full, path.clone());
                let uid = p.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_owned();
                out.insert(uid, p);
            }
        }
        std::mem::swap(&mut self.reported, &mut self.current);
        out
    }

    /// Log a problem once, and record it as a Warning event on the Node.
    fn report<R: RuntimeService>(&mut self, ctx: &Ctx<R>, msg: String) {
        let new = !self.reported.contains(&msg);
        self.current.insert(msg.clone());
        if !new {
            return;
        }
        tracing::warn!("{msg}");
        let node = &ctx.cfg.settings.node_name;
        let on = InvolvedObject {
            kind: "Node".into(),
            namespace: String::new(),
            name: node.clone(),
            uid: node.clone(),
            field_path: String::new(),
        };
        ctx.events.record_from("kubelet", &on, EventType::Warning, "FailedStaticPod", &msg);
    }
}

fn full_name(p: &Value) -> String {
    let s = |k: &str| p.pointer(k).and_then(Value::as_str).unwrap_or("").to_owned();
    format!("{}/{}", s("/metadata/namespace"), s("/metadata/name"))
}

/// Make the node's static pods what the directory says: new ones start,
/// vanished ones stop. Returns the UIDs whose workers need a sync.
pub(crate) fn reconcile<R: RuntimeService>(ctx: &Ctx<R>, desired: BTreeMap<String, Value>) -> Vec<String> {
    let now = ctx.clock.now();
    let mut poke = Vec::new();
    let mut gone_mirrors = Vec::new();
    {
        let mut pods = ctx.pods.lock().expect("lock");
        for (uid, e) in pods.iter_mut().filter(|(_, e)| e.from_file) {
            if desired.contains_key(uid) || e.obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
                continue;
            }
            // Stopped as a deleted API pod is: its own grace period.
            let grace = e.obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
            let mut obj = e.obj.as_ref().clone();
            let at = now.checked_add(jiff::SignedDuration::from_secs(grace)).unwrap_or(now);
            obj["metadata"]["deletionTimestamp"] = json!(whole_seconds(at).to_string());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            gone_mirrors.push((full_name(&obj), uid.clone()));
            e.obj = Arc::new(obj);
            poke.push(uid.clone());
        }
        for (uid, mut obj) in desired {
            if pods.contains_key(&uid) {
                continue;
            }
            obj["metadata"]["annotations"][CONFIG_SEEN_ANNOTATION] = json!(now.to_string());
            tracing::info!(pod = %full_name(&obj), %uid, "static pod added");
            pods.insert(uid.clone(), PodEntry { obj: Arc::new(obj), deleted: false, from_file: true });
            poke.push(uid);
        }
    }
    for (full, uid) in gone_mirrors {
        tracing::info!(pod = %full, %uid, "static pod removed");
        let (ns, name) = full.split_once('/').unwrap_or(("", &full));
        delete_mirror(ctx, &ObjKey::new("pods", ns, name), &uid);
    }
    poke
}

/// Follow the manifest directory until the node stops.
pub(crate) async fn source_loop<R: RuntimeService>(ctx: Arc<Ctx<R>>, dir: PathBuf, mut m: Manifests) {
    loop {
        tokio::time::sleep(SCAN_EVERY).await;
        if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let desired = m.scan(&ctx, &dir);
        for uid in reconcile(&ctx, desired) {
            ensure_worker(&ctx, &uid);
        }
    }
}

/// Delete the mirror pod under `key` if it stands for static pod `uid`.
pub(crate) fn delete_mirror<R: RuntimeService>(ctx: &Ctx<R>, key: &ObjKey, uid: &str) {
    let Some(cur) = ctx.store.get(key) else { return };
    if mirror_of(&cur) == Some(uid) {
        delete_this(ctx, key, &cur);
    }
}

/// Delete `obj`, stored under `key`, and no other object that has taken its
/// name since (a UID precondition).
fn delete_this<R: RuntimeService>(ctx: &Ctx<R>, key: &ObjKey, obj: &Value) {
    let api_uid = obj.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_owned);
    let _ = ctx.store.delete(key, &Preconditions { uid: api_uid, resource_version: None });
}

/// Before a static pod's sync: `Some(wait)` while an older static pod of
/// the same name is still stopping; otherwise fill in the status its mirror
/// pod holds (the sync computes transitions from it) and make sure the
/// mirror pod exists and is current (unless the static pod is stopping).
pub(crate) fn prepare_sync<R: RuntimeService>(ctx: &Ctx<R>, pod: &mut Pod, uid: &str) -> Option<Duration> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let terminating = pod.metadata.deletion_timestamp.is_some();
    if !terminating {
        let older = ctx.pods.lock().expect("lock").iter().any(|(u, e)| {
            u != uid
                && e.from_file
                && e.obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns.as_str())
                && e.obj.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str())
        });
        if older {
            return Some(Duration::from_millis(200));
        }
    }
    let key = ObjKey::new("pods", &ns, &name);
    let cur = ctx.store.get(&key);
    if let Some(c) = cur.as_ref().filter(|c| mirror_of(c) == Some(uid))
        && let Some(st) = c.get("status")
    {
        pod.status = serde_json::from_value(st.clone()).ok();
    }
    if !terminating {
        ensure_mirror(ctx, &key, uid, cur.as_deref());
    }
    None
}

/// Create the mirror pod, or replace one that is being deleted or stands
/// for another version of the manifest (kubelet's syncPod does the same).
fn ensure_mirror<R: RuntimeService>(ctx: &Ctx<R>, key: &ObjKey, uid: &str, cur: Option<&Value>) {
    if let Some(c) = cur {
        let deleting = c.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
        match mirror_of(c) {
            Some(u) if u == uid && !deleting => return,
            Some(_) => {
                tracing::info!(pod = %format!("{}/{}", key.namespace, key.name), "replacing the mirror pod");
                delete_this(ctx, key, c);
            }
            None => {
                note_mirror_problem(
                    ctx,
                    uid,
                    format!(
                        "static pod {}/{}: a pod of that name that is not its mirror exists; no mirror pod is created",
                        key.namespace, key.name
                    ),
                );
                return;
            }
        }
    }
    if ctx.store.get(&ObjKey::new("namespaces", "", &key.namespace)).is_none() {
        note_mirror_problem(
            ctx,
            uid,
            format!(
                "static pod {}/{}: namespace {:?} does not exist; no mirror pod is created",
                key.namespace, key.name, key.namespace
            ),
        );
        return;
    }
    let Some(entry) = ctx.pods.lock().expect("lock").get(uid).map(|e| e.obj.clone()) else { return };
    let node_uid = ctx
        .store
        .get(&ObjKey::new("nodes", "", &ctx.cfg.settings.node_name))
        .and_then(|n| n.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_owned));
    let now = whole_seconds(ctx.clock.now());
    let mirror = mirror_pod(&entry, &uuid::Uuid::new_v4().to_string(), &now.to_string(), node_uid.as_deref());
    if let Err(e) = ctx.store.create(key, mirror) {
        note_mirror_problem(
            ctx,
            uid,
            format!("static pod {}/{}: creating the mirror pod: {e}", key.namespace, key.name),
        );
    }
}

/// Log a mirror problem once per static pod and problem.
fn note_mirror_problem<R: RuntimeService>(ctx: &Ctx<R>, uid: &str, msg: String) {
    let mut st = ctx.state.lock().expect("lock");
    let ws = st.entry(uid.to_owned()).or_default();
    if ws.mirror_problem.as_deref() != Some(msg.as_str()) {
        tracing::warn!("{msg}");
        ws.mirror_problem = Some(msg);
    }
}

/// A store event about a mirror pod: a deleted (or deleting) mirror of a
/// static pod this node runs is recreated by that pod's worker; a mirror
/// pod of no static pod here is deleted (kubelet deletes orphaned mirror
/// pods). Returns the static pod to sync, if any.
pub(crate) fn on_mirror_event<R: RuntimeService>(ctx: &Ctx<R>, obj: &Value, deleted: bool) -> Option<String> {
    let uid = mirror_of(obj)?.to_owned();
    let known = ctx.pods.lock().expect("lock").get(&uid).is_some_and(|e| e.from_file);
    let deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    if known {
        return (deleted || deleting).then_some(uid);
    }
    if !deleted {
        delete_orphan(ctx, obj);
    }
    None
}

/// Delete a mirror pod whose static pod this node doesn't have.
pub(crate) fn delete_orphan<R: RuntimeService>(ctx: &Ctx<R>, obj: &Value) {
    let s = |k: &str| obj.pointer(k).and_then(Value::as_str).unwrap_or("").to_owned();
    tracing::info!(pod = %format!("{}/{}", s("/metadata/namespace"), s("/metadata/name")), "deleting an orphaned mirror pod");
    delete_this(ctx, &ObjKey::new("pods", s("/metadata/namespace"), s("/metadata/name")), obj);
}
