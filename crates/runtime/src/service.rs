//! `RuncRuntime`: the `RuntimeService` over runc, with records on disk so a
//! restarted daemon recovers every sandbox and container (ARCHITECTURE.md:
//! the machine is the truth for actual state).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use peapod_net::Network;

use crate::RuntimeError;
use crate::cri::*;
use crate::handlers::{Handlers, default_handler};
use crate::runc::Runc;
use crate::shim::ExitRecord;
use crate::spec::HostLimits;

/// How to start a shim: the program and the arguments before the shim's own.
#[derive(Debug, Clone)]
pub struct ShimCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub state_dir: PathBuf,
    /// The OCI runtime binary of the default handler, `runc`.
    pub runc: PathBuf,
    /// Other runtime handlers (RuntimeClass `handler` → OCI runtime binary),
    /// like containerd's `runtimes.<name>.BinaryName`; see handlers.rs.
    pub runtime_handlers: std::collections::BTreeMap<String, PathBuf>,
    pub shim: ShimCommand,
    /// Each container's shim rotates its log before it grows past this many
    /// bytes (kubelet's `containerLogMaxSize`; 0 = never).
    pub log_max_size: u64,
    /// Most files kept per container log, the live one included (kubelet's
    /// `containerLogMaxFiles`; see `LogRotation::validate`).
    pub log_max_files: u32,
}

/// A mount to make at a container's rootfs path (from the image snapshotter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsMount {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

/// The image side of container creation (containerd's snapshotter seam):
/// prepare a writable root for `image_id` in `container_dir` and describe the
/// mounts; the runtime performs them. Blocking calls (they may unpack layers).
pub trait RootfsProvider: Send + Sync + 'static {
    fn prepare(&self, image_id: &str, container_dir: &Path) -> Result<Vec<RootfsMount>, String>;
    fn cleanup(&self, container_dir: &Path) -> Result<(), String>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SandboxRecord {
    pub id: String,
    pub config: PodSandboxConfig,
    pub created_at: jiff::Timestamp,
    pub netns: Option<PathBuf>,
    /// Pinned IPC and UTS namespaces (pins.rs); None for hostIPC /
    /// hostNetwork, and in records of older versions, whose pause made them.
    #[serde(default)]
    pub ipc_ns: Option<PathBuf>,
    #[serde(default)]
    pub uts_ns: Option<PathBuf>,
    pub pause_pid: Option<i32>,
    /// Start time of the infra process (guards against pid reuse).
    #[serde(default)]
    pub pause_started: Option<u64>,
    pub ips: Vec<String>,
    pub stopped: bool,
    /// The runtime handler that runs the pause and every container of the
    /// sandbox, and its binary at creation (for a handler dropped since).
    #[serde(default = "default_handler")]
    pub runtime_handler: String,
    #[serde(default)]
    pub runtime_binary: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub config: ContainerConfig,
    pub created_at: jiff::Timestamp,
    pub started_at: Option<jiff::Timestamp>,
    pub shim_pid: Option<i32>,
    pub pid: Option<i32>,
    pub cgroup: String,
    /// The sandbox's handler and binary, copied so the container can be
    /// stopped and removed even without its sandbox record.
    #[serde(default = "default_handler")]
    pub runtime_handler: String,
    #[serde(default)]
    pub runtime_binary: Option<PathBuf>,
}

pub(crate) struct Inner {
    pub cfg: RuntimeConfig,
    pub handlers: Handlers,
    pub limits: HostLimits,
    pub rootfs: Arc<dyn RootfsProvider>,
    pub network: Arc<dyn Network>,
    pub sandboxes: Mutex<HashMap<String, SandboxRecord>>,
    pub containers: Mutex<HashMap<String, ContainerRecord>>,
    /// Containers whose shim has exited (the exit file is final, or the shim died).
    pub shim_gone: Mutex<HashSet<String>>,
    /// Termination messages of exited containers (final once read).
    pub messages: Mutex<HashMap<String, String>>,
    /// Creates in flight per sandbox that may still open its pinned
    /// namespaces (see `sandbox::unpin_when_idle`).
    pub creating: Mutex<HashMap<String, usize>>,
    pub events: broadcast::Sender<ContainerEvent>,
}

/// The runc-backed runtime. Cheap to clone.
#[derive(Clone)]
pub struct RuncRuntime {
    pub(crate) inner: Arc<Inner>,
}

impl Inner {
    pub fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.cfg.state_dir.join("sandboxes").join(id)
    }
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.state_dir.join("containers").join(id)
    }
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.cfg.state_dir.join("netns").join(id)
    }
    pub fn pause_rootfs(&self) -> PathBuf {
        self.cfg.state_dir.join("pause").join("rootfs")
    }

    pub fn save_sandbox(&self, rec: &SandboxRecord) -> Result<(), RuntimeError> {
        let dir = self.sandbox_dir(&rec.id);
        write_json(&dir.join("sandbox.json"), rec)?;
        self.sandboxes.lock().expect("lock").insert(rec.id.clone(), rec.clone());
        Ok(())
    }

    pub fn save_container(&self, rec: &ContainerRecord) -> Result<(), RuntimeError> {
        let dir = self.container_dir(&rec.id);
        write_json(&dir.join("container.json"), rec)?;
        self.containers.lock().expect("lock").insert(rec.id.clone(), rec.clone());
        Ok(())
    }

    pub fn sandbox(&self, id: &str) -> Option<SandboxRecord> {
        self.sandboxes.lock().expect("lock").get(id).cloned()
    }

    pub fn container(&self, id: &str) -> Option<ContainerRecord> {
        self.containers.lock().expect("lock").get(id).cloned()
    }

    /// The OCI runtime of a sandbox (its pause container).
    pub fn sandbox_runc(&self, rec: &SandboxRecord) -> Runc {
        self.handlers.for_record(&rec.runtime_handler, rec.runtime_binary.as_deref())
    }

    /// The OCI runtime of a container (its sandbox's).
    pub fn container_runc(&self, rec: &ContainerRecord) -> Runc {
        self.handlers.for_record(&rec.runtime_handler, rec.runtime_binary.as_deref())
    }

    pub fn exit_record(&self, id: &str) -> Option<ExitRecord> {
        ExitRecord::read(&self.container_dir(id).join("exit.json")).ok().flatten()
    }

    /// The container's process has ended (or its fate is lost with its shim).
    pub fn has_exited(&self, id: &str) -> bool {
        self.shim_gone.lock().expect("lock").contains(id) || self.exit_record(id).is_some()
    }

    /// What an exited container wrote to its termination-message file (the
    /// last 4 KiB, as kubelet reads it). Read once, then cached: the file
    /// cannot change after the container is gone.
    pub fn termination_message(&self, id: &str) -> Option<String> {
        if let Some(m) = self.messages.lock().expect("lock").get(id) {
            return Some(m.clone());
        }
        let path = self.container_dir(id).join("termination-log");
        let data = crate::container::read_tail(&path, 4096).ok()?;
        let msg = String::from_utf8_lossy(&data).into_owned();
        self.messages.lock().expect("lock").insert(id.to_owned(), msg.clone());
        Some(msg)
    }

    pub fn on_shim_exit(&self, id: &str) {
        self.shim_gone.lock().expect("lock").insert(id.to_owned());
        if let Some(rec) = self.container(id) {
            let pod_uid = self.sandbox(&rec.sandbox_id).map(|s| s.config.metadata.uid).unwrap_or_default();
            let _ = self.events.send(ContainerEvent { container_id: id.into(), sandbox_id: rec.sandbox_id, pod_uid });
        }
    }

    pub fn on_pause_exit(&self, sandbox_id: &str) {
        if let Some(s) = self.sandbox(sandbox_id) {
            let _ = self.events.send(ContainerEvent {
                container_id: sandbox_id.into(),
                sandbox_id: sandbox_id.into(),
                pod_uid: s.config.metadata.uid,
            });
        }
    }
}

impl RuncRuntime {
    /// Open the runtime on its state directory and recover what a previous
    /// daemon left running. Must be called inside a tokio runtime.
    pub async fn new(
        cfg: RuntimeConfig,
        rootfs: Arc<dyn RootfsProvider>,
        network: Arc<dyn Network>,
    ) -> Result<RuncRuntime, RuntimeError> {
        for sub in ["runc", "netns", "sandboxes", "containers", "pause/rootfs"] {
            let d = cfg.state_dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| RuntimeError::io(format!("creating {}", d.display()), e))?;
        }
        set_mode(&cfg.state_dir, 0o700)?;
        let handlers = Handlers::new(&cfg.state_dir, &cfg.runc, &cfg.runtime_handlers);
        for (_, runc) in handlers.all() {
            std::fs::create_dir_all(&runc.root)
                .map_err(|e| RuntimeError::io(format!("creating {}", runc.root.display()), e))?;
        }
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            cfg,
            handlers,
            limits: HostLimits::detect(),
            rootfs,
            network,
            sandboxes: Mutex::new(HashMap::new()),
            containers: Mutex::new(HashMap::new()),
            shim_gone: Mutex::new(HashSet::new()),
            messages: Mutex::new(HashMap::new()),
            creating: Mutex::new(HashMap::new()),
            events,
        });
        install_pause(&inner.pause_rootfs())?;
        let rt = RuncRuntime { inner };
        rt.recover().await?;
        Ok(rt)
    }

    /// Container exits and infra deaths, for the node agent to resync pods.
    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.inner.events.subscribe()
    }

    /// The default handler's runc driver.
    pub fn runc(&self) -> Runc {
        self.inner.handlers.default_runc()
    }

    /// The runc driver of every configured runtime handler, the default first.
    pub fn runtimes(&self) -> Vec<(String, Runc)> {
        self.inner.handlers.all()
    }

    /// The pinned network namespace of a sandbox, if it has one.
    pub fn sandbox_netns(&self, id: &str) -> Option<PathBuf> {
        self.inner.sandbox(id).and_then(|s| s.netns)
    }

    /// Rebuild the in-memory view from the records on disk and the live
    /// processes; clean up whatever a crash left half-made.
    async fn recover(&self) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        for rec in read_records::<SandboxRecord>(&inner.cfg.state_dir.join("sandboxes"), "sandbox.json") {
            if let (Some(pid), false) = (rec.pause_pid, rec.stopped)
                && pause_alive(pid, rec.pause_started)
            {
                crate::sandbox::watch_pause(inner.clone(), rec.id.clone(), pid);
            }
            inner.sandboxes.lock().expect("lock").insert(rec.id.clone(), rec);
        }
        let mut half_made = Vec::new();
        for rec in read_records::<ContainerRecord>(&inner.cfg.state_dir.join("containers"), "container.json") {
            match rec.shim_pid {
                None => half_made.push(rec.id.clone()),
                Some(pid) => {
                    let exited = inner.exit_record(&rec.id).is_some();
                    if !exited && shim_alive(pid, &rec.id) {
                        crate::container::watch_shim_pid(inner.clone(), rec.id.clone(), pid);
                    } else if !exited {
                        // The shim died without writing an exit file: its
                        // container's output and status are lost.
                        inner.shim_gone.lock().expect("lock").insert(rec.id.clone());
                    }
                }
            }
            inner.containers.lock().expect("lock").insert(rec.id.clone(), rec);
        }
        // Creation was interrupted before the shim reported: nothing of it
        // is usable. Its shim (and the runc it runs) may still be at work on
        // the bundle, and would recreate what the removal takes away: stop
        // them first.
        for id in half_made {
            tracing::info!(container = %id, "removing a container whose creation was interrupted");
            kill_bundle_processes(&inner.container_dir(&id)).await;
            let _ = self.remove_container_impl(&id).await;
        }
        // A sandbox whose setup was interrupted before its infra pid was
        // recorded (that happens once the network is up too): its pause may
        // run and its netns and CNI attachment exist, but the node agent sees
        // it NotReady and would keep it beside the pod's next sandbox for the
        // pod's lifetime. Tear it down, with any container created in it
        // while it was being finished.
        let half_made: Vec<String> = inner
            .sandboxes
            .lock()
            .expect("lock")
            .values()
            .filter(|s| s.pause_pid.is_none())
            .map(|s| s.id.clone())
            .collect();
        for id in half_made {
            tracing::info!(sandbox = %id, "removing a sandbox whose setup was interrupted");
            let _ = self.remove_pod_sandbox_impl(&id).await;
        }
        // Pins a crash kept (a create was in flight when the daemon died):
        // the pause holds those namespaces.
        let finished: Vec<String> = inner.sandboxes.lock().expect("lock").keys().cloned().collect();
        for id in finished {
            crate::sandbox::unpin_when_idle(inner, &id);
        }
        // runc containers without any record of ours (crash between runc
        // create and the record), under the root of every handler: the
        // configured ones and any that records still name.
        let (known, mut runtimes): (HashSet<String>, Vec<(String, Runc)>) = {
            let s = inner.sandboxes.lock().expect("lock");
            let c = inner.containers.lock().expect("lock");
            let known = s.keys().chain(c.keys()).cloned().collect();
            let recorded = s
                .values()
                .map(|r| (r.runtime_handler.clone(), inner.sandbox_runc(r)))
                .chain(c.values().map(|r| (r.runtime_handler.clone(), inner.container_runc(r))));
            (known, inner.handlers.all().into_iter().chain(recorded).collect())
        };
        runtimes.sort_by(|a, b| a.0.cmp(&b.0));
        runtimes.dedup_by(|a, b| a.0 == b.0);
        for (handler, runc) in runtimes {
            for st in runc.list().await.unwrap_or_default() {
                if !known.contains(&st.id) {
                    tracing::info!(id = %st.id, %handler, "removing an unknown runc container");
                    let _ = runc.delete(&st.id, true).await;
                }
            }
        }
        // Pinned namespaces and directories that belong to no sandbox.
        if let Ok(rd) = std::fs::read_dir(inner.cfg.state_dir.join("netns")) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&id) {
                    let _ = peapod_net::netns::remove_pinned(&e.path());
                }
            }
        }
        Ok(())
    }
}

/// (state, start time in clock ticks) of a process, from /proc/<pid>/stat.
pub(crate) fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(19)?.parse().ok()?))
}

/// Is the infra process still the one we started (same pid and start
/// time, so a reused pid does not count) and not a zombie?
pub(crate) fn pause_alive(pid: i32, started: Option<u64>) -> bool {
    match proc_stat(pid) {
        Some((state, t)) => state != 'Z' && started.is_none_or(|s| s == t),
        None => false,
    }
}

/// Is `pid` still the shim of container `id` (and not a reused pid)? Its
/// command line carries `--id <id>`.
pub(crate) fn shim_alive(pid: i32, id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.windows(2).any(|w| w[0] == b"--id" && w[1] == id.as_bytes())
        })
        .unwrap_or(false)
}

fn read_records<T: for<'de> Deserialize<'de>>(dir: &Path, file: &str) -> Vec<T> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path().join(file);
        match std::fs::read(&p).map(|b| serde_json::from_slice::<T>(&b)) {
            Ok(Ok(r)) => out.push(r),
            Ok(Err(err)) => tracing::warn!(path = %p.display(), %err, "unreadable record"),
            Err(_) => {
                // A directory without a record: a crash before the record was
                // written; nothing inside can be mounted or running.
                let _ = crate::mounts::unmount(&e.path().join("rootfs"));
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    out
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let data = serde_json::to_vec(value)?;
    let tmp = path.with_extension("tmp");
    let res = (|| {
        let mut f = std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(&tmp)?;
        set_file_mode(&f, 0o600)?;
        f.write_all(&data)?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))
}

fn set_file_mode(f: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

pub(crate) fn set_mode(p: &Path, mode: u32) -> Result<(), RuntimeError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| RuntimeError::io(format!("chmod {}", p.display()), e))
}

/// Put the infra binary and its empty rootfs in place (rewritten only when it changed).
fn install_pause(rootfs: &Path) -> Result<(), RuntimeError> {
    use std::os::unix::fs::PermissionsExt;
    for d in ["proc", "dev", "sys", "etc", "tmp"] {
        let p = rootfs.join(d);
        std::fs::create_dir_all(&p).map_err(|e| RuntimeError::io(format!("creating {}", p.display()), e))?;
    }
    let bin = rootfs.join("pause");
    if std::fs::read(&bin).map(|b| b == crate::PAUSE_BINARY).unwrap_or(false) {
        return Ok(());
    }
    let tmp = rootfs.join(".pause.tmp");
    std::fs::write(&tmp, crate::PAUSE_BINARY)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)))
        .and_then(|_| std::fs::rename(&tmp, &bin))
        .map_err(|e| RuntimeError::io(format!("installing {}", bin.display()), e))
}

/// 64 hex characters from the kernel's CSPRNG: container and sandbox ids.
pub(crate) fn new_id() -> String {
    let mut b = [0u8; 32];
    rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).expect("getrandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Processes whose command line names `bundle` as an argument: a shim
/// (`--bundle DIR`) or the `runc create --bundle DIR` it runs.
fn bundle_processes(bundle: &Path) -> Vec<i32> {
    use std::os::unix::ffi::OsStrExt;
    let want = bundle.as_os_str().as_bytes();
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmd.split(|b| *b == 0).any(|arg| arg == want)
        })
        .collect()
}

/// SIGKILL every process working on `bundle` and wait (briefly) until they are gone.
async fn kill_bundle_processes(bundle: &Path) {
    for pid in bundle_processes(bundle) {
        let Some(p) = rustix::process::Pid::from_raw(pid) else { continue };
        let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else { continue };
        tracing::info!(pid, bundle = %bundle.display(), "killing a process left working on an interrupted container");
        let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wait_pid_exit(pid)).await;
    }
}

/// Wait until a process (not necessarily our child) has exited, via a pidfd.
pub(crate) async fn wait_pid_exit(pid: i32) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let fd = match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK) {
        Ok(fd) => fd,
        Err(_) => return, // ESRCH: already gone
    };
    // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open
    // for as long as it is registered and is closed only after deregistration.
    #[allow(unsafe_code)]
    let registered = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
    match registered {
        Ok(afd) => {
            let _ = afd.readable().await;
        }
        Err(_) => {
            // No reactor support: fall back to polling /proc.
            while Path::new(&format!("/proc/{pid}")).exists() {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

impl RuntimeService for RuncRuntime {
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        self.run_pod_sandbox_impl(config).await
    }
    async fn prepare_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        self.prepare_pod_sandbox_impl(config).await
    }
    async fn finish_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        self.finish_pod_sandbox_impl(id).await
    }
    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        self.stop_pod_sandbox_impl(id).await
    }
    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        self.remove_pod_sandbox_impl(id).await
    }
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, RuntimeError> {
        self.inner
            .sandbox(id)
            .map(|r| crate::sandbox::status_of(&r))
            .ok_or_else(|| RuntimeError::SandboxNotFound(id.into()))
    }
    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandboxStatus>, RuntimeError> {
        let recs: Vec<SandboxRecord> = self.inner.sandboxes.lock().expect("lock").values().cloned().collect();
        Ok(recs.iter().map(crate::sandbox::status_of).collect())
    }
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        self.create_container_impl(sandbox_id, config, sandbox).await
    }
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.start_container_impl(id).await
    }
    async fn stop_container(&self, id: &str, timeout_secs: i64) -> Result<(), RuntimeError> {
        self.stop_container_impl(id, timeout_secs).await
    }
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.remove_container_impl(id).await
    }
    async fn list_containers(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let recs: Vec<ContainerRecord> = self.inner.containers.lock().expect("lock").values().cloned().collect();
        Ok(recs.iter().map(|r| crate::container::status_of(&self.inner, r)).collect())
    }
    async fn list_pod(&self, uid: &str) -> Result<crate::cri::PodRuntimeState, RuntimeError> {
        let sandboxes: Vec<SandboxRecord> = self
            .inner
            .sandboxes
            .lock()
            .expect("lock")
            .values()
            .filter(|s| s.config.metadata.uid == uid)
            .cloned()
            .collect();
        let ids: std::collections::HashSet<&str> = sandboxes.iter().map(|s| s.id.as_str()).collect();
        // A container belongs to the pod by its sandbox, or by its pod-UID
        // label when its sandbox record is gone.
        let containers: Vec<ContainerRecord> = self
            .inner
            .containers
            .lock()
            .expect("lock")
            .values()
            .filter(|c| {
                ids.contains(c.sandbox_id.as_str())
                    || c.config.labels.get("io.kubernetes.pod.uid").map(String::as_str) == Some(uid)
            })
            .cloned()
            .collect();
        Ok(crate::cri::PodRuntimeState {
            sandboxes: sandboxes.iter().map(crate::sandbox::status_of).collect(),
            containers: containers.iter().map(|r| crate::container::status_of(&self.inner, r)).collect(),
        })
    }
    async fn container_status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let r = self.inner.container(id).ok_or_else(|| RuntimeError::ContainerNotFound(id.into()))?;
        Ok(crate::container::status_of(&self.inner, &r))
    }
    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: std::time::Duration,
    ) -> Result<ExecResult, RuntimeError> {
        self.exec_sync_impl(id, cmd, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn processes_working_on_a_bundle_are_found_and_killed() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("containers").join("abc");
        let other = dir.path().join("containers").join("abcd");
        let spawn = |b: &Path| {
            std::process::Command::new("sh").args(["-c", "sleep 30", "sh", "--bundle"]).arg(b).spawn().unwrap()
        };
        let (mut mine, mut theirs) = (spawn(&bundle), spawn(&other));
        let found = bundle_processes(&bundle);
        assert_eq!(found, vec![mine.id() as i32], "the exact path only");
        kill_bundle_processes(&bundle).await;
        let st = mine.wait().unwrap();
        assert!(!st.success(), "killed: {st}");
        assert!(theirs.try_wait().unwrap().is_none(), "another bundle's process is left alone");
        let _ = theirs.kill();
        let _ = theirs.wait();
    }
}
