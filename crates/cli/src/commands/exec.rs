//! `exec POD [-c C] [-i] [-t] -- COMMAND...` (kubectl §10): `GET` the pod to
//! pick the container (with kubectl's `Defaulted container` note), then run
//! the command over the WebSocket stream of [`super::streams`]. The exit code
//! is the remote one (`command terminated with exit code N` on stderr).

use super::streams::{self, ExecRequest, ExitStatus, Input, RawMode};
use crate::client::Client;
use crate::errors::CliError;

/// Arguments of `exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// `POD` or `pod/POD`.
    #[arg(value_name = "POD")]
    pub pod: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Container name (default: kubectl's choice).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Allocate a TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Do not print the container-defaulting note.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Run `exec`.
pub async fn run(client: &Client, args: ExecArgs) -> Result<i32, CliError> {
    let name = super::pod_name(&args.pod)?;
    let pod = super::logs::get_pod(client, &name).await?;
    let phase = pod.pointer("/status/phase").and_then(serde_json::Value::as_str).unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return Err(CliError::msg(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    // An explicit -c goes to the server unchecked (it answers 400 for an
    // unknown container), as kubectl does.
    let container = match args.container.clone() {
        Some(c) => c,
        None => {
            let (c, note) = super::logs::default_container(&pod, None)?;
            if let (Some(n), false) = (note, args.quiet) {
                eprintln!("{n}");
            }
            c
        }
    };
    let mut tty = args.tty;
    let stdin_is_tty = rustix::termios::isatty(rustix::stdio::stdin());
    if tty && !stdin_is_tty {
        if !args.quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
        tty = false;
    }
    let req = ExecRequest { pod: name, container, command: args.command.clone(), stdin: args.stdin, tty };
    // Raw mode only while the session runs; restored on every exit path.
    let raw = if tty && args.stdin { RawMode::enter() } else { None };
    let input = if args.stdin { Input::Stdin } else { Input::None };
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let status = streams::exec(client, &req, input, &mut out, &mut err).await;
    drop(raw);
    match status? {
        ExitStatus::Success | ExitStatus::Unknown => Ok(0),
        ExitStatus::Code(c) => {
            eprintln!("command terminated with exit code {c}");
            Ok(c)
        }
        ExitStatus::Failed(m) => Err(CliError::Msg(m)),
    }
}
