//! Issue 5's acceptance, with real CNI plugins and runc: hostPort and a
//! shared emptyDir (hexo), a ConfigMap update reaching a running pod,
//! pod-to-pod traffic, hostNetwork, the /etc files kubelet writes, and no
//! leak after a daemon crash in the middle of creating pods.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const HEXO: &str = include_str!("../../../examples/hexo.yaml");

fn main_pid(d: &Daemon, pod: &str, container: &str) -> i32 {
    let p = d.pod(pod).unwrap();
    let cs =
        p["status"]["containerStatuses"].as_array().unwrap().iter().find(|c| c["name"] == container).unwrap().clone();
    container_pid(d, &container_id(&cs))
}

/// Run a command inside a container's mount and network namespaces.
fn in_container(pid: i32, args: &[&str]) -> std::process::Output {
    Command::new("nsenter").args(["-t", &pid.to_string(), "-m", "-n", "-u", "-p", "--"]).args(args).output().unwrap()
}

fn sleeper(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra}  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'trap \"exit 0\" TERM; while true; do sleep 0.2; done']\n"
    )
}

#[test]
fn hexo_serves_the_shared_volume_on_its_host_port_and_follows_configmap_changes() {
    let d = Daemon::start("hexo");
    d.import_busybox();
    d.apply(HEXO);
    d.wait_running("hexo");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut page = String::new();
    while Instant::now() < deadline {
        let out = Command::new("curl").args(["-s", "--max-time", "2", "http://127.0.0.1:8888/"]).output().unwrap();
        page = String::from_utf8_lossy(&out.stdout).into_owned();
        if page.contains("hello from hexo") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(page.starts_with("<h1>hello from hexo at "), "page via hostPort 8888: {page:?}\n{}", tail(&d.log(), 30));
    // The writer keeps updating it (the date moves on).
    std::thread::sleep(Duration::from_millis(2200));
    let again = String::from_utf8_lossy(
        &Command::new("curl").args(["-s", "--max-time", "2", "http://127.0.0.1:8888/"]).output().unwrap().stdout,
    )
    .into_owned();
    assert_ne!(page, again, "the page changes as the writer rewrites it");
    // The host's own address works too.
    let host_ip = d.pod("hexo").unwrap()["status"]["hostIP"].as_str().unwrap().to_owned();
    if host_ip != "127.0.0.1" {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "2"])
            .arg(format!("http://{host_ip}:8888/"))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("hello from hexo"), "via {host_ip}:8888");
    }

    // The front container reads its config from the ConfigMap volume; a change reaches it within 10 s.
    let front = main_pid(&d, "hexo", "front");
    let cat = |pid| String::from_utf8_lossy(&in_container(pid, &["cat", "/etc/front/httpd.conf"]).stdout).into_owned();
    assert!(cat(front).contains(".html:text/html"), "{}", cat(front));
    let changed = HEXO.replace("# busybox httpd config: no auth, default index", "# changed by the test");
    let kc = d.kubeconfig.to_str().unwrap();
    let mut kubectl_apply = Command::new(kubectl())
        .args(["--kubeconfig", kc, "apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    kubectl_apply.stdin.take().unwrap().write_all(changed.as_bytes()).unwrap();
    let out = kubectl_apply.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("configmap/front-config configured"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let t = Instant::now();
    while !cat(front).contains("# changed by the test") {
        assert!(t.elapsed() < Duration::from_secs(10), "ConfigMap change not visible after 10 s: {}", cat(front));
        std::thread::sleep(Duration::from_millis(100));
    }
    d.ok(&["delete", "pod", "hexo", "--grace-period=1"]);
    d.assert_clean();
}

#[test]
fn pods_reach_each_other_and_get_kubelet_style_etc_files() {
    let d = Daemon::start("net2");
    d.import_busybox();
    d.apply(&sleeper("a", "  hostname: alpha\n  subdomain: sub\n  hostAliases:\n  - ip: 10.1.2.3\n    hostnames: [foo.local, bar.local]\n"));
    d.apply(&sleeper("b", "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [192.0.2.53]\n    searches: [example.test]\n    options: [{name: ndots, value: '2'}]\n"));
    let a = d.wait_running("a");
    let b = d.wait_running("b");
    let (ip_a, ip_b) =
        (a["status"]["podIP"].as_str().unwrap().to_owned(), b["status"]["podIP"].as_str().unwrap().to_owned());
    assert_ne!(ip_a, ip_b);
    let pa = main_pid(&d, "a", "main");
    let pb = main_pid(&d, "b", "main");
    let ping = in_container(pa, &["ping", "-c", "1", "-W", "2", &ip_b]);
    assert!(ping.status.success(), "a → b: {}", String::from_utf8_lossy(&ping.stdout));
    let ping = in_container(pb, &["ping", "-c", "1", "-W", "2", &ip_a]);
    assert!(ping.status.success(), "b → a");

    let hosts = String::from_utf8_lossy(&in_container(pa, &["cat", "/etc/hosts"]).stdout).into_owned();
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.contains(&format!("{ip_a}\talpha.sub.default.svc.cluster.local\talpha\n")), "{hosts}");
    assert!(hosts.contains("# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"), "{hosts}");
    let name = String::from_utf8_lossy(&in_container(pa, &["hostname"]).stdout).trim().to_owned();
    assert_eq!(name, "alpha");
    let resolv = String::from_utf8_lossy(&in_container(pb, &["cat", "/etc/resolv.conf"]).stdout).into_owned();
    assert_eq!(resolv, "search example.test\nnameserver 192.0.2.53\noptions ndots:2\n");
    let wide = d.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains(&ip_a) && wide.contains(&ip_b), "{wide}");
}

#[test]
fn host_network_pod_sees_the_host_interfaces() {
    let d = Daemon::start("hostnet");
    d.import_busybox();
    d.apply(&sleeper("hn", "  hostNetwork: true\n"));
    let p = d.wait_running("hn");
    assert_eq!(p["status"]["podIP"], p["status"]["hostIP"]);
    let pid = main_pid(&d, "hn", "main");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
        std::fs::read_link("/proc/self/ns/net").unwrap(),
        "the host's network namespace"
    );
    let host_links =
        String::from_utf8_lossy(&Command::new("ip").args(["-o", "link"]).output().unwrap().stdout).lines().count();
    let pod_links = String::from_utf8_lossy(&in_container(pid, &["ip", "-o", "link"]).stdout).lines().count();
    assert_eq!(host_links, pod_links);
    let hosts = String::from_utf8_lossy(&in_container(pid, &["cat", "/etc/hosts"]).stdout).into_owned();
    assert!(hosts.starts_with("# Kubernetes-managed hosts file (host network).\n"), "{hosts}");
}

#[test]
fn host_port_conflict_is_a_clear_error_not_a_broken_pod() {
    let d = Daemon::start("ports");
    d.import_busybox();
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: [httpd, -f, -p, '80', -h, /etc]\n    ports: [{{containerPort: 80, hostPort: 28931}}]\n"
        )
    };
    d.apply(&pod("first"));
    d.wait_running("first");
    d.apply(&pod("second"));
    let describe = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = d.ok(&["describe", "pod", "second"]);
            if out.contains("FailedCreatePodSandBox") || Instant::now() > deadline {
                break out;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert!(describe.contains("host port 28931/TCP is already allocated to pod default/first"), "{describe}");
    let p = d.pod("second").unwrap();
    assert_eq!(p["status"]["phase"], "Pending");
    // Once the first pod is gone, the second gets the port by itself.
    d.ok(&["delete", "pod", "first", "--grace-period=1"]);
    d.wait_running("second");
    let page =
        Command::new("curl").args(["-s", "--max-time", "2", "http://127.0.0.1:28931/hostname"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&page.stdout).trim(), "second");
}

#[test]
fn daemon_crash_while_creating_pods_leaks_nothing() {
    let mut d = Daemon::start("crash20");
    d.import_busybox();
    let mut yaml = String::new();
    for i in 0..20 {
        yaml.push_str(&sleeper(&format!("p{i}"), ""));
        yaml.push_str("---\n");
    }
    d.apply(&yaml);
    // Kill the daemon while sandboxes are being set up.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let running = d.ok(&["get", "pods", "-o", "json"]);
        let v: Value = serde_json::from_str(&running).unwrap();
        let n = v["items"].as_array().unwrap().iter().filter(|p| p["status"]["phase"] == "Running").count();
        if n >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    d.kill9();
    d.spawn();
    for i in 0..20 {
        d.wait_running(&format!("p{i}"));
    }
    let v: Value = serde_json::from_str(&d.ok(&["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 20, "no pod lost or duplicated");
    // One sandbox per pod, no extra netns or veth.
    let netns = std::fs::read_dir(d.state_dir().join("netns")).unwrap().count();
    assert_eq!(netns, 20, "one pinned netns per pod");
    d.ok(&["delete", "pods", "--all", "--grace-period=1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && d.ok(&["get", "pods", "-o", "name"]).trim() != "" {
        std::thread::sleep(Duration::from_millis(200));
    }
    d.assert_clean();
}
