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
            netns_path: None,
            runtime_handler: "runc".into(),
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
        startup: &HashMap::new(),
        outcome: PodOutcome::Active,
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

/// Status with probe verdicts and a pod outcome.
fn status_full(
    p: &Pod,
    o: &Observed,
    backoff: &[BackoffWait],
    waiting: &HashMap<String, Waiting>,
    probes: (&HashMap<String, bool>, &HashMap<String, bool>),
    outcome: PodOutcome,
) -> PodStatus {
    compute_status(&StatusInput {
        pod: p,
        observed: o,
        waiting,
        backoff,
        host_ip: "192.0.2.2",
        now: t0(),
        messages: &HashMap::new(),
        readiness: probes.0,
        startup: probes.1,
        outcome,
    })
}

#[test]
fn probes_decide_started_and_ready() {
    use k8s_openapi::api::core::v1::Probe;
    let mut p = pod("Always", &[], &["a"]);
    let c = &mut p.spec.as_mut().unwrap().containers[0];
    c.startup_probe = Some(Probe::default());
    c.readiness_probe = Some(Probe::default());
    let o = observed(vec![inst("a", 0, ContainerState::Running, None)]);
    let none = HashMap::new();
    let yes = HashMap::from([("a-0".to_string(), true)]);
    let no = HashMap::from([("a-0".to_string(), false)]);
    let check = |readiness: &HashMap<String, bool>, startup: &HashMap<String, bool>| {
        let s = status_full(&p, &o, &[], &HashMap::new(), (readiness, startup), PodOutcome::Active);
        let cs = s.container_statuses.clone().unwrap().remove(0);
        (cs.started, cs.ready, cond(&s, "Ready").to_string(), cond(&s, "ContainersReady").to_string())
    };
    // Startup probe not passed: neither started nor ready, whatever readiness says.
    assert_eq!(check(&yes, &none), (Some(false), false, "False".into(), "False".into()));
    // Started, readiness not yet proven: not ready.
    assert_eq!(check(&none, &yes), (Some(true), false, "False".into(), "False".into()));
    assert_eq!(check(&no, &yes), (Some(true), false, "False".into(), "False".into()));
    assert_eq!(check(&yes, &yes), (Some(true), true, "True".into(), "True".into()));
}

#[test]
fn deadline_rejection_and_deletion_decide_the_phase() {
    let p = pod("Always", &[], &["a"]);
    let running = observed(vec![inst("a", 0, ContainerState::Running, None)]);
    let none = HashMap::new();
    let s = status_full(&p, &running, &[], &HashMap::new(), (&none, &none), PodOutcome::DeadlineExceeded);
    assert_eq!(
        (s.phase.as_deref(), s.reason.as_deref(), s.message.as_deref()),
        (Some("Failed"), Some("DeadlineExceeded"), Some(DEADLINE_MESSAGE))
    );
    // Later syncs keep the terminal phase and its reason.
    let mut later = p.clone();
    later.status = Some(s);
    let killed = observed(vec![inst("a", 0, ContainerState::Exited, Some(137))]);
    let s = status(&later, &killed, &[], &HashMap::new());
    assert_eq!((s.phase.as_deref(), s.reason.as_deref()), (Some("Failed"), Some("DeadlineExceeded")));
    assert_eq!(cond(&s, "Ready"), "False");

    let rejected = PodOutcome::Rejected { reason: "SysctlForbidden".into(), message: "forbidden".into() };
    let s = status_full(&p, &Observed::default(), &[], &HashMap::new(), (&none, &none), rejected);
    assert_eq!((s.phase.as_deref(), s.reason.as_deref()), (Some("Failed"), Some("SysctlForbidden")));
    assert!(s.container_statuses.is_none(), "no container ever existed");

    // Deleted: terminal by exit codes once everything stopped.
    let ok = observed(vec![inst("a", 0, ContainerState::Exited, Some(0))]);
    let s = status_full(&p, &ok, &[], &HashMap::new(), (&none, &none), PodOutcome::Deleted);
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    let s = status_full(&p, &killed, &[], &HashMap::new(), (&none, &none), PodOutcome::Deleted);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
}

#[test]
fn completed_init_containers_are_ready() {
    let p = pod("Always", &["i1"], &["app"]);
    let o =
        observed(vec![inst("i1", 0, ContainerState::Exited, Some(0)), inst("app", 0, ContainerState::Running, None)]);
    let s = status(&p, &o, &[], &HashMap::new());
    let i1 = &s.init_container_statuses.as_ref().unwrap()[0];
    assert!(i1.ready);
    assert_eq!(i1.started, Some(false));
}

/// The STATUS column kubectl prints for a pod in each state, computed by the
/// same Table code the API serves (`kubectl get pods`).
#[test]
fn status_column_strings() {
    use peapod_api::table::{IncludeObject, table_row};
    let none = HashMap::new();
    let backoff = |name: &str| {
        vec![BackoffWait {
            name: name.into(),
            remaining: std::time::Duration::from_secs(5),
            delay: std::time::Duration::from_secs(10),
        }]
    };
    let mut oom = inst("a", 0, ContainerState::Exited, Some(137));
    oom.reason = Some("OOMKilled".into());
    struct Case {
        name: &'static str,
        pod: Pod,
        observed: Observed,
        backoff: Vec<BackoffWait>,
        waiting: HashMap<String, Waiting>,
        deleting: bool,
        want: &'static str,
    }
    let case = |name, pod: Pod, observed: Observed, want| Case {
        name,
        pod,
        observed,
        backoff: vec![],
        waiting: HashMap::new(),
        deleting: false,
        want,
    };
    let cases = vec![
        case("nothing created yet", pod("Always", &[], &["a"]), Observed::default(), "ContainerCreating"),
        case(
            "first of two init containers running",
            pod("Always", &["i1", "i2"], &["a"]),
            observed(vec![inst("i1", 0, ContainerState::Running, None)]),
            "Init:0/2",
        ),
        case(
            "second init container running",
            pod("Always", &["i1", "i2"], &["a"]),
            observed(vec![
                inst("i1", 0, ContainerState::Exited, Some(0)),
                inst("i2", 0, ContainerState::Running, None),
            ]),
            "Init:1/2",
        ),
        Case {
            backoff: backoff("i1"),
            ..case(
                "init container crash-looping",
                pod("Always", &["i1"], &["a"]),
                observed(vec![inst("i1", 2, ContainerState::Exited, Some(1))]),
                "Init:CrashLoopBackOff",
            )
        },
        case(
            "init container failed, restartPolicy Never",
            pod("Never", &["i1"], &["a"]),
            observed(vec![inst("i1", 0, ContainerState::Exited, Some(1))]),
            "Init:Error",
        ),
        case(
            "init done, app not created yet",
            pod("Always", &["i1"], &["a"]),
            observed(vec![inst("i1", 0, ContainerState::Exited, Some(0))]),
            "PodInitializing",
        ),
        case(
            "running",
            pod("Always", &[], &["a"]),
            observed(vec![inst("a", 0, ContainerState::Running, None)]),
            "Running",
        ),
        Case {
            backoff: backoff("a"),
            ..case(
                "crash loop",
                pod("Always", &[], &["a"]),
                observed(vec![inst("a", 3, ContainerState::Exited, Some(1))]),
                "CrashLoopBackOff",
            )
        },
        case(
            "completed",
            pod("Never", &[], &["a"]),
            observed(vec![inst("a", 0, ContainerState::Exited, Some(0))]),
            "Completed",
        ),
        case(
            "error",
            pod("Never", &[], &["a"]),
            observed(vec![inst("a", 0, ContainerState::Exited, Some(2))]),
            "Error",
        ),
        case("oom killed", pod("Never", &[], &["a"]), observed(vec![oom]), "OOMKilled"),
        Case {
            waiting: HashMap::from([(
                "a".to_string(),
                Waiting { reason: "CreateContainerConfigError".into(), message: "configmap \"x\" not found".into() },
            )]),
            ..case("config error", pod("Always", &[], &["a"]), Observed::default(), "CreateContainerConfigError")
        },
        Case {
            deleting: true,
            ..case(
                "being deleted",
                pod("Always", &[], &["a"]),
                observed(vec![inst("a", 0, ContainerState::Running, None)]),
                "Terminating",
            )
        },
    ];
    for c in cases {
        let s = status_full(&c.pod, &c.observed, &c.backoff, &c.waiting, (&none, &none), PodOutcome::Active);
        let mut obj = serde_json::to_value(&c.pod).unwrap();
        obj["status"] = serde_json::to_value(&s).unwrap();
        obj["metadata"]["creationTimestamp"] = serde_json::json!(t0().to_string());
        if c.deleting {
            obj["metadata"]["deletionTimestamp"] = serde_json::json!(t0().to_string());
        }
        let row = table_row("pods", &obj, t0(), IncludeObject::None);
        assert_eq!(row["cells"][2], c.want, "case: {}", c.name);
    }
}

#[test]
fn readiness_gates_hold_ready_and_foreign_conditions_survive() {
    use k8s_openapi::api::core::v1::PodReadinessGate;
    let mut p = pod("Always", &[], &["a"]);
    p.spec.as_mut().unwrap().readiness_gates = Some(vec![PodReadinessGate { condition_type: "example.com/lb".into() }]);
    let o = observed(vec![inst("a", 0, ContainerState::Running, None)]);
    let s = status(&p, &o, &[], &HashMap::new());
    assert_eq!((cond(&s, "ContainersReady"), cond(&s, "Ready")), ("True", "False"));
    let ready = s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.reason.as_deref(), Some("ReadinessGatesNotReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("corresponding condition of pod readiness gate \"example.com/lb\" does not exist.")
    );
    // A controller sets the gate's condition: Ready, and the condition is kept.
    let mut with_gate = s.clone();
    with_gate.conditions.as_mut().unwrap().push(PodCondition {
        type_: "example.com/lb".into(),
        status: "True".into(),
        ..Default::default()
    });
    p.status = Some(with_gate);
    let s = status(&p, &o, &[], &HashMap::new());
    assert_eq!(cond(&s, "Ready"), "True");
    assert_eq!(cond(&s, "example.com/lb"), "True");
}

#[test]
fn ephemeral_containers_are_reported_apart() {
    let mut p = pod("Always", &[], &["app"]);
    let dbg = |n: &str| k8s_openapi::api::core::v1::EphemeralContainer {
        name: n.into(),
        image: Some("busybox".into()),
        target_container_name: Some("app".into()),
        ..Default::default()
    };
    p.spec.as_mut().unwrap().ephemeral_containers = Some(vec![dbg("done"), dbg("new")]);
    let o =
        observed(vec![inst("app", 0, ContainerState::Running, None), inst("done", 0, ContainerState::Exited, Some(3))]);
    let s = status(&p, &o, &[], &HashMap::new());
    // The failed debug container changes neither the phase nor readiness.
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let ready = s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "True");
    assert_eq!(s.container_statuses.as_ref().unwrap().len(), 1);
    let e = s.ephemeral_container_statuses.unwrap();
    let names: Vec<&str> = e.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["done", "new"]);
    let t = e[0].state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    assert_eq!(e[0].restart_count, 0);
    let w = e[1].state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(w.reason.as_deref(), Some("ContainerCreating"));
}
