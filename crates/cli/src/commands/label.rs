//! `label` / `annotate TYPE NAME k=v k2-` (kubectl §7.6): `GET` the object,
//! refuse to change an existing key without `--overwrite`, then
//! `PATCH ?fieldManager=kubectl-label|kubectl-annotate` with
//! `application/merge-patch+json` `{"metadata":{"labels":{"k":"v","k2":null}}}`;
//! prints `pod/web labeled` (`unlabeled` when only removing, `annotated`).

use std::io::Write;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::{ACCEPT_JSON, Client};
use crate::errors::{CliError, aggregate};
use crate::resources::{self, ResourceType};

/// Which map to edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `metadata.labels`.
    Labels,
    /// `metadata.annotations`.
    Annotations,
}

/// Arguments of `label` and `annotate`.
#[derive(clap::Args, Debug)]
pub struct LabelArgs {
    /// `TYPE NAME... KEY=VAL... KEY-...` or `TYPE/NAME KEY=VAL`.
    #[arg(required = true, value_name = "ARGS")]
    pub args: Vec<String>,
    /// Allow replacing existing values.
    #[arg(long)]
    pub overwrite: bool,
    /// Every object of the type.
    #[arg(long)]
    pub all: bool,
    /// Objects matching this label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// Split `KEY=VAL` / `KEY-` changes from the resource arguments.
pub fn split_changes(args: &[String]) -> Result<(Vec<String>, Map<String, Value>), CliError> {
    let first_change = args.iter().position(|a| a.contains('=') || (a.ends_with('-') && !a.contains('/')));
    let Some(i) = first_change else {
        return Err(CliError::msg("at least one label update is required"));
    };
    let mut changes = Map::new();
    for c in &args[i..] {
        if let Some((k, v)) = c.split_once('=') {
            changes.insert(k.to_string(), json!(v));
        } else if let Some(k) = c.strip_suffix('-') {
            changes.insert(k.to_string(), Value::Null);
        } else {
            return Err(CliError::msg(format!("invalid label spec: {c}")));
        }
    }
    Ok((args[..i].to_vec(), changes))
}

/// Run `label` or `annotate`.
pub async fn run(client: &Client, a: LabelArgs, target: Target) -> Result<i32, CliError> {
    let (res_args, changes) = split_changes(&a.args)?;
    let groups = resources::parse_type_args(&res_args).map_err(CliError::Msg)?;
    let mut objects: Vec<(&'static ResourceType, Value)> = Vec::new();
    for (rt, names) in groups {
        let ns = super::scope(rt, client);
        if names.is_empty() {
            if !a.all && a.selector.is_none() {
                return Err(CliError::msg("resource(s) were provided, but no name was specified"));
            }
            let q: Vec<(&str, String)> = a.selector.iter().map(|l| ("labelSelector", l.clone())).collect();
            let (items, _) = super::list_objects(client, rt, ns.as_deref(), &q).await?;
            objects.extend(items.into_iter().map(|o| (rt, o)));
        } else {
            for n in names {
                objects.push((rt, super::get_object(client, rt, ns.as_deref(), &n).await?));
            }
        }
    }
    let (field, manager) = match target {
        Target::Labels => ("labels", "kubectl-label"),
        Target::Annotations => ("annotations", "kubectl-annotate"),
    };
    let mut errs = Vec::new();
    for (rt, obj) in objects {
        let name = resources::name_of(&obj).to_string();
        let current =
            obj.pointer(&format!("/metadata/{field}")).and_then(Value::as_object).cloned().unwrap_or_default();
        if !a.overwrite
            && let Some((k, old)) = changes
                .iter()
                .filter(|(_, v)| !v.is_null())
                .find_map(|(k, v)| current.get(k).filter(|old| *old != v).map(|old| (k, old)))
        {
            errs.push(CliError::msg(format!(
                "'{k}' already has a value ({}), and --overwrite is false",
                old.as_str().unwrap_or_default()
            )));
            continue;
        }
        let changed = changes.iter().any(|(k, v)| match v {
            Value::Null => current.contains_key(k),
            v => current.get(k) != Some(v),
        });
        let msg = match (target, changed) {
            (Target::Labels, false) => "not labeled",
            (Target::Labels, true) if changes.values().all(Value::is_null) => "unlabeled",
            (Target::Labels, true) => "labeled",
            (Target::Annotations, _) => "annotated",
        };
        if changed {
            let patch = json!({"metadata": {field: changes}});
            let ns = resources::namespace_of(&obj).map(str::to_string);
            let url = client.url(&rt.path(ns.as_deref(), Some(&name)), &[("fieldManager", manager.to_string())]);
            if let Err(e) = client
                .request_json(
                    Method::PATCH,
                    url,
                    ACCEPT_JSON,
                    Some(&patch),
                    "application/merge-patch+json",
                    &format!("patch {} {name}", rt.plural),
                )
                .await
            {
                errs.push(e);
                continue;
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{} {msg}", rt.slash_name(&name));
    }
    aggregate(errs).map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_changes() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (res, ch) = split_changes(&s(&["pod", "web", "env=prod", "old-"])).unwrap();
        assert_eq!(res, ["pod", "web"]);
        assert_eq!(Value::Object(ch), json!({"env": "prod", "old": null}));
        let (res, _) = split_changes(&s(&["pod/web", "a=b"])).unwrap();
        assert_eq!(res, ["pod/web"]);
        assert!(split_changes(&s(&["pod", "web"])).is_err());
    }
}
