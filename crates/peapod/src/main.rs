//! `peapod`: the daemon (`peapod serve`), the kubectl-like client verbs, and
//! the internal per-container shim (`peapod __shim`), in one binary.

mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "peapod", version, about = "Run Kubernetes Pods on one Linux machine, for real.")]
struct Cli {
    #[command(flatten)]
    global: peapod_cli::GlobalOpts,
    #[command(subcommand)]
    cmd: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Run the daemon: the Kubernetes-compatible API server and the node agent.
    Serve(serve::ServeArgs),
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
    let cli = Cli::parse();
    let code = match cli.cmd {
        Top::Serve(a) => serve::main(a),
        Top::Client(c) => peapod_cli::run(cli.global, c),
    };
    std::process::exit(code);
}
