//! `CniNetwork` against the real plugins in /usr/lib/cni (root needed).
//! Each test has its own bridge, subnet, temp dir and namespaces; see
//! `fixture`.

mod fixture;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fixture::*;
use peapod_net::{NetError, Network, netns};

fn in_subnet(f: &Fixture, ip: &str) -> bool {
    ip.starts_with(&f.prefix) && ip.parse::<Ipv4Addr>().is_ok()
}

#[tokio::test]
async fn default_conflist_is_written_and_loaded() {
    let f = Fixture::new();
    let path = f.cfg.conf_dir.join("10-peapod.conflist");
    assert_eq!(f.net.config_file(), path);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["name"], f.name.as_str());
    assert_eq!(v["plugins"][0]["bridge"], f.bridge.as_str());
    assert_eq!(v["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], f.subnet.as_str());
    assert_eq!(f.net.network_name(), f.name);
    assert_eq!(f.net.capacity(), 253);
}

#[tokio::test]
async fn existing_config_wins_and_is_validated() {
    // A valid single-plugin .conf is wrapped and used instead of writing ours.
    let f = Fixture::build(
        |conf, n| {
            let c = serde_json::json!({"cniVersion":"0.4.0","name":n.name,"type":"bridge","bridge":n.name,
                "ipam":{"type":"host-local","subnet":n.subnet,"dataDir":n.ipam_dir}});
            std::fs::write(conf.join("50-mine.conf"), c.to_string()).unwrap();
        },
        vec![PathBuf::from(PLUGIN_DIR)],
    );
    assert!(f.net.config_file().ends_with("50-mine.conf"));
    assert!(!f.cfg.conf_dir.join("10-peapod.conflist").exists());
    let p = f.pod("single", &[]);
    let res = f.net.setup(&p).await.unwrap();
    assert!(in_subnet(&f, &res.ips[0]), "{res:?}");
    f.net.teardown(&p).await.unwrap();

    // Missing plugin binary / unsupported version: named in the error.
    let d = tempfile::tempdir().unwrap();
    let conf = d.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let cfg = config_for(d.path(), "pp-bad", "10.250.0.0/24", vec![PathBuf::from(PLUGIN_DIR)]);
    std::fs::write(
        conf.join("10-x.conflist"),
        r#"{"cniVersion":"1.0.0","name":"pp-bad","plugins":[{"type":"bridge"},{"type":"no-such-plugin"}]}"#,
    )
    .unwrap();
    match CniNetwork::new(cfg.clone()) {
        Err(NetError::Config { field, path, message }) => {
            assert_eq!(field, "plugins[1].type");
            assert!(path.ends_with("10-x.conflist"));
            assert!(message.contains("no-such-plugin"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(
        conf.join("10-x.conflist"),
        r#"{"cniVersion":"0.3.1","name":"pp-bad","plugins":[{"type":"firewall"}]}"#,
    )
    .unwrap();
    match CniNetwork::new(cfg) {
        Err(NetError::Config { field, message, .. }) => {
            assert_eq!(field, "cniVersion");
            assert!(message.contains("firewall"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

use peapod_net::CniNetwork;

#[tokio::test]
async fn add_gives_address_route_and_pods_reach_each_other() {
    let f = Fixture::new();
    let a = f.pod("a", &[]);
    let b = f.pod("b", &[]);
    let (ra, rb) = tokio::join!(f.net.setup(&a), f.net.setup(&b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.ips.len(), 1);
    let (ip_a, ip_b) = (&ra.ips[0], &rb.ips[0]);
    assert!(in_subnet(&f, ip_a) && in_subnet(&f, ip_b), "{ip_a} {ip_b}");
    assert_ne!(ip_a, ip_b);

    let (ok, addr) = in_ns(&a.netns, &["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
    assert!(ok && addr.contains(&format!("inet {ip_a}/24")), "{addr}");
    let (ok, route) = in_ns(&a.netns, &["ip", "route", "show", "default"]);
    assert!(ok && route.contains(&format!("default via {}1 dev eth0", f.prefix)), "{route}");

    // busybox ping with a numeric address needs no resolver (the host's
    // static busybox only crashes for NSS users).
    let (ok, out) = in_ns(&a.netns, &["busybox", "ping", "-c1", "-W2", ip_b]);
    assert!(ok, "a → b: {out}");
    let (ok, out) = in_ns(&b.netns, &["busybox", "ping", "-c1", "-W2", ip_a]);
    assert!(ok, "b → a: {out}");

    // CHECK passes on a healthy attachment and notices a broken one.
    f.net.check(&a).await.unwrap();
    let (ok, out) = in_ns(&b.netns, &["ip", "link", "del", "eth0"]);
    assert!(ok, "{out}");
    assert!(f.net.check(&b).await.is_err());
    f.net.teardown(&a).await.unwrap();
    assert!(matches!(f.net.check(&a).await, Err(NetError::NotAttached { .. })));
}

#[tokio::test]
async fn host_port_reaches_the_pod() {
    let f = Fixture::new();
    let port = random_port();
    let p = f.pod("web", &[(port, 80)]);
    let res = f.net.setup(&p).await.unwrap();
    let server = serve_in_netns(&p.netns, 80, "hi\n", 3);
    let host = host_ip();
    assert_eq!(fetch((Ipv4Addr::LOCALHOST, port)).unwrap(), "hi\n", "via 127.0.0.1:{port}");
    assert_eq!(fetch((host, port)).unwrap(), "hi\n", "via {host}:{port}");
    // And the pod IP directly.
    let pod_ip: Ipv4Addr = res.ips[0].parse().unwrap();
    assert_eq!(fetch((pod_ip, 80)).unwrap(), "hi\n");
    assert_eq!(server.join().unwrap(), 3);

    f.net.teardown(&p).await.unwrap();
    assert!(fetch((Ipv4Addr::LOCALHOST, port)).is_err(), "port still forwarded");
}

#[tokio::test]
async fn del_removes_everything_and_is_idempotent() {
    let f = Fixture::new();
    let p = f.pod("gone", &[(random_port(), 8080)]);
    let ip = f.net.setup(&p).await.unwrap().ips.remove(0);
    let record = f.record_path(&p);
    let lease = f.lease_path(&ip);
    assert!(record.exists() && lease.exists());
    assert_eq!(f.bridge_ports(), 1);
    // The pod's DNAT rules (nat); masquerade and FORWARD accepts are the
    // network's, once for the subnet, not the pod's.
    let rules = f.iptables_lines(&p.sandbox_id);
    assert!(rules.iter().any(|l| l.contains("DNAT")), "{rules:#?}");
    assert!(!rules.iter().any(|l| l.contains("MASQUERADE")), "{rules:#?}");
    assert_eq!(f.iptables_lines(&format!("{ip}/32")).iter().filter(|l| l.contains("FORWARD")).count(), 0);
    assert_eq!(f.network_rules().len(), 6, "{:#?}", f.network_rules());

    f.net.teardown(&p).await.unwrap();
    assert!(!record.exists(), "cache record");
    assert!(!lease.exists(), "IPAM lease");
    assert_eq!(f.bridge_ports(), 0, "veth");
    assert_eq!(f.iptables_lines(&p.sandbox_id), Vec::<String>::new());
    assert_eq!(f.leftover_rules(), Vec::<String>::new());
    // Twice is fine.
    f.net.teardown(&p).await.unwrap();
    // The network's rules stay until it shuts down with no pod attached.
    assert!(!f.network_rules().is_empty());
    f.net.shutdown().await.unwrap();
    assert_eq!(f.network_rules(), Vec::<String>::new());
}

#[tokio::test]
async fn pods_reach_other_networks_through_the_subnet_masquerade() {
    let f = Fixture::new();
    let p = f.pod("out", &[]);
    let q = f.pod("kept", &[]);
    f.net.setup(&p).await.unwrap();
    // The outside namespace has no route back to the pod subnet: only a
    // masqueraded ping (its source the host's address on the link) is
    // answered.
    let outside = Outside::new();
    let (ok, out) = in_ns(&p.netns, &["busybox", "ping", "-c1", "-W2", &outside.ip]);
    assert!(ok, "pod → outside: {out}");
    // Without the masquerade jump, the same ping goes unanswered.
    let jump = f.network_rules().into_iter().find(|l| l.starts_with("-A POSTROUTING")).expect("the POSTROUTING jump");
    let mut args = vec!["-w".to_owned(), "-t".to_owned(), "nat".to_owned(), "-D".to_owned()];
    args.extend(peapod_net::cni::iptables::split_rule(&jump).into_iter().skip(1));
    let st = std::process::Command::new("iptables").args(&args).status().unwrap();
    assert!(st.success());
    let (ok, _) = in_ns(&p.netns, &["busybox", "ping", "-c1", "-W1", &outside.ip]);
    assert!(!ok, "answered without masquerade: the test proves nothing");
    // A daemon restarted with pods attached puts the missing rule back.
    let again = CniNetwork::new(f.cfg.clone()).unwrap();
    again.resume().await.unwrap();
    let (ok, out) = in_ns(&p.netns, &["busybox", "ping", "-c1", "-W2", &outside.ip]);
    assert!(ok, "after resume: {out}");
    // Shutdown keeps them while a pod is attached, removes them after.
    f.net.setup(&q).await.unwrap();
    f.net.teardown(&p).await.unwrap();
    again.shutdown().await.unwrap();
    assert_eq!(f.network_rules().len(), 6);
    f.net.teardown(&q).await.unwrap();
    again.shutdown().await.unwrap();
    assert_eq!(f.network_rules(), Vec::<String>::new());
    drop(outside);
}

#[tokio::test]
async fn del_after_the_namespace_is_gone() {
    // bridge with ipMasq (a conflist of the user's; ours has the network
    // masquerade instead) leaves its per-pod chain when the namespace is
    // gone; we remove it.
    let f = Fixture::build(
        |conf, n| {
            let c = serde_json::json!({"cniVersion":"1.0.0","name":n.name,"plugins":[
                {"type":"bridge","bridge":n.name,"isGateway":true,"ipMasq":true,
                 "ipam":{"type":"host-local","ranges":[[{"subnet":n.subnet}]],"dataDir":n.ipam_dir}},
                {"type":"portmap","capabilities":{"portMappings":true},"snat":true},
                {"type":"firewall"}]});
            std::fs::write(conf.join("10-t.conflist"), c.to_string()).unwrap();
        },
        vec![PathBuf::from(PLUGIN_DIR)],
    );
    for stale_file in [false, true] {
        let p = f.pod("nsgone", &[]);
        let ip = f.net.setup(&p).await.unwrap().ips.remove(0);
        netns::remove_pinned(&p.netns).unwrap();
        if stale_file {
            // A plain file where the pin was (e.g. after a reboot).
            std::fs::write(&p.netns, "").unwrap();
        }
        f.net.teardown(&p).await.unwrap();
        assert!(!f.lease_path(&ip).exists());
        assert!(!f.record_path(&p).exists());
        assert!(f.network_rules().is_empty(), "not our default network: no rules of ours");
        assert_eq!(f.iptables_lines(&p.sandbox_id), Vec::<String>::new());
        f.net.teardown(&p).await.unwrap();
    }
    assert_eq!(f.leftover_rules(), Vec::<String>::new());
}

#[tokio::test]
async fn del_of_a_pod_never_added_is_ok() {
    let f = Fixture::new();
    let p = f.pod("never", &[(random_port(), 80)]);
    f.net.teardown(&p).await.unwrap();
    netns::remove_pinned(&p.netns).unwrap();
    f.net.teardown(&p).await.unwrap();
    let mut bad = p.clone();
    bad.sandbox_id = "../escape".into();
    f.net.teardown(&bad).await.unwrap();
}

/// Symlink the real plugins into a private dir, so one can vanish.
fn private_plugins(dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for p in ["bridge", "host-local", "portmap", "firewall"] {
        std::os::unix::fs::symlink(Path::new(PLUGIN_DIR).join(p), bin.join(p)).unwrap();
    }
    for (name, real) in extra {
        std::os::unix::fs::symlink(Path::new(PLUGIN_DIR).join(real), bin.join(name)).unwrap();
    }
    bin
}

fn assert_nothing_left(f: &Fixture, p: &peapod_net::NetRequest) {
    assert!(!f.record_path(p).exists(), "cache record left");
    let leases = std::fs::read_dir(f.dir.path().join("ipam").join(&f.name))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("10."))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert_eq!(leases, Vec::<String>::new(), "IPAM leases left");
    assert_eq!(f.bridge_ports(), 0, "veth left");
    assert_eq!(f.iptables_lines(&p.sandbox_id), Vec::<String>::new());
    assert_eq!(f.leftover_rules(), Vec::<String>::new());
}

#[tokio::test]
async fn failing_plugin_mid_chain_leaves_nothing() {
    // (1) The second plugin's binary disappears after start-up.
    let tmp = tempfile::tempdir().unwrap();
    let bin = private_plugins(tmp.path(), &[("pp-second", "portmap")]);
    let f = Fixture::build(
        |conf, n| {
            let c = serde_json::json!({"cniVersion":"1.0.0","name":n.name,"plugins":[
                {"type":"bridge","bridge":n.name,"isGateway":true,"ipMasq":true,
                 "ipam":{"type":"host-local","ranges":[[{"subnet":n.subnet}]],"dataDir":n.ipam_dir}},
                {"type":"pp-second","capabilities":{"portMappings":true}}]});
            std::fs::write(conf.join("10-t.conflist"), c.to_string()).unwrap();
        },
        vec![bin.clone()],
    );
    std::fs::remove_file(bin.join("pp-second")).unwrap();
    let p = f.pod("half", &[]);
    match f.net.setup(&p).await {
        Err(NetError::PluginNotFound { plugin, .. }) => assert_eq!(plugin, "pp-second"),
        other => panic!("{other:?}"),
    }
    assert_nothing_left(&f, &p);

    // (2) portmap fails half-way through its own rules (a bad condition):
    // its DNAT chain exists already, bridge and firewall ran before it.
    let f = Fixture::build(
        |conf, n| {
            let c = serde_json::json!({"cniVersion":"1.0.0","name":n.name,"plugins":[
                {"type":"bridge","bridge":n.name,"isGateway":true,"ipMasq":true,
                 "ipam":{"type":"host-local","ranges":[[{"subnet":n.subnet}]],"dataDir":n.ipam_dir}},
                {"type":"firewall"},
                {"type":"portmap","capabilities":{"portMappings":true},"snat":true,
                 "conditionsV4":["-m","no-such-match"]}]});
            std::fs::write(conf.join("10-t.conflist"), c.to_string()).unwrap();
        },
        vec![PathBuf::from(PLUGIN_DIR)],
    );
    let p = f.pod("badport", &[(random_port(), 80)]);
    match f.net.setup(&p).await {
        Err(e @ NetError::Plugin { .. }) => {
            assert!(e.to_string().starts_with("CNI plugin portmap failed (ADD)"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert_nothing_left(&f, &p);
    // The port is free again for another pod.
    let q = f.pod("next", &p.port_mappings.iter().map(|m| (m.host_port, 80)).collect::<Vec<_>>());
    assert!(!matches!(f.net.setup(&q).await, Err(NetError::HostPortConflict { .. })));
}

#[tokio::test]
async fn host_port_conflict_is_refused() {
    let f = Fixture::new();
    let port = random_port();
    let a = f.pod("hexo", &[(port, 80)]);
    f.net.setup(&a).await.unwrap();
    let b = f.pod("other", &[(port, 8080)]);
    let err = f.net.setup(&b).await.unwrap_err();
    assert_eq!(err.to_string(), format!("host port {port}/TCP is already allocated to pod default/hexo"));
    assert!(!f.record_path(&b).exists());
    // Survives a restart: the book is rebuilt from the cache.
    let again = CniNetwork::new(f.cfg.clone()).unwrap();
    assert!(matches!(again.setup(&b).await, Err(NetError::HostPortConflict { .. })));
    // Freed by teardown.
    f.net.teardown(&a).await.unwrap();
    f.net.setup(&b).await.unwrap();
}

#[tokio::test]
async fn gc_cleans_dead_sandboxes_and_orphaned_leases() {
    let f = Fixture::new();
    let live = f.pod("live", &[]);
    let dead = f.pod("dead", &[(random_port(), 80)]);
    let orphan = f.pod("orphan", &[]);
    let ip_live = f.net.setup(&live).await.unwrap().ips.remove(0);
    let ip_dead = f.net.setup(&dead).await.unwrap().ips.remove(0);
    let ip_orphan = f.net.setup(&orphan).await.unwrap().ips.remove(0);
    // The orphan's record is lost; its namespace too (as after a crash).
    std::fs::remove_file(f.record_path(&orphan)).unwrap();
    netns::remove_pinned(&orphan.netns).unwrap();

    // A fresh instance, as at daemon start-up.
    let net = CniNetwork::new(f.cfg.clone()).unwrap();
    let live_ids: HashSet<String> = [live.sandbox_id.clone()].into();
    assert_eq!(net.gc(&live_ids).await.unwrap(), 2);

    assert!(f.record_path(&live).exists() && f.lease_path(&ip_live).exists());
    for (p, ip) in [(&dead, &ip_dead), (&orphan, &ip_orphan)] {
        assert!(!f.record_path(p).exists());
        assert!(!f.lease_path(ip).exists(), "lease {ip}");
        assert_eq!(f.iptables_lines(&p.sandbox_id), Vec::<String>::new());
        assert_eq!(f.iptables_lines(&format!("{ip}/32")), Vec::<String>::new());
    }
    assert_eq!(f.bridge_ports(), 1, "only the live pod's veth");
    assert_eq!(net.gc(&live_ids).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_setup_still_completes_and_tears_down() {
    let f = Fixture::new();
    for i in 0..3 {
        let p = f.pod(&format!("cancel{i}"), &[]);
        // Poll setup once, then drop it: the chain must still run to the
        // end, and the teardown that follows must wait for it.
        let r = tokio::time::timeout(std::time::Duration::ZERO, f.net.setup(&p)).await;
        assert!(r.is_err(), "setup cannot finish within one poll");
        f.net.teardown(&p).await.unwrap();
        assert_nothing_left(&f, &p);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn bench_one(f: &Fixture, label: &str, n: usize, ports: bool) {
    let (mut add, mut del) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mappings = if ports { vec![(random_port(), 80)] } else { vec![] };
        let p = f.pod(&format!("b{i}"), &mappings);
        let t = Instant::now();
        f.net.setup(&p).await.unwrap();
        add.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        f.net.teardown(&p).await.unwrap();
        del.push(t.elapsed().as_secs_f64() * 1e3);
        netns::remove_pinned(&p.netns).unwrap();
    }
    println!("{label}: n={n} ADD median {:.1} ms, DEL median {:.1} ms", median(&mut add), median(&mut del));
}

/// `BENCH_N=20 cargo test -p peapod-net --test cni -- --ignored --nocapture bench`
#[tokio::test]
#[ignore = "benchmark"]
async fn bench_add_del() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let f = Fixture::new();
    bench_one(&f, "default chain (bridge, portmap, firewall)", n, false).await;
    bench_one(&f, "default chain, 1 hostPort", n, true).await;
    drop(f);
    let f = Fixture::build(
        |conf, names| {
            let mut c = peapod_net::cni::default_conflist(&peapod_net::DefaultNetwork {
                name: names.name.clone(),
                bridge: names.name.clone(),
                subnet: names.subnet.clone(),
                ipam_data_dir: names.ipam_dir.clone(),
            });
            c["plugins"].as_array_mut().unwrap().pop();
            std::fs::write(conf.join("10-nofw.conflist"), c.to_string()).unwrap();
        },
        vec![PathBuf::from(PLUGIN_DIR)],
    );
    bench_one(&f, "without firewall (bridge, portmap)", n, false).await;
}

/// The clean-up of a daemon that could not clean up itself (bench, test
/// harness) leaves none of a pod's rules, portmap's jump to its DNAT chain
/// (which names no pod address) included.
#[tokio::test]
async fn subnet_clean_up_removes_a_dead_daemons_rules() {
    let f = Fixture::new();
    let p = f.pod("orphan", &[(random_port(), 80)]);
    f.net.setup(&p).await.unwrap();
    assert!(f.iptables_lines(&p.sandbox_id).iter().any(|l| l.contains("CNI-DN-")), "the DNAT jump");
    let removed = peapod_net::cni::iptables::remove_subnet_rules(&f.prefix);
    assert!(!removed.is_empty());
    assert_eq!(f.iptables_lines(&p.sandbox_id), Vec::<String>::new());
    assert_eq!(f.network_rules(), Vec::<String>::new());
}
