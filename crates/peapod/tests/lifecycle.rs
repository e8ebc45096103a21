//! Pod lifecycle as Kubernetes does it, end to end with real runc, CNI, the
//! shim and kubectl: init containers and sidecars, probes, lifecycle hooks,
//! graceful deletion, activeDeadlineSeconds, resources and OOM kills, image
//! changes, config errors that heal, and security contexts.
//!
//! Each test runs one daemon and checks several pods in parallel inside it
//! (probe periods of one second, short grace periods) to keep the file well
//! under three minutes of wall time.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const INIT_AND_SIDECAR: &str = include_str!("../../../examples/init-and-sidecar.yaml");

fn statuses(p: &Value) -> Vec<Value> {
    p.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn init_statuses(p: &Value) -> Vec<Value> {
    p.pointer("/status/initContainerStatuses").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn by_name(p: &Value, name: &str) -> Value {
    statuses(p)
        .into_iter()
        .chain(init_statuses(p))
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no status for {name}: {p}"))
}

fn condition(p: &Value, t: &str) -> String {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == t))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// Events about a pod, oldest first.
fn waiting_reason(c: &Value) -> &str {
    c.pointer("/state/waiting/reason").and_then(Value::as_str).unwrap_or("")
}

/// A file in one of the pod's emptyDir volumes, as the host sees it.
fn empty_dir_file(d: &Daemon, pod: &Value, volume: &str, file: &str) -> std::path::PathBuf {
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    d.data_dir().join("pods").join(uid).join("volumes/kubernetes.io~empty-dir").join(volume).join(file)
}

/// The STATUS column of `peapod get pods` for one pod.
fn status_column(d: &Daemon, pod: &str) -> String {
    let table = d.ok(&["get", "pods", pod]);
    table.lines().nth(1).and_then(|l| l.split_whitespace().nth(2)).unwrap_or("").to_owned()
}

fn pod_yaml(name: &str, extra_spec: &str, containers: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra_spec}  containers:\n{containers}")
}

/// A busybox container entry (indented for `pod_yaml`).
fn container(name: &str, command: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, {command:?}]\n{extra}"
    )
}

#[test]
fn init_containers_and_a_sidecar_run_the_example() {
    let d = Daemon::start("lc-init");
    d.import_busybox();
    d.apply(INIT_AND_SIDECAR);
    let p = d.wait_pod("init-demo", "app and sidecar running", Duration::from_secs(40), |p| {
        statuses(p).first().is_some_and(|c| c.pointer("/state/running").is_some())
            && init_statuses(p).get(1).is_some_and(|c| c.pointer("/state/running").is_some())
    });
    let init = by_name(&p, "make-config");
    assert_eq!(init["state"]["terminated"]["reason"], "Completed");
    assert_eq!(init["ready"], true, "a completed init container is ready");
    assert_eq!(by_name(&p, "log-shipper")["started"], true);
    assert_eq!(condition(&p, "Initialized"), "True");
    // READY counts the sidecar: 2/2.
    let table = d.ok(&["get", "pods", "init-demo"]);
    assert!(table.lines().nth(1).is_some_and(|l| l.contains(" 2/2 ") && l.contains("Running")), "{table}");

    // The app read what the init container wrote; the sidecar ships the app's ticks;
    // the real kubectl sees the same logs.
    let kc = d.kubeconfig.to_str().unwrap();
    let mut shipped = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let out = Command::new(kubectl())
            .args(["--kubeconfig", kc, "logs", "init-demo", "-c", "log-shipper"])
            .output()
            .unwrap();
        shipped = String::from_utf8_lossy(&out.stdout).into_owned();
        if shipped.contains("tick 2") {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(shipped.contains("tick 1") && shipped.contains("tick 2"), "sidecar log: {shipped}");
    let app = d.ok(&["logs", "init-demo", "-c", "app"]);
    assert_eq!(app.lines().next(), Some("configured by init"), "{app}");

    // The sidecar stops after the app on deletion.
    d.ok(&["delete", "pod", "init-demo", "--grace-period=2", "--wait=false"]);
    d.wait_gone("init-demo", Duration::from_secs(20));
    d.assert_clean();
}

#[test]
fn probes_restart_gate_and_mark_readiness() {
    let d = Daemon::start("lc-probes");
    d.import_busybox();
    // Liveness: healthy for ~2 s, then the file goes; failureThreshold 2.
    d.apply(&pod_yaml(
        "live",
        "  terminationGracePeriodSeconds: 1\n",
        &container(
            "app",
            "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600",
            "    livenessProbe:\n      exec: {command: [cat, /tmp/healthy]}\n      periodSeconds: 1\n      failureThreshold: 2\n",
        ),
    ));
    // Readiness over HTTP: the page comes and goes every 3 s.
    d.apply(&pod_yaml(
        "ready",
        "  terminationGracePeriodSeconds: 1\n",
        &container(
            "web",
            "mkdir -p /www; (while true; do echo ok > /www/ready; sleep 3; rm -f /www/ready; sleep 3; done) & exec httpd -f -p 8080 -h /www",
            "    ports: [{name: http, containerPort: 8080}]\n    readinessProbe:\n      httpGet: {path: /ready, port: http}\n      periodSeconds: 1\n      failureThreshold: 1\n",
        ),
    ));
    // Startup gates liveness: liveness would fail at once (failureThreshold 1)
    // until the file appears after 3 s; gated, it never kills the container.
    d.apply(&pod_yaml(
        "slow",
        "  terminationGracePeriodSeconds: 1\n",
        &container(
            "app",
            "sleep 3; touch /tmp/started; exec httpd -f -p 9000 -h /tmp",
            "    startupProbe:\n      exec: {command: [test, -f, /tmp/started]}\n      periodSeconds: 1\n      failureThreshold: 30\n    livenessProbe:\n      exec: {command: [test, -f, /tmp/started]}\n      periodSeconds: 1\n      failureThreshold: 1\n    readinessProbe:\n      tcpSocket: {port: 9000}\n      periodSeconds: 1\n",
        ),
    ));

    // An exec probe that outlives its timeout: failed, and its process killed.
    d.apply(&pod_yaml(
        "hang",
        "  terminationGracePeriodSeconds: 1\n",
        &container(
            "app",
            "sleep 3600",
            "    readinessProbe:\n      exec: {command: [sleep, '30']}\n      timeoutSeconds: 1\n      periodSeconds: 1\n",
        ),
    ));

    std::thread::scope(|s| {
        s.spawn(|| {
            let p = d.wait_running("hang");
            d.wait_event(
                "hang",
                "Unhealthy",
                "Readiness probe failed: command timed out: \"sleep 30\" timed out after 1s",
                Duration::from_secs(15),
            );
            std::thread::sleep(Duration::from_secs(2));
            // Processes of the container, found through its cgroup on the host.
            let id = container_id(&by_name(&p, "app"));
            let hung: Vec<String> = std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter(|e| std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|c| c.contains(&id)))
                .map(|e| {
                    String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default())
                        .replace('\0', " ")
                })
                .filter(|c| c.starts_with("sleep 30"))
                .collect();
            assert!(hung.len() <= 1, "timed-out probes are killed, not left running: {hung:?}");
            assert_eq!(by_name(&d.pod("hang").unwrap(), "app")["ready"], false);
        });
        s.spawn(|| {
            let p = d.wait_pod("live", "restarted after failing liveness", Duration::from_secs(30), |p| {
                statuses(p).first().is_some_and(|c| c["restartCount"].as_i64().unwrap_or(0) >= 1)
            });
            let c = by_name(&p, "app");
            assert_eq!(c["lastState"]["terminated"]["exitCode"], 137, "killed: {c}");
            d.wait_event(
                "live",
                "Unhealthy",
                "Liveness probe failed: cat: can't open '/tmp/healthy'",
                Duration::from_secs(5),
            );
            d.wait_event(
                "live",
                "Killing",
                "Container app failed liveness probe, will be restarted",
                Duration::from_secs(5),
            );
        });
        s.spawn(|| {
            let ready = |want: bool| {
                d.wait_pod("ready", &format!("ready={want}"), Duration::from_secs(20), |p| {
                    statuses(p).first().is_some_and(|c| c["ready"] == want)
                        && condition(p, "Ready") == if want { "True" } else { "False" }
                        && condition(p, "ContainersReady") == if want { "True" } else { "False" }
                })
            };
            ready(true);
            let p = ready(false);
            assert!(by_name(&p, "web").pointer("/state/running").is_some(), "not ready, still running");
            ready(true);
            d.wait_event(
                "ready",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 404",
                Duration::from_secs(5),
            );
            assert_eq!(by_name(&d.pod("ready").unwrap(), "web")["restartCount"], 0, "readiness never restarts");
        });
        s.spawn(|| {
            let early = d.wait_pod("slow", "running", Duration::from_secs(20), |p| {
                statuses(p).first().is_some_and(|c| c.pointer("/state/running").is_some())
            });
            let c = by_name(&early, "app");
            if c["started"] == false {
                assert_eq!(c["ready"], false, "not ready before started: {c}");
            }
            let p = d.wait_pod("slow", "started and ready", Duration::from_secs(20), |p| {
                statuses(p).first().is_some_and(|c| c["started"] == true && c["ready"] == true)
            });
            assert_eq!(by_name(&p, "app")["restartCount"], 0, "liveness was held back by the startup probe");
            assert!(!d.has_event("slow", "Unhealthy", "Liveness probe"), "{:?}", d.events_of("slow"));
            assert!(d.has_event("slow", "Unhealthy", "Startup probe failed"));
        });
    });
}

#[test]
fn hooks_graceful_deletion_and_active_deadline() {
    let d = Daemon::start("lc-hooks");
    d.import_busybox();
    let hooks = pod_yaml(
        "hooks",
        "  terminationGracePeriodSeconds: 10\n  volumes: [{name: data, emptyDir: {}}]\n",
        &container(
            "main",
            "trap 'echo term >> /data/log; exit 0' TERM; echo main >> /data/log; while true; do sleep 0.2; done",
            "    volumeMounts: [{name: data, mountPath: /data}]\n    lifecycle:\n      postStart: {exec: {command: [sh, -c, 'sleep 1; echo poststart >> /data/log']}}\n      preStop: {exec: {command: [sh, -c, 'echo prestop >> /data/log; sleep 1']}}\n",
        ),
    );
    d.apply(&hooks);
    // sleep as PID 1 ignores SIGTERM: SIGKILL after the 3 s grace period.
    d.apply(&pod_yaml(
        "stubborn",
        "  terminationGracePeriodSeconds: 3\n",
        "  - name: main\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sleep, '3600']\n",
    ));
    d.apply(&pod_yaml(
        "polite",
        "  terminationGracePeriodSeconds: 30\n",
        &container("main", "trap 'exit 0' TERM; while true; do sleep 0.2; done", ""),
    ));
    d.apply(&pod_yaml(
        "deadline",
        "  activeDeadlineSeconds: 3\n  terminationGracePeriodSeconds: 1\n",
        &container("main", "sleep 3600", ""),
    ));

    std::thread::scope(|s| {
        s.spawn(|| {
            // postStart: the container is reported Running only once the hook returned.
            let p = d.wait_running("hooks");
            let log = empty_dir_file(&d, &p, "data", "log");
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(text.contains("poststart"), "Running before postStart returned: {text:?}");
            d.ok(&["delete", "pod", "hooks", "--wait=false"]);
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut text = String::new();
            while Instant::now() < deadline {
                text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("term") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let lines: Vec<&str> = text.lines().collect();
            let pos = |w: &str| lines.iter().position(|l| *l == w).unwrap_or_else(|| panic!("{w} missing: {lines:?}"));
            assert!(pos("prestop") < pos("term"), "preStop runs before the stop signal: {lines:?}");
            d.wait_gone("hooks", Duration::from_secs(15));
        });
        s.spawn(|| {
            d.wait_running("stubborn");
            d.wait_running("polite");
            let start = Instant::now();
            d.ok(&["delete", "pod", "stubborn", "polite", "--wait=false"]);
            // Terminating while it stops.
            let st = status_column(&d, "stubborn");
            assert!(st == "Terminating" || st.is_empty(), "STATUS while stopping: {st}");
            d.wait_gone("polite", Duration::from_secs(10));
            let polite = start.elapsed();
            d.wait_gone("stubborn", Duration::from_secs(15));
            let stubborn = start.elapsed();
            assert!(polite < Duration::from_millis(2500), "SIGTERM handled at once, gone in {polite:?}");
            assert!(
                stubborn >= Duration::from_millis(1900) && stubborn < Duration::from_secs(8),
                "SIGKILL after the 3 s grace period, gone in {stubborn:?}"
            );
            assert!(d.has_event("stubborn", "Killing", "Stopping container main"));
        });
        s.spawn(|| {
            let p = d.wait_pod("deadline", "Failed by its deadline", Duration::from_secs(20), |p| {
                p["status"]["phase"] == "Failed"
                    && statuses(p).first().is_some_and(|c| c.pointer("/state/terminated").is_some())
            });
            assert_eq!(p["status"]["reason"], "DeadlineExceeded");
            assert_eq!(p["status"]["message"], "Pod was active on the node longer than the specified deadline");
            assert_eq!(by_name(&p, "main")["state"]["terminated"]["exitCode"], 137);
            d.wait_event("deadline", "DeadlineExceeded", "longer than the specified deadline", Duration::from_secs(5));
            // Terminal: nothing is restarted.
            std::thread::sleep(Duration::from_secs(2));
            assert_eq!(by_name(&d.pod("deadline").unwrap(), "main")["restartCount"], 0);
        });
    });
}

#[test]
fn resources_oom_image_change_and_config_errors() {
    let d = Daemon::start("lc-res");
    d.import_busybox();
    d.ok(&["image", "import", busybox_tar().to_str().unwrap(), "busybox:v2"]);
    // Allocates past its 32 Mi limit (tail keeps the whole line /dev/zero never ends).
    d.apply(&pod_yaml(
        "hog",
        "  restartPolicy: Never\n",
        &container(
            "hog",
            "exec tail /dev/zero",
            "    resources:\n      limits: {memory: 32Mi, cpu: 500m}\n      requests: {memory: 32Mi, cpu: 500m}\n",
        ),
    ));
    let two = |image: &str| {
        pod_yaml(
            "pair",
            "  terminationGracePeriodSeconds: 1\n",
            &format!(
                "  - name: a\n    image: {image}\n    imagePullPolicy: IfNotPresent\n    command: [sleep, '3600']\n  - name: b\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sleep, '3600']\n"
            ),
        )
    };
    d.apply(&two("busybox:latest"));
    d.apply(&pod_yaml(
        "needs-config",
        "  terminationGracePeriodSeconds: 1\n",
        &container(
            "app",
            "echo color=$COLOR; sleep 3600",
            "    env:\n    - name: COLOR\n      valueFrom: {configMapKeyRef: {name: settings, key: color}}\n",
        ),
    ));

    std::thread::scope(|s| {
        s.spawn(|| {
            let p = d.wait_pod("hog", "OOM killed", Duration::from_secs(30), |p| p["status"]["phase"] == "Failed");
            let t = &by_name(&p, "hog")["state"]["terminated"];
            assert_eq!((t["reason"].as_str(), t["exitCode"].as_i64()), (Some("OOMKilled"), Some(137)), "{t}");
            assert_eq!(p["status"]["qosClass"], "Guaranteed");
            assert_eq!(status_column(&d, "hog"), "OOMKilled");
        });
        s.spawn(|| {
            let before = d.wait_running("pair");
            // The pod-level cgroup carries the summed limits kubelet would set (BestEffort: min shares).
            let uid = before["metadata"]["uid"].as_str().unwrap();
            let shares = std::fs::read_to_string(format!(
                "/sys/fs/cgroup/cpu/{}/pod{uid}/cpu.shares",
                d.cgroup_root.trim_start_matches('/')
            ))
            .unwrap();
            assert_eq!(shares.trim(), "2");
            let ip = before["status"]["podIP"].clone();
            let (a0, b0) = (container_id(&by_name(&before, "a")), container_id(&by_name(&before, "b")));
            let b_pid = container_pid(&d, &b0);
            d.apply(&two("busybox:v2"));
            let after = d.wait_pod("pair", "a restarted with the new image", Duration::from_secs(30), |p| {
                let a = by_name(p, "a");
                a["restartCount"] == 1 && a.pointer("/state/running").is_some()
            });
            assert_ne!(container_id(&by_name(&after, "a")), a0);
            assert_eq!(by_name(&after, "a")["image"], "docker.io/library/busybox:v2");
            assert_eq!(container_id(&by_name(&after, "b")), b0, "the other container stays");
            assert_eq!(container_pid(&d, &b0), b_pid);
            assert_eq!(by_name(&after, "b")["restartCount"], 0);
            assert_eq!(after["status"]["podIP"], ip, "same sandbox, same IP");
            assert!(d.has_event("pair", "Killing", "Container a definition changed, will be restarted"));
        });
        s.spawn(|| {
            d.wait_pod("needs-config", "CreateContainerConfigError", Duration::from_secs(20), |p| {
                statuses(p).first().is_some_and(|c| waiting_reason(c) == "CreateContainerConfigError")
            });
            assert_eq!(status_column(&d, "needs-config"), "CreateContainerConfigError");
            d.wait_event("needs-config", "Failed", "configmap \"settings\" not found", Duration::from_secs(5));
            d.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: teal}\n");
            d.wait_running("needs-config");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut logs = String::new();
            while Instant::now() < deadline && !logs.contains("color=teal") {
                logs = d.ok(&["logs", "needs-config"]);
                std::thread::sleep(Duration::from_millis(200));
            }
            assert_eq!(logs.trim(), "color=teal");
        });
    });
}

#[test]
fn security_contexts_and_termination_messages() {
    let d = Daemon::start("lc-sec");
    d.import_busybox();
    let never = "  restartPolicy: Never\n";
    let unshare = "unshare -U true && echo allowed || echo denied";
    d.apply(&pod_yaml(
        "confined",
        &format!("{never}  securityContext: {{seccompProfile: {{type: RuntimeDefault}}}}\n"),
        &container("c", unshare, ""),
    ));
    d.apply(&pod_yaml("unconfined", never, &container("c", unshare, "")));
    d.apply(&pod_yaml(
        "shared",
        &format!("{never}  shareProcessNamespace: true\n"),
        &container("c", "ps -o pid,args", ""),
    ));
    d.apply(&pod_yaml(
        "user",
        &format!("{never}  securityContext: {{runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}}\n  volumes: [{{name: data, emptyDir: {{}}}}]\n"),
        &container("c", "id; touch /data/f; stat -c '%g %A' /data /data/f", "    volumeMounts: [{name: data, mountPath: /data}]\n"),
    ));
    d.apply(&pod_yaml("nonroot", "  securityContext: {runAsNonRoot: true}\n", &container("c", "sleep 3600", "")));
    d.apply(&pod_yaml(
        "messages",
        never,
        &format!(
            "{}{}",
            container("file", "echo bye from file > /tmp/msg; exit 3", "    terminationMessagePath: /tmp/msg\n"),
            container("logs", "echo last words; exit 4", "    terminationMessagePolicy: FallbackToLogsOnError\n")
        ),
    ));
    d.apply(&pod_yaml(
        "sysctl",
        "  securityContext: {sysctls: [{name: net.core.somaxconn, value: '1024'}]}\n",
        &container("c", "sleep 3600", ""),
    ));
    d.apply(&pod_yaml(
        "privileged",
        never,
        &container("c", "ls /dev | wc -l", "    securityContext: {privileged: true}\n"),
    ));
    d.apply(&pod_yaml("plain", never, &container("c", "ls /dev | wc -l", "")));
    d.apply(&pod_yaml(
        "locked",
        never,
        &container(
            "c",
            "touch /x 2>/dev/null && echo rootfs-writable || echo rootfs-readonly; grep -E '^(NoNewPrivs|CapEff)' /proc/self/status",
            "    securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n",
        ),
    ));
    d.apply(&pod_yaml(
        "hostpid",
        &format!("{never}  hostPID: true\n"),
        &container("c", "ps -o pid,args | sed -n 2p", ""),
    ));
    let done = |name: &str| {
        d.wait_pod(name, "finished", Duration::from_secs(30), |p| {
            matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
        })
    };
    for name in ["confined", "unconfined", "shared", "user", "messages", "privileged", "plain", "locked", "hostpid"] {
        done(name);
    }
    // privileged: every host device; otherwise runc's minimal /dev.
    let count = |name: &str| d.ok(&["logs", name]).trim().parse::<usize>().unwrap();
    let (privileged, plain) = (count("privileged"), count("plain"));
    assert!(privileged > plain + 10, "privileged /dev has {privileged} entries, plain {plain}");
    // readOnlyRootFilesystem, allowPrivilegeEscalation: false (no_new_privs), all capabilities dropped.
    let locked = d.ok(&["logs", "locked"]);
    assert!(locked.contains("rootfs-readonly"), "{locked}");
    assert!(locked.contains("NoNewPrivs:\t1") && locked.contains("CapEff:\t0000000000000000"), "{locked}");
    // hostPID: the host's PID 1, not the pod's pause.
    let host_pid1 = d.ok(&["logs", "hostpid"]);
    assert!(host_pid1.split_whitespace().next() == Some("1") && !host_pid1.contains("/pause"), "{host_pid1}");
    // seccomp RuntimeDefault blocks unshare (no CAP_SYS_ADMIN); Unconfined, kubelet's default, allows it.
    let confined = d.ok(&["logs", "confined"]);
    assert!(confined.contains("Operation not permitted") && confined.contains("denied"), "{confined}");
    assert_eq!(d.ok(&["logs", "unconfined"]).trim(), "allowed");
    // shareProcessNamespace: the pause process is PID 1 of the pod.
    let ps = d.ok(&["logs", "shared"]);
    assert!(ps.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "/pause"]), "{ps}");
    // runAsUser/runAsGroup, fsGroup as a supplementary group owning the volume (setgid).
    let user = d.ok(&["logs", "user"]);
    assert!(user.contains("uid=1000 gid=3000 groups=2000,3000"), "{user}");
    assert!(user.contains("2000 drwxrwsrwx") && user.contains("2000 -rw-r--r--"), "{user}");
    // runAsNonRoot with an image that runs as root: refused, with kubelet's message.
    let p = d.wait_pod("nonroot", "CreateContainerConfigError", Duration::from_secs(20), |p| {
        statuses(p).first().is_some_and(|c| waiting_reason(c) == "CreateContainerConfigError")
    });
    let msg = by_name(&p, "c")["state"]["waiting"]["message"].as_str().unwrap_or("").to_owned();
    assert!(msg.starts_with("container has runAsNonRoot and image will run as root"), "{msg}");
    // Termination messages: the file at terminationMessagePath; the log tail on error.
    let p = d.pod("messages").unwrap();
    assert_eq!(by_name(&p, "file")["state"]["terminated"]["message"], "bye from file\n");
    assert_eq!(by_name(&p, "logs")["state"]["terminated"]["message"], "last words");
    assert_eq!(status_column(&d, "messages"), "Error");
    // An unsafe sysctl: rejected before anything runs.
    let p = d.wait_pod("sysctl", "rejected", Duration::from_secs(20), |p| p["status"]["phase"] == "Failed");
    assert_eq!(p["status"]["reason"], "SysctlForbidden");
    assert_eq!(p["status"]["message"], "Pod was rejected: forbidden sysctl: \"net.core.somaxconn\" not allowlisted");
    assert_eq!(status_column(&d, "sysctl"), "SysctlForbidden");
}

/// kubectl against this daemon; returns (success, stdout+stderr).
fn kubectl_run(d: &Daemon, args: &[&str]) -> (bool, String) {
    let out = d.kubectl(args, b"");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn annotation<'a>(p: &'a Value, key: &str) -> &'a str {
    p.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn static_pods_run_from_the_manifest_dir_with_mirror_pods() {
    let manifests = tempfile::Builder::new().prefix("peapod-e2e-manifests-").tempdir().unwrap();
    let dir = manifests.path().to_str().unwrap().to_owned();
    let unsafe_ok = "kernel.msg*,net.core.somaxconn";
    let mut d = Daemon::start_with("lc-static", &["--manifest-dir", &dir, "--allowed-unsafe-sysctls", unsafe_ok]);
    d.import_busybox();
    // --allowed-unsafe-sysctls: these are set in the pod's namespaces.
    d.apply(&pod_yaml(
        "unsafe-sysctls",
        "  securityContext: {sysctls: [{name: net.core.somaxconn, value: '1234'}, {name: kernel.msgmax, value: '9999'}]}\n",
        &container("main", "cat /proc/sys/net/core/somaxconn /proc/sys/kernel/msgmax; sleep 3600", ""),
    ));
    let web = |version: &str| {
        pod_yaml(
            "static-web",
            "  terminationGracePeriodSeconds: 2\n",
            &container("main", &format!("echo {version}; trap 'exit 0' TERM; while true; do sleep 0.2; done"), ""),
        )
        .replace("metadata: {name: static-web}", "metadata: {name: static-web, labels: {role: myrole}}")
    };
    std::fs::write(manifests.path().join("web.yaml"), web("v1")).unwrap();
    // A hidden file is ignored; a bad one is refused with its file and field.
    std::fs::write(manifests.path().join(".web.yaml.swp"), "garbage").unwrap();
    std::fs::write(
        manifests.path().join("bad.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: c}]}\n",
    )
    .unwrap();

    // The mirror pod: named <name>-<node>, owned by the Node, pointing at the static pod.
    let name = "static-web-e2e-node";
    let p = d.wait_running(name);
    let static_uid = annotation(&p, "kubernetes.io/config.mirror").to_owned();
    assert_eq!(static_uid.len(), 32, "{p:#}");
    assert_eq!(annotation(&p, "kubernetes.io/config.hash"), static_uid);
    assert_eq!(annotation(&p, "kubernetes.io/config.source"), "file");
    assert_ne!(p["metadata"]["uid"].as_str().unwrap(), static_uid);
    assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(p["metadata"]["labels"]["role"], "myrole");
    let first_container = container_id(&by_name(&p, "main"));
    let (ok, out) = kubectl_run(&d, &["logs", name]);
    assert!(ok && out.contains("v1"), "{out}");
    let (ok, out) = kubectl_run(&d, &["exec", name, "--", "cat", "/etc/hostname"]);
    assert!(ok && out.trim() == "static-web-e2e-node", "{out}");
    // describe finds the static pod's events (kubelet records them under its UID).
    let (ok, out) = kubectl_run(&d, &["describe", "pod", name]);
    assert!(ok && out.contains("Started container main") && !out.contains("default-scheduler"), "{out}");
    let out = d.ok(&["describe", "pod", name]);
    assert!(out.contains("Started container main"), "{out}");
    let (ok, out) = kubectl_run(&d, &["get", "events", "-o", "json"]);
    assert!(ok, "{out}");
    let evs: Value = serde_json::from_str(&out).unwrap();
    let refused = evs["items"].as_array().unwrap().iter().find(|e| e["reason"] == "FailedStaticPod");
    let msg = refused.map(|e| e["message"].as_str().unwrap_or("").to_owned()).unwrap_or_default();
    assert!(msg.contains("bad.yaml") && msg.contains("spec.containers[0].image"), "{out}");

    d.wait_running("unsafe-sysctls");
    let (ok, out) = kubectl_run(&d, &["logs", "unsafe-sysctls"]);
    assert!(ok && out.split_whitespace().collect::<Vec<_>>() == ["1234", "9999"], "{out}");
    d.ok(&["delete", "pod", "unsafe-sysctls", "--grace-period=0", "--force"]);

    // Deleting the mirror pod through the API does not stop the static pod: the mirror comes back.
    // --wait=false: the node replaces the mirror within a millisecond of the
    // DELETE, and under load kubectl's wait sometimes ended up waiting on
    // the replacement (seen twice in 8 loaded runs), which is never deleted.
    // The wait below checks what matters: a new mirror, same container.
    let (ok, out) = kubectl_run(&d, &["delete", "pod", name, "--wait=false"]);
    assert!(ok, "{out}");
    let p2 = d.wait_pod(name, "a new running mirror pod", Duration::from_secs(10), |q| {
        q["metadata"]["uid"] != p["metadata"]["uid"] && q.pointer("/status/containerStatuses/0/state/running").is_some()
    });
    assert_eq!(container_id(&by_name(&p2, "main")), first_container, "the container must keep running");
    assert_eq!(by_name(&p2, "main")["restartCount"], 0);

    // A daemon restart adopts the running static pod, and starts one whose
    // manifest appeared while it was down.
    d.stop();
    std::fs::write(manifests.path().join("late.yaml"), web("late").replace("name: static-web", "name: late")).unwrap();
    d.spawn();
    let p3 = d.wait_running(name);
    assert_eq!(container_id(&by_name(&p3, "main")), first_container, "adopted after a restart");
    assert_eq!(annotation(&p3, "kubernetes.io/config.mirror"), static_uid);
    d.wait_running("late-e2e-node");
    std::fs::remove_file(manifests.path().join("late.yaml")).unwrap();
    d.wait_gone("late-e2e-node", Duration::from_secs(20));

    // Editing the file replaces the pod.
    std::fs::write(manifests.path().join("web.yaml"), web("v2")).unwrap();
    let p4 = d.wait_pod(name, "the edited pod running", Duration::from_secs(20), |q| {
        annotation(q, "kubernetes.io/config.mirror") != static_uid
            && q.pointer("/status/containerStatuses/0/state/running").is_some()
    });
    let (ok, out) = kubectl_run(&d, &["logs", name]);
    assert!(ok && out.contains("v2") && !out.contains("v1"), "{out}");
    assert_ne!(container_id(&by_name(&p4, "main")), first_container);

    // Removing the file stops it, and nothing is left.
    std::fs::remove_file(manifests.path().join("web.yaml")).unwrap();
    d.wait_gone(name, Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !d.pod_processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    d.assert_clean();
}
