//! The executor: one sync of one pod. Observe, plan (pure), act in kubelet's
//! order, observe again, write the status. Terminating pods are stopped
//! gracefully and then removed from the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::Value;

use peapod_runtime::{ContainerState, PodSandboxConfig, RuntimeService, SandboxState};
use peapod_store::{Mutation, ObjKey, Preconditions};

use crate::env::{EnvContext, merge_with_image, pod_env};
use crate::events::{EventType, InvolvedObject, Reason};
use crate::plan::{
    Kind, Observed, PodActions, app_containers, backoff_key, compute_pod_actions, init_containers, is_sidecar,
};
use crate::podconfig::{ContainerInputs, container_config, pod_dir, pod_log_dir, sandbox_config};
use crate::status::{StatusInput, Waiting, compute_status};
use crate::{Ctx, PodEntry};

/// kubelet's minimum grace period when killing a container.
const MIN_GRACE_SECONDS: i64 = 2;

pub(crate) fn involved(pod: &Pod, field_path: &str) -> InvolvedObject {
    let m = &pod.metadata;
    InvolvedObject {
        kind: "Pod".into(),
        namespace: m.namespace.clone().unwrap_or_default(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        field_path: field_path.into(),
    }
}

pub(crate) fn field_path(pod: &Pod, name: &str) -> String {
    if init_containers(pod).iter().any(|c| c.name == name) {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}

/// Everything the runtime has for this pod.
pub(crate) async fn observe<R: RuntimeService>(ctx: &Ctx<R>, uid: &str) -> Observed {
    let mut sandboxes: Vec<_> = ctx
        .runtime
        .list_pod_sandboxes()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.metadata.uid == uid)
        .collect();
    sandboxes.sort_by(|a, b| b.metadata.attempt.cmp(&a.metadata.attempt).then(b.created_at.cmp(&a.created_at)));
    let ids: HashSet<&str> = sandboxes.iter().map(|s| s.id.as_str()).collect();
    let containers = ctx
        .runtime
        .list_containers()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            ids.contains(c.sandbox_id.as_str())
                || c.labels.get("io.kubernetes.pod.uid").map(String::as_str) == Some(uid)
        })
        .collect();
    Observed { sandboxes, containers }
}

/// One sync. Returns when to sync again, or None when the pod is gone for good.
pub(crate) async fn sync_pod<R: RuntimeService>(ctx: &Arc<Ctx<R>>, uid: &str) -> Option<Duration> {
    let entry: Option<PodEntry> = ctx.pods.lock().expect("lock").get(uid).cloned();
    // No entry: the pod was removed by an earlier sync.
    let entry = entry?;
    let pod: Pod = match serde_json::from_value(entry.obj.as_ref().clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%uid, error = %e, "undecodable pod object");
            return Some(Duration::from_secs(30));
        }
    };
    let observed = observe(ctx, uid).await;
    let terminating = pod.metadata.deletion_timestamp.is_some();
    if entry.deleted || terminating {
        return terminate(ctx, &pod, &observed, !entry.deleted).await;
    }

    {
        let mut st = ctx.state.lock().expect("lock");
        let ws = st.entry(uid.to_owned()).or_default();
        if !ws.scheduled_recorded {
            ws.scheduled_recorded = true;
            if observed.sandboxes.is_empty() {
                let m = &pod.metadata;
                ctx.events.record_from(
                    "default-scheduler",
                    &involved(&pod, ""),
                    EventType::Normal,
                    "Scheduled",
                    &format!(
                        "Successfully assigned {}/{} to {}",
                        m.namespace.as_deref().unwrap_or(""),
                        m.name.as_deref().unwrap_or(""),
                        ctx.cfg.settings.node_name
                    ),
                );
            }
        }
    }

    let now = ctx.clock.now();
    let actions = {
        let b = ctx.backoff.lock().expect("lock");
        compute_pod_actions(&pod, &observed, &b, now)
    };
    let mut requeue = execute(ctx, &pod, &observed, &actions).await;
    for w in &actions.backoff {
        requeue = requeue.min(w.remaining + Duration::from_millis(50));
        let m = &pod.metadata;
        ctx.events.record(
            &involved(&pod, &field_path(&pod, &w.name)),
            EventType::Warning,
            Reason::BackOff,
            &format!(
                "Back-off restarting failed container {} in pod {}_{}({})",
                w.name,
                m.name.as_deref().unwrap_or(""),
                m.namespace.as_deref().unwrap_or(""),
                uid
            ),
        );
    }

    // Status from what is there now.
    let observed = if actions.is_noop() { observed } else { observe(ctx, uid).await };
    write_status(ctx, &pod, &observed, &actions).await;
    ctx.observed.lock().expect("lock").insert(uid.to_owned(), observed);
    Some(requeue.min(ctx.cfg.resync))
}

/// Carry out the plan. Returns the longest it may wait before the next sync.
async fn execute<R: RuntimeService>(ctx: &Arc<Ctx<R>>, pod: &Pod, observed: &Observed, a: &PodActions) -> Duration {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let grace = pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(MIN_GRACE_SECONDS);
    let mut requeue = ctx.cfg.resync;

    if a.kill_pod {
        kill_all(ctx, pod, observed, grace).await;
        for s in observed.sandboxes.iter().filter(|s| s.state == SandboxState::Ready) {
            if let Err(e) = ctx.runtime.stop_pod_sandbox(&s.id).await {
                tracing::warn!(%uid, error = %e, "stopping sandbox");
            }
        }
        // Keep the newest old sandbox (its containers hold logs and exit
        // codes); older ones go with their containers.
        for s in observed.sandboxes.iter().skip(1) {
            let _ = ctx.runtime.remove_pod_sandbox(&s.id).await;
        }
        if a.create_sandbox.is_some() && !observed.sandboxes.is_empty() {
            ctx.events.record(
                &involved(pod, ""),
                EventType::Normal,
                Reason::SandboxChanged,
                "Pod sandbox changed, it will be killed and re-created.",
            );
        }
    }
    if a.terminal {
        return requeue;
    }

    // Volumes: set up (and refreshed on every sync, so ConfigMap changes
    // reach running pods). A failure blocks only containers still to start.
    let needs_start = a.create_sandbox.is_some() || !a.start.is_empty() || !a.start_init.is_empty();
    let vols = {
        let env_ctx = env_context(ctx, observed);
        let dir = pod_dir(&ctx.cfg.settings, &uid);
        tokio::task::block_in_place(|| crate::volumes::setup(pod, &dir, &env_ctx))
    };
    let vols = match vols {
        Ok(v) => v,
        Err(e) => {
            if needs_start {
                ctx.events.record(
                    &involved(pod, ""),
                    EventType::Warning,
                    Reason::FailedMount,
                    &format!("MountVolume.SetUp failed for volume \"{}\" : {}", e.volume, e.message),
                );
                return Duration::from_secs(2);
            }
            tracing::warn!(%uid, volume = %e.volume, error = %e.message, "refreshing a volume");
            HashMap::new()
        }
    };

    let mut sandbox_id = a.sandbox_id.clone();
    let mut sandbox_cfg: Option<PodSandboxConfig> = ctx
        .state
        .lock()
        .expect("lock")
        .get(&uid)
        .and_then(|w| w.sandbox_config.clone())
        .filter(|(id, _)| Some(id) == sandbox_id.as_ref())
        .map(|(_, c)| c);
    if let Some(attempt) = a.create_sandbox {
        let cfg = sandbox_config(pod, attempt, &ctx.cfg.settings);
        match ctx.runtime.run_pod_sandbox(&cfg).await {
            Ok(id) => {
                ctx.state.lock().expect("lock").entry(uid.clone()).or_default().sandbox_config =
                    Some((id.clone(), cfg.clone()));
                sandbox_id = Some(id);
                sandbox_cfg = Some(cfg);
            }
            Err(e) => {
                ctx.events.record(
                    &involved(pod, ""),
                    EventType::Warning,
                    Reason::FailedCreatePodSandBox,
                    &format!("Failed to create pod sandbox: {e}"),
                );
                let key = format!("{uid}/~sandbox");
                let mut b = ctx.backoff.lock().expect("lock");
                let now = ctx.clock.now();
                let wait = b.remaining(&key, now, now).unwrap_or_default();
                b.next(&key, now);
                return wait.max(Duration::from_secs(1));
            }
        }
    }
    let Some(sid) = sandbox_id else { return requeue };
    let sandbox_cfg = sandbox_cfg.unwrap_or_else(|| {
        let attempt = observed.sandboxes.first().map(|s| s.metadata.attempt).unwrap_or(0);
        let cfg = sandbox_config(pod, attempt, &ctx.cfg.settings);
        ctx.state.lock().expect("lock").entry(uid.clone()).or_default().sandbox_config =
            Some((sid.clone(), cfg.clone()));
        cfg
    });

    // Kill what must go before starting replacements.
    let kills = a.kill.iter().map(|k| {
        let ctx = ctx.clone();
        async move {
            ctx.events.record(
                &involved(pod, &field_path(pod, &k.name)),
                EventType::Normal,
                Reason::Killing,
                &format!("Stopping container {}", k.name),
            );
            if let Err(e) = ctx.runtime.stop_container(&k.id, grace).await {
                tracing::warn!(container = %k.id, error = %e, "stopping container");
            }
        }
    });
    join_all(kills).await;

    let start_ctx =
        StartCtx { sandbox_id: &sid, sandbox: &sandbox_cfg, vols: &vols, observed, restarting: &a.restarting };
    // Init containers one at a time, in order; a failure stops the rest.
    for &i in &a.start_init {
        let c = &init_containers(pod)[i];
        if !start_container(ctx, pod, c, Kind::Init, &start_ctx).await {
            requeue = requeue.min(Duration::from_secs(2));
            break;
        }
        if !is_sidecar(c) {
            break;
        }
    }
    // App containers together: they do not depend on each other.
    let starts = a.start.iter().map(|&i| start_container(ctx, pod, &app_containers(pod)[i], Kind::App, &start_ctx));
    if join_all(starts).await.iter().any(|ok| !ok) {
        requeue = requeue.min(Duration::from_secs(2));
    }
    for id in &a.remove {
        let _ = ctx.runtime.remove_container(id).await;
    }
    requeue
}

fn env_context<'a, R: RuntimeService>(ctx: &'a Ctx<R>, observed: &'a Observed) -> EnvContext<'a> {
    let ips: &[String] = observed.ready_sandbox().map(|s| s.ips.as_slice()).unwrap_or(&[]);
    EnvContext {
        store: &ctx.store,
        node_name: &ctx.cfg.settings.node_name,
        host_ip: &ctx.cfg.settings.host_ip,
        pod_ips: ips,
        node_cpu_millis: ctx.cfg.settings.cpu_capacity_millis,
        node_memory_bytes: ctx.cfg.settings.memory_capacity,
    }
}

struct StartCtx<'a> {
    sandbox_id: &'a str,
    sandbox: &'a PodSandboxConfig,
    vols: &'a HashMap<String, std::path::PathBuf>,
    observed: &'a Observed,
    restarting: &'a [String],
}

fn set_waiting<R: RuntimeService>(ctx: &Ctx<R>, uid: &str, name: &str, w: Option<Waiting>) {
    let mut st = ctx.state.lock().expect("lock");
    let ws = st.entry(uid.to_owned()).or_default();
    match w {
        Some(w) => {
            ws.waiting.insert(name.to_owned(), w);
        }
        None => {
            ws.waiting.remove(name);
        }
    }
}

/// Create and start one container; records the waiting reason on failure.
async fn start_container<R: RuntimeService>(
    ctx: &Arc<Ctx<R>>,
    pod: &Pod,
    c: &Container,
    _kind: Kind,
    s: &StartCtx<'_>,
) -> bool {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let fp = field_path(pod, &c.name);
    let latest = s.observed.latest(&c.name);
    let attempt = latest.map(|l| l.metadata.attempt + 1).unwrap_or(0);
    if s.restarting.contains(&c.name)
        && let Some(l) = latest.filter(|l| l.state == ContainerState::Exited)
    {
        let finished = l.finished_at.unwrap_or_else(|| ctx.clock.now());
        ctx.backoff.lock().expect("lock").next(&backoff_key(&uid, &c.name), finished);
    }
    let fail = |w: Waiting| {
        if w.reason != "ImagePullBackOff"
            && w.reason != "ErrImagePull"
            && w.reason != "ErrImageNeverPull"
            && w.reason != "InvalidImageName"
        {
            ctx.events.record(
                &involved(pod, &fp),
                EventType::Warning,
                Reason::Failed,
                &format!("Error: {}", w.message),
            );
        }
        set_waiting(ctx, &uid, &c.name, Some(w));
        false
    };
    let image = match crate::image_pull::ensure_image(ctx, pod, c).await {
        Ok(i) => i,
        Err(w) => return fail(w),
    };
    let env_ctx = EnvContext { pod_ips: &[], ..env_context(ctx, s.observed) };
    let pod_ips: Vec<String> = s.observed.ready_sandbox().map(|x| x.ips.clone()).unwrap_or_default();
    let env_ctx = EnvContext { pod_ips: &pod_ips, ..env_ctx };
    let pod_vars = match pod_env(pod, c, &env_ctx) {
        Ok(v) => v,
        Err(w) => return fail(w),
    };
    let mut env = vec![("HOSTNAME".to_string(), s.sandbox.hostname.clone())];
    env = merge_with_image(
        &env.iter().map(|(k, v)| format!("{k}={v}")).chain(image.config.env.iter().cloned()).collect::<Vec<_>>(),
        &pod_vars,
    );
    let vars: BTreeMap<String, String> = pod_vars.iter().cloned().collect();
    let mounts = match crate::volumes::container_mounts(c, s.vols, &vars) {
        Ok(m) => m,
        Err(w) => return fail(w),
    };
    let cfg = match container_config(
        pod,
        c,
        ContainerInputs { image: &image, env, pod_vars: &pod_vars, mounts, attempt },
        &ctx.cfg.settings,
    ) {
        Ok(c) => c,
        Err(w) => return fail(w),
    };
    let id = match ctx.runtime.create_container(s.sandbox_id, &cfg, s.sandbox).await {
        Ok(id) => id,
        Err(e) => return fail(Waiting { reason: "CreateContainerError".into(), message: e.to_string() }),
    };
    ctx.events.record(
        &involved(pod, &fp),
        EventType::Normal,
        Reason::Created,
        &format!("Created container: {}", c.name),
    );
    if let Err(e) = ctx.runtime.start_container(&id).await {
        let _ = ctx.runtime.remove_container(&id).await;
        return fail(Waiting { reason: "RunContainerError".into(), message: e.to_string() });
    }
    ctx.events.record(
        &involved(pod, &fp),
        EventType::Normal,
        Reason::Started,
        &format!("Started container {}", c.name),
    );
    set_waiting(ctx, &uid, &c.name, None);
    true
}

/// Stop every running container of the pod: app containers (and running
/// regular init containers) first, in parallel; sidecars after them, in
/// reverse order, as kubelet does.
async fn kill_all<R: RuntimeService>(ctx: &Arc<Ctx<R>>, pod: &Pod, observed: &Observed, grace: i64) {
    let sidecars: Vec<&str> = init_containers(pod).iter().filter(|c| is_sidecar(c)).map(|c| c.name.as_str()).collect();
    let live: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Created))
        .collect();
    let stop = |c: &&peapod_runtime::ContainerStatus| {
        let ctx = ctx.clone();
        let (id, name) = (c.id.clone(), c.metadata.name.clone());
        async move {
            ctx.events.record(
                &involved(pod, &field_path(pod, &name)),
                EventType::Normal,
                Reason::Killing,
                &format!("Stopping container {name}"),
            );
            if let Err(e) = ctx.runtime.stop_container(&id, grace).await {
                tracing::warn!(container = %id, error = %e, "stopping container");
            }
        }
    };
    join_all(live.iter().filter(|c| !sidecars.contains(&c.metadata.name.as_str())).map(stop)).await;
    for name in sidecars.iter().rev() {
        join_all(live.iter().filter(|c| c.metadata.name == *name).map(stop)).await;
    }
}

/// A pod being deleted (or gone from the store): stop it gracefully, remove
/// everything it had on this machine, then remove the object.
async fn terminate<R: RuntimeService>(
    ctx: &Arc<Ctx<R>>,
    pod: &Pod,
    observed: &Observed,
    object_exists: bool,
) -> Option<Duration> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let grace = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
        .max(MIN_GRACE_SECONDS);
    let grace = if object_exists { grace } else { MIN_GRACE_SECONDS };
    kill_all(ctx, pod, observed, grace).await;
    let mut ok = true;
    for s in &observed.sandboxes {
        if let Err(e) = ctx.runtime.remove_pod_sandbox(&s.id).await {
            tracing::warn!(%uid, error = %e, "removing sandbox");
            ok = false;
        }
    }
    // Containers whose sandbox record is gone (should not happen, but leave nothing).
    for c in &observed.containers {
        let _ = ctx.runtime.remove_container(&c.id).await;
    }
    let s = &ctx.cfg.settings;
    if let Err(e) = tokio::task::block_in_place(|| crate::volumes::teardown(&pod_dir(s, &uid))) {
        tracing::warn!(%uid, error = %e, "removing volumes");
        ok = false;
    }
    let _ = std::fs::remove_dir_all(pod_log_dir(s, pod));
    if !ok {
        return Some(Duration::from_secs(1));
    }
    ctx.backoff.lock().expect("lock").forget_prefix(&format!("{uid}/"));
    if object_exists {
        let key = ObjKey::new(
            "pods",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or(""),
        );
        match ctx.store.delete(&key, &Preconditions { uid: Some(uid.clone()), resource_version: None }) {
            Ok(_) | Err(peapod_store::StoreError::NotFound { .. }) | Err(peapod_store::StoreError::Conflict { .. }) => {
            }
            Err(e) => {
                tracing::warn!(%uid, error = %e, "removing the pod object");
                return Some(Duration::from_secs(1));
            }
        }
    }
    ctx.pods.lock().expect("lock").remove(&uid);
    None
}

async fn write_status<R: RuntimeService>(ctx: &Ctx<R>, pod: &Pod, observed: &Observed, a: &PodActions) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let waiting = ctx.state.lock().expect("lock").get(&uid).map(|w| w.waiting.clone()).unwrap_or_default();
    let messages = termination_messages(pod, observed);
    let status = compute_status(&StatusInput {
        pod,
        observed,
        waiting: &waiting,
        backoff: &a.backoff,
        host_ip: &ctx.cfg.settings.host_ip,
        now: ctx.clock.now(),
        messages: &messages,
        readiness: &HashMap::new(),
    });
    let Ok(new_status) = serde_json::to_value(&status) else { return };
    let key = ObjKey::new(
        "pods",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or(""),
    );
    let _ = ctx.store.update_with(&key, |cur| -> Result<Mutation, ()> {
        let Some(cur) = cur else { return Ok(Mutation::Unchanged) };
        if cur.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
            return Ok(Mutation::Unchanged);
        }
        // Keep what the API server set that kubelet does not own.
        let mut st = new_status.clone();
        if let (Some(q), Some(m)) = (cur.pointer("/status/qosClass"), st.as_object_mut()) {
            m.insert("qosClass".into(), q.clone());
        }
        if cur.get("status") == Some(&st) {
            return Ok(Mutation::Unchanged);
        }
        let mut obj = cur.clone();
        obj["status"] = st;
        Ok(Mutation::Put(obj))
    });
}

/// terminationMessagePath content of exited containers (kubelet reads it
/// from the file the container wrote; FallbackToLogsOnError uses the log tail).
fn termination_messages(pod: &Pod, observed: &Observed) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for c in observed.containers.iter().filter(|c| c.state == ContainerState::Exited) {
        let spec = init_containers(pod).iter().chain(app_containers(pod)).find(|s| s.name == c.metadata.name);
        let policy = spec.and_then(|s| s.termination_message_policy.as_deref()).unwrap_or("File");
        if let Some(msg) = c.message.clone().filter(|m| !m.is_empty()) {
            out.insert(c.id.clone(), msg);
            continue;
        }
        if policy == "FallbackToLogsOnError"
            && c.exit_code != Some(0)
            && let Ok(text) = std::fs::read_to_string(&c.log_path)
        {
            let lines: Vec<String> = text
                .lines()
                .rev()
                .take(80)
                .filter_map(|l| l.splitn(4, ' ').nth(3).map(str::to_owned))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let mut msg = lines.join("\n");
            if msg.len() > 2048 {
                msg = msg[msg.len() - 2048..].to_owned();
            }
            out.insert(c.id.clone(), msg);
        }
    }
    out
}

/// At start-up: sandboxes of pods the store no longer has (deleted while
/// the daemon was down) are stopped and removed, with their volumes and logs.
pub(crate) async fn cleanup_orphans<R: RuntimeService>(ctx: &Arc<Ctx<R>>, live: &HashSet<String>) {
    let sandboxes = ctx.runtime.list_pod_sandboxes().await.unwrap_or_default();
    let mut orphan_uids = HashSet::new();
    for s in sandboxes.iter().filter(|s| !live.contains(&s.metadata.uid)) {
        tracing::info!(pod = %format!("{}/{}", s.metadata.namespace, s.metadata.name), "removing a pod deleted while the daemon was down");
        let _ = ctx.runtime.remove_pod_sandbox(&s.id).await;
        orphan_uids.insert(s.metadata.uid.clone());
        let dir =
            ctx.cfg.settings.logs_root.join(format!("{}_{}_{}", s.metadata.namespace, s.metadata.name, s.metadata.uid));
        let _ = std::fs::remove_dir_all(dir);
    }
    // Volume directories of pods that no longer exist.
    if let Ok(rd) = std::fs::read_dir(&ctx.cfg.settings.pods_root) {
        for e in rd.flatten() {
            let uid = e.file_name().to_string_lossy().into_owned();
            if !live.contains(&uid) {
                let _ = tokio::task::block_in_place(|| crate::volumes::teardown(&e.path()));
            }
        }
    }
}
