//! Probe cost: the CPU the node agent spends on `--probe-pods` idle pods
//! that each have a liveness exec probe (`true`) and a readiness httpGet
//! probe (busybox `httpd` in the pod), both every 10 s (issue 4's figure).
//!
//! Once every pod is Running and Ready, CPU time is read at both ends of an
//! `--idle-secs` window, from separate sources because each probe kind
//! costs in a different place:
//! - the daemon's own threads (utime + stime): the API server and the node
//!   agent are one process, so this is both; httpGet probes are made here;
//! - the daemon's reaped children (cutime + cstime): each exec probe is a
//!   `runc exec`, whose CPU (and that of the `true` it waited for) the
//!   kernel adds here when the daemon reaps it;
//! - the shims, and the pods' cgroups (httpd answering, the exec'd `true`:
//!   counted there and, through runc, in the children figure too).

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use super::Bench;
use super::pods::{self, all_running, name_of};
use super::procfs::{self, CpuTimes};
use super::stats::fmt_num;

/// Pods created at once through the API.
const CONCURRENCY: usize = 8;
/// periodSeconds of both probes.
const PERIOD_SECS: u64 = 10;
const PORT: u16 = 8080;

/// An idle pod whose one container serves HTTP and has both probes. The
/// shell stays PID 1 and exits on SIGTERM, so deletion is quick.
fn probed_pod(name: &str) -> Value {
    let script = format!(
        "trap 'exit 0' TERM; mkdir -p /tmp/www && echo ok > /tmp/www/index.html; \
         httpd -f -p {PORT} -h /tmp/www & wait"
    );
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {pods::LABEL: "probes"}},
        "spec": {
            "containers": [{
                "name": "web",
                "image": "busybox:latest",
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", script],
                "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": PERIOD_SECS},
                // A second for httpd to listen: a first attempt before it
                // would fail and leave the pod unready for a whole period.
                "readinessProbe": {
                    "httpGet": {"path": "/", "port": PORT},
                    "initialDelaySeconds": 1,
                    "periodSeconds": PERIOD_SECS,
                },
            }],
        },
    })
}

/// Is the pod's Ready condition True?
fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// CPU counters at one instant.
struct Snapshot {
    at: Instant,
    daemon: CpuTimes,
    /// Sum over the shims alive at the first snapshot (ticks).
    shims: u64,
    /// The pods' cgroup tree (ns), if the host exposes it.
    pods_ns: Option<u64>,
}

fn snapshot(b: &Bench, shims: &[i32]) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        daemon: procfs::cpu_times(b.daemon.pid()).unwrap_or_default(),
        shims: shims.iter().filter_map(|p| procfs::cpu_ticks(*p)).sum(),
        pods_ns: procfs::cgroup_cpu_ns(&b.daemon.cgroup_root),
    }
}

/// Percent of one core that `ticks` clock ticks are over `secs` seconds.
fn pct(ticks: u64, secs: f64) -> f64 {
    ticks as f64 / procfs::ticks_per_second() as f64 / secs * 100.0
}

pub(crate) async fn run(b: &mut Bench) -> Result<()> {
    let n = b.args.probe_pods;
    if n == 0 {
        return Ok(());
    }
    let secs = b.args.idle_secs.max(1);
    println!(
        "\n== probes: {n} idle pods, each with a liveness exec probe (`true`) and a readiness httpGet probe \
         (busybox httpd), every {PERIOD_SECS} s; CPU over {secs} s once all are Ready"
    );
    if secs < PERIOD_SECS {
        println!("   (--idle-secs {secs} is shorter than the probe period: not every probe runs in the window)");
    }
    let sel = format!("{}=probes", pods::LABEL);
    let mut w = b.api.watch(&sel).await?;
    let names: Vec<String> = (0..n).map(|i| format!("pb-probe-{i}")).collect();
    let t0 = Instant::now();
    b.api.create_pods(names.iter().map(|nm| probed_pod(nm)).collect(), CONCURRENCY).await?;
    let timeout = Duration::from_secs(120 + n as u64);
    let t1 = w
        .until_all(timeout, "all probed pods to be Ready", &names, |ev| all_running(&ev.object) && ready(&ev.object))
        .await?;
    println!("  {n} pods Ready {} ms after the first create", fmt_num((t1 - t0).as_secs_f64() * 1000.0));
    // Let start-up work (first syncs, status writes) settle before measuring idle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let shims: Vec<i32> = procfs::processes().into_iter().filter(|p| b.daemon.is_shim(p)).map(|p| p.pid).collect();
    w.drain();
    let s0 = snapshot(b, &shims);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let s1 = snapshot(b, &shims);
    let elapsed = (s1.at - s0.at).as_secs_f64();
    // Any pod event in the window means the pods were not idle: a probe
    // failed (readiness lost, a restart) or the status kept changing.
    let changed: Vec<String> = w.take_pending().iter().map(|ev| name_of(&ev.object).to_owned()).collect();

    let own = pct(s1.daemon.own.saturating_sub(s0.daemon.own), elapsed);
    let children = pct(s1.daemon.children.saturating_sub(s0.daemon.children), elapsed);
    let shim_pct = pct(s1.shims.saturating_sub(s0.shims), elapsed);
    let pods_pct = s0.pods_ns.zip(s1.pods_ns).map(|(a, z)| z.saturating_sub(a) as f64 / 1e9 / elapsed * 100.0);
    println!(
        "  daemon (API server + node agent, one process)  {}% of a core  (~{} probes/s)",
        fmt_num(own),
        fmt_num(2.0 * n as f64 / PERIOD_SECS as f64)
    );
    println!("  daemon's reaped children (runc exec per exec probe)  {}%", fmt_num(children));
    println!(
        "  all shims {}%, the pods' cgroups (httpd, the exec'd `true`) {}",
        fmt_num(shim_pct),
        pods_pct.map_or_else(|| "not readable".to_owned(), |p| format!("{}%", fmt_num(p)))
    );
    if !changed.is_empty() {
        println!(
            "  warning: {} pod events during the window (probe failures or status churn), e.g. {}",
            changed.len(),
            changed[0]
        );
    }
    b.report.figure(&format!("CPU, {n} idle pods with probes: daemon (API + node)"), Some(own), "% of a core");
    b.report.figure(&format!("CPU, {n} idle pods with probes: runc exec children"), Some(children), "% of a core");

    b.api.delete_pods(&sel, None).await?;
    w.until_all(timeout, "all probed pods to go", &names, |ev| ev.kind == "DELETED").await?;
    b.daemon.wait_runtime_empty(timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_has_both_probes() {
        let p = probed_pod("pb-probe-1");
        assert_eq!(name_of(&p), "pb-probe-1");
        assert_eq!(p["metadata"]["labels"][pods::LABEL], "probes");
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["livenessProbe"]["exec"]["command"], json!(["true"]));
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], json!(PORT));
        assert!(c["command"][2].as_str().unwrap().contains(&format!("-p {PORT}")));
    }

    #[test]
    fn readiness_from_conditions() {
        let mut p = probed_pod("x");
        assert!(!ready(&p));
        p["status"]["conditions"] =
            json!([{"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}]);
        assert!(!ready(&p));
        p["status"]["conditions"][0]["status"] = json!("True");
        assert!(ready(&p));
    }

    #[test]
    fn percent_of_a_core() {
        let hz = procfs::ticks_per_second();
        assert!((pct(hz, 10.0) - 10.0).abs() < 1e-9);
        assert!((pct(0, 10.0)).abs() < 1e-9);
    }
}
