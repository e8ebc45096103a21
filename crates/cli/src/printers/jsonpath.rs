//! A subset of kubectl's JSONPath templates (`-o jsonpath=...`, `wait
//! --for=jsonpath=...`).
//!
//! Supported: literal text; `{.a.b}` (with `\.` escapes in names),
//! `{$.a}`, `{@}`; `[n]` (negative counts from the end), `[*]`, `.*`,
//! `[a:b]`, `['key']`; `..name` (recursive descent); filters
//! `[?(@.x=="v")]` with `== != < <= > >=` or plain existence; `{"\n"}`
//! string literals; `{range EXPR}...{end}`. Missing keys print nothing, as
//! kubectl's `allowMissingKeys(true)` does.
//!
//! Output follows client-go: several results of one expression are joined by
//! a space; objects and arrays print as compact JSON, scalars as text.

use serde_json::Value;

use super::json::to_json_compact;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Expr(Path),
    Range(Path, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
struct Path {
    /// Starts at `$` (the root) rather than at the current item.
    from_root: bool,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Recursive(String),
    Wildcard,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Box<Filter>),
    Literal(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    left: Path,
    op: Option<(String, Operand)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Str(String),
    Num(f64),
    Path(Path),
}

/// A template that could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("error parsing jsonpath {template}, {message}")]
pub struct JsonPathError {
    template: String,
    message: String,
}

impl Template {
    /// Parse a template such as `{range .items[*]}{.metadata.name}{"\n"}{end}`.
    pub fn parse(text: &str) -> Result<Template, JsonPathError> {
        let err = |m: &str| JsonPathError { template: text.to_string(), message: m.to_string() };
        let mut stack: Vec<(Path, Vec<Node>)> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('{') else {
                nodes.push(Node::Text(rest.to_string()));
                break;
            };
            if open > 0 {
                nodes.push(Node::Text(rest[..open].to_string()));
            }
            let close = find_close(&rest[open..]).ok_or_else(|| err("unclosed action"))? + open;
            let action = rest[open + 1..close].trim();
            rest = &rest[close + 1..];
            if let Some(expr) = action.strip_prefix("range ") {
                let path = parse_path(expr.trim()).map_err(|m| err(&m))?;
                stack.push((path, std::mem::take(&mut nodes)));
            } else if action == "end" {
                let (path, outer) = stack.pop().ok_or_else(|| err("not in range, nothing to end"))?;
                let body = std::mem::replace(&mut nodes, outer);
                nodes.push(Node::Range(path, body));
            } else if action.starts_with('"') || action.starts_with('\'') {
                nodes.push(Node::Text(unquote(action).map_err(|m| err(&m))?));
            } else if action.is_empty() {
                continue;
            } else {
                nodes.push(Node::Expr(parse_path(action).map_err(|m| err(&m))?));
            }
        }
        if !stack.is_empty() {
            return Err(err("range without end"));
        }
        Ok(Template { nodes })
    }

    /// Render against `data`.
    pub fn render(&self, data: &Value) -> String {
        let mut out = String::new();
        render_nodes(&self.nodes, data, data, &mut out);
        out
    }

    /// The values the first expression of the template selects (for
    /// `wait --for=jsonpath=`).
    pub fn first_values(&self, data: &Value) -> Vec<Value> {
        for n in &self.nodes {
            if let Node::Expr(p) = n {
                return eval(p, data, data).into_iter().cloned().collect();
            }
        }
        Vec::new()
    }
}

/// Index of the `}` closing the action that starts at `s[0] == '{'`,
/// skipping braces inside quotes.
fn find_close(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
    }
    None
}

fn unquote(s: &str) -> Result<String, String> {
    let q = s.chars().next().unwrap_or('"');
    let inner = s.strip_prefix(q).and_then(|x| x.strip_suffix(q)).ok_or_else(|| format!("unterminated string {s}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    Ok(out)
}

fn parse_path(s: &str) -> Result<Path, String> {
    let mut from_root = false;
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('$') {
        from_root = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('@') {
        rest = r;
    }
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            let (name, r) = take_name(r);
            if name.is_empty() {
                return Err(format!("unrecognized identifier in {s}"));
            }
            steps.push(Step::Recursive(name));
            rest = r;
        } else if let Some(r) = rest.strip_prefix('.') {
            if let Some(r2) = r.strip_prefix('*') {
                steps.push(Step::Wildcard);
                rest = r2;
                continue;
            }
            let (name, r) = take_name(r);
            if !name.is_empty() {
                steps.push(Step::Field(name));
            }
            rest = r;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = find_bracket_end(r).ok_or_else(|| format!("unterminated array in {s}"))?;
            steps.push(parse_bracket(r[..end].trim())?);
            rest = &r[end + 1..];
        } else if rest.starts_with('"') || rest.starts_with('\'') {
            steps.push(Step::Literal(unquote(rest)?));
            rest = "";
        } else {
            // A bare name (`{metadata.name}` is accepted by kubectl too).
            let (name, r) = take_name(rest);
            if name.is_empty() {
                return Err(format!("unrecognized character in action: {rest}"));
            }
            steps.push(Step::Field(name));
            rest = r;
        }
    }
    Ok(Path { from_root, steps })
}

/// A field name up to the next `.` or `[` (with `\.` escapes).
fn take_name(s: &str) -> (String, &str) {
    let mut name = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    name.push(n);
                }
            }
            '.' | '[' | ' ' | ')' | '=' | '!' | '<' | '>' => return (name, &s[i..]),
            c => name.push(c),
        }
    }
    (name, "")
}

fn find_bracket_end(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '(' => depth += 1,
                ')' => depth -= 1,
                ']' if depth == 0 => return Some(i),
                ']' => depth -= 1,
                _ => {}
            },
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if inner.starts_with('\'') || inner.starts_with('"') {
        return Ok(Step::Field(unquote(inner)?));
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
        return Ok(Step::Filter(Box::new(parse_filter(f.trim())?)));
    }
    if let Some((a, b)) = inner.split_once(':') {
        let num = |x: &str| -> Result<Option<i64>, String> {
            let x = x.split(':').next().unwrap_or_default().trim();
            if x.is_empty() { Ok(None) } else { x.parse().map(Some).map_err(|_| format!("invalid slice {inner}")) }
        };
        return Ok(Step::Slice(num(a)?, num(b)?));
    }
    inner.parse::<i64>().map(Step::Index).map_err(|_| format!("invalid array index {inner}"))
}

fn parse_filter(f: &str) -> Result<Filter, String> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((l, r)) = f.split_once(op) {
            let left = parse_path(l.trim())?;
            let r = r.trim();
            let operand = if r.starts_with('"') || r.starts_with('\'') {
                Operand::Str(unquote(r)?)
            } else if let Ok(n) = r.parse::<f64>() {
                Operand::Num(n)
            } else {
                Operand::Path(parse_path(r)?)
            };
            return Ok(Filter { left, op: Some((op.to_string(), operand)) });
        }
    }
    Ok(Filter { left: parse_path(f)?, op: None })
}

fn render_nodes(nodes: &[Node], root: &Value, cur: &Value, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Expr(p) => {
                let vals = eval(p, root, cur);
                let texts: Vec<String> = vals.iter().map(|v| value_text(v)).collect();
                out.push_str(&texts.join(" "));
            }
            Node::Range(p, body) => {
                for item in eval(p, root, cur) {
                    render_nodes(body, root, item, out);
                }
            }
        }
    }
}

/// How client-go prints one result.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => super::yaml::go_shortest_g(f),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Array(_) | Value::Object(_) => to_json_compact(v),
    }
}

fn eval<'a>(p: &Path, root: &'a Value, cur: &'a Value) -> Vec<&'a Value> {
    let mut vals: Vec<&'a Value> = vec![if p.from_root { root } else { cur }];
    for step in &p.steps {
        let mut next: Vec<&'a Value> = Vec::new();
        for v in vals {
            apply(step, v, root, &mut next);
        }
        vals = next;
    }
    vals
}

fn apply<'a>(step: &Step, v: &'a Value, root: &'a Value, next: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(x) = v.get(name.as_str()) {
                next.push(x);
            }
        }
        Step::Literal(_) => {}
        Step::Wildcard => match v {
            Value::Array(a) => next.extend(a.iter()),
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                next.extend(keys.into_iter().map(|k| &m[k.as_str()]));
            }
            _ => {}
        },
        Step::Index(i) => {
            if let Value::Array(a) = v {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                if idx >= 0
                    && let Some(x) = a.get(idx as usize)
                {
                    next.push(x);
                }
            }
        }
        Step::Slice(start, end) => {
            if let Value::Array(a) = v {
                let len = a.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let s = norm(start.unwrap_or(0));
                let e = norm(end.unwrap_or(len));
                if s < e {
                    next.extend(a[s as usize..e as usize].iter());
                }
            }
        }
        Step::Recursive(name) => recurse(v, name, next),
        Step::Filter(f) => {
            let items: Vec<&'a Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for item in items {
                if filter_matches(f, root, item) {
                    next.push(item);
                }
            }
        }
    }
}

fn recurse<'a>(v: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(name) {
                out.push(x);
            }
            for child in m.values() {
                recurse(child, name, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| recurse(c, name, out)),
        _ => {}
    }
}

fn filter_matches(f: &Filter, root: &Value, item: &Value) -> bool {
    let left = eval(&f.left, root, item);
    let Some((op, operand)) = &f.op else {
        return !left.is_empty();
    };
    let right: Vec<Value> = match operand {
        Operand::Str(s) => vec![Value::String(s.clone())],
        Operand::Num(n) => vec![serde_json::json!(n)],
        Operand::Path(p) => eval(p, root, item).into_iter().cloned().collect(),
    };
    left.iter().any(|l| {
        right.iter().any(|r| match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) => compare(op, a.partial_cmp(&b)),
            _ => match (l.as_str(), r.as_str()) {
                (Some(a), Some(b)) => compare(op, Some(a.cmp(b))),
                _ => match op.as_str() {
                    "==" => *l == r,
                    "!=" => *l != r,
                    _ => false,
                },
            },
        })
    })
}

fn compare(op: &str, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    let Some(o) = ord else { return false };
    match op {
        "==" => o == Equal,
        "!=" => o != Equal,
        "<" => o == Less,
        "<=" => o != Greater,
        ">" => o == Greater,
        ">=" => o != Less,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "w"}}, "status": {"phase": "Running", "n": 2}},
            {"metadata": {"name": "db"}, "status": {"phase": "Pending", "n": 5}}
        ]})
    }

    #[test]
    fn renders_templates() {
        let cases = [
            ("{.items[*].metadata.name}", "web db"),
            ("{.items[0].status.phase}", "Running"),
            ("{.items[-1].metadata.name}", "db"),
            ("{.items[0:1].metadata.name}", "web"),
            ("{range .items[*]}{.metadata.name}{\"\\t\"}{.status.phase}{\"\\n\"}{end}", "web\tRunning\ndb\tPending\n"),
            ("name={.items[1].metadata.name}!", "name=db!"),
            ("{.items[0].metadata.labels.app\\.kubernetes\\.io/name}", "w"),
            ("{.items[0].metadata.labels['app.kubernetes.io/name']}", "w"),
            ("{.items[?(@.status.phase==\"Pending\")].metadata.name}", "db"),
            ("{.items[?(@.status.n>3)].metadata.name}", "db"),
            ("{.items[?(@.metadata.labels)].metadata.name}", "web"),
            ("{.items[0].status}", "{\"n\":2,\"phase\":\"Running\"}"),
            ("{.items[0].nothing}", ""),
            ("{..phase}", "Running Pending"),
            ("{$.kind}", "List"),
            ("{.items[5].metadata.name}", ""),
            ("{.items[0].status.n}", "2"),
        ];
        for (t, want) in cases {
            let tpl = Template::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(tpl.render(&list()), want, "template {t}");
        }
    }

    #[test]
    fn parse_errors() {
        assert!(Template::parse("{.a").is_err());
        assert!(Template::parse("{range .items[*]}{.a}").is_err());
        assert!(Template::parse("{end}").is_err());
        assert!(Template::parse("{.items[x]}").is_err());
    }

    #[test]
    fn first_values_for_wait() {
        let t = Template::parse("{.status.phase}").unwrap();
        assert_eq!(t.first_values(&json!({"status": {"phase": "Running"}})), vec![json!("Running")]);
    }
}
