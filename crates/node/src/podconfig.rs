//! From a Pod to CRI configs: the sandbox config (hostname, DNS, ports,
//! cgroup parent and the pod-level limits, namespaces, sysctls) and each
//! container's config (argv from command/args and the image, env, working
//! dir, resources as cgroup values, security context with its seccomp
//! profile, the termination-message path, labels). Also kubelet's sysctl
//! admission: only the safe, namespaced sysctls are allowed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod, SeccompProfile as SeccompProfileSpec};
use peapod_api::quantity::{DEFAULT_CPU_PERIOD, Quantity, cpu_quota, cpu_shares};
use peapod_api::validation::sysctl_namespace;
use peapod_image::ImageInfo;
use peapod_net::etc_files::Resolv;
use peapod_runtime::*;

use crate::plan::SPEC_IMAGE_ANNOTATION;
use crate::status::Waiting;

/// Node-wide settings the configs depend on.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub node_name: String,
    pub host_ip: String,
    /// Root of per-pod log directories (kubelet's /var/log/pods).
    pub logs_root: PathBuf,
    /// Root of per-pod data (volumes): `<pods_root>/<uid>/volumes/...`.
    pub pods_root: PathBuf,
    /// cgroup under which every pod cgroup lives.
    pub cgroup_root: String,
    /// pids.max per container (0 = unlimited).
    pub pids_limit: i64,
    /// The host's resolver configuration (dnsPolicy Default, and ClusterFirst without cluster DNS).
    pub host_resolv: Resolv,
    /// Node memory capacity in bytes (for oom_score_adj of Burstable pods).
    pub memory_capacity: i64,
    pub cpu_capacity_millis: i64,
    pub cluster_domain: String,
    /// kubelet's `--allowed-unsafe-sysctls`: names, or prefixes ending in `*`
    /// (checked by [`check_unsafe_sysctl_patterns`]).
    pub allowed_unsafe_sysctls: Vec<String>,
}

pub fn pod_log_dir(ns: &NodeSettings, pod: &Pod) -> PathBuf {
    let m = &pod.metadata;
    ns.logs_root.join(format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or(""),
        m.name.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    ))
}

pub fn pod_dir(ns: &NodeSettings, uid: &str) -> PathBuf {
    ns.pods_root.join(uid)
}

pub fn pod_cgroup(ns: &NodeSettings, uid: &str) -> String {
    format!("{}/pod{}", ns.cgroup_root.trim_end_matches('/'), uid)
}

fn labels(pod: &Pod) -> BTreeMap<String, String> {
    let m = &pod.metadata;
    BTreeMap::from([
        ("io.kubernetes.pod.name".into(), m.name.clone().unwrap_or_default()),
        ("io.kubernetes.pod.namespace".into(), m.namespace.clone().unwrap_or_default()),
        ("io.kubernetes.pod.uid".into(), m.uid.clone().unwrap_or_default()),
    ])
}

/// kubelet's DNS configuration for the pod (no cluster DNS here: ClusterFirst
/// falls back to the host's resolvers, as kubelet does without --cluster-dns).
pub fn dns_config(pod: &Pod, host: &Resolv) -> DnsConfig {
    let spec = pod.spec.as_ref();
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let mut d = match policy {
        "None" => DnsConfig::default(),
        "ClusterFirst" if host_network => DnsConfig {
            servers: host.nameservers.clone(),
            searches: host.searches.clone(),
            options: host.options.clone(),
        },
        _ => DnsConfig {
            servers: host.nameservers.clone(),
            searches: host.searches.clone(),
            options: host.options.clone(),
        },
    };
    if let Some(c) = spec.and_then(|s| s.dns_config.as_ref()) {
        for n in c.nameservers.iter().flatten() {
            if !d.servers.contains(n) {
                d.servers.push(n.clone());
            }
        }
        for s in c.searches.iter().flatten() {
            if !d.searches.contains(s) {
                d.searches.push(s.clone());
            }
        }
        for o in c.options.iter().flatten() {
            let Some(name) = &o.name else { continue };
            d.options.retain(|x| x.split(':').next() != Some(name.as_str()));
            match &o.value {
                Some(v) => d.options.push(format!("{name}:{v}")),
                None => d.options.push(name.clone()),
            }
        }
    }
    // resolv.conf limits: 3 nameservers, 32 search domains.
    d.servers.truncate(3);
    d.searches.truncate(32);
    d
}

/// The pod's hostname (spec.hostname or the name, cut to 63 characters) and FQDN.
pub fn hostname(pod: &Pod, domain: &str) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    let mut host: String = name.chars().take(63).collect();
    while host.ends_with(['-', '.']) {
        host.pop();
    }
    let fqdn = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|sub| format!("{host}.{sub}.{}.svc.{domain}", pod.metadata.namespace.as_deref().unwrap_or("default")));
    (host, fqdn)
}

pub fn sandbox_config(pod: &Pod, attempt: u32, ns: &NodeSettings) -> PodSandboxConfig {
    let m = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let (hostname, fqdn) = hostname(pod, &ns.cluster_domain);
    let mut ports = Vec::new();
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        for p in c.ports.iter().flatten() {
            if let Some(hp) = p.host_port.filter(|h| *h > 0) {
                ports.push(PortMapping {
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    container_port: p.container_port as u16,
                    host_port: hp as u16,
                    host_ip: p.host_ip.clone().unwrap_or_default(),
                });
            }
        }
    }
    let sysctls: BTreeMap<String, String> = spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_ref())
        .map(|v| v.iter().map(|s| (s.name.clone(), s.value.clone())).collect())
        .unwrap_or_default();
    PodSandboxConfig {
        pod_resources: pod_resources(pod, ns),
        metadata: PodSandboxMetadata {
            name: m.name.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
            namespace: m.namespace.clone().unwrap_or_default(),
            attempt,
        },
        hostname,
        hostname_fqdn: fqdn,
        log_directory: pod_log_dir(ns, pod),
        dns: dns_config(pod, &ns.host_resolv),
        host_aliases: spec
            .host_aliases
            .iter()
            .flatten()
            .map(|a| HostAlias { ip: a.ip.clone(), hostnames: a.hostnames.clone().unwrap_or_default() })
            .collect(),
        port_mappings: ports,
        labels: labels(pod),
        annotations: m.annotations.clone().unwrap_or_default(),
        cgroup_parent: pod_cgroup(ns, m.uid.as_deref().unwrap_or("")),
        host_network: spec.host_network.unwrap_or(false),
        host_pid: spec.host_pid.unwrap_or(false),
        host_ipc: spec.host_ipc.unwrap_or(false),
        share_pid: spec.share_process_namespace.unwrap_or(false),
        sysctls,
        // Resolved from the RuntimeClass when the sandbox is created (runtime_class.rs).
        runtime_handler: String::new(),
    }
}

/// kubelet's safe sysctls: namespaced, and allowed without
/// `--allowed-unsafe-sysctls` (with the namespace each belongs to).
const SAFE_SYSCTLS: &[(&str, &str)] = &[
    ("kernel.shm_rmid_forced", "ipc"),
    ("net.ipv4.ip_local_port_range", "net"),
    ("net.ipv4.tcp_syncookies", "net"),
    ("net.ipv4.ping_group_range", "net"),
    ("net.ipv4.ip_unprivileged_port_start", "net"),
    ("net.ipv4.ip_local_reserved_ports", "net"),
    ("net.ipv4.tcp_keepalive_time", "net"),
    ("net.ipv4.tcp_fin_timeout", "net"),
    ("net.ipv4.tcp_keepalive_intvl", "net"),
    ("net.ipv4.tcp_keepalive_probes", "net"),
    ("net.ipv4.tcp_rmem", "net"),
    ("net.ipv4.tcp_wmem", "net"),
];

/// Check `--allowed-unsafe-sysctls` as kubelet does at start: each is a
/// sysctl name or a prefix ending in `*`, and names namespaced sysctls only
/// (a host-wide sysctl set from a pod would change the whole machine).
pub fn check_unsafe_sysctl_patterns(patterns: &[String]) -> Result<(), String> {
    for p in patterns {
        let name = p.strip_suffix('*').unwrap_or(p);
        if name.is_empty() || name.contains('*') {
            return Err(format!("--allowed-unsafe-sysctls: {p:?}: only a trailing \"*\" is allowed"));
        }
        // A prefix like "kernel.shm*" or "net.*" must lie inside one namespace.
        if sysctl_namespace(name).is_none() {
            return Err(format!("--allowed-unsafe-sysctls: {p:?} is not a namespaced sysctl (ipc or net)"));
        }
    }
    Ok(())
}

/// kubelet's sysctl admission: the message of the first sysctl the node
/// refuses (reason `SysctlForbidden`), if any. Safe sysctls and those
/// matching `allowed_unsafe` pass, unless they belong to a namespace the
/// pod shares with the host.
pub fn forbidden_sysctl(pod: &Pod, allowed_unsafe: &[String]) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let (host_net, host_ipc) = (spec.host_network.unwrap_or(false), spec.host_ipc.unwrap_or(false));
    for s in spec.security_context.as_ref()?.sysctls.iter().flatten() {
        // "net/ipv4/ip_forward" is the same sysctl as "net.ipv4.ip_forward".
        let name = if s.name.contains('/') { s.name.replace('/', ".") } else { s.name.clone() };
        let allowed = |p: &String| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(&prefix.replace('/', ".")),
            None => p.replace('/', ".") == name,
        };
        let namespace = match SAFE_SYSCTLS.iter().find(|(n, _)| *n == name) {
            Some((_, ns)) => Some(*ns),
            None if allowed_unsafe.iter().any(allowed) => sysctl_namespace(&name),
            None => return Some(format!("forbidden sysctl: {name:?} not allowlisted")),
        };
        let err = match namespace {
            Some("net") if host_net => format!("{name:?} not allowed with host net enabled"),
            Some("ipc") if host_ipc => format!("{name:?} not allowed with host ipc enabled"),
            Some(_) => continue,
            None => format!("{name:?} not allowlisted"),
        };
        return Some(format!("forbidden sysctl: {err}"));
    }
    None
}

/// Sum of a resource over containers (in milli-units for cpu, bytes for
/// memory), and whether every container declares it.
fn sum_of(cs: &[&Container], section: &str, name: &str) -> (i64, bool) {
    let mut total = 0;
    let mut all = true;
    for c in cs {
        match quantity(c, section, name) {
            Some(q) if !q.is_zero() => total += if name == "cpu" { q.as_milli() } else { q.value() },
            _ => all = false,
        }
    }
    (total, all)
}

/// The pod's effective request or limit (kubelet's PodRequests/PodLimits):
/// app containers and sidecars run together; a regular init container runs
/// alone beside the sidecars started before it; the larger wins; the pod's
/// overhead (set from its RuntimeClass) comes on top of either.
fn pod_amount(pod: &Pod, section: &str, name: &str) -> (i64, bool) {
    let inits = crate::plan::init_containers(pod);
    let apps: Vec<&Container> = crate::plan::app_containers(pod).iter().collect();
    let sidecars: Vec<&Container> = inits.iter().filter(|c| crate::plan::is_sidecar(c)).collect();
    let (app_sum, app_all) = sum_of(&[apps.as_slice(), sidecars.as_slice()].concat(), section, name);
    let (mut best, mut all) = (app_sum, app_all);
    let mut sidecars_before: Vec<&Container> = Vec::new();
    for c in inits {
        if crate::plan::is_sidecar(c) {
            sidecars_before.push(c);
            continue;
        }
        let (own, own_all) = sum_of(&[c], section, name);
        let (before, _) = sum_of(&sidecars_before, section, name);
        best = best.max(own + before);
        all &= own_all;
    }
    let overhead = pod.spec.as_ref().and_then(|s| s.overhead.as_ref()).and_then(|o| o.get(name));
    if let Some(q) = overhead.and_then(|q| Quantity::parse(&q.0).ok()) {
        best += if name == "cpu" { q.as_milli() } else { q.value() };
    }
    (best, all)
}

/// Limits of the pod-level cgroup (kubelet's ResourceConfigForPod): shares
/// from the summed cpu requests; a CFS quota and a memory limit only when
/// every container has that limit (Guaranteed pods always do); BestEffort
/// pods get the minimum shares; the node's pids limit for the whole pod.
pub fn pod_resources(pod: &Pod, ns: &NodeSettings) -> LinuxResources {
    let spec = pod.spec.clone().unwrap_or_default();
    let qos = peapod_api::qos_class(&spec);
    let pids_limit = (ns.pids_limit > 0).then_some(ns.pids_limit);
    if qos == "BestEffort" {
        return LinuxResources { cpu_shares: Some(cpu_shares(0)), pids_limit, ..Default::default() };
    }
    let (cpu_req, _) = pod_amount(pod, "requests", "cpu");
    let (cpu_lim, cpu_all) = pod_amount(pod, "limits", "cpu");
    let (mem_lim, mem_all) = pod_amount(pod, "limits", "memory");
    let mut r = LinuxResources { cpu_shares: Some(cpu_shares(cpu_req)), pids_limit, ..Default::default() };
    if cpu_all && cpu_lim > 0 {
        r.cpu_quota = Some(cpu_quota(cpu_lim, DEFAULT_CPU_PERIOD));
        r.cpu_period = Some(DEFAULT_CPU_PERIOD as u64);
    }
    if mem_all && mem_lim > 0 {
        r.memory_limit_bytes = Some(mem_lim);
    }
    r
}

/// Where `Localhost` seccomp profiles live: `<data-dir>/seccomp/` (kubelet's
/// `<root-dir>/seccomp`).
pub fn seccomp_root(ns: &NodeSettings) -> PathBuf {
    ns.pods_root.parent().map(|d| d.join("seccomp")).unwrap_or_else(|| PathBuf::from("/var/lib/peapod/seccomp"))
}

fn quantity(c: &Container, section: &str, name: &str) -> Option<Quantity> {
    let r = c.resources.as_ref()?;
    let m = if section == "limits" { r.limits.as_ref()? } else { r.requests.as_ref()? };
    Quantity::parse(&m.get(name)?.0).ok()
}

/// kubelet's oom_score_adj by QoS class (the runtime clamps it to what the host allows).
fn oom_score_adj(pod: &Pod, c: &Container, ns: &NodeSettings) -> i32 {
    match pod.status.as_ref().and_then(|s| s.qos_class.as_deref()).unwrap_or("BestEffort") {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ => {
            let req = quantity(c, "requests", "memory").map(|q| q.value()).unwrap_or(0);
            let cap = ns.memory_capacity.max(1);
            (1000 - (1000 * req) / cap).clamp(2, 999) as i32
        }
    }
}

/// Everything a container config needs that comes from elsewhere.
pub struct ContainerInputs<'a> {
    pub image: &'a ImageInfo,
    pub env: Vec<(String, String)>,
    /// Pod-defined variables, for `$(VAR)` in command and args.
    pub pod_vars: &'a [(String, String)],
    pub mounts: Vec<MountSpec>,
    pub attempt: u32,
}

pub fn container_config(
    pod: &Pod,
    c: &Container,
    i: ContainerInputs<'_>,
    ns: &NodeSettings,
) -> Result<ContainerConfig, Waiting> {
    let spec = pod.spec.clone().unwrap_or_default();
    let img = &i.image.config;
    let argv = peapod_api::command::resolve_command(
        img.entrypoint.as_deref(),
        img.cmd.as_deref(),
        c.command.as_deref().unwrap_or(&[]),
        c.args.as_deref().unwrap_or(&[]),
    );
    let vars: BTreeMap<String, String> = i.pod_vars.iter().cloned().collect();
    let argv: Vec<String> = argv.iter().map(|a| peapod_api::expand::expand(a, |n| vars.get(n).cloned())).collect();
    if argv.is_empty() {
        return Err(Waiting { reason: "CreateContainerError".into(), message: "no command specified".into() });
    }
    let working_dir =
        c.working_dir.clone().filter(|w| !w.is_empty()).or_else(|| img.working_dir.clone()).unwrap_or_default();

    // Resources → cgroup values (kubelet's rules; BestEffort gets the minimum shares).
    let cpu_req = quantity(c, "requests", "cpu").map(|q| q.as_milli());
    let cpu_lim = quantity(c, "limits", "cpu").map(|q| q.as_milli());
    let mem_lim = quantity(c, "limits", "memory").map(|q| q.value());
    let resources = LinuxResources {
        cpu_shares: Some(cpu_shares(cpu_req.or(cpu_lim).unwrap_or(0))),
        cpu_quota: cpu_lim.map(|m| cpu_quota(m, DEFAULT_CPU_PERIOD)),
        cpu_period: cpu_lim.map(|_| DEFAULT_CPU_PERIOD as u64),
        memory_limit_bytes: mem_lim,
        pids_limit: (ns.pids_limit > 0).then_some(ns.pids_limit),
        oom_score_adj: Some(oom_score_adj(pod, c, ns)),
    };

    // Security context: the container's settings win over the pod's.
    let psc = spec.security_context.clone().unwrap_or_default();
    let csc = c.security_context.clone().unwrap_or_default();
    let run_as_user = csc.run_as_user.or(psc.run_as_user);
    let run_as_group = csc.run_as_group.or(psc.run_as_group);
    let run_as_non_root = csc.run_as_non_root.or(psc.run_as_non_root).unwrap_or(false);
    if run_as_non_root {
        match run_as_user {
            Some(0) => return Err(non_root_error(pod, c, "container's runAsUser breaks non-root policy")),
            Some(_) => {}
            None => {
                let user = img.user.clone().unwrap_or_default();
                let name = user.split(':').next().unwrap_or("");
                match name.parse::<i64>() {
                    Ok(0) => {
                        return Err(non_root_error(pod, c, "container has runAsNonRoot and image will run as root"));
                    }
                    Ok(_) => {}
                    Err(_) if name.is_empty() => {
                        return Err(non_root_error(pod, c, "container has runAsNonRoot and image will run as root"));
                    }
                    Err(_) => {
                        return Err(non_root_error(
                            pod,
                            c,
                            &format!(
                                "container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root"
                            ),
                        ));
                    }
                }
            }
        }
    }
    let mut groups: Vec<u32> = psc.supplemental_groups.iter().flatten().map(|g| *g as u32).collect();
    if let Some(fs) = psc.fs_group {
        groups.push(fs as u32);
    }
    let caps = csc.capabilities.clone().unwrap_or_default();
    let seccomp = seccomp_profile(psc.seccomp_profile.as_ref(), csc.seccomp_profile.as_ref(), ns);
    let security = SecurityContext {
        run_as_user: run_as_user.map(|u| u as u32),
        run_as_group: run_as_group.map(|g| g as u32),
        image_user: img.user.clone(),
        supplemental_groups: groups,
        privileged: csc.privileged.unwrap_or(false),
        readonly_rootfs: csc.read_only_root_filesystem.unwrap_or(false),
        no_new_privs: csc.allow_privilege_escalation == Some(false),
        capabilities_add: caps.add.unwrap_or_default(),
        capabilities_drop: caps.drop.unwrap_or_default(),
        masked_paths_unmasked: csc.proc_mount.as_deref() == Some("Unmasked"),
        seccomp,
    };

    let mut annotations = BTreeMap::from([
        (SPEC_IMAGE_ANNOTATION.to_string(), c.image.clone().unwrap_or_default()),
        ("io.kubernetes.container.restartCount".to_string(), i.attempt.to_string()),
    ]);
    if let Some(p) = &c.termination_message_path {
        annotations.insert("io.kubernetes.container.terminationMessagePath".into(), p.clone());
    }
    let mut labels = labels(pod);
    labels.insert("io.kubernetes.container.name".into(), c.name.clone());
    let log_path = pod_log_dir(ns, pod).join(&c.name).join(format!("{}.log", i.attempt));
    Ok(ContainerConfig {
        metadata: ContainerMetadata { name: c.name.clone(), attempt: i.attempt },
        image: status_image(c, &i.image.references),
        image_id: i.image.id.clone(),
        args: argv,
        working_dir,
        envs: i.env,
        mounts: i.mounts,
        log_path,
        stdin: c.stdin.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        resources,
        security,
        labels,
        annotations,
        stop_signal: img.stop_signal.clone(),
        termination_message_path: c.termination_message_path.clone().unwrap_or_else(|| "/dev/termination-log".into()),
        // An ephemeral container's target is running state, set by the executor.
        pid_target: None,
    })
}

/// The image a container's status names: the spec's reference, normalized
/// (`busybox:v2` → `docker.io/library/busybox:v2`) as containerd reports it,
/// not whichever tag of the same image happens to be listed first.
fn status_image(c: &Container, references: &[String]) -> String {
    let spec = c.image.clone().unwrap_or_default();
    match peapod_image::Reference::parse(&spec) {
        Ok(r) => r.to_string(),
        Err(_) => references.first().cloned().unwrap_or(spec),
    }
}

/// The container's seccomp profile: its own, else the pod's; none means
/// Unconfined (kubelet's default). `Localhost` profiles are files under
/// [`seccomp_root`].
fn seccomp_profile(
    pod_sc: Option<&SeccompProfileSpec>,
    container_sc: Option<&SeccompProfileSpec>,
    ns: &NodeSettings,
) -> SeccompProfile {
    let profile = container_sc.or(pod_sc);
    match profile.map(|p| p.type_.as_str()) {
        Some("RuntimeDefault") => SeccompProfile::RuntimeDefault,
        Some("Localhost") => SeccompProfile::Localhost(
            seccomp_root(ns).join(profile.and_then(|p| p.localhost_profile.clone()).unwrap_or_default()),
        ),
        _ => SeccompProfile::Unconfined,
    }
}

fn non_root_error(pod: &Pod, c: &Container, what: &str) -> Waiting {
    Waiting {
        reason: "CreateContainerConfigError".into(),
        message: format!(
            "{what} (pod: \"{}_{}({})\", container: {})",
            pod.metadata.name.as_deref().unwrap_or(""),
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.uid.as_deref().unwrap_or(""),
            c.name
        ),
    }
}

/// The log directory of a container (for cleaning up after it).
pub fn container_log_dir(ns: &NodeSettings, pod: &Pod, name: &str) -> PathBuf {
    pod_log_dir(ns, pod).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, PodDNSConfig, PodSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as QuantityText;

    fn settings() -> NodeSettings {
        NodeSettings {
            node_name: "n1".into(),
            host_ip: "192.0.2.2".into(),
            logs_root: "/logs".into(),
            pods_root: "/pods".into(),
            cgroup_root: "/peapod".into(),
            pids_limit: 4096,
            host_resolv: Resolv { nameservers: vec!["10.255.255.53".into()], searches: vec![], options: vec![] },
            memory_capacity: 1 << 34,
            cpu_capacity_millis: 2000,
            cluster_domain: "cluster.local".into(),
            allowed_unsafe_sysctls: Vec::new(),
        }
    }

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("default".into());
        p.metadata.uid = Some("u1".into());
        p.spec = Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("busybox".into()),
                ports: Some(vec![ContainerPort {
                    container_port: 80,
                    host_port: Some(8888),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    #[test]
    fn sandbox_from_pod() {
        let s = sandbox_config(&pod(), 2, &settings());
        assert_eq!(s.hostname, "web");
        assert_eq!(s.metadata.attempt, 2);
        assert_eq!(s.port_mappings[0].host_port, 8888);
        assert_eq!(s.cgroup_parent, "/peapod/podu1");
        assert_eq!(s.log_directory, PathBuf::from("/logs/default_web_u1"));
        assert_eq!(s.dns.servers, vec!["10.255.255.53"]);
    }

    fn with_resources(c: &mut Container, req: &[(&str, &str)], lim: &[(&str, &str)]) {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;
        let m = |v: &[(&str, &str)]| {
            (!v.is_empty()).then(|| v.iter().map(|(k, q)| (k.to_string(), Q(q.to_string()))).collect())
        };
        c.resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
            requests: m(req),
            limits: m(lim),
            ..Default::default()
        });
    }

    #[test]
    fn pod_cgroup_limits_follow_kubelet() {
        let ns = settings();
        // BestEffort: minimum shares and the pids limit only.
        let p = pod();
        assert_eq!(
            pod_resources(&p, &ns),
            LinuxResources { cpu_shares: Some(2), pids_limit: Some(4096), ..Default::default() }
        );
        // Two containers with limits (Burstable: requests default to nothing here): sums.
        let mut p = pod();
        let mut c2 = p.spec.as_ref().unwrap().containers[0].clone();
        c2.name = "c2".into();
        p.spec.as_mut().unwrap().containers.push(c2);
        for c in p.spec.as_mut().unwrap().containers.iter_mut() {
            with_resources(c, &[("cpu", "250m")], &[("cpu", "500m"), ("memory", "32Mi")]);
        }
        let r = pod_resources(&p, &ns);
        assert_eq!(r.cpu_shares, Some(512));
        assert_eq!((r.cpu_quota, r.cpu_period), (Some(100_000), Some(100_000)));
        assert_eq!(r.memory_limit_bytes, Some(64 << 20));
        // One container without a memory limit: no pod memory limit.
        with_resources(&mut p.spec.as_mut().unwrap().containers[1], &[("cpu", "250m")], &[("cpu", "500m")]);
        let r = pod_resources(&p, &ns);
        assert_eq!(r.memory_limit_bytes, None);
        assert_eq!(r.cpu_quota, Some(100_000));
        // A bigger init container sets the floor.
        let mut init = p.spec.as_ref().unwrap().containers[0].clone();
        init.name = "init".into();
        with_resources(&mut init, &[("cpu", "2")], &[("cpu", "2"), ("memory", "1Gi")]);
        p.spec.as_mut().unwrap().init_containers = Some(vec![init]);
        assert_eq!(pod_resources(&p, &ns).cpu_shares, Some(2048));
        // A RuntimeClass's overhead adds to requests and limits.
        let mut p = pod();
        with_resources(&mut p.spec.as_mut().unwrap().containers[0], &[("cpu", "250m")], &[("memory", "64Mi")]);
        p.spec.as_mut().unwrap().overhead = Some(
            [("cpu", "250m"), ("memory", "16Mi")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), QuantityText(v.into())))
                .collect(),
        );
        let r = pod_resources(&p, &ns);
        assert_eq!((r.cpu_shares, r.memory_limit_bytes), (Some(512), Some(80 << 20)));
    }

    #[test]
    fn only_safe_sysctls_are_admitted() {
        use k8s_openapi::api::core::v1::{PodSecurityContext, Sysctl};
        let with = |names: &[&str], host_net: bool| {
            let mut p = pod();
            let s = p.spec.as_mut().unwrap();
            s.host_network = Some(host_net);
            s.security_context = Some(PodSecurityContext {
                sysctls: Some(names.iter().map(|n| Sysctl { name: n.to_string(), value: "1".into() }).collect()),
                ..Default::default()
            });
            forbidden_sysctl(&p, &["kernel.msg*".to_string(), "net.core.somaxconn".to_string()])
        };
        assert_eq!(with(&["net.ipv4.tcp_syncookies", "kernel/shm_rmid_forced"], false), None);
        assert_eq!(
            with(&["net.ipv4.tcp_syncookies", "net.core.rmem_max"], false).as_deref(),
            Some("forbidden sysctl: \"net.core.rmem_max\" not allowlisted")
        );
        // Allowed unsafe ones: by name and by prefix, still not with the host's namespace.
        assert_eq!(with(&["net.core.somaxconn", "kernel.msgmax", "kernel/msgmnb"], false), None);
        assert_eq!(
            with(&["net.core.somaxconn"], true).as_deref(),
            Some("forbidden sysctl: \"net.core.somaxconn\" not allowed with host net enabled")
        );
        assert_eq!(with(&["kernel.sem"], false).as_deref(), Some("forbidden sysctl: \"kernel.sem\" not allowlisted"));
        assert_eq!(
            with(&["net.ipv4.tcp_syncookies"], true).as_deref(),
            Some("forbidden sysctl: \"net.ipv4.tcp_syncookies\" not allowed with host net enabled")
        );
        assert_eq!(forbidden_sysctl(&pod(), &[]), None);
    }

    #[test]
    fn unsafe_sysctl_patterns_must_be_namespaced() {
        let check = |p: &[&str]| check_unsafe_sysctl_patterns(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(check(&["kernel.msg*", "net.*", "net.core.somaxconn", "kernel.sem", "fs.mqueue.*"]).is_ok());
        let e = check(&["vm.swappiness"]).unwrap_err();
        assert!(e.contains("\"vm.swappiness\" is not a namespaced sysctl"), "{e}");
        assert!(check(&["kernel.*"]).is_err(), "kernel.* reaches host-wide sysctls");
        assert!(check(&["net.*.x"]).unwrap_err().contains("trailing"));
    }

    #[test]
    fn seccomp_profiles_and_status_images() {
        let ns = settings();
        let spec =
            |t: &str, l: Option<&str>| SeccompProfileSpec { type_: t.into(), localhost_profile: l.map(str::to_owned) };
        assert_eq!(seccomp_profile(None, None, &ns), SeccompProfile::Unconfined);
        assert_eq!(seccomp_profile(Some(&spec("RuntimeDefault", None)), None, &ns), SeccompProfile::RuntimeDefault);
        assert_eq!(
            seccomp_profile(Some(&spec("RuntimeDefault", None)), Some(&spec("Unconfined", None)), &ns),
            SeccompProfile::Unconfined,
            "the container's profile wins"
        );
        assert_eq!(
            seccomp_profile(None, Some(&spec("Localhost", Some("p/audit.json"))), &ns),
            SeccompProfile::Localhost("/seccomp/p/audit.json".into())
        );
        let c = |image: &str| Container { name: "c".into(), image: Some(image.into()), ..Default::default() };
        let refs = vec!["docker.io/library/busybox:latest".to_string(), "docker.io/library/busybox:v2".to_string()];
        assert_eq!(status_image(&c("busybox:v2"), &refs), "docker.io/library/busybox:v2");
        assert_eq!(status_image(&c("busybox"), &refs), "docker.io/library/busybox:latest");
    }

    #[test]
    fn dns_policies() {
        let host = Resolv {
            nameservers: vec!["1.1.1.1".into()],
            searches: vec!["corp".into()],
            options: vec!["ndots:1".into()],
        };
        let mut p = pod();
        let s = p.spec.as_mut().unwrap();
        s.dns_policy = Some("None".into());
        s.dns_config = Some(PodDNSConfig {
            nameservers: Some(vec!["9.9.9.9".into()]),
            searches: Some(vec!["a.b".into()]),
            options: Some(vec![k8s_openapi::api::core::v1::PodDNSConfigOption {
                name: Some("ndots".into()),
                value: Some("5".into()),
            }]),
        });
        let d = dns_config(&p, &host);
        assert_eq!(
            (d.servers, d.searches, d.options),
            (vec!["9.9.9.9".to_string()], vec!["a.b".to_string()], vec!["ndots:5".to_string()])
        );
        p.spec.as_mut().unwrap().dns_policy = Some("Default".into());
        let d = dns_config(&p, &host);
        assert_eq!(d.servers, vec!["1.1.1.1", "9.9.9.9"]);
        assert_eq!(d.options, vec!["ndots:5"]);
    }

    #[test]
    fn hostname_and_fqdn() {
        let mut p = pod();
        p.spec.as_mut().unwrap().hostname = Some("h".into());
        p.spec.as_mut().unwrap().subdomain = Some("sub".into());
        assert_eq!(
            hostname(&p, "cluster.local"),
            ("h".to_string(), Some("h.sub.default.svc.cluster.local".to_string()))
        );
        p.metadata.name = Some("a".repeat(70));
        p.spec.as_mut().unwrap().hostname = None;
        assert_eq!(hostname(&p, "cluster.local").0.len(), 63);
    }
}
