//! The executor: one sync of one pod. Observe, plan (pure), report what was
//! observed, act in kubelet's order, observe again, start or stop probe
//! workers, write the status again. (Reporting before acting is kubelet's
//! SyncPod order too: a container's exit reaches the API without waiting
//! for the restart or the sandbox teardown it causes.)
//! Terminating pods are stopped gracefully and then removed from the store
//! (`sync/kill.rs`). A pod the node refuses (a forbidden sysctl) is failed
//! before anything of it is created, as kubelet's admission does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, join_all};
use k8s_openapi::api::core::v1::{Container, Pod};

use peapod_runtime::{ContainerState, PodSandboxConfig, RuntimeService};
use peapod_store::{Mutation, ObjKey};

use crate::env::{EnvContext, merge_with_image, pod_env};
use crate::events::{EventType, InvolvedObject, Reason};
use crate::plan::{
    BackoffWait, Kind, Observed, PodActions, active_deadline, app_containers, backoff_key, compute_pod_actions,
    ephemeral_as_container, ephemeral_containers, init_containers, is_sidecar,
};
use crate::podconfig::{ContainerInputs, container_config, forbidden_sysctl, pod_dir, sandbox_config};
use crate::probes::target_of;
use crate::status::{DEADLINE_MESSAGE, PodOutcome, StatusInput, Waiting, compute_status};
use crate::{Ctx, PodEntry};

mod kill;
mod messages;

pub(crate) use kill::cleanup_orphans;
use kill::{kill_all, kill_container, terminate};

/// kubelet's minimum grace period when killing a container.
const MIN_GRACE_SECONDS: i64 = 2;

/// The pod's own grace period (`terminationGracePeriodSeconds`, default 30).
fn pod_grace(pod: &Pod) -> i64 {
    pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0)
}

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
    } else if ephemeral_containers(pod).iter().any(|c| c.name == name) {
        format!("spec.ephemeralContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}

/// Everything the runtime has for this pod.
pub(crate) async fn observe<R: RuntimeService>(ctx: &Ctx<R>, uid: &str) -> Observed {
    let state = ctx.runtime.list_pod(uid).await.unwrap_or_default();
    let mut sandboxes = state.sandboxes;
    sandboxes.sort_by(|a, b| b.metadata.attempt.cmp(&a.metadata.attempt).then(b.created_at.cmp(&a.created_at)));
    Observed { sandboxes, containers: state.containers }
}

/// One sync. Returns when to sync again, or None when the pod is gone for good.
pub(crate) async fn sync_pod<R: RuntimeService>(ctx: &Arc<Ctx<R>>, uid: &str) -> Option<Duration> {
    let entry: Option<PodEntry> = ctx.pods.lock().expect("lock").get(uid).cloned();
    // No entry: the pod was removed by an earlier sync.
    let entry = entry?;
    let mut pod: Pod = match serde_json::from_value(entry.obj.as_ref().clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%uid, error = %e, "undecodable pod object");
            return Some(Duration::from_secs(30));
        }
    };
    if entry.from_file
        && let Some(wait) = crate::static_pods::prepare_sync(ctx, &mut pod, uid)
    {
        return Some(wait);
    }
    let pod = pod;
    let observed = observe(ctx, uid).await;
    // Publish what was observed before any status is written from it: the
    // API serves logs through this view, and a status naming a container
    // the view does not know yet would send clients to "waiting to start".
    ctx.observed.lock().expect("lock").insert(uid.to_owned(), observed.clone());
    let terminating = pod.metadata.deletion_timestamp.is_some();
    if entry.deleted || terminating {
        return terminate(ctx, &pod, &observed, !entry.deleted).await;
    }

    // Admission, once, before anything of the pod exists (kubelet's canAdmitPod).
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    if matches!(phase, "Failed" | "Succeeded") && observed.sandboxes.is_empty() && observed.containers.is_empty() {
        // Finished (or refused) and nothing left of it: its status is final.
        return Some(ctx.cfg.resync);
    }
    if phase == "Pending"
        && observed.sandboxes.is_empty()
        && observed.containers.is_empty()
        && let Some(message) = forbidden_sysctl(&pod, &ctx.cfg.settings.allowed_unsafe_sysctls)
    {
        ctx.events.record(&involved(&pod, ""), EventType::Warning, Reason::SysctlForbidden, &message);
        let outcome =
            PodOutcome::Rejected { reason: "SysctlForbidden".into(), message: format!("Pod was rejected: {message}") };
        write_status(ctx, &pod, &observed, &[], outcome).await;
        return Some(ctx.cfg.resync);
    }

    {
        let mut st = ctx.state.lock().expect("lock");
        let ws = st.entry(uid.to_owned()).or_default();
        if !ws.scheduled_recorded {
            ws.scheduled_recorded = true;
            // A static pod is nobody's to schedule.
            if observed.sandboxes.is_empty() && !entry.from_file {
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
    let verdicts = ctx.probes.verdicts(uid);
    let actions = {
        let b = ctx.backoff.lock().expect("lock");
        compute_pod_actions(&pod, &observed, &b, &verdicts, now)
    };
    if actions.deadline_exceeded {
        let first = {
            let mut st = ctx.state.lock().expect("lock");
            let ws = st.entry(uid.to_owned()).or_default();
            !std::mem::replace(&mut ws.deadline_recorded, true)
        };
        if first {
            ctx.events.record(&involved(&pod, ""), EventType::Normal, Reason::DeadlineExceeded, DEADLINE_MESSAGE);
        }
    }
    let outcome = if actions.deadline_exceeded { PodOutcome::DeadlineExceeded } else { PodOutcome::Active };
    if !actions.is_noop() {
        // Report what was observed before acting, as kubelet's SyncPod does:
        // an exit reaches the API before the sandbox teardown or the
        // restart, and a pod waiting on a slow start shows ContainerCreating.
        write_status(ctx, &pod, &observed, &actions.backoff, outcome.clone()).await;
    }
    let mut requeue = execute(ctx, &pod, &observed, &actions).await;
    // Come back when the active deadline runs out (counted from the
    // startTime this sync's status sets, on the first sync).
    let deadline = active_deadline(&pod).or_else(|| {
        let secs = pod.spec.as_ref()?.active_deadline_seconds?;
        now.checked_add(jiff::SignedDuration::from_secs(secs)).ok()
    });
    if let Some(d) = deadline.filter(|_| !actions.terminal) {
        let left = Duration::try_from(d.duration_since(now)).unwrap_or_default();
        requeue = requeue.min(left + Duration::from_millis(50));
    }
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

    // Status from what is there now; probes for what runs now.
    let observed = if actions.is_noop() { observed } else { observe(ctx, uid).await };
    crate::probes::sync_workers(ctx, &pod, &observed);
    // Published before the status that is computed from it (see above).
    ctx.observed.lock().expect("lock").insert(uid.to_owned(), observed.clone());
    write_status(ctx, &pod, &observed, &actions.backoff, outcome).await;
    Some(requeue.min(ctx.cfg.resync))
}

/// Carry out the plan. Returns the longest it may wait before the next sync.
async fn execute<R: RuntimeService>(ctx: &Arc<Ctx<R>>, pod: &Pod, observed: &Observed, a: &PodActions) -> Duration {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let grace = pod_grace(pod);
    let mut requeue = ctx.cfg.resync;

    if a.kill_pod {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(grace as u64);
        kill_all(ctx, pod, observed, deadline).await;
        // Every sandbox, not only the ready one: a sandbox whose setup a
        // crash cut short is NotReady but still holds its network namespace.
        for s in &observed.sandboxes {
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
    let needs_start =
        a.create_sandbox.is_some() || !a.start.is_empty() || !a.start_init.is_empty() || !a.start_ephemeral.is_empty();
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
    // When the pod's first containers can be created while its sandbox
    // finishes (see `overlap_sandbox`), this is the finishing: each
    // container waits for it between its create and its start.
    let mut sandbox_ready: Option<SandboxReady> = None;
    if let Some(attempt) = a.create_sandbox {
        match create_sandbox(ctx, pod, attempt, overlap_sandbox(pod, a)).await {
            Ok((id, cfg, ready)) => {
                ctx.state.lock().expect("lock").entry(uid.clone()).or_default().sandbox_config =
                    Some((id.clone(), cfg.clone()));
                sandbox_id = Some(id);
                sandbox_cfg = Some(cfg);
                sandbox_ready = ready;
            }
            Err(e) => return sandbox_failed(ctx, pod, &uid, &e),
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

    // The sandbox as it is now (one created in this sync is not in `observed`):
    // its IPs feed status.podIP env vars, and handlers connect to it.
    let current = match observed.ready_sandbox().filter(|sb| sb.id == sid) {
        Some(sb) => Some(sb.clone()),
        None => ctx.runtime.pod_sandbox_status(&sid).await.ok(),
    };
    let pod_ips: Vec<String> = current.as_ref().map(|sb| sb.ips.clone()).unwrap_or_default();
    let target = current.as_ref().map(|sb| target_of(sb, &ctx.cfg.settings.host_ip)).unwrap_or_default();

    // Kill what must go before starting replacements (preStop hooks run here).
    let kills = a.kill.iter().filter_map(|k| {
        let inst = observed.containers.iter().find(|c| c.id == k.id)?;
        let grace = Duration::from_secs(k.grace.unwrap_or(grace).max(0) as u64);
        Some(kill_container(ctx, pod, inst, Some(&k.reason), grace, &target))
    });
    join_all(kills).await;

    let start_ctx = StartCtx {
        sandbox_id: &sid,
        sandbox: &sandbox_cfg,
        sandbox_ready: sandbox_ready.as_ref(),
        vols: &vols,
        observed,
        restarting: &a.restarting,
        target: &target,
        pod_ips: &pod_ips,
    };
    // Ephemeral containers first, as kubelet does: a pod stuck in its init
    // containers can still be debugged.
    for &i in &a.start_ephemeral {
        let c = ephemeral_as_container(&ephemeral_containers(pod)[i]);
        if !start_container(ctx, pod, &c, Kind::Ephemeral, &start_ctx).await {
            requeue = requeue.min(Duration::from_secs(2));
        }
    }
    // An init container's start can let the next step go (the init
    // container after a sidecar, the app containers after the last one).
    // kubelet learns of it from PLEG's ContainerStarted event; the runtime
    // here reports exits only, so sync again right away instead. Other
    // starts unlock nothing: the status written after this sync shows them.
    let mut started_init = false;
    // Init containers one at a time, in order; a failure stops the rest.
    for &i in &a.start_init {
        let c = &init_containers(pod)[i];
        if !start_container(ctx, pod, c, Kind::Init, &start_ctx).await {
            requeue = requeue.min(Duration::from_secs(2));
            break;
        }
        started_init = true;
        if !is_sidecar(c) {
            break;
        }
    }
    // App containers together: they do not depend on each other.
    let starts = a.start.iter().map(|&i| start_container(ctx, pod, &app_containers(pod)[i], Kind::App, &start_ctx));
    let results = join_all(starts).await;
    if results.iter().any(|ok| !ok) {
        requeue = requeue.min(Duration::from_secs(2));
    }
    for id in &a.remove {
        let _ = ctx.runtime.remove_container(id).await;
    }
    // A sandbox that failed to finish goes, with whatever was created in it,
    // and is reported as run_pod_sandbox's failure is.
    if let Some(ready) = sandbox_ready
        && let Err(e) = ready.await
    {
        if let Err(re) = ctx.runtime.remove_pod_sandbox(&sid).await {
            tracing::warn!(%uid, error = %re, "removing a sandbox that failed to finish");
        }
        return sandbox_failed(ctx, pod, &uid, &e);
    }
    if started_init {
        requeue = Duration::ZERO;
    }
    requeue
}

/// Create the pod's sandbox: whole, or (`overlap`) prepared, with its
/// finishing under way and returned for the containers to wait on. The
/// RuntimeClass is resolved now, once per sandbox (kubelet's
/// createPodSandbox).
async fn create_sandbox<R: RuntimeService>(
    ctx: &Arc<Ctx<R>>,
    pod: &Pod,
    attempt: u32,
    overlap: bool,
) -> Result<(String, PodSandboxConfig, Option<SandboxReady>), String> {
    let handler = crate::runtime_class::runtime_handler(&ctx.store, pod)?;
    let cfg = PodSandboxConfig { runtime_handler: handler, ..sandbox_config(pod, attempt, &ctx.cfg.settings) };
    if !overlap {
        let id = ctx.runtime.run_pod_sandbox(&cfg).await.map_err(|e| e.to_string())?;
        return Ok((id, cfg, None));
    }
    let id = ctx.runtime.prepare_pod_sandbox(&cfg).await.map_err(|e| e.to_string())?;
    let (rt, fid) = (ctx.runtime.clone(), id.clone());
    let finish = async move { rt.finish_pod_sandbox(&fid).await.map_err(|e| e.to_string()) }.boxed().shared();
    // Under way now, whether or not a container waits on it.
    tokio::spawn(finish.clone());
    Ok((id, cfg, Some(finish)))
}

/// A sandbox's finishing, awaited by each container created before it.
type SandboxReady = Shared<BoxFuture<'static, Result<(), String>>>;

/// FailedCreatePodSandBox and the sandbox back-off; returns the wait.
fn sandbox_failed<R: RuntimeService>(ctx: &Arc<Ctx<R>>, pod: &Pod, uid: &str, e: &str) -> Duration {
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
    wait.max(Duration::from_secs(1))
}

/// May the pod's first containers be created while its new sandbox
/// finishes? Not when something must know the sandbox first: the pause's
/// PID namespace (shareProcessNamespace), the pod IP (status.podIP(s) in
/// env, an httpGet handler: postStart, or preStop when a failed postStart
/// kills the container in this sync), or old containers to kill.
fn overlap_sandbox(pod: &Pod, a: &PodActions) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    if spec.share_process_namespace == Some(true) || !a.kill.is_empty() {
        return false;
    }
    let needs_ip = |c: &Container| {
        c.env.iter().flatten().any(|e| {
            e.value_from
                .as_ref()
                .and_then(|v| v.field_ref.as_ref())
                .is_some_and(|f| f.field_path.starts_with("status.podIP"))
        }) || c
            .lifecycle
            .as_ref()
            .is_some_and(|l| [&l.post_start, &l.pre_stop].into_iter().flatten().any(|h| h.http_get.is_some()))
    };
    !spec.containers.iter().chain(spec.init_containers.iter().flatten()).any(needs_ip)
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
    /// A sandbox still finishing: wait for it between create and start.
    sandbox_ready: Option<&'a SandboxReady>,
    vols: &'a HashMap<String, std::path::PathBuf>,
    observed: &'a Observed,
    restarting: &'a [String],
    /// Where the pod's handlers (postStart httpGet) connect.
    target: &'a crate::probes::net::Target,
    /// The sandbox's IPs (status.podIP for env).
    pod_ips: &'a [String],
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
    kind: Kind,
    s: &StartCtx<'_>,
) -> bool {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let fp = field_path(pod, &c.name);
    let latest = s.observed.latest(&c.name);
    let attempt = latest.map(|l| l.metadata.attempt + 1).unwrap_or(0);
    // The back-off counts from the newest instance that exited (kubelet's
    // doBackOff); one killed in this very sync is still running in `observed`.
    let exited = s.observed.instances(&c.name).into_iter().find(|i| i.state == ContainerState::Exited);
    if s.restarting.contains(&c.name)
        && let Some(l) = exited
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
    let env_ctx = EnvContext { pod_ips: s.pod_ips, ..env_context(ctx, s.observed) };
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
    let pid_target = match pid_target(pod, c, kind, s) {
        Ok(t) => t,
        Err(w) => return fail(w),
    };
    let mut cfg = match container_config(
        pod,
        c,
        ContainerInputs { image: &image, env, pod_vars: &pod_vars, mounts, attempt },
        &ctx.cfg.settings,
    ) {
        Ok(c) => c,
        Err(w) => return fail(w),
    };
    cfg.pid_target = pid_target;
    let id = match ctx.runtime.create_container(s.sandbox_id, &cfg, s.sandbox).await {
        Ok(id) => id,
        Err(e) => return fail(Waiting { reason: "CreateContainerError".into(), message: e.to_string() }),
    };
    // Started only in a finished sandbox; a failed one is reported once,
    // by the sync, whose removal of the sandbox takes this container too.
    if let Some(ready) = s.sandbox_ready
        && ready.clone().await.is_err()
    {
        return false;
    }
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
    // postStart: the container is not reported Running until it returns
    // (this sync writes the status only afterwards).
    if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
        let hook = crate::hooks::run(ctx, pod, c, &id, h, s.target, None);
        let result = tokio::select! {
            r = hook => r,
            _ = kill::wait_terminating(ctx, &uid) => Err("container terminated before the postStart hook finished".into()),
        };
        if let Err(msg) = result {
            tracing::info!(%uid, container = %c.name, %msg, "postStart hook failed");
            // The hook's output stays out of the event (it may hold secrets), as in kubelet.
            ctx.events.record(
                &involved(pod, &fp),
                EventType::Warning,
                Reason::FailedPostStartHook,
                "PostStartHook failed",
            );
            if let Ok(st) = ctx.runtime.container_status(&id).await {
                let grace = Duration::from_secs(pod_grace(pod) as u64);
                kill_container(ctx, pod, &st, Some("FailedPostStartHook"), grace, s.target).await;
            }
            set_waiting(ctx, &uid, &c.name, Some(Waiting { reason: "PostStartHookError".into(), message: msg }));
            return false;
        }
    }
    set_waiting(ctx, &uid, &c.name, None);
    true
}

/// The runtime id of the container whose PID namespace an ephemeral
/// container joins (its `targetContainerName`, kubelet's NamespaceMode
/// TARGET); the target must be running in this sandbox.
fn pid_target(pod: &Pod, c: &Container, kind: Kind, s: &StartCtx<'_>) -> Result<Option<String>, Waiting> {
    if kind != Kind::Ephemeral {
        return Ok(None);
    }
    let target = ephemeral_containers(pod)
        .iter()
        .find(|e| e.name == c.name)
        .and_then(|e| e.target_container_name.as_deref())
        .filter(|t| !t.is_empty());
    let Some(target) = target else { return Ok(None) };
    match s.observed.latest_in(target, s.sandbox_id).filter(|i| i.state == ContainerState::Running) {
        Some(inst) => Ok(Some(inst.id.clone())),
        None => Err(Waiting {
            reason: "CreateContainerError".into(),
            message: format!("target container {target:?} is not running"),
        }),
    }
}

/// Compute the pod's status from `observed` and write it if it changed.
pub(crate) async fn write_status<R: RuntimeService>(
    ctx: &Ctx<R>,
    pod: &Pod,
    observed: &Observed,
    backoff: &[BackoffWait],
    outcome: PodOutcome,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let waiting = ctx.state.lock().expect("lock").get(&uid).map(|w| w.waiting.clone()).unwrap_or_default();
    let messages = messages::termination_messages(pod, observed);
    let probes = ctx.probes.status(&uid);
    let status = compute_status(&StatusInput {
        pod,
        observed,
        waiting: &waiting,
        backoff,
        host_ip: &ctx.cfg.settings.host_ip,
        now: ctx.clock.now(),
        messages: &messages,
        readiness: &probes.readiness,
        startup: &probes.startup,
        outcome,
    });
    ctx.metrics.observe_status(&uid, &status, ctx.clock.now());
    let Ok(new_status) = serde_json::to_value(&status) else { return };
    let key = ObjKey::new(
        "pods",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or(""),
    );
    let _ = ctx.store.update_with(&key, |cur| -> Result<Mutation, ()> {
        let Some(cur) = cur else { return Ok(Mutation::Unchanged) };
        // A mirror pod takes the status of the static pod it shows.
        if peapod_api::static_pod::runtime_uid(cur) != uid {
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
