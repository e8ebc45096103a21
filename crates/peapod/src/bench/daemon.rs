//! A private `peapod serve` for the benchmark, isolated the way the test
//! harness isolates its daemons: its own API port, data dir (under /tmp),
//! state dir (under /run, like the default /run/peapod), cgroup root, CNI
//! bridge and /24 subnet (a slot reserved across processes with an atomic
//! mkdir), so it can run beside a production daemon and the tests.
//! [`BenchDaemon::cleanup`] removes everything it could have left.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::procfs;

/// A bridge name and subnet nobody else in this machine's benchmarks uses.
struct Slot {
    index: u32,
    lock: PathBuf,
}

const SLOTS_DIR: &str = "/tmp/peapod-bench-slots";

impl Slot {
    fn take() -> Result<Slot> {
        std::fs::create_dir_all(SLOTS_DIR).with_context(|| format!("creating {SLOTS_DIR}"))?;
        for index in 0..250u32 {
            let lock = Path::new(SLOTS_DIR).join(index.to_string());
            let claim = |lock: &Path| {
                std::fs::create_dir(lock).is_ok()
                    && std::fs::write(lock.join("pid"), std::process::id().to_string()).is_ok()
            };
            if claim(&lock) {
                return Ok(Slot { index, lock });
            }
            // A slot whose owner is gone is stale: take it over.
            let owner = std::fs::read_to_string(lock.join("pid")).unwrap_or_default();
            if let Ok(pid) = owner.trim().parse::<i32>()
                && !procfs::alive(pid)
            {
                let _ = std::fs::remove_dir_all(&lock);
                if claim(&lock) {
                    return Ok(Slot { index, lock });
                }
            }
        }
        bail!("no free benchmark network slot in {SLOTS_DIR}")
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.lock);
    }
}

/// How the daemon is run.
pub struct DaemonOptions {
    pub exe: PathBuf,
    pub log_level: String,
    /// A conflist to use instead of the daemon's default one.
    pub cni_conflist: Option<PathBuf>,
}

pub struct BenchDaemon {
    exe: PathBuf,
    pub base: PathBuf,
    pub state_dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub port: u16,
    pub cgroup_root: String,
    pub bridge: String,
    pub subnet: String,
    child: Option<Child>,
    _slot: Slot,
}

impl BenchDaemon {
    pub fn start(o: &DaemonOptions) -> Result<BenchDaemon> {
        let slot = Slot::take()?;
        let id = format!("{}-{}", std::process::id(), slot.index);
        let base = std::env::temp_dir().join(format!("peapod-bench-{id}"));
        let state_dir = PathBuf::from(format!("/run/peapod-bench-{id}"));
        for d in [&base, &state_dir] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("picking a free port")?
            .port();
        let mut d = BenchDaemon {
            exe: o.exe.clone(),
            kubeconfig: base.join("kubeconfig"),
            base,
            state_dir,
            port,
            cgroup_root: format!("/peapod-bench-{id}"),
            bridge: format!("ppb{}", slot.index),
            subnet: format!("10.251.{}.0/24", slot.index),
            child: None,
            _slot: slot,
        };
        if let Some(src) = &o.cni_conflist {
            d.install_conflist(src)?;
        }
        d.spawn(&o.log_level)?;
        Ok(d)
    }

    /// Put `src` in the daemon's CNI conf dir (the daemon writes its default
    /// conflist only into an empty one), with our bridge, subnet and IPAM dir.
    fn install_conflist(&self, src: &Path) -> Result<()> {
        let text = std::fs::read_to_string(src).with_context(|| format!("reading {}", src.display()))?;
        let mut list: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", src.display()))?;
        for p in list["plugins"].as_array_mut().into_iter().flatten() {
            if p["type"] == "bridge" {
                p["bridge"] = serde_json::json!(self.bridge);
                p["ipam"]["ranges"] = serde_json::json!([[{"subnet": self.subnet}]]);
                p["ipam"]["dataDir"] = serde_json::json!(self.data_dir().join("cni/ipam"));
            }
        }
        let dir = self.base.join("cni");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dst = dir.join("10-peapod.conflist");
        std::fs::write(&dst, serde_json::to_vec_pretty(&list)?).with_context(|| format!("writing {}", dst.display()))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.base.join("daemon.log")
    }

    fn spawn(&mut self, log_level: &str) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .with_context(|| format!("opening {}", self.log_path().display()))?;
        let child = Command::new(&self.exe)
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--kubeconfig-out")
            .arg(&self.kubeconfig)
            .args(["--cgroup-root", &self.cgroup_root, "--bridge", &self.bridge, "--pod-cidr", &self.subnet])
            .arg("--cni-conf-dir")
            .arg(self.base.join("cni"))
            .args(["--node-name", "bench-node", "--log-level", log_level])
            // Its own process group: a Ctrl-C at the terminal stops the
            // benchmark, which then deletes its pods through the daemon.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} serve", self.exe.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.kubeconfig.exists() {
                return Ok(());
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                bail!("the daemon exited with {st}:\n{}", self.log_tail(20));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the daemon did not come up in 30 s:\n{}", self.log_tail(20))
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A command running this binary's client verbs against the daemon.
    pub fn cli(&self) -> Command {
        let mut c = Command::new(&self.exe);
        c.env("KUBECONFIG", &self.kubeconfig);
        c
    }

    /// Run a client verb that must succeed.
    pub fn cli_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.cli().args(args).output().context("running the peapod client")?;
        if !out.status.success() {
            bail!("peapod {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Pod sandboxes and containers the daemon's runtime still holds
    /// (its records under the state dir; a sandbox's goes last).
    fn runtime_records(&self) -> usize {
        ["sandboxes", "containers"]
            .iter()
            .map(|d| std::fs::read_dir(self.state_dir.join(d)).map_or(0, |rd| rd.flatten().count()))
            .sum()
    }

    /// Wait until the runtime holds no pod any more. A terminal pod's
    /// object goes at once on delete (it needs no grace period, as in
    /// Kubernetes), so its DELETED event comes before the node tore it down.
    pub async fn wait_runtime_empty(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.runtime_records();
            if left == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the runtime still holds {left} sandboxes and containers after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Is `p` one of this daemon's shims? (They carry our runc root.)
    pub fn is_shim(&self, p: &procfs::Proc) -> bool {
        let root = self.state_dir.join("runc");
        let root = root.to_string_lossy();
        p.args.windows(2).any(|w| w[0] == "--runc-root" && w[1] == root)
    }

    /// Is `p` in one of this daemon's pod cgroups?
    pub fn in_pods(&self, p: &procfs::Proc) -> bool {
        procfs::under(&p.cgroup, &self.cgroup_root)
    }

    /// SIGTERM the daemon and wait for it (pods keep running).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop the daemon and remove whatever is left of it: stray pod
    /// processes, mounts, the bridge, NAT rules of its subnet, its cgroup
    /// tree and its directories. Returns what had to be removed by force
    /// (empty when the daemon cleaned up after its pods itself).
    pub fn cleanup(&mut self) -> Vec<String> {
        self.stop();
        let mut forced = Vec::new();
        for p in procfs::processes() {
            if self.is_shim(&p) || self.in_pods(&p) {
                forced.push(format!("process {} {}", p.pid, p.args.join(" ")));
                if let Some(pid) = rustix::process::Pid::from_raw(p.pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        let _ = Command::new("runc").arg("--root").arg(self.state_dir.join("runc")).args(["list", "-q"]).output().map(
            |o| {
                for id in String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.is_empty()) {
                    forced.push(format!("runc container {id}"));
                    let _ = Command::new("runc")
                        .arg("--root")
                        .arg(self.state_dir.join("runc"))
                        .args(["delete", "-f", id])
                        .output();
                }
            },
        );
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let roots = [self.base.to_string_lossy().into_owned(), self.state_dir.to_string_lossy().into_owned()];
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| roots.iter().any(|r| m.starts_with(r.as_str())))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            forced.push(format!("mount {m}"));
            let _ = rustix::mount::unmount(m, rustix::mount::UnmountFlags::DETACH);
        }
        // The bridge is shared by all pods, so the daemon leaves it; it is ours.
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).stderr(Stdio::null()).output();
        let prefix = self.subnet.rsplit_once('.').map(|(a, _)| format!("{a}.")).unwrap_or_default();
        let rules = peapod_net::cni::iptables::remove_subnet_rules(&prefix);
        forced.extend(rules.into_iter().map(|r| format!("iptables {r}")));
        for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            remove_cgroup_tree(&h.path().join(self.cgroup_root.trim_start_matches('/')), &mut forced);
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
        let _ = std::fs::remove_dir_all(&self.base);
        forced
    }
}

/// rmdir a cgroup and its children, deepest first; children (pod cgroups)
/// are reported as leftovers, the root itself is expected.
fn remove_cgroup_tree(dir: &Path, found: &mut Vec<String>) {
    fn walk(dir: &Path, depth: usize, found: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), depth + 1, found);
            }
        }
        if depth > 0 {
            found.push(format!("cgroup {}", dir.display()));
        }
        let _ = std::fs::remove_dir(dir);
    }
    if dir.is_dir() {
        walk(dir, 0, found);
    }
}

impl Drop for BenchDaemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.cleanup();
        }
    }
}
