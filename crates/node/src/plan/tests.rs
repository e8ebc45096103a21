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
        let got = compute_pod_actions(&pod, &obs, &b, t0());
        assert_eq!(got, c.want, "case: {}", c.name);
    }
}
