//! `debug POD --image I [--target C] [-c NAME] [-i] [-t] [-- COMMAND...]`:
//! kubectl's ephemeral-container debugging. The container is added with a
//! strategic merge patch of the `ephemeralcontainers` subresource (the only
//! way to add one); with `-i` we wait until it runs and attach to it, or
//! print its logs if it has already finished, as kubectl does.

use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::streams::{self, ExecRequest, Input, RawMode};
use crate::client::{ACCEPT_JSON, Client};
use crate::errors::CliError;
use crate::resources;

/// How long `-i` waits for the container to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the pod is read while waiting.
const POLL: Duration = Duration::from_millis(200);

/// Arguments of `debug`.
#[derive(clap::Args, Debug)]
pub struct DebugArgs {
    /// `POD` or `pod/POD`.
    #[arg(value_name = "POD")]
    pub pod: String,
    /// The command and its arguments (after `--`); default: the image's.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Image of the debug container.
    #[arg(long)]
    pub image: String,
    /// Name of the debug container (default: `debugger-XXXXX`).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Share the process namespace of this container.
    #[arg(long)]
    pub target: Option<String>,
    /// Keep stdin open and attach to the container.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Allocate a TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The container's imagePullPolicy (default: the server's).
    #[arg(long)]
    pub image_pull_policy: Option<String>,
    /// Do not print informational messages.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// A name like kubectl's: `debugger-` and five characters of its alphabet.
fn generated_name() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // std's per-process random hash keys, mixed with the time, as the seed.
    let mut seed = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    let mut s = String::from("debugger-");
    for _ in 0..5 {
        s.push(ALPHA[(seed % ALPHA.len() as u64) as usize] as char);
        seed /= ALPHA.len() as u64;
    }
    s
}

/// The ephemeral container kubectl's `legacy` profile generates.
pub fn ephemeral_container(args: &DebugArgs, name: &str) -> Value {
    let mut c = json!({
        "name": name,
        "image": args.image,
        "terminationMessagePolicy": "File",
    });
    if !args.command.is_empty() {
        c["command"] = json!(args.command);
    }
    if let Some(p) = &args.image_pull_policy {
        c["imagePullPolicy"] = json!(p);
    }
    if args.stdin {
        c["stdin"] = json!(true);
    }
    if args.tty {
        c["tty"] = json!(true);
    }
    if let Some(t) = &args.target {
        c["targetContainerName"] = json!(t);
    }
    c
}

/// The strategic merge patch adding `container`, as kubectl computes it: the
/// new entry, and the order of the whole list (without it, a merge puts
/// new entries first).
pub fn debug_patch(pod: &Value, container: Value) -> Value {
    let mut order: Vec<Value> = pod
        .pointer("/spec/ephemeralContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| json!({"name": c["name"]}))
        .collect();
    order.push(json!({"name": container["name"]}));
    json!({"spec": {"$setElementOrder/ephemeralContainers": order, "ephemeralContainers": [container]}})
}

/// The status of container `name` among the pod's ephemeral containers.
fn status_of<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod.pointer("/status/ephemeralContainerStatuses")?.as_array()?.iter().find(|s| s["name"] == name)
}

/// Run `debug`.
pub async fn run(client: &Client, args: DebugArgs) -> Result<i32, CliError> {
    let pod_name = super::pod_name(&args.pod)?;
    // The pod must exist (kubectl's NotFound message comes from this GET).
    let pod = super::logs::get_pod(client, &pod_name).await?;
    let name = match &args.container {
        Some(c) => c.clone(),
        None => {
            let n = generated_name();
            if !args.quiet {
                eprintln!("Defaulting debug container name to {n}.");
            }
            n
        }
    };
    if let (Some(t), false) = (&args.target, args.quiet) {
        println!(
            "Targeting container {t:?}. If you don't see processes from this container it may be because the container runtime doesn't support this feature."
        );
    }
    let patch = debug_patch(&pod, ephemeral_container(&args, &name));
    let path = format!("{}/ephemeralcontainers", resources::POD.path(Some(&client.namespace), Some(&pod_name)));
    client
        .request_json(
            Method::PATCH,
            client.url(&path, &[]),
            ACCEPT_JSON,
            Some(&patch),
            "application/strategic-merge-patch+json",
            &format!("patch pods {pod_name}"),
        )
        .await?;
    if !args.stdin {
        return Ok(0);
    }

    // Wait until it runs (attach) or has finished (its logs).
    let deadline = Instant::now() + START_TIMEOUT;
    let running = loop {
        let pod = super::logs::get_pod(client, &pod_name).await?;
        if let Some(s) = status_of(&pod, &name) {
            if s.pointer("/state/running").is_some() {
                break true;
            }
            if s.pointer("/state/terminated").is_some() {
                break false;
            }
            if let Some(w) =
                s.pointer("/state/waiting").filter(|w| w["message"].as_str().is_some_and(|m| !m.is_empty()))
            {
                return Err(CliError::msg(format!(
                    "the debug container {name} is waiting: {}: {}",
                    w["reason"].as_str().unwrap_or(""),
                    w["message"].as_str().unwrap_or("")
                )));
            }
        }
        if Instant::now() >= deadline {
            return Err(CliError::msg(format!("timed out waiting for the debug container {name} to start")));
        }
        tokio::time::sleep(POLL).await;
    };
    if running {
        let tty = args.tty && rustix::termios::isatty(rustix::stdio::stdin());
        if tty && !args.quiet {
            eprintln!("If you don't see a command prompt, try pressing enter.");
        }
        let req = ExecRequest { pod: pod_name.clone(), container: name.clone(), command: Vec::new(), stdin: true, tty };
        let raw = if tty { RawMode::enter() } else { None };
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let attached = streams::attach(client, &req, Input::Stdin, &mut out, &mut err).await;
        drop(raw);
        match attached {
            Ok(_) => return Ok(0),
            Err(e) => eprintln!("warning: couldn't attach to pod/{pod_name}, falling back to streaming logs: {e}"),
        }
    }
    let path = format!("{}/log", resources::POD.path(Some(&client.namespace), Some(&pod_name)));
    let url = client.url(&path, &[("container", name.clone()), ("follow", "true".into())]);
    let resp = client.send(Method::GET, url, "*/*", None).await?;
    let resp = client.check(resp, &format!("get pods {pod_name}")).await?;
    let body = resp.bytes().await.map_err(|e| CliError::Transport { detail: crate::client::error_chain(&e) })?;
    use std::io::Write;
    std::io::stdout().write_all(&body).map_err(|e| CliError::io("stdout", e))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> DebugArgs {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: DebugArgs,
        }
        let mut argv = vec!["debug", "web", "--image=busybox"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).a
    }

    #[test]
    fn container_like_kubectl_legacy_profile() {
        let a = args(&["--target=app", "-it", "--", "sh", "-c", "ps"]);
        assert_eq!(
            ephemeral_container(&a, "dbg"),
            json!({"name": "dbg", "image": "busybox", "terminationMessagePolicy": "File",
                   "command": ["sh", "-c", "ps"], "stdin": true, "tty": true, "targetContainerName": "app"})
        );
        let a = args(&["--image-pull-policy=Never"]);
        assert_eq!(
            ephemeral_container(&a, "d"),
            json!({"name": "d", "image": "busybox", "terminationMessagePolicy": "File", "imagePullPolicy": "Never"})
        );
    }

    #[test]
    fn patch_keeps_the_order() {
        let pod = json!({"spec": {"ephemeralContainers": [{"name": "a", "image": "x"}]}});
        let p = debug_patch(&pod, json!({"name": "b", "image": "y"}));
        assert_eq!(
            p,
            json!({"spec": {"$setElementOrder/ephemeralContainers": [{"name": "a"}, {"name": "b"}],
                            "ephemeralContainers": [{"name": "b", "image": "y"}]}})
        );
        let merged = peapod_api::patch::strategic_merge_patch("Pod", &pod, &p).unwrap();
        assert_eq!(merged["spec"]["ephemeralContainers"][1]["name"], "b");
    }

    #[test]
    fn generated_names_use_kubectls_alphabet() {
        let n = generated_name();
        let suffix = n.strip_prefix("debugger-").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)), "{n}");
    }
}
