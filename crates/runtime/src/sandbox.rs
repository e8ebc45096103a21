//! Pod sandboxes: the pinned network namespace, the pod's /etc files and
//! /dev/shm, the network attachment and the infra (pause) container.
//!
//! Setup writes the sandbox record first, so teardown (which reads it) can
//! undo a setup that failed half-way or was cut short by a crash; teardown
//! is idempotent, runs in reverse order and collects every error.

use std::sync::Arc;

use peapod_net::{NetRequest, PortMap};

use crate::RuntimeError;
use crate::cri::*;
use crate::mounts;
use crate::service::{Inner, RuncRuntime, SandboxRecord, new_id, pause_alive, wait_pid_exit};
use crate::spec::{SandboxSpecInput, sandbox_spec};

pub(crate) fn status_of(r: &SandboxRecord) -> PodSandboxStatus {
    let ready = !r.stopped && r.pause_pid.is_some_and(|p| pause_alive(p, r.pause_started));
    PodSandboxStatus {
        id: r.id.clone(),
        metadata: r.config.metadata.clone(),
        state: if ready { SandboxState::Ready } else { SandboxState::NotReady },
        created_at: r.created_at,
        ips: r.ips.clone(),
        labels: r.config.labels.clone(),
        annotations: r.config.annotations.clone(),
        host_network: r.config.host_network,
        netns_path: r.netns.clone(),
        runtime_handler: r.runtime_handler.clone(),
    }
}

pub(crate) fn watch_pause(inner: Arc<Inner>, id: String, pid: i32) {
    tokio::spawn(async move {
        wait_pid_exit(pid).await;
        inner.on_pause_exit(&id);
    });
}

fn net_request(r: &SandboxRecord) -> Option<NetRequest> {
    let netns = r.netns.clone()?;
    Some(NetRequest {
        sandbox_id: r.id.clone(),
        netns,
        pod_name: r.config.metadata.name.clone(),
        pod_namespace: r.config.metadata.namespace.clone(),
        pod_uid: r.config.metadata.uid.clone(),
        port_mappings: r
            .config
            .port_mappings
            .iter()
            .map(|p| PortMap {
                protocol: p.protocol.to_ascii_lowercase(),
                container_port: p.container_port,
                host_port: p.host_port,
                host_ip: p.host_ip.clone(),
            })
            .collect(),
    })
}

/// The pod's IPC and UTS namespaces, pinned in the sandbox dir like its
/// network namespace (`peapod_net::netns::create_pinned_set`, CRI-O's
/// `pinns`). The pause joins them instead of making them, so they exist
/// before it does: the pod's first containers can be created while the
/// pause starts and the network is attached. `unpin_when_idle` drops them
/// once the pause holds them.
const IPC_PIN: &str = "ipcns";
const UTS_PIN: &str = "utsns";

impl RuncRuntime {
    pub(crate) async fn run_pod_sandbox_impl(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        let id = self.prepare_pod_sandbox_impl(config).await?;
        match self.finish_pod_sandbox_impl(&id).await {
            Ok(()) => Ok(id),
            Err(e) => {
                self.undo_sandbox(&id).await;
                Err(e)
            }
        }
    }

    /// Everything of the sandbox but its pause process and network
    /// attachment: the record, the pinned namespaces (network, IPC, UTS
    /// with the hostname), /dev/shm, the pod cgroup, the pod's /etc files
    /// (without the pod IP yet) and the pause bundle. Containers can be
    /// created in it from here on (not in a `share_pid` one, whose PID
    /// namespace is the pause's); `finish_pod_sandbox_impl` does the rest.
    pub(crate) async fn prepare_pod_sandbox_impl(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        // An unknown handler is refused before anything of the sandbox exists.
        let (handler, runc) = self.inner.handlers.resolve(&config.runtime_handler)?;
        let id = new_id();
        match self.prepare_sandbox(&id, config, handler, runc).await {
            Ok(()) => Ok(id),
            Err(e) => {
                self.undo_sandbox(&id).await;
                Err(e)
            }
        }
    }

    /// Undo whatever of a sandbox was done; the record tells teardown what exists.
    async fn undo_sandbox(&self, id: &str) {
        if let Err(te) = self.remove_pod_sandbox_impl(id).await {
            tracing::warn!(sandbox = %id, error = %te, "cleanup after a failed sandbox setup");
        }
    }

    async fn prepare_sandbox(
        &self,
        id: &str,
        config: &PodSandboxConfig,
        handler: String,
        runc: crate::runc::Runc,
    ) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let dir = inner.sandbox_dir(id);
        std::fs::create_dir_all(dir.join("bundle"))
            .map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
        let rec = SandboxRecord {
            id: id.to_owned(),
            config: config.clone(),
            created_at: jiff::Timestamp::now(),
            netns: (!config.host_network).then(|| inner.netns_path(id)),
            ipc_ns: (!config.host_ipc).then(|| dir.join(IPC_PIN)),
            uts_ns: (!config.host_network).then(|| dir.join(UTS_PIN)),
            pause_pid: None,
            pause_started: None,
            ips: vec![],
            stopped: false,
            runtime_handler: handler,
            runtime_binary: Some(runc.binary.clone()),
        };
        inner.save_sandbox(&rec)?;

        let (netns, ipc, uts, hostname) =
            (rec.netns.clone(), rec.ipc_ns.clone(), rec.uts_ns.clone(), config.hostname.clone());
        tokio::task::spawn_blocking(move || {
            peapod_net::netns::create_pinned_set(
                netns.as_deref(),
                ipc.as_deref(),
                uts.as_deref().map(|p| (p, hostname.as_str())),
            )
        })
        .await
        .map_err(|e| RuntimeError::io("namespace task", std::io::Error::other(e)))??;
        if !config.host_ipc {
            mounts::mount_tmpfs(&dir.join("shm"), "mode=1777,size=65536k")
                .map_err(|e| RuntimeError::io("mounting the pod's /dev/shm", e))?;
        }
        std::fs::create_dir_all(&config.log_directory)
            .map_err(|e| RuntimeError::io(format!("creating {}", config.log_directory.display()), e))?;

        // The pod-level cgroup, with the pod's limits, before anything runs in it.
        crate::cgroups::apply_pod_limits(&config.cgroup_parent, &config.pod_resources)
            .map_err(|e| RuntimeError::io("setting up the pod cgroup", e))?;
        let cg_path = format!("{}/{}", config.cgroup_parent.trim_end_matches('/'), id);
        let spec = sandbox_spec(&SandboxSpecInput {
            config,
            pause_rootfs: &inner.pause_rootfs(),
            netns: rec.netns.as_deref(),
            ipc_ns: rec.ipc_ns.as_deref(),
            uts_ns: rec.uts_ns.as_deref(),
            cgroups_path: cg_path,
            limits: &inner.limits,
        });
        crate::service::write_json(&dir.join("bundle").join("config.json"), &spec)?;
        // Bound into containers at their create: they must exist now.
        write_pod_files(&dir, config)
    }

    /// Start the pause process and attach the network, concurrently (they
    /// share only the pinned namespace); write the pod's IPs into its
    /// /etc/hosts. On error nothing is undone: the caller removes the
    /// sandbox (and whatever containers it created in it).
    pub(crate) async fn finish_pod_sandbox_impl(&self, id: &str) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let mut rec = inner.sandbox(id).ok_or_else(|| RuntimeError::SandboxNotFound(id.into()))?;
        if rec.stopped || rec.pause_pid.is_some() {
            return Err(RuntimeError::SandboxNotReady(id.into()));
        }
        let runc = inner.sandbox_runc(&rec);
        let dir = inner.sandbox_dir(id);
        let req = net_request(&rec);
        let net = async {
            match &req {
                Some(r) => inner.network.setup(r).await.map(|res| res.ips).map_err(RuntimeError::from),
                None => Ok(vec![]),
            }
        };
        let (bundle, pid_file) = (dir.join("bundle"), dir.join("pause.pid"));
        let pause = runc.run_detached(id, &bundle, &pid_file);
        let (ips, pid) = tokio::join!(net, pause);
        if let Ok(pid) = &pid {
            rec.pause_pid = Some(*pid);
            rec.pause_started = crate::service::proc_stat(*pid).map(|s| s.1);
        }
        // Saved once: a record with the pause pid is a finished sandbox to
        // `unpin_when_idle`, which must not race a stale save of ours. On
        // error it is saved with the pid too, so teardown kills it.
        // Only /etc/hosts names the pod's IPs (a hostNetwork pod's has none).
        let ips = ips.and_then(|ips| {
            if !rec.config.host_network {
                write_hosts(&dir, &rec.config, &ips)?;
            }
            Ok(ips)
        });
        let (pid, ips) = match (pid, ips) {
            (Ok(pid), Ok(ips)) => (pid, ips),
            (pid, ips) => {
                if pid.is_ok() {
                    inner.save_sandbox(&rec)?;
                }
                return Err(pid.err().or(ips.err()).expect("one of them failed"));
            }
        };
        rec.ips = ips;
        inner.save_sandbox(&rec)?;
        watch_pause(inner.clone(), id.to_owned(), pid);
        unpin_when_idle(inner, id);
        Ok(())
    }

    pub(crate) async fn stop_pod_sandbox_impl(&self, id: &str) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let Some(mut rec) = inner.sandbox(id) else {
            return Ok(());
        };
        // Idempotent: a stopped sandbox has nothing left to stop (CRI semantics).
        if rec.stopped {
            return Ok(());
        }
        let mut errors: Vec<RuntimeError> = Vec::new();
        let ids: Vec<String> = inner
            .containers
            .lock()
            .expect("lock")
            .values()
            .filter(|c| c.sandbox_id == id)
            .map(|c| c.id.clone())
            .collect();
        for c in ids {
            if let Err(e) = self.stop_container_impl(&c, 0).await {
                errors.push(e);
            }
        }
        // Infra container: SIGKILL (pause has nothing to flush), then delete.
        let runc = inner.sandbox_runc(&rec);
        if let Err(e) = runc.kill(id, "KILL", false).await {
            errors.push(e);
        }
        if let Some(pid) = rec.pause_pid {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while pause_alive(pid, rec.pause_started) && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        if let Err(e) = runc.delete(id, true).await {
            errors.push(e);
        }
        // Network before the namespace: plugins need the netns to clean
        // inside it (and must cope when it is already gone).
        if let Some(req) = net_request(&rec)
            && let Err(e) = inner.network.teardown(&req).await
        {
            errors.push(e.into());
        }
        for pin in [&rec.netns, &rec.ipc_ns, &rec.uts_ns].into_iter().flatten() {
            if let Err(e) = peapod_net::netns::remove_pinned(pin) {
                errors.push(e.into());
            }
        }
        if let Err(e) = mounts::unmount(&inner.sandbox_dir(id).join("shm")) {
            errors.push(RuntimeError::io("unmounting the pod's /dev/shm", e));
        }
        // Stopped for good only when every step worked; otherwise the next
        // stop retries what failed (each step tolerates what is already gone).
        rec.stopped = errors.is_empty();
        if inner.sandbox_dir(id).exists() {
            inner.save_sandbox(&rec)?;
        }
        first_error(errors)
    }

    pub(crate) async fn remove_pod_sandbox_impl(&self, id: &str) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let Some(rec) = inner.sandbox(id) else {
            return Ok(());
        };
        let mut errors: Vec<RuntimeError> = Vec::new();
        if let Err(e) = self.stop_pod_sandbox_impl(id).await {
            errors.push(e);
        }
        let ids: Vec<String> = inner
            .containers
            .lock()
            .expect("lock")
            .values()
            .filter(|c| c.sandbox_id == id)
            .map(|c| c.id.clone())
            .collect();
        for c in ids {
            if let Err(e) = self.remove_container_impl(&c).await {
                errors.push(e);
            }
        }
        // The pod-level cgroup is the pod's alone; remove it when no other
        // sandbox of the same pod (a recreated one) still uses it. Before the
        // record goes: a crash in between must leave the record, so the next
        // removal (after recovery) still knows about the cgroup.
        let shared = inner
            .sandboxes
            .lock()
            .expect("lock")
            .values()
            .any(|s| s.id != id && s.config.cgroup_parent == rec.config.cgroup_parent);
        if !shared
            && !rec.config.cgroup_parent.is_empty()
            && let Err(e) = crate::cgroups::remove(&rec.config.cgroup_parent)
        {
            errors.push(RuntimeError::io("removing the pod cgroup", e));
        }
        let dir = inner.sandbox_dir(id);
        for m in mounts::mounts_under(&dir) {
            let _ = mounts::unmount(&m);
        }
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            errors.push(RuntimeError::io(format!("removing {}", dir.display()), e));
        }
        inner.sandboxes.lock().expect("lock").remove(id);
        first_error(errors)
    }
}

fn first_error(mut errors: Vec<RuntimeError>) -> Result<(), RuntimeError> {
    if errors.is_empty() {
        return Ok(());
    }
    for e in errors.iter().skip(1) {
        tracing::warn!(error = %e, "further teardown error");
    }
    Err(errors.remove(0))
}

/// Once the pause runs and no create that may still open them is in
/// flight, unpin the sandbox's IPC and UTS namespaces (the pause holds them
/// now; containers created later join them through it), so a running pod
/// has one pinned namespace, not three: every mount is a line of
/// /proc/self/mountinfo, which runc reads on each create and each exec
/// (probes) at a cost that grows with the host's mounts. Called by finish
/// and by each create that ends.
pub(crate) fn unpin_when_idle(inner: &Inner, id: &str) {
    let creating = inner.creating.lock().expect("lock");
    if creating.get(id).is_some_and(|n| *n > 0) {
        return;
    }
    let Some(mut rec) = inner.sandbox(id) else { return };
    if rec.pause_pid.is_none() || rec.stopped || (rec.ipc_ns.is_none() && rec.uts_ns.is_none()) {
        return;
    }
    for pin in [rec.ipc_ns.take(), rec.uts_ns.take()].into_iter().flatten() {
        if let Err(e) = peapod_net::netns::remove_pinned(&pin) {
            tracing::warn!(sandbox = %id, error = %e, "unpinning a pod namespace");
        }
    }
    if let Err(e) = inner.save_sandbox(&rec) {
        tracing::warn!(sandbox = %id, error = %e, "saving the sandbox record");
    }
}

/// A container create in flight in a sandbox (see `unpin_when_idle`).
pub(crate) struct Creating<'a> {
    inner: &'a Inner,
    sandbox: &'a str,
}

impl<'a> Creating<'a> {
    pub fn new(inner: &'a Inner, sandbox: &'a str) -> Self {
        *inner.creating.lock().expect("lock").entry(sandbox.to_owned()).or_default() += 1;
        Creating { inner, sandbox }
    }
}

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        {
            let mut creating = self.inner.creating.lock().expect("lock");
            if let Some(n) = creating.get_mut(self.sandbox) {
                *n -= 1;
                if *n == 0 {
                    creating.remove(self.sandbox);
                }
            }
        }
        unpin_when_idle(self.inner, self.sandbox);
    }
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf for the pod, as kubelet
/// writes them; /etc/hosts without the pod's IPs yet (`write_hosts`).
fn write_pod_files(dir: &std::path::Path, c: &PodSandboxConfig) -> Result<(), RuntimeError> {
    use peapod_net::etc_files::*;
    let resolv = resolv_conf(&Resolv {
        nameservers: c.dns.servers.clone(),
        searches: c.dns.searches.clone(),
        options: c.dns.options.clone(),
    });
    let hostname = if c.host_network {
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default()
    } else {
        format!("{}\n", c.hostname)
    };
    for (name, text) in [("hostname", hostname), ("resolv.conf", resolv)] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| RuntimeError::io(format!("writing {}", p.display()), e))?;
    }
    write_hosts(dir, c, &[])
}

/// The pod's /etc/hosts, written in place (same inode: containers created
/// before the pod had its IPs have it bound already).
fn write_hosts(dir: &std::path::Path, c: &PodSandboxConfig, ips: &[String]) -> Result<(), RuntimeError> {
    use peapod_net::etc_files::*;
    let aliases: Vec<(String, Vec<String>)> =
        c.host_aliases.iter().map(|a| (a.ip.clone(), a.hostnames.clone())).collect();
    let hosts = if c.host_network {
        host_network_hosts_file(&std::fs::read_to_string("/etc/hosts").unwrap_or_default(), &aliases)
    } else {
        hosts_file(ips, &c.hostname, c.hostname_fqdn.as_deref(), &aliases)
    };
    let p = dir.join("hosts");
    std::fs::write(&p, hosts).map_err(|e| RuntimeError::io(format!("writing {}", p.display()), e))
}
