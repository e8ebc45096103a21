//! Development harness: the `peapod` binary's clap wiring without `serve`.
//! `cargo run -p peapod-cli --example pp -- get pods --kubeconfig FILE`

use clap::Parser;

#[derive(clap::Parser)]
#[command(name = "peapod")]
struct Cli {
    #[command(flatten)]
    global: peapod_cli::GlobalOpts,
    #[command(subcommand)]
    cmd: Top,
}

#[derive(clap::Subcommand)]
enum Top {
    #[command(flatten)]
    Client(peapod_cli::Command),
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Top::Client(c) => std::process::exit(peapod_cli::run(cli.global, c)),
    }
}
