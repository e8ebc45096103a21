//! One module per verb, each with its clap argument struct and an async
//! `run` that returns the exit code. Helpers shared by several verbs (object
//! GET/list, waiting for deletion with list+watch) live here.

pub mod apply;
pub mod cp;
pub mod create;
pub mod debug;
pub mod delete;
pub mod describe;
pub mod exec;
pub mod get;
pub mod image;
pub mod label;
pub mod logs;
pub mod run;
pub mod version;
pub mod wait;

mod describe_container;
mod describe_pod;
mod streams;

use std::time::Duration;

use serde_json::Value;

use crate::client::{ACCEPT_JSON, Client};
use crate::errors::CliError;
use crate::resources::{self, ResourceType};

/// kubectl's `info.String()` for messages about one object.
pub(crate) fn info_string(rt: &ResourceType, name: &str, ns: Option<&str>) -> String {
    format!(
        "Resource: \"/v1, Resource={}\", GroupVersionKind: \"/v1, Kind={}\"\nName: \"{name}\", Namespace: \"{}\"",
        rt.plural,
        rt.kind,
        ns.unwrap_or_default()
    )
}

/// The `fieldValidation` query value for a `--validate` flag value.
pub(crate) fn field_validation(v: &str) -> Result<&'static str, CliError> {
    match v {
        "true" | "strict" => Ok("Strict"),
        "warn" => Ok("Warn"),
        "false" | "ignore" => Ok("Ignore"),
        other => Err(CliError::msg(format!(
            "invalid - validate option \"{other}\"; must be one of: strict (or true), warn, ignore (or false)"
        ))),
    }
}

/// `--dry-run` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum DryRun {
    /// Really change things.
    #[default]
    None,
    /// Do not send mutating requests.
    Client,
    /// Send them with `dryRun=All`.
    Server,
}

impl DryRun {
    /// What kubectl appends to result lines.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

/// The namespace to use for a namespaced type (`None` for cluster-scoped).
pub(crate) fn scope(rt: &ResourceType, client: &Client) -> Option<String> {
    rt.namespaced.then(|| client.namespace.clone())
}

/// GET one object as JSON.
pub(crate) async fn get_object(
    client: &Client,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
) -> Result<Value, CliError> {
    client.get(&rt.path(ns, Some(name)), &[], ACCEPT_JSON, &format!("get {} {name}", rt.plural)).await
}

/// List objects (JSON), returning the items and the list's resourceVersion.
pub(crate) async fn list_objects(
    client: &Client,
    rt: &ResourceType,
    ns: Option<&str>,
    query: &[(&str, String)],
) -> Result<(Vec<Value>, String), CliError> {
    let list = client.get(&rt.path(ns, None), query, ACCEPT_JSON, &format!("list {}", rt.plural)).await?;
    let rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut items = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    crate::printers::fill_item_kinds(&mut items, rt);
    Ok((items, rv))
}

/// Outcome of waiting on one object with list+watch.
#[derive(Debug, PartialEq)]
pub(crate) enum Waited {
    /// The predicate held for this version of the object.
    Met(Value),
    /// The object is gone (404, DELETED, or replaced by one with another uid).
    Deleted,
    /// The deadline passed.
    TimedOut,
}

/// Watch one object until `pred` holds or it is deleted, the way kubectl's
/// `wait`/`delete` do: list with `fieldSelector=metadata.name=NAME` (which
/// also tells the resourceVersion to watch from), check the listed object,
/// then watch from that version; when a watch ends, relist and rewatch.
/// `uid` pins the object (a new object with the same name counts as the old
/// one being deleted).
pub(crate) async fn watch_object(
    client: &Client,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    uid: Option<&str>,
    timeout: Option<Duration>,
    pred: &dyn Fn(&Value) -> bool,
) -> Result<Waited, CliError> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let work = async {
        let selector = format!("metadata.name={name}");
        loop {
            let (items, rv) =
                list_objects(client, rt, ns, &[("fieldSelector", selector.clone()), ("resourceVersion", "0".into())])
                    .await?;
            let Some(obj) = items.into_iter().next() else {
                return Ok(Waited::Deleted);
            };
            if uid.is_some_and(|u| resources_uid(&obj) != u) {
                return Ok(Waited::Deleted);
            }
            if pred(&obj) {
                return Ok(Waited::Met(obj));
            }
            let mut query = vec![("fieldSelector", selector.clone()), ("allowWatchBookmarks", "true".into())];
            if !rv.is_empty() {
                query.push(("resourceVersion", rv));
            }
            let mut stream =
                match client.watch(&rt.path(ns, None), &query, ACCEPT_JSON, &format!("watch {}", rt.plural)).await {
                    Ok(s) => s,
                    // 410 Gone: our version is too old; relist.
                    Err(CliError::Api(e)) if e.code() == 410 => continue,
                    Err(e) => return Err(e),
                };
            while let Some(ev) = stream.next().await? {
                match ev.kind.as_str() {
                    "DELETED" => return Ok(Waited::Deleted),
                    "ADDED" | "MODIFIED" => {
                        if uid.is_some_and(|u| resources_uid(&ev.object) != u) {
                            return Ok(Waited::Deleted);
                        }
                        if pred(&ev.object) {
                            return Ok(Waited::Met(ev.object));
                        }
                    }
                    // ERROR (typically 410 Expired) ends this watch: relist.
                    "ERROR" => break,
                    _ => {}
                }
            }
        }
    };
    match deadline {
        Some(d) => match tokio::time::timeout_at(d, work).await {
            Ok(r) => r,
            Err(_) => Ok(Waited::TimedOut),
        },
        None => work.await,
    }
}

fn resources_uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default()
}

/// Parse a kubectl duration flag (`30s`, `5m`, `1h30m`, `0`, `-1s`).
/// Negative means "a week" for `wait` (kubectl's convention); `0` means zero.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, CliError> {
    let bad = || CliError::msg(format!("invalid duration \"{s}\""));
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if let Some(rest) = s.strip_prefix('-') {
        parse_duration(rest)?;
        return Ok(Duration::from_secs(7 * 24 * 3600));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Pod-or-object name from `pod/NAME` or `NAME`.
pub(crate) fn pod_name(arg: &str) -> Result<String, CliError> {
    match arg.split_once('/') {
        None => Ok(arg.to_string()),
        Some((t, n)) if resources::lookup(t) == Some(resources::POD) => Ok(n.to_string()),
        Some((t, _)) => Err(CliError::msg(format!("cannot use a {t} here; a pod name is required"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, secs) in [("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("0", 0.0), ("1.5s", 1.5), ("500ms", 0.5)] {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_secs_f64(secs), "{s}");
        }
        assert_eq!(parse_duration("-1s").unwrap(), Duration::from_secs(7 * 24 * 3600));
        for bad in ["", "5", "5x", "s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn misc() {
        assert_eq!(field_validation("true").unwrap(), "Strict");
        assert!(field_validation("x").is_err());
        assert_eq!(pod_name("pod/web").unwrap(), "web");
        assert_eq!(pod_name("web").unwrap(), "web");
        assert!(pod_name("cm/x").is_err());
        let pod = resources::POD;
        assert_eq!(
            info_string(pod, "web", Some("default")),
            "Resource: \"/v1, Resource=pods\", GroupVersionKind: \"/v1, Kind=Pod\"\nName: \"web\", Namespace: \"default\""
        );
    }
}
