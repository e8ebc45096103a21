//! `apply -f`: client-side apply.
//!
//! Per object, in file order (kubectl §7.1/§7.2):
//! 1. `GET` the object.
//! 2. 404 → `POST ...?fieldManager=kubectl-client-side-apply&fieldValidation=Strict`
//!    with the manifest plus the `kubectl.kubernetes.io/last-applied-configuration`
//!    annotation → `pod/web created`.
//! 3. Found → three-way merge patch (see [`crate::merge`]) between the
//!    last-applied annotation, the new manifest and the live object; empty →
//!    `pod/web unchanged` (no request), else `PATCH` with
//!    `application/merge-patch+json` → `pod/web configured`.
//!
//! A failing object does not stop the others; errors are printed at the end
//! and the exit code is 1, as kubectl does.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use super::{DryRun, field_validation, info_string};
use crate::client::{ACCEPT_JSON, Client};
use crate::errors::{CliError, aggregate};
use crate::manifest::{self, Manifest};
use crate::merge;
use crate::printers::json::to_json_compact;
use crate::resources::ResourceType;

/// The annotation holding the last applied manifest.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Arguments of `apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// Files, directories or `-` (stdin) holding the manifests.
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// `none`, `client` (send nothing) or `server` (dryRun=All).
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
    /// Server-side field validation: strict (true), warn, ignore (false).
    #[arg(long, default_value = "strict", num_args = 0..=1, default_missing_value = "strict")]
    pub validate: String,
    /// Output format: only `name` is supported (`pod/web`).
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// Run `apply`.
pub async fn run(client: &Client, args: ApplyArgs) -> Result<i32, CliError> {
    let validation = field_validation(&args.validate)?;
    let manifests = manifest::read_all(&args.files, args.recursive)?;
    if manifests.is_empty() {
        return Err(CliError::msg("no objects passed to apply"));
    }
    let name_only = match args.output.as_deref() {
        None => false,
        Some("name") => true,
        Some(o) => {
            return Err(CliError::msg(format!(
                "unable to match a printer suitable for the output format \"{o}\", allowed formats are: name"
            )));
        }
    };
    let mut errs = Vec::new();
    for m in manifests {
        match apply_one(client, &m, validation, args.dry_run).await {
            Ok((name, verb)) => {
                let line =
                    if name_only { format!("{name}\n") } else { format!("{name} {verb}{}\n", args.dry_run.suffix()) };
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
            Err(e) => errs.push(e),
        }
    }
    aggregate(errs).map(|()| 0)
}

/// Apply one object; returns (`pod/web`, `created|configured|unchanged`).
async fn apply_one(
    client: &Client,
    m: &Manifest,
    validation: &str,
    dry: DryRun,
) -> Result<(String, &'static str), CliError> {
    let rt = m.resource()?;
    let ns = m.namespace(rt, &client.namespace);
    let name = m.name().to_string();
    if name.is_empty() {
        return Err(CliError::msg(format!(
            "error when retrieving current configuration of:\n{}\nfrom server for: \"{}\": resource name may not be empty",
            info_string(rt, "", ns.as_deref()),
            m.source
        )));
    }
    let modified = with_last_applied(&m.obj, ns.as_deref())?;
    let slash = rt.slash_name(&name);
    let mut query =
        vec![("fieldManager", "kubectl-client-side-apply".to_string()), ("fieldValidation", validation.to_string())];
    if dry == DryRun::Server {
        query.push(("dryRun", "All".into()));
    }

    let live = match super::get_object(client, rt, ns.as_deref(), &name).await {
        Ok(v) => Some(v),
        Err(e) if e.is_not_found() => None,
        Err(CliError::Api(e)) => {
            let verb = format!(
                "retrieving current configuration of:\n{}\nfrom server for:",
                info_string(rt, &name, ns.as_deref())
            );
            return Err((*e).with_source(&verb, &m.source).into());
        }
        Err(e) => return Err(e),
    };
    let Some(live) = live else {
        if dry != DryRun::Client {
            create(client, rt, ns.as_deref(), &modified, &query)
                .await
                .map_err(|e| source_err(e, "creating", &m.source))?;
        }
        return Ok((slash, "created"));
    };

    let original = match live.pointer("/metadata/annotations").and_then(|a| a.get(LAST_APPLIED)).and_then(Value::as_str)
    {
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| CliError::msg(format!("error decoding the {LAST_APPLIED} annotation of {slash}: {e}")))?,
        ),
        None => {
            eprintln!(
                "Warning: resource {}/{name} is missing the {LAST_APPLIED} annotation which is required by peapod apply. peapod apply should only be used on resources created declaratively by either peapod create --save-config or peapod apply. The missing annotation will be patched automatically.",
                rt.plural
            );
            None
        }
    };
    let patch = merge::three_way(original.as_ref(), &modified, &live);
    if merge::is_empty_patch(&patch) {
        return Ok((slash, "unchanged"));
    }
    if dry != DryRun::Client {
        let url = client.url(&rt.path(ns.as_deref(), Some(&name)), &query);
        client
            .request_json(
                Method::PATCH,
                url,
                ACCEPT_JSON,
                Some(&patch),
                "application/merge-patch+json",
                &format!("patch {} {name}", rt.plural),
            )
            .await
            .map_err(|e| {
                let verb = format!(
                    "applying patch:\n{}\nto:\n{}\nfor:",
                    to_json_compact(&patch),
                    info_string(rt, &name, ns.as_deref())
                );
                source_err(e, &verb, &m.source)
            })?;
    }
    Ok((slash, "configured"))
}

async fn create(
    client: &Client,
    rt: &ResourceType,
    ns: Option<&str>,
    body: &Value,
    query: &[(&str, String)],
) -> Result<Value, CliError> {
    let url = client.url(&rt.path(ns, None), query);
    client
        .request_json(Method::POST, url, ACCEPT_JSON, Some(body), "application/json", &format!("post {}", rt.plural))
        .await
}

/// Attach the file name to an API error (`error when creating "f.yaml": ...`).
pub(crate) fn source_err(e: CliError, verb: &str, source: &str) -> CliError {
    match e {
        CliError::Api(a) => CliError::from((*a).with_source(verb, source)),
        other => other,
    }
}

/// The manifest as apply sends it: namespace filled in, and the
/// last-applied annotation set to the manifest itself (with `annotations: {}`
/// when it had none) as compact sorted JSON plus a newline, like kubectl.
pub fn with_last_applied(obj: &Value, ns: Option<&str>) -> Result<Value, CliError> {
    let mut base = obj.clone();
    let meta = base
        .as_object_mut()
        .ok_or_else(|| CliError::msg("a manifest must be an object"))?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let meta = meta.as_object_mut().ok_or_else(|| CliError::msg("metadata must be an object"))?;
    if let Some(ns) = ns {
        meta.insert("namespace".into(), json!(ns));
    }
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if annotations.is_null() {
        *annotations = json!({});
    }
    let annotations =
        annotations.as_object_mut().ok_or_else(|| CliError::msg("metadata.annotations must be an object"))?;
    annotations.remove(LAST_APPLIED);
    let text = format!("{}\n", to_json_compact(&base));
    let mut modified = base;
    if let Some(a) = modified.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
    Ok(modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_applied_matches_kubectl() {
        // kubectl 1.33 wrote exactly this annotation for manifests/pod.yaml.
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}});
        let m = with_last_applied(&obj, Some("default")).unwrap();
        assert_eq!(
            m["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"web\"},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"containers\":[{\"image\":\"nginx:1.27\",\"name\":\"main\",\"ports\":[{\"containerPort\":80}]}]}}\n"
        );
        assert_eq!(m["metadata"]["namespace"], "default");
    }

    #[test]
    fn reapplying_keeps_other_annotations_and_drops_the_old_one() {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": "x", "annotations": {"a": "b", LAST_APPLIED: "old"}}});
        let m = with_last_applied(&obj, None).unwrap();
        let text = m["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert_eq!(
            text,
            "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"annotations\":{\"a\":\"b\"},\"name\":\"x\"}}\n"
        );
        assert_eq!(m["metadata"]["annotations"]["a"], "b");
    }
}
