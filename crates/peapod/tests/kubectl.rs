//! The real kubectl drives peapod (issue 3): the battery of kubectl-wire.md
//! §20 with the oldest and newest kubectl we support (1.27 speaks SPDY for
//! exec/cp/port-forward and reads OpenAPI v2 protobuf; 1.33 uses WebSocket,
//! port-forward tunnelled over WebSocket, and protobuf request bodies), run
//! side by side against one daemon, plus a quick pass of the versions in
//! between over the transports they pick. Every check looks at exit codes
//! and output.

mod common;

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const BIN_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
/// Longest any single kubectl command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// Output of one kubectl run.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// One kubectl version against the test daemon, with its own discovery cache.
struct Kubectl<'a> {
    d: &'a Daemon,
    version: &'static str,
    bin: PathBuf,
    work: PathBuf,
}

impl<'a> Kubectl<'a> {
    fn new(d: &'a Daemon, version: &'static str) -> Kubectl<'a> {
        let bin = Path::new(BIN_DIR).join(format!("kubectl.{version}"));
        assert!(bin.exists(), "{} is missing: the kubectl tests need the real kubectl binaries", bin.display());
        let work = d.dir.path().join(format!("kubectl-{version}"));
        std::fs::create_dir_all(&work).unwrap();
        Kubectl { d, version, bin, work }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig").arg(&self.d.kubeconfig).arg("--cache-dir").arg(self.work.join("cache")).args(args);
        c.current_dir(&self.work);
        c
    }

    /// Run with `stdin` (empty: /dev/null), killing it after the timeout.
    fn run_with(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut c = self.command(args);
        c.stdin(if stdin.is_empty() { Stdio::null() } else { Stdio::piped() });
        let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        finish(child, stdin, COMMAND_TIMEOUT, &format!("kubectl {} {args:?}", self.version))
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, b"")
    }

    /// A command that must exit 0; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "kubectl {} {args:?} failed: {o:?}\n{}", self.version, tail(&self.d.log(), 30));
        o.stdout
    }

    /// Write a manifest into this version's work dir; its path.
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.work.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
}

/// Feed `stdin`, wait with a deadline, collect the output.
fn finish(mut child: std::process::Child, stdin: &[u8], timeout: Duration, what: &str) -> Out {
    if let Some(mut w) = child.stdin.take() {
        let data = stdin.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} timed out; stdout: {} stderr: {}", out_t.join().unwrap(), err_t.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out { code: status.code().unwrap_or(-1), stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() }
}

fn contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected {needle:?} in:\n{haystack}");
}

/// A pod serving `hello-from-httpd` on 8080 with busybox httpd.
fn web_pod(name: &str, extra_labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n{extra_labels}spec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'mkdir -p /www; echo hello-from-httpd > /www/index.html; echo started; exec httpd -f -p 8080 -h /www']\n    ports:\n    - containerPort: 8080\n"
    )
}

/// `kubectl port-forward` to 8080 of `pod` on a free local port; the HTTP body of GET /.
fn http_through_port_forward(k: &Kubectl<'_>, pod: &str) -> String {
    let mut child = k
        .command(&["port-forward", &format!("pod/{pod}"), ":8080"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // "Forwarding from 127.0.0.1:41234 -> 8080"
    let line = rx.recv_timeout(Duration::from_secs(30));
    let port = line.as_ref().ok().and_then(|l| {
        l.strip_prefix("Forwarding from 127.0.0.1:")
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse::<u16>().ok())
    });
    let Some(port) = port else {
        let _ = child.kill();
        let o = finish(child, b"", Duration::from_secs(5), "port-forward");
        panic!("kubectl {} port-forward did not start: {line:?} {o:?}", k.version);
    };
    let mut body = String::new();
    for _ in 0..2 {
        // Two connections through one port-forward session.
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    }
    let _ = child.kill();
    let _ = child.wait();
    body
}

/// kubectl `args` under a 100x30 pseudo-terminal (`script`): wait for the
/// shell, type a command, then `exit <code>`. Returns (kubectl's exit code,
/// what the terminal showed).
fn in_tty(k: &Kubectl<'_>, args: &str, code: i32) -> (i32, String) {
    let cmd = format!(
        "stty cols 100 rows 30; {} --kubeconfig {} --cache-dir {} {args}",
        k.bin.display(),
        k.d.kubeconfig.display(),
        k.work.join("cache").display()
    );
    let mut child = spawn_in_tty(&cmd);
    let mut w = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        let _ = w.write_all(b"echo tty-$((6*7)); stty size\n");
        std::thread::sleep(Duration::from_millis(700));
        let _ = w.write_all(format!("exit {code}\n").as_bytes());
        std::thread::sleep(Duration::from_secs(30));
    });
    let o = finish(child, b"", COMMAND_TIMEOUT, &format!("kubectl {args}"));
    (o.code, o.stdout.replace('\r', ""))
}

/// The battery for one kubectl version; names carry `s` so versions can share the daemon.
fn battery(k: &Kubectl<'_>, d: &Daemon) {
    let s = k.version.replace('.', "");
    let web = format!("web-{s}");
    let web_yaml = k.file("web.yaml", &web_pod(&web, ""));
    let web_v2 = k.file("web-v2.yaml", &web_pod(&web, "    tier: front\n"));

    // version, api-resources
    // 1.27 prints version.Info{...GitVersion:"v1.35.0-peapod..."}, 1.33 `Server Version: v1.35.0-peapod...`.
    let out = k.ok(&["version"]);
    assert!(out.lines().any(|l| l.starts_with("Server Version:") && l.contains("v1.35.0-peapod")), "{out}");
    let res = k.ok(&["api-resources"]);
    for line in ["pods", "configmaps", "namespaces", "events", "nodes", "secrets"] {
        contains(&res, line);
    }
    assert!(res.lines().any(|l| l.starts_with("pods ") && l.contains(" po ")), "{res}");

    // apply: create, update, unchanged
    contains(&k.ok(&["apply", "-f", &web_yaml]), &format!("pod/{web} created"));
    contains(&k.ok(&["wait", "--for=condition=Ready", &format!("pod/{web}"), "--timeout=60s"]), "condition met");
    contains(&k.ok(&["apply", "-f", &web_v2]), &format!("pod/{web} configured"));
    contains(&k.ok(&["apply", "-f", &web_v2]), &format!("pod/{web} unchanged"));

    // server-side apply: fresh multi-document, then after client-side apply
    // (kubectl's managedFields migration), then a conflict and --force-conflicts.
    let multi = k.file(
        "multi.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: multi-{s}\n  labels: {{app: multi}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c1\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sleep, '3600']\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: multi-cm-{s}\ndata:\n  key: value\n"
        ),
    );
    let out = k.ok(&["apply", "--server-side", "-f", &multi]);
    contains(&out, &format!("pod/multi-{s} serverside-applied"));
    contains(&out, &format!("configmap/multi-cm-{s} serverside-applied"));
    k.ok(&["apply", "--server-side", "-f", &multi]);
    contains(&k.ok(&["apply", "--server-side", "-f", &web_v2]), &format!("pod/{web} serverside-applied"));
    let managers =
        k.ok(&["get", "pod", &web, "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
    contains(&managers, "kubectl");
    assert!(!managers.split(' ').any(|m| m == "kubectl-client-side-apply"), "migrated: {managers}");
    k.ok(&["label", "pod", &web, "tier=mid", "--overwrite"]);
    let o = k.run(&["apply", "--server-side", "-f", &web_v2]);
    assert_eq!(o.code, 1, "{o:?}");
    contains(&o.stderr, "Apply failed with 1 conflict: conflict with \"kubectl-label\"");
    contains(&o.stderr, ".metadata.labels.tier");
    k.ok(&["apply", "--server-side", "--force-conflicts", "-f", &web_v2]);
    assert_eq!(k.ok(&["get", "pod", &web, "-o", "jsonpath={.metadata.labels.tier}"]), "front");

    // apply -f DIR
    k.file(
        "dir/cm1.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dir-cm1-{s}\ndata:\n  a: \"1\"\n"),
    );
    k.file(
        "dir/secret.json",
        &format!(r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"dir-secret-{s}"}},"type":"Opaque","stringData":{{"pw":"hunter2"}}}}"#),
    );
    let out = k.ok(&["apply", "-f", &k.work.join("dir").to_string_lossy()]);
    contains(&out, &format!("configmap/dir-cm1-{s} created"));
    contains(&out, &format!("secret/dir-secret-{s} created"));

    // create -f (and AlreadyExists), replace -f
    let two = k.file(
        "two.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two-{s}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: first\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo first-1; echo first-2; exec sleep 3600']\n  - name: second\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo second-1; echo second-2; exec sleep 3600']\n"
        ),
    );
    contains(&k.ok(&["create", "-f", &two]), &format!("pod/two-{s} created"));
    let o = k.run(&["create", "-f", &two]);
    assert_eq!(o.code, 1);
    contains(
        &o.stderr,
        &format!("Error from server (AlreadyExists): error when creating \"{two}\": pods \"two-{s}\" already exists"),
    );
    // replace: a ConfigMap is replaced; a bound pod's manifest lacks the
    // fields the server set (nodeName, ...), which a real cluster refuses too.
    let cm1 = k.file(
        "cm1-v2.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dir-cm1-{s}\ndata:\n  a: \"2\"\n"),
    );
    contains(&k.ok(&["replace", "-f", &cm1]), &format!("configmap/dir-cm1-{s} replaced"));
    assert_eq!(k.ok(&["get", "cm", &format!("dir-cm1-{s}"), "-o", "jsonpath={.data.a}"]), "2");
    let o = k.run(&["replace", "-f", &two]);
    assert_eq!(o.code, 1, "{o:?}");
    contains(&o.stderr, "pod updates may not change fields other than");

    // A pod that finished (logs -f must end).
    k.file(
        "done.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: done-{s}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo one; echo two']\n"
        ),
    );
    k.ok(&["apply", "-f", "done.yaml"]);

    // get
    let out = k.ok(&["get", "pods"]);
    assert!(out.starts_with("NAME "), "{out}");
    contains(&out, "READY   STATUS");
    contains(&out, "RESTARTS   AGE");
    contains(&out, &web);
    let out = k.ok(&["get", "pods", "-o", "wide"]);
    contains(&out, "NOMINATED NODE   READINESS GATES");
    contains(&out, "e2e-node");
    contains(&k.ok(&["get", "pods", "-o", "yaml"]), "kind: Pod");
    let j: Value = serde_json::from_str(&k.ok(&["get", "pod", &web, "-o", "json"])).unwrap();
    assert_eq!((j["kind"].as_str(), j["metadata"]["name"].as_str()), (Some("Pod"), Some(web.as_str())));
    let out = k.ok(&["get", "pods", "-l", &format!("app={web}")]);
    assert!(out.contains(&web) && !out.contains(&format!("two-{s}")), "{out}");
    let out = k.ok(&["get", "pods", "-A"]);
    assert!(out.starts_with("NAMESPACE "), "{out}");
    contains(&k.ok(&["get", "po", &web]), "Running");
    contains(&k.ok(&["get", "cm"]), &format!("multi-cm-{s}"));
    contains(&k.ok(&["get", "all"]), &web);
    let nodes = k.ok(&["get", "nodes"]);
    assert!(nodes.lines().any(|l| l.starts_with("e2e-node") && l.contains(" Ready ")), "{nodes}");
    contains(&k.ok(&["describe", "node", "e2e-node"]), "Allocatable:");
    let events = k.ok(&["get", "events"]);
    contains(&events, "Started");
    contains(&k.ok(&["events", "--for", &format!("pod/{web}")]), "Started");

    // describe
    let out = k.ok(&["describe", "pod", &web]);
    assert!(out.lines().any(|l| l.starts_with("Name:") && l.ends_with(&format!(" {web}"))), "{out}");
    contains(&out, "Events:");
    contains(&out, "Started container main");

    // logs
    k.ok(&["wait", "--for=condition=Ready", &format!("pod/two-{s}"), "--timeout=60s"]);
    contains(&k.ok(&["logs", &web]), "started");
    let out = k.ok(&["logs", &format!("two-{s}"), "-c", "second", "--tail=1", "--timestamps"]);
    let line = out.trim_end();
    assert!(line.ends_with("Z second-2") && line.starts_with("20") && !line.contains('\n'), "{out:?}");
    d.wait_pod(&format!("done-{s}"), "Succeeded", Duration::from_secs(60), |p| p["status"]["phase"] == "Succeeded");
    assert_eq!(k.ok(&["logs", "-f", &format!("done-{s}")]), "one\ntwo\n");

    // exec: output, exit code, stdin, tty, unknown container
    assert_eq!(k.ok(&["exec", &web, "--", "echo", "hi"]), "hi\n");
    let o = k.run(&["exec", &web, "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!((o.code, o.stdout.as_str()), (7, "out\n"), "{o:?}");
    contains(&o.stderr, "err\n");
    contains(&o.stderr, "command terminated with exit code 7");
    let o = k.run_with(&["exec", "-i", &web, "--", "cat"], b"line-one\nline-two\n");
    assert_eq!((o.code, o.stdout.as_str()), (0, "line-one\nline-two\n"), "{o:?}");
    let o = k.run(&["exec", &web, "-c", "nosuch", "--", "true"]);
    assert_eq!(o.code, 1);
    contains(&o.stderr, &format!("container nosuch is not valid for pod {web}"));
    let (code, screen) = in_tty(k, &format!("exec -it {web} -- sh"), 5);
    assert_eq!(code, 5, "{screen}");
    contains(&screen, "tty-42\n30 100\n");

    // attach: stdin of a stdinOnce container (its stdin closes with the
    // session), then run -it --rm on a tty container.
    k.file(
        "once.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: once-{s}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    stdin: true\n    stdinOnce: true\n    command: [sh, -c, 'while read l; do echo got-$l; done; echo stdin-closed']\n"
        ),
    );
    k.ok(&["apply", "-f", "once.yaml"]);
    k.ok(&["wait", "--for=condition=Ready", &format!("pod/once-{s}"), "--timeout=60s"]);
    let o = k.run_with(&["attach", "-i", &format!("once-{s}")], b"hello\nworld\n");
    assert_eq!((o.code, o.stdout.as_str()), (0, "got-hello\ngot-world\nstdin-closed\n"), "{o:?}");
    let run =
        format!("run -it --rm tty-{s} --image=busybox:latest --image-pull-policy=IfNotPresent --restart=Never -- sh");
    let (code, screen) = in_tty(k, &run, 3);
    assert_eq!(code, 3, "{screen}");
    contains(&screen, "tty-42\n30 100\n");
    contains(&screen, &format!("pod \"tty-{s}\" deleted"));

    // cp both ways
    let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(k.work.join("up.bin"), &data).unwrap();
    k.ok(&["cp", "up.bin", &format!("{web}:/tmp/up.bin")]);
    k.ok(&["cp", &format!("{web}:/tmp/up.bin"), "down.bin"]);
    assert!(std::fs::read(k.work.join("down.bin")).unwrap() == data, "cp round trip changed the file");

    // port-forward
    assert_eq!(http_through_port_forward(k, &web), "hello-from-httpd\n");

    // create configmap/secret (protobuf bodies from 1.32 on), run, label, annotate
    std::fs::write(k.work.join("app.properties"), "key1=val1\nkey2=val2\n").unwrap();
    contains(
        &k.ok(&["create", "configmap", &format!("cfg-{s}"), "--from-literal=a=b", "--from-file=app.properties"]),
        &format!("configmap/cfg-{s} created"),
    );
    let data = k.ok(&["get", "cm", &format!("cfg-{s}"), "-o", "jsonpath={.data}"]);
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data, serde_json::json!({"a": "b", "app.properties": "key1=val1\nkey2=val2\n"}));
    k.ok(&["create", "secret", "generic", &format!("sec-{s}"), "--from-literal=pw=x"]);
    assert_eq!(k.ok(&["get", "secret", &format!("sec-{s}"), "-o", "jsonpath={.type} {.data.pw}"]), "Opaque eA==");
    let runner = format!("runner-{s}");
    contains(
        &k.ok(&["run", &runner, "--image=busybox:latest", "--image-pull-policy=IfNotPresent", "--", "sleep", "1000"]),
        &format!("pod/{runner} created"),
    );
    contains(&k.ok(&["label", "pod", &web, "env=prod"]), &format!("pod/{web} labeled"));
    // kubectl 1.27 prints "annotate", later versions "annotated".
    contains(&k.ok(&["annotate", "pod", &web, "note=x"]), &format!("pod/{web} annotate"));
    assert_eq!(
        k.ok(&["get", "pod", &web, "-o", "jsonpath={.metadata.labels.env} {.metadata.annotations.note}"]),
        "prod x"
    );

    // explain (real schemas)
    contains(&k.ok(&["explain", "pod"]), "Pod is a collection of containers that can run on a host");
    let out = k.ok(&["explain", "pod.spec.containers"]);
    contains(&out, "FIELD: containers <[]Container>");
    contains(&out, "List of containers belonging to the pod");

    // delete: -f, --grace-period, --now, --force, server dry run
    contains(&k.ok(&["delete", "-f", &two]), &format!("pod \"two-{s}\" deleted"));
    assert!(!k.ok(&["get", "pods"]).contains(&format!("two-{s} ")), "two-{s} still listed after delete -f");
    contains(&k.ok(&["delete", "pod", &runner, "--grace-period=1"]), &format!("pod \"{runner}\" deleted"));
    contains(&k.ok(&["delete", "pod", &format!("multi-{s}"), "--now"]), &format!("pod \"multi-{s}\" deleted"));
    contains(&k.ok(&["delete", "pod", &format!("done-{s}"), "--force", "--grace-period=0"]), "force deleted");
    contains(&k.ok(&["delete", "pod", &web, "--dry-run=server"]), &format!("pod \"{web}\" deleted (server dry run)"));
    contains(&k.ok(&["get", "pod", &web]), "Running");
    let o = k.run(&["wait", "--for=delete", &format!("pod/{web}"), "--timeout=1s"]);
    assert_eq!(o.code, 1, "the pod still exists: {o:?}");
}

#[test]
fn kubectl_1_27_and_1_33_drive_every_verb() {
    let d = Daemon::start("kubectl-verbs");
    d.import_busybox();
    let (old, new) = (Kubectl::new(&d, "1.27"), Kubectl::new(&d, "1.33"));
    std::thread::scope(|sc| {
        let a = sc.spawn(|| battery(&old, &d));
        let b = sc.spawn(|| battery(&new, &d));
        let (ra, rb) = (a.join(), b.join());
        if let Err(e) = ra.and(rb) {
            std::panic::resume_unwind(e);
        }
    });
}

/// 1.28 (SPDY, v4), 1.29 (SPDY, v5), 1.30 (WebSocket exec, SPDY
/// port-forward), 1.31 and 1.32 (port-forward over WebSocket; 1.32 sends
/// protobuf): exec with an exit code and stdin, port-forward, create configmap.
#[test]
fn kubectl_1_28_to_1_32_exec_port_forward_and_create() {
    let d = Daemon::start("kubectl-versions");
    d.import_busybox();
    let setup = Kubectl::new(&d, "1.32");
    setup.ok(&["apply", "-f", &setup.file("web.yaml", &web_pod("web", ""))]);
    setup.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"]);
    for v in ["1.28", "1.29", "1.30", "1.31", "1.32"] {
        let k = Kubectl::new(&d, v);
        let o = k.run(&["exec", "web", "--", "sh", "-c", "echo out-$((40+2)); exit 7"]);
        assert_eq!((o.code, o.stdout.as_str()), (7, "out-42\n"), "kubectl {v}: {o:?}");
        let o = k.run_with(&["exec", "-i", "web", "--", "cat"], b"stdin-through\n");
        assert_eq!((o.code, o.stdout.as_str()), (0, "stdin-through\n"), "kubectl {v}: {o:?}");
        assert_eq!(http_through_port_forward(&k, "web"), "hello-from-httpd\n", "kubectl {v}");
        let name = format!("cfg-{}", v.replace('.', ""));
        contains(&k.ok(&["create", "configmap", &name, "--from-literal=k=v"]), &format!("configmap/{name} created"));
        assert_eq!(k.ok(&["get", "cm", &name, "-o", "jsonpath={.data.k}"]), "v");
    }
}
