//! `peapod serve`: wire the store, image store, runtime, network, node agent
//! and API server together and run them until SIGTERM/SIGINT. Pods keep
//! running when the daemon stops (like kubelet); the next start recovers them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use peapod_image::ImageStore;
use peapod_node::podconfig::NodeSettings;
use peapod_node::{Node, NodeConfig};
use peapod_runtime::{RootfsMount, RootfsProvider, RuncRuntime, RuntimeConfig, ShimCommand};
use peapod_server::{AppState, LogFile, NodeAccess, Pki};
use peapod_store::{Store, StoreOptions};

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address of the HTTPS API.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Persistent data: the object store, images, PKI, pod volumes and logs.
    #[arg(long, default_value = "/var/lib/peapod")]
    pub data_dir: PathBuf,
    /// Runtime state (runc state, sandboxes, container bundles); /run is fine.
    #[arg(long, default_value = "/run/peapod")]
    pub state_dir: PathBuf,
    /// Where to write the kubeconfig for peapod and kubectl.
    #[arg(long, default_value = "/etc/peapod/kubeconfig")]
    pub kubeconfig_out: PathBuf,
    /// Name of this node (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// cgroup under which pod cgroups are created.
    #[arg(long, default_value = "/peapod")]
    pub cgroup_root: String,
    /// The OCI runtime binary.
    #[arg(long, default_value = "runc")]
    pub runc: PathBuf,
    /// CNI configuration directory (a default conflist is written there when it is empty).
    #[arg(long, default_value = "/etc/peapod/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// CNI plugin directories.
    #[arg(long, default_value = "/usr/lib/cni,/opt/cni/bin", value_delimiter = ',')]
    pub cni_plugin_dir: Vec<PathBuf>,
    /// Bridge of the default pod network.
    #[arg(long, default_value = "peapod0")]
    pub bridge: String,
    /// Subnet of the default pod network.
    #[arg(long, default_value = "10.85.0.0/16")]
    pub pod_cidr: String,
    /// Run without a pod network: pods get loopback only.
    #[arg(long)]
    pub no_cni: bool,
    /// pids.max for each container (0 = no limit).
    #[arg(long, default_value_t = 4096)]
    pub pids_limit: i64,
    /// Log format: text or json.
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// Log filter (tracing env-filter syntax), e.g. info or peapod_node=debug.
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

pub fn main(a: ServeArgs) -> i32 {
    init_logging(&a);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(a)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn init_logging(a: &ServeArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&a.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if a.log_format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

/// The image store as the runtime's snapshotter.
struct ImageRootfs(ImageStore);

impl RootfsProvider for ImageRootfs {
    fn prepare(&self, image_id: &str, dir: &Path) -> Result<Vec<RootfsMount>, String> {
        let info =
            self.0.get(image_id).map_err(|e| e.to_string())?.ok_or_else(|| format!("image {image_id} not found"))?;
        let mounts = self.0.prepare_rootfs(&info, dir).map_err(|e| e.to_string())?;
        Ok(mounts.into_iter().map(|m| RootfsMount { fstype: m.fstype, source: m.source, options: m.options }).collect())
    }
    fn cleanup(&self, dir: &Path) -> Result<(), String> {
        self.0.cleanup_rootfs(dir).map_err(|e| e.to_string())
    }
}

/// The node agent as the API server sees it.
struct NodeAdapter(Node<RuncRuntime>);

impl NodeAccess for NodeAdapter {
    fn log_file(&self, pod_uid: &str, container_id: &str) -> Option<LogFile> {
        self.0.log_file(pod_uid, container_id).map(|(path, running)| LogFile { path, running })
    }
    fn images_in_use(&self) -> Vec<String> {
        self.0.images_in_use()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_else(|_| "localhost".into())
}

fn mkdir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))
}

async fn run(a: ServeArgs) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        anyhow::bail!("peapod serve must run as root (it creates namespaces, mounts and cgroups)");
    }
    for d in [&a.data_dir, &a.state_dir] {
        mkdir(d)?;
    }
    let node_name = a.node_name.clone().unwrap_or_else(hostname);
    let store =
        Store::open(&a.data_dir.join("store.db"), StoreOptions::default()).context("opening the object store")?;
    peapod_server::bootstrap(&store).context("creating the default namespaces")?;
    let images = ImageStore::open(&a.data_dir.join("images")).context("opening the image store")?;

    let network: Arc<dyn peapod_net::Network> = if a.no_cni {
        Arc::new(peapod_net::LoopbackOnly)
    } else {
        let cni_dir = a.data_dir.join("cni");
        let cfg = peapod_net::CniConfig {
            conf_dir: a.cni_conf_dir.clone(),
            plugin_dirs: a.cni_plugin_dir.clone(),
            cache_dir: cni_dir.join("cache"),
            default_network: peapod_net::DefaultNetwork {
                name: "peapod".into(),
                bridge: a.bridge.clone(),
                subnet: a.pod_cidr.clone(),
                ipam_data_dir: cni_dir.join("ipam"),
            },
        };
        Arc::new(peapod_net::CniNetwork::new(cfg).context("setting up the CNI pod network")?)
    };
    let exe = std::env::current_exe().context("locating the peapod binary")?;
    let runtime = RuncRuntime::new(
        RuntimeConfig {
            state_dir: a.state_dir.clone(),
            runc: a.runc.clone(),
            shim: ShimCommand { program: exe, args: vec!["__shim".into()] },
        },
        Arc::new(ImageRootfs(images.clone())),
        network.clone(),
    )
    .await
    .context("starting the container runtime")?;

    let host_ip = peapod_node::node_object::host_ip();
    let host_resolv =
        peapod_net::etc_files::parse_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    let host = peapod_node::node_object::HostFacts::detect("");
    let settings = NodeSettings {
        node_name: node_name.clone(),
        host_ip: host_ip.clone(),
        logs_root: a.data_dir.join("logs"),
        pods_root: a.data_dir.join("pods"),
        cgroup_root: a.cgroup_root.clone(),
        pids_limit: a.pids_limit,
        host_resolv,
        memory_capacity: (host.memory_kib * 1024) as i64,
        cpu_capacity_millis: (host.cpus * 1000) as i64,
        cluster_domain: "cluster.local".into(),
    };
    let runc_version = runc_version(&a.runc).await;
    let node = Node::new(
        NodeConfig { settings, resync: Duration::from_secs(10), max_pods: 110, runtime_version: runc_version },
        store.clone(),
        Arc::new(runtime.clone()),
        images.clone(),
        Arc::new(peapod_node::clock::SystemClock),
    );

    // Credentials and the kubeconfig.
    let server_host = a.listen.ip();
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string(), hostname()];
    if !server_host.is_unspecified() {
        sans.push(server_host.to_string());
    } else {
        sans.push(host_ip.clone());
    }
    let pki = Pki::ensure(&a.data_dir.join("pki"), &sans).context("preparing TLS credentials")?;
    let client_host = if server_host.is_unspecified() { "127.0.0.1".to_string() } else { server_host.to_string() };
    let server_url = format!("https://{client_host}:{}", a.listen.port());
    pki.write_kubeconfig(&a.kubeconfig_out, &server_url)
        .with_context(|| format!("writing the kubeconfig {}", a.kubeconfig_out.display()))?;

    let listener =
        tokio::net::TcpListener::bind(a.listen).await.with_context(|| format!("listening on {}", a.listen))?;
    let state = AppState {
        store: store.clone(),
        images,
        node: Arc::new(NodeAdapter(node.clone())),
        node_name: node_name.clone(),
        token: pki.token.clone(),
        server_address: format!("{client_host}:{}", a.listen.port()),
        tmp_dir: a.data_dir.join("tmp"),
    };
    tokio::spawn(peapod_server::namespaces::run(state.clone()));
    let events = runtime.subscribe();
    let n = node.clone();
    tokio::spawn(async move { n.run(events).await });
    tracing::info!(%server_url, node = %node_name, kubeconfig = %a.kubeconfig_out.display(), "peapod is serving");

    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down; pods keep running");
    };
    peapod_server::serve(listener, &pki, peapod_server::router(state), shutdown).await.context("serving the API")?;
    // The cgroup root is ours; leave it only while pods still use it.
    if peapod_runtime::cgroups::children(&a.cgroup_root).is_empty() {
        let _ = peapod_runtime::cgroups::remove(&a.cgroup_root);
    }
    Ok(())
}

async fn runc_version(runc: &Path) -> String {
    let out = tokio::process::Command::new(runc).arg("--version").output().await;
    let v = out
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(2)).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    format!("runc://{v}")
}
