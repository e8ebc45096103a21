//! Pod start latency: `peapod apply -f FILE` (the CLI, as a user runs it)
//! until the benchmark's watch shows every container Running, against
//! `podman kube play FILE`, which returns once its containers started.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use super::Bench;
use super::api::PodEvents;
use super::pods::{self, all_running, name_of};
use super::stats::{Samples, fmt_num};

struct Kind {
    label: &'static str,
    short: &'static str,
    make: fn(&str, &str) -> Value,
}

#[derive(Default)]
struct Figures {
    /// apply → all Running (the headline figure).
    total: Samples,
    /// apply → the CLI has returned (client start-up, TLS, GET + POST).
    cli: Samples,
    /// The pod's ADDED event → all Running (node agent and runtime).
    node: Samples,
    /// Graceful delete → the pod object is gone (everything torn down).
    delete: Samples,
    podman: Samples,
    podman_down: Samples,
}

/// One peapod start: returns (total, cli, node, delete) durations.
async fn peapod_once(
    b: &Bench,
    w: &mut PodEvents,
    name: &str,
    file: &str,
) -> Result<(Duration, Duration, Duration, Duration)> {
    w.drain();
    let t0 = Instant::now();
    b.cli(&["apply", "-f", file]).await?;
    let cli = t0.elapsed();
    let mut added: Option<Instant> = None;
    let running = w
        .until(Duration::from_secs(60), &format!("{name} to run"), |at, ev| {
            if name_of(&ev.object) != name {
                return false;
            }
            if ev.kind == "ADDED" {
                added.get_or_insert(at);
            }
            all_running(&ev.object)
        })
        .await?;
    let added = added.unwrap_or(t0);
    // Delete gracefully with a short grace period (my-web's httpd ignores
    // SIGTERM as PID 1) and wait until the node removed the object, which
    // it does after tearing the pod down: the next run starts clean.
    let d0 = Instant::now();
    b.api.delete_pod(name, Some(1)).await?;
    let gone = w
        .until(Duration::from_secs(60), &format!("{name} to go"), |_, ev| {
            ev.kind == "DELETED" && name_of(&ev.object) == name
        })
        .await?;
    Ok((running - t0, cli, running.saturating_duration_since(added), gone - d0))
}

pub(crate) async fn run(b: &mut Bench) -> Result<()> {
    let kinds = [
        Kind { label: "1-container pod", short: "one", make: pods::one_container },
        Kind { label: "my-web (2 containers)", short: "web", make: pods::my_web },
    ];
    let n = b.args.runs;
    println!(
        "\n== start latency: apply → all containers Running (image cached), n={n} per kind after 1 warm-up{}",
        if b.podman.is_some() { ", podman interleaved" } else { "" }
    );
    println!(
        "   peapod: `peapod apply -f POD` until the watch shows all containers Running; \
         podman: `podman --runtime runc kube play POD` until it returns"
    );
    let mut w = b.api.watch(&format!("{}=start", pods::LABEL)).await?;
    let mut figs: Vec<Figures> = kinds.iter().map(|_| Figures::default()).collect();
    for i in 0..=n {
        for (k, kind) in kinds.iter().enumerate() {
            let name = format!("pb-{}-{i}", kind.short);
            let file = b.write_file(&format!("{name}.json"), &pods::multi_doc(&[(kind.make)(&name, "start")]))?;
            let file_s = file.to_string_lossy().into_owned();
            // Alternate who goes first so a drift in load hits both alike.
            let peapod_first = (i + k) % 2 == 0;
            for turn in 0..2 {
                if (turn == 0) == peapod_first {
                    let (total, cli, node, del) = peapod_once(b, &mut w, &name, &file_s).await?;
                    if i > 0 {
                        let f = &mut figs[k];
                        f.total.push_duration(total);
                        f.cli.push_duration(cli);
                        f.node.push_duration(node);
                        f.delete.push_duration(del);
                    }
                } else if let Some(p) = &b.podman {
                    b.podman_pods.push(name.clone());
                    let up = tokio::task::block_in_place(|| p.play(&file))?;
                    let down = tokio::task::block_in_place(|| p.down(&file))?;
                    b.podman_pods.pop();
                    if i > 0 {
                        figs[k].podman.push_duration(up);
                        figs[k].podman_down.push_duration(down);
                    }
                }
            }
        }
    }
    for (kind, f) in kinds.iter().zip(&figs) {
        println!("  {}", kind.label);
        println!("    peapod  apply → Running     {}", f.total.summary("ms"));
        println!("            apply CLI returned  {}", f.cli.summary("ms"));
        println!("            ADDED → Running     {}", f.node.summary("ms"));
        println!("            delete → gone       {}", f.delete.summary("ms"));
        if b.podman.is_some() {
            println!("    podman  kube play           {}", f.podman.summary("ms"));
            println!("            kube down           {}", f.podman_down.summary("ms"));
            let ratio = f.total.median().zip(f.podman.median()).map(|(a, p)| a / p);
            if let Some(r) = ratio {
                println!("    ratio   peapod/podman (medians) {}×", fmt_num(r));
            }
            b.report.at_most(&format!("start {} vs podman", kind.label), ratio, 0.25, "×", "≤ 0.25× podman");
        } else {
            b.report.at_most(&format!("start {} vs podman", kind.label), None, 0.25, "×", "≤ 0.25× podman");
        }
    }
    Ok(())
}
