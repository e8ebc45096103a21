//! The runc runtime against the real thing: pause, shim, runc, overlayfs and
//! cgroups on this host. Needs root. Each test has its own state dir and
//! cgroup parent, so tests run in parallel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peapod_runtime::*;

struct DirRootfs(PathBuf);

/// A read-only lower dir (a busybox tree) plus an upper/work per container.
impl RootfsProvider for DirRootfs {
    fn prepare(&self, _image: &str, dir: &Path) -> Result<Vec<RootfsMount>, String> {
        for d in ["upper", "work"] {
            std::fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
        }
        Ok(vec![RootfsMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", self.0.display()),
                format!("upperdir={}", dir.join("upper").display()),
                format!("workdir={}", dir.join("work").display()),
            ],
        }])
    }
    fn cleanup(&self, dir: &Path) -> Result<(), String> {
        for d in ["upper", "work"] {
            let _ = std::fs::remove_dir_all(dir.join(d));
        }
        Ok(())
    }
}

fn busybox_tree(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "dev", "sys", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for a in ["sh", "echo", "hostname", "httpd", "wget", "sleep", "cat", "ip"] {
        std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
}

struct Env {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    logs: PathBuf,
    cgroup: String,
    rt: RuncRuntime,
}

impl Drop for Env {
    fn drop(&mut self) {
        // Leave nothing behind even when an assertion failed half-way, under
        // the root of every runtime handler.
        let handler_roots = std::fs::read_dir(self.state.join("runtimes")).into_iter().flatten().flatten();
        for root in std::iter::once(self.state.join("runc")).chain(handler_roots.map(|e| e.path())) {
            let _ =
                std::process::Command::new("runc").arg("--root").arg(&root).args(["list", "-q"]).output().map(|o| {
                    for id in String::from_utf8_lossy(&o.stdout).lines() {
                        let _ = std::process::Command::new("runc")
                            .arg("--root")
                            .arg(&root)
                            .args(["delete", "-f", id])
                            .status();
                    }
                });
        }
        if let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut ms: Vec<&str> = text
                .lines()
                .filter_map(|l| l.split_whitespace().nth(4))
                .filter(|m| m.starts_with(self.state.to_str().unwrap()))
                .collect();
            ms.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in ms {
                let _ = std::process::Command::new("umount").args(["-l", m]).status();
            }
        }
        let _ = cgroups::remove(&self.cgroup);
    }
}

async fn env(name: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let lower = tmp.path().join("lower");
    busybox_tree(&lower);
    let cfg = RuntimeConfig {
        state_dir: state.clone(),
        runc: "runc".into(),
        runtime_handlers: Default::default(),
        shim: ShimCommand { program: env!("CARGO_BIN_EXE_peapod-shim").into(), args: vec![] },
        log_max_size: 10 << 20,
        log_max_files: 5,
    };
    let rt = RuncRuntime::new(cfg, Arc::new(DirRootfs(lower)), Arc::new(peapod_net::LoopbackOnly)).await.unwrap();
    let cgroup = format!("/peapod-rt-test-{}-{name}", std::process::id());
    Env { logs: tmp.path().join("logs"), _tmp: tmp, state, cgroup, rt }
}

fn sandbox_config(e: &Env, name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        },
        hostname: name.into(),
        log_directory: e.logs.join(name),
        cgroup_parent: format!("{}/pod{name}", e.cgroup),
        ..Default::default()
    }
}

fn container(e: &Env, name: &str, args: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: ContainerMetadata { name: name.into(), attempt: 0 },
        image: "busybox".into(),
        image_id: "test".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        envs: vec![("PATH".into(), "/bin".into())],
        log_path: e.logs.join(format!("{name}/0.log")),
        ..Default::default()
    }
}

async fn wait_exit(rt: &RuncRuntime, id: &str) -> ContainerStatus {
    for _ in 0..500 {
        let s = rt.container_status(id).await.unwrap();
        if s.state == ContainerState::Exited {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("container {id} did not exit");
}

#[tokio::test(flavor = "multi_thread")]
async fn container_logs_exit_code_and_cleanup() {
    let e = env("logs").await;
    let sb = sandbox_config(&e, "logs");
    let sid = e.rt.run_pod_sandbox(&sb).await.unwrap();
    assert_eq!(e.rt.pod_sandbox_status(&sid).await.unwrap().state, SandboxState::Ready);
    let c = container(&e, "main", &["sh", "-c", "echo hello; hostname; echo oops >&2; exit 3"]);
    let cid = e.rt.create_container(&sid, &c, &sb).await.unwrap();
    assert_eq!(e.rt.container_status(&cid).await.unwrap().state, ContainerState::Created);
    e.rt.start_container(&cid).await.unwrap();
    let st = wait_exit(&e.rt, &cid).await;
    assert_eq!(st.exit_code, Some(3));
    assert_eq!(st.reason.as_deref(), Some("Error"));
    let log = std::fs::read_to_string(&c.log_path).unwrap();
    let lines: Vec<(&str, &str, &str)> = log
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, ' ');
            p.next();
            (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
        })
        .collect();
    assert!(lines.contains(&("stdout", "F", "hello")), "{log}");
    assert!(lines.contains(&("stdout", "F", "logs")), "hostname is the pod's: {log}");
    assert!(lines.contains(&("stderr", "F", "oops")), "{log}");

    e.rt.remove_pod_sandbox(&sid).await.unwrap();
    assert!(e.rt.list_containers().await.unwrap().is_empty());
    assert!(e.rt.list_pod_sandboxes().await.unwrap().is_empty());
    assert!(e.rt.runc().list().await.unwrap().is_empty(), "runc state left");
    assert_eq!(std::fs::read_dir(e.state.join("netns")).unwrap().count(), 0, "netns left");
    assert_eq!(std::fs::read_dir(e.state.join("containers")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(e.state.join("sandboxes")).unwrap().count(), 0);
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(e.state.to_str().unwrap()), "mounts left");
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory{}/podlogs", e.cgroup)).exists(), "pod cgroup left");
}

#[tokio::test(flavor = "multi_thread")]
async fn containers_share_network_and_uts_and_stop_gracefully() {
    let e = env("share").await;
    let sb = sandbox_config(&e, "share");
    let sid = e.rt.run_pod_sandbox(&sb).await.unwrap();
    let server = container(&e, "server", &["httpd", "-f", "-p", "127.0.0.1:4000", "-h", "/etc"]);
    let client = container(
        &e,
        "client",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:4000/hostname && exit 0; sleep 0.2; done; exit 1",
        ],
    );
    let s_id = e.rt.create_container(&sid, &server, &sb).await.unwrap();
    e.rt.start_container(&s_id).await.unwrap();
    let c_id = e.rt.create_container(&sid, &client, &sb).await.unwrap();
    e.rt.start_container(&c_id).await.unwrap();
    let st = wait_exit(&e.rt, &c_id).await;
    let log = std::fs::read_to_string(&client.log_path).unwrap();
    assert_eq!(st.exit_code, Some(0), "{log}");
    assert!(log.contains(" stdout F share"), "client fetched the pod's /etc/hostname over 127.0.0.1: {log}");
    // httpd is PID 1 of its namespace without a SIGTERM handler, so the
    // kernel drops SIGTERM: stop escalates to SIGKILL after the grace period.
    assert_eq!(e.rt.container_status(&s_id).await.unwrap().state, ContainerState::Running);
    let t = std::time::Instant::now();
    e.rt.stop_container(&s_id, 1).await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1));
    let st = e.rt.container_status(&s_id).await.unwrap();
    assert_eq!(st.state, ContainerState::Exited);
    assert_eq!(st.exit_code, Some(137));
    // A process that handles SIGTERM exits by itself, well within the grace period.
    let trap =
        container(&e, "trap", &["sh", "-c", "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.05; done"]);
    let t_id = e.rt.create_container(&sid, &trap, &sb).await.unwrap();
    e.rt.start_container(&t_id).await.unwrap();
    for _ in 0..100 {
        if std::fs::read_to_string(&trap.log_path).unwrap_or_default().contains("up") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = std::time::Instant::now();
    e.rt.stop_container(&t_id, 30).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(e.rt.container_status(&t_id).await.unwrap().exit_code, Some(0));
    assert!(std::fs::read_to_string(&trap.log_path).unwrap().contains("stdout F bye"));
    e.rt.remove_pod_sandbox(&sid).await.unwrap();
    assert!(e.rt.runc().list().await.unwrap().is_empty());
}

/// A container created in a prepared sandbox before its pause runs joins
/// the same pinned IPC and UTS namespaces as the pause, and starts once the
/// sandbox is finished; a share_pid sandbox refuses that until then.
#[tokio::test(flavor = "multi_thread")]
async fn containers_created_while_the_sandbox_finishes_join_its_namespaces() {
    let e = env("early").await;
    let sb = sandbox_config(&e, "early");
    let sid = e.rt.prepare_pod_sandbox(&sb).await.unwrap();
    assert_eq!(e.rt.pod_sandbox_status(&sid).await.unwrap().state, SandboxState::NotReady);
    let c = container(
        &e,
        "main",
        &["sh", "-c", "hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; sleep 60"],
    );
    let cid = e.rt.create_container(&sid, &c, &sb).await.unwrap();
    e.rt.finish_pod_sandbox(&sid).await.unwrap();
    assert_eq!(e.rt.pod_sandbox_status(&sid).await.unwrap().state, SandboxState::Ready);
    e.rt.start_container(&cid).await.unwrap();
    let pause: i32 = std::fs::read_to_string(e.state.join("sandboxes").join(&sid).join("pause.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(&c.log_path).unwrap_or_default();
        if log.lines().count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for want in ["early".to_owned(), ns(pause, "ipc").display().to_string(), ns(pause, "uts").display().to_string()] {
        assert!(log.contains(&format!(" stdout F {want}")), "{want} in {log}");
    }
    assert_ne!(ns(pause, "ipc"), ns(std::process::id() as i32, "ipc"), "not the host's");
    // Once the pause runs and no create is in flight, the pause holds them
    // alone; a later container joins them through it.
    let sdir = e.state.join("sandboxes").join(&sid);
    assert!(!sdir.join("ipcns").exists() && !sdir.join("utsns").exists(), "pins left after finish");
    let later = container(&e, "later", &["sh", "-c", "readlink /proc/self/ns/ipc; hostname"]);
    let lid = e.rt.create_container(&sid, &later, &sb).await.unwrap();
    e.rt.start_container(&lid).await.unwrap();
    assert_eq!(wait_exit(&e.rt, &lid).await.exit_code, Some(0));
    let log = std::fs::read_to_string(&later.log_path).unwrap();
    assert!(log.contains(&format!(" stdout F {}", ns(pause, "ipc").display())), "{log}");
    assert!(log.contains(" stdout F early"), "{log}");

    let shared = PodSandboxConfig { share_pid: true, ..sandbox_config(&e, "early-pid") };
    let sid2 = e.rt.prepare_pod_sandbox(&shared).await.unwrap();
    let c2 = container(&e, "two", &["true"]);
    assert!(e.rt.create_container(&sid2, &c2, &shared).await.is_err(), "needs the pause's PID namespace");
    e.rt.remove_pod_sandbox(&sid2).await.unwrap();

    e.rt.remove_pod_sandbox(&sid).await.unwrap();
    assert!(e.rt.runc().list().await.unwrap().is_empty(), "runc state left");
    assert_eq!(std::fs::read_dir(e.state.join("sandboxes")).unwrap().count(), 0);
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(e.state.to_str().unwrap()), "mounts (pins) left");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_error_is_reported_and_cleaned() {
    let e = env("err").await;
    let sb = sandbox_config(&e, "err");
    let sid = e.rt.run_pod_sandbox(&sb).await.unwrap();
    let c = container(&e, "bad", &["/nonexistent"]);
    let err = e.rt.create_container(&sid, &c, &sb).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent"), "{err}");
    assert!(e.rt.list_containers().await.unwrap().is_empty());
    e.rt.remove_pod_sandbox(&sid).await.unwrap();
    assert!(e.rt.runc().list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_of_the_runtime_recovers_running_containers() {
    let e = env("recover").await;
    let sb = sandbox_config(&e, "recover");
    let sid = e.rt.run_pod_sandbox(&sb).await.unwrap();
    let c = container(&e, "main", &["sh", "-c", "echo started; sleep 1; echo done; exit 7"]);
    let cid = e.rt.create_container(&sid, &c, &sb).await.unwrap();
    e.rt.start_container(&cid).await.unwrap();
    let pid = e.rt.container_status(&cid).await.unwrap().pid;
    // A second runtime on the same state dir (what a restarted daemon does).
    let cfg = RuntimeConfig {
        state_dir: e.state.clone(),
        runc: "runc".into(),
        runtime_handlers: Default::default(),
        shim: ShimCommand { program: env!("CARGO_BIN_EXE_peapod-shim").into(), args: vec![] },
        log_max_size: 10 << 20,
        log_max_files: 5,
    };
    let rt2 =
        RuncRuntime::new(cfg, Arc::new(DirRootfs(e._tmp.path().join("lower"))), Arc::new(peapod_net::LoopbackOnly))
            .await
            .unwrap();
    let st = rt2.container_status(&cid).await.unwrap();
    assert_eq!(st.state, ContainerState::Running);
    assert_eq!(st.pid, pid);
    assert_eq!(rt2.pod_sandbox_status(&sid).await.unwrap().state, SandboxState::Ready);
    let st = wait_exit(&rt2, &cid).await;
    assert_eq!(st.exit_code, Some(7), "exit code survives a runtime restart");
    let log = std::fs::read_to_string(&c.log_path).unwrap();
    assert!(log.contains("stdout F done"));
    rt2.remove_pod_sandbox(&sid).await.unwrap();
    assert!(rt2.runc().list().await.unwrap().is_empty());
}

/// A runtime handler whose binary is a wrapper that records its arguments
/// and runs runc: the pause and the containers of its sandboxes go through
/// it, under a state root of their own; a restarted runtime still uses it;
/// an unknown handler is refused before anything exists.
#[tokio::test(flavor = "multi_thread")]
async fn runtime_handlers_pick_the_binary_and_root() {
    let e = env("handlers").await;
    let trace = e._tmp.path().join("trace");
    let wrapper = e._tmp.path().join("traced-runc");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$@\" >> {}\nexec runc \"$@\"\n", trace.display())).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = |handlers: &[(&str, &Path)]| RuntimeConfig {
        state_dir: e.state.clone(),
        runc: "runc".into(),
        runtime_handlers: handlers.iter().map(|(n, p)| (n.to_string(), p.to_path_buf())).collect(),
        shim: ShimCommand { program: env!("CARGO_BIN_EXE_peapod-shim").into(), args: vec![] },
        log_max_size: 10 << 20,
        log_max_files: 5,
    };
    let lower = || Arc::new(DirRootfs(e._tmp.path().join("lower")));
    let rt = RuncRuntime::new(cfg(&[("traced", &wrapper)]), lower(), Arc::new(peapod_net::LoopbackOnly)).await.unwrap();

    let unknown = PodSandboxConfig { runtime_handler: "kata".into(), ..sandbox_config(&e, "unknown") };
    let err = rt.run_pod_sandbox(&unknown).await.unwrap_err();
    assert_eq!(err.to_string(), "failed to get sandbox runtime: no runtime for \"kata\" is configured");
    assert!(rt.list_pod_sandboxes().await.unwrap().is_empty(), "nothing of it exists");

    let sb = PodSandboxConfig { runtime_handler: "traced".into(), ..sandbox_config(&e, "handlers") };
    let sid = rt.run_pod_sandbox(&sb).await.unwrap();
    assert_eq!(rt.pod_sandbox_status(&sid).await.unwrap().runtime_handler, "traced");
    let c = container(&e, "main", &["sleep", "60"]);
    let cid = rt.create_container(&sid, &c, &sb).await.unwrap();
    rt.start_container(&cid).await.unwrap();
    let traced: Vec<(String, peapod_runtime::runc::Runc)> =
        rt.runtimes().into_iter().filter(|(n, _)| n == "traced").collect();
    let listed: Vec<String> = traced[0].1.list().await.unwrap().into_iter().map(|s| s.id).collect();
    assert!(listed.contains(&sid) && listed.contains(&cid), "under the handler's root: {listed:?}");
    assert!(rt.runc().list().await.unwrap().is_empty(), "nothing under the default root");

    // A restarted runtime finds the sandbox and keeps using the handler.
    drop(rt);
    let rt = RuncRuntime::new(cfg(&[("traced", &wrapper)]), lower(), Arc::new(peapod_net::LoopbackOnly)).await.unwrap();
    assert_eq!(rt.container_status(&cid).await.unwrap().state, ContainerState::Running);
    let out = rt.exec_sync(&cid, &["echo".into(), "hi".into()], Duration::from_secs(10)).await.unwrap();
    assert_eq!((out.exit_code, out.stdout.as_slice()), (0, b"hi\n".as_slice()));
    rt.remove_pod_sandbox(&sid).await.unwrap();
    let calls = std::fs::read_to_string(&trace).unwrap();
    let called = |verb: &str, id: &str| {
        calls.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.contains(&verb) && words.contains(&id)
        })
    };
    for verb in ["run", "kill", "delete"] {
        assert!(called(verb, &sid), "{verb} of the pause: {calls}");
    }
    for verb in ["create", "start", "exec", "kill", "delete"] {
        assert!(called(verb, &cid), "{verb} of the container: {calls}");
    }
    assert!(traced[0].1.list().await.unwrap().is_empty(), "runc state left under the handler's root");

    // A handler dropped from the configuration: what it started is still stopped and removed.
    let sid = rt.run_pod_sandbox(&sb).await.unwrap();
    drop(rt);
    let rt = RuncRuntime::new(cfg(&[]), lower(), Arc::new(peapod_net::LoopbackOnly)).await.unwrap();
    assert_eq!(rt.pod_sandbox_status(&sid).await.unwrap().state, SandboxState::Ready);
    rt.remove_pod_sandbox(&sid).await.unwrap();
    assert!(traced[0].1.list().await.unwrap().is_empty(), "removed with the recorded binary");
}
