//! The walking skeleton's acceptance, end to end with real runc, CNI, the
//! shim and kubectl: the seed's two-container pod, restarts, crash safety,
//! cleanup, kubectl, and bad input.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const MY_WEB: &str = include_str!("../../../examples/my-web.yaml");
const BUSY_POD: &str = include_str!("../../../examples/busy-pod.yaml");

fn statuses(p: &Value) -> Vec<Value> {
    p.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn by_name(p: &Value, name: &str) -> Value {
    statuses(p).into_iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no status for {name}"))
}

fn ns_inode(pid: i32, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap().to_string_lossy().into_owned()
}

#[test]
fn my_web_shares_network_and_uts_and_leaves_nothing_when_deleted() {
    let mut d = Daemon::start("myweb");
    d.import_busybox();
    assert!(d.apply(MY_WEB).contains("pod/my-web created"));
    let p = d.wait_running("my-web");
    assert_eq!(p["status"]["phase"], "Running");

    // READY 2/2 in the table kubectl and peapod print.
    let table = d.ok(&["get", "pods"]);
    let row = table.lines().find(|l| l.starts_with("my-web")).expect("my-web row");
    assert!(row.split_whitespace().nth(1) == Some("2/2") && row.contains("Running"), "{table}");

    // The client fetched the server's /etc/hostname over 127.0.0.1: shared netns, and it is the pod name.
    let mut logs = String::new();
    for _ in 0..100 {
        logs = d.ok(&["logs", "my-web", "-c", "client"]);
        if logs.contains("my-web") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(logs.lines().any(|l| l == "my-web"), "client log: {logs}");

    // Both containers are in the pause process's net, ipc and uts namespaces,
    // and their kernel hostname is the pod name.
    let p = d.pod("my-web").unwrap();
    let server = container_pid(&d, &container_id(&by_name(&p, "server")));
    let client = container_pid(&d, &container_id(&by_name(&p, "client")));
    for ns in ["net", "ipc", "uts"] {
        assert_eq!(ns_inode(server, ns), ns_inode(client, ns), "{ns} namespace shared");
    }
    assert_ne!(ns_inode(server, "net"), ns_inode(std::process::id() as i32, "net"), "not the host's network");
    for pid in [server, client] {
        let out = Command::new("nsenter").args(["-u", "-t", &pid.to_string(), "hostname"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "my-web");
    }
    // What a container writes to its root file system lands on disk in the
    // data dir (ephemeral storage), not in the state dir's tmpfs.
    d.ok(&["exec", "my-web", "-c", "server", "--", "sh", "-c", "echo kept > /written-by-test"]);
    let layers: Vec<_> = std::fs::read_dir(d.data_dir().join("containers")).unwrap().flatten().collect();
    assert_eq!(layers.len(), 2, "one writable layer per container");
    assert!(
        layers
            .iter()
            .any(|l| std::fs::read_to_string(l.path().join("upper/written-by-test")).is_ok_and(|t| t == "kept\n")),
        "the write is in a layer under the data dir"
    );
    // One pause process for the pod.
    let pauses: Vec<String> = d.pod_processes().into_iter().filter(|p| p.contains(": /pause [")).collect();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    // A pod IP from the pod network.
    let ip = p["status"]["podIP"].as_str().unwrap_or("");
    assert!(ip.starts_with(d.subnet.rsplit_once('.').unwrap().0), "podIP {ip} in {}", d.subnet);

    // Delete: nothing of the pod remains.
    let out = d.ok(&["delete", "pod", "my-web", "--grace-period=1"]);
    assert!(out.contains("pod \"my-web\" deleted"), "{out}");
    assert!(d.pod("my-web").is_none());
    d.assert_clean();
    // The network's masquerade and FORWARD rules go when the daemon stops.
    d.stop();
    d.assert_clean_after_stop();
}

#[test]
fn busy_pod_expands_env_in_args_and_restarts_with_backoff() {
    let d = Daemon::start("busy");
    d.import_busybox();
    d.apply(BUSY_POD);
    let p = d.wait_pod("busy-pod", "two restarts", Duration::from_secs(40), |p| {
        statuses(p).first().is_some_and(|c| c["restartCount"].as_i64().unwrap_or(0) >= 2)
    });
    let c = by_name(&p, "busy");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 0);
    assert_eq!(c["lastState"]["terminated"]["reason"], "Completed");
    let logs = d.ok(&["logs", "busy-pod"]);
    assert_eq!(logs.trim(), "ubuntu, on");
    // In the back-off it shows CrashLoopBackOff, as kubectl does.
    d.wait_pod("busy-pod", "CrashLoopBackOff", Duration::from_secs(20), |p| {
        statuses(p).first().and_then(|c| c.pointer("/state/waiting/reason")).and_then(Value::as_str)
            == Some("CrashLoopBackOff")
    });
    let table = d.ok(&["get", "pods"]);
    assert!(table.contains("CrashLoopBackOff"), "{table}");
    let events = d.ok(&["describe", "pod", "busy-pod"]);
    assert!(events.contains("Back-off restarting failed container busy"), "{events}");
}

#[test]
fn daemon_kill9_loses_no_container_log_or_exit_code() {
    let mut d = Daemon::start("crash");
    d.import_busybox();
    d.apply(MY_WEB);
    d.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: quitter}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: q\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo before; sleep 2; echo after; exit 7']\n",
    );
    let before = d.wait_running("my-web");
    d.wait_running("quitter");
    let pids: Vec<i32> = statuses(&before).iter().map(|c| container_pid(&d, &container_id(c))).collect();

    d.kill9();
    // The quitter exits while no daemon runs.
    std::thread::sleep(Duration::from_secs(3));
    d.spawn();

    let after = d.wait_running("my-web");
    let pids_after: Vec<i32> = statuses(&after).iter().map(|c| container_pid(&d, &container_id(c))).collect();
    assert_eq!(pids, pids_after, "healthy containers were not restarted");
    for c in statuses(&after) {
        assert_eq!(c["restartCount"], 0);
    }
    for pid in &pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    let q = d.wait_pod("quitter", "terminated", Duration::from_secs(20), |p| {
        statuses(p).first().and_then(|c| c.pointer("/state/terminated")).is_some()
    });
    assert_eq!(q["status"]["phase"], "Failed");
    assert_eq!(by_name(&q, "q")["state"]["terminated"]["exitCode"], 7, "exit code recorded while the daemon was down");
    let logs = d.ok(&["logs", "quitter"]);
    assert_eq!(logs, "before\nafter\n", "every line, including those written while the daemon was down");
    // The server's log stream keeps going after the restart.
    let lines_before = d.ok(&["logs", "my-web", "-c", "client"]).lines().count();
    std::thread::sleep(Duration::from_secs(3));
    let lines_after = d.ok(&["logs", "my-web", "-c", "client"]).lines().count();
    assert!(lines_after > lines_before, "logs continue: {lines_before} -> {lines_after}");
}

#[test]
fn kubectl_lists_pods_and_bad_input_gets_status_errors() {
    let d = Daemon::start("kubectl");
    d.import_busybox();
    d.apply(MY_WEB);
    d.wait_running("my-web");
    let kc = d.kubeconfig.to_str().unwrap();
    let out = Command::new(kubectl()).args(["--kubeconfig", kc, "get", "pods"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.starts_with("NAME")
            && text.lines().any(|l| l.starts_with("my-web ") && l.contains("2/2") && l.contains("Running")),
        "{text}"
    );

    let bad = |yaml: &str| {
        use std::io::Write;
        let mut c = Command::new(PEAPOD)
            .args(["apply", "-f", "-"])
            .env("KUBECONFIG", &d.kubeconfig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(!o.status.success(), "should fail: {yaml}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // Malformed YAML: a clear parse error, nothing sent.
    let e = bad("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n");
    assert!(e.contains("error"), "{e}");
    // No image: 422 naming the field.
    let e = bad("apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec:\n  containers:\n  - name: c\n");
    assert!(e.contains("spec.containers[0].image: Required value"), "{e}");
    // Invalid name: 422 naming metadata.name.
    let e = bad(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  containers:\n  - {name: c, image: busybox}\n",
    );
    assert!(e.contains("metadata.name: Invalid value: \"Bad_Name\""), "{e}");

    // The raw API answers with Status bodies and the right codes.
    let token_line = std::fs::read_to_string(&d.kubeconfig).unwrap();
    let token = token_line.lines().find_map(|l| l.trim().strip_prefix("token: ")).unwrap().to_owned();
    let curl = |method: &str, path: &str, body: &str| -> (u16, Value) {
        let out = Command::new("curl")
            .args([
                "-sk",
                "-X",
                method,
                "-H",
                &format!("Authorization: Bearer {token}"),
                "-H",
                "Content-Type: application/json",
            ])
            .args(["-w", "\n%{http_code}", "--data-binary", body])
            .arg(format!("https://127.0.0.1:{}{path}", d.port))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
    };
    let (code, st) = curl(
        "POST",
        "/api/v1/namespaces/default/pods",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c"}]}}"#,
    );
    assert_eq!(code, 422);
    assert_eq!(st["kind"], "Status");
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["causes"][0]["field"], "spec.containers[0].image");
    let (code, st) = curl("POST", "/api/v1/namespaces/default/pods", "{not json");
    assert_eq!((code, st["reason"].as_str()), (400, Some("BadRequest")));
    let (code, st) = curl("GET", "/api/v1/namespaces/default/pods/nosuch", "");
    assert_eq!((code, st["message"].as_str()), (404, Some("pods \"nosuch\" not found")));
    let (code, st) = curl("DELETE", "/peapod/v1/images/nosuch:1", "");
    assert_eq!((code, st["reason"].as_str()), (404, Some("NotFound")));
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://127.0.0.1:{}/api/v1/pods", d.port))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401", "no token, no access");

    // An unknown image: the pod is accepted and reports ErrImagePull.
    d.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: noimg}\nspec:\n  containers:\n  - {name: c, image: 'nosuch/image:1'}\n");
    d.wait_pod("noimg", "ErrImagePull", Duration::from_secs(20), |p| {
        statuses(p)
            .first()
            .and_then(|c| c.pointer("/state/waiting/reason"))
            .and_then(Value::as_str)
            .is_some_and(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
    });

    // The daemon and the store are intact: my-web still runs, the bad pods were never stored.
    let list = d.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(list.lines().collect::<Vec<_>>(), vec!["pod/my-web", "pod/noimg"]);
    d.wait_running("my-web");
}
