//! Stopping containers and pods, kubelet's killContainer / killPod and the
//! graceful deletion of a pod.
//!
//! One container: a `Killing` event, the preStop hook bounded by the grace
//! period, then the stop signal (the image's STOPSIGNAL or SIGTERM) with
//! what is left of the grace period, never less than kubelet's 2 s, before
//! SIGKILL. A pod: app containers (and running regular init containers) in
//! parallel, then sidecars one by one in reverse order, all against one
//! deadline. A deleted pod: the deadline is its `deletionTimestamp`; if a
//! shorter grace period (or a forced delete) arrives while it stops, the
//! containers still running are stopped again with the shorter one. The
//! object is removed from the store only when everything has stopped and
//! been cleaned up.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use tokio::time::Instant;

use peapod_runtime::{ContainerState, ContainerStatus, RuntimeService};
use peapod_store::{ObjKey, Preconditions};

use super::{MIN_GRACE_SECONDS, field_path, involved, pod_grace, write_status};
use crate::Ctx;
use crate::events::{EventType, Reason};
use crate::plan::{Observed, app_containers, init_containers, is_sidecar};
use crate::podconfig::{pod_dir, pod_log_dir};
use crate::probes::net::Target;
use crate::probes::target_of;
use crate::status::PodOutcome;

/// How often a stopping pod looks for a shorter grace period.
const GRACE_POLL: Duration = Duration::from_millis(250);

/// Whole seconds to wait between the stop signal and SIGKILL: what is left,
/// rounded up, and at least kubelet's minimum.
fn stop_timeout(left: Duration) -> i64 {
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(MIN_GRACE_SECONDS as u64) as i64
}

/// Kill one container instance (kubelet's killContainer).
pub(crate) async fn kill_container<R: RuntimeService>(
    ctx: &Arc<Ctx<R>>,
    pod: &Pod,
    inst: &ContainerStatus,
    message: Option<&str>,
    grace: Duration,
    target: &Target,
) {
    let name = &inst.metadata.name;
    let msg = message.map(str::to_owned).unwrap_or_else(|| format!("Stopping container {name}"));
    ctx.events.record(&involved(pod, &field_path(pod, name)), EventType::Normal, Reason::Killing, &msg);
    let spec = init_containers(pod).iter().chain(app_containers(pod)).find(|c| &c.name == name);
    let mut left = grace;
    if inst.state == ContainerState::Running
        && !grace.is_zero()
        && let Some(c) = spec
    {
        // preStop counts against the grace period.
        left = left.saturating_sub(crate::hooks::pre_stop(ctx, pod, c, &inst.id, target, grace).await);
    }
    if let Err(e) = ctx.runtime.stop_container(&inst.id, stop_timeout(left)).await {
        tracing::warn!(container = %inst.id, error = %e, "stopping container");
        ctx.events.record(
            &involved(pod, &field_path(pod, name)),
            EventType::Warning,
            Reason::FailedKillPod,
            &format!("error killing pod: failed to \"KillContainer\" for \"{name}\": {e}"),
        );
    }
}

/// Stop every live container of the pod by `deadline`: app containers (and
/// running regular init containers) first, in parallel; sidecars after
/// them, in reverse order, as kubelet does.
pub(crate) async fn kill_all<R: RuntimeService>(ctx: &Arc<Ctx<R>>, pod: &Pod, observed: &Observed, deadline: Instant) {
    let sidecars: Vec<&str> = init_containers(pod).iter().filter(|c| is_sidecar(c)).map(|c| c.name.as_str()).collect();
    let target = observed.ready_sandbox().map(|sb| target_of(sb, &ctx.cfg.settings.host_ip)).unwrap_or_default();
    let live: Vec<&ContainerStatus> = observed
        .containers
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Created))
        .collect();
    let left = || deadline.saturating_duration_since(Instant::now());
    let apps = live.iter().filter(|c| !sidecars.contains(&c.metadata.name.as_str()));
    join_all(apps.map(|c| kill_container(ctx, pod, c, None, left(), &target))).await;
    for name in sidecars.iter().rev() {
        let these = live.iter().filter(|c| c.metadata.name == *name);
        join_all(these.map(|c| kill_container(ctx, pod, c, None, left(), &target))).await;
    }
}

/// The deadline by which a deleted pod must have stopped, on the tokio
/// clock: its `deletionTimestamp` (never more than its grace period away),
/// or now for one already gone from the store.
fn deletion_deadline<R: RuntimeService>(ctx: &Ctx<R>, pod: &Pod, object_exists: bool) -> Instant {
    if !object_exists {
        return Instant::now();
    }
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or_else(|| pod_grace(pod)).max(0) as u64;
    let left = pod
        .metadata
        .deletion_timestamp
        .as_ref()
        .and_then(|t| Duration::try_from(t.0.duration_since(ctx.clock.now())).ok())
        .unwrap_or_default()
        .min(Duration::from_secs(grace));
    Instant::now() + left
}

/// Resolves when the pod's current entry asks for an earlier deadline than
/// `current` (a shorter grace period, or a forced delete); returns it.
async fn shorter_deadline<R: RuntimeService>(ctx: &Ctx<R>, uid: &str, current: Instant) -> Instant {
    loop {
        tokio::time::sleep(GRACE_POLL).await;
        let entry = ctx.pods.lock().expect("lock").get(uid).cloned();
        let Some(entry) = entry else { return Instant::now() };
        let pod: Option<Pod> = serde_json::from_value(entry.obj.as_ref().clone()).ok();
        let d = match pod {
            Some(p) => deletion_deadline(ctx, &p, !entry.deleted),
            None => continue,
        };
        if d + Duration::from_millis(500) < current {
            return d;
        }
    }
}

/// Resolves once the pod is being deleted or is gone (cancels a postStart hook).
pub(crate) async fn wait_terminating<R: RuntimeService>(ctx: &Ctx<R>, uid: &str) {
    loop {
        tokio::time::sleep(GRACE_POLL).await;
        let gone =
            ctx.pods.lock().expect("lock").get(uid).is_none_or(|e| {
                e.deleted || e.obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
            });
        if gone {
            return;
        }
    }
}

/// A pod being deleted (or gone from the store): stop it gracefully, remove
/// everything it had on this machine, then remove the object.
pub(crate) async fn terminate<R: RuntimeService>(
    ctx: &Arc<Ctx<R>>,
    pod: &Pod,
    observed: &Observed,
    object_exists: bool,
) -> Option<std::time::Duration> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    // Probes stop with the pod (kubelet keeps liveness quiet during shutdown).
    ctx.probes.forget_pod(&uid);
    let live: Vec<String> = observed
        .containers
        .iter()
        .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Created))
        .map(|c| c.id.clone())
        .collect();
    let mut deadline = deletion_deadline(ctx, pod, object_exists);
    let kill = kill_all(ctx, pod, observed, deadline);
    tokio::pin!(kill);
    loop {
        tokio::select! {
            _ = &mut kill => break,
            d = shorter_deadline(ctx, &uid, deadline) => {
                // Stop again with the shorter grace period; the first stop
                // returns as soon as the container is gone.
                deadline = d;
                let timeout = stop_timeout(deadline.saturating_duration_since(Instant::now()));
                for id in &live {
                    let (ctx, id) = (ctx.clone(), id.clone());
                    tokio::spawn(async move {
                        let _ = ctx.runtime.stop_container(&id, timeout).await;
                    });
                }
            }
        }
    }
    if object_exists && !live.is_empty() {
        // Final container states, terminal phase, before the object goes.
        let after = super::observe(ctx, &uid).await;
        write_status(ctx, pod, &after, &[], PodOutcome::Deleted).await;
    }
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
        // The object of this pod: the pod itself, or a static pod's mirror.
        let api_uid = ctx
            .store
            .get(&key)
            .filter(|cur| peapod_api::static_pod::runtime_uid(cur) == uid)
            .and_then(|cur| cur.pointer("/metadata/uid").and_then(serde_json::Value::as_str).map(str::to_owned));
        let Some(api_uid) = api_uid else {
            ctx.pods.lock().expect("lock").remove(&uid);
            return None;
        };
        match ctx.store.delete(&key, &Preconditions { uid: Some(api_uid), resource_version: None }) {
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

/// At start-up: sandboxes of pods the store no longer has (deleted while
/// the daemon was down) are stopped and removed, with their volumes and logs.
pub(crate) async fn cleanup_orphans<R: RuntimeService>(ctx: &Arc<Ctx<R>>, live: &HashSet<String>) {
    let sandboxes = ctx.runtime.list_pod_sandboxes().await.unwrap_or_default();
    for s in sandboxes.iter().filter(|s| !live.contains(&s.metadata.uid)) {
        tracing::info!(pod = %format!("{}/{}", s.metadata.namespace, s.metadata.name), "removing a pod deleted while the daemon was down");
        let _ = ctx.runtime.remove_pod_sandbox(&s.id).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_timeouts_round_up_and_respect_the_minimum() {
        assert_eq!(stop_timeout(Duration::ZERO), 2);
        assert_eq!(stop_timeout(Duration::from_millis(1500)), 2);
        assert_eq!(stop_timeout(Duration::from_millis(2100)), 3);
        assert_eq!(stop_timeout(Duration::from_secs(30)), 30);
    }
}
