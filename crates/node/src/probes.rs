//! Liveness, readiness and startup probes, kubelet's prober manager.
//!
//! Each probe of each running container instance has its own worker task
//! with its own timer; no probe ever runs inside a pod sync. A sync only
//! starts workers for newly running instances and stops the ones whose
//! instance is gone (`sync_workers`). Workers keep their verdicts in the
//! `ProbeManager`; when a verdict changes they poke the pod's worker
//! (`crate::ensure_worker`), whose next sync reads them: the planner kills
//! containers that failed liveness or startup, the status marks containers
//! started/ready.
//!
//! Semantics follow kubelet's `prober/worker.go`:
//! - the first probe runs `initialDelaySeconds` after the container started
//!   (measured on the injected clock), then every `periodSeconds`;
//! - a verdict changes only after `successThreshold` / `failureThreshold`
//!   consecutive equal results; readiness starts as "not ready", liveness as
//!   "alive", startup as "unknown";
//! - liveness and readiness wait until the startup probe has succeeded;
//!   a startup verdict (either way) and a liveness failure end the worker
//!   ("on hold" until a new instance, which gets new workers);
//! - every failed attempt records an `Unhealthy` event ("Liveness probe
//!   failed: <output>"); a probe that could not run ("errored") keeps the
//!   previous verdict; an HTTP redirect to another host is a success with a
//!   `ProbeWarning` event.
//!
//! Handlers connect to the pod IP from the host, like kubelet (see `net`).

pub mod grpc;
pub mod http;
pub mod net;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use peapod_runtime::{ContainerState, PodSandboxStatus, RuntimeService};

use crate::Ctx;
use crate::events::{EventType, Reason};
use crate::plan::{Observed, ProbeVerdicts, app_containers, init_containers, is_sidecar};
use crate::status::go_duration;
use net::Target;

/// Most output of an exec probe kept (kubelet's maxReadLength).
const MAX_OUTPUT: usize = 10 * 1024;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeType {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeType {
    pub const ALL: [ProbeType; 3] = [ProbeType::Startup, ProbeType::Liveness, ProbeType::Readiness];

    /// As kubelet's events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeType::Startup => "Startup",
            ProbeType::Liveness => "Liveness",
            ProbeType::Readiness => "Readiness",
        }
    }

    /// The container's probe of this type.
    pub fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            ProbeType::Startup => c.startup_probe.as_ref(),
            ProbeType::Liveness => c.liveness_probe.as_ref(),
            ProbeType::Readiness => c.readiness_probe.as_ref(),
        }
    }
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success(String),
    /// A success worth a `ProbeWarning` event (a redirect to another host).
    Warning(String),
    Failure(String),
    /// The probe could not run; the verdict stays as it was.
    Error(String),
}

/// A probe's settings with kubelet's defaults (and minimums) applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Settings {
    pub fn of(p: &Probe) -> Settings {
        let secs = |v: Option<i32>, default: i32, min: i32| Duration::from_secs(v.unwrap_or(default).max(min) as u64);
        Settings {
            initial_delay: secs(p.initial_delay_seconds, 0, 0),
            period: secs(p.period_seconds, 10, 1),
            timeout: secs(p.timeout_seconds, 1, 1),
            success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// Consecutive equal results (kubelet's lastResult/resultRun).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultRun {
    last: Option<bool>,
    run: u32,
}

impl ResultRun {
    /// Count one result; returns the verdict once its threshold is met.
    pub fn record(&mut self, ok: bool, s: &Settings) -> Option<bool> {
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let needed = if ok { s.success_threshold } else { s.failure_threshold };
        (self.run >= needed).then_some(ok)
    }
}

/// When a new worker probes first: after what is left of the initial
/// delay; a container that has run for longer than a period already (the
/// daemon restarted) gets a spread-out start instead, so a hundred pods do
/// not probe in one burst (kubelet sleeps a random part of the period).
pub fn first_wait(s: &Settings, running_for: Duration, spread_key: &str) -> Duration {
    if running_for < s.initial_delay {
        return s.initial_delay - running_for;
    }
    if running_for <= s.period {
        return Duration::ZERO;
    }
    let h = spread_key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let period_ms = s.period.as_millis().max(1) as u64;
    Duration::from_millis(h % period_ms)
}

/// Verdicts of one container instance.
#[derive(Debug, Default)]
struct Verdicts {
    uid: String,
    liveness: Option<bool>,
    readiness: Option<bool>,
    startup: Option<bool>,
    /// Wakes the instance's liveness/readiness workers when startup succeeds.
    wake: Arc<Notify>,
}

impl Verdicts {
    fn slot(&mut self, t: ProbeType) -> &mut Option<bool> {
        match t {
            ProbeType::Startup => &mut self.startup,
            ProbeType::Liveness => &mut self.liveness,
            ProbeType::Readiness => &mut self.readiness,
        }
    }
}

#[derive(Debug, Default)]
struct ManagerState {
    /// (pod uid, container id, probe) → its worker.
    workers: HashMap<(String, String, ProbeType), AbortHandle>,
    /// Container id → verdicts.
    verdicts: HashMap<String, Verdicts>,
}

/// Probe workers and their verdicts, for every pod of the node.
#[derive(Debug, Default)]
pub struct ProbeManager {
    state: Mutex<ManagerState>,
}

/// What the status needs: verdicts by container id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeStatus {
    pub readiness: HashMap<String, bool>,
    pub startup: HashMap<String, bool>,
}

impl ProbeManager {
    /// The liveness/startup verdicts of pod `uid`'s containers, for the planner.
    pub fn verdicts(&self, uid: &str) -> ProbeVerdicts {
        let st = self.state.lock().expect("lock");
        let mut f = ProbeVerdicts::default();
        for (id, v) in st.verdicts.iter().filter(|(_, v)| v.uid == uid) {
            if v.liveness == Some(false) {
                f.liveness.insert(id.clone());
            }
            if v.startup == Some(false) {
                f.startup.insert(id.clone());
            }
            if v.startup == Some(true) {
                f.started.insert(id.clone());
            }
        }
        f
    }

    /// Readiness and startup verdicts of pod `uid`.
    pub fn status(&self, uid: &str) -> ProbeStatus {
        let st = self.state.lock().expect("lock");
        let mut out = ProbeStatus::default();
        for (id, v) in st.verdicts.iter().filter(|(_, v)| v.uid == uid) {
            if let Some(r) = v.readiness {
                out.readiness.insert(id.clone(), r);
            }
            if let Some(s) = v.startup {
                out.startup.insert(id.clone(), s);
            }
        }
        out
    }

    fn get(&self, id: &str, t: ProbeType) -> Option<bool> {
        let mut st = self.state.lock().expect("lock");
        st.verdicts.get_mut(id).and_then(|v| *v.slot(t))
    }

    /// Set a verdict; true when it changed.
    fn set(&self, id: &str, t: ProbeType, value: bool) -> bool {
        let mut st = self.state.lock().expect("lock");
        let Some(v) = st.verdicts.get_mut(id) else { return false };
        let slot = v.slot(t);
        let changed = *slot != Some(value);
        *slot = Some(value);
        if t == ProbeType::Startup && value {
            v.wake.notify_waiters();
        }
        changed
    }

    /// Stop every worker of the pod and forget its verdicts.
    pub fn forget_pod(&self, uid: &str) {
        let mut st = self.state.lock().expect("lock");
        st.workers.retain(|(u, _, _), h| {
            if u == uid {
                h.abort();
            }
            u != uid
        });
        st.verdicts.retain(|_, v| v.uid != uid);
    }
}

/// Everything a worker needs, fixed for the instance's life.
#[derive(Debug, Clone)]
struct WorkerSpec {
    pod: Arc<Pod>,
    container: Container,
    probe: Probe,
    kind: ProbeType,
    id: String,
    started_at: Timestamp,
    target: Target,
}

/// Where a sandbox's handlers connect.
pub fn target_of(sandbox: &PodSandboxStatus, host_ip: &str) -> Target {
    Target {
        pod_ip: if sandbox.host_network { Some(host_ip.to_owned()) } else { sandbox.ips.first().cloned() },
        netns: sandbox.netns_path.clone(),
    }
}

/// Start workers for the pod's running instances that have probes, stop
/// those whose instance is no longer running. Cheap; called after each sync.
pub(crate) fn sync_workers<R: RuntimeService>(ctx: &Arc<Ctx<R>>, pod: &Pod, observed: &Observed) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut want: Vec<WorkerSpec> = Vec::new();
    if let Some(sb) = observed.ready_sandbox() {
        let target = target_of(sb, &ctx.cfg.settings.host_ip);
        let pod_arc = Arc::new(pod.clone());
        let probed = init_containers(pod).iter().filter(|c| is_sidecar(c)).chain(app_containers(pod));
        for c in probed {
            let Some(inst) = observed.latest_in(&c.name, &sb.id).filter(|i| i.state == ContainerState::Running) else {
                continue;
            };
            for kind in ProbeType::ALL {
                if let Some(p) = kind.of(c) {
                    want.push(WorkerSpec {
                        pod: pod_arc.clone(),
                        container: c.clone(),
                        probe: p.clone(),
                        kind,
                        id: inst.id.clone(),
                        started_at: inst.started_at.unwrap_or_else(|| ctx.clock.now()),
                        target: target.clone(),
                    });
                }
            }
        }
    }
    let keep: HashSet<(String, ProbeType)> = want.iter().map(|w| (w.id.clone(), w.kind)).collect();
    let ids: HashSet<&str> = want.iter().map(|w| w.id.as_str()).collect();
    let mut st = ctx.probes.state.lock().expect("lock");
    st.workers.retain(|(u, id, kind), h| {
        let stay = u != &uid || keep.contains(&(id.clone(), *kind));
        if !stay {
            h.abort();
        }
        stay
    });
    st.verdicts.retain(|id, v| v.uid != uid || ids.contains(id.as_str()));
    for w in want {
        let key = (uid.clone(), w.id.clone(), w.kind);
        if st.workers.contains_key(&key) {
            continue;
        }
        let v = st.verdicts.entry(w.id.clone()).or_insert_with(|| Verdicts { uid: uid.clone(), ..Default::default() });
        // kubelet's initial values: not ready until proven; alive until proven otherwise.
        if w.kind == ProbeType::Readiness && v.readiness.is_none() {
            v.readiness = Some(false);
        }
        let wake = v.wake.clone();
        let handle = tokio::spawn(worker(ctx.clone(), w, wake));
        st.workers.insert(key, handle.abort_handle());
    }
}

/// A report from the probe loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// One attempt's outcome (events).
    Attempt(Outcome),
    /// The verdict after thresholds.
    Verdict(bool),
}

/// The probe loop, apart from what a probe is and where reports go, so its
/// timing can be tested on a paused clock. `gate` says whether probing is
/// allowed now (startup gating); `wake` cuts a period short.
pub async fn run_loop<P, F>(
    first: Duration,
    s: Settings,
    kind: ProbeType,
    gate: impl Fn() -> bool,
    wake: Arc<Notify>,
    mut probe: P,
    mut report: impl FnMut(Report),
) where
    P: FnMut() -> F,
    F: Future<Output = Outcome>,
{
    tokio::time::sleep(first).await;
    let mut run = ResultRun::default();
    loop {
        if gate() {
            let out = probe().await;
            let ok = match &out {
                Outcome::Success(_) | Outcome::Warning(_) => Some(true),
                Outcome::Failure(_) => Some(false),
                Outcome::Error(_) => None,
            };
            report(Report::Attempt(out));
            if let Some(v) = ok.and_then(|ok| run.record(ok, &s)) {
                report(Report::Verdict(v));
                // On hold until a new instance: a dead container is not probed again.
                if kind == ProbeType::Startup || (kind == ProbeType::Liveness && !v) {
                    return;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(s.period) => {}
            _ = wake.notified() => {}
        }
    }
}

async fn worker<R: RuntimeService>(ctx: Arc<Ctx<R>>, w: WorkerSpec, wake: Arc<Notify>) {
    let s = Settings::of(&w.probe);
    let running_for = Duration::try_from(ctx.clock.now().duration_since(w.started_at)).unwrap_or_default();
    let first = first_wait(&s, running_for, &w.id);
    let uid = w.pod.metadata.uid.clone().unwrap_or_default();
    let gated = w.kind != ProbeType::Startup && w.container.startup_probe.is_some();
    let gate = || !gated || ctx.probes.get(&w.id, ProbeType::Startup) == Some(true);
    let probe = || run_probe(&ctx, &w, s.timeout);
    let report = |r: Report| match r {
        Report::Attempt(out) => record_event(&ctx, &w, &out),
        Report::Verdict(v) => {
            if ctx.probes.set(&w.id, w.kind, v) {
                tracing::debug!(pod = %uid, container = %w.container.name, probe = w.kind.as_str(), verdict = v, "probe verdict changed");
                crate::ensure_worker(&ctx, &uid);
            }
        }
    };
    run_loop(first, s, w.kind, gate, wake, probe, report).await;
}

fn record_event<R: RuntimeService>(ctx: &Ctx<R>, w: &WorkerSpec, out: &Outcome) {
    let (reason, msg) = match out {
        Outcome::Success(_) => return,
        Outcome::Warning(o) => (Reason::ProbeWarning, format!("{} probe warning: {o}", w.kind.as_str())),
        Outcome::Failure(o) => (Reason::Unhealthy, format!("{} probe failed: {o}", w.kind.as_str())),
        Outcome::Error(e) => {
            (Reason::Unhealthy, format!("{} probe errored and resulted in unknown state: {e}", w.kind.as_str()))
        }
    };
    let obj = crate::sync::involved(&w.pod, &crate::sync::field_path(&w.pod, &w.container.name));
    ctx.events.record(&obj, EventType::Warning, reason, &msg);
}

/// A handler's port: a number, the name of one of the container's ports, or
/// a number written as a string (kubelet's ResolveContainerPort).
pub fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    let n = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            match c.ports.iter().flatten().find(|p| p.name.as_deref() == Some(name.as_str())) {
                Some(p) => i64::from(p.container_port),
                None => name.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {name:?}: invalid syntax"))?,
            }
        }
    };
    if (1..65536).contains(&n) { Ok(n as u16) } else { Err(format!("invalid port number: {n}")) }
}

/// An exec handler's command with `$(VAR)` expanded from the container's
/// plain `env` values only (kubelet's ExpandContainerCommandOnlyStatic).
pub fn static_command(cmd: &[String], c: &Container) -> Vec<String> {
    let env: HashMap<&str, &str> =
        c.env.iter().flatten().filter_map(|e| e.value.as_deref().map(|v| (e.name.as_str(), v))).collect();
    cmd.iter().map(|a| peapod_api::expand::expand(a, |n| env.get(n).map(|v| v.to_string()))).collect()
}

/// Combined stdout and stderr, at most 10 KiB.
pub fn combined_output(stdout: &[u8], stderr: &[u8]) -> String {
    let mut out = stdout.to_vec();
    out.extend_from_slice(stderr);
    out.truncate(MAX_OUTPUT);
    String::from_utf8_lossy(&out).into_owned()
}

/// Run one attempt of the worker's probe.
async fn run_probe<R: RuntimeService>(ctx: &Ctx<R>, w: &WorkerSpec, timeout: Duration) -> Outcome {
    let p = &w.probe;
    if let Some(e) = &p.exec {
        let cmd = static_command(e.command.as_deref().unwrap_or(&[]), &w.container);
        return match ctx.runtime.exec_sync(&w.id, &cmd, timeout).await {
            Ok(r) if r.timed_out => Outcome::Failure(format!(
                "command timed out: \"{}\" timed out after {}",
                cmd.join(" "),
                go_duration(timeout)
            )),
            Ok(r) if r.exit_code == 0 => Outcome::Success(combined_output(&r.stdout, &r.stderr)),
            Ok(r) => Outcome::Failure(combined_output(&r.stdout, &r.stderr)),
            Err(e) => Outcome::Error(e.to_string()),
        };
    }
    if let Some(h) = &p.http_get {
        let port = match resolve_port(&h.port, &w.container) {
            Ok(p) => p,
            Err(e) => return Outcome::Error(e),
        };
        let req = http::HttpGet {
            https: h.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("https")),
            host: h.host.clone(),
            port,
            path: h.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into()),
            headers: h.http_headers.iter().flatten().map(|x| (x.name.clone(), x.value.clone())).collect(),
        };
        return match http::get(&w.target, &req, "probe", timeout).await {
            Ok(r) if (200..300).contains(&r.status) => Outcome::Success(r.body),
            Ok(r) if (300..400).contains(&r.status) => {
                Outcome::Warning(format!("Probe terminated redirects, Response body: {}", r.body))
            }
            Ok(r) => Outcome::Failure(format!("HTTP probe failed with statuscode: {}", r.status)),
            Err(e) => Outcome::Failure(e),
        };
    }
    if let Some(t) = &p.tcp_socket {
        let port = match resolve_port(&t.port, &w.container) {
            Ok(p) => p,
            Err(e) => return Outcome::Error(e),
        };
        let dest = match w.target.dest(t.host.as_deref()) {
            Ok(d) => d,
            Err(e) => return Outcome::Failure(e.to_string()),
        };
        return match net::connect(&dest, port, timeout).await {
            Ok(_) => Outcome::Success(String::new()),
            Err(e) => Outcome::Failure(e.to_string()),
        };
    }
    if let Some(g) = &p.grpc {
        let Ok(port) = u16::try_from(g.port) else { return Outcome::Error(format!("invalid port number: {}", g.port)) };
        return match grpc::check(&w.target, port, g.service.as_deref().unwrap_or(""), timeout).await {
            Ok(o) => Outcome::Success(o),
            Err(o) => Outcome::Failure(o),
        };
    }
    Outcome::Error(format!("missing probe handler for container {}", w.container.name))
}

#[cfg(test)]
mod tests;
