//! The pure planner, kubelet's `computePodActions`: from the pod's spec,
//! what the runtime reports for it and what the probes concluded, decide
//! what to do now. No I/O; the executor in `sync.rs` carries the actions out
//! in a fixed order (kill pod → create sandbox → kill containers → start
//! init → start apps).
//!
//! A container that failed its liveness or startup probe is killed and, unless
//! the policy is Never, started again in the same sync, as kubelet does; the
//! restart back-off then counts from the instance killed before it, so a
//! container that keeps failing its probe ends in CrashLoopBackOff.
//! A pod past its `activeDeadlineSeconds` is terminal: everything is killed.
//!
//! Ephemeral containers (`kubectl debug`) are started once each in the
//! running sandbox, before init containers (so a pod stuck initializing can
//! be debugged), and never again: not after they exit, not in a new sandbox.
//! They take no part in the pod's phase or readiness.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod};
use peapod_runtime::{ContainerState, ContainerStatus, PodSandboxStatus, SandboxState};

use crate::backoff::Backoff;

/// Annotation on every runtime container: the image as the spec wrote it,
/// the restart-relevant field compared on each sync (the pod spec allows
/// no other change).
pub const SPEC_IMAGE_ANNOTATION: &str = "peapod.io/spec-image";

/// What the runtime reports for one pod.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Sandboxes of this pod, newest first.
    pub sandboxes: Vec<PodSandboxStatus>,
    /// Every container instance of this pod (all attempts, all sandboxes).
    pub containers: Vec<ContainerStatus>,
}

impl Observed {
    /// Instances of container `name`, newest attempt first.
    pub fn instances(&self, name: &str) -> Vec<&ContainerStatus> {
        let mut v: Vec<&ContainerStatus> = self.containers.iter().filter(|c| c.metadata.name == name).collect();
        v.sort_by(|a, b| b.metadata.attempt.cmp(&a.metadata.attempt).then(b.created_at.cmp(&a.created_at)));
        v
    }

    pub fn latest(&self, name: &str) -> Option<&ContainerStatus> {
        self.instances(name).into_iter().next()
    }

    /// The latest instance of `name` in sandbox `sid`.
    pub fn latest_in(&self, name: &str, sid: &str) -> Option<&ContainerStatus> {
        self.instances(name).into_iter().find(|c| c.sandbox_id == sid)
    }

    pub fn ready_sandbox(&self) -> Option<&PodSandboxStatus> {
        self.sandboxes.first().filter(|s| s.state == SandboxState::Ready)
    }
}

/// Why a container is being killed (becomes the `Killing` event message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub id: String,
    pub name: String,
    pub reason: String,
    /// A grace period other than the pod's (a probe's `terminationGracePeriodSeconds`).
    pub grace: Option<i64>,
}

/// What the probe workers concluded, by container (runtime id): failed
/// liveness or startup probes (the planner kills those), and passed startup
/// probes (a sidecar holds back the next init container until it has started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeVerdicts {
    pub liveness: HashSet<String>,
    pub startup: HashSet<String>,
    pub started: HashSet<String>,
}

/// Which spec list a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Init,
    App,
    Ephemeral,
}

/// A container waiting for its back-off to expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffWait {
    pub name: String,
    pub remaining: Duration,
    pub delay: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodActions {
    /// Stop every container and the sandbox (it is gone, changed, or the pod is done).
    pub kill_pod: bool,
    /// Create a new sandbox with this attempt number.
    pub create_sandbox: Option<u32>,
    /// The sandbox the containers below run in (None when one is created).
    pub sandbox_id: Option<String>,
    pub kill: Vec<Kill>,
    /// Init containers to start now, in order (at most one regular one).
    pub start_init: Vec<usize>,
    /// App containers to start now.
    pub start: Vec<usize>,
    /// Ephemeral containers to start now.
    pub start_ephemeral: Vec<usize>,
    /// Containers held back by their restart back-off.
    pub backoff: Vec<BackoffWait>,
    /// Old exited instances to garbage-collect.
    pub remove: Vec<String>,
    /// Every app container has finished for good: the pod is terminal.
    pub terminal: bool,
    /// Names of restarted containers whose back-off must advance.
    pub restarting: Vec<String>,
    /// The pod ran longer than its activeDeadlineSeconds (it is terminal too).
    pub deadline_exceeded: bool,
}

impl PodActions {
    /// Nothing to do now.
    pub fn is_noop(&self) -> bool {
        !self.kill_pod
            && self.create_sandbox.is_none()
            && self.kill.is_empty()
            && self.start_init.is_empty()
            && self.start.is_empty()
            && self.start_ephemeral.is_empty()
            && self.remove.is_empty()
    }
}

pub fn restart_policy(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
}

pub fn init_containers(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().and_then(|s| s.init_containers.as_deref()).unwrap_or(&[])
}

pub fn app_containers(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or(&[])
}

pub fn ephemeral_containers(pod: &Pod) -> &[EphemeralContainer] {
    pod.spec.as_ref().and_then(|s| s.ephemeral_containers.as_deref()).unwrap_or(&[])
}

/// An ephemeral container as a container (the same fields, less
/// `targetContainerName`), to be started like the others.
pub fn ephemeral_as_container(e: &EphemeralContainer) -> Container {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.remove("targetContainerName");
    }
    serde_json::from_value(v).unwrap_or_else(|_| Container { name: e.name.clone(), ..Default::default() })
}

/// A sidecar: an init container with `restartPolicy: Always`.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Should an exited app container be started again (kubelet's ShouldContainerBeRestarted)?
pub fn should_restart(policy: &str, exit_code: Option<i32>) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != Some(0),
        _ => true,
    }
}

/// The back-off key of a container of a pod.
pub fn backoff_key(uid: &str, name: &str) -> String {
    format!("{uid}/{name}")
}

fn finished(c: &ContainerStatus) -> bool {
    c.state == ContainerState::Exited
}

/// When the pod's `activeDeadlineSeconds` runs out (kubelet counts from
/// `status.startTime`), if it has one.
pub fn active_deadline(pod: &Pod) -> Option<Timestamp> {
    let secs = pod.spec.as_ref()?.active_deadline_seconds?;
    let start = pod.status.as_ref()?.start_time.as_ref()?.0;
    start.checked_add(jiff::SignedDuration::from_secs(secs)).ok()
}

/// Has the pod been active longer than its deadline at `now`?
pub fn past_active_deadline(pod: &Pod, now: Timestamp) -> bool {
    active_deadline(pod).is_some_and(|d| now >= d)
}

/// The phase the pod's status already records as final, if any.
fn terminal_phase(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Compute the actions for `pod` given `observed` and the probe verdicts.
pub fn compute_pod_actions(
    pod: &Pod,
    observed: &Observed,
    backoff: &Backoff,
    probes: &ProbeVerdicts,
    now: Timestamp,
) -> PodActions {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    let policy = restart_policy(pod);
    let inits = init_containers(pod);
    let apps = app_containers(pod);
    // A terminal pod never runs anything again (kubelet: a pod in a terminal
    // phase is only killed), and neither does one past its deadline.
    let mut a =
        PodActions { deadline_exceeded: !terminal_phase(pod) && past_active_deadline(pod, now), ..Default::default() };
    if is_terminal(pod, observed) || terminal_phase(pod) || a.deadline_exceeded {
        a.terminal = true;
        // A finished pod keeps its containers (logs, exit codes) but not its sandbox.
        if observed.ready_sandbox().is_some() {
            a.kill_pod = true;
        }
        a.remove = garbage(pod, observed);
        return a;
    }

    let Some(sandbox) = observed.ready_sandbox() else {
        // No usable sandbox: kill what is left and start over in a new one.
        // restartPolicy Never: a pod whose containers already ran does not
        // get a second sandbox (kubelet); it is killed and ends Failed.
        if policy == "Never" && !observed.sandboxes.is_empty() && !observed.containers.is_empty() {
            a.kill_pod = true;
            a.remove = garbage(pod, observed);
            return a;
        }
        let attempt = observed.sandboxes.first().map(|s| s.metadata.attempt + 1).unwrap_or(0);
        a.kill_pod = !observed.sandboxes.is_empty();
        a.create_sandbox = Some(attempt);
        if let Some(i) = inits.iter().position(|_| true) {
            a.start_init.push(i);
        } else {
            for (i, c) in apps.iter().enumerate() {
                match observed.latest(&c.name) {
                    Some(l) if finished(l) && !should_restart(policy, l.exit_code) => {}
                    Some(l) if finished(l) || l.state == ContainerState::Created => {
                        match backoff_wait(backoff, uid, l, now) {
                            Some(w) => a.backoff.push(w),
                            None => {
                                a.restarting.push(c.name.clone());
                                a.start.push(i)
                            }
                        }
                    }
                    _ => a.start.push(i),
                }
            }
        }
        return a;
    };
    let sid = sandbox.id.clone();
    a.sandbox_id = Some(sid.clone());

    // Ephemeral containers: once each, whatever state the others are in
    // (kubelet looks for any status of the name, in any sandbox).
    for (i, e) in ephemeral_containers(pod).iter().enumerate() {
        if observed.latest(&e.name).is_none() {
            a.start_ephemeral.push(i);
        }
    }

    // A container left in Created (the daemon stopped between create and
    // start) is replaced, as are running containers whose image changed.
    let image_changed = |c: &Container, inst: &ContainerStatus| {
        let want = c.image.as_deref().unwrap_or("");
        inst.annotations.get(SPEC_IMAGE_ANNOTATION).is_some_and(|have| have != want)
    };

    // Init containers, in order.
    let mut init_done = true;
    for (i, c) in inits.iter().enumerate() {
        let cur = observed.latest_in(&c.name, &sid);
        if is_sidecar(c) {
            match cur {
                None => {
                    a.start_init.push(i);
                    // The next init container waits until this sidecar runs.
                    init_done = false;
                    break;
                }
                Some(inst) if inst.state == ContainerState::Running => {
                    if image_changed(c, inst) {
                        a.kill.push(kill(
                            inst,
                            format!("Init container {} definition changed, will be restarted", c.name),
                        ));
                        a.start_init.push(i);
                    } else if let Some(k) = probe_kill(c, inst, probes, true) {
                        a.kill.push(k);
                        if restart_now(backoff, uid, observed, c, now) {
                            a.restarting.push(c.name.clone());
                            a.start_init.push(i);
                        }
                    } else if c.startup_probe.is_some() && !probes.started.contains(&inst.id) {
                        // kubelet: what follows a sidecar waits until it has started.
                        init_done = false;
                        break;
                    }
                }
                Some(inst) => {
                    if inst.state == ContainerState::Created {
                        a.kill.push(kill(inst, "Container was created but never started".into()));
                    }
                    match backoff_wait(backoff, uid, inst, now).filter(|_| finished(inst)) {
                        Some(w) => a.backoff.push(w),
                        None => {
                            a.restarting.push(c.name.clone());
                            a.start_init.push(i)
                        }
                    }
                }
            }
            continue;
        }
        match cur {
            None => {
                a.start_init.push(i);
                init_done = false;
                break;
            }
            Some(inst) if inst.state == ContainerState::Running => {
                init_done = false;
                break;
            }
            Some(inst) if inst.state == ContainerState::Created => {
                a.kill.push(kill(inst, "Container was created but never started".into()));
                a.start_init.push(i);
                init_done = false;
                break;
            }
            Some(inst) if finished(inst) && inst.exit_code == Some(0) => continue,
            Some(inst) => {
                // Failed (or unknown). With restartPolicy Never the pod has
                // failed (is_terminal saw it); otherwise retry with back-off.
                match backoff_wait(backoff, uid, inst, now) {
                    Some(w) => a.backoff.push(w),
                    None => {
                        a.restarting.push(c.name.clone());
                        a.start_init.push(i)
                    }
                }
                init_done = false;
                break;
            }
        }
    }

    if init_done {
        for (i, c) in apps.iter().enumerate() {
            match observed.latest_in(&c.name, &sid) {
                None => {
                    // None in this sandbox; one that finished for good in an
                    // earlier sandbox is not started again.
                    match observed.latest(&c.name) {
                        Some(l) if finished(l) && !should_restart(policy, l.exit_code) => {}
                        _ => a.start.push(i),
                    }
                }
                Some(inst) if inst.state == ContainerState::Running => {
                    if image_changed(c, inst) {
                        a.kill.push(kill(inst, format!("Container {} definition changed, will be restarted", c.name)));
                        a.restarting.push(c.name.clone());
                        a.start.push(i);
                    } else if let Some(k) = probe_kill(c, inst, probes, policy != "Never") {
                        a.kill.push(k);
                        if policy != "Never" && restart_now(backoff, uid, observed, c, now) {
                            a.restarting.push(c.name.clone());
                            a.start.push(i);
                        }
                    }
                }
                Some(inst) if inst.state == ContainerState::Created => {
                    a.kill.push(kill(inst, "Container was created but never started".into()));
                    a.start.push(i);
                }
                Some(inst) => {
                    if !should_restart(policy, inst.exit_code) {
                        continue;
                    }
                    match backoff_wait(backoff, uid, inst, now) {
                        Some(w) => a.backoff.push(w),
                        None => {
                            a.restarting.push(c.name.clone());
                            a.start.push(i)
                        }
                    }
                }
            }
        }
    }
    a.remove = garbage(pod, observed);
    a
}

fn kill(inst: &ContainerStatus, reason: String) -> Kill {
    Kill { id: inst.id.clone(), name: inst.metadata.name.clone(), reason, grace: None }
}

/// A running container whose liveness or startup probe failed: kill it,
/// with kubelet's message and the probe's own grace period if it sets one.
fn probe_kill(c: &Container, inst: &ContainerStatus, probes: &ProbeVerdicts, restart: bool) -> Option<Kill> {
    let (what, probe) = if probes.liveness.contains(&inst.id) {
        ("liveness", c.liveness_probe.as_ref())
    } else if probes.startup.contains(&inst.id) {
        ("startup", c.startup_probe.as_ref())
    } else {
        return None;
    };
    let mut reason = format!("Container {} failed {what} probe", c.name);
    if restart {
        reason.push_str(", will be restarted");
    }
    Some(Kill {
        id: inst.id.clone(),
        name: c.name.clone(),
        reason,
        grace: probe.and_then(|p| p.termination_grace_period_seconds),
    })
}

/// May a container killed in this sync start again right away? kubelet's
/// doBackOff looks at the newest *exited* instance of the name: none, or
/// its back-off is over.
fn restart_now(b: &Backoff, uid: &str, observed: &Observed, c: &Container, now: Timestamp) -> bool {
    match observed.instances(&c.name).into_iter().find(|i| finished(i)) {
        Some(prev) => backoff_wait(b, uid, prev, now).is_none(),
        None => true,
    }
}

fn backoff_wait(b: &Backoff, uid: &str, inst: &ContainerStatus, now: Timestamp) -> Option<BackoffWait> {
    let key = backoff_key(uid, &inst.metadata.name);
    let finished = inst.finished_at.unwrap_or(now);
    b.remaining(&key, finished, now).map(|r| BackoffWait {
        name: inst.metadata.name.clone(),
        remaining: r,
        delay: b.delay(&key),
    })
}

/// Has the pod finished for good? Every app container exited and none will
/// be restarted, or (restartPolicy Never) an init container failed.
pub fn is_terminal(pod: &Pod, observed: &Observed) -> bool {
    let policy = restart_policy(pod);
    if policy == "Never" {
        for c in init_containers(pod).iter().filter(|c| !is_sidecar(c)) {
            if let Some(l) = observed.latest(&c.name)
                && finished(l)
                && l.exit_code != Some(0)
            {
                return true;
            }
        }
    }
    if policy == "Always" {
        return false;
    }
    let apps = app_containers(pod);
    !apps.is_empty()
        && apps.iter().all(|c| match observed.latest(&c.name) {
            Some(l) => finished(l) && !should_restart(policy, l.exit_code),
            None => false,
        })
}

/// Exited instances beyond the newest two of each name (the newest and the
/// one `logs --previous` shows), and instances of names not in the spec.
fn garbage(pod: &Pod, observed: &Observed) -> Vec<String> {
    let names: BTreeSet<&str> = init_containers(pod)
        .iter()
        .chain(app_containers(pod))
        .map(|c| c.name.as_str())
        .chain(ephemeral_containers(pod).iter().map(|e| e.name.as_str()))
        .collect();
    let mut out = Vec::new();
    for name in observed.containers.iter().map(|c| c.metadata.name.as_str()).collect::<BTreeSet<_>>() {
        let inst = observed.instances(name);
        let keep = if names.contains(name) { 2 } else { 0 };
        out.extend(inst.iter().skip(keep).filter(|c| finished(c)).map(|c| c.id.clone()));
    }
    out
}

#[cfg(test)]
mod tests;
