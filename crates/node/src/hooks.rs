//! Lifecycle hooks, kubelet's `lifecycle/handlers.go`.
//!
//! - `postStart` runs right after the container starts, inside the sync that
//!   started it, so the status keeps showing the container as waiting
//!   (`ContainerCreating`) until the hook returns. A failure records a
//!   `FailedPostStartHook` event and the container is killed (its restart
//!   then follows the policy). A pod deleted meanwhile cancels the hook.
//! - `preStop` runs before the stop signal, in the kill path, and counts
//!   against the grace period: the signal is sent when the hook returns or
//!   the grace period is used up, whichever comes first, and what is left of
//!   the grace period (at least kubelet's 2 s) is the wait before SIGKILL.
//!
//! Handlers: `exec` (through the runtime's exec), `httpGet` (to the pod IP,
//! like probes; the status code does not matter, only reaching the server),
//! and `sleep`. Event messages never include handler output (kubelet keeps
//! it out of events so secrets cannot leak); the waiting message does.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use peapod_runtime::RuntimeService;

use crate::Ctx;
use crate::probes::net::Target;
use crate::probes::{combined_output, http, resolve_port};

/// Longest a hook's exec may run when nothing else bounds it.
const UNBOUNDED: Duration = Duration::from_secs(24 * 3600);

/// kubelet's `format.Pod`: "name_namespace(uid)".
pub fn pod_desc(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or(""),
        m.namespace.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    )
}

/// Run handler `h` for container `c` (instance `id`). `Err` is kubelet's
/// failure message. `budget` bounds an exec (the grace period for preStop).
pub(crate) async fn run<R: RuntimeService>(
    ctx: &Ctx<R>,
    pod: &Pod,
    c: &Container,
    id: &str,
    h: &LifecycleHandler,
    target: &Target,
    budget: Option<Duration>,
) -> Result<(), String> {
    if let Some(e) = &h.exec {
        let cmd: Vec<String> = e.command.clone().unwrap_or_default();
        let failed = |err: String, output: &str| {
            format!(
                "Exec lifecycle hook ([{}]) for Container {:?} in Pod {:?} failed - error: {err}, message: {output:?}",
                cmd.join(" "),
                c.name,
                pod_desc(pod)
            )
        };
        return match ctx.runtime.exec_sync(id, &cmd, budget.unwrap_or(UNBOUNDED)).await {
            Ok(r) if r.timed_out => Err(failed(format!("command '{}' timed out", cmd.join(" ")), "")),
            Ok(r) if r.exit_code == 0 => Ok(()),
            Ok(r) => Err(failed(
                format!(
                    "command '{}' exited with {}: {}",
                    cmd.join(" "),
                    r.exit_code,
                    String::from_utf8_lossy(&r.stderr)
                ),
                &combined_output(&r.stdout, &r.stderr),
            )),
            Err(e) => Err(failed(e.to_string(), "")),
        };
    }
    if let Some(g) = &h.http_get {
        let path = g.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
        let failed = |err: String| {
            format!(
                "HTTP lifecycle hook ({path}) for Container {:?} in Pod {:?} failed - error: {err}",
                c.name,
                pod_desc(pod)
            )
        };
        let port = resolve_port(&g.port, c).map_err(failed)?;
        let req = http::HttpGet {
            https: g.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("https")),
            host: g.host.clone(),
            port,
            path: path.clone(),
            headers: g.http_headers.iter().flatten().map(|x| (x.name.clone(), x.value.clone())).collect(),
        };
        // Go's default client has no timeout; the budget (or a day) bounds it here.
        return http::get(target, &req, "lifecycle", budget.unwrap_or(UNBOUNDED)).await.map(|_| ()).map_err(failed);
    }
    if let Some(s) = &h.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64)).await;
        return Ok(());
    }
    // tcpSocket is accepted by the API for compatibility but does nothing as a hook.
    Ok(())
}

/// The preStop hook of container `c`, bounded by `grace`. Returns how long
/// it took (what the grace period has left is the caller's to use).
pub(crate) async fn pre_stop<R: RuntimeService>(
    ctx: &Ctx<R>,
    pod: &Pod,
    c: &Container,
    id: &str,
    target: &Target,
    grace: Duration,
) -> Duration {
    let Some(h) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else {
        return Duration::ZERO;
    };
    let start = tokio::time::Instant::now();
    match tokio::time::timeout(grace, run(ctx, pod, c, id, h, target, Some(grace))).await {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => {
            tracing::info!(container = %c.name, pod = %pod_desc(pod), %msg, "preStop hook failed");
            let obj = crate::sync::involved(pod, &crate::sync::field_path(pod, &c.name));
            ctx.events.record(
                &obj,
                crate::events::EventType::Warning,
                crate::events::Reason::FailedPreStopHook,
                "PreStopHook failed",
            );
        }
        Err(_) => {
            tracing::info!(container = %c.name, pod = %pod_desc(pod), "preStop hook not completed in the grace period")
        }
    }
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_descriptions_match_kubelet() {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = Some("u-1".into());
        assert_eq!(pod_desc(&p), "web_default(u-1)");
    }
}
