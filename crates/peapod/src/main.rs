//! `peapod`: the daemon (`peapod serve`), the kubectl-like client verbs, the
//! benchmark (`peapod bench`) and the internal per-container shim
//! (`peapod __shim`), in one binary.

mod bench;
mod completion;
mod config;
mod doctor;
mod heap;
mod install;
mod serve;
mod state_dir;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "peapod", version, about = "Run Kubernetes Pods on one Linux machine, for real.")]
struct Cli {
    #[command(flatten)]
    global: peapod_cli::GlobalOpts,
    #[command(subcommand)]
    cmd: Top,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Top {
    /// Run the daemon: the Kubernetes-compatible API server and the node agent.
    Serve(serve::ServeArgs),
    /// Measure pod start latency, churn, density and API latency on this machine (optionally against podman).
    Bench(bench::BenchArgs),
    /// Check that this machine can run pods (root, cgroups, overlayfs, runc,
    /// CNI plugins, iptables, permissions, disk, clock) and say how to fix it.
    #[command(after_help = "Example:\n  peapod doctor --runc /usr/sbin/runc --cni-plugin-dir /usr/lib/cni")]
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (pod and container names come from the API).
    #[command(
        after_help = "Example:\n  source <(peapod completion bash)\n  peapod completion fish > ~/.config/fish/completions/peapod.fish"
    )]
    Completion(completion::CompletionArgs),
    /// Install and start peapod as a systemd service (pods survive service restarts).
    #[command(after_help = "Example:\n  peapod install-service --serve-args '--listen 0.0.0.0:6443'")]
    InstallService(install::InstallArgs),
    #[command(flatten)]
    Client(peapod_cli::Command),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The shim is started once per container: dispatch before anything else
    // (no argument parser, no allocations it does not need).
    if args.get(1).map(String::as_str) == Some("__shim") {
        std::process::exit(peapod_runtime::shim::main(&args[2..]));
    }
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let code = match cli.cmd {
        Top::Serve(a) => serve::main(a, matches.subcommand_matches("serve").expect("serve matches")),
        Top::Bench(a) => bench::main(a),
        Top::Doctor(a) => doctor::main(a),
        Top::Completion(a) => completion::main(a, Cli::command()),
        Top::InstallService(a) => install::main(a),
        Top::Client(c) => peapod_cli::run(cli.global, c),
    };
    std::process::exit(code);
}

/// Run a top-level async command on a multi-threaded runtime: exit code 0,
/// or 1 with the error (and its causes) on stderr.
fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
