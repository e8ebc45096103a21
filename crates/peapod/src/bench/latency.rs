//! API latency with many objects: pods bound to a node that does not exist
//! (so only the API server and the store hold them), listed as JSON and as
//! the Table `get pods` asks for, and watch latency: a label PATCH on one
//! pod until its event arrives on a watch that is open the whole time.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::task::JoinSet;

use peapod_cli::client::{ACCEPT_JSON, ACCEPT_TABLE};

use super::Bench;
use super::pods::{self, name_of};
use super::stats::Samples;

const CONCURRENCY: usize = 16;
const ELSEWHERE: &str = "peapod-bench-elsewhere";

pub(crate) async fn run(b: &mut Bench) -> Result<()> {
    let n = b.args.api_pods;
    let runs = b.args.api_runs.max(1);
    if n == 0 {
        return Ok(());
    }
    println!("\n== API: {n} pods held by the API server (bound to another node), {runs} timed requests each");
    let sel = format!("{}=api", pods::LABEL);
    let mut create = Samples::new();
    let mut set = JoinSet::new();
    for i in 0..n {
        if set.len() >= CONCURRENCY
            && let Some(r) = set.join_next().await
        {
            create.push_duration(r.context("create task")??);
        }
        let (api, pod) = (b.api.clone(), pods::api_only(&format!("pb-api-{i}"), "api", ELSEWHERE));
        set.spawn(async move {
            let t = Instant::now();
            api.create_pod(&pod).await.map(|_| t.elapsed())
        });
    }
    while let Some(r) = set.join_next().await {
        create.push_duration(r.context("create task")??);
    }
    println!("  create ({CONCURRENCY} in flight)       {}", create.summary("ms"));

    for (label, accept) in [("list, JSON", ACCEPT_JSON), ("list, Table (get pods)", ACCEPT_TABLE)] {
        let mut s = Samples::new();
        let mut size = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let (items, bytes) = b.api.list_pods(Some(&sel), accept).await?;
            s.push_duration(t.elapsed());
            if items != n {
                bail!("listed {items} pods, expected {n}");
            }
            size = bytes;
        }
        println!("  {label:26} {}  ({} KiB)", s.summary("ms"), size / 1024);
        if accept == ACCEPT_JSON {
            b.report.at_most(&format!("list of {n} pods (median)"), s.median(), f64::INFINITY, " ms", "(report)");
        }
    }

    let mut w = b.api.watch(&sel).await?;
    let mut lat = Samples::new();
    let mut patch = Samples::new();
    for k in 0..runs {
        let name = format!("pb-api-{}", k % n);
        let value = format!("v{k}");
        w.drain();
        let t0 = Instant::now();
        b.api.set_label(&name, "bench-seq", &value).await?;
        patch.push_duration(t0.elapsed());
        let at = w
            .until(Duration::from_secs(10), "the label's watch event", |_, ev| {
                name_of(&ev.object) == name
                    && ev.object.pointer("/metadata/labels/bench-seq").and_then(|v| v.as_str()) == Some(value.as_str())
            })
            .await?;
        lat.push_duration(at - t0);
    }
    println!("  PATCH round trip           {}", patch.summary("ms"));
    println!("  watch: PATCH sent → event  {}", lat.summary("ms"));
    b.report.at_most("watch event latency (median)", lat.median(), f64::INFINITY, " ms", "(report)");

    let t = Instant::now();
    b.api.delete_pods(&sel, Some(0)).await?;
    println!("  deletecollection of {n}    {} ms", super::stats::fmt_num(t.elapsed().as_secs_f64() * 1000.0));
    Ok(())
}
