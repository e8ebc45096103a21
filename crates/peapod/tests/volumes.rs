//! Issue 5's volumes, end to end: configMap/secret/downwardAPI/projected
//! files with items and modes, emptyDir on disk and in memory, hostPath
//! types, subPath/subPathExpr, FailedMount with recovery, and the
//! CVE-2017-1002101 symlink attack on subPath.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn pid_of(d: &Daemon, pod: &str, container: &str) -> i32 {
    let p = d.pod(pod).unwrap();
    let cs =
        p["status"]["containerStatuses"].as_array().unwrap().iter().find(|c| c["name"] == container).unwrap().clone();
    container_pid(d, &container_id(&cs))
}

fn sh(pid: i32, script: &str) -> String {
    let out =
        Command::new("nsenter").args(["-t", &pid.to_string(), "-m", "-p", "--", "sh", "-c", script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn events(d: &Daemon, pod: &str) -> String {
    d.ok(&["describe", "pod", pod])
}

fn wait_event(d: &Daemon, pod: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = events(d, pod);
        if e.contains(needle) {
            return e;
        }
        assert!(Instant::now() < deadline, "no event {needle:?}:\n{e}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn config_and_downward_volumes_with_items_modes_and_memory_emptydir() {
    let d = Daemon::start("vols");
    d.import_busybox();
    d.apply(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a.conf: "alpha\n", b.conf: "beta\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {app: vols, tier: back}
  annotations: {note: hello}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 0.2; done']
    resources: {limits: {cpu: 250m, memory: 64Mi}}
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: items, mountPath: /items}
    - {name: sec, mountPath: /sec, readOnly: true}
    - {name: info, mountPath: /info}
    - {name: proj, mountPath: /proj}
    - {name: mem, mountPath: /mem}
    - {name: disk, mountPath: /disk}
    - {name: sub, mountPath: /one.conf, subPath: a.conf}
    - {name: disk, mountPath: /by-pod, subPathExpr: $(POD_NAME)}
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
  volumes:
  - {name: cfg, configMap: {name: cfg}}
  - name: items
    configMap:
      name: cfg
      defaultMode: 0600
      items: [{key: b.conf, path: nested/b.txt, mode: 0640}]
  - {name: sec, secret: {secretName: sec, defaultMode: 0400}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: mem, resourceFieldRef: {containerName: main, resource: limits.memory, divisor: 1Mi}}
  - name: proj
    projected:
      sources:
      - configMap: {name: cfg, items: [{key: a.conf, path: a}]}
      - secret: {name: sec}
      - downwardAPI: {items: [{path: note, fieldRef: {fieldPath: "metadata.annotations['note']"}}]}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
  - {name: disk, emptyDir: {}}
  - {name: sub, configMap: {name: cfg}}
  - name: optional-missing
    configMap: {name: does-not-exist, optional: true}
"#,
    );
    d.wait_running("vols");
    let pid = pid_of(&d, "vols", "main");
    assert_eq!(sh(pid, "cat /cfg/a.conf /cfg/b.conf"), "alpha\nbeta\n");
    assert_eq!(sh(pid, "ls /items; cat /items/nested/b.txt; stat -c %a /items/nested/b.txt"), "nested\nbeta\n640\n");
    assert_eq!(sh(pid, "cat /sec/password; echo; stat -L -c %a /sec/password"), "s3cret\n400\n");
    assert_eq!(sh(pid, "cat /info/name; echo; cat /info/mem"), "vols\n64");
    assert_eq!(sh(pid, "cat /info/labels"), "app=\"vols\"\ntier=\"back\"");
    assert_eq!(sh(pid, "cat /proj/a /proj/password /proj/note"), "alpha\ns3crethello");
    assert!(sh(pid, "mount | grep ' /mem '").contains("tmpfs"), "memory emptyDir is a tmpfs");
    assert!(
        sh(pid, "df -k /mem | tail -1").split_whitespace().nth(1).is_some_and(|k| k == "16384"),
        "{}",
        sh(pid, "df -k /mem")
    );
    assert_eq!(sh(pid, "cat /one.conf"), "alpha\n");
    sh(pid, "echo x > /by-pod/f");
    assert_eq!(sh(pid, "cat /disk/vols/f"), "x\n", "subPathExpr expanded to the pod name");
    assert!(sh(pid, "touch /sec/nope 2>&1; echo rc=$?").contains("rc=1"), "readOnly mount");
    // Secret volumes are memory-backed, as kubelet makes them.
    let uid = d.pod("vols").unwrap()["metadata"]["uid"].as_str().unwrap().to_owned();
    let sec_dir = d.data_dir().join("pods").join(&uid).join("volumes/kubernetes.io~secret/sec");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mounts.lines().any(|l| l.contains(sec_dir.to_str().unwrap()) && l.contains(" - tmpfs ")),
        "secret on tmpfs"
    );
    d.ok(&["delete", "pod", "vols", "--grace-period=1"]);
    d.assert_clean();
}

#[test]
fn failed_mounts_are_reported_and_recover_by_themselves() {
    let d = Daemon::start("failmount");
    d.import_busybox();
    let host_file = d.dir.path().join("host-file");
    let host_dir = d.dir.path().join("made-by-peapod");
    d.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: waits}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'cat /cm/k /hf; trap "exit 0" TERM; while true; do sleep 0.2; done']
    volumeMounts:
    - {{name: cm, mountPath: /cm}}
    - {{name: hf, mountPath: /hf}}
    - {{name: hd, mountPath: /hd}}
  volumes:
  - {{name: cm, configMap: {{name: later}}}}
  - {{name: hf, hostPath: {{path: {file}, type: File}}}}
  - {{name: hd, hostPath: {{path: {dir}, type: DirectoryOrCreate}}}}
"#,
        file = host_file.display(),
        dir = host_dir.display()
    ));
    let e = wait_event(&d, "waits", "FailedMount");
    assert!(e.contains("configmap \"later\" not found") || e.contains("is not a file"), "{e}");
    let p = d.pod("waits").unwrap();
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
    // Fix both causes: the pod starts without anyone touching it.
    d.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\ndata: {k: from-configmap}\n");
    std::fs::write(&host_file, "from-host\n").unwrap();
    d.wait_running("waits");
    assert!(host_dir.is_dir(), "DirectoryOrCreate made the directory");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = d.ok(&["logs", "waits"]);
        if logs.contains("from-configmapfrom-host") {
            break;
        }
        assert!(Instant::now() < deadline, "{logs}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// CVE-2017-1002101: a container plants a symlink in a shared volume; a
/// subPath mount through it must not expose the host.
#[test]
fn subpath_through_a_planted_symlink_is_refused() {
    let d = Daemon::start("cve");
    d.import_busybox();
    d.apply(
        r#"apiVersion: v1
kind: Pod
metadata: {name: attack}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: plant
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'ln -s / /vol/evil; ln -s ../../../../../../etc /vol/rel']
    volumeMounts: [{name: vol, mountPath: /vol}]
  containers:
  - name: victim
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'ls /host; sleep 3600']
    volumeMounts: [{name: vol, mountPath: /host, subPath: evil}]
  volumes: [{name: vol, emptyDir: {}}]
"#,
    );
    let p = d.wait_pod("attack", "victim refused", Duration::from_secs(30), |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str() == Some("CreateContainerConfigError")
    });
    let msg = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap_or("").to_owned();
    assert!(msg.contains("outside"), "{msg}");
    // And `..` in a subPath never gets past validation.
    let out = d.peapod(&["apply", "-f", "-"]);
    let _ = out;
    let mut c = Command::new(PEAPOD)
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", &d.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: v1\nkind: Pod\nmetadata: {name: dots}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    volumeMounts: [{name: v, mountPath: /x, subPath: ../../etc}]\n  volumes: [{name: v, emptyDir: {}}]\n")
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("subPath") && err.contains(".."), "{err}");
    let v: Value = serde_json::from_str(&d.ok(&["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
}
