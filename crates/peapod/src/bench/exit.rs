//! Exit latency: how long after a container's exit its `terminated` state
//! reaches the API (issue 4's figure). The benchmark makes the exit itself,
//! so its instant is measured, not guessed: it SIGKILLs the container's
//! main process from the host (a signal from outside the container's PID
//! namespace, which PID 1 cannot ignore) and takes the time right before
//! the kill; the end is the arrival of the pod event whose status shows
//! that container terminated, on a watch open the whole time.
//!
//! All pods are started first (one more than `--runs`: the first kill is an
//! untimed warm-up) and then killed one at a time, each kill waiting for its
//! event, so the exits do not queue behind each other. The runtime's own
//! record of the exit (`exit.json`, written by the shim) splits the time
//! into "the shim saw the exit" and "the status reached the API".

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::Bench;
use super::pods::{self, all_running, name_of};
use super::procfs;
use super::stats::Samples;

/// Pods created at once through the API.
const CONCURRENCY: usize = 8;
/// What a container killed by SIGKILL reports: 128 + 9.
const KILLED_EXIT_CODE: i64 = 137;

/// A one-container pod that is not restarted once its container exits.
fn exiting_pod(name: &str) -> Value {
    let mut pod = pods::one_container(name, "exit");
    pod["spec"]["restartPolicy"] = json!("Never");
    pod
}

/// The runtime's container id from a `containerID` (`runc://<id>`).
fn runtime_id(container_id: &str) -> Option<&str> {
    container_id.split_once("://").map(|(_, id)| id).filter(|id| !id.is_empty())
}

/// The id of the pod's first container, once the status names it.
fn first_container_id(pod: &Value) -> Option<String> {
    let id = pod.pointer("/status/containerStatuses/0/containerID")?.as_str()?;
    runtime_id(id).map(str::to_owned)
}

/// The exit code if the status shows the container `id` terminated.
fn terminated_exit_code(pod: &Value, id: &str) -> Option<i64> {
    let statuses = pod.pointer("/status/containerStatuses")?.as_array()?;
    let c = statuses.iter().find(|c| c["containerID"].as_str().and_then(runtime_id) == Some(id))?;
    let t = c.pointer("/state/terminated")?;
    Some(t["exitCode"].as_i64().unwrap_or(-1))
}

/// The main process of container `id`, from the runtime's record
/// (`<state-dir>/containers/<id>/container.json`, field `pid`).
fn main_pid(state_dir: &Path, id: &str) -> Result<i32> {
    let path = state_dir.join("containers").join(id).join("container.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let rec: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let pid = rec["pid"].as_i64().with_context(|| format!("{} has no pid", path.display()))?;
    i32::try_from(pid).with_context(|| format!("pid {pid} in {}", path.display()))
}

/// When the shim recorded the exit (`exit.json`'s `finishedAt`).
fn exit_recorded_at(state_dir: &Path, id: &str) -> Option<jiff::Timestamp> {
    let path = state_dir.join("containers").join(id).join("exit.json");
    peapod_runtime::shim::ExitRecord::read(&path).ok().flatten().map(|r| r.finished_at)
}

#[derive(Default)]
struct Figures {
    /// Kill → the watch event with `state.terminated` (the figure).
    total: Samples,
    /// Kill → the shim's exit record.
    shim: Samples,
    /// The shim's exit record → the watch event.
    report: Samples,
}

pub(crate) async fn run(b: &mut Bench) -> Result<()> {
    let n = b.args.runs;
    if n == 0 {
        return Ok(());
    }
    println!("\n== exit: container SIGKILLed from the host → watch event with state.terminated, n={n} after 1 warm-up");
    println!("   {} idle pods (restartPolicy Never) started first, then killed one at a time", n + 1);
    let sel = format!("{}=exit", pods::LABEL);
    let mut w = b.api.watch(&sel).await?;
    let names: Vec<String> = (0..=n).map(|i| format!("pb-exit-{i}")).collect();
    b.api.create_pods(names.iter().map(|nm| exiting_pod(nm)).collect(), CONCURRENCY).await?;
    let timeout = Duration::from_secs(120 + n as u64);
    let mut ids: HashMap<String, String> = HashMap::new();
    w.until_all(timeout, "all exit pods to run", &names, |ev| match first_container_id(&ev.object) {
        Some(id) if all_running(&ev.object) => {
            ids.insert(name_of(&ev.object).to_owned(), id);
            true
        }
        _ => false,
    })
    .await?;

    let mut f = Figures::default();
    for (i, name) in names.iter().enumerate() {
        let id = &ids[name];
        let pid = main_pid(&b.daemon.state_dir, id)?;
        // The pid must still be this container's process, not a reused one.
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map(|t| procfs::parse_cgroup(&t));
        if !cgroup.as_deref().is_ok_and(|c| procfs::under(c, &b.daemon.cgroup_root)) {
            bail!("the main process {pid} of {name}'s container {id} is not in the benchmark's cgroups");
        }
        let pid = rustix::process::Pid::from_raw(pid).context("container pid 0")?;
        w.drain();
        // Both clocks right before the kill: the monotonic one for the
        // watch, the wall clock to compare with the shim's record.
        let wall = jiff::Timestamp::now();
        let t0 = Instant::now();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL)
            .with_context(|| format!("killing {name}'s container (pid {pid:?})"))?;
        let mut code = None;
        let at = w
            .until(Duration::from_secs(60), &format!("{name}'s container to be reported terminated"), |_, ev| {
                code = (name_of(&ev.object) == name).then(|| terminated_exit_code(&ev.object, id)).flatten();
                code.is_some()
            })
            .await?;
        if code != Some(KILLED_EXIT_CODE) {
            bail!("{name}'s container terminated with exit code {code:?}, not {KILLED_EXIT_CODE} (SIGKILL)");
        }
        if i == 0 {
            continue;
        }
        f.total.push_duration(at - t0);
        if let Some(rec) = exit_recorded_at(&b.daemon.state_dir, id) {
            // The shim recorded the exit `shim` after the kill; the event
            // arrived `at - t0` after it: the rest is the node and the API.
            let shim = rec.duration_since(wall).as_secs_f64() * 1000.0;
            f.shim.push(shim);
            f.report.push((at - t0).as_secs_f64() * 1000.0 - shim);
        }
    }
    println!("  kill → status in the API (watch)   {}", f.total.summary("ms"));
    println!("    kill → the shim recorded the exit {}", f.shim.summary("ms"));
    println!("    shim's record → watch event      {}", f.report.summary("ms"));
    b.report.figure("container exit -> status in API (median)", f.total.median(), " ms");
    b.report.figure("container exit -> status in API (p90)", f.total.p90(), " ms");

    b.api.delete_pods(&sel, Some(1)).await?;
    w.until_all(timeout, "all exit pods to go", &names, |ev| ev.kind == "DELETED").await?;
    // The pods are Failed: their objects went before the node tore them down.
    b.daemon.wait_runtime_empty(timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_and_states() {
        assert_eq!(runtime_id("runc://abc"), Some("abc"));
        assert_eq!(runtime_id("runc://"), None);
        assert_eq!(runtime_id("abc"), None);

        let mut pod = exiting_pod("pb-exit-0");
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(first_container_id(&pod), None);
        pod["status"]["containerStatuses"] =
            json!([{"name": "app", "containerID": "runc://c1", "state": {"running": {"startedAt": "x"}}}]);
        assert_eq!(first_container_id(&pod).as_deref(), Some("c1"));
        assert_eq!(terminated_exit_code(&pod, "c1"), None);
        pod["status"]["containerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 137, "reason": "Error"}});
        assert_eq!(terminated_exit_code(&pod, "c1"), Some(137));
        // Another container's (e.g. a restarted one's) state does not count.
        assert_eq!(terminated_exit_code(&pod, "c2"), None);
    }

    #[test]
    fn reads_the_runtime_records() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("containers/c1");
        std::fs::create_dir_all(&c).unwrap();
        assert!(main_pid(dir.path(), "c1").is_err());
        std::fs::write(c.join("container.json"), r#"{"id": "c1", "pid": null}"#).unwrap();
        assert!(main_pid(dir.path(), "c1").is_err());
        std::fs::write(c.join("container.json"), r#"{"id": "c1", "pid": 4242}"#).unwrap();
        assert_eq!(main_pid(dir.path(), "c1").unwrap(), 4242);
        assert_eq!(exit_recorded_at(dir.path(), "c1"), None);
        std::fs::write(c.join("exit.json"), r#"{"exitCode": 137, "finishedAt": "2024-05-01T10:00:00.5Z", "pid": 42}"#)
            .unwrap();
        assert_eq!(exit_recorded_at(dir.path(), "c1"), Some("2024-05-01T10:00:00.5Z".parse().unwrap()));
    }
}
