//! Issue 3: the official Python client (Debian's `python3-kubernetes`,
//! the PyPI package `kubernetes`) against the daemon, with the kubeconfig
//! the daemon wrote: create, list, watch, read_namespaced_pod_log, and exec
//! through `kubernetes.stream` (WebSocket, v4.channel.k8s.io) with stdin.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// Debian's interpreter: the package installs into its dist-packages, and a
/// `python3` earlier on PATH (pyenv, venv) would not see it.
const PYTHON: &str = "/usr/bin/python3";

const SCRIPT: &str = r#"
import json, sys
from kubernetes import client, config, watch
from kubernetes.stream import stream

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
out = {}

pod = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "py", "labels": {"from": "python"}},
    "spec": {"containers": [{"name": "main", "image": "busybox",
                             "command": ["sh", "-c", "echo hello-from-py; exec sleep 3600"]}]},
}
created = v1.create_namespaced_pod("default", pod)
out["created_uid"] = created.metadata.uid

out["listed"] = [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="from=python").items]

phases = []
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_pod, "default", field_selector="metadata.name=py", timeout_seconds=60):
    phases.append(ev["type"] + ":" + (ev["object"].status.phase or ""))
    if ev["object"].status.phase == "Running":
        w.stop()
out["watch"] = phases

log = ""
for _ in range(100):
    # Once the watch showed Running, the log must be there (a real API
    # server never answers "waiting to start" then); it may still be empty.
    log = v1.read_namespaced_pod_log("py", "default", container="main")
    if log:
        break
    import time; time.sleep(0.1)
out["log"] = log

out["exec"] = stream(v1.connect_get_namespaced_pod_exec, "py", "default", container="main",
                     command=["sh", "-c", "echo $((6*7)); hostname"],
                     stderr=True, stdin=False, stdout=True, tty=False)

resp = stream(v1.connect_get_namespaced_pod_exec, "py", "default", container="main",
              command=["sh", "-c", "read line; echo got:$line; exit 3"],
              stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
resp.write_stdin("piped\n")
got = ""
while resp.is_open():
    resp.update(timeout=5)
    got += resp.read_stdout()
resp.run_forever(timeout=5)
got += resp.read_stdout()
out["exec_stdin"] = got
out["exec_code"] = resp.returncode

try:
    v1.read_namespaced_pod("nope", "default")
    out["missing"] = "found?"
except client.exceptions.ApiException as e:
    out["missing"] = e.status

v1.delete_namespaced_pod("py", "default", grace_period_seconds=0)
print(json.dumps(out))
"#;

#[test]
fn official_python_client_creates_lists_watches_reads_logs_and_execs() {
    if !std::path::Path::new(PYTHON).exists() {
        panic!("{PYTHON} is missing: scripts/install-deps.sh installs python3-kubernetes");
    }
    let d = Daemon::start("pyclient");
    d.import_busybox();
    let script = d.dir.path().join("client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new(PYTHON).arg(&script).arg(&d.kubeconfig).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed\nstdout:\n{stdout}\nstderr:\n{}\ndaemon:\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&d.log(), 40)
    );
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert!(r["created_uid"].as_str().is_some_and(|u| !u.is_empty()), "{r}");
    assert_eq!(r["listed"], serde_json::json!(["py"]), "{r}");
    let watch: Vec<&str> = r["watch"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(watch.last().is_some_and(|e| e.ends_with(":Running")), "{r}");
    assert!(watch[0].starts_with("ADDED:"), "{r}");
    assert_eq!(r["log"], "hello-from-py\n", "{r}");
    assert_eq!(r["exec"], "42\npy\n", "{r}");
    assert_eq!(r["exec_stdin"], "got:piped\n", "{r}");
    assert_eq!(r["exec_code"], 3, "{r}");
    assert_eq!(r["missing"], 404, "{r}");
    d.wait_gone("py", std::time::Duration::from_secs(30));
    d.assert_clean();
}
