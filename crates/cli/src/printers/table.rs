//! Tables as kubectl prints them.
//!
//! The server sends a `meta.k8s.io/v1` Table; [`from_server_table`] picks the
//! columns kubectl would show (priority 0, plus the rest with `-o wide`,
//! NAMESPACE first for `-A`, LABELS last for `--show-labels`), and
//! [`TablePrinter`] lays rows out like Go's `text/tabwriter` with kubectl's
//! settings (minimum width 6, padding 3). Column widths are remembered
//! between batches so `get -w` rows stay aligned with the header printed
//! before them, like kubectl's `RememberWidths` tabwriter.

use std::io::Write;

use jiff::Timestamp;
use serde_json::Value;

use super::humanize::age_since;

/// A table ready to print: header cells and rows of text cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrintTable {
    /// Upper-cased column names.
    pub headers: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

/// What to add to or take from the server's columns.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    /// `-o wide`: also columns with priority > 0.
    pub wide: bool,
    /// `-A`: a NAMESPACE column first.
    pub with_namespace: bool,
    /// `--show-labels`: a LABELS column last.
    pub show_labels: bool,
    /// Prefix for the name column (`pod/`) when several types are printed.
    pub kind_prefix: Option<String>,
}

/// Convert a server-side Table (or a single watch-event Table).
pub fn from_server_table(t: &Value, opts: &TableOptions) -> PrintTable {
    let cols: Vec<&Value> =
        t.get("columnDefinitions").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    let shown: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| opts.wide || c.get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let name_col = cols.iter().position(|c| c.get("format").and_then(Value::as_str) == Some("name")).unwrap_or(0);
    let mut headers: Vec<String> = Vec::new();
    if opts.with_namespace {
        headers.push("NAMESPACE".into());
    }
    for &i in &shown {
        headers.push(cols[i].get("name").and_then(Value::as_str).unwrap_or_default().to_uppercase());
    }
    if opts.show_labels {
        headers.push("LABELS".into());
    }
    let mut rows = Vec::new();
    for row in t.get("rows").and_then(Value::as_array).into_iter().flatten() {
        let cells: &[Value] = row.get("cells").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let meta = row.pointer("/object/metadata");
        let mut out = Vec::new();
        if opts.with_namespace {
            out.push(meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or_default().to_string());
        }
        for &i in &shown {
            let mut text = cells.get(i).map(cell_text).unwrap_or_default();
            if i == name_col
                && let Some(p) = &opts.kind_prefix
            {
                text = format!("{p}{text}");
            }
            out.push(text);
        }
        if opts.show_labels {
            out.push(format_labels(meta.and_then(|m| m.get("labels"))));
        }
        rows.push(out);
    }
    PrintTable { headers, rows }
}

/// The NAME/AGE table kubectl prints when the server returns plain objects.
pub fn from_objects(items: &[Value], opts: &TableOptions, now: Timestamp) -> PrintTable {
    let mut headers = Vec::new();
    if opts.with_namespace {
        headers.push("NAMESPACE".to_string());
    }
    headers.push("NAME".into());
    headers.push("AGE".into());
    if opts.show_labels {
        headers.push("LABELS".into());
    }
    let rows = items
        .iter()
        .map(|o| {
            let meta = o.get("metadata");
            let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default().to_string();
            let mut r = Vec::new();
            if opts.with_namespace {
                r.push(field("namespace"));
            }
            r.push(format!("{}{}", opts.kind_prefix.as_deref().unwrap_or_default(), field("name")));
            r.push(age_since(meta.and_then(|m| m.get("creationTimestamp")).and_then(Value::as_str), now));
            if opts.show_labels {
                r.push(format_labels(meta.and_then(|m| m.get("labels"))));
            }
            r
        })
        .collect();
    PrintTable { headers, rows }
}

/// kubectl's cell rendering: strings up to the first line break (plus
/// `...` when cut), other values as Go's `fmt.Sprint`, null as empty.
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => match s.find(['\n', '\r', '\x0c']) {
            Some(i) => format!("{}...", &s[..i]),
            None => s.clone(),
        },
        Value::Number(n) if n.is_f64() => super::yaml::go_shortest_g(n.as_f64().unwrap_or(0.0)),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
pub fn format_labels(labels: Option<&Value>) -> String {
    let Some(m) = labels.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    pairs.sort();
    pairs.join(",")
}

/// Go-tabwriter-compatible table layout with remembered column widths.
#[derive(Debug, Clone)]
pub struct TablePrinter {
    minwidth: usize,
    padding: usize,
    widths: Vec<usize>,
}

impl TablePrinter {
    /// kubectl's `get` settings (min width 6, padding 3).
    pub fn kubectl() -> TablePrinter {
        TablePrinter { minwidth: 6, padding: 3, widths: Vec::new() }
    }

    /// Custom settings (podman uses min width 12, padding 2).
    pub fn with(minwidth: usize, padding: usize) -> TablePrinter {
        TablePrinter { minwidth, padding, widths: Vec::new() }
    }

    /// Lay out `lines` (the header and/or rows of one batch) and return the
    /// text. Every cell but the last of a line is padded to its column's
    /// width: `max(minwidth, widest cell + padding)`, never narrower than in
    /// earlier batches.
    pub fn render(&mut self, lines: &[Vec<String>]) -> String {
        for line in lines {
            for (i, cell) in line.iter().enumerate().take(line.len().saturating_sub(1)) {
                let w = (cell.chars().count() + self.padding).max(self.minwidth);
                if i >= self.widths.len() {
                    self.widths.push(w);
                } else if w > self.widths[i] {
                    self.widths[i] = w;
                }
            }
        }
        let mut out = String::new();
        for line in lines {
            let last = line.len().saturating_sub(1);
            for (i, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    let pad = self.widths[i] - cell.chars().count();
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }

    /// Print a table (header unless `no_headers`) to `w`.
    pub fn print(&mut self, w: &mut dyn Write, t: &PrintTable, no_headers: bool) -> std::io::Result<()> {
        let mut lines = Vec::with_capacity(t.rows.len() + 1);
        if !no_headers {
            lines.push(t.headers.clone());
        }
        lines.extend(t.rows.iter().cloned());
        w.write_all(self.render(&lines).as_bytes())?;
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods_table() -> Value {
        json!({"kind": "Table", "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0},
            {"name": "Ready", "type": "string", "priority": 0},
            {"name": "Status", "type": "string", "priority": 0},
            {"name": "Restarts", "type": "string", "priority": 0},
            {"name": "Age", "type": "string", "priority": 0},
            {"name": "IP", "type": "string", "priority": 1},
            {"name": "Node", "type": "string", "priority": 1},
            {"name": "Nominated Node", "type": "string", "priority": 1},
            {"name": "Readiness Gates", "type": "string", "priority": 1}],
         "rows": [
            {"cells": ["multi-pod", "1/1", "Running", 0, "3s", "10.88.0.13", "kwire-node", "<none>", "<none>"],
             "object": {"metadata": {"name": "multi-pod", "namespace": "default", "labels": {"app": "multi"}}}},
            {"cells": ["web", "1/1", "Running", 0, "4s", "10.88.0.9", "kwire-node", "<none>", "<none>"],
             "object": {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "a": "b"}}}}]})
    }

    fn render(opts: &TableOptions) -> String {
        TablePrinter::kubectl().render(&{
            let t = from_server_table(&pods_table(), opts);
            let mut l = vec![t.headers];
            l.extend(t.rows);
            l
        })
    }

    // Expected texts were produced by kubectl 1.33 against the kwire stub.
    #[test]
    fn matches_kubectl_get_pods() {
        assert_eq!(
            render(&TableOptions::default()),
            "NAME        READY   STATUS    RESTARTS   AGE\n\
             multi-pod   1/1     Running   0          3s\n\
             web         1/1     Running   0          4s\n"
        );
    }

    #[test]
    fn matches_kubectl_get_pods_wide() {
        assert_eq!(
            render(&TableOptions { wide: true, ..Default::default() }),
            "NAME        READY   STATUS    RESTARTS   AGE   IP           NODE         NOMINATED NODE   READINESS GATES\n\
             multi-pod   1/1     Running   0          3s    10.88.0.13   kwire-node   <none>           <none>\n\
             web         1/1     Running   0          4s    10.88.0.9    kwire-node   <none>           <none>\n"
        );
    }

    #[test]
    fn matches_kubectl_all_namespaces_show_labels_and_kind() {
        assert_eq!(
            render(&TableOptions { with_namespace: true, show_labels: true, ..Default::default() }),
            "NAMESPACE   NAME        READY   STATUS    RESTARTS   AGE   LABELS\n\
             default     multi-pod   1/1     Running   0          3s    app=multi\n\
             default     web         1/1     Running   0          4s    a=b,app=web\n"
        );
        let t =
            from_server_table(&pods_table(), &TableOptions { kind_prefix: Some("pod/".into()), ..Default::default() });
        assert_eq!(t.rows[0][0], "pod/multi-pod");
    }

    #[test]
    fn remembered_widths_keep_watch_rows_aligned() {
        let mut p = TablePrinter::kubectl();
        let first = p.render(&[
            vec!["NAME".into(), "STATUS".into(), "AGE".into()],
            vec!["a-long-name".into(), "Running".into(), "1s".into()],
        ]);
        assert_eq!(first, "NAME          STATUS    AGE\na-long-name   Running   1s\n");
        // A later, narrower row keeps the widths; minwidth applies to short columns.
        assert_eq!(p.render(&[vec!["b".into(), "Ok".into(), "2s".into()]]), "b             Ok        2s\n");
        let mut q = TablePrinter::kubectl();
        assert_eq!(q.render(&[vec!["A".into(), "B".into()]]), "A     B\n");
    }

    #[test]
    fn plain_objects_get_name_and_age() {
        let now: Timestamp = "2026-11-22T10:30:00Z".parse().unwrap();
        let items = [json!({"metadata": {"name": "x", "namespace": "n", "creationTimestamp": "2026-11-22T10:29:00Z"}})];
        let t = from_objects(&items, &TableOptions { with_namespace: true, ..Default::default() }, now);
        assert_eq!(t.headers, ["NAMESPACE", "NAME", "AGE"]);
        assert_eq!(t.rows, [["n", "x", "60s"]]);
    }

    #[test]
    fn cells() {
        assert_eq!(cell_text(&json!("a\nb")), "a...");
        assert_eq!(cell_text(&json!(3)), "3");
        assert_eq!(cell_text(&json!(null)), "");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
    }
}
