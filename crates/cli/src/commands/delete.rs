//! `delete TYPE NAME...` / `delete TYPE/NAME` / `delete -f FILE` /
//! `delete TYPE --all|-l SEL` (kubectl §14).
//!
//! Each object gets `DELETE` with body
//! `{"propagationPolicy":"Background"[,"gracePeriodSeconds":N][,"dryRun":["All"]]}`
//! and a `pod "web" deleted` line (`force deleted` with `--force`); `--all`
//! and `-l` list the collection first. Unless `--wait=false`, the command
//! then waits for every deleted object to be gone, with the list+watch of
//! [`super::watch_object`] pinned to the deleted object's uid.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use super::{DryRun, Waited, parse_duration};
use crate::client::{ACCEPT_JSON, Client};
use crate::errors::{CliError, aggregate};
use crate::manifest;
use crate::resources::{self, ResourceType};

/// Arguments of `delete`.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// `TYPE NAME...` or `TYPE/NAME...`.
    #[arg(value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    /// Files, directories or `-` with the objects to delete.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<String>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Delete the objects matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete every object of the type in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Seconds given to the object to terminate gracefully (-1: its default).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// Immediate shutdown (grace period 1).
    #[arg(long)]
    pub now: bool,
    /// Remove immediately, without waiting for termination.
    #[arg(long)]
    pub force: bool,
    /// Wait for the objects to be gone before returning.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub wait: bool,
    /// How long to wait (0: forever).
    #[arg(long, default_value = "0s")]
    pub timeout: String,
    /// Treat "not found" as success.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// `none`, `client` or `server` (dryRun in the body).
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
    /// Output format: only `name`.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

struct Target {
    rt: &'static ResourceType,
    ns: Option<String>,
    name: String,
    /// The file it was read from (`delete -f`), for error messages.
    source: Option<String>,
}

/// Run `delete`.
pub async fn run(client: &Client, args: DeleteArgs) -> Result<i32, CliError> {
    let mut grace = args.grace_period;
    if args.now {
        if grace >= 0 {
            return Err(CliError::msg("--now and --grace-period cannot be specified together"));
        }
        grace = 1;
    }
    if grace == 0 && !args.force {
        // kubectl turns --grace-period=0 into 1 unless --force is given.
        grace = 1;
    }
    if args.force && grace < 0 {
        grace = 0;
    }
    if args.force && grace == 0 {
        eprintln!(
            "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely."
        );
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
    let timeout = match parse_duration(&args.timeout)? {
        d if d.is_zero() => None,
        d => Some(d),
    };

    let targets = collect_targets(client, &args).await?;
    if targets.is_empty() {
        if args.files.is_empty() {
            eprintln!("No resources found");
        }
        return Ok(0);
    }
    let mut errs = Vec::new();
    let mut deleted: Vec<(Target, Option<String>)> = Vec::new();
    for t in targets {
        let mut body = json!({"propagationPolicy": "Background"});
        if grace >= 0 {
            body["gracePeriodSeconds"] = json!(grace);
        }
        if args.dry_run == DryRun::Server {
            body["dryRun"] = json!(["All"]);
        }
        let res = if args.dry_run == DryRun::Client {
            Ok(Value::Null)
        } else {
            let url = client.url(&t.rt.path(t.ns.as_deref(), Some(&t.name)), &[]);
            client
                .request_json(
                    Method::DELETE,
                    url,
                    ACCEPT_JSON,
                    Some(&body),
                    "application/json",
                    &format!("delete {} {}", t.rt.plural, t.name),
                )
                .await
        };
        match res {
            Ok(resp) => {
                let op = if args.force && grace == 0 { "force deleted" } else { "deleted" };
                let line = if name_only {
                    format!("{}\n", t.rt.slash_name(&t.name))
                } else {
                    format!("{} \"{}\" {op}{}\n", t.rt.singular, t.name, args.dry_run.suffix())
                };
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
                let uid = resp
                    .pointer("/metadata/uid")
                    .or_else(|| resp.pointer("/details/uid"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                deleted.push((t, uid));
            }
            Err(e) if e.is_not_found() && args.ignore_not_found => {}
            Err(e) => match &t.source {
                Some(src) => errs.push(super::apply::source_err(e, "deleting", src)),
                None => errs.push(e),
            },
        }
    }
    if args.wait && args.dry_run == DryRun::None {
        for (t, uid) in &deleted {
            match super::watch_object(client, t.rt, t.ns.as_deref(), &t.name, uid.as_deref(), timeout, &|_| false).await
            {
                Ok(Waited::Deleted) => {}
                Ok(Waited::TimedOut) => {
                    errs.push(CliError::msg(format!(
                        "timed out waiting for the condition on {}/{}",
                        t.rt.plural, t.name
                    )));
                }
                Ok(Waited::Met(_)) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => errs.push(e),
            }
        }
    }
    aggregate(errs).map(|()| 0)
}

async fn collect_targets(client: &Client, args: &DeleteArgs) -> Result<Vec<Target>, CliError> {
    if !args.files.is_empty() {
        if !args.args.is_empty() {
            return Err(CliError::msg("resource(s) were provided, but no name was specified"));
        }
        let mut out = Vec::new();
        for m in manifest::read_all(&args.files, args.recursive)? {
            let rt = m.resource()?;
            out.push(Target {
                rt,
                ns: m.namespace(rt, &client.namespace),
                name: m.name().to_string(),
                source: Some(m.source.clone()),
            });
        }
        return Ok(out);
    }
    if args.args.is_empty() {
        return Err(CliError::msg(
            "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
        ));
    }
    let groups = resources::parse_type_args(&args.args).map_err(CliError::Msg)?;
    let mut out = Vec::new();
    for (rt, names) in groups {
        let ns = super::scope(rt, client);
        if names.is_empty() {
            if !args.all && args.selector.is_none() {
                return Err(CliError::msg("resource(s) were provided, but no name was specified"));
            }
            let mut q = Vec::new();
            if let Some(l) = &args.selector {
                q.push(("labelSelector", l.clone()));
            }
            let list =
                client.get(&rt.path(ns.as_deref(), None), &q, ACCEPT_JSON, &format!("list {}", rt.plural)).await?;
            for item in list.get("items").and_then(Value::as_array).into_iter().flatten() {
                out.push(Target {
                    rt,
                    ns: resources::namespace_of(item).map(str::to_string).or(ns.clone()),
                    name: resources::name_of(item).to_string(),
                    source: None,
                });
            }
        } else {
            if args.all || args.selector.is_some() {
                return Err(CliError::msg("name cannot be provided when a selector or --all is specified"));
            }
            out.extend(names.into_iter().map(|name| Target { rt, ns: ns.clone(), name, source: None }));
        }
    }
    Ok(out)
}
