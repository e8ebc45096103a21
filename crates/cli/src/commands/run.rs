//! `run NAME --image=IMG [--restart=Never] [--env K=V] [--port P]
//! [--labels k=v,..] [--command] -- ARGS...` (kubectl §16): one
//! `POST .../pods?fieldManager=kubectl-run` with the body kubectl builds
//! (no GET first, no fieldValidation); prints `pod/NAME created`.

use std::io::Write;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::DryRun;
use crate::client::{ACCEPT_JSON, Client};
use crate::errors::CliError;
use crate::printers::{self, OutputFormat};
use crate::resources;

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Pod name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Container image.
    #[arg(long, required = true)]
    pub image: String,
    /// Restart policy: Always, OnFailure or Never.
    #[arg(long, default_value = "Always")]
    pub restart: String,
    /// Environment variables (`K=V`), repeatable.
    #[arg(long)]
    pub env: Vec<String>,
    /// Container port to expose.
    #[arg(long)]
    pub port: Option<u16>,
    /// Labels (`k=v,k2=v2`) instead of `run=NAME`.
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// Annotations (`k=v`), repeatable.
    #[arg(long)]
    pub annotations: Vec<String>,
    /// Treat the arguments after `--` as the command instead of args.
    #[arg(long)]
    pub command: bool,
    /// Image pull policy.
    #[arg(long)]
    pub image_pull_policy: Option<String>,
    /// `none`, `client` (print only) or `server` (dryRun=All).
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
    /// Output format (yaml, json, name) for the created pod.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Arguments (or the command with `--command`).
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// The pod kubectl run sends.
pub fn pod_body(a: &RunArgs) -> Result<Value, CliError> {
    let restart = match a.restart.as_str() {
        "Always" | "OnFailure" | "Never" => a.restart.clone(),
        other => return Err(CliError::msg(format!("invalid restart policy: {other}"))),
    };
    let mut labels = Map::new();
    match &a.labels {
        Some(l) => {
            for pair in l.split(',').filter(|p| !p.is_empty()) {
                let (k, v) =
                    pair.split_once('=').ok_or_else(|| CliError::msg(format!("invalid label spec: {pair}")))?;
                labels.insert(k.to_string(), json!(v));
            }
        }
        None => {
            labels.insert("run".into(), json!(a.name));
        }
    }
    let mut container = Map::new();
    container.insert("name".into(), json!(a.name));
    container.insert("image".into(), json!(a.image));
    if !a.args.is_empty() {
        container.insert(if a.command { "command" } else { "args" }.into(), json!(a.args));
    }
    if !a.env.is_empty() {
        let env: Result<Vec<Value>, CliError> = a
            .env
            .iter()
            .map(|e| {
                let (k, v) = e.split_once('=').ok_or_else(|| CliError::msg(format!("invalid env: {e}")))?;
                Ok(json!({"name": k, "value": v}))
            })
            .collect();
        container.insert("env".into(), Value::Array(env?));
    }
    if let Some(p) = a.port {
        container.insert("ports".into(), json!([{"containerPort": p}]));
    }
    if let Some(p) = &a.image_pull_policy {
        container.insert("imagePullPolicy".into(), json!(p));
    }
    container.insert("resources".into(), json!({}));
    let mut metadata = json!({"name": a.name, "creationTimestamp": null, "labels": labels});
    if !a.annotations.is_empty() {
        let mut ann = Map::new();
        for e in &a.annotations {
            let (k, v) = e.split_once('=').ok_or_else(|| CliError::msg(format!("invalid annotation: {e}")))?;
            ann.insert(k.into(), json!(v));
        }
        metadata["annotations"] = Value::Object(ann);
    }
    Ok(json!({
        "kind": "Pod", "apiVersion": "v1", "metadata": metadata,
        "spec": {"containers": [container], "restartPolicy": restart, "dnsPolicy": "ClusterFirst"},
        "status": {}
    }))
}

/// Run `run`.
pub async fn run(client: &Client, a: RunArgs) -> Result<i32, CliError> {
    let fmt = OutputFormat::parse(a.output.as_deref())?;
    let body = pod_body(&a)?;
    let mut created = body.clone();
    if a.dry_run != DryRun::Client {
        let mut q = vec![("fieldManager", "kubectl-run".to_string())];
        if a.dry_run == DryRun::Server {
            q.push(("dryRun", "All".into()));
        }
        let url = client.url(&resources::POD.path(Some(&client.namespace), None), &q);
        created =
            client.request_json(Method::POST, url, ACCEPT_JSON, Some(&body), "application/json", "post pods").await?;
    }
    let text = if fmt.is_table() {
        format!("pod/{} created{}\n", a.name, a.dry_run.suffix())
    } else {
        printers::render_objects(&fmt, vec![created], true)
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct T {
        #[command(flatten)]
        a: RunArgs,
    }

    #[test]
    fn body_like_kubectl_run() {
        let t = T::parse_from(["t", "nginx1", "--image=nginx:1.27"]);
        assert_eq!(
            crate::printers::json::to_json_compact(&pod_body(&t.a).unwrap()),
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":null,"labels":{"run":"nginx1"},"name":"nginx1"},"spec":{"containers":[{"image":"nginx:1.27","name":"nginx1","resources":{}}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always"},"status":{}}"#
        );
        let t = T::parse_from([
            "t",
            "s",
            "--image=busybox",
            "--restart=Never",
            "--env=A=B",
            "--port=8080",
            "--command",
            "--",
            "sleep",
            "10",
        ]);
        let b = pod_body(&t.a).unwrap();
        assert_eq!(b["spec"]["restartPolicy"], "Never");
        assert_eq!(b["spec"]["containers"][0]["command"], json!(["sleep", "10"]));
        assert_eq!(b["spec"]["containers"][0]["env"], json!([{"name": "A", "value": "B"}]));
        assert_eq!(b["spec"]["containers"][0]["ports"], json!([{"containerPort": 8080}]));
        let t = T::parse_from(["t", "s", "--image=b", "--labels=a=1,b=2", "--", "x"]);
        let b = pod_body(&t.a).unwrap();
        assert_eq!(b["metadata"]["labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(b["spec"]["containers"][0]["args"], json!(["x"]));
    }
}
