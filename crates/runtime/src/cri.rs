//! CRI-shaped types and the `RuntimeService` seam.
//!
//! The node agent turns a Pod into a sandbox config plus container configs
//! and drives this trait, the same split as the kubelet and the CRI
//! (`k8s.io/cri-api`): a later CRI gRPC server is a thin adapter over it, and
//! tests of the node agent use an in-memory implementation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use crate::RuntimeError;

/// Identity of a pod sandbox, as the CRI's PodSandboxMetadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct PodSandboxMetadata {
    pub name: String,
    pub uid: String,
    pub namespace: String,
    pub attempt: u32,
}

/// DNS settings of the pod, already resolved from dnsPolicy/dnsConfig.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// A hostPort mapping (used by the network seam).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortMapping {
    pub protocol: String,
    pub container_port: u16,
    pub host_port: u16,
    pub host_ip: String,
}

/// An extra /etc/hosts entry (`hostAliases`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostAlias {
    pub ip: String,
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct PodSandboxConfig {
    pub metadata: PodSandboxMetadata,
    /// Hostname of the pod (UTS namespace), and of /etc/hostname.
    pub hostname: String,
    /// Domain for the FQDN line in /etc/hosts (`<hostname>.<subdomain>.<ns>.svc.<domain>`), if any.
    pub hostname_fqdn: Option<String>,
    pub log_directory: PathBuf,
    pub dns: DnsConfig,
    pub host_aliases: Vec<HostAlias>,
    pub port_mappings: Vec<PortMapping>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// cgroup path (relative to each hierarchy root) that holds the pod's containers.
    pub cgroup_parent: String,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    /// shareProcessNamespace: containers join the sandbox's PID namespace.
    pub share_pid: bool,
    pub sysctls: BTreeMap<String, String>,
    /// Limits of the pod-level cgroup (kubelet's ResourceConfigForPod); None fields are unlimited.
    #[serde(default)]
    pub pod_resources: LinuxResources,
    /// The runtime handler to run the sandbox with (CRI's
    /// `RunPodSandboxRequest.runtime_handler`, from the pod's RuntimeClass);
    /// empty for the default.
    #[serde(default)]
    pub runtime_handler: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum SandboxState {
    Ready,
    NotReady,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PodSandboxStatus {
    pub id: String,
    pub metadata: PodSandboxMetadata,
    pub state: SandboxState,
    pub created_at: jiff::Timestamp,
    /// Pod IPs (empty without a pod network).
    pub ips: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub host_network: bool,
    /// The pinned network namespace (None for hostNetwork): probes of a pod
    /// without a pod IP dial its loopback from inside it.
    #[serde(default)]
    pub netns_path: Option<PathBuf>,
    /// The runtime handler running the sandbox (CRI's `PodSandboxStatus.runtime_handler`).
    #[serde(default)]
    pub runtime_handler: String,
}

/// A bind mount of a host path (volume, /etc/hosts, ...) into the container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountSpec {
    pub container_path: String,
    pub host_path: PathBuf,
    pub readonly: bool,
    /// "private" (default), "rslave" (HostToContainer) or "rshared" (Bidirectional).
    pub propagation: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ContainerMetadata {
    pub name: String,
    pub attempt: u32,
}

/// Linux resources of one container, already converted to cgroup values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct LinuxResources {
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub memory_limit_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
    pub oom_score_adj: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct SecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    /// The image's `User` when the pod sets none ("name", "uid", "uid:gid", "name:group").
    pub image_user: Option<String>,
    pub supplemental_groups: Vec<u32>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub no_new_privs: bool,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    pub masked_paths_unmasked: bool,
    #[serde(default)]
    pub seccomp: SeccompProfile,
}

/// The seccomp filter of a container (`securityContext.seccompProfile`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum SeccompProfile {
    /// No filter (kubelet's default when the pod asks for none).
    #[default]
    Unconfined,
    /// The runtime's default profile (containerd's, see `seccomp.rs`).
    RuntimeDefault,
    /// An OCI seccomp JSON file on the node.
    Localhost(PathBuf),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ContainerConfig {
    pub metadata: ContainerMetadata,
    /// Image as the pod names it (for status), and the resolved image id.
    pub image: String,
    pub image_id: String,
    /// Final argv (command/args merged with the image and `$(VAR)`-expanded).
    pub args: Vec<String>,
    pub working_dir: String,
    pub envs: Vec<(String, String)>,
    pub mounts: Vec<MountSpec>,
    /// Absolute path of the CRI log file.
    pub log_path: PathBuf,
    pub stdin: bool,
    pub tty: bool,
    pub resources: LinuxResources,
    pub security: SecurityContext,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Signal to stop the container with (image STOPSIGNAL), default SIGTERM.
    pub stop_signal: Option<String>,
    /// Where the container writes its termination message (`terminationMessagePath`);
    /// empty: no file is mounted.
    #[serde(default)]
    pub termination_message_path: String,
    /// Join the PID namespace of this running container (its runtime id)
    /// instead of the pod's: an ephemeral container's `targetContainerName`,
    /// the CRI's `NamespaceMode::TARGET`.
    #[serde(default)]
    pub pid_target: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerStatus {
    pub id: String,
    pub sandbox_id: String,
    pub metadata: ContainerMetadata,
    pub state: ContainerState,
    pub created_at: jiff::Timestamp,
    pub started_at: Option<jiff::Timestamp>,
    pub finished_at: Option<jiff::Timestamp>,
    pub exit_code: Option<i32>,
    /// "OOMKilled", "Error", "Completed", "StartError", "ContainerStatusUnknown".
    pub reason: Option<String>,
    pub message: Option<String>,
    pub image: String,
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub log_path: PathBuf,
    pub pid: Option<i32>,
}

/// Output of a command run to completion in a container (probes, hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    pub timed_out: bool,
}

/// Something that happened to a container outside of a call (its process exited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub container_id: String,
    pub sandbox_id: String,
    pub pod_uid: String,
}

/// One pod's sandboxes and containers, as [`RuntimeService::list_pod`] finds them.
#[derive(Debug, Clone, Default)]
pub struct PodRuntimeState {
    pub sandboxes: Vec<PodSandboxStatus>,
    pub containers: Vec<ContainerStatus>,
}

/// The CRI RuntimeService, the seam between the node agent and the runtime.
pub trait RuntimeService: Send + Sync + 'static {
    fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> impl Future<Output = Result<String, RuntimeError>> + Send;
    /// `run_pod_sandbox` in two halves, so a pod's first containers can be
    /// created while its infra process starts and its network is attached
    /// (beyond CRI, which has one call). The first makes the sandbox with
    /// its namespaces pinned and returns its id (undoing itself on error);
    /// containers that do not share the pause's PID namespace can be
    /// created in it at once, but started only after `finish_pod_sandbox`
    /// succeeded. That one starts the infra process and attaches the
    /// network; on error the caller removes the sandbox.
    fn prepare_pod_sandbox(
        &self,
        config: &PodSandboxConfig,
    ) -> impl Future<Output = Result<String, RuntimeError>> + Send;
    fn finish_pod_sandbox(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Stop every container of the sandbox and the infra process; tear down its network.
    fn stop_pod_sandbox(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Remove what stop left (state, files, cgroups). Idempotent: a missing sandbox is Ok.
    fn remove_pod_sandbox(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    fn pod_sandbox_status(&self, id: &str) -> impl Future<Output = Result<PodSandboxStatus, RuntimeError>> + Send;
    fn list_pod_sandboxes(&self) -> impl Future<Output = Result<Vec<PodSandboxStatus>, RuntimeError>> + Send;
    fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &PodSandboxConfig,
    ) -> impl Future<Output = Result<String, RuntimeError>> + Send;
    fn start_container(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Send the stop signal, wait up to `timeout_secs`, then SIGKILL.
    fn stop_container(&self, id: &str, timeout_secs: i64) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    fn list_containers(&self) -> impl Future<Output = Result<Vec<ContainerStatus>, RuntimeError>> + Send;
    /// The sandboxes and containers of one pod (CRI's list calls filtered by
    /// the `io.kubernetes.pod.uid` label): what a pod worker observes on
    /// every sync, without the cost of every other pod's records.
    fn list_pod(&self, uid: &str) -> impl Future<Output = Result<PodRuntimeState, RuntimeError>> + Send;
    fn container_status(&self, id: &str) -> impl Future<Output = Result<ContainerStatus, RuntimeError>> + Send;
    fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: std::time::Duration,
    ) -> impl Future<Output = Result<ExecResult, RuntimeError>> + Send;
}
