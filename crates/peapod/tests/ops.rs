//! Issue 8 end to end: doctor finds a missing runc and a missing CNI plugin
//! dir, `/metrics` counts the pods started, SIGTERM leaves pods running and
//! the next start picks them up untouched.

mod common;

use std::process::Command;

use common::*;

const MY_WEB: &str = include_str!("../../../examples/my-web.yaml");

#[test]
fn doctor_reports_missing_runc_and_cni_plugins() {
    let out = Command::new(PEAPOD).arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "this machine passes: {text}");
    assert!(text.contains("ok       runc"), "{text}");

    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(PEAPOD)
        .args(["doctor", "--cni-plugin-dir"])
        .arg(empty.path().join("no-such-dir"))
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("PROBLEM  runc") && text.contains("apt-get install runc"), "{text}");
    assert!(text.contains("PROBLEM  cni plugins") && text.contains("no CNI plugin directory found"), "{text}");

    // serve refuses to start with the same message.
    let out = Command::new(PEAPOD)
        .args(["serve", "--listen", "127.0.0.1:1", "--runc", "/nonexistent/runc"])
        .arg("--data-dir")
        .arg(empty.path().join("d"))
        .arg("--state-dir")
        .arg(empty.path().join("s"))
        .arg("--kubeconfig-out")
        .arg(empty.path().join("kc"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("runc: /nonexistent/runc not found"), "{err}");
}

fn token(d: &Daemon) -> String {
    let kc = std::fs::read_to_string(&d.kubeconfig).unwrap();
    kc.lines().find_map(|l| l.trim().strip_prefix("token: ")).unwrap().to_owned()
}

fn metrics(d: &Daemon, token: Option<&str>) -> (String, String) {
    let mut c = Command::new("curl");
    c.args(["-sk", "-w", "\n%{http_code}"]);
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = c.arg(format!("https://127.0.0.1:{}/metrics", d.port)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.to_owned(), body.to_owned())
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()).is_some_and(|c| *c == b' ' || *c == b'{'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{body}"))
}

#[test]
fn metrics_count_started_pods_and_sigterm_leaves_pods_running() {
    let mut d = Daemon::start("ops");
    d.import_busybox();
    let (code, _) = metrics(&d, None);
    assert_eq!(code, "401", "metrics need the token");
    d.apply(MY_WEB);
    let before = d.wait_running("my-web");
    let (code, body) = metrics(&d, Some(&token(&d)));
    assert_eq!(code, "200");
    assert!(metric(&body, "kubelet_pod_start_duration_seconds_count") >= 1.0, "{body}");
    assert_eq!(metric(&body, "peapod_pods{phase=\"Running\"}"), 1.0);
    assert!(metric(&body, "apiserver_request_total{verb=\"POST\",code=\"201\"}") >= 1.0, "{body}");
    assert!(body.contains("apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"0.005\"}"), "{body}");
    assert!(metric(&body, "peapod_store_size_bytes") > 0.0);

    // SIGTERM: the daemon exits, the pod keeps running, the next start adopts it untouched.
    let pids: Vec<i32> = before["status"]["containerStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| container_pid(&d, &container_id(c)))
        .collect();
    d.stop();
    for pid in &pids {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "container {pid} survives SIGTERM of the daemon"
        );
    }
    d.spawn();
    let after = d.wait_running("my-web");
    let pids_after: Vec<i32> = after["status"]["containerStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| container_pid(&d, &container_id(c)))
        .collect();
    assert_eq!(pids, pids_after);
    assert!(after["status"]["containerStatuses"].as_array().unwrap().iter().all(|c| c["restartCount"] == 0));
}

#[test]
fn completion_scripts_parse_and_complete_pod_names() {
    let d = Daemon::start("compl");
    d.import_busybox();
    d.apply(MY_WEB);
    d.wait_running("my-web");
    let script = Command::new(PEAPOD).args(["completion", "bash"]).output().unwrap();
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.bash"), &script.stdout).unwrap();
    // Ask bash for completions of `peapod logs my` and `peapod logs my-web -c `.
    let bin_dir = std::path::Path::new(PEAPOD).parent().unwrap();
    let run = |words: &str, cword: usize| {
        let prog = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _peapod_dynamic peapod; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            dir.path().join("c.bash").display()
        );
        let out = Command::new("bash")
            .args(["-c", &prog])
            .env("KUBECONFIG", &d.kubeconfig)
            .env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(run("peapod logs my", 2).trim(), "my-web");
    let containers = run("peapod logs my-web -c ''", 4);
    assert!(containers.contains("server") && containers.contains("client"), "{containers}");
    for shell in ["zsh", "fish"] {
        let out = Command::new(PEAPOD).args(["completion", shell]).output().unwrap();
        assert!(out.status.success() && !out.stdout.is_empty());
    }
}

#[test]
fn config_file_keys_are_checked_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "listen: 127.0.0.1:7443\npodCIDR: 10.93.0.0/16\nbridgee: typo0\n").unwrap();
    let out = Command::new(PEAPOD).args(["serve", "--print-config", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bridgee") && err.contains(cfg.to_str().unwrap()), "the bad key is named: {err}");

    std::fs::write(&cfg, "listen: 127.0.0.1:7443\npodCIDR: 10.93.0.0/16\nnodeLabels: {zone: a}\n").unwrap();
    let out = Command::new(PEAPOD)
        .args(["serve", "--print-config", "--listen", "127.0.0.1:9999", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("listen: 127.0.0.1:9999"), "the flag wins: {text}");
    assert!(text.contains("podCIDR: 10.93.0.0/16"), "the file over the default: {text}");
    assert!(text.contains("bridge: peapod0"), "the default: {text}");
    assert!(text.contains("zone: a"), "{text}");
    // A config file named on the command line must exist.
    let out = Command::new(PEAPOD)
        .args(["serve", "--print-config", "--config", "/nonexistent/config.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn stop_pods_on_exit_stops_them() {
    let mut d = Daemon::start_with("stoponexit", &["--stop-pods-on-exit"]);
    d.import_busybox();
    d.apply(MY_WEB);
    let p = d.wait_running("my-web");
    let pids: Vec<i32> = p["status"]["containerStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| container_pid(&d, &container_id(c)))
        .collect();
    d.stop();
    for pid in &pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "container {pid} stopped with the daemon");
    }
    // Exited processes may take a moment to be reaped by init.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !d.pod_processes().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(d.pod_processes().is_empty(), "{:?}", d.pod_processes());
    // The pod is still desired: the next start runs it again.
    d.spawn();
    let p = d.wait_running("my-web");
    assert_eq!(p["status"]["phase"], "Running");
}

/// Prints `ready`, waits for /tmp/go, then ~1 MB of CRI log: 22 bursts of
/// 1000 numbered lines (~46 KB each) 0.2 s apart. A follower polling every
/// 100 ms may lag by two rotations (128Ki, about half a second) and still
/// find every copy before the shim deletes it.
const LOG_WRITER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: logrot
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: writer
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      echo ready
      until [ -e /tmp/go ]; do sleep 0.1; done
      i=0
      while [ $i -lt 22 ]; do seq $((i*1000+1)) $((i*1000+1000)); i=$((i+1)); sleep 0.2; done
      echo done
      sleep 3600
"#;

#[test]
fn container_logs_rotate_by_size_and_follow_continues() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    const MAX: u64 = 64 << 10;
    const LAST: u64 = 22_000;

    let d = Daemon::start_with("logrot", &["--container-log-max-size", "64Ki", "--container-log-max-files", "3"]);
    d.import_busybox();
    d.apply(LOG_WRITER);
    let pod = d.wait_running("logrot");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let dir = d.data_dir().join("logs").join(format!("default_logrot_{uid}")).join("writer");

    // Follow from before the writes; a thread hands over the lines.
    let mut follow = Command::new(PEAPOD)
        .args(["logs", "-f", "logrot"])
        .env("KUBECONFIG", &d.kubeconfig)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            if line.is_err() || tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = || rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok();
    assert_eq!(next().as_deref(), Some("ready"));
    d.ok(&["exec", "logrot", "--", "touch", "/tmp/go"]);
    let mut seen = Vec::new();
    loop {
        match next() {
            Some(l) if l == "done" => break,
            Some(l) => seen.push(l.parse::<u64>().unwrap_or_else(|_| panic!("unexpected line {l:?}"))),
            None => panic!("follow ended or timed out after {} lines (last {:?})", seen.len(), seen.last()),
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let gaps: Vec<(u64, u64)> = seen.windows(2).filter(|w| w[1] != w[0] + 1).map(|w| (w[0], w[1])).collect();
    assert!(gaps.is_empty() && seen.first() == Some(&1) && seen.last() == Some(&LAST), "follow has gaps: {gaps:?}");

    // At most 3 files; the live one within the limit (plus one line).
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().into_string().unwrap(), e.metadata().unwrap().len()))
        .collect();
    files.sort();
    assert!(files.len() <= 3 && files.len() >= 2, "{files:?}");
    assert_eq!(files[0].0, "0.log", "{files:?}");
    assert!(files[1..].iter().all(|(n, _)| n.starts_with("0.log.20")), "{files:?}");
    assert!(files.iter().all(|(_, size)| *size <= MAX + 100), "{files:?}");

    // A plain `logs` shows the live file: the latest lines only.
    let text = d.ok(&["logs", "logrot"]);
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.pop(), Some("done"));
    let numbers: Vec<u64> = lines.iter().map(|l| l.parse().unwrap()).collect();
    let first = numbers.first().copied().unwrap_or(LAST + 1);
    assert!(first > 1, "rotated lines are not in the live file");
    assert_eq!(numbers, (first..=LAST).collect::<Vec<_>>(), "the latest lines, in order");

    // The rotated copies go with the container.
    d.ok(&["delete", "pod", "logrot"]);
    d.wait_gone("logrot", Duration::from_secs(20));
    let left: Vec<_> = std::fs::read_dir(&dir).map(|r| r.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
