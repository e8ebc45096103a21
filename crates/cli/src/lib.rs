//! peapod's kubectl-like client verbs.
//!
//! A pure client of the daemon's Kubernetes-compatible HTTPS API: every verb
//! makes the same requests kubectl makes (see `kubectl-wire.md`), so the
//! server needs one behaviour for both clients, and prints what kubectl
//! prints, so scripts and tests can treat the two alike (stdout for results,
//! stderr for errors and notes, exit code 1 on failure, or the remote code
//! for `exec`).
//!
//! Layout: [`kubeconfig`] reads credentials, [`client`] is the HTTP client,
//! [`resources`] maps type names to REST paths, [`manifest`] reads `-f`
//! files, [`merge`] computes apply's three-way patch, [`printers`] renders
//! tables/YAML/JSON/JSONPath, [`errors`] renders failures like kubectl, and
//! `commands/<verb>.rs` holds one verb each with its argument struct.
//!
//! The `peapod` binary flattens [`Command`] into its own subcommands and
//! calls [`run`], which builds a current-thread tokio runtime.

pub mod client;
pub mod commands;
pub mod errors;
pub mod kubeconfig;
pub mod manifest;
pub mod merge;
pub mod printers;
pub mod resources;

use std::path::PathBuf;

use crate::client::Client;
use crate::errors::CliError;

/// Options shared by every client verb (accepted before or after the verb).
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Path to the kubeconfig file to use.
    #[arg(long, env = "KUBECONFIG", global = true, default_value = "/etc/peapod/kubeconfig", value_name = "PATH")]
    pub kubeconfig: PathBuf,
    /// The namespace scope for this request.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// Log level: 6 prints each request and its status, 8 adds bodies.
    #[arg(short = 'v', long = "v", global = true, default_value_t = 0, value_name = "LEVEL")]
    pub v: u8,
}

/// The client verbs.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Apply a configuration to resources by file name or stdin.
    Apply(commands::apply::ApplyArgs),
    /// Create resources from files or stdin.
    Create(commands::create::CreateArgs),
    /// Display one or many resources.
    Get(commands::get::GetArgs),
    /// Show details of a resource or group of resources.
    Describe(commands::describe::DescribeArgs),
    /// Print the logs for a container in a pod.
    Logs(commands::logs::LogsArgs),
    /// Delete resources by file names, stdin, resources and names, or by label selector.
    Delete(commands::delete::DeleteArgs),
    /// Run a particular image in a pod.
    Run(commands::run::RunArgs),
    /// Wait for a specific condition on one or many resources.
    Wait(commands::wait::WaitArgs),
    /// Execute a command in a container.
    Exec(commands::exec::ExecArgs),
    /// Copy files and directories to and from containers.
    Cp(commands::cp::CpArgs),
    /// Debug a running pod with an ephemeral container.
    Debug(commands::debug::DebugArgs),
    /// Update the labels on a resource.
    Label(commands::label::LabelArgs),
    /// Update the annotations on a resource.
    Annotate(commands::label::LabelArgs),
    /// Print the client and server version information.
    Version(commands::version::VersionArgs),
    /// Manage images in peapod's image store.
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
}

/// Run one verb to completion and return the process exit code. Errors are
/// printed on stderr the way kubectl prints them.
pub fn run(g: GlobalOpts, c: Command) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(dispatch(g, c));
    // Do not wait for blocking reads still parked on stdin (exec -i): the
    // session is over, so the runtime is dropped without joining them.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            let text = e.render();
            if !text.is_empty() {
                eprintln!("{text}");
            }
            1
        }
    }
}

/// Build the API client from the global options.
pub fn connect(g: &GlobalOpts) -> Result<Client, CliError> {
    let path = kubeconfig::pick_path(&g.kubeconfig);
    let access = kubeconfig::load_access(&path, g.context.as_deref())?;
    Client::new(&access, g.namespace.as_deref(), g.v)
}

async fn dispatch(g: GlobalOpts, c: Command) -> Result<i32, CliError> {
    use commands::*;
    // `version` prints the client version even without a reachable server,
    // so it connects by itself.
    let c = match c {
        Command::Version(a) => return version::run(&g, a).await,
        other => other,
    };
    let client = connect(&g)?;
    match c {
        Command::Apply(a) => apply::run(&client, a).await,
        Command::Create(a) => create::run(&client, a).await,
        Command::Get(a) => get::run(&client, a).await,
        Command::Describe(a) => describe::run(&client, a).await,
        Command::Logs(a) => logs::run(&client, a).await,
        Command::Delete(a) => delete::run(&client, a).await,
        Command::Run(a) => run::run(&client, a).await,
        Command::Wait(a) => wait::run(&client, a).await,
        Command::Exec(a) => exec::run(&client, a).await,
        Command::Cp(a) => cp::run(&client, a).await,
        Command::Debug(a) => debug::run(&client, a).await,
        Command::Label(a) => label::run(&client, a, label::Target::Labels).await,
        Command::Annotate(a) => label::run(&client, a, label::Target::Annotations).await,
        Command::Image(a) => image::run(&client, a).await,
        Command::Version(a) => version::run(&g, a).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    /// The integrator's wiring (see the crate docs), reduced to the client verbs.
    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        global: super::GlobalOpts,
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Top {
        #[command(flatten)]
        Client(super::Command),
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_anywhere() {
        let c =
            Cli::try_parse_from(["peapod", "get", "pods", "-n", "kube-system", "--kubeconfig", "/k", "-v=6"]).unwrap();
        assert_eq!(c.global.namespace.as_deref(), Some("kube-system"));
        assert_eq!(c.global.kubeconfig, std::path::PathBuf::from("/k"));
        assert_eq!(c.global.v, 6);
        let c = Cli::try_parse_from(["peapod", "-n", "x", "logs", "web", "-c", "main", "-f"]).unwrap();
        assert_eq!(c.global.namespace.as_deref(), Some("x"));
        let c = Cli::try_parse_from(["peapod", "exec", "web", "-it", "--", "sh", "-c", "echo hi"]).unwrap();
        let Top::Client(super::Command::Exec(e)) = c.cmd else { panic!("not exec") };
        assert_eq!(e.command, ["sh", "-c", "echo hi"]);
        assert!(e.stdin && e.tty);
        let c = Cli::try_parse_from([
            "peapod",
            "image",
            "import",
            "rootfs.tar",
            "busybox:latest",
            "-c",
            "ENV=A=B",
            "--change",
            "CMD [\"sh\"]",
        ])
        .unwrap();
        let Top::Client(super::Command::Image(super::commands::image::ImageCommand::Import(i))) = c.cmd else {
            panic!("not image import")
        };
        assert_eq!(i.changes.len(), 2);
        assert!(Cli::try_parse_from(["peapod", "image", "list"]).is_ok());
        assert!(
            Cli::try_parse_from(["peapod", "delete", "pod", "web", "--wait=false", "--grace-period", "0", "--force"])
                .is_ok()
        );
        assert!(
            Cli::try_parse_from(["peapod", "apply", "-f", "a.yaml", "-f", "dir", "-R", "--dry-run=server"]).is_ok()
        );
    }
}
