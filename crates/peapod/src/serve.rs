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
use peapod_runtime::shim::LogRotation;
use peapod_runtime::{
    ExecSession, ExecSpec, RootfsMount, RootfsProvider, RuncRuntime, RuntimeConfig, RuntimeError, RuntimeService,
    SandboxState, ShimCommand,
};
use peapod_server::{
    AppState, AttachIo, ExecRequest, LogFile, NodeAccess, NodeFuture, Pki, ProcessIo, StreamError, TerminalSize,
};
use peapod_store::{Store, StoreOptions};

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Configuration file (YAML; keys are these flags in camelCase). Flags win over it.
    #[arg(long, default_value = "/etc/peapod/config.yaml")]
    pub config: PathBuf,
    /// Print the effective configuration (defaults, file, flags) as YAML and exit.
    #[arg(long)]
    pub print_config: bool,
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
    /// Extra labels of the Node object (repeatable): --node-label zone=a.
    #[arg(long, value_name = "KEY=VALUE")]
    pub node_label: Vec<String>,
    /// Unsafe sysctls pods may set besides the safe set (repeatable or comma-separated):
    /// names or prefixes ending in `*`, namespaced ones only, e.g. 'kernel.msg*,net.core.somaxconn'.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub allowed_unsafe_sysctls: Vec<String>,
    /// Most pods this node accepts (the Node's capacity).
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// On SIGTERM, stop every pod (SIGTERM, 5 s, SIGKILL) before exiting (default: leave them running, as kubelet does).
    #[arg(long)]
    pub stop_pods_on_exit: bool,
    /// cgroup under which pod cgroups are created.
    #[arg(long, default_value = "/peapod")]
    pub cgroup_root: String,
    /// The OCI runtime binary (the default runtime handler, `runc`).
    #[arg(long, default_value = "runc")]
    pub runc: PathBuf,
    /// Another runtime handler (repeatable): pods whose RuntimeClass has this `handler` run with
    /// this OCI runtime binary, like containerd's runtimes.<name>: --runtime-handler crun=/usr/bin/crun.
    #[arg(long, value_name = "NAME=PATH", value_parser = parse_runtime_handler)]
    pub runtime_handler: Vec<(String, PathBuf)>,
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
    /// Registries configuration for image pulls (containers-registries.conf TOML, or JSON
    /// for *.json): mirrors, insecure and blocked registries [default: /etc/peapod/registries.conf
    /// if it exists]. Loopback registries are plain HTTP unless configured otherwise.
    #[arg(long, value_name = "FILE")]
    pub registries_config: Option<PathBuf>,
    /// Directory of static pod manifests (kubelet's staticPodPath): each file's pods run
    /// without the API and show there as mirror pods; editing a file replaces its pods,
    /// removing it stops them. Files whose names start with a dot are ignored.
    #[arg(long, value_name = "DIR")]
    pub manifest_dir: Option<PathBuf>,
    /// Image GC starts above this disk use: a percentage of the image filesystem (85%)
    /// or a size of the image store (20Gi).
    #[arg(long, default_value = "85%")]
    pub image_gc_high_threshold: peapod_image::Threshold,
    /// Image GC deletes unused images (least recently used first) down to this.
    #[arg(long, default_value = "80%")]
    pub image_gc_low_threshold: peapod_image::Threshold,
    /// Image GC never deletes images first seen less than this long ago (90s, 2m, 1h).
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub image_gc_min_age: Duration,
    /// How often every pod is synced even if nothing happened (kubelet's syncFrequency).
    /// Container and pause exits, probe results and API changes sync a pod at once.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub sync_frequency: Duration,
    /// Rotate a container's log before it grows past this size (a quantity: 10Mi, 500Ki).
    #[arg(long, default_value = "10Mi", value_parser = parse_size)]
    pub container_log_max_size: u64,
    /// Most log files kept per container, the live one included (at least 2).
    #[arg(long, default_value_t = 5)]
    pub container_log_max_files: u32,
}

/// `90`, `90s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().map_err(|_| format!("invalid duration {s:?} (e.g. 90s, 2m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("invalid duration unit in {s:?} (s, m or h)")),
    };
    Ok(Duration::from_secs(secs))
}

/// A size in bytes written as a Kubernetes quantity (`10Mi`, `64Ki`, `1000000`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let q = peapod_api::quantity::Quantity::parse(s).map_err(|e| format!("invalid size {s:?}: {e}"))?;
    u64::try_from(q.as_bytes()).map_err(|_| format!("invalid size {s:?}: must not be negative"))
}

/// `NAME=PATH` of `--runtime-handler`, checked by [`check_runtime_handler`].
pub fn parse_runtime_handler(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected NAME=PATH"))?;
    check_runtime_handler(name, Path::new(path))?;
    Ok((name.to_owned(), PathBuf::from(path)))
}

/// A handler name is what a RuntimeClass's `handler` may be (a DNS-1123
/// label) other than `runc`, which is always `--runc`; the binary is a
/// name on PATH or a path.
pub fn check_runtime_handler(name: &str, binary: &Path) -> Result<(), String> {
    if name == peapod_runtime::DEFAULT_HANDLER {
        return Err(format!("{name:?} is the default handler: set its binary with --runc (runc: in the file)"));
    }
    if let Some(msg) = peapod_api::validation::names::is_dns1123_label(name).first() {
        return Err(format!("handler name {name:?}: {msg}"));
    }
    if binary.as_os_str().is_empty() {
        return Err(format!("handler {name:?}: the binary is empty"));
    }
    Ok(())
}

/// The registries configuration: the given file, else the default one if
/// it exists, else none.
fn registries_config(path: Option<&Path>) -> Result<peapod_image::RegistriesConfig> {
    let default = Path::new("/etc/peapod/registries.conf");
    match path {
        Some(p) => Ok(peapod_image::RegistriesConfig::load(p)?),
        None if default.exists() => Ok(peapod_image::RegistriesConfig::load(default)?),
        None => Ok(peapod_image::RegistriesConfig::default()),
    }
}

impl ServeArgs {
    /// The runtime handlers besides `runc`: name → OCI runtime binary (the
    /// last of a name given twice wins).
    pub fn runtime_handlers(&self) -> std::collections::BTreeMap<String, PathBuf> {
        self.runtime_handler.iter().cloned().collect()
    }

    /// `--node-label` values as (key, value) pairs.
    pub fn node_labels(&self) -> Vec<(String, String)> {
        self.node_label.iter().filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
    }
}

pub fn main(mut a: ServeArgs, matches: &clap::ArgMatches) -> i32 {
    // Before the async runtime starts its threads.
    crate::heap::limit_arenas();
    if let Err(e) = crate::config::apply_file(&mut a, matches) {
        eprintln!("error: {e}");
        return 1;
    }
    if let Some(bad) = a.node_label.iter().find(|kv| !kv.contains('=')) {
        eprintln!("error: --node-label {bad:?}: expected KEY=VALUE");
        return 1;
    }
    if a.sync_frequency.is_zero() {
        eprintln!("error: --sync-frequency must be more than 0s");
        return 1;
    }
    if let Err(e) = peapod_node::podconfig::check_unsafe_sysctl_patterns(&a.allowed_unsafe_sysctls) {
        eprintln!("error: {e}");
        return 1;
    }
    let rotation = LogRotation { max_size: a.container_log_max_size, max_files: a.container_log_max_files };
    if let Err(e) = rotation.validate() {
        eprintln!("error: invalid configuration: {e}");
        return 1;
    }
    if a.print_config {
        print!("{}", crate::config::FileConfig::from_args(&a).to_yaml());
        return 0;
    }
    init_logging(&a);
    crate::run_async(run(a))
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

/// The image store as the runtime's snapshotter. A container's writable
/// layer (overlay upper and work dirs) is kept on disk under the data dir,
/// `<data>/containers/<container id>`, not in its state dir (a tmpfs, see
/// state_dir.rs): what a container writes to its root file system is
/// ephemeral storage, as in Kubernetes, not memory charged to its cgroup.
struct ImageRootfs {
    images: ImageStore,
    layers: PathBuf,
}

impl ImageRootfs {
    fn layer_dir(&self, container_dir: &Path) -> Result<PathBuf, String> {
        let id = container_dir.file_name().ok_or_else(|| format!("no container id in {}", container_dir.display()))?;
        Ok(self.layers.join(id))
    }

    /// Remove a writable layer: its upper and work dirs, then its dir.
    fn remove_layer(&self, layer: &Path) -> Result<(), String> {
        self.images.cleanup_rootfs(layer).map_err(|e| e.to_string())?;
        match std::fs::remove_dir(layer) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("removing {}: {e}", layer.display())),
            _ => Ok(()),
        }
    }

    /// Remove the writable layers of containers the runtime no longer has
    /// (the state dir's tmpfs is gone after a reboot, their records with it).
    fn sweep(&self, live: &std::collections::HashSet<String>) {
        for e in std::fs::read_dir(&self.layers).into_iter().flatten().flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if live.contains(&id) {
                continue;
            }
            match self.remove_layer(&e.path()) {
                Ok(()) => tracing::info!(container = %id, "removed the writable layer of a container that is gone"),
                Err(err) => tracing::warn!(error = %err, "removing a stale writable layer"),
            }
        }
    }
}

impl RootfsProvider for ImageRootfs {
    fn prepare(&self, image_id: &str, dir: &Path) -> Result<Vec<RootfsMount>, String> {
        let info = self
            .images
            .get(image_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("image {image_id} not found"))?;
        let mounts = self.images.prepare_rootfs(&info, &self.layer_dir(dir)?).map_err(|e| e.to_string())?;
        Ok(mounts.into_iter().map(|m| RootfsMount { fstype: m.fstype, source: m.source, options: m.options }).collect())
    }
    fn cleanup(&self, dir: &Path) -> Result<(), String> {
        self.remove_layer(&self.layer_dir(dir)?)
    }
}

/// The node agent (and its runtime, for streams) as the API server sees it.
struct NodeAdapter(Node<RuncRuntime>, RuncRuntime);

impl NodeAdapter {
    /// The sandbox of a running container, checked to belong to pod `pod_uid`.
    async fn sandbox_of(&self, pod_uid: &str, container_id: &str) -> Result<String, StreamError> {
        let gone = || StreamError::NotFound(format!("container not found ({container_id:?})"));
        let c = self.1.container_status(container_id).await.map_err(|_| gone())?;
        let sb = self.1.pod_sandbox_status(&c.sandbox_id).await.map_err(|_| gone())?;
        if sb.metadata.uid != pod_uid {
            return Err(gone());
        }
        Ok(c.sandbox_id)
    }
}

fn stream_error(e: RuntimeError) -> StreamError {
    match e {
        RuntimeError::ContainerNotFound(_) | RuntimeError::SandboxNotFound(_) => StreamError::NotFound(e.to_string()),
        RuntimeError::ContainerNotRunning(_) | RuntimeError::SandboxNotReady(_) => {
            StreamError::BadRequest(e.to_string())
        }
        // Connection refused and the like: the kubelet's wording, with the cause.
        RuntimeError::Io { context, source } => StreamError::Internal(format!("{context}: {source}")),
        other => StreamError::Internal(other.to_string()),
    }
}

impl NodeAccess for NodeAdapter {
    fn log_file(&self, pod_uid: &str, container_id: &str) -> Option<LogFile> {
        self.0.log_file(pod_uid, container_id).map(|(path, running)| LogFile { path, running })
    }
    fn images_in_use(&self) -> Vec<String> {
        self.0.images_in_use()
    }
    fn metrics_text(&self) -> String {
        self.0.metrics_text()
    }
    fn exec(&self, req: ExecRequest) -> NodeFuture<'_, Result<ProcessIo, StreamError>> {
        Box::pin(async move {
            self.sandbox_of(&req.pod_uid, &req.container_id).await?;
            let spec = ExecSpec {
                command: req.command,
                stdin: req.stdin,
                stdout: req.stdout,
                stderr: req.stderr,
                tty: req.tty,
            };
            let ExecSession { stdin, stdout, stderr, terminal, mut process } =
                self.1.exec(&req.container_id, &spec).await.map_err(stream_error)?;
            Ok(ProcessIo {
                stdin,
                stdout,
                stderr,
                resize: terminal.map(|t| {
                    Box::new(move |s: TerminalSize| {
                        let _ = t.resize(s.width, s.height);
                    }) as Box<dyn Fn(TerminalSize) + Send + Sync>
                }),
                exit: Box::pin(async move { process.wait().await.map_err(stream_error) }),
            })
        })
    }
    fn attach<'a>(
        &'a self,
        pod_uid: &'a str,
        container_id: &'a str,
        stdin: bool,
    ) -> NodeFuture<'a, Result<AttachIo, StreamError>> {
        Box::pin(async move {
            self.sandbox_of(pod_uid, container_id).await?;
            let a = self.1.attach(container_id, stdin).map_err(stream_error)?;
            let (c1, c2) = (a.control.clone(), a.control);
            Ok(AttachIo {
                stdin: a.stdin,
                resize: a.tty.then(|| {
                    Box::new(move |s: TerminalSize| {
                        let _ = c1.resize(s.width, s.height);
                    }) as Box<dyn Fn(TerminalSize) + Send + Sync>
                }),
                close_stdin: Box::new(move || {
                    let _ = c2.close_stdin();
                }),
            })
        })
    }
    fn port_forward<'a>(
        &'a self,
        pod_uid: &'a str,
        port: u16,
    ) -> NodeFuture<'a, Result<tokio::net::TcpStream, StreamError>> {
        Box::pin(async move {
            let sandboxes = self.1.list_pod_sandboxes().await.map_err(stream_error)?;
            let sb = sandboxes
                .into_iter()
                .filter(|s| s.metadata.uid == pod_uid && s.state == SandboxState::Ready)
                .max_by_key(|s| s.created_at)
                .ok_or_else(|| StreamError::NotFound(format!("no running sandbox for pod {pod_uid}")))?;
            self.1.port_forward(&sb.id, port).await.map_err(stream_error)
        })
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
    // The same checks as `peapod doctor`; a fatal problem stops us here
    // rather than as a confusing failure at the first pod.
    let checks = crate::doctor::DoctorArgs {
        runc: a.runc.clone(),
        runtime_handler: a.runtime_handler.clone(),
        cni_plugin_dir: a.cni_plugin_dir.clone(),
        data_dir: a.data_dir.clone(),
        config_dir: a.kubeconfig_out.parent().map(Path::to_path_buf).unwrap_or_else(|| "/etc/peapod".into()),
        no_cni: a.no_cni,
    };
    if let Some(msg) = crate::doctor::fatal_problems(&checks) {
        anyhow::bail!(msg);
    }
    for d in [&a.data_dir, &a.state_dir] {
        mkdir(d)?;
    }
    let state_tmpfs = crate::state_dir::ensure(&a.state_dir)?;
    let node_name = a.node_name.clone().unwrap_or_else(hostname);
    let store =
        Store::open(&a.data_dir.join("store.db"), StoreOptions::default()).context("opening the object store")?;
    peapod_server::bootstrap(&store).context("creating the default namespaces")?;
    let image_options = peapod_image::StoreOptions {
        registries: registries_config(a.registries_config.as_deref())?,
        gc: peapod_image::GcPolicy {
            high: a.image_gc_high_threshold,
            low: a.image_gc_low_threshold,
            min_age: a.image_gc_min_age,
        },
        ..Default::default()
    };
    let images = ImageStore::open_with(&a.data_dir.join("images"), image_options).context("opening the image store")?;

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
        let net = peapod_net::CniNetwork::new(cfg).context("setting up the CNI pod network")?;
        net.resume().await.context("restoring the pod network's rules")?;
        Arc::new(net)
    };
    let exe = std::env::current_exe().context("locating the peapod binary")?;
    let rootfs = Arc::new(ImageRootfs { images: images.clone(), layers: a.data_dir.join("containers") });
    let runtime = RuncRuntime::new(
        RuntimeConfig {
            state_dir: a.state_dir.clone(),
            runc: a.runc.clone(),
            runtime_handlers: a.runtime_handlers(),
            shim: ShimCommand { program: exe, args: vec!["__shim".into()] },
            log_max_size: a.container_log_max_size,
            log_max_files: a.container_log_max_files,
        },
        rootfs.clone(),
        network.clone(),
    )
    .await
    .context("starting the container runtime")?;
    // Only with a list to go by: a layer under a running container must stay.
    if let Ok(list) = runtime.list_containers().await {
        rootfs.sweep(&list.into_iter().map(|c| c.id).collect());
    }

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
        allowed_unsafe_sysctls: a.allowed_unsafe_sysctls.clone(),
    };
    let runc_version = runc_version(&a.runc).await;
    let node = Node::new(
        NodeConfig {
            settings,
            resync: a.sync_frequency,
            max_pods: a.max_pods,
            runtime_version: runc_version,
            node_labels: a.node_labels(),
            manifest_dir: a.manifest_dir.clone(),
        },
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
        node: Arc::new(NodeAdapter(node.clone(), runtime.clone())),
        node_name: node_name.clone(),
        token: pki.token.clone(),
        server_address: format!("{client_host}:{}", a.listen.port()),
        tmp_dir: a.data_dir.join("tmp"),
        metrics: Default::default(),
    };
    tokio::spawn(peapod_server::namespaces::run(state.clone()));
    crate::heap::spawn_trimmer();
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
        tracing::info!("shutting down");
    };
    peapod_server::serve(listener, &pki, peapod_server::router(state), shutdown).await.context("serving the API")?;
    if a.stop_pods_on_exit {
        // The node agent first, or it would start what we stop.
        node.shutdown();
        stop_all_pods(&runtime).await;
    } else {
        tracing::info!("pods keep running; the next start picks them up");
    }
    // The network's own rules go with the last pod (kept for pods that run on).
    if let Err(e) = network.shutdown().await {
        tracing::warn!(error = %e, "removing the pod network's rules");
    }
    // The state dir's tmpfs goes when nothing in it is needed any more.
    if state_tmpfs
        && runtime.list_pod_sandboxes().await.is_ok_and(|s| s.is_empty())
        && runtime.list_containers().await.is_ok_and(|c| c.is_empty())
    {
        crate::state_dir::release(&a.state_dir);
    }
    // The cgroup root is ours; leave it only while pods still use it.
    if peapod_runtime::cgroups::children(&a.cgroup_root).is_empty() {
        let _ = peapod_runtime::cgroups::remove(&a.cgroup_root);
    }
    Ok(())
}

/// `--stop-pods-on-exit`: stop every container (SIGTERM, 5 s, SIGKILL, in
/// parallel) and remove every sandbox. The pod objects stay; the next start
/// runs them again in new sandboxes.
async fn stop_all_pods(runtime: &RuncRuntime) {
    use peapod_runtime::RuntimeService;
    let containers = runtime.list_containers().await.unwrap_or_default();
    let running = containers.iter().filter(|c| c.state == peapod_runtime::ContainerState::Running);
    futures_util::future::join_all(running.map(|c| runtime.stop_container(&c.id, 5))).await;
    for s in runtime.list_pod_sandboxes().await.unwrap_or_default() {
        if let Err(e) = runtime.remove_pod_sandbox(&s.id).await {
            tracing::warn!(sandbox = %s.id, error = %e, "removing a sandbox on exit");
        }
    }
    tracing::info!("stopped every pod");
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
