//! JSON output matching Go's `json.MarshalIndent(obj, "", "    ")` on an
//! unstructured object, which is what kubectl's `-o json` prints: keys sorted
//! by bytes, four-space indent, and Go's escaping (`<`, `>`, `&`, U+2028 and
//! U+2029 as `\u` escapes).

use serde_json::Value;

/// Pretty JSON as kubectl prints it (with the final newline).
pub fn to_json_pretty(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0, true);
    out.push('\n');
    out
}

/// Compact JSON with sorted keys and Go escaping (`json.Marshal`), as
/// kubectl's last-applied annotation and jsonpath print objects.
pub fn to_json_compact(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0, false);
    out
}

fn newline(out: &mut String, indent: usize, pretty: bool) {
    if pretty {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', indent * 4));
    }
}

fn write_value(out: &mut String, v: &Value, indent: usize, pretty: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent + 1, pretty);
                write_value(out, item, indent + 1, pretty);
            }
            newline(out, indent, pretty);
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent + 1, pretty);
                write_string(out, k);
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                write_value(out, &m[k.as_str()], indent + 1, pretty);
            }
            newline(out, indent, pretty);
            out.push('}');
        }
    }
}

/// Go's float formatting in encoding/json: `'f'` form between 1e-6 and 1e21,
/// exponent form (`1e-07`, `1e+21`) outside.
fn format_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// A JSON string literal with Go's escaping.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_like_go() {
        let v = json!({"kind": "List", "apiVersion": "v1", "items": [], "metadata": {"resourceVersion": ""},
                       "x": [1, {"b": "<none>", "a": 0.5}], "e": {}});
        let want = r#"{
    "apiVersion": "v1",
    "e": {},
    "items": [],
    "kind": "List",
    "metadata": {
        "resourceVersion": ""
    },
    "x": [
        1,
        {
            "a": 0.5,
            "b": "\u003cnone\u003e"
        }
    ]
}
"#;
        assert_eq!(to_json_pretty(&v), want);
    }

    #[test]
    fn compact_sorted_and_escaped() {
        let v = json!({"b": "a\"b\\c\n\u{1}&", "a": 1e-7, "c": 1e21, "d": 2.0});
        assert_eq!(to_json_compact(&v), r#"{"a":1e-07,"b":"a\"b\\c\n\u0001\u0026","c":1e+21,"d":2}"#);
    }
}
