//! Density: many idle one-container pods, then what they cost: the PSS of
//! the pause processes and shims (per pod; the app's own memory is the
//! user's, not ours), the daemon's RSS, and the daemon's CPU use while
//! nothing happens. podman's equivalent per-pod cost is conmon (one per
//! container, the infra's included) plus catatonit.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::Bench;
use super::pods::{self, all_running};
use super::procfs::{self, Mem};
use super::stats::fmt_num;

/// Pods created at once through the API (a client creating many pods).
const CONCURRENCY: usize = 8;

#[derive(Debug, Default)]
struct PodMemory {
    pause: Mem,
    pauses: usize,
    shims: Mem,
    shim_count: usize,
    apps: Mem,
}

fn measure(b: &Bench) -> PodMemory {
    let mut m = PodMemory::default();
    for p in procfs::processes() {
        if b.daemon.is_shim(&p) {
            m.shims += procfs::mem(p.pid).unwrap_or_default();
            m.shim_count += 1;
        } else if b.daemon.in_pods(&p) {
            let mem = procfs::mem(p.pid).unwrap_or_default();
            if p.args.first().is_some_and(|a| a == "/pause") {
                m.pause += mem;
                m.pauses += 1;
            } else {
                m.apps += mem;
            }
        }
    }
    m
}

fn kib(v: u64, n: usize) -> String {
    fmt_num(v as f64 / n.max(1) as f64)
}

pub(crate) async fn run(b: &mut Bench) -> Result<()> {
    let n = b.args.density;
    if n == 0 {
        return Ok(());
    }
    println!("\n== density: {n} idle one-container pods (created {CONCURRENCY} at a time through the API)");
    let sel = format!("{}=density", pods::LABEL);
    let mut w = b.api.watch(&sel).await?;
    let avail0 = procfs::mem_available();
    let daemon_pid = b.daemon.pid();
    let rss0 = procfs::mem(daemon_pid).unwrap_or_default();

    let names: Vec<String> = (0..n).map(|i| format!("pb-dense-{i}")).collect();
    let t0 = Instant::now();
    b.api.create_pods(names.iter().map(|nm| pods::one_container(nm, "density")).collect(), CONCURRENCY).await?;
    let timeout = Duration::from_secs(120 + n as u64);
    let t1 = w.until_all(timeout, "all density pods to run", &names, |ev| all_running(&ev.object)).await?;
    println!("  {n} pods Running {} ms after the first create", fmt_num((t1 - t0).as_secs_f64() * 1000.0));
    // Let start-up work (first syncs, status writes) settle before measuring idle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let m = measure(b);
    let daemon = procfs::mem(daemon_pid).unwrap_or_default();
    let avail1 = procfs::mem_available();
    let per_pod = (m.pause.pss + m.shims.pss) as f64 / n as f64;
    println!(
        "  per pod (pause + shims, PSS)  {} KiB   [pause {} KiB ×{}, shim {} KiB ×{}; RSS pause {} KiB, shim {} KiB; \
         private dirty pause {} KiB, shim {} KiB]",
        fmt_num(per_pod),
        kib(m.pause.pss, m.pauses),
        m.pauses,
        kib(m.shims.pss, m.shim_count),
        m.shim_count,
        kib(m.pause.rss, m.pauses),
        kib(m.shims.rss, m.shim_count),
        kib(m.pause.private_dirty, m.pauses),
        kib(m.shims.private_dirty, m.shim_count),
    );
    println!("  app processes (not counted)   {} KiB PSS per pod", kib(m.apps.pss, n));
    // Records, runc state, bundles and upper dirs: memory when the state
    // dir is a tmpfs (as serve makes it), which PSS does not show.
    if let Ok(st) = rustix::fs::statfs(&b.daemon.state_dir)
        && st.f_type == crate::state_dir::TMPFS_MAGIC
    {
        let used = (st.f_blocks - st.f_bfree) * st.f_bsize as u64 / 1024;
        println!("  state dir tmpfs (not counted) {} KiB per pod", kib(used, n));
    }
    if let (Some(a0), Some(a1)) = (avail0, avail1) {
        println!(
            "  MemAvailable drop per pod     {} KiB (everything: apps, kernel objects, page cache; noisy)",
            fmt_num((a0 as f64 - a1 as f64) / n as f64)
        );
    }
    println!(
        "  daemon                        RSS {} MiB (PSS {} MiB; {} MiB before the pods)",
        fmt_num(daemon.rss as f64 / 1024.0),
        fmt_num(daemon.pss as f64 / 1024.0),
        fmt_num(rss0.rss as f64 / 1024.0)
    );
    b.report.at_most("overhead per pod (pause + shims, PSS)", Some(per_pod), 260.0, " KiB", "≤ 260 KiB");
    b.report.at_most(
        &format!("daemon RSS at {n} pods"),
        Some(daemon.rss as f64 * 1024.0 / 1e6),
        64.0,
        " MB",
        "≤ 64 MB",
    );

    // Idle CPU: the daemon's (and all shims') CPU time over a quiet window.
    let shims: Vec<i32> = procfs::processes().into_iter().filter(|p| b.daemon.is_shim(p)).map(|p| p.pid).collect();
    let secs = b.args.idle_secs.max(1);
    let d0 = procfs::cpu_ticks(daemon_pid).unwrap_or(0);
    let s0: u64 = shims.iter().filter_map(|p| procfs::cpu_ticks(*p)).sum();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let d1 = procfs::cpu_ticks(daemon_pid).unwrap_or(0);
    let s1: u64 = shims.iter().filter_map(|p| procfs::cpu_ticks(*p)).sum();
    let hz = procfs::ticks_per_second() as f64;
    let pct = |t: u64| t as f64 / hz / secs as f64 * 100.0;
    println!(
        "  idle CPU over {secs} s             daemon {}% of a core, all shims {}%",
        fmt_num(pct(d1.saturating_sub(d0))),
        fmt_num(pct(s1.saturating_sub(s0)))
    );
    b.report.at_most(
        &format!("daemon idle CPU at {n} pods"),
        Some(pct(d1.saturating_sub(d0))),
        1.0,
        "% of a core",
        "≤ 1% of a core",
    );

    let d0 = Instant::now();
    b.api.delete_pods(&sel, None).await?;
    let d1 = w.until_all(timeout, "all density pods to go", &names, |ev| ev.kind == "DELETED").await?;
    println!("  deleted all in {} ms", fmt_num((d1 - d0).as_secs_f64() * 1000.0));

    if let Some(p) = &b.podman {
        let pn = b.args.podman_density.min(n);
        if pn > 0 {
            let names: Vec<String> = (0..pn).map(|i| format!("pb-pdense-{i}")).collect();
            let docs: Vec<_> = names.iter().map(|nm| pods::one_container(nm, "density")).collect();
            let file = b.write_file("podman-density.json", &pods::multi_doc(&docs))?;
            b.podman_pods.extend(names.iter().cloned());
            tokio::task::block_in_place(|| p.play(&file))?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let pm = tokio::task::block_in_place(|| p.memory("pb-pdense-"))?;
            tokio::task::block_in_place(|| p.down(&file))?;
            b.podman_pods.clear();
            let pp = (pm.conmon.pss + pm.infra.pss) as f64 / pm.pods.max(1) as f64;
            println!(
                "  podman, {} pods: per pod (conmon ×2 + catatonit, PSS) {} KiB  [conmon {} KiB, catatonit {} KiB; app {} KiB]",
                pm.pods,
                fmt_num(pp),
                kib(pm.conmon.pss, pm.pods),
                kib(pm.infra.pss, pm.pods),
                kib(pm.apps.pss, pm.pods)
            );
            println!("  ratio   peapod/podman per-pod overhead {}×", fmt_num(per_pod / pp));
        }
    }
    Ok(())
}
