//! Churn: N pods applied from one file, all Running, deleted from the same
//! file and gone (the node removes a pod object only after tearing the pod
//! down), as pods per second; podman runs `kube play` / `kube down` of the
//! same file.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Bench;
use super::pods::{self, all_running, name_of};
use super::stats::{Samples, fmt_num};

pub(crate) async fn run(b: &mut Bench) -> Result<()> {
    let n = b.args.churn;
    if n == 0 {
        return Ok(());
    }
    println!("\n== churn: {n} one-container pods from one file: apply → all Running → delete → all gone");
    println!("   peapod: `peapod apply -f FILE`, watch, `peapod delete -f FILE --wait=false`, watch");
    let names: Vec<String> = (0..n).map(|i| format!("pb-churn-{i}")).collect();
    let docs: Vec<_> = names.iter().map(|nm| pods::one_container(nm, "churn")).collect();
    let file = b.write_file("churn.json", &pods::multi_doc(&docs))?;
    let file_s = file.to_string_lossy().into_owned();

    let mut w = b.api.watch(&format!("{}=churn", pods::LABEL)).await?;
    let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
    let timeout = Duration::from_secs(60 + n as u64);

    let t0 = Instant::now();
    b.cli(&["apply", "-f", &file_s]).await?;
    let mut running: HashSet<String> = HashSet::new();
    let mut up = Samples::new();
    let t1 = w
        .until(timeout, "all churn pods to run", |at, ev| {
            let nm = name_of(&ev.object);
            if wanted.contains(nm) && all_running(&ev.object) && running.insert(nm.to_owned()) {
                up.push_duration(at - t0);
            }
            running.len() == n
        })
        .await?;
    b.cli(&["delete", "-f", &file_s, "--wait=false"]).await?;
    let mut gone: HashSet<String> = HashSet::new();
    let mut down = Samples::new();
    let t2 = w
        .until(timeout, "all churn pods to go", |at, ev| {
            let nm = name_of(&ev.object);
            if ev.kind == "DELETED" && wanted.contains(nm) && gone.insert(nm.to_owned()) {
                down.push_duration(at - t1);
            }
            gone.len() == n
        })
        .await?;
    let rate = n as f64 / (t2 - t0).as_secs_f64();
    println!(
        "  peapod  {} pods/s  (create → all Running {} ms, delete → all gone {} ms, total {} ms)",
        fmt_num(rate),
        fmt_num((t1 - t0).as_secs_f64() * 1000.0),
        fmt_num((t2 - t1).as_secs_f64() * 1000.0),
        fmt_num((t2 - t0).as_secs_f64() * 1000.0)
    );
    println!("          per pod, apply → Running   {}", up.summary("ms"));
    println!("          per pod, delete → gone     {}", down.summary("ms"));
    b.report.at_least("churn (create, run, delete, gone)", Some(rate), 10.0, " pods/s", "≥ 10 pods/s");

    if let Some(p) = &b.podman {
        b.podman_pods.extend(names.iter().cloned());
        let play = tokio::task::block_in_place(|| p.play(&file))?;
        let kdown = tokio::task::block_in_place(|| p.down(&file))?;
        b.podman_pods.clear();
        let prate = n as f64 / (play + kdown).as_secs_f64();
        println!(
            "  podman  {} pods/s  (kube play {} ms, kube down {} ms)",
            fmt_num(prate),
            fmt_num(play.as_secs_f64() * 1000.0),
            fmt_num(kdown.as_secs_f64() * 1000.0)
        );
        println!("  ratio   peapod/podman throughput {}×", fmt_num(rate / prate));
    }
    Ok(())
}
