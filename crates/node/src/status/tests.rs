use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use peapod_runtime::*;

use super::*;
use crate::plan::{BackoffWait, Observed};

fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

fn pod(policy: &str, inits: &[&str], apps: &[&str]) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some("web".into());
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some("u1".into());
    let c = |n: &&str| Container { name: n.to_string(), image: Some("busybox".into()), ..Default::default() };
    p.spec = Some(PodSpec {
        restart_policy: Some(policy.into()),
        init_containers: if inits.is_empty() { None } else { Some(inits.iter().map(c).collect()) },
        containers: apps.iter().map(c).collect(),
        ..Default::default()
    });
    p
}

fn inst(name: &str, attempt: u32, state: ContainerState, exit: Option<i32>) -> ContainerStatus {
    ContainerStatus {
        id: format!("{name}-{attempt}"),
        sandbox_id: "s1".into(),
        metadata: ContainerMetadata { name: name.into(), attempt },
        state,
        created_at: t0(),
        started_at: Some(t0()),
        finished_at: exit.map(|_| t0()),
        exit_code: exit,
        reason: exit.map(|c| if c == 0 { "Completed".into() } else { "Error".into() }),
        message: None,
        image: "docker.io/library/busybox:latest".into(),
        image_id: "sha256:abc".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        log_path: "/l".into(),
        pid: None,
    }
}

fn observed(containers: Vec<ContainerStatus>) -> Observed {
    Observed {
        sandboxes: vec![PodSandboxStatus {
            id: "s1".into(),
            metadata: PodSandboxMetadata::default(),
            state: SandboxState::Ready,
            created_at: t0(),
            ips: vec!["10.88.0.5".into()],
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            host_network: false,
        }],
        containers,
    }
}

fn status(p: &Pod, o: &Observed, backoff: &[BackoffWait], waiting: &HashMap<String, Waiting>) -> PodStatus {
    compute_status(&StatusInput {
        pod: p,
        observed: o,
        waiting,
        backoff,
        host_ip: "192.0.2.2",
        now: t0(),
        messages: &HashMap::new(),
        readiness: &HashMap::new(),
    })
}

fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a str {
    s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == t).map(|c| c.status.as_str()).unwrap()
}

#[test]
fn running_pod_is_ready_with_ip() {
    let p = pod("Always", &[], &["a", "b"]);
    let o = observed(vec![inst("a", 0, ContainerState::Running, None), inst("b", 0, ContainerState::Running, None)]);
    let s = status(&p, &o, &[], &HashMap::new());
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(cond(&s, "Ready"), "True");
    assert_eq!(cond(&s, "PodReadyToStartContainers"), "True");
    assert_eq!(s.pod_ip.as_deref(), Some("10.88.0.5"));
    let cs = &s.container_statuses.as_ref().unwrap()[0];
    assert!(cs.ready);
    assert_eq!(cs.container_id.as_deref(), Some("runc://a-0"));
}

#[test]
fn crash_loop_shows_back_off_and_last_state() {
    let p = pod("Always", &[], &["busy"]);
    let o = observed(vec![
        inst("busy", 3, ContainerState::Exited, Some(0)),
        inst("busy", 2, ContainerState::Exited, Some(0)),
    ]);
    let b = vec![BackoffWait {
        name: "busy".into(),
        remaining: std::time::Duration::from_secs(5),
        delay: std::time::Duration::from_secs(40),
    }];
    let s = status(&p, &o, &b, &HashMap::new());
    assert_eq!(s.phase.as_deref(), Some("Running"), "Always never ends");
    let cs = &s.container_statuses.as_ref().unwrap()[0];
    let w = cs.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(w.message.as_deref(), Some("back-off 40s restarting failed container=busy pod=web_default(u1)"));
    assert_eq!(cs.restart_count, 3);
    assert_eq!(cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap().reason.as_deref(), Some("Completed"));
    assert_eq!(cond(&s, "Ready"), "False");
}

#[test]
fn phases_by_restart_policy() {
    let done = |code| observed(vec![inst("a", 0, ContainerState::Exited, Some(code))]);
    assert_eq!(status(&pod("Never", &[], &["a"]), &done(0), &[], &HashMap::new()).phase.as_deref(), Some("Succeeded"));
    assert_eq!(status(&pod("Never", &[], &["a"]), &done(1), &[], &HashMap::new()).phase.as_deref(), Some("Failed"));
    assert_eq!(
        status(&pod("OnFailure", &[], &["a"]), &done(0), &[], &HashMap::new()).phase.as_deref(),
        Some("Succeeded")
    );
    assert_eq!(
        status(&pod("OnFailure", &[], &["a"]), &done(1), &[], &HashMap::new()).phase.as_deref(),
        Some("Running")
    );
    assert_eq!(status(&pod("Always", &[], &["a"]), &done(0), &[], &HashMap::new()).phase.as_deref(), Some("Running"));
    // Nothing created yet: Pending, ContainerCreating.
    let s = status(&pod("Always", &[], &["a"]), &Observed::default(), &[], &HashMap::new());
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let w = s.container_statuses.unwrap()[0].state.clone().unwrap().waiting.unwrap();
    assert_eq!(w.reason.as_deref(), Some("ContainerCreating"));
}

#[test]
fn init_containers_hold_the_pod_pending() {
    let p = pod("Always", &["i1", "i2"], &["app"]);
    let o =
        observed(vec![inst("i1", 0, ContainerState::Exited, Some(0)), inst("i2", 0, ContainerState::Running, None)]);
    let s = status(&p, &o, &[], &HashMap::new());
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(cond(&s, "Initialized"), "False");
    let app = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(app.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("PodInitializing"));
    // Never + failed init container: Failed.
    let p = pod("Never", &["i1"], &["app"]);
    let o = observed(vec![inst("i1", 0, ContainerState::Exited, Some(2))]);
    assert_eq!(status(&p, &o, &[], &HashMap::new()).phase.as_deref(), Some("Failed"));
}

#[test]
fn recorded_waiting_reason_is_reported() {
    let p = pod("Always", &[], &["a"]);
    let w = HashMap::from([(
        "a".to_string(),
        Waiting { reason: "CreateContainerConfigError".into(), message: "configmap \"x\" not found".into() },
    )]);
    let s = status(&p, &Observed::default(), &[], &w);
    let st = s.container_statuses.unwrap()[0].state.clone().unwrap().waiting.unwrap();
    assert_eq!(st.reason.as_deref(), Some("CreateContainerConfigError"));
    assert_eq!(st.message.as_deref(), Some("configmap \"x\" not found"));
}

#[test]
fn terminal_phase_is_sticky_and_durations_print_like_go() {
    let mut p = pod("OnFailure", &[], &["a"]);
    p.status = Some(PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
    let o = observed(vec![inst("a", 0, ContainerState::Running, None)]);
    assert_eq!(status(&p, &o, &[], &HashMap::new()).phase.as_deref(), Some("Succeeded"));
    assert_eq!(go_duration(std::time::Duration::from_secs(10)), "10s");
    assert_eq!(go_duration(std::time::Duration::from_secs(300)), "5m0s");
    assert_eq!(go_duration(std::time::Duration::from_secs(80)), "1m20s");
}
