//! Table test of the planner, in the manner of kubelet's TestComputePodActions:
//! each case mutates a base pod and a base observed state.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use peapod_runtime::*;

use super::*;

fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

fn container(name: &str, image: &str) -> Container {
    Container { name: name.into(), image: Some(image.into()), ..Default::default() }
}

fn ephemeral(name: &str) -> k8s_openapi::api::core::v1::EphemeralContainer {
    k8s_openapi::api::core::v1::EphemeralContainer {
        name: name.into(),
        image: Some("busybox".into()),
        target_container_name: Some("a".into()),
        ..Default::default()
    }
}

fn base_pod() -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some("web".into());
    p.metadata.uid = Some("uid1".into());
    p.spec = Some(PodSpec {
        containers: vec![container("a", "img:1"), container("b", "img:1")],
        restart_policy: Some("Always".into()),
        ..Default::default()
    });
    p
}

fn sandbox(id: &str, attempt: u32, ready: bool) -> PodSandboxStatus {
    PodSandboxStatus {
        id: id.into(),
        metadata: PodSandboxMetadata { name: "web".into(), uid: "uid1".into(), namespace: "default".into(), attempt },
        state: if ready { SandboxState::Ready } else { SandboxState::NotReady },
        created_at: t0(),
        ips: vec![],
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        host_network: false,
        netns_path: None,
        runtime_handler: "runc".into(),
    }
}

fn inst(id: &str, sid: &str, name: &str, attempt: u32, state: ContainerState, exit: Option<i32>) -> ContainerStatus {
    ContainerStatus {
        id: id.into(),
        sandbox_id: sid.into(),
        metadata: ContainerMetadata { name: name.into(), attempt },
        state,
        created_at: t0(),
        started_at: Some(t0()),
        finished_at: exit.map(|_| t0()),
        exit_code: exit,
        reason: None,
        message: None,
        image: "img:1".into(),
        image_id: "sha256:x".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::from([(SPEC_IMAGE_ANNOTATION.to_string(), "img:1".to_string())]),
        log_path: "/l".into(),
        pid: None,
    }
}

fn running(id: &str, name: &str) -> ContainerStatus {
    inst(id, "s1", name, 0, ContainerState::Running, None)
}

fn base_observed() -> Observed {
    Observed { sandboxes: vec![sandbox("s1", 0, true)], containers: vec![running("ca", "a"), running("cb", "b")] }
}

struct Case {
    name: &'static str,
    pod: fn(&mut Pod),
    observed: fn(&mut Observed),
    backoff: fn(&mut Backoff),
    want: PodActions,
}

fn none_pod(_: &mut Pod) {}
fn none_obs(_: &mut Observed) {}
fn none_backoff(_: &mut Backoff) {}

fn in_s1() -> PodActions {
    PodActions { sandbox_id: Some("s1".into()), ..Default::default() }
}

#[test]
fn compute_pod_actions_table() {
    let cases: Vec<Case> = vec![
        Case {
            name: "all running: nothing to do (a daemon restart must not restart healthy containers)",
            pod: none_pod,
            observed: none_obs,
            backoff: none_backoff,
            want: in_s1(),
        },
        Case {
            name: "ephemeral containers: the new one starts, an exited one stays exited",
            pod: |p| p.spec.as_mut().unwrap().ephemeral_containers = Some(vec![ephemeral("dbg1"), ephemeral("dbg2")]),
            observed: |o| o.containers.push(inst("cd1", "s1", "dbg1", 0, ContainerState::Exited, Some(1))),
            backoff: none_backoff,
            want: PodActions { start_ephemeral: vec![1], ..in_s1() },
        },
        Case {
            name: "ephemeral containers: not before the sandbox runs, not in a new sandbox",
            pod: |p| p.spec.as_mut().unwrap().ephemeral_containers = Some(vec![ephemeral("dbg1")]),
            observed: |o| *o = Observed::default(),
            backoff: none_backoff,
            want: PodActions { create_sandbox: Some(0), start: vec![0, 1], ..Default::default() },
        },
        Case {
            name: "ephemeral containers: started while an init container runs",
            pod: |p| {
                let spec = p.spec.as_mut().unwrap();
                spec.init_containers = Some(vec![container("i", "img:1")]);
                spec.ephemeral_containers = Some(vec![ephemeral("dbg1")]);
            },
            observed: |o| o.containers = vec![running("ci", "i")],
            backoff: none_backoff,
            want: PodActions { start_ephemeral: vec![0], ..in_s1() },
        },
        Case {
            name: "new pod: create the sandbox and start every container",
            pod: none_pod,
            observed: |o| *o = Observed::default(),
            backoff: none_backoff,
            want: PodActions { create_sandbox: Some(0), start: vec![0, 1], ..Default::default() },
        },
        Case {
            name: "sandbox died: kill the pod, new sandbox attempt 1, restart all",
            pod: none_pod,
            observed: |o| o.sandboxes[0].state = SandboxState::NotReady,
            backoff: none_backoff,
            want: PodActions {
                kill_pod: true,
                create_sandbox: Some(1),
                start: vec![0, 1],
                restarting: vec![],
                ..Default::default()
            },
        },
        Case {
            name: "one container missing: start just it",
            pod: none_pod,
            observed: |o| {
                o.containers.remove(1);
            },
            backoff: none_backoff,
            want: PodActions { start: vec![1], ..in_s1() },
        },
        Case {
            name: "image changed: kill and start that container only",
            pod: |p| p.spec.as_mut().unwrap().containers[1].image = Some("img:2".into()),
            observed: none_obs,
            backoff: none_backoff,
            want: PodActions {
                kill: vec![Kill {
                    id: "cb".into(),
                    name: "b".into(),
                    reason: "Container b definition changed, will be restarted".into(),
                    grace: None,
                }],
                start: vec![1],
                restarting: vec!["b".into()],
                ..in_s1()
            },
        },
        Case {
            name: "exited, Always, first crash: restart at once",
            pod: none_pod,
            observed: |o| o.containers[0] = inst("ca", "s1", "a", 0, ContainerState::Exited, Some(1)),
            backoff: none_backoff,
            want: PodActions { start: vec![0], restarting: vec!["a".into()], ..in_s1() },
        },
        Case {
            name: "exited again within the back-off: wait (CrashLoopBackOff)",
            pod: none_pod,
            observed: |o| o.containers[0] = inst("ca", "s1", "a", 1, ContainerState::Exited, Some(1)),
            backoff: |b| b.next("uid1/a", t0() - SignedDuration::from_secs(5)),
            want: PodActions {
                backoff: vec![BackoffWait {
                    name: "a".into(),
                    remaining: std::time::Duration::from_secs(10),
                    delay: std::time::Duration::from_secs(10),
                }],
                ..in_s1()
            },
        },
        Case {
            name: "OnFailure, exit 0: not restarted",
            pod: |p| p.spec.as_mut().unwrap().restart_policy = Some("OnFailure".into()),
            observed: |o| o.containers[0] = inst("ca", "s1", "a", 0, ContainerState::Exited, Some(0)),
            backoff: none_backoff,
            want: in_s1(),
        },
        Case {
            name: "Never, all exited: terminal, sandbox stopped, containers kept",
            pod: |p| p.spec.as_mut().unwrap().restart_policy = Some("Never".into()),
            observed: |o| {
                o.containers[0] = inst("ca", "s1", "a", 0, ContainerState::Exited, Some(0));
                o.containers[1] = inst("cb", "s1", "b", 0, ContainerState::Exited, Some(2));
            },
            backoff: none_backoff,
            want: PodActions { kill_pod: true, terminal: true, ..Default::default() },
        },
        Case {
            name: "Never, sandbox died with containers: no second sandbox",
            pod: |p| p.spec.as_mut().unwrap().restart_policy = Some("Never".into()),
            observed: |o| o.sandboxes[0].state = SandboxState::NotReady,
            backoff: none_backoff,
            want: PodActions { kill_pod: true, ..Default::default() },
        },
        Case {
            name: "init containers: first one not run yet, apps wait",
            pod: |p| {
                p.spec.as_mut().unwrap().init_containers =
                    Some(vec![container("i1", "img:1"), container("i2", "img:1")])
            },
            observed: |o| o.containers.clear(),
            backoff: none_backoff,
            want: PodActions { start_init: vec![0], ..in_s1() },
        },
        Case {
            name: "init containers: first done, second next",
            pod: |p| {
                p.spec.as_mut().unwrap().init_containers =
                    Some(vec![container("i1", "img:1"), container("i2", "img:1")])
            },
            observed: |o| o.containers = vec![inst("i1x", "s1", "i1", 0, ContainerState::Exited, Some(0))],
            backoff: none_backoff,
            want: PodActions { start_init: vec![1], ..in_s1() },
        },
        Case {
            name: "init containers: one running, nothing else starts",
            pod: |p| p.spec.as_mut().unwrap().init_containers = Some(vec![container("i1", "img:1")]),
            observed: |o| o.containers = vec![inst("i1x", "s1", "i1", 0, ContainerState::Running, None)],
            backoff: none_backoff,
            want: in_s1(),
        },
        Case {
            name: "init containers: all done, start apps",
            pod: |p| p.spec.as_mut().unwrap().init_containers = Some(vec![container("i1", "img:1")]),
            observed: |o| o.containers = vec![inst("i1x", "s1", "i1", 0, ContainerState::Exited, Some(0))],
            backoff: none_backoff,
            want: PodActions { start: vec![0, 1], ..in_s1() },
        },
        Case {
            name: "init container failed, Always: retried",
            pod: |p| p.spec.as_mut().unwrap().init_containers = Some(vec![container("i1", "img:1")]),
            observed: |o| o.containers = vec![inst("i1x", "s1", "i1", 0, ContainerState::Exited, Some(3))],
            backoff: none_backoff,
            want: PodActions { start_init: vec![0], restarting: vec!["i1".into()], ..in_s1() },
        },
        Case {
            name: "init container failed, Never: the pod is terminal",
            pod: |p| {
                let s = p.spec.as_mut().unwrap();
                s.init_containers = Some(vec![container("i1", "img:1")]);
                s.restart_policy = Some("Never".into());
            },
            observed: |o| o.containers = vec![inst("i1x", "s1", "i1", 0, ContainerState::Exited, Some(3))],
            backoff: none_backoff,
            want: PodActions { kill_pod: true, terminal: true, ..Default::default() },
        },
        Case {
            name: "sidecar then regular init: sidecar started first, regular one waits",
            pod: |p| {
                let mut side = container("side", "img:1");
                side.restart_policy = Some("Always".into());
                p.spec.as_mut().unwrap().init_containers = Some(vec![side, container("i1", "img:1")]);
            },
            observed: |o| o.containers.clear(),
            backoff: none_backoff,
            want: PodActions { start_init: vec![0], ..in_s1() },
        },
        Case {
            name: "sidecar running, regular init next",
            pod: |p| {
                let mut side = container("side", "img:1");
                side.restart_policy = Some("Always".into());
                p.spec.as_mut().unwrap().init_containers = Some(vec![side, container("i1", "img:1")]);
            },
            observed: |o| o.containers = vec![inst("sx", "s1", "side", 0, ContainerState::Running, None)],
            backoff: none_backoff,
            want: PodActions { start_init: vec![1], ..in_s1() },
        },
        Case {
            name: "sidecar exited while apps run: restarted",
            pod: |p| {
                let mut side = container("side", "img:1");
                side.restart_policy = Some("Always".into());
                p.spec.as_mut().unwrap().init_containers = Some(vec![side]);
            },
            observed: |o| o.containers.push(inst("sx", "s1", "side", 0, ContainerState::Exited, Some(1))),
            backoff: none_backoff,
            want: PodActions { start_init: vec![0], restarting: vec!["side".into()], ..in_s1() },
        },
        Case {
            name: "created but never started: replaced",
            pod: none_pod,
            observed: |o| o.containers[1] = inst("cb", "s1", "b", 0, ContainerState::Created, None),
            backoff: none_backoff,
            want: PodActions {
                kill: vec![Kill {
                    id: "cb".into(),
                    name: "b".into(),
                    reason: "Container was created but never started".into(),
                    grace: None,
                }],
                start: vec![1],
                ..in_s1()
            },
        },
        Case {
            name: "old instances are garbage-collected, newest two kept",
            pod: none_pod,
            observed: |o| {
                o.containers.push(inst("old1", "s1", "a", 1, ContainerState::Exited, Some(1)));
                o.containers.push(inst("old0", "s1", "a", 0, ContainerState::Exited, Some(1)));
                o.containers[0].metadata.attempt = 2;
            },
            backoff: none_backoff,
            want: PodActions { remove: vec!["old0".into()], ..in_s1() },
        },
        Case {
            name: "instances of containers no longer in the spec are removed once exited",
            pod: none_pod,
            observed: |o| o.containers.push(inst("gone", "s1", "zzz", 0, ContainerState::Exited, Some(0))),
            backoff: none_backoff,
            want: PodActions { remove: vec!["gone".into()], ..in_s1() },
        },
    ];
    for c in cases {
        let mut pod = base_pod();
        (c.pod)(&mut pod);
        let mut obs = base_observed();
        (c.observed)(&mut obs);
        let mut b = Backoff::default();
        (c.backoff)(&mut b);
        let got = compute_pod_actions(&pod, &obs, &b, &ProbeVerdicts::default(), t0());
        assert_eq!(got, c.want, "case: {}", c.name);
    }
}

struct ProbeCase {
    name: &'static str,
    pod: fn(&mut Pod),
    observed: fn(&mut Observed),
    backoff: fn(&mut Backoff),
    liveness: &'static [&'static str],
    startup: &'static [&'static str],
    started: &'static [&'static str],
    /// Seconds after t0.
    now: i64,
    want: PodActions,
}

fn kill_of(id: &str, name: &str, reason: &str, grace: Option<i64>) -> Kill {
    Kill { id: id.into(), name: name.into(), reason: reason.into(), grace }
}

fn sidecar_with_startup_probe(p: &mut Pod) {
    let mut sc = container("side", "img:1");
    sc.restart_policy = Some("Always".into());
    sc.startup_probe = Some(k8s_openapi::api::core::v1::Probe::default());
    p.spec.as_mut().unwrap().init_containers = Some(vec![sc]);
}

fn with_deadline(p: &mut Pod) {
    p.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
    p.status = Some(k8s_openapi::api::core::v1::PodStatus {
        start_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t0())),
        ..Default::default()
    });
}

#[test]
fn probe_verdicts_and_deadlines() {
    let cases: Vec<ProbeCase> = vec![
        ProbeCase {
            name: "liveness failure: kill and start again in the same sync",
            pod: none_pod,
            observed: none_obs,
            backoff: none_backoff,
            liveness: &["ca"],
            startup: &[],
            started: &[],
            now: 0,
            want: PodActions {
                kill: vec![kill_of("ca", "a", "Container a failed liveness probe, will be restarted", None)],
                start: vec![0],
                restarting: vec!["a".into()],
                ..in_s1()
            },
        },
        ProbeCase {
            name: "liveness failure with restartPolicy Never: kill only",
            pod: |p| p.spec.as_mut().unwrap().restart_policy = Some("Never".into()),
            observed: none_obs,
            backoff: none_backoff,
            liveness: &["cb"],
            startup: &[],
            started: &[],
            now: 0,
            want: PodActions { kill: vec![kill_of("cb", "b", "Container b failed liveness probe", None)], ..in_s1() },
        },
        ProbeCase {
            name: "startup failure uses the probe's own grace period",
            pod: |p| {
                p.spec.as_mut().unwrap().containers[0].startup_probe = Some(k8s_openapi::api::core::v1::Probe {
                    termination_grace_period_seconds: Some(5),
                    ..Default::default()
                })
            },
            observed: none_obs,
            backoff: none_backoff,
            liveness: &[],
            startup: &["ca"],
            started: &[],
            now: 0,
            want: PodActions {
                kill: vec![kill_of("ca", "a", "Container a failed startup probe, will be restarted", Some(5))],
                start: vec![0],
                restarting: vec!["a".into()],
                ..in_s1()
            },
        },
        ProbeCase {
            name: "second liveness kill inside the back-off: killed now, started when the back-off ends",
            pod: none_pod,
            observed: |o| {
                o.containers[0].metadata.attempt = 1;
                o.containers.push(inst("ca0", "s1", "a", 0, ContainerState::Exited, Some(137)));
            },
            backoff: |b| b.next("uid1/a", t0()),
            liveness: &["ca"],
            startup: &[],
            started: &[],
            now: 3,
            want: PodActions {
                kill: vec![kill_of("ca", "a", "Container a failed liveness probe, will be restarted", None)],
                ..in_s1()
            },
        },
        ProbeCase {
            name: "a failed probe of another pod's container changes nothing",
            pod: none_pod,
            observed: none_obs,
            backoff: none_backoff,
            liveness: &["elsewhere"],
            startup: &["elsewhere"],
            started: &[],
            now: 0,
            want: in_s1(),
        },
        ProbeCase {
            name: "sidecar liveness failure: restarted (sidecars always restart)",
            pod: |p| {
                let mut sc = container("side", "img:1");
                sc.restart_policy = Some("Always".into());
                let s = p.spec.as_mut().unwrap();
                s.init_containers = Some(vec![sc]);
                s.restart_policy = Some("Never".into());
            },
            observed: |o| o.containers.push(running("cs", "side")),
            backoff: none_backoff,
            liveness: &["cs"],
            startup: &[],
            started: &[],
            now: 0,
            want: PodActions {
                kill: vec![kill_of("cs", "side", "Container side failed liveness probe, will be restarted", None)],
                start_init: vec![0],
                restarting: vec!["side".into()],
                ..in_s1()
            },
        },
        ProbeCase {
            name: "a sidecar with a startup probe holds back the app containers until it has started",
            pod: sidecar_with_startup_probe,
            observed: |o| o.containers = vec![running("cs", "side")],
            backoff: none_backoff,
            liveness: &[],
            startup: &[],
            started: &[],
            now: 0,
            want: in_s1(),
        },
        ProbeCase {
            name: "...and starts them once the sidecar's startup probe passed",
            pod: sidecar_with_startup_probe,
            observed: |o| o.containers = vec![running("cs", "side")],
            backoff: none_backoff,
            liveness: &[],
            startup: &[],
            started: &["cs"],
            now: 0,
            want: PodActions { start: vec![0, 1], ..in_s1() },
        },
        ProbeCase {
            name: "activeDeadlineSeconds not reached yet: nothing to do",
            pod: with_deadline,
            observed: none_obs,
            backoff: none_backoff,
            liveness: &[],
            startup: &[],
            started: &[],
            now: 29,
            want: in_s1(),
        },
        ProbeCase {
            name: "activeDeadlineSeconds passed: terminal, everything killed, nothing restarted",
            pod: with_deadline,
            observed: |o| o.containers[1] = inst("cb", "s1", "b", 0, ContainerState::Exited, Some(1)),
            backoff: none_backoff,
            liveness: &[],
            startup: &[],
            started: &[],
            now: 30,
            want: PodActions { kill_pod: true, terminal: true, deadline_exceeded: true, ..Default::default() },
        },
        ProbeCase {
            name: "a pod whose status is Failed never restarts, even with restartPolicy Always",
            pod: |p| {
                p.status =
                    Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Failed".into()), ..Default::default() })
            },
            observed: |o| o.containers[0] = inst("ca", "s1", "a", 0, ContainerState::Exited, Some(137)),
            backoff: none_backoff,
            liveness: &[],
            startup: &[],
            started: &[],
            now: 0,
            want: PodActions { kill_pod: true, terminal: true, ..Default::default() },
        },
    ];
    for c in cases {
        let mut pod = base_pod();
        (c.pod)(&mut pod);
        let mut obs = base_observed();
        (c.observed)(&mut obs);
        let mut b = Backoff::default();
        (c.backoff)(&mut b);
        let probes = ProbeVerdicts {
            liveness: c.liveness.iter().map(|s| s.to_string()).collect(),
            startup: c.startup.iter().map(|s| s.to_string()).collect(),
            started: c.started.iter().map(|s| s.to_string()).collect(),
        };
        let now = t0() + SignedDuration::from_secs(c.now);
        let got = compute_pod_actions(&pod, &obs, &b, &probes, now);
        assert_eq!(got, c.want, "case: {}", c.name);
    }
}

#[test]
fn active_deadline_counts_from_start_time() {
    let mut p = base_pod();
    assert_eq!(active_deadline(&p), None);
    with_deadline(&mut p);
    assert_eq!(active_deadline(&p), Some(t0() + SignedDuration::from_secs(30)));
    assert!(!past_active_deadline(&p, t0() + SignedDuration::from_secs(29)));
    assert!(past_active_deadline(&p, t0() + SignedDuration::from_secs(30)));
}
