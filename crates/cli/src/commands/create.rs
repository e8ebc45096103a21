//! `create -f`: `POST ...?fieldManager=kubectl-create&fieldValidation=Strict`
//! per object (kubectl §7.5); prints `pod/web created`. A duplicate gives
//! `Error from server (AlreadyExists): error when creating "f.yaml": ...`.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use super::apply::{source_err, with_last_applied};
use super::{DryRun, field_validation};
use crate::client::{ACCEPT_JSON, Client};
use crate::errors::{CliError, aggregate};
use crate::manifest::{self, Manifest};

/// Arguments of `create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Files, directories or `-` (stdin) holding the manifests.
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Also store the last-applied annotation, so `apply` can manage the object later.
    #[arg(long)]
    pub save_config: bool,
    /// `none`, `client` (send nothing) or `server` (dryRun=All).
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
    /// Server-side field validation: strict (true), warn, ignore (false).
    #[arg(long, default_value = "strict", num_args = 0..=1, default_missing_value = "strict")]
    pub validate: String,
}

/// Run `create`.
pub async fn run(client: &Client, args: CreateArgs) -> Result<i32, CliError> {
    let validation = field_validation(&args.validate)?;
    let manifests = manifest::read_all(&args.files, args.recursive)?;
    let mut errs = Vec::new();
    for m in manifests {
        match create_one(client, &m, validation, &args).await {
            Ok(name) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{name} created{}", args.dry_run.suffix());
                let _ = out.flush();
            }
            Err(e) => errs.push(e),
        }
    }
    aggregate(errs).map(|()| 0)
}

async fn create_one(client: &Client, m: &Manifest, validation: &str, args: &CreateArgs) -> Result<String, CliError> {
    let rt = m.resource()?;
    let ns = m.namespace(rt, &client.namespace);
    let mut body = if args.save_config { with_last_applied(&m.obj, ns.as_deref())? } else { m.obj.clone() };
    if let (Some(ns), Some(meta)) = (&ns, body.get_mut("metadata").and_then(Value::as_object_mut)) {
        meta.insert("namespace".into(), json!(ns));
    }
    let mut query = vec![("fieldManager", "kubectl-create".to_string()), ("fieldValidation", validation.to_string())];
    if args.dry_run == DryRun::Server {
        query.push(("dryRun", "All".into()));
    }
    let mut created_name = m.name().to_string();
    if args.dry_run != DryRun::Client {
        let url = client.url(&rt.path(ns.as_deref(), None), &query);
        let created = client
            .request_json(
                Method::POST,
                url,
                ACCEPT_JSON,
                Some(&body),
                "application/json",
                &format!("post {}", rt.plural),
            )
            .await
            .map_err(|e| source_err(e, "creating", &m.source))?;
        // generateName: the server picks the name.
        if let Some(n) = created.pointer("/metadata/name").and_then(Value::as_str) {
            created_name = n.to_string();
        }
    }
    Ok(rt.slash_name(&created_name))
}
