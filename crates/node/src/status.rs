//! The pod status kubelet would report, computed purely from the spec, what
//! the runtime observed, the probe verdicts and the waiting reasons the
//! executor recorded (image and config errors, back-offs). Phase follows
//! kubelet's getPhase; conditions keep their lastTransitionTime while their
//! status holds. A container is `started` once running and past its startup
//! probe, `ready` once started and past its readiness probe (a completed
//! regular init container counts as ready, as in kubelet). A terminal phase
//! never changes back, and keeps the reason it was reached with
//! (`DeadlineExceeded`, an admission rejection). Ephemeral containers are
//! reported in `ephemeralContainerStatuses` and nowhere else: they count
//! for neither the phase nor the conditions.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState as KState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus as KStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use peapod_runtime::{ContainerState, ContainerStatus};

use crate::plan::{
    BackoffWait, Observed, app_containers, ephemeral_as_container, ephemeral_containers, init_containers, is_sidecar,
    restart_policy,
};

/// A reason a container is waiting (set by the executor), e.g.
/// `CreateContainerConfigError` with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

pub struct StatusInput<'a> {
    pub pod: &'a Pod,
    pub observed: &'a Observed,
    pub waiting: &'a HashMap<String, Waiting>,
    pub backoff: &'a [BackoffWait],
    pub host_ip: &'a str,
    pub now: Timestamp,
    /// Termination messages read from containers' termination-log files, by container id.
    pub messages: &'a HashMap<String, String>,
    /// Readiness verdicts by container id (a container with a readiness
    /// probe and no verdict is not ready).
    pub readiness: &'a HashMap<String, bool>,
    /// Startup verdicts by container id (a container with a startup probe
    /// and no success is not started).
    pub startup: &'a HashMap<String, bool>,
    /// What is known of the pod as a whole beyond its containers.
    pub outcome: PodOutcome,
}

/// The pod-level facts that decide the phase besides its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOutcome {
    /// Running normally.
    Active,
    /// Past `activeDeadlineSeconds`: Failed, reason DeadlineExceeded.
    DeadlineExceeded,
    /// Refused by the node before it ran (e.g. SysctlForbidden).
    Rejected { reason: String, message: String },
    /// Deleted, and every container has stopped: Succeeded when all exited 0, else Failed.
    Deleted,
}

/// kubelet's activeDeadlineSeconds status message.
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

fn seconds(t: Timestamp) -> Time {
    Time(crate::clock::whole_seconds(t))
}

fn terminated(c: &ContainerStatus, messages: &HashMap<String, String>) -> ContainerStateTerminated {
    let code = c.exit_code.unwrap_or(0);
    ContainerStateTerminated {
        exit_code: code,
        signal: None,
        reason: c.reason.clone().or_else(|| Some(if code == 0 { "Completed" } else { "Error" }.into())),
        message: messages.get(&c.id).cloned().or_else(|| c.message.clone()),
        started_at: c.started_at.map(seconds),
        finished_at: c.finished_at.map(seconds),
        container_id: Some(format!("runc://{}", c.id)),
    }
}

fn waiting(reason: &str, message: Option<String>) -> KState {
    KState { waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message }), ..Default::default() }
}

/// One container's status. `default_reason` is what a container that has
/// not been created yet waits for (ContainerCreating or PodInitializing);
/// `regular_init` marks an init container that must run to completion.
fn container_status(i: &StatusInput<'_>, c: &Container, default_reason: &str, regular_init: bool) -> KStatus {
    let pod = i.pod;
    let insts = i.observed.instances(&c.name);
    let latest = insts.first().copied();
    let prev = insts.get(1).copied();
    let mut s = KStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: String::new(),
        restart_count: latest.map(|l| l.metadata.attempt as i32).unwrap_or(0),
        ready: false,
        started: Some(false),
        ..Default::default()
    };
    if let Some(l) = latest {
        s.image = l.image.clone();
        s.image_id = l.image_id.clone();
        s.container_id = Some(format!("runc://{}", l.id));
    }
    let last_of = |x: Option<&ContainerStatus>| {
        x.filter(|p| p.state == ContainerState::Exited)
            .map(|p| KState { terminated: Some(terminated(p, i.messages)), ..Default::default() })
    };
    let backoff = i.backoff.iter().find(|b| b.name == c.name);
    let recorded = i.waiting.get(&c.name);
    match latest {
        Some(l) if l.state == ContainerState::Running => {
            s.state = Some(KState {
                running: Some(ContainerStateRunning { started_at: l.started_at.map(seconds) }),
                ..Default::default()
            });
            s.last_state = last_of(prev);
            let started = c.startup_probe.is_none() || i.startup.get(&l.id) == Some(&true);
            s.started = Some(started);
            s.ready = started && (c.readiness_probe.is_none() || i.readiness.get(&l.id) == Some(&true));
        }
        Some(l) if l.state == ContainerState::Exited => {
            if let Some(b) = backoff {
                let msg = format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    go_duration(b.delay),
                    c.name,
                    pod.metadata.name.as_deref().unwrap_or(""),
                    pod.metadata.namespace.as_deref().unwrap_or(""),
                    pod.metadata.uid.as_deref().unwrap_or("")
                );
                s.state = Some(waiting("CrashLoopBackOff", Some(msg)));
                s.last_state = last_of(Some(l));
            } else if let Some(w) = recorded {
                s.state = Some(waiting(&w.reason, Some(w.message.clone()).filter(|m| !m.is_empty())));
                s.last_state = last_of(Some(l));
            } else {
                s.state = Some(KState { terminated: Some(terminated(l, i.messages)), ..Default::default() });
                s.last_state = last_of(prev);
                s.ready = regular_init && l.exit_code == Some(0);
            }
        }
        Some(_) => {
            s.state = Some(waiting("ContainerCreating", None));
            s.last_state = last_of(prev);
        }
        None => {
            let (reason, msg) = match recorded {
                Some(w) => (w.reason.as_str(), Some(w.message.clone()).filter(|m| !m.is_empty())),
                None => (default_reason, None),
            };
            s.state = Some(waiting(reason, msg));
        }
    }
    s.last_state.get_or_insert_with(KState::default);
    s
}

/// Go's time.Duration.String() for whole seconds: "10s", "5m0s", "1m20s".
pub fn go_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

/// kubelet's getPhase.
pub fn phase(pod: &Pod, init: &[KStatus], apps: &[KStatus]) -> &'static str {
    let policy = restart_policy(pod);
    let inits = init_containers(pod);
    let mut init_pending = false;
    for (c, s) in inits.iter().zip(init) {
        if is_sidecar(c) {
            continue;
        }
        let term = s.state.as_ref().and_then(|st| st.terminated.as_ref());
        match term {
            Some(t) if t.exit_code == 0 => {}
            Some(_) if policy == "Never" => return "Failed",
            _ => {
                let failed_before =
                    s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some_and(|t| t.exit_code != 0);
                if failed_before && policy == "Never" {
                    return "Failed";
                }
                init_pending = true;
            }
        }
    }
    if init_pending {
        return "Pending";
    }
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in apps {
        let st = s.state.as_ref();
        if st.and_then(|x| x.running.as_ref()).is_some() {
            running += 1;
        } else if let Some(t) = st.and_then(|x| x.terminated.as_ref()) {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if st.and_then(|x| x.waiting.as_ref()).is_some() {
            match s.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
                Some(t) => {
                    stopped += 1;
                    if t.exit_code == 0 {
                        succeeded += 1;
                    }
                }
                None => waiting += 1,
            }
        } else {
            waiting += 1;
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn condition(
    prev: &Option<PodStatus>,
    type_: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let old = prev.as_ref().and_then(|p| p.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == type_));
    let last = match old {
        Some(o) if o.status == status => o.last_transition_time.clone(),
        _ => Some(seconds(now)),
    };
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        last_transition_time: last,
        reason,
        message,
        ..Default::default()
    }
}

pub fn compute_status(i: &StatusInput<'_>) -> PodStatus {
    let pod = i.pod;
    let prev = &pod.status;
    if let PodOutcome::Rejected { reason, message } = &i.outcome {
        // kubelet's rejectPod: the phase and why, nothing about containers
        // that never existed (so kubectl's STATUS shows the reason).
        let scheduled = prev
            .as_ref()
            .and_then(|p| p.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .cloned()
            .unwrap_or_else(|| condition(prev, "PodScheduled", true, None, None, i.now));
        return PodStatus {
            phase: Some("Failed".into()),
            reason: Some(reason.clone()),
            message: Some(message.clone()),
            conditions: Some(vec![scheduled]),
            host_ip: Some(i.host_ip.to_owned()),
            host_ips: Some(vec![HostIP { ip: i.host_ip.to_owned() }]),
            qos_class: prev.as_ref().and_then(|p| p.qos_class.clone()),
            ..Default::default()
        };
    }
    let inits = init_containers(pod);
    let apps = app_containers(pod);
    let sandbox_ready = i.observed.ready_sandbox().is_some();
    let init_statuses: Vec<KStatus> =
        inits.iter().map(|c| container_status(i, c, "PodInitializing", !is_sidecar(c))).collect();
    let init_done = inits
        .iter()
        .zip(&init_statuses)
        .filter(|(c, _)| !is_sidecar(c))
        .all(|(_, s)| s.state.as_ref().and_then(|x| x.terminated.as_ref()).is_some_and(|t| t.exit_code == 0));
    // kubelet: a pod with init containers reports its not-yet-created app
    // containers as PodInitializing, before and after the init phase.
    let app_default = if !inits.is_empty() { "PodInitializing" } else { "ContainerCreating" };
    let app_statuses: Vec<KStatus> = apps.iter().map(|c| container_status(i, c, app_default, false)).collect();
    let ephemeral_statuses: Vec<KStatus> = ephemeral_containers(pod)
        .iter()
        .map(|e| container_status(i, &ephemeral_as_container(e), "ContainerCreating", false))
        .collect();

    let mut phase = phase(pod, &init_statuses, &app_statuses).to_owned();
    let (mut reason, mut message) = (None, None);
    match &i.outcome {
        // (Rejected pods returned above.)
        PodOutcome::Active | PodOutcome::Rejected { .. } => {}
        PodOutcome::DeadlineExceeded => {
            phase = "Failed".into();
            (reason, message) = (Some("DeadlineExceeded".to_string()), Some(DEADLINE_MESSAGE.to_string()));
        }
        PodOutcome::Deleted => {
            let all_ok = app_statuses
                .iter()
                .all(|s| s.state.as_ref().and_then(|x| x.terminated.as_ref()).is_some_and(|t| t.exit_code == 0));
            phase = if all_ok { "Succeeded" } else { "Failed" }.into();
        }
    }
    // A terminal phase never changes back (kubelet enforces this), nor its reason.
    if let Some(old) = prev.as_ref().filter(|p| matches!(p.phase.as_deref(), Some("Succeeded" | "Failed"))) {
        phase = old.phase.clone().unwrap_or(phase);
        if old.reason.is_some() {
            (reason, message) = (old.reason.clone(), old.message.clone());
        }
    }
    let terminal = matches!(phase.as_str(), "Succeeded" | "Failed");

    let unready: Vec<&str> = app_statuses.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
    let sidecars_unready: Vec<&str> = inits
        .iter()
        .zip(&init_statuses)
        .filter(|(c, s)| is_sidecar(c) && !s.ready)
        .map(|(c, _)| c.name.as_str())
        .collect();
    let all_unready: Vec<&str> = sidecars_unready.iter().chain(unready.iter()).copied().collect();
    let ready = all_unready.is_empty() && !terminal;
    let (ready_reason, ready_msg) = if terminal {
        (Some("PodCompleted".to_string()), None)
    } else if ready {
        (None, None)
    } else {
        (
            Some("ContainersNotReady".to_string()),
            Some(format!("containers with unready status: [{}]", all_unready.join(" "))),
        )
    };
    let incomplete: Vec<&str> = inits
        .iter()
        .zip(&init_statuses)
        .filter(|(c, s)| {
            !is_sidecar(c) && s.state.as_ref().and_then(|x| x.terminated.as_ref()).is_none_or(|t| t.exit_code != 0)
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    // kubelet: a Succeeded pod is initialized (PodCompleted); a Failed one
    // only if its init containers really completed.
    let succeeded = phase == "Succeeded";
    let (init_reason, init_msg) = if init_done || succeeded {
        (if succeeded && !inits.is_empty() { Some("PodCompleted".to_string()) } else { None }, None)
    } else {
        (
            Some("ContainersNotInitialized".to_string()),
            Some(format!("containers with incomplete status: [{}]", incomplete.join(" "))),
        )
    };

    // Ready also needs every readiness gate's condition (set by others) True.
    let prev_conditions: &[PodCondition] = prev.as_ref().and_then(|p| p.conditions.as_deref()).unwrap_or(&[]);
    let gates: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|g| match prev_conditions.iter().find(|c| c.type_ == g.condition_type) {
            None => {
                Some(format!("corresponding condition of pod readiness gate {:?} does not exist.", g.condition_type))
            }
            Some(c) if c.status != "True" => Some(format!(
                "the status of pod readiness gate {:?} is not \"True\", but {}",
                g.condition_type, c.status
            )),
            Some(_) => None,
        })
        .collect();
    let pod_ready = if ready && !gates.is_empty() {
        condition(prev, "Ready", false, Some("ReadinessGatesNotReady".into()), Some(gates.join(", ")), i.now)
    } else {
        condition(prev, "Ready", ready, ready_reason.clone(), ready_msg.clone(), i.now)
    };
    let mut conditions = vec![
        condition(prev, "PodReadyToStartContainers", sandbox_ready, None, None, i.now),
        condition(prev, "Initialized", init_done || succeeded, init_reason, init_msg, i.now),
        pod_ready,
        condition(prev, "ContainersReady", ready, ready_reason, ready_msg, i.now),
    ];
    if let Some(s) = prev_conditions.iter().find(|c| c.type_ == "PodScheduled") {
        conditions.push(s.clone());
    } else {
        conditions.push(condition(prev, "PodScheduled", true, None, None, i.now));
    }
    // Conditions kubelet does not own (readiness gates, DisruptionTarget, …) stay.
    const OWN: [&str; 5] = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];
    conditions.extend(prev_conditions.iter().filter(|c| !OWN.contains(&c.type_.as_str())).cloned());

    let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
    let ips: Vec<String> = if host_network {
        vec![i.host_ip.to_owned()]
    } else {
        i.observed
            .ready_sandbox()
            .map(|s| s.ips.clone())
            .or_else(|| {
                prev.as_ref().and_then(|p| p.pod_ips.as_ref()).map(|v| v.iter().map(|x| x.ip.clone()).collect())
            })
            .unwrap_or_default()
    };
    PodStatus {
        phase: Some(phase),
        reason,
        message,
        conditions: Some(conditions),
        host_ip: Some(i.host_ip.to_owned()),
        host_ips: Some(vec![HostIP { ip: i.host_ip.to_owned() }]),
        pod_ip: ips.first().cloned(),
        pod_ips: if ips.is_empty() { None } else { Some(ips.into_iter().map(|ip| PodIP { ip }).collect()) },
        start_time: prev.as_ref().and_then(|p| p.start_time.clone()).or_else(|| Some(seconds(i.now))),
        container_statuses: Some(app_statuses),
        init_container_statuses: if inits.is_empty() { None } else { Some(init_statuses) },
        ephemeral_container_statuses: if ephemeral_statuses.is_empty() { None } else { Some(ephemeral_statuses) },
        qos_class: prev.as_ref().and_then(|p| p.qos_class.clone()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
