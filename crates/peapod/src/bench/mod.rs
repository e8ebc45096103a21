//! `peapod bench`: measure the speed, memory and API figures issue 7 sets
//! targets for, on this machine, against a private daemon, and optionally
//! against podman in the same run.
//!
//! Phases (each can be chosen with `--only`):
//! - **start**: `peapod apply -f POD` until a watch shows every container
//!   Running, for a 1-container pod and examples/my-web.yaml, `--runs`
//!   times after one untimed warm-up; with `--compare podman`, `podman kube
//!   play` of the same file, interleaved run by run (alternating which goes
//!   first, so load drifts hit both alike);
//! - **churn**: `--churn` pods applied from one file, Running, deleted and
//!   gone, as pods per second (podman: `kube play` / `kube down` of the file);
//! - **density**: `--density` idle one-container pods; PSS of the pause
//!   processes and shims (what each pod costs besides the app), the
//!   daemon's RSS, and its CPU use over `--idle-secs`; podman's conmon +
//!   catatonit for `--podman-density` pods;
//! - **api**: `--api-pods` pods bound to another node (so only the API
//!   server and store hold them): list latency, and watch latency (a label
//!   PATCH until its event arrives on an open watch);
//! - **exit** ([`exit`]): a container SIGKILLed from the host until a watch
//!   shows it terminated, `--runs` times (issue 4's figure);
//! - **probes** ([`probes`]): the daemon's CPU with `--probe-pods` idle pods
//!   that have liveness and readiness probes, over `--idle-secs` (issue 4).
//!
//! The daemon is this binary's `serve`, started with its own port, dirs,
//! cgroup root, bridge and subnet ([`daemon`]); everything it made is
//! removed at the end, also after an error or Ctrl-C.

mod api;
mod churn;
mod daemon;
mod density;
mod exit;
mod latency;
mod podman;
mod pods;
mod probes;
mod procfs;
mod report;
mod start;
mod stats;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use self::api::Api;
use self::daemon::{BenchDaemon, DaemonOptions};
use self::podman::Podman;
use self::report::Report;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Timed start-latency runs per pod kind (after one untimed warm-up),
    /// and timed container exits in the exit phase.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Pods created, run and deleted in the churn phase.
    #[arg(long, default_value_t = 50)]
    pub churn: usize,
    /// Idle one-container pods in the density phase.
    #[arg(long, default_value_t = 200)]
    pub density: usize,
    /// Seconds over which the daemon's idle CPU use is measured (density
    /// and probes phases).
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// Idle pods with liveness and readiness probes in the probes phase.
    #[arg(long, default_value_t = 100)]
    pub probe_pods: usize,
    /// Pods held by the API server in the API phase.
    #[arg(long, default_value_t = 1000)]
    pub api_pods: usize,
    /// Timed list requests and watch events in the API phase.
    #[arg(long, default_value_t = 50)]
    pub api_runs: usize,
    /// Run the same pods through podman too and print the ratios (`podman`).
    #[arg(long, value_name = "PEER")]
    pub compare: Option<String>,
    /// Pods in podman's density run (fewer than --density: podman's
    /// `kube down` takes seconds per pod).
    #[arg(long, default_value_t = 20)]
    pub podman_density: usize,
    /// busybox rootfs tarball to import (default: built with
    /// scripts/make-busybox-rootfs.sh from the current directory).
    #[arg(long, value_name = "TAR")]
    pub busybox_tar: Option<PathBuf>,
    /// Phases to run, comma-separated: start, churn, density, api, exit,
    /// probes.
    #[arg(long, value_delimiter = ',', default_value = "start,churn,density,api,exit,probes")]
    pub only: Vec<String>,
    /// The daemon's log filter (its log is in the benchmark's temp dir).
    #[arg(long, default_value = "info")]
    pub daemon_log_level: String,
    /// A CNI conflist for the daemon instead of the default one it writes
    /// (to measure what another network configuration costs). Its bridge
    /// name and subnet are replaced by the benchmark's own.
    #[arg(long, value_name = "FILE")]
    pub cni_conflist: Option<PathBuf>,
}

/// Shared by the phases.
pub(crate) struct Bench {
    pub args: BenchArgs,
    pub daemon: BenchDaemon,
    pub api: Api,
    pub podman: Option<Podman>,
    /// Where pod files are written.
    pub files: PathBuf,
    pub report: Report,
    /// podman pods that may exist, for cleanup after an error.
    pub podman_pods: Vec<String>,
}

impl Bench {
    /// Write a pod file for `apply -f` / `kube play`.
    pub fn write_file(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.files.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    }

    /// Run `peapod <args>` (the CLI, as a user would) and wait for it.
    pub async fn cli(&self, args: &[&str]) -> Result<()> {
        let mut c = tokio::process::Command::from(self.daemon.cli());
        let out = c.args(args).output().await.context("running the peapod client")?;
        if !out.status.success() {
            bail!("peapod {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

pub fn main(a: BenchArgs) -> i32 {
    if !rustix::process::geteuid().is_root() {
        eprintln!("error: peapod bench must run as root (it runs a daemon that creates namespaces and cgroups)");
        return 1;
    }
    crate::run_async(run(a))
}

/// The phases `--only` can name, in the order they run.
const PHASES: [&str; 6] = ["start", "churn", "density", "api", "exit", "probes"];

async fn run(a: BenchArgs) -> Result<()> {
    for p in &a.only {
        if !PHASES.contains(&p.as_str()) {
            bail!("unknown phase {p:?} (phases: {})", PHASES.join(", "));
        }
    }
    if let Some(peer) = &a.compare
        && peer != "podman"
    {
        bail!("--compare supports only podman, not {peer:?}");
    }
    let exe = std::env::current_exe().context("locating the peapod binary")?;
    let daemon = BenchDaemon::start(&DaemonOptions {
        exe,
        log_level: a.daemon_log_level.clone(),
        cni_conflist: a.cni_conflist.clone(),
    })?;
    let files = daemon.base.join("pods");
    std::fs::create_dir_all(&files).with_context(|| format!("creating {}", files.display()))?;
    let tar = match &a.busybox_tar {
        Some(t) => t.clone(),
        None => build_busybox_tar(&daemon.base)?,
    };
    let api = Api::connect(&daemon.kubeconfig, "default")?;
    let mut b = Bench { args: a, daemon, api, podman: None, files, report: Report::default(), podman_pods: vec![] };

    let result = tokio::select! {
        r = phases(&mut b, &tar) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    if result.is_err() {
        eprintln!("--- daemon log (last lines):\n{}", b.daemon.log_tail(30));
    }
    // Leave nothing: our pods through the API (the normal path), podman's
    // by force, then whatever the daemon could not remove.
    // API-phase pods are bound to a node that does not exist: only a
    // grace period of 0 removes them.
    let _ = b.api.delete_pods(&format!("{}=api", pods::LABEL), Some(0)).await;
    let _ = b.api.delete_pods(pods::LABEL, Some(1)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && b.api.list_pods(Some(pods::LABEL), "application/json").await.is_ok_and(|x| x.0 > 0)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Pods whose objects went first (terminal ones) may still be being torn
    // down; wait for that only from a daemon that still answers.
    if b.api.list_pods(Some(pods::LABEL), "application/json").await.is_ok_and(|x| x.0 == 0) {
        let _ = b.daemon.wait_runtime_empty(Duration::from_secs(30)).await;
    }
    if let Some(p) = &b.podman {
        p.force_remove(&b.podman_pods);
    }
    let forced = b.daemon.cleanup();
    if !forced.is_empty() {
        println!("\ncleanup: the daemon left {} things that were removed by force:", forced.len());
        for f in forced.iter().take(20) {
            println!("  {f}");
        }
    }
    result
}

async fn phases(b: &mut Bench, tar: &Path) -> Result<()> {
    let runc = std::process::Command::new("runc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_owned())
        .unwrap_or_default();
    println!(
        "peapod bench: peapod {} ({} build), {runc}, {} CPUs, load average {}",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "DEBUG — figures are not representative" } else { "release" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    b.daemon.cli_ok(&["image", "import", &tar.to_string_lossy(), "busybox:latest"])?;
    if b.args.compare.is_some() {
        let p = tokio::task::block_in_place(|| Podman::setup(&b.daemon.base, tar))?;
        println!("peer: {} with --runtime runc (CONTAINERS_CONF with default_ulimits)", p.version);
        b.podman = Some(p);
    }
    let only = b.args.only.clone();
    if only.iter().any(|p| p == "start") {
        start::run(b).await?;
    }
    if only.iter().any(|p| p == "churn") {
        churn::run(b).await?;
    }
    if only.iter().any(|p| p == "density") {
        density::run(b).await?;
    }
    if only.iter().any(|p| p == "api") {
        latency::run(b).await?;
    }
    if only.iter().any(|p| p == "exit") {
        exit::run(b).await?;
    }
    if only.iter().any(|p| p == "probes") {
        probes::run(b).await?;
    }
    println!("\nload average at the end: {}", loadavg());
    println!("\ntargets (issue 7) and figures (issue 4):\n{}", b.report.render());
    Ok(())
}

/// The 1/5/15-minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Build the busybox rootfs with the repository's script (run from a checkout).
fn build_busybox_tar(dir: &Path) -> Result<PathBuf> {
    let script = Path::new("scripts/make-busybox-rootfs.sh");
    if !script.exists() {
        bail!("pass --busybox-tar, or run from the peapod checkout (scripts/make-busybox-rootfs.sh builds the image)");
    }
    let tar = dir.join("busybox.tar");
    let out = std::process::Command::new("bash").arg(script).arg(&tar).output().context("running the script")?;
    if !out.status.success() {
        bail!("make-busybox-rootfs.sh failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(tar)
}
