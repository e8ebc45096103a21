//! `get TYPE[,TYPE] [NAME...]` / `get TYPE/NAME...`, with `-o`, selectors,
//! `-A`, `--show-labels`, `--no-headers` and `-w` (kubectl §8, §9).
//!
//! Requests: a collection `GET .../<plural>?limit=500[&labelSelector=..]
//! [&fieldSelector=..]` (following `continue` tokens) or one `GET` per name;
//! human output asks for a server-side Table with kubectl's Accept header,
//! other formats for JSON. `-w` then watches the collection from the list's
//! resourceVersion (a single name: `fieldSelector=metadata.name=NAME` from
//! version 0, skipping the already printed row) and prints each event's row
//! with the widths of the header printed before.

use std::collections::HashMap;
use std::io::Write;

use jiff::Timestamp;
use serde_json::Value;

use crate::client::{ACCEPT_JSON, ACCEPT_TABLE, Client};
use crate::errors::CliError;
use crate::printers::table::{self, PrintTable, TableOptions, TablePrinter};
use crate::printers::{self, OutputFormat};
use crate::resources::{self, ResourceType};

/// Arguments of `get`.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// `TYPE [NAME...]`, `TYPE1,TYPE2` or `TYPE/NAME...`.
    #[arg(required = true, value_name = "TYPE[.VERSION][/NAME]")]
    pub args: Vec<String>,
    /// Output format: wide, yaml, json, name, jsonpath=TEMPLATE.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Label selector (`app=web`, `tier in (a,b)`, `!x`).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Field selector (`status.phase=Running`, `metadata.name=web`).
    #[arg(long)]
    pub field_selector: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Add a LABELS column.
    #[arg(long)]
    pub show_labels: bool,
    /// Do not print the header row.
    #[arg(long)]
    pub no_headers: bool,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Do not report NotFound for missing names.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Keep `metadata.managedFields` in JSON/YAML output.
    #[arg(long)]
    pub show_managed_fields: bool,
}

/// Run `get`.
pub async fn run(client: &Client, args: GetArgs) -> Result<i32, CliError> {
    let fmt = OutputFormat::parse(args.output.as_deref())?;
    let groups = resources::parse_type_args(&args.args).map_err(CliError::Msg)?;
    if args.watch && groups.len() > 1 {
        return Err(CliError::msg("you may only specify a single resource type"));
    }
    let multi_type = groups.len() > 1;
    let single_object = groups.len() == 1 && groups[0].1.len() == 1;
    let mut errs: Vec<CliError> = Vec::new();
    let mut out = std::io::stdout().lock();
    let mut printed_any = false;
    let mut tables_printed = 0;
    let mut generic: Vec<Value> = Vec::new();
    let mut watch_state: Option<WatchStart> = None;

    for (rt, names) in &groups {
        let ns = if rt.namespaced && !args.all_namespaces { Some(client.namespace.clone()) } else { None };
        let opts = TableOptions {
            wide: fmt == OutputFormat::Wide,
            with_namespace: args.all_namespaces && rt.namespaced,
            show_labels: args.show_labels,
            kind_prefix: multi_type.then(|| format!("{}/", rt.singular)),
        };
        let fetched = fetch(client, rt, ns.as_deref(), names, &args, fmt.is_table(), &mut errs).await?;
        let mut ws = WatchStart {
            rt,
            name: names.first().cloned().filter(|_| names.len() == 1),
            ns,
            rv: fetched.rv,
            printer: TablePrinter::kubectl(),
            header_printed: true,
            headers: Vec::new(),
            opts,
            seen: fetched.seen,
            columns: fetched.parts.iter().find_map(|p| match p {
                Part::Table(t) => t.get("columnDefinitions").cloned(),
                Part::Objects(_) => None,
            }),
        };
        if fmt.is_table() {
            let mut t = PrintTable::default();
            for part in &fetched.parts {
                append_table(&mut t, part, &ws.opts);
            }
            if !t.rows.is_empty() {
                if tables_printed > 0 {
                    let _ = out.write_all(b"\n");
                }
                ws.printer.print(&mut out, &t, args.no_headers).map_err(|e| CliError::io("stdout", e))?;
                tables_printed += 1;
                printed_any = true;
            }
            // With nothing listed, the header comes with the first watch row.
            ws.header_printed = !t.rows.is_empty() || args.no_headers;
            ws.headers = t.headers;
        } else {
            for part in fetched.parts {
                generic.extend(part.items());
            }
        }
        watch_state = Some(ws);
    }

    if !fmt.is_table() {
        if !args.show_managed_fields && matches!(fmt, OutputFormat::Json | OutputFormat::Yaml) {
            generic.iter_mut().for_each(strip_managed_fields);
        }
        printed_any = !generic.is_empty();
        let print_empty_list = matches!(fmt, OutputFormat::Json | OutputFormat::Yaml);
        if printed_any || print_empty_list {
            let text = match &fmt {
                OutputFormat::CustomColumns(cols) => printers::render_custom_columns(cols, &generic, args.no_headers),
                _ => printers::render_objects(&fmt, generic, single_object && errs.is_empty()),
            };
            let _ = out.write_all(text.as_bytes());
        }
        if matches!(fmt, OutputFormat::Json | OutputFormat::Yaml) {
            printed_any = true;
        }
    }
    let _ = out.flush();
    drop(out);

    if !printed_any && errs.is_empty() && !args.watch {
        let all_cluster = groups.iter().all(|(rt, _)| !rt.namespaced);
        if args.all_namespaces || all_cluster {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", client.namespace);
        }
    }
    if !errs.is_empty() {
        return Err(CliError::Many(errs));
    }
    if args.watch
        && let Some(ws) = watch_state
    {
        return watch(client, ws, &fmt, &args).await;
    }
    Ok(0)
}

/// One answer: a server Table, or objects.
enum Part {
    Table(Value),
    Objects(Vec<Value>),
}

impl Part {
    fn items(self) -> Vec<Value> {
        match self {
            Part::Objects(o) => o,
            Part::Table(_) => Vec::new(),
        }
    }
}

struct Fetched {
    parts: Vec<Part>,
    rv: String,
    /// resourceVersion printed per object name (suppresses watch duplicates).
    seen: HashMap<String, String>,
}

async fn fetch(
    client: &Client,
    rt: &'static ResourceType,
    ns: Option<&str>,
    names: &[String],
    args: &GetArgs,
    table: bool,
    errs: &mut Vec<CliError>,
) -> Result<Fetched, CliError> {
    let accept = if table { ACCEPT_TABLE } else { ACCEPT_JSON };
    let mut parts = Vec::new();
    let mut seen = HashMap::new();
    let mut rv = String::new();
    if names.is_empty() {
        let mut cont = String::new();
        loop {
            let mut q: Vec<(&str, String)> = Vec::new();
            if let Some(l) = &args.selector {
                q.push(("labelSelector", l.clone()));
            }
            if let Some(f) = &args.field_selector {
                q.push(("fieldSelector", f.clone()));
            }
            if !cont.is_empty() {
                q.push(("continue", cont.clone()));
            }
            q.push(("limit", "500".into()));
            let v = client.get(&rt.path(ns, None), &q, accept, &format!("list {}", rt.plural)).await?;
            rv = v.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default().to_string();
            cont = v.pointer("/metadata/continue").and_then(Value::as_str).unwrap_or_default().to_string();
            record_seen(&v, &mut seen);
            parts.push(to_part(v, rt));
            if cont.is_empty() {
                break;
            }
        }
    } else {
        for name in names {
            let what = format!("get {} {name}", rt.plural);
            match client.get(&rt.path(ns, Some(name)), &[], accept, &what).await {
                Ok(v) => {
                    record_seen(&v, &mut seen);
                    parts.push(to_part(v, rt));
                }
                Err(e) if e.is_not_found() && args.ignore_not_found => {}
                Err(e @ CliError::Api(_)) => errs.push(e),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(Fetched { parts, rv, seen })
}

/// kubectl hides `metadata.managedFields` unless `--show-managed-fields`.
fn strip_managed_fields(obj: &mut Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
}

fn record_seen(v: &Value, seen: &mut HashMap<String, String>) {
    let metas: Vec<&Value> = if v.get("kind").and_then(Value::as_str) == Some("Table") {
        v.get("rows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.pointer("/object/metadata"))
            .collect()
    } else if let Some(items) = v.get("items").and_then(Value::as_array) {
        items.iter().filter_map(|i| i.get("metadata")).collect()
    } else {
        v.get("metadata").into_iter().collect()
    };
    for m in metas {
        let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
        let rv = m.get("resourceVersion").and_then(Value::as_str).unwrap_or_default();
        seen.insert(name.to_string(), rv.to_string());
    }
}

fn to_part(v: Value, rt: &ResourceType) -> Part {
    if v.get("kind").and_then(Value::as_str) == Some("Table") {
        return Part::Table(v);
    }
    match v.get("items").and_then(Value::as_array) {
        Some(items) if v.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) => {
            let mut items = items.clone();
            printers::fill_item_kinds(&mut items, rt);
            Part::Objects(items)
        }
        _ => {
            let mut one = vec![v];
            printers::fill_item_kinds(&mut one, rt);
            Part::Objects(one)
        }
    }
}

fn append_table(t: &mut PrintTable, part: &Part, opts: &TableOptions) {
    let add = match part {
        Part::Table(v) => table::from_server_table(v, opts),
        Part::Objects(o) => table::from_objects(o, opts, Timestamp::now()),
    };
    if t.headers.is_empty() {
        t.headers = add.headers;
    }
    t.rows.extend(add.rows);
}

struct WatchStart {
    rt: &'static ResourceType,
    ns: Option<String>,
    name: Option<String>,
    rv: String,
    printer: TablePrinter,
    header_printed: bool,
    headers: Vec<String>,
    opts: TableOptions,
    seen: HashMap<String, String>,
    /// Column definitions of the last Table seen: the server may send them
    /// only in the first watch event (or only in the list).
    columns: Option<Value>,
}

async fn watch(client: &Client, mut ws: WatchStart, fmt: &OutputFormat, args: &GetArgs) -> Result<i32, CliError> {
    let table = fmt.is_table();
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(l) = &args.selector {
        q.push(("labelSelector", l.clone()));
    }
    let mut field = args.field_selector.clone();
    if let Some(n) = &ws.name {
        field = Some(format!("metadata.name={n}"));
        q.push(("resourceVersion", "0".into()));
    } else if !ws.rv.is_empty() {
        q.push(("resourceVersion", ws.rv.clone()));
    }
    if let Some(f) = field {
        q.push(("fieldSelector", f));
    }
    let accept = if table { ACCEPT_TABLE } else { ACCEPT_JSON };
    let mut stream =
        client.watch(&ws.rt.path(ws.ns.as_deref(), None), &q, accept, &format!("watch {}", ws.rt.plural)).await?;
    let mut first_yaml = true;
    while let Some(ev) = stream.next().await? {
        match ev.kind.as_str() {
            "ERROR" => {
                let status: crate::errors::Status = serde_json::from_value(ev.object.clone()).unwrap_or_default();
                return Err(crate::errors::ApiError { status }.into());
            }
            "BOOKMARK" => continue,
            _ => {}
        }
        // `get NAME -w` watches from version 0: skip the replay of the row
        // already printed.
        let meta = if table { ev.object.pointer("/rows/0/object/metadata") } else { ev.object.get("metadata") };
        let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default().to_string();
        let rv = meta.and_then(|m| m.get("resourceVersion")).and_then(Value::as_str).unwrap_or_default().to_string();
        if ev.kind == "ADDED" && ws.seen.get(&name).is_some_and(|seen| *seen == rv && !rv.is_empty()) {
            continue;
        }
        ws.seen.insert(name, rv);
        let mut out = std::io::stdout().lock();
        if table {
            let t = if ev.object.get("kind").and_then(Value::as_str) == Some("Table") {
                let mut obj = ev.object.clone();
                match obj.get("columnDefinitions").filter(|c| c.as_array().is_some_and(|a| !a.is_empty())) {
                    Some(c) => ws.columns = Some(c.clone()),
                    None => {
                        if let (Some(m), Some(c)) = (obj.as_object_mut(), &ws.columns) {
                            m.insert("columnDefinitions".into(), c.clone());
                        }
                    }
                }
                table::from_server_table(&obj, &ws.opts)
            } else {
                table::from_objects(std::slice::from_ref(&ev.object), &ws.opts, Timestamp::now())
            };
            let mut lines = Vec::new();
            if !ws.header_printed {
                lines.push(if ws.headers.is_empty() { t.headers.clone() } else { ws.headers.clone() });
                ws.header_printed = true;
            }
            lines.extend(t.rows);
            let _ = out.write_all(ws.printer.render(&lines).as_bytes());
        } else {
            let mut obj = vec![ev.object];
            printers::fill_item_kinds(&mut obj, ws.rt);
            if !args.show_managed_fields {
                obj.iter_mut().for_each(strip_managed_fields);
            }
            if *fmt == OutputFormat::Yaml && !first_yaml {
                let _ = out.write_all(b"---\n");
            }
            first_yaml = false;
            let _ = out.write_all(printers::render_objects(fmt, obj, true).as_bytes());
        }
        let _ = out.flush();
    }
    Ok(0)
}
