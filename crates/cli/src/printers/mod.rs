//! Output formats (`-o`): server-side tables, YAML, JSON, names and
//! JSONPath, each byte-compatible with kubectl where kubectl defines it.

pub mod humanize;
pub mod json;
pub mod jsonpath;
pub mod table;
pub mod yaml;

use serde_json::{Value, json};

use crate::errors::CliError;
use crate::resources::ResourceType;

/// An `-o` choice.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    /// Human table (server-side Table).
    Table,
    /// Table with priority > 0 columns.
    Wide,
    /// `-o json`.
    Json,
    /// `-o yaml`.
    Yaml,
    /// `-o name`: `pod/web`.
    Name,
    /// `-o jsonpath=TEMPLATE`.
    JsonPath(jsonpath::Template),
    /// `-o custom-columns=HEADER:PATH,...`.
    CustomColumns(Vec<(String, jsonpath::Template)>),
}

impl OutputFormat {
    /// Parse the `-o` value (absent = table).
    pub fn parse(o: Option<&str>) -> Result<OutputFormat, CliError> {
        let Some(o) = o else {
            return Ok(OutputFormat::Table);
        };
        let (kind, arg) = match o.split_once('=') {
            Some((k, a)) => (k, Some(a)),
            None => (o, None),
        };
        Ok(match (kind, arg) {
            ("wide", None) => OutputFormat::Wide,
            ("json", None) => OutputFormat::Json,
            ("yaml", None) => OutputFormat::Yaml,
            ("name", None) => OutputFormat::Name,
            ("jsonpath", Some(t)) => {
                OutputFormat::JsonPath(jsonpath::Template::parse(t).map_err(|e| CliError::msg(e.to_string()))?)
            }
            ("jsonpath", None) => {
                return Err(CliError::msg("template format specified but no template given"));
            }
            ("custom-columns", Some(spec)) => OutputFormat::CustomColumns(parse_custom_columns(spec)?),
            _ => {
                return Err(CliError::msg(format!(
                    "unable to match a printer suitable for the output format \"{o}\", allowed formats are: custom-columns,json,jsonpath,name,wide,yaml"
                )));
            }
        })
    }

    /// Whether this prints a human table (asks the server for a Table).
    pub fn is_table(&self) -> bool {
        matches!(self, OutputFormat::Table | OutputFormat::Wide)
    }
}

/// Parse `NAME:.metadata.name,STATUS:.status.phase`; paths may omit the
/// braces and the leading dot (kubectl's relaxed JSONPath).
fn parse_custom_columns(spec: &str) -> Result<Vec<(String, jsonpath::Template)>, CliError> {
    let mut cols = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (header, path) = part.split_once(':').ok_or_else(|| {
            CliError::msg(format!("unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"))
        })?;
        let inner = path.trim().trim_start_matches('{').trim_end_matches('}');
        let inner =
            if inner.starts_with('.') || inner.starts_with('$') { inner.to_string() } else { format!(".{inner}") };
        let t = jsonpath::Template::parse(&format!("{{{inner}}}")).map_err(|e| CliError::msg(e.to_string()))?;
        cols.push((header.to_string(), t));
    }
    if cols.is_empty() {
        return Err(CliError::msg("custom-columns format specified but no custom columns given"));
    }
    Ok(cols)
}

/// kubectl's custom-columns table: one row per object, several values of a
/// path joined by `,`, `<none>` when a path selects nothing.
pub fn render_custom_columns(cols: &[(String, jsonpath::Template)], objs: &[Value], no_headers: bool) -> String {
    let mut lines = Vec::new();
    if !no_headers {
        lines.push(cols.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>());
    }
    for o in objs {
        lines.push(
            cols.iter()
                .map(|(_, t)| {
                    let vals = t.first_values(o);
                    if vals.is_empty() {
                        "<none>".to_string()
                    } else {
                        vals.iter().map(go_fmt).collect::<Vec<_>>().join(",")
                    }
                })
                .collect(),
        );
    }
    table::TablePrinter::kubectl().render(&lines)
}

/// Go's `fmt.Sprint` of a decoded JSON value (custom-columns cells):
/// `map[k:v]` with sorted keys, `[a b]` for arrays.
pub fn go_fmt(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys.iter().map(|k| format!("{k}:{}", go_fmt(&m[k.as_str()]))).collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Null => "<nil>".into(),
        other => jsonpath::value_text(other),
    }
}

/// Add `kind`/`apiVersion` to list items that lack them (the server may omit
/// them; kubectl's list decoding fills them in).
pub fn fill_item_kinds(items: &mut [Value], rt: &ResourceType) {
    for it in items {
        if let Value::Object(m) = it {
            m.entry("apiVersion").or_insert_with(|| json!("v1"));
            m.entry("kind").or_insert_with(|| json!(rt.kind));
        }
    }
}

/// The `kind: List` wrapper kubectl prints for several objects.
pub fn list_of(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// `pod/web` for an object, from its kind (kubectl's `-o name`).
pub fn object_name(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_lowercase();
    let group = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|a| a.split_once('/'))
        .map(|(g, _)| format!(".{g}"))
        .unwrap_or_default();
    format!("{kind}{group}/{}", crate::resources::name_of(obj))
}

/// Render objects in a non-table format. `single` means the user asked for
/// exactly one named object, which kubectl prints bare instead of as a List.
pub fn render_objects(fmt: &OutputFormat, objs: Vec<Value>, single: bool) -> String {
    let data = if single && objs.len() == 1 { objs.into_iter().next().unwrap_or(Value::Null) } else { list_of(objs) };
    match fmt {
        OutputFormat::Json => json::to_json_pretty(&data),
        OutputFormat::Yaml => yaml::to_yaml(&data),
        OutputFormat::JsonPath(t) => t.render(&data),
        OutputFormat::Name => {
            let items: Vec<&Value> = match data.get("items").and_then(Value::as_array) {
                Some(a) if data.get("kind").and_then(Value::as_str) == Some("List") => a.iter().collect(),
                _ => vec![&data],
            };
            items.iter().map(|o| format!("{}\n", object_name(o))).collect()
        }
        OutputFormat::CustomColumns(cols) => {
            let items: Vec<Value> = match data.get("items").and_then(Value::as_array) {
                Some(a) if data.get("kind").and_then(Value::as_str) == Some("List") => a.clone(),
                _ => vec![data.clone()],
            };
            render_custom_columns(cols, &items, false)
        }
        OutputFormat::Table | OutputFormat::Wide => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats() {
        assert_eq!(OutputFormat::parse(None).unwrap(), OutputFormat::Table);
        assert_eq!(OutputFormat::parse(Some("wide")).unwrap(), OutputFormat::Wide);
        assert!(matches!(OutputFormat::parse(Some("jsonpath={.a}")).unwrap(), OutputFormat::JsonPath(_)));
        let e = OutputFormat::parse(Some("xml")).unwrap_err().render();
        assert!(e.starts_with("error: unable to match a printer suitable for the output format \"xml\""), "{e}");
    }

    #[test]
    fn custom_columns() {
        let OutputFormat::CustomColumns(cols) =
            OutputFormat::parse(Some("custom-columns=N:.metadata.name,L:metadata.labels.app,X:{.nope}")).unwrap()
        else {
            panic!("not custom-columns")
        };
        let objs = [json!({"metadata": {"name": "web", "labels": {"app": "w"}}}), json!({"metadata": {"name": "db"}})];
        assert_eq!(
            render_custom_columns(&cols, &objs, false),
            "N     L        X\nweb   w        <none>\ndb    <none>   <none>\n"
        );
    }

    #[test]
    fn names_and_lists() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}});
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        assert_eq!(render_objects(&OutputFormat::Name, vec![pod.clone(), dep], false), "pod/web\ndeployment.apps/d\n");
        assert_eq!(
            render_objects(&OutputFormat::Yaml, vec![], false),
            "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"
        );
        assert_eq!(
            render_objects(&OutputFormat::Yaml, vec![pod], true),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
        );
    }
}
