//! App containers: overlay rootfs from the image, OCI bundle, a shim that
//! runs `runc create` and keeps the logs and the exit code, then start,
//! stop (signal, grace period, SIGKILL) and remove.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::RuntimeError;
use crate::cri::*;
use crate::mounts;
use crate::service::{ContainerRecord, Inner, RuncRuntime, new_id, wait_pid_exit};
use crate::shim::ShimArgs;
use crate::spec::{ContainerSpecInput, EtcFiles, container_spec};

/// Longest we wait for `runc create` (via the shim) to answer.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn status_of(inner: &Inner, r: &ContainerRecord) -> ContainerStatus {
    let exit = inner.exit_record(&r.id);
    let gone = inner.shim_gone.lock().expect("lock").contains(&r.id);
    let mut st = ContainerStatus {
        id: r.id.clone(),
        sandbox_id: r.sandbox_id.clone(),
        metadata: r.config.metadata.clone(),
        state: ContainerState::Unknown,
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: None,
        exit_code: None,
        reason: None,
        message: None,
        image: r.config.image.clone(),
        image_id: r.config.image_id.clone(),
        labels: r.config.labels.clone(),
        annotations: r.config.annotations.clone(),
        log_path: r.config.log_path.clone(),
        pid: r.pid,
    };
    if let Some(x) = exit {
        st.state = ContainerState::Exited;
        st.finished_at = Some(x.finished_at);
        st.exit_code = Some(x.exit_code);
        st.reason = Some(
            if x.oom_killed {
                "OOMKilled"
            } else if x.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .into(),
        );
        if r.started_at.is_none() {
            // Killed before it was ever started (e.g. the pod was deleted).
            st.started_at = None;
        }
        if !r.config.termination_message_path.is_empty() {
            st.message = inner.termination_message(&r.id).filter(|m| !m.is_empty());
        }
    } else if gone {
        st.state = ContainerState::Exited;
        st.exit_code = Some(137);
        st.reason = Some("ContainerStatusUnknown".into());
        st.message = Some("The container could not be located when the pod was terminated".into());
        st.finished_at = Some(jiff::Timestamp::now());
    } else if r.started_at.is_some() {
        st.state = ContainerState::Running;
    } else if r.shim_pid.is_some() {
        st.state = ContainerState::Created;
    }
    st
}

/// Reap our own shim child and report its exit.
fn watch_shim_child(inner: Arc<Inner>, id: String, mut child: tokio::process::Child) {
    tokio::spawn(async move {
        let _ = child.wait().await;
        inner.on_shim_exit(&id);
    });
}

/// Watch a shim that is not our child (recovered after a daemon restart).
pub(crate) fn watch_shim_pid(inner: Arc<Inner>, id: String, pid: i32) {
    tokio::spawn(async move {
        wait_pid_exit(pid).await;
        inner.on_shim_exit(&id);
    });
}

impl RuncRuntime {
    pub(crate) async fn create_container_impl(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
        sandbox: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        let inner = &self.inner;
        // Counted before the record is read: the sandbox's pins stay while
        // this create may open them.
        let creating = crate::sandbox::Creating::new(inner, sandbox_id);
        let sb = inner.sandbox(sandbox_id).ok_or_else(|| RuntimeError::SandboxNotFound(sandbox_id.into()))?;
        // The pause must run, except in a sandbox still being finished (its
        // namespaces are pinned until the pause holds them), for a container
        // that does not join the pause's PID namespace.
        let pause_pid = match sb.pause_pid {
            _ if sb.stopped => return Err(RuntimeError::SandboxNotReady(sandbox_id.into())),
            Some(p) if crate::service::pause_alive(p, sb.pause_started) => Some(p),
            None if !sb.config.share_pid => None,
            _ => return Err(RuntimeError::SandboxNotReady(sandbox_id.into())),
        };
        // NamespaceMode TARGET: the target must be running (its namespace
        // is reached through its main process).
        let target_pid = match &config.pid_target {
            Some(t) => match inner.container(t).and_then(|r| r.pid) {
                Some(pid) if !inner.has_exited(t) => Some(pid),
                _ => return Err(RuntimeError::ContainerNotRunning(t.clone())),
            },
            None => None,
        };
        let id = new_id();
        let dir = inner.container_dir(&id);
        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
        let rec = ContainerRecord {
            id: id.clone(),
            sandbox_id: sandbox_id.into(),
            config: config.clone(),
            created_at: jiff::Timestamp::now(),
            started_at: None,
            shim_pid: None,
            pid: None,
            cgroup: format!("{}/{}", sb.config.cgroup_parent.trim_end_matches('/'), id),
            // Every container of a sandbox runs on the sandbox's handler.
            runtime_handler: sb.runtime_handler.clone(),
            runtime_binary: sb.runtime_binary.clone(),
        };
        inner.save_container(&rec)?;
        let res = self.setup_container(rec, pause_pid, target_pid, &sb, sandbox).await;
        drop(creating);
        match res {
            Ok(()) => Ok(id),
            Err(e) => {
                if let Err(ce) = self.remove_container_impl(&id).await {
                    tracing::warn!(container = %id, error = %ce, "cleanup after a failed create");
                }
                Err(e)
            }
        }
    }

    async fn setup_container(
        &self,
        mut rec: ContainerRecord,
        pause_pid: Option<i32>,
        target_pid: Option<i32>,
        sb: &crate::service::SandboxRecord,
        sandbox: &PodSandboxConfig,
    ) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let dir = inner.container_dir(&rec.id);
        let rootfs = dir.join("rootfs");

        let provider = inner.rootfs.clone();
        let (image_id, d) = (rec.config.image_id.clone(), dir.clone());
        let rootfs_mounts = tokio::task::spawn_blocking(move || provider.prepare(&image_id, &d))
            .await
            .map_err(|e| RuntimeError::Rootfs(e.to_string()))?
            .map_err(RuntimeError::Rootfs)?;
        std::fs::create_dir_all(&rootfs).map_err(|e| RuntimeError::io("creating the rootfs mount point", e))?;
        for m in &rootfs_mounts {
            mounts::mount(m, &rootfs).map_err(|e| RuntimeError::Rootfs(e.to_string()))?;
        }
        let user = crate::user::resolve(&rootfs, &rec.config.security)?;
        let sec = &rec.config.security;
        let host_devices = if sec.privileged { host_devices(Path::new("/dev")) } else { vec![] };
        let seccomp_localhost = match &sec.seccomp {
            SeccompProfile::Localhost(p) if !sec.privileged => Some(load_seccomp(p)?),
            _ => None,
        };
        let term_log = dir.join("termination-log");
        std::fs::write(&term_log, b"").map_err(|e| RuntimeError::io("creating the termination log", e))?;
        if let Some(parent) = rec.config.log_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| RuntimeError::io(format!("creating {}", parent.display()), e))?;
        }

        let runc = inner.container_runc(&rec);
        let sdir = inner.sandbox_dir(&sb.id);
        let shm = sdir.join("shm");
        let (hostname, hosts, resolv) = (sdir.join("hostname"), sdir.join("hosts"), sdir.join("resolv.conf"));
        let spec = container_spec(&ContainerSpecInput {
            config: &rec.config,
            sandbox,
            rootfs: &rootfs,
            netns: sb.netns.as_deref(),
            ipc_ns: sb.ipc_ns.as_deref(),
            uts_ns: sb.uts_ns.as_deref(),
            pause_pid,
            target_pid,
            shm: Some(&shm),
            etc: EtcFiles { hostname: &hostname, hosts: &hosts, resolv_conf: &resolv },
            termination_log: Some(&term_log),
            user,
            cgroups_path: rec.cgroup.clone(),
            limits: &inner.limits,
            host_devices: &host_devices,
            seccomp_localhost: seccomp_localhost.as_ref(),
        });
        crate::service::write_json(&dir.join("config.json"), &spec)?;

        let args = ShimArgs {
            id: rec.id.clone(),
            bundle: dir.clone(),
            runc: runc.binary.clone(),
            runc_root: runc.root.clone(),
            log_path: rec.config.log_path.clone(),
            exit_file: dir.join("exit.json"),
            pid_file: dir.join("pid"),
            runc_log: dir.join("runc.log"),
            cgroup: rec.cgroup.clone(),
            stdin: rec.config.stdin,
            tty: rec.config.tty,
            log_max_size: inner.cfg.log_max_size,
            log_max_files: inner.cfg.log_max_files,
        };
        let mut child = tokio::process::Command::new(&inner.cfg.shim.program)
            .args(&inner.cfg.shim.args)
            .args(args.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| RuntimeError::io(format!("starting the shim {}", inner.cfg.shim.program.display()), e))?;
        let shim_pid = child.id().map(|p| p as i32);
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let answer = tokio::time::timeout(CREATE_TIMEOUT, lines.next_line()).await;
        drop(lines);
        let line = match answer {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => String::from("error the shim exited without answering"),
            Ok(Err(e)) => format!("error reading from the shim: {e}"),
            Err(_) => {
                let _ = child.start_kill();
                String::from("error timed out creating the container")
            }
        };
        // From here on the shim is registered: its exit is always observed.
        rec.shim_pid = shim_pid;
        if let Some(pid) = line.strip_prefix("ok ") {
            rec.pid = pid.trim().parse().ok();
            inner.save_container(&rec)?;
            watch_shim_child(inner.clone(), rec.id.clone(), child);
            return Ok(());
        }
        // Creation failed: reap the shim, report runc's message.
        let _ = child.wait().await;
        inner.shim_gone.lock().expect("lock").insert(rec.id.clone());
        inner.save_container(&rec)?;
        Err(RuntimeError::CreateFailed(line.strip_prefix("error ").unwrap_or(&line).to_owned()))
    }

    pub(crate) async fn start_container_impl(&self, id: &str) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let mut rec = inner.container(id).ok_or_else(|| RuntimeError::ContainerNotFound(id.into()))?;
        inner.container_runc(&rec).start(id).await?;
        rec.started_at = Some(jiff::Timestamp::now());
        inner.save_container(&rec)
    }

    /// Wait until the container's exit is recorded, up to `timeout`.
    async fn wait_exited(&self, id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.inner.has_exited(id) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) async fn stop_container_impl(&self, id: &str, timeout_secs: i64) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let Some(rec) = inner.container(id) else {
            return Ok(());
        };
        if inner.has_exited(id) || rec.shim_pid.is_none() {
            return Ok(());
        }
        let runc = inner.container_runc(&rec);
        if timeout_secs > 0 {
            let sig = rec.config.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into());
            runc.kill(id, &sig, false).await?;
            if self.wait_exited(id, Duration::from_secs(timeout_secs as u64)).await {
                return Ok(());
            }
        }
        // SIGKILL every process of the container (with a shared PID
        // namespace, killing init alone would leave its children).
        runc.kill(id, "KILL", true).await?;
        if !self.wait_exited(id, Duration::from_secs(10)).await {
            return Err(RuntimeError::io(
                format!("container {id} did not exit after SIGKILL"),
                std::io::Error::from(std::io::ErrorKind::TimedOut),
            ));
        }
        Ok(())
    }

    pub(crate) async fn remove_container_impl(&self, id: &str) -> Result<(), RuntimeError> {
        let inner = &self.inner;
        let Some(rec) = inner.container(id) else {
            return Ok(());
        };
        let mut first: Option<RuntimeError> = None;
        if let Err(e) = self.stop_container_impl(id, 0).await {
            first.get_or_insert(e);
        }
        if let Err(e) = inner.container_runc(&rec).delete(id, true).await {
            first.get_or_insert(e);
        }
        let dir = inner.container_dir(id);
        for m in mounts::mounts_under(&dir) {
            if let Err(e) = mounts::unmount(&m) {
                first.get_or_insert(RuntimeError::io("unmounting the container rootfs", e));
            }
        }
        let provider = inner.rootfs.clone();
        let d = dir.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || provider.cleanup(&d)).await {
            first.get_or_insert(RuntimeError::Rootfs(e));
        }
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            first.get_or_insert(RuntimeError::io(format!("removing {}", dir.display()), e));
        }
        // The log file and its rotated copies go with the container
        // (kubelet's removeContainerLog).
        let _ = std::fs::remove_file(&rec.config.log_path);
        for old in crate::shim::log_file::rotated_logs(&rec.config.log_path).unwrap_or_default() {
            let _ = std::fs::remove_file(old);
        }
        inner.containers.lock().expect("lock").remove(id);
        inner.shim_gone.lock().expect("lock").remove(id);
        inner.messages.lock().expect("lock").remove(id);
        first.map_or(Ok(()), Err)
    }

    pub(crate) async fn exec_sync_impl(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        let inner = &self.inner;
        let rec = inner.container(id).ok_or_else(|| RuntimeError::ContainerNotFound(id.into()))?;
        let runc = inner.container_runc(&rec);
        // The exec'd process's pid, so a timeout can kill it: killing `runc
        // exec` alone would leave it running in the container (a probe that
        // hangs every period would pile them up).
        let pid_file = inner.container_dir(id).join(format!("exec-{}.pid", &new_id()[..16]));
        let mut c = tokio::process::Command::new(&runc.binary);
        c.arg("--root").arg(&runc.root).arg("exec").arg("--pid-file").arg(&pid_file).arg(id).args(cmd);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let child = c.spawn().map_err(|e| RuntimeError::io("running runc exec", e))?;
        let result = tokio::time::timeout(timeout, child.wait_with_output()).await;
        if result.is_err()
            && let Ok(pid) = crate::runc::read_pid(&pid_file)
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        let _ = std::fs::remove_file(&pid_file);
        match result {
            Ok(Ok(out)) => Ok(ExecResult {
                stdout: out.stdout,
                stderr: out.stderr,
                exit_code: out
                    .status
                    .code()
                    .unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0)),
                timed_out: false,
            }),
            Ok(Err(e)) => Err(RuntimeError::io("waiting for runc exec", e)),
            Err(_) => Ok(ExecResult { stdout: vec![], stderr: vec![], exit_code: -1, timed_out: true }),
        }
    }
}

/// The host's device nodes, as runc's `HostDevices` finds them: everything
/// under /dev but the pseudo-terminal, shm, mqueue and fd directories and
/// /dev/console (runc makes its own).
pub(crate) fn host_devices(dev: &Path) -> Vec<crate::oci::Device> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dev) else { return out };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let Ok(st) = rustix::fs::lstat(&path) else { continue };
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        match kind {
            rustix::fs::FileType::Directory
                if !matches!(name.as_str(), "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev") =>
            {
                out.extend(host_devices(&path));
            }
            rustix::fs::FileType::CharacterDevice | rustix::fs::FileType::BlockDevice | rustix::fs::FileType::Fifo
                if name != "console" =>
            {
                out.push(crate::oci::Device {
                    kind: match kind {
                        rustix::fs::FileType::CharacterDevice => "c",
                        rustix::fs::FileType::BlockDevice => "b",
                        _ => "p",
                    }
                    .into(),
                    path: path.to_string_lossy().into_owned(),
                    major: i64::from(rustix::fs::major(st.st_rdev)),
                    minor: i64::from(rustix::fs::minor(st.st_rdev)),
                    file_mode: Some(st.st_mode & 0o7777),
                    uid: Some(st.st_uid),
                    gid: Some(st.st_gid),
                });
            }
            _ => {}
        }
    }
    out
}

/// A `Localhost` seccomp profile: OCI seccomp JSON in a file on the node.
fn load_seccomp(path: &Path) -> Result<serde_json::Value, RuntimeError> {
    let text = std::fs::read(path)
        .map_err(|e| RuntimeError::io(format!("reading the seccomp profile {}", path.display()), e))?;
    Ok(serde_json::from_slice(&text)?)
}

/// The last `max` bytes of a file (kubelet's tail.ReadAtMost).
pub(crate) fn read_tail(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_devices_finds_dev_null_and_skips_pts() {
        let devs = host_devices(Path::new("/dev"));
        let null = devs.iter().find(|d| d.path == "/dev/null").expect("/dev/null");
        assert_eq!((null.kind.as_str(), null.major, null.minor), ("c", 1, 3));
        assert!(devs.iter().all(|d| !d.path.starts_with("/dev/pts/") && d.path != "/dev/console"));
    }

    #[test]
    fn tail_reads_the_end() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_tail(&p, 4).unwrap(), b"6789");
        assert_eq!(read_tail(&p, 100).unwrap(), b"0123456789");
    }
}
