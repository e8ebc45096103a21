//! Pure generation of OCI runtime specs for the pod infra container and for
//! app containers, following containerd's CRI defaults (mounts, masked paths,
//! capabilities) and this host's limits (node-env.md): no rlimits (containers
//! inherit the daemon's, which runc can always set), `oomScoreAdj` never below
//! the daemon's own, and `hostname` only on the infra container (a joining
//! container that sets it would rename the whole pod: runc 1.1 quirk).

use std::collections::BTreeMap;
use std::path::Path;

use crate::cri::{ContainerConfig, PodSandboxConfig, SeccompProfile};
use crate::oci::*;

/// containerd's default capability set for containers.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Capability names by bit number (linux/capability.h).
pub const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Facts about the host the daemon runs on, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLimits {
    /// The daemon's own oom_score_adj: lower values are denied without
    /// CAP_SYS_RESOURCE, so requested values are clamped up to it.
    pub oom_score_adj_floor: i32,
    /// Capabilities in the daemon's bounding set ("CAP_X"); nothing outside
    /// it can be granted to a container.
    pub bounding_caps: Vec<String>,
}

impl HostLimits {
    pub fn detect() -> HostLimits {
        let floor =
            std::fs::read_to_string("/proc/self/oom_score_adj").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        let bnd = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("CapBnd:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX);
        HostLimits { oom_score_adj_floor: floor, bounding_caps: caps_from_mask(bnd) }
    }
}

pub fn caps_from_mask(mask: u64) -> Vec<String> {
    CAP_NAMES.iter().enumerate().filter(|(i, _)| mask & (1u64 << i) != 0).map(|(_, n)| format!("CAP_{n}")).collect()
}

/// `oom_score_adj` as requested, but never below what this host allows.
pub fn clamp_oom(requested: i32, floor: i32) -> i32 {
    requested.clamp(floor, 1000)
}

fn default_mounts(shm: Option<&Path>, privileged: bool) -> Vec<Mount> {
    let m = |dest: &str, kind: &str, src: &str, opts: &[&str]| Mount {
        destination: dest.into(),
        kind: Some(kind.into()),
        source: Some(src.into()),
        options: opts.iter().map(|s| s.to_string()).collect(),
    };
    let sys_opts: &[&str] =
        if privileged { &["nosuid", "noexec", "nodev"] } else { &["nosuid", "noexec", "nodev", "ro"] };
    let mut v = vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        m("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        m("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        m("/sys", "sysfs", "sysfs", sys_opts),
        m("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ];
    match shm {
        // The pod's shared /dev/shm (one tmpfs per sandbox, like containerd).
        Some(p) => v.push(Mount {
            destination: "/dev/shm".into(),
            kind: Some("bind".into()),
            source: Some(p.to_string_lossy().into_owned()),
            options: vec!["rbind".into(), "rprivate".into(), "rw".into()],
        }),
        None => v.push(m("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"])),
    }
    v
}

fn bind(dest: &str, src: &Path, readonly: bool, propagation: &str) -> Mount {
    let mut options =
        vec!["rbind".to_string(), if propagation.is_empty() { "rprivate".into() } else { propagation.into() }];
    options.push(if readonly { "ro".into() } else { "rw".into() });
    Mount {
        destination: dest.into(),
        kind: Some("bind".into()),
        source: Some(src.to_string_lossy().into_owned()),
        options,
    }
}

/// Inputs for the infra (pause) container's spec.
pub struct SandboxSpecInput<'a> {
    pub config: &'a PodSandboxConfig,
    pub pause_rootfs: &'a Path,
    /// The pinned network namespace; None for hostNetwork.
    pub netns: Option<&'a Path>,
    /// The pinned IPC and UTS namespaces (see sandbox.rs), which the pause
    /// joins like every container; a new one of each when None (sandboxes
    /// of older versions).
    pub ipc_ns: Option<&'a Path>,
    pub uts_ns: Option<&'a Path>,
    pub cgroups_path: String,
    pub limits: &'a HostLimits,
}

/// Join the namespace pinned at `pin`, or make a new one.
fn new_or_join(kind: &str, pin: Option<&Path>) -> Namespace {
    match pin {
        Some(p) => Namespace::join(kind, p.to_string_lossy()),
        None => Namespace::new(kind),
    }
}

pub fn sandbox_spec(i: &SandboxSpecInput<'_>) -> Spec {
    let c = i.config;
    let mut namespaces = vec![Namespace::new("mount")];
    if !c.host_pid {
        namespaces.push(Namespace::new("pid"));
    }
    if !c.host_ipc {
        namespaces.push(new_or_join("ipc", i.ipc_ns));
    }
    if !c.host_network {
        namespaces.push(new_or_join("uts", i.uts_ns));
    }
    if let Some(ns) = i.netns {
        namespaces.push(Namespace::join("network", ns.to_string_lossy()));
    }
    let mut mounts = default_mounts(None, false);
    mounts.retain(|m| m.destination != "/sys/fs/cgroup");
    Spec {
        oci_version: "1.0.2-dev".into(),
        process: Process {
            terminal: false,
            user: User::default(),
            args: vec!["/pause".into()],
            env: vec!["PATH=/".into()],
            cwd: "/".into(),
            capabilities: Some(Capabilities::default()),
            rlimits: vec![],
            no_new_privileges: true,
            // kubelet asks -998 for the pause; this host only allows >= floor.
            oom_score_adj: Some(clamp_oom(-998, i.limits.oom_score_adj_floor)),
        },
        root: Root { path: i.pause_rootfs.to_string_lossy().into_owned(), readonly: true },
        hostname: (!c.host_network).then(|| c.hostname.clone()),
        mounts,
        linux: Linux {
            namespaces,
            resources: Some(Resources {
                devices: vec![DeviceCgroup { allow: false, access: "rwm".into() }],
                ..Default::default()
            }),
            cgroups_path: Some(i.cgroups_path.clone()),
            masked_paths: MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            readonly_paths: READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
            sysctl: c.sysctls.clone(),
            ..Default::default()
        },
        annotations: BTreeMap::from([
            ("io.kubernetes.cri.container-type".into(), "sandbox".into()),
            ("io.kubernetes.cri.sandbox-name".into(), c.metadata.name.clone()),
            ("io.kubernetes.cri.sandbox-namespace".into(), c.metadata.namespace.clone()),
            ("io.kubernetes.cri.sandbox-uid".into(), c.metadata.uid.clone()),
        ]),
    }
}

/// The /etc files the pod shares, as host paths.
pub struct EtcFiles<'a> {
    pub hostname: &'a Path,
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
}

/// Inputs for an app container's spec.
pub struct ContainerSpecInput<'a> {
    pub config: &'a ContainerConfig,
    pub sandbox: &'a PodSandboxConfig,
    pub rootfs: &'a Path,
    pub netns: Option<&'a Path>,
    /// The sandbox's pinned IPC and UTS namespaces; without them the
    /// pause's (`/proc/<pause_pid>/ns/…`, sandboxes of older versions).
    pub ipc_ns: Option<&'a Path>,
    pub uts_ns: Option<&'a Path>,
    /// The pause process: its PID namespace for `share_pid`, and the IPC
    /// and UTS namespaces of a sandbox without pins. None while a prepared
    /// sandbox's pause is still starting (then neither is needed).
    pub pause_pid: Option<i32>,
    /// The main process of the container whose PID namespace this one
    /// joins ([`ContainerConfig::pid_target`]).
    pub target_pid: Option<i32>,
    pub shm: Option<&'a Path>,
    pub etc: EtcFiles<'a>,
    /// Host file bound at the config's `termination_message_path`.
    pub termination_log: Option<&'a Path>,
    pub user: User,
    pub cgroups_path: String,
    pub limits: &'a HostLimits,
    /// The host's device nodes (given to privileged containers).
    pub host_devices: &'a [Device],
    /// The loaded profile of a `Localhost` seccomp profile.
    pub seccomp_localhost: Option<&'a serde_json::Value>,
}

pub fn container_spec(i: &ContainerSpecInput<'_>) -> Spec {
    let c = i.config;
    let s = i.sandbox;
    let sec = &c.security;
    let ns_path = |kind: &str| format!("/proc/{}/ns/{kind}", i.pause_pid.unwrap_or(0));
    let pinned = |kind: &str, pin: Option<&Path>| pin.map_or_else(|| ns_path(kind), |p| p.display().to_string());

    let mut namespaces = vec![Namespace::new("mount")];
    if !s.host_pid {
        if let Some(pid) = i.target_pid {
            // An ephemeral container sees the processes of its target.
            namespaces.push(Namespace::join("pid", format!("/proc/{pid}/ns/pid")));
        } else if s.share_pid {
            namespaces.push(Namespace::join("pid", ns_path("pid")));
        } else {
            namespaces.push(Namespace::new("pid"));
        }
    }
    if let Some(ns) = i.netns {
        namespaces.push(Namespace::join("network", ns.to_string_lossy()));
    }
    if !s.host_ipc {
        namespaces.push(Namespace::join("ipc", pinned("ipc", i.ipc_ns)));
    }
    if !s.host_network {
        namespaces.push(Namespace::join("uts", pinned("uts", i.uts_ns)));
    }

    let mut mounts = default_mounts(if s.host_ipc { None } else { i.shm }, sec.privileged);
    // Files of the pod; writable like containerd's unless the rootfs is read-only.
    let ro = sec.readonly_rootfs;
    mounts.push(bind("/etc/hostname", i.etc.hostname, ro, ""));
    mounts.push(bind("/etc/hosts", i.etc.hosts, ro, ""));
    mounts.push(bind("/etc/resolv.conf", i.etc.resolv_conf, ro, ""));
    // Volumes: parents before children, whatever order the pod lists them in.
    let mut user_mounts: Vec<&crate::cri::MountSpec> = c.mounts.iter().collect();
    user_mounts.sort_by_key(|m| Path::new(&m.container_path).components().count());
    let overridden: Vec<&str> = user_mounts.iter().map(|m| m.container_path.as_str()).collect();
    mounts.retain(|m| !overridden.contains(&m.destination.as_str()));
    for m in user_mounts {
        mounts.push(bind(&m.container_path, &m.host_path, m.readonly, &m.propagation));
    }
    // Last, like kubelet's makeMounts: the path may lie inside a volume.
    if let Some(t) = i.termination_log.filter(|_| !c.termination_message_path.is_empty()) {
        mounts.push(bind(&c.termination_message_path, t, false, ""));
    }

    let caps = capabilities(sec, i.limits);
    let env: Vec<String> = c.envs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut resources =
        Resources { devices: vec![DeviceCgroup { allow: sec.privileged, access: "rwm".into() }], ..Default::default() };
    let r = &c.resources;
    if r.memory_limit_bytes.is_some() {
        // No swap: memsw limit equal to the memory limit where the kernel has it.
        resources.memory = Some(Memory { limit: r.memory_limit_bytes, swap: None });
    }
    if r.cpu_shares.is_some() || r.cpu_quota.is_some() {
        resources.cpu = Some(Cpu { shares: r.cpu_shares, quota: r.cpu_quota, period: r.cpu_period });
    }
    if let Some(l) = r.pids_limit {
        resources.pids = Some(Pids { limit: l });
    }
    // containerd: privileged containers run unconfined; otherwise the profile asked for.
    let seccomp = match (&sec.seccomp, sec.privileged) {
        (_, true) | (SeccompProfile::Unconfined, _) => None,
        (SeccompProfile::RuntimeDefault, false) => Some(crate::seccomp::default_profile(&caps.bounding)),
        (SeccompProfile::Localhost(_), false) => i.seccomp_localhost.cloned(),
    };

    Spec {
        oci_version: "1.0.2-dev".into(),
        process: Process {
            terminal: c.tty,
            user: i.user.clone(),
            args: c.args.clone(),
            env,
            cwd: if c.working_dir.is_empty() { "/".into() } else { c.working_dir.clone() },
            capabilities: Some(caps),
            rlimits: vec![],
            no_new_privileges: sec.no_new_privs && !sec.privileged,
            oom_score_adj: Some(clamp_oom(r.oom_score_adj.unwrap_or(0), i.limits.oom_score_adj_floor)),
        },
        root: Root { path: i.rootfs.to_string_lossy().into_owned(), readonly: sec.readonly_rootfs },
        // Never set: the UTS namespace is the pod's (see module doc).
        hostname: None,
        mounts,
        linux: Linux {
            namespaces,
            resources: Some(resources),
            cgroups_path: Some(i.cgroups_path.clone()),
            masked_paths: if sec.privileged || sec.masked_paths_unmasked {
                vec![]
            } else {
                MASKED_PATHS.iter().map(|s| s.to_string()).collect()
            },
            readonly_paths: if sec.privileged || sec.masked_paths_unmasked {
                vec![]
            } else {
                READONLY_PATHS.iter().map(|s| s.to_string()).collect()
            },
            seccomp,
            devices: if sec.privileged { i.host_devices.to_vec() } else { vec![] },
            ..Default::default()
        },
        annotations: BTreeMap::from([
            ("io.kubernetes.cri.container-type".into(), "container".into()),
            ("io.kubernetes.cri.container-name".into(), c.metadata.name.clone()),
            ("io.kubernetes.cri.sandbox-uid".into(), s.metadata.uid.clone()),
        ]),
    }
}

fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") { up } else { format!("CAP_{up}") }
}

/// containerd's rules: privileged → everything the host allows; otherwise
/// the default set, minus `drop` (ALL drops everything), plus `add`
/// (ALL adds everything); always within the daemon's bounding set.
pub fn capabilities(sec: &crate::cri::SecurityContext, limits: &HostLimits) -> Capabilities {
    let all: Vec<String> = limits.bounding_caps.clone();
    let mut set: Vec<String> = if sec.privileged {
        all.clone()
    } else {
        let drop: Vec<String> = sec.capabilities_drop.iter().map(|c| normalize_cap(c)).collect();
        let add: Vec<String> = sec.capabilities_add.iter().map(|c| normalize_cap(c)).collect();
        let mut s: Vec<String> = if drop.iter().any(|d| d == "CAP_ALL") {
            vec![]
        } else {
            DEFAULT_CAPS.iter().map(|s| s.to_string()).filter(|c| !drop.contains(c)).collect()
        };
        if add.iter().any(|a| a == "CAP_ALL") {
            s = all.clone();
        } else {
            for a in add {
                if !s.contains(&a) {
                    s.push(a);
                }
            }
        }
        s
    };
    set.retain(|c| all.contains(c));
    Capabilities { bounding: set.clone(), effective: set.clone(), permitted: set, inheritable: vec![], ambient: vec![] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::*;

    fn limits() -> HostLimits {
        // This host: everything but CAP_SYS_RESOURCE (bit 24), floor 0.
        HostLimits { oom_score_adj_floor: 0, bounding_caps: caps_from_mask(0x1fffeffffff) }
    }

    fn sandbox() -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: PodSandboxMetadata {
                name: "web".into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 0,
            },
            hostname: "web".into(),
            ..Default::default()
        }
    }

    #[test]
    fn host_limits_caps_exclude_sys_resource() {
        let l = limits();
        assert!(!l.bounding_caps.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert!(l.bounding_caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(clamp_oom(-998, 0), 0);
        assert_eq!(clamp_oom(1000, 0), 1000);
        assert_eq!(clamp_oom(5000, -1000), 1000);
    }

    #[test]
    fn pause_spec_owns_namespaces_and_hostname() {
        let cfg = sandbox();
        let l = limits();
        let s = sandbox_spec(&SandboxSpecInput {
            config: &cfg,
            pause_rootfs: Path::new("/p"),
            netns: Some(Path::new("/run/peapod/netns/x")),
            ipc_ns: None,
            uts_ns: None,
            cgroups_path: "/peapod/podu1/x".into(),
            limits: &l,
        });
        // With pinned IPC and UTS namespaces the pause joins them.
        let pinned = sandbox_spec(&SandboxSpecInput {
            config: &cfg,
            pause_rootfs: Path::new("/p"),
            netns: Some(Path::new("/run/peapod/netns/x")),
            ipc_ns: Some(Path::new("/s/ipcns")),
            uts_ns: Some(Path::new("/s/utsns")),
            cgroups_path: "/peapod/podu1/x".into(),
            limits: &l,
        });
        let kinds: Vec<(&str, Option<&str>)> =
            pinned.linux.namespaces.iter().map(|n| (n.kind.as_str(), n.path.as_deref())).collect();
        assert_eq!(&kinds[2..4], [("ipc", Some("/s/ipcns")), ("uts", Some("/s/utsns"))]);
        assert_eq!(pinned.hostname.as_deref(), Some("web"));
        assert_eq!(s.hostname.as_deref(), Some("web"));
        let kinds: Vec<(&str, Option<&str>)> =
            s.linux.namespaces.iter().map(|n| (n.kind.as_str(), n.path.as_deref())).collect();
        assert_eq!(
            kinds,
            vec![
                ("mount", None),
                ("pid", None),
                ("ipc", None),
                ("uts", None),
                ("network", Some("/run/peapod/netns/x"))
            ]
        );
        assert_eq!(s.process.oom_score_adj, Some(0));
        assert!(s.process.rlimits.is_empty());
        assert!(s.root.readonly);
    }

    #[test]
    fn app_spec_joins_pod_namespaces_and_never_sets_hostname() {
        let sb = PodSandboxConfig { share_pid: true, ..sandbox() };
        let cfg = ContainerConfig {
            metadata: ContainerMetadata { name: "app".into(), attempt: 0 },
            args: vec!["sh".into()],
            envs: vec![("A".into(), "1".into())],
            mounts: vec![
                MountSpec {
                    container_path: "/data/sub".into(),
                    host_path: "/v/b".into(),
                    readonly: true,
                    propagation: String::new(),
                },
                MountSpec {
                    container_path: "/data".into(),
                    host_path: "/v/a".into(),
                    readonly: false,
                    propagation: String::new(),
                },
            ],
            resources: LinuxResources {
                memory_limit_bytes: Some(1 << 20),
                oom_score_adj: Some(-997),
                ..Default::default()
            },
            ..Default::default()
        };
        let l = limits();
        let input = ContainerSpecInput {
            config: &cfg,
            sandbox: &sb,
            rootfs: Path::new("/c/rootfs"),
            netns: Some(Path::new("/n")),
            ipc_ns: None,
            uts_ns: None,
            pause_pid: Some(42),
            target_pid: None,
            shm: Some(Path::new("/s/shm")),
            etc: EtcFiles {
                hostname: Path::new("/s/hostname"),
                hosts: Path::new("/s/hosts"),
                resolv_conf: Path::new("/s/resolv.conf"),
            },
            termination_log: None,
            user: User::default(),
            cgroups_path: "/peapod/podu1/c".into(),
            limits: &l,
            host_devices: &[],
            seccomp_localhost: None,
        };
        let s = container_spec(&input);
        assert_eq!(s.hostname, None);
        let ns: Vec<(&str, Option<&str>)> =
            s.linux.namespaces.iter().map(|n| (n.kind.as_str(), n.path.as_deref())).collect();
        assert_eq!(
            ns,
            vec![
                ("mount", None),
                ("pid", Some("/proc/42/ns/pid")),
                ("network", Some("/n")),
                ("ipc", Some("/proc/42/ns/ipc")),
                ("uts", Some("/proc/42/ns/uts"))
            ]
        );
        // A sandbox with pinned IPC and UTS namespaces: those, even before
        // its pause runs.
        let own_pid = PodSandboxConfig { share_pid: false, ..sb.clone() };
        let pinned = container_spec(&ContainerSpecInput {
            sandbox: &own_pid,
            ipc_ns: Some(Path::new("/s/ipcns")),
            uts_ns: Some(Path::new("/s/utsns")),
            pause_pid: None,
            ..input
        });
        let ns: Vec<(&str, Option<&str>)> =
            pinned.linux.namespaces.iter().map(|n| (n.kind.as_str(), n.path.as_deref())).collect();
        assert_eq!(
            ns,
            vec![
                ("mount", None),
                ("pid", None),
                ("network", Some("/n")),
                ("ipc", Some("/s/ipcns")),
                ("uts", Some("/s/utsns"))
            ]
        );
        let dests: Vec<&str> = s.mounts.iter().map(|m| m.destination.as_str()).collect();
        let data = dests.iter().position(|d| *d == "/data").unwrap();
        let sub = dests.iter().position(|d| *d == "/data/sub").unwrap();
        assert!(data < sub, "parent volume must be mounted before its child: {dests:?}");
        assert!(dests.contains(&"/etc/hosts"));
        assert_eq!(s.process.oom_score_adj, Some(0), "negative oom_score_adj clamped to the floor");
        assert_eq!(s.linux.resources.as_ref().unwrap().memory.as_ref().unwrap().limit, Some(1 << 20));
        assert_eq!(s.process.env, vec!["A=1"]);
    }

    fn spec_for(cfg: &ContainerConfig, devices: &[Device]) -> Spec {
        spec_with_target(cfg, devices, None, &sandbox())
    }

    fn spec_with_target(
        cfg: &ContainerConfig,
        devices: &[Device],
        target_pid: Option<i32>,
        sandbox: &PodSandboxConfig,
    ) -> Spec {
        let l = limits();
        container_spec(&ContainerSpecInput {
            config: cfg,
            sandbox,
            rootfs: Path::new("/c/rootfs"),
            netns: None,
            ipc_ns: None,
            uts_ns: None,
            pause_pid: Some(42),
            target_pid,
            shm: None,
            etc: EtcFiles {
                hostname: Path::new("/s/hostname"),
                hosts: Path::new("/s/hosts"),
                resolv_conf: Path::new("/s/resolv.conf"),
            },
            termination_log: Some(Path::new("/c/termination-log")),
            user: User::default(),
            cgroups_path: "/peapod/podu1/c".into(),
            limits: &l,
            host_devices: devices,
            seccomp_localhost: None,
        })
    }

    #[test]
    fn pid_namespace_of_a_target_container() {
        let pid_ns =
            |s: &Spec| s.linux.namespaces.iter().find(|n| n.kind == "pid").map(|n| n.path.clone().unwrap_or_default());
        let cfg = ContainerConfig::default();
        // Its own, the pod's (shareProcessNamespace), or the target's, which wins.
        assert_eq!(pid_ns(&spec_with_target(&cfg, &[], None, &sandbox())), Some(String::new()));
        let shared = PodSandboxConfig { share_pid: true, ..sandbox() };
        assert_eq!(pid_ns(&spec_with_target(&cfg, &[], None, &shared)), Some("/proc/42/ns/pid".into()));
        assert_eq!(pid_ns(&spec_with_target(&cfg, &[], Some(7), &shared)), Some("/proc/7/ns/pid".into()));
        assert_eq!(pid_ns(&spec_with_target(&cfg, &[], Some(7), &sandbox())), Some("/proc/7/ns/pid".into()));
        // hostPID: the host's, whatever the target.
        let host = PodSandboxConfig { host_pid: true, ..sandbox() };
        assert_eq!(pid_ns(&spec_with_target(&cfg, &[], Some(7), &host)), None);
    }

    #[test]
    fn seccomp_devices_and_termination_log() {
        let null = Device {
            kind: "c".into(),
            path: "/dev/null".into(),
            major: 1,
            minor: 3,
            file_mode: Some(0o666),
            uid: Some(0),
            gid: Some(0),
        };
        let mut cfg = ContainerConfig {
            args: vec!["sh".into()],
            termination_message_path: "/tmp/msg".into(),
            mounts: vec![MountSpec {
                container_path: "/tmp".into(),
                host_path: "/v/tmp".into(),
                readonly: false,
                propagation: String::new(),
            }],
            ..Default::default()
        };
        // Unconfined by default (kubelet's default), no host devices.
        let s = spec_for(&cfg, std::slice::from_ref(&null));
        assert!(s.linux.seccomp.is_none());
        assert!(s.linux.devices.is_empty());
        let dests: Vec<&str> = s.mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(dests.last(), Some(&"/tmp/msg"), "termination file bound after the volume holding it: {dests:?}");
        assert!(!dests.contains(&"/dev/termination-log"));

        cfg.security.seccomp = SeccompProfile::RuntimeDefault;
        let s = spec_for(&cfg, std::slice::from_ref(&null));
        let sc = s.linux.seccomp.as_ref().expect("profile");
        assert_eq!(sc["defaultAction"], "SCMP_ACT_ERRNO");
        let json = serde_json::to_string(sc).unwrap();
        assert!(!json.contains("\"unshare\""), "unshare needs CAP_SYS_ADMIN, which the default set lacks");

        // Privileged: no filter, every host device, devices cgroup open.
        cfg.security.privileged = true;
        let s = spec_for(&cfg, std::slice::from_ref(&null));
        assert!(s.linux.seccomp.is_none());
        assert_eq!(s.linux.devices, vec![null]);
        assert!(s.linux.resources.as_ref().unwrap().devices[0].allow);
        assert!(s.linux.masked_paths.is_empty());
        let ser = serde_json::to_value(&s.linux).unwrap();
        assert_eq!(ser["devices"][0]["type"], "c");
        assert_eq!(ser["devices"][0]["fileMode"], 0o666);
    }

    #[test]
    fn capability_rules() {
        let l = limits();
        let sc = |add: &[&str], drop: &[&str], privileged: bool| SecurityContext {
            capabilities_add: add.iter().map(|s| s.to_string()).collect(),
            capabilities_drop: drop.iter().map(|s| s.to_string()).collect(),
            privileged,
            ..Default::default()
        };
        let c = capabilities(&sc(&[], &[], false), &l);
        assert_eq!(c.bounding.len(), DEFAULT_CAPS.len());
        let c = capabilities(&sc(&["NET_ADMIN"], &["ALL"], false), &l);
        assert_eq!(c.effective, vec!["CAP_NET_ADMIN"]);
        let c = capabilities(&sc(&[], &["NET_RAW", "cap_kill"], false), &l);
        assert!(!c.bounding.contains(&"CAP_NET_RAW".into()) && !c.bounding.contains(&"CAP_KILL".into()));
        let c = capabilities(&sc(&["SYS_RESOURCE"], &[], false), &l);
        assert!(!c.bounding.contains(&"CAP_SYS_RESOURCE".into()), "not grantable on this host");
        let c = capabilities(&sc(&[], &[], true), &l);
        assert_eq!(c.bounding, l.bounding_caps);
    }
}
