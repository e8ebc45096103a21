//! Ephemeral containers with the real kubectl (issues 3 and 4): `kubectl
//! debug -i POD --image=busybox --target=C -- CMD` patches the pod's
//! `ephemeralcontainers` subresource, waits for the container to run,
//! attaches to it (or falls back to its logs once it has exited). The debug
//! container must see the target's processes (its PID namespace) and the
//! pod's hostname, be reported in `ephemeralContainerStatuses`, leave the
//! other containers alone, and go with the pod. `peapod debug` does the same.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn kubectl_path() -> std::path::PathBuf {
    common::kubectl()
}

/// kubectl `args` under a pseudo-terminal (`script`): once the shell is up,
/// type two commands and `exit`. Returns what the terminal showed.
fn debug_in_tty(d: &Daemon, args: &str) -> String {
    let cmd = format!(
        "stty cols 100 rows 30; {} --kubeconfig {} --cache-dir {} {args}",
        kubectl_path().display(),
        d.kubeconfig.display(),
        d.dir.path().join("kube-cache").display()
    );
    let mut child = spawn_in_tty(&cmd);
    let mut w = child.stdin.take().unwrap();
    let typist = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        let _ = w.write_all(b"echo tty-$((6*7)); echo target=$(ps | grep -c '[s]leep 3600')\n");
        std::thread::sleep(Duration::from_millis(700));
        let _ = w.write_all(b"exit 0\n");
        std::thread::sleep(Duration::from_millis(500));
    });
    let out = wait_or_kill(child, Duration::from_secs(60));
    let _ = typist.join();
    text(&out.stdout).replace('\r', "")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn kubectl_debug_shares_the_target_pid_namespace() {
    let started = Instant::now();
    let d = Daemon::start("debug");
    d.import_busybox();
    d.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: dbgpod\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sleep, '3600']\n  - name: side\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sleep, '3601']\n",
    );
    d.wait_running("dbgpod");

    // The main resource refuses ephemeral containers, as the apiserver does.
    let bad = d.kubectl(
        &[
            "patch",
            "pod",
            "dbgpod",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/ephemeralContainers","value":[{"name":"x","image":"busybox"}]}]"#,
        ],
        b"",
    );
    assert!(!bad.status.success(), "patching the pod itself must fail: {}", text(&bad.stdout));
    assert!(text(&bad.stderr).contains("pod updates may not change fields"), "{}", text(&bad.stderr));

    let out = d.kubectl(
        &[
            "debug",
            "-i",
            "dbgpod",
            "--image=busybox",
            "--target=app",
            "-c",
            "dbg",
            "--",
            "sh",
            "-c",
            "sleep 1; ps; echo host=$(cat /etc/hostname)",
        ],
        b"",
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "kubectl debug failed:\nstdout: {stdout}\nstderr: {stderr}\n{}", tail(&d.log(), 40));
    // The target's main process is PID 1 of the namespace the debugger joined;
    // the other app container's is not visible there.
    let pid1 = stdout.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&"1") && l.ends_with("sleep 3600")
    });
    assert!(pid1, "the target's process should be PID 1:\n{stdout}\nstderr: {stderr}");
    assert!(!stdout.contains("sleep 3601"), "only the target's namespace is shared:\n{stdout}");
    assert!(stdout.contains("host=dbgpod"), "the pod's hostname:\n{stdout}\nstderr: {stderr}");
    // It ran long enough to be attached to (not only read back from its log).
    assert!(!stderr.contains("couldn't attach"), "kubectl attached: {stderr}");

    let pod = d.wait_pod("dbgpod", "the debug container terminated", Duration::from_secs(20), |p| {
        p.pointer("/status/ephemeralContainerStatuses/0/state/terminated").is_some()
    });
    let es = &pod["status"]["ephemeralContainerStatuses"][0];
    assert_eq!(es["name"], "dbg");
    assert_eq!(es["state"]["terminated"]["exitCode"], 0, "{es}");
    assert_eq!(pod["spec"]["ephemeralContainers"][0]["targetContainerName"], "app");
    assert_eq!(pod["status"]["phase"], "Running");
    for c in pod["status"]["containerStatuses"].as_array().unwrap() {
        assert_eq!(c["restartCount"], 0, "{c}");
        assert!(c.pointer("/state/running").is_some(), "{c}");
    }
    let ready = pod["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").cloned();
    assert_eq!(ready.unwrap_or(Value::Null)["status"], "True");

    // Its logs are served like any container's.
    let logs = d.kubectl(&["logs", "dbgpod", "-c", "dbg"], b"");
    assert!(text(&logs.stdout).contains("host=dbgpod"), "logs: {} {}", text(&logs.stdout), text(&logs.stderr));

    // Never restarted: still one instance after another sync.
    d.wait_pod("dbgpod", "no restart of the debug container", Duration::from_secs(5), |p| {
        p.pointer("/status/ephemeralContainerStatuses/0/restartCount") == Some(&Value::from(0))
    });

    // -it: an interactive shell on a terminal, through attach.
    let screen = debug_in_tty(&d, "debug -it dbgpod --image=busybox --target=app -c dbgtty -- sh");
    assert!(screen.contains("tty-42\n"), "the shell answered on the terminal:\n{screen}");
    assert!(screen.contains("target=1\n"), "the target's process is visible:\n{screen}");
    let pod = d.wait_pod("dbgpod", "the tty debug container exited", Duration::from_secs(20), |p| {
        p.pointer("/status/ephemeralContainerStatuses/1/state/terminated/exitCode") == Some(&Value::from(0))
    });
    assert_eq!(pod["spec"]["ephemeralContainers"][1]["tty"], true);

    // The same with peapod's own client (whose attach shares exec's stream).
    assert_eq!(d.ok(&["exec", "dbgpod", "-c", "app", "--", "echo", "exec-ok"]), "exec-ok\n");
    let out = d.ok(&[
        "debug",
        "dbgpod",
        "--image=busybox",
        "--target=app",
        "-c",
        "pdbg",
        "-i",
        "--",
        "sh",
        "-c",
        "sleep 1; ps; echo host=$(cat /etc/hostname)",
    ]);
    assert!(out.lines().any(|l| l.trim_start().starts_with("1 ") && l.ends_with("sleep 3600")), "{out}");
    assert!(out.contains("host=dbgpod"), "{out}");
    let pod = d.wait_pod("dbgpod", "peapod's debug container exited", Duration::from_secs(20), |p| {
        p.pointer("/status/ephemeralContainerStatuses/2/state/terminated/exitCode") == Some(&Value::from(0))
    });
    assert_eq!(pod["status"]["ephemeralContainerStatuses"][2]["name"], "pdbg");

    // kubectl 1.27 attaches over SPDY (and has the same flow).
    let old = std::path::Path::new("/usr/lib/google-cloud-sdk/bin/kubectl.1.27");
    if old.exists() {
        let args = ["debug", "-i", "dbgpod", "--image=busybox", "--target=app", "-c", "dbg127", "--"];
        let cmd = ["sh", "-c", "sleep 1; echo host=$(cat /etc/hostname) pid1=$(cat /proc/1/cmdline | tr '\\0' ' ')"];
        let out = d.kubectl_at(old, &[&args[..], &cmd[..]].concat(), b"");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "kubectl 1.27 debug: {stdout}\n{stderr}");
        assert!(stdout.contains("host=dbgpod pid1=sleep 3600"), "kubectl 1.27:\n{stdout}\nstderr: {stderr}");
        assert!(!stderr.contains("couldn't attach"), "kubectl 1.27 attached: {stderr}");
    }

    let del = d.kubectl(&["delete", "pod", "dbgpod", "--wait=true"], b"");
    assert!(del.status.success(), "delete: {}", text(&del.stderr));
    d.wait_gone("dbgpod", Duration::from_secs(20));
    d.assert_clean();
    eprintln!("debug e2e took {:?}", started.elapsed());
}
