//! podman as the peer: the same pod files through `podman kube play` and
//! `podman kube down`, with runc as its OCI runtime and a containers.conf of
//! the benchmark's own (`CONTAINERS_CONF`) whose `default_ulimits` stay
//! within this process's hard limits: podman's default RLIMIT_NOFILE of
//! 1048576 fails on a host whose root lacks CAP_SYS_RESOURCE
//! (node-env.md §2.1). busybox is imported into podman from the same tar,
//! under the name `image: busybox:latest` resolves to, so
//! `imagePullPolicy: IfNotPresent` finds it locally.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::procfs::{self, Mem};

/// Every benchmark pod's name starts with this (see the phases).
pub const POD_PREFIX: &str = "pb-";

pub struct Podman {
    conf: PathBuf,
    pub version: String,
}

/// Memory of the pods podman runs, split like peapod's.
#[derive(Debug, Default)]
pub struct PodmanMem {
    pub pods: usize,
    /// conmon (one per container, the infra's included).
    pub conmon: Mem,
    /// The infra container's catatonit.
    pub infra: Mem,
    /// The app processes.
    pub apps: Mem,
}

impl Podman {
    /// podman, if it is installed and answers.
    pub fn detect() -> Option<String> {
        let out = Command::new("podman").arg("--version").stderr(Stdio::null()).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Write the containers.conf into `dir` and import busybox from `tar`.
    pub fn setup(dir: &Path, busybox_tar: &Path) -> Result<Podman> {
        let version = Self::detect().context("podman is not installed (apt-get install podman)")?;
        // podman's own defaults (nofile 1048576, nproc 32768), clamped to
        // our hard limits. Not higher: a value above podman's nproc default
        // fails even when it is within our hard limit.
        let hard = |r| rustix::process::getrlimit(r).maximum.unwrap_or(u64::MAX);
        let nofile = hard(rustix::process::Resource::Nofile).min(1 << 20);
        let nproc = hard(rustix::process::Resource::Nproc).min(32768);
        let conf = dir.join("containers.conf");
        let text = format!(
            "# Written by peapod bench: limits within this host's hard limits (node-env.md §2.1).\n\
             [containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
             [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
        );
        std::fs::write(&conf, text).with_context(|| format!("writing {}", conf.display()))?;
        let p = Podman { conf, version };
        let out = p
            .command()
            .arg("import")
            // As `peapod image import` does: without a PATH, kube play finds no `sh`.
            .args(["--change", "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
            .arg(busybox_tar)
            .arg("docker.io/library/busybox:latest")
            .output()
            .context("running podman import")?;
        if !out.status.success() {
            bail!("podman import failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        // Pods of an earlier, interrupted benchmark would make `kube play` fail.
        let out = p.command().args(["pod", "ls", "--format", "{{.Name}}"]).output().context("running podman pod ls")?;
        let stale: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|n| n.starts_with(POD_PREFIX))
            .map(str::to_owned)
            .collect();
        p.force_remove(&stale);
        Ok(p)
    }

    fn command(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf).args(["--runtime", "runc"]).stdin(Stdio::null());
        c
    }

    fn timed(&self, args: &[&str], file: &Path) -> Result<Duration> {
        let t0 = Instant::now();
        let out = self.command().args(args).arg(file).output().context("running podman")?;
        let took = t0.elapsed();
        if !out.status.success() {
            bail!(
                "podman {} {} failed: {}",
                args.join(" "),
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(took)
    }

    /// `podman kube play FILE`: returns when every container has started.
    pub fn play(&self, file: &Path) -> Result<Duration> {
        self.timed(&["kube", "play"], file)
    }

    /// `podman kube down FILE`: returns when the pods are removed.
    pub fn down(&self, file: &Path) -> Result<Duration> {
        self.timed(&["kube", "down"], file)
    }

    /// Best effort removal of pods by name (after an error or an interrupt).
    pub fn force_remove(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let _ = self.command().args(["pod", "rm", "-f", "-t", "0", "--ignore"]).args(names).output();
    }

    /// conmon, catatonit and app memory of the pods whose names start with `prefix`.
    pub fn memory(&self, prefix: &str) -> Result<PodmanMem> {
        let out = self
            .command()
            // `.PodName` is empty without --pod.
            .args(["ps", "-a", "--pod", "--format", "{{.ID}} {{.PodName}}"])
            .output()
            .context("running podman ps")?;
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, pod)| pod.starts_with(prefix))
            .map(|(id, _)| id.to_owned())
            .collect();
        let mut m = PodmanMem::default();
        if ids.is_empty() {
            return Ok(m);
        }
        let out = self
            .command()
            .args(["inspect", "--format", "{{.State.Pid}} {{.State.ConmonPid}} {{.IsInfra}}"])
            .args(&ids)
            .output()
            .context("running podman inspect")?;
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (Some(pid), Some(conmon), Some(infra)) = (f.first(), f.get(1), f.get(2)) else { continue };
            let (pid, conmon): (i32, i32) = (pid.parse().unwrap_or(0), conmon.parse().unwrap_or(0));
            m.conmon += procfs::mem(conmon).unwrap_or_default();
            if *infra == "true" {
                m.pods += 1;
                m.infra += procfs::mem(pid).unwrap_or_default();
            } else {
                m.apps += procfs::mem(pid).unwrap_or_default();
            }
        }
        Ok(m)
    }
}
