//! An isolated CNI network per test: its own bridge (`pp-t<hex>`), /24
//! subnet in 10.200-249.x.0, temp dir for config, cache, IPAM and pinned
//! namespaces. Drop undoes everything even when the test failed: DEL of
//! every pod, namespaces, the per-pod iptables rules and chains of this
//! network (found by comment or subnet), and the bridge.

use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use peapod_net::{CniConfig, CniNetwork, DefaultNetwork, NetRequest, Network, PortMap, netns};

pub const PLUGIN_DIR: &str = "/usr/lib/cni";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Random bytes for names.
pub fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).unwrap();
    u32::from_ne_bytes(b) ^ SEQ.fetch_add(0x9e37_79b9, Ordering::Relaxed)
}

pub fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&format!("{:08x}", random_u32()));
    }
    s.truncate(n);
    s
}

/// A free-looking host port for this test.
pub fn random_port() -> u16 {
    20000 + (random_u32() % 40000) as u16
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub bridge: String,
    /// `10.x.y.` (the /24's prefix, with the trailing dot).
    pub prefix: String,
    pub subnet: String,
    pub cfg: CniConfig,
    pub net: CniNetwork,
    pods: Mutex<Vec<NetRequest>>,
}

pub fn config_for(dir: &Path, name: &str, subnet: &str, plugin_dirs: Vec<PathBuf>) -> CniConfig {
    CniConfig {
        conf_dir: dir.join("conf"),
        plugin_dirs,
        cache_dir: dir.join("cache"),
        default_network: DefaultNetwork {
            name: name.to_owned(),
            bridge: name.to_owned(),
            subnet: subnet.to_owned(),
            ipam_data_dir: dir.join("ipam"),
        },
    }
}

impl Fixture {
    /// The default network (bridge + portmap + firewall).
    pub fn new() -> Self {
        Self::build(|_, _| {}, vec![PathBuf::from(PLUGIN_DIR)])
    }

    /// `write_conf(conf_dir, fixture-ish values)` may put its own
    /// configuration in place before the network is loaded.
    pub fn build(write_conf: impl FnOnce(&Path, &Names), plugin_dirs: Vec<PathBuf>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("pp-t{}", random_hex(6));
        let r = random_u32();
        let prefix = format!("10.{}.{}.", 200 + (r % 50), (r >> 8) % 256);
        let subnet = format!("{prefix}0/24");
        let names = Names { name: name.clone(), subnet: subnet.clone(), ipam_dir: dir.path().join("ipam") };
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        write_conf(&dir.path().join("conf"), &names);
        let cfg = config_for(dir.path(), &name, &subnet, plugin_dirs);
        let net = CniNetwork::new(cfg.clone()).expect("loading the CNI network");
        Fixture { dir, bridge: name.clone(), name, prefix, subnet, cfg, net, pods: Mutex::new(Vec::new()) }
    }

    /// A new pod with a pinned namespace (not yet attached).
    pub fn pod(&self, name: &str, ports: &[(u16, u16)]) -> NetRequest {
        let id = random_hex(16);
        let ns = self.dir.path().join("ns").join(&id);
        netns::create_pinned(&ns).unwrap();
        let req = NetRequest {
            sandbox_id: id,
            netns: ns,
            pod_name: name.to_owned(),
            pod_namespace: "default".to_owned(),
            pod_uid: format!("uid-{name}"),
            port_mappings: ports
                .iter()
                .map(|&(host_port, container_port)| PortMap {
                    protocol: "tcp".into(),
                    container_port,
                    host_port,
                    host_ip: String::new(),
                })
                .collect(),
        };
        self.pods.lock().unwrap().push(req.clone());
        req
    }

    pub fn record_path(&self, req: &NetRequest) -> PathBuf {
        self.cfg.cache_dir.join("results").join(format!("{}-{}-eth0", self.name, req.sandbox_id))
    }

    pub fn lease_path(&self, ip: &str) -> PathBuf {
        self.dir.path().join("ipam").join(&self.name).join(ip)
    }

    /// Interfaces enslaved to our bridge (the pods' host-side veths).
    pub fn bridge_ports(&self) -> usize {
        let out = sh("ip", &["-o", "link", "show", "master", &self.bridge]);
        out.lines().filter(|l| !l.trim().is_empty()).count()
    }

    /// iptables-save lines (all tables) that mention `needle`.
    pub fn iptables_lines(&self, needle: &str) -> Vec<String> {
        sh("iptables-save", &[]).lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
    }

    /// Every pod's rules of this network still in iptables: rules whose
    /// comment names it or that match its subnet, except the network's own
    /// (`network_rules`).
    pub fn leftover_rules(&self) -> Vec<String> {
        let mut v = self.iptables_lines(&format!("\\\"{}\\\"", self.name));
        v.extend(self.iptables_lines(&self.prefix));
        v.retain(|l| !is_network_rule(l));
        v
    }

    /// The rules the network keeps for its whole subnet (masquerade and
    /// FORWARD accepts, see the net crate's `hostrules`).
    pub fn network_rules(&self) -> Vec<String> {
        let (chain, comment) = (
            format!("PEAPOD-MASQ-{}", self.bridge),
            format!("\"peapod network {} bridge {}\"", self.name, self.bridge),
        );
        let all = sh("iptables-save", &[]);
        all.lines()
            .filter(|l| l.starts_with("-A") && (l.contains(&chain) || l.contains(&comment)))
            .map(str::to_owned)
            .collect()
    }
}

fn is_network_rule(line: &str) -> bool {
    line.contains("PEAPOD-MASQ-") || line.contains("peapod network ")
}

/// A network of our own outside the pod network: a namespace behind a veth
/// pair, `10.199.x.y/30`, host side `.1`, namespace side `.2`, and no route
/// back to any pod subnet.
pub struct Outside {
    pub ns: PathBuf,
    pub host_if: String,
    pub ip: String,
    _dir: tempfile::TempDir,
}

impl Outside {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ns = dir.path().join("outside");
        netns::create_pinned(&ns).unwrap();
        let r = random_u32();
        let (c, d) = (r % 256, 4 * ((r >> 8) % 64));
        let (host_ip, ip) = (format!("10.199.{c}.{}", d + 1), format!("10.199.{c}.{}", d + 2));
        let host_if = format!("ppo{}", random_hex(8));
        let peer = format!("ppi{}", random_hex(8));
        let run = |cmd: &str, args: &[&str]| {
            let out = Command::new(cmd).args(args).output().unwrap();
            assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let nsarg = ns.display().to_string();
        run("ip", &["link", "add", &host_if, "type", "veth", "peer", "name", &peer]);
        run("ip", &["link", "set", &peer, "netns", &nsarg]);
        run("ip", &["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        run("ip", &["link", "set", &host_if, "up"]);
        let nsenter = format!("--net={nsarg}");
        run("nsenter", &[&nsenter, "ip", "addr", "add", &format!("{ip}/30"), "dev", &peer]);
        run("nsenter", &[&nsenter, "ip", "link", "set", &peer, "up"]);
        Outside { ns, host_if, ip, _dir: dir }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).stderr(std::process::Stdio::null()).status();
        let _ = netns::remove_pinned(&self.ns);
    }
}

/// Values a custom configuration needs.
pub struct Names {
    pub name: String,
    pub subnet: String,
    pub ipam_dir: PathBuf,
}

/// Run a command, return stdout (panics on spawn failure only).
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command inside a namespace; returns (success, stdout+stderr).
pub fn in_ns(ns: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("nsenter").arg(format!("--net={}", ns.display())).args(args).output().unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// The host's address on its default route (eth0 here).
pub fn host_ip() -> Ipv4Addr {
    let out = sh("ip", &["-o", "-4", "route", "get", "1.1.1.1"]);
    let toks: Vec<_> = out.split_whitespace().collect();
    let i = toks.iter().position(|t| *t == "src").expect("src in route");
    toks[i + 1].parse().unwrap()
}

/// A TCP server inside the namespace at `ns`, answering `reply` to up to
/// `n` connections within 20 s. Returns once it listens.
pub fn serve_in_netns(ns: &Path, port: u16, reply: &'static str, n: usize) -> std::thread::JoinHandle<usize> {
    let ns = ns.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let f = std::fs::File::open(&ns).unwrap();
        rustix::thread::move_into_link_name_space(f.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network)).unwrap();
        let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap();
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < n && Instant::now() < deadline {
            match l.accept() {
                Ok((mut s, _)) => {
                    use std::io::Write;
                    let _ = s.write_all(reply.as_bytes());
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        served
    });
    rx.recv().unwrap();
    h
}

/// Connect and read everything.
pub fn fetch(addr: (Ipv4Addr, u16)) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect_timeout(&addr.into(), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let pods = std::mem::take(&mut *self.pods.lock().unwrap());
        let net = self.net.clone();
        // Drop may run inside the test's runtime: DEL on a fresh one.
        let dels = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            for p in &pods {
                if let Err(e) = rt.block_on(net.teardown(p)) {
                    eprintln!("fixture cleanup: DEL {}: {e}", p.sandbox_id);
                }
                let _ = netns::remove_pinned(&p.netns);
            }
            if let Err(e) = rt.block_on(net.shutdown()) {
                eprintln!("fixture cleanup: network shutdown: {e}");
            }
        })
        .join();
        if dels.is_err() {
            eprintln!("fixture cleanup: DEL thread panicked");
        }
        // Whatever a failed test left of this network's rules.
        peapod_net::cni::iptables::remove_subnet_rules(&self.prefix);
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).stderr(std::process::Stdio::null()).status();
    }
}
