//! `wait --for=condition=Ready|delete|jsonpath='{..}'=VALUE TYPE/NAME|-l SEL
//! [--timeout=30s]` (kubectl §15): `GET` each object (with `-l`, list them),
//! then the list+watch of [`super::watch_object`] until the condition holds
//! (`pod/web condition met`), the object is deleted, or the timeout passes
//! (`error: timed out waiting for the condition on pods/web`, exit 1).

use std::io::Write;

use serde_json::Value;

use super::{Waited, parse_duration};
use crate::client::Client;
use crate::errors::{CliError, aggregate};
use crate::printers::jsonpath::{Template, value_text};
use crate::resources::{self, ResourceType};

/// Arguments of `wait`.
#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// `TYPE/NAME...` or `TYPE NAME...` or `TYPE -l SEL`.
    #[arg(value_name = "TYPE[/NAME]")]
    pub args: Vec<String>,
    /// `delete`, `condition=NAME[=VALUE]` or `jsonpath={PATH}[=VALUE]`.
    #[arg(long = "for", required = true)]
    pub for_: String,
    /// How long to wait (negative: a week).
    #[arg(long, default_value = "30s", allow_hyphen_values = true)]
    pub timeout: String,
    /// Label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Every object of the type.
    #[arg(long)]
    pub all: bool,
}

/// A parsed `--for`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The object is gone.
    Delete,
    /// `status.conditions[type=NAME].status == VALUE` (case-insensitive type).
    Condition(String, String),
    /// The JSONPath's value equals VALUE, or exists when no value is given.
    JsonPath(Template, Option<String>),
}

impl Condition {
    /// Parse the flag.
    pub fn parse(s: &str) -> Result<Condition, CliError> {
        if s.eq_ignore_ascii_case("delete") {
            return Ok(Condition::Delete);
        }
        if let Some(c) = s.strip_prefix("condition=") {
            let (name, value) = match c.split_once('=') {
                Some((n, v)) => (n, v),
                None => (c, "true"),
            };
            if name.is_empty() {
                return Err(CliError::msg(format!("unrecognized condition: \"{s}\"")));
            }
            return Ok(Condition::Condition(name.to_string(), value.to_string()));
        }
        if let Some(j) = s.strip_prefix("jsonpath=") {
            // The value follows the closing brace: `{.status.phase}=Running`.
            let (expr, value) = match j.rfind('}') {
                Some(i) => (&j[..=i], j[i + 1..].strip_prefix('=').map(str::to_string)),
                None => return Err(CliError::msg(format!("unrecognized condition: \"{s}\""))),
            };
            let t = Template::parse(expr).map_err(|e| CliError::msg(e.to_string()))?;
            return Ok(Condition::JsonPath(t, value));
        }
        Err(CliError::msg(format!("unrecognized condition: \"{s}\"")))
    }

    /// Whether `obj` satisfies the condition (never, for `delete`).
    pub fn holds(&self, obj: &Value) -> bool {
        match self {
            Condition::Delete => false,
            Condition::Condition(name, value) => {
                obj.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
                    c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(name))
                        && c.get("status").and_then(Value::as_str).is_some_and(|st| st.eq_ignore_ascii_case(value))
                })
            }
            Condition::JsonPath(t, value) => {
                let vals = t.first_values(obj);
                match value {
                    None => !vals.is_empty(),
                    Some(v) => vals.len() == 1 && value_text(&vals[0]) == *v,
                }
            }
        }
    }
}

/// Run `wait`.
pub async fn run(client: &Client, a: WaitArgs) -> Result<i32, CliError> {
    let cond = Condition::parse(&a.for_)?;
    let timeout = parse_duration(&a.timeout)?;
    if a.args.is_empty() {
        return Err(CliError::msg("resource name may not be empty"));
    }
    let groups = resources::parse_type_args(&a.args).map_err(CliError::Msg)?;
    let mut targets: Vec<(&'static ResourceType, Option<String>, String)> = Vec::new();
    for (rt, names) in groups {
        let ns = super::scope(rt, client);
        if names.is_empty() {
            let q: Vec<(&str, String)> = a.selector.iter().map(|l| ("labelSelector", l.clone())).collect();
            if q.is_empty() && !a.all {
                return Err(CliError::msg("resource(s) were provided, but no name was specified"));
            }
            let (items, _) = super::list_objects(client, rt, ns.as_deref(), &q).await?;
            for o in items {
                targets.push((rt, ns.clone(), resources::name_of(&o).to_string()));
            }
        } else {
            for n in names {
                // kubectl reports a missing object at once, except that a
                // missing object already satisfies --for=delete.
                match super::get_object(client, rt, ns.as_deref(), &n).await {
                    Ok(_) => targets.push((rt, ns.clone(), n)),
                    Err(e) if e.is_not_found() && cond == Condition::Delete => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if targets.is_empty() {
        if cond == Condition::Delete {
            return Ok(0);
        }
        return Err(CliError::msg("no matching resources found"));
    }
    let mut errs = Vec::new();
    for (rt, ns, name) in targets {
        let res = super::watch_object(client, rt, ns.as_deref(), &name, None, Some(timeout), &|o| cond.holds(o)).await;
        match (res, &cond) {
            (Ok(Waited::Met(_)), _) | (Ok(Waited::Deleted), Condition::Delete) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{} condition met", rt.slash_name(&name));
            }
            (Ok(Waited::Deleted), _) => {
                errs.push(CliError::msg(format!(
                    "{} \"{name}\" was deleted while waiting for the condition",
                    rt.plural
                )));
            }
            (Ok(Waited::TimedOut), _) => {
                errs.push(CliError::msg(format!("timed out waiting for the condition on {}/{name}", rt.plural)));
            }
            (Err(e), _) => errs.push(e),
        }
    }
    aggregate(errs).map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions() {
        let pod = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let holds = |s: &str| Condition::parse(s).unwrap().holds(&pod);
        assert!(holds("condition=Ready"));
        assert!(holds("condition=ready=true"));
        assert!(!holds("condition=Ready=False"));
        assert!(!holds("condition=Initialized"));
        assert!(holds("jsonpath={.status.phase}=Running"));
        assert!(!holds("jsonpath={.status.phase}=Pending"));
        assert!(holds("jsonpath={.status.phase}"));
        assert!(!holds("jsonpath={.status.nothing}"));
        assert!(!holds("delete"));
        assert!(Condition::parse("bogus").is_err());
    }
}
