//! `logs POD [CONTAINER]` (kubectl §11): `GET` the pod to pick the container
//! client-side (`-c`, else the only one, else the
//! `kubectl.kubernetes.io/default-container` annotation, else the first with a
//! `Defaulted container ...` note on stderr), then
//! `GET .../pods/NAME/log?container=C[&follow=true][&previous=true]
//! [&tailLines=N][&timestamps=true][&sinceSeconds=S|&sinceTime=T][&limitBytes=B]`
//! and copy the body to stdout as it arrives. `--all-containers` makes one
//! request per container in turn; `-l` lists pods first (tail 10 by default).

use std::io::Write;

use reqwest::Method;
use serde_json::Value;

use crate::client::{ACCEPT_JSON, Client};
use crate::errors::CliError;
use crate::resources;

/// The annotation naming the default container.
pub const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// Arguments of `logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// `POD` or `pod/POD`, optionally followed by the container name.
    #[arg(value_name = "POD")]
    pub pod: Option<String>,
    /// Container name (same as `-c`).
    #[arg(value_name = "CONTAINER")]
    pub container_arg: Option<String>,
    /// Container to print the logs of.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Stream the logs.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines of recent log to show (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Logs of the previous instance of the container.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Prefix each line with its RFC3339 timestamp.
    #[arg(long)]
    pub timestamps: bool,
    /// Only logs newer than this duration (`5s`, `2m`, `3h`).
    #[arg(long)]
    pub since: Option<String>,
    /// Only logs after this RFC3339 time.
    #[arg(long)]
    pub since_time: Option<String>,
    /// Maximum bytes of logs to return.
    #[arg(long)]
    pub limit_bytes: Option<u64>,
    /// Logs of every container of the pod.
    #[arg(long)]
    pub all_containers: bool,
    /// Label selector: logs of every matching pod.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Prefix each line with `[pod/NAME/CONTAINER]`.
    #[arg(long)]
    pub prefix: bool,
}

/// Run `logs`.
pub async fn run(client: &Client, args: LogsArgs) -> Result<i32, CliError> {
    let ns = client.namespace.clone();
    let pods: Vec<Value> = match (&args.pod, &args.selector) {
        (Some(_), Some(_)) => {
            return Err(CliError::msg("only one of a selector or a pod name may be given"));
        }
        (None, None) => return Err(CliError::msg("expected POD or -l SELECTOR")),
        (Some(p), None) => {
            let name = super::pod_name(p)?;
            vec![super::get_object(client, resources::POD, Some(&ns), &name).await?]
        }
        (None, Some(l)) => {
            let (items, _) =
                super::list_objects(client, resources::POD, Some(&ns), &[("labelSelector", l.clone())]).await?;
            if items.is_empty() {
                eprintln!("No resources found in {ns} namespace.");
            }
            items
        }
    };
    let tail = if args.selector.is_some() && args.tail == -1 { 10 } else { args.tail };
    let requested = args.container.clone().or(args.container_arg.clone());
    let mut query: Vec<(&str, String)> = Vec::new();
    if args.follow {
        query.push(("follow", "true".into()));
    }
    if args.previous {
        query.push(("previous", "true".into()));
    }
    if tail >= 0 {
        query.push(("tailLines", tail.to_string()));
    }
    if args.timestamps {
        query.push(("timestamps", "true".into()));
    }
    match (&args.since, &args.since_time) {
        (Some(_), Some(_)) => {
            return Err(CliError::msg("at most one of `sinceTime` or `sinceSeconds` may be specified"));
        }
        (Some(s), None) => {
            let d = super::parse_duration(s)?;
            query.push(("sinceSeconds", d.as_secs_f64().ceil().max(1.0).to_string()));
        }
        (None, Some(t)) => {
            t.parse::<jiff::Timestamp>().map_err(|e| CliError::msg(format!("invalid --since-time {t:?}: {e}")))?;
            query.push(("sinceTime", t.clone()));
        }
        (None, None) => {}
    }
    if let Some(b) = args.limit_bytes {
        query.push(("limitBytes", b.to_string()));
    }
    for pod in &pods {
        let pod_name = resources::name_of(pod).to_string();
        let containers = if args.all_containers {
            all_containers(pod)
        } else {
            let (c, note) = default_container(pod, requested.as_deref())?;
            if let Some(n) = note {
                eprintln!("{n}");
            }
            vec![c]
        };
        for c in containers {
            let mut q = vec![("container", c.clone())];
            q.extend(query.iter().cloned());
            let prefix = args.prefix.then(|| format!("[pod/{pod_name}/{c}] "));
            stream_log(client, &ns, &pod_name, &q, prefix.as_deref()).await?;
        }
    }
    Ok(0)
}

async fn stream_log(
    client: &Client,
    ns: &str,
    pod: &str,
    q: &[(&str, String)],
    prefix: Option<&str>,
) -> Result<(), CliError> {
    let path = format!("{}/log", resources::POD.path(Some(ns), Some(pod)));
    let url = client.url(&path, q);
    let resp = client.send(Method::GET, url, "application/json, */*", None).await?;
    let mut resp = client.check(resp, &format!("get pods {pod}")).await?;
    let mut out = std::io::stdout();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| CliError::Transport { detail: crate::client::error_chain(&e) })?
    {
        match prefix {
            None => {
                out.write_all(&chunk).map_err(|e| CliError::io("stdout", e))?;
            }
            Some(p) => {
                pending.extend_from_slice(&chunk);
                while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    out.write_all(p.as_bytes())
                        .and_then(|()| out.write_all(&line))
                        .map_err(|e| CliError::io("stdout", e))?;
                }
            }
        }
        out.flush().map_err(|e| CliError::io("stdout", e))?;
    }
    if let (Some(p), false) = (prefix, pending.is_empty()) {
        out.write_all(p.as_bytes()).and_then(|()| out.write_all(&pending)).map_err(|e| CliError::io("stdout", e))?;
    }
    Ok(())
}

fn names_at<'a>(pod: &'a Value, ptr: &str) -> Vec<&'a str> {
    pod.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect()
}

/// Every container, init containers first (kubectl's `--all-containers`).
pub fn all_containers(pod: &Value) -> Vec<String> {
    let mut v: Vec<String> = names_at(pod, "/spec/initContainers").into_iter().map(str::to_string).collect();
    v.extend(names_at(pod, "/spec/containers").into_iter().map(str::to_string));
    v.extend(names_at(pod, "/spec/ephemeralContainers").into_iter().map(str::to_string));
    v
}

/// kubectl's container choice for logs/exec/cp: the requested one (which
/// must exist), else the annotation's default, else the first container —
/// with the `Defaulted container` note when the pod has several.
pub fn default_container(pod: &Value, requested: Option<&str>) -> Result<(String, Option<String>), CliError> {
    let pod_name = resources::name_of(pod);
    let containers = names_at(pod, "/spec/containers");
    let init = names_at(pod, "/spec/initContainers");
    let ephem = names_at(pod, "/spec/ephemeralContainers");
    let exists = |n: &str| containers.contains(&n) || init.contains(&n) || ephem.contains(&n);
    if let Some(r) = requested.filter(|r| !r.is_empty()) {
        if !exists(r) {
            return Err(CliError::msg(format!("container {r} is not valid for pod {pod_name}")));
        }
        return Ok((r.to_string(), None));
    }
    let Some(first) = containers.first() else {
        return Err(CliError::msg(format!(
            "pod {}/{pod_name} does not have any containers",
            resources::namespace_of(pod).unwrap_or_default()
        )));
    };
    if let Some(d) = pod.pointer("/metadata/annotations").and_then(|a| a.get(DEFAULT_CONTAINER)).and_then(Value::as_str)
    {
        if exists(d) {
            return Ok((d.to_string(), None));
        }
        eprintln!("Default container name \"{d}\" not found in pod {pod_name}");
    }
    let note = (containers.len() > 1 || !init.is_empty() || !ephem.is_empty()).then(|| {
        let mut all: Vec<String> = containers.iter().map(|c| c.to_string()).collect();
        all.extend(init.iter().map(|c| format!("{c} (init)")));
        all.extend(ephem.iter().map(|c| format!("{c} (ephem)")));
        format!("Defaulted container \"{first}\" out of: {}", all.join(", "))
    });
    Ok((first.to_string(), note))
}

/// Fetch a pod (used by exec/cp) with kubectl's Accept header.
pub(crate) async fn get_pod(client: &Client, name: &str) -> Result<Value, CliError> {
    client
        .get(&resources::POD.path(Some(&client.namespace), Some(name)), &[], ACCEPT_JSON, &format!("get pods {name}"))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], init: &[&str], default: Option<&str>) -> Value {
        let mk = |n: &[&str]| n.iter().map(|c| json!({"name": c})).collect::<Vec<_>>();
        let mut p = json!({"metadata": {"name": "web", "namespace": "default"},
                           "spec": {"containers": mk(containers), "initContainers": mk(init)}});
        if let Some(d) = default {
            p["metadata"]["annotations"] = json!({DEFAULT_CONTAINER: d});
        }
        p
    }

    #[test]
    fn container_choice() {
        type Want = Result<(&'static str, Option<&'static str>), &'static str>;
        let cases: Vec<(Value, Option<&str>, Want)> = vec![
            (pod(&["a"], &[], None), None, Ok(("a", None))),
            (pod(&["a", "b"], &[], None), None, Ok(("a", Some("Defaulted container \"a\" out of: a, b")))),
            (pod(&["a", "b"], &["i"], None), None, Ok(("a", Some("Defaulted container \"a\" out of: a, b, i (init)")))),
            (pod(&["a"], &["i"], None), None, Ok(("a", Some("Defaulted container \"a\" out of: a, i (init)")))),
            (pod(&["a", "b"], &[], Some("b")), None, Ok(("b", None))),
            (pod(&["a", "b"], &[], None), Some("b"), Ok(("b", None))),
            (pod(&["a", "b"], &["i"], None), Some("i"), Ok(("i", None))),
            (pod(&["a"], &[], None), Some("x"), Err("error: container x is not valid for pod web")),
            (pod(&[], &[], None), None, Err("error: pod default/web does not have any containers")),
        ];
        for (p, req, want) in cases {
            let got = default_container(&p, req).map_err(|e| e.render());
            let got = got.as_ref().map(|(c, n)| (c.as_str(), n.as_deref())).map_err(String::as_str);
            assert_eq!(got, want, "request {req:?}");
        }
        assert_eq!(all_containers(&pod(&["a", "b"], &["i"], None)), ["i", "a", "b"]);
    }
}
