//! YAML output byte-compatible with kubectl's `-o yaml`.
//!
//! kubectl marshals through sigs.k8s.io/yaml, i.e. go-yaml v2 on a
//! `map[interface{}]interface{}`. Matching it means reproducing go-yaml's
//! choices, which no Rust YAML crate makes the same way:
//!
//! - keys in go-yaml's "natural" order (digits compared as numbers, letters
//!   after other characters), see [`key_cmp`];
//! - block style, sequences not indented under their key (`key:\n- a`),
//!   empty collections as `{}` / `[]`;
//! - string style: plain when the text would read back as the same string,
//!   double quotes when it would resolve to a bool/number/null/timestamp
//!   (`"True"`, `"80"`, `"2026-11-22T10:25:43Z"`), single quotes when plain is
//!   ruled out by indicators (`'*'`, `'{"a":1}'`), literal blocks (`|`, `|-`,
//!   `|+`) for multi-line text;
//! - long scalars folded at spaces once the line passes 80 columns, with the
//!   continuation indented two spaces under the key.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// go-yaml's preferred line width.
const BEST_WIDTH: usize = 80;

/// Render a value as kubectl's YAML printer does (with the final newline).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => emit_mapping(&mut out, m, 0, false),
        Value::Array(a) if !a.is_empty() => emit_sequence(&mut out, a, 0, false),
        other => {
            write_scalar(&mut out, other, 0, 2, true);
            out.push('\n');
        }
    }
    out
}

fn sorted_entries(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut e: Vec<_> = m.iter().collect();
    e.sort_by(|a, b| key_cmp(a.0, b.0));
    e
}

fn emit_mapping(out: &mut String, m: &Map<String, Value>, indent: usize, mut inline_first: bool) {
    for (k, v) in sorted_entries(m) {
        if !inline_first {
            push_spaces(out, indent);
        }
        inline_first = false;
        let key_start = out.len();
        write_string(out, k, indent, indent + 2, false);
        let key_width = out[key_start..].chars().count();
        out.push(':');
        match v {
            Value::Object(c) if !c.is_empty() => {
                out.push('\n');
                emit_mapping(out, c, indent + 2, false);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                // go-yaml writes block sequences "indentless" under a key.
                emit_sequence(out, a, indent, false);
            }
            _ => {
                out.push(' ');
                write_scalar(out, v, indent + key_width + 2, indent + 2, true);
                out.push('\n');
            }
        }
    }
}

fn emit_sequence(out: &mut String, a: &[Value], indent: usize, mut inline_first: bool) {
    for v in a {
        if !inline_first {
            push_spaces(out, indent);
        }
        inline_first = false;
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => emit_mapping(out, m, indent + 2, true),
            Value::Array(inner) if !inner.is_empty() => emit_sequence(out, inner, indent + 2, true),
            _ => {
                write_scalar(out, v, indent + 2, indent + 2, true);
                out.push('\n');
            }
        }
    }
}

fn push_spaces(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Write a scalar (or an empty collection) starting at `column`; folded and
/// literal continuation lines are indented by `cont`.
fn write_scalar(out: &mut String, v: &Value, column: usize, cont: usize, allow_breaks: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(n)),
        Value::String(s) => write_string(out, s, column, cont, allow_breaks),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

/// JSON numbers as go-yaml prints them after sigs.k8s.io/yaml's round trip:
/// integral values as integers, others with Go's shortest `%g`-like form.
pub fn format_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{}", f as i128);
    }
    go_shortest_g(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn go_shortest_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    let sci = format!("{f:e}"); // shortest round-trip digits, e.g. "1.5e-7"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    // Go switches to exponent form when exp < -4 || exp >= 21 for shortest.
    if !(-4..21).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// The output style chosen for a string.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn write_string(out: &mut String, s: &str, column: usize, cont: usize, allow_breaks: bool) {
    match choose_style(s, !allow_breaks) {
        Style::Plain => write_plain(out, s, column, cont, allow_breaks),
        Style::Single => write_single(out, s, column, cont, allow_breaks),
        Style::Double => write_double(out, s, column, cont, allow_breaks),
        Style::Literal => write_literal(out, s, cont),
    }
}

/// go-yaml's `stringv` + `yaml_emitter_analyze_scalar` + `select_scalar_style`
/// for block context.
fn choose_style(s: &str, simple_key: bool) -> Style {
    let can_plain = resolves_to_string(s) && !is_base60_float(s);
    let wanted = if s.contains('\n') {
        Style::Literal
    } else if can_plain {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    if simple_key && a.multiline {
        return Style::Double;
    }
    match wanted {
        Style::Plain if !a.block_plain_allowed || (s.is_empty() && simple_key) => {
            if a.single_quoted_allowed {
                Style::Single
            } else {
                Style::Double
            }
        }
        Style::Literal if !a.block_allowed || simple_key => Style::Double,
        w => w,
    }
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    // go-yaml's byte-level test admits no 4-byte UTF-8 sequences.
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let is_break = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let is_blank = |c: char| c == ' ' || c == '\t';
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = chars.get(i + 1).is_none_or(|&n| is_blank(n) || is_break(n));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_ind = true
                }
                '?' | ':' | '-' if followed_by_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_ind = true,
                '#' if preceded_by_ws => block_ind = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blank(c) || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_ind {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether go-yaml's `resolve` reads the plain text `s` back as a string.
fn resolves_to_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO", "false",
        "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf",
        ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
    ];
    if SPECIAL.contains(&s) {
        return false;
    }
    match s.as_bytes()[0] {
        b'.' => s.parse::<f64>().is_err() || s == ".",
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            !(is_go_int(&plain) || is_yaml_float(&plain) || is_binary(&plain))
        }
        _ => true,
    }
}

/// `strconv.ParseInt/ParseUint(s, 0, 64)` syntax (overflow ignored).
fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (r, 8)
    } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (r, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

fn is_binary(s: &str) -> bool {
    let r = s.strip_prefix("-0b").or_else(|| s.strip_prefix("0b"));
    r.is_some_and(|r| !r.is_empty() && r.chars().all(|c| c == '0' || c == '1'))
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    let mant_ok = if let Some(frac) = mant.strip_prefix('.') {
        digits(frac)
    } else {
        match mant.split_once('.') {
            Some((i, f)) => digits(i) && (f.is_empty() || digits(f)),
            None => digits(mant),
        }
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mant_ok && exp_ok
}

/// go-yaml's `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = match b.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (b, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|c| c.is_ascii_digit() || c == b'_')) {
        return false;
    }
    let mut parts = main.split(':');
    let first = parts.next().unwrap_or_default();
    if !first.as_bytes().first().is_some_and(u8::is_ascii_digit)
        || !first.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && rest.iter().all(|p| {
            let b = p.as_bytes();
            match b.len() {
                1 => b[0].is_ascii_digit(),
                2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
                _ => false,
            }
        })
}

/// go-yaml's timestamp check: `YYYY-M-D` optionally followed by a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let num = |t: &str, max: u32| t.len() <= 2 && !t.is_empty() && t.parse::<u32>().is_ok_and(|v| v <= max);
    let rest = &s[5..];
    let Some((month, rest)) = rest.split_once('-') else {
        return false;
    };
    let day_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (day, time) = rest.split_at(day_end);
    if !num(month, 12) || !num(day, 31) || month == "0" || day == "0" {
        return false;
    }
    if time.is_empty() {
        return true;
    }
    let (sep, time) = time.split_at(1);
    let zoned = match sep {
        "T" | "t" => true,
        " " => false,
        _ => return false,
    };
    // h:m:s[.frac] then (zoned) Z or ±hh:mm.
    let mut it = time.splitn(3, ':');
    let (Some(h), Some(m), Some(rest)) = (it.next(), it.next(), it.next()) else {
        return false;
    };
    if !num(h, 23) || !num(m, 59) {
        return false;
    }
    let sec_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (sec, mut rest) = rest.split_at(sec_end);
    if !num(sec, 59) {
        return false;
    }
    if let Some(f) = rest.strip_prefix('.') {
        let end = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
        if end == 0 {
            return false;
        }
        rest = &f[end..];
    }
    if !zoned {
        return rest.is_empty();
    }
    if rest == "Z" {
        return true;
    }
    let z = rest.as_bytes();
    z.len() == 6 && (z[0] == b'+' || z[0] == b'-') && z[3] == b':' && num(&rest[1..3], 23) && num(&rest[4..6], 59)
}

/// go-yaml's `keyList.Less` for string keys.
pub fn key_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            // A letter sorts after anything that is not a letter.
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Break at a space once past the width: newline plus continuation indent.
fn fold(out: &mut String, column: &mut usize, cont: usize) {
    out.push('\n');
    push_spaces(out, cont);
    *column = cont;
}

fn write_plain(out: &mut String, s: &str, mut column: usize, cont: usize, allow_breaks: bool) {
    let chars: Vec<char> = s.chars().collect();
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            if allow_breaks && !spaces && column > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                fold(out, &mut column, cont);
            } else {
                out.push(c);
                column += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            column += 1;
            spaces = false;
        }
    }
}

fn write_single(out: &mut String, s: &str, mut column: usize, cont: usize, allow_breaks: bool) {
    let chars: Vec<char> = s.chars().collect();
    out.push('\'');
    column += 1;
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            if allow_breaks
                && !spaces
                && column > BEST_WIDTH
                && i != 0
                && i != chars.len() - 1
                && chars.get(i + 1) != Some(&' ')
            {
                fold(out, &mut column, cont);
            } else {
                out.push(c);
                column += 1;
            }
            spaces = true;
        } else {
            if c == '\'' {
                out.push('\'');
                column += 1;
            }
            out.push(c);
            column += 1;
            spaces = false;
        }
    }
    out.push('\'');
}

fn write_double(out: &mut String, s: &str, mut column: usize, cont: usize, allow_breaks: bool) {
    let chars: Vec<char> = s.chars().collect();
    out.push('"');
    column += 1;
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        let u = c as u32;
        if !is_printable(c) || u == 0xFEFF || matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}' | '"' | '\\') {
            let esc = match c {
                '\0' => "\\0".to_string(),
                '\u{7}' => "\\a".into(),
                '\u{8}' => "\\b".into(),
                '\t' => "\\t".into(),
                '\n' => "\\n".into(),
                '\u{b}' => "\\v".into(),
                '\u{c}' => "\\f".into(),
                '\r' => "\\r".into(),
                '\u{1b}' => "\\e".into(),
                '"' => "\\\"".into(),
                '\\' => "\\\\".into(),
                '\u{85}' => "\\N".into(),
                '\u{a0}' => "\\_".into(),
                '\u{2028}' => "\\L".into(),
                '\u{2029}' => "\\P".into(),
                _ if u <= 0xFF => format!("\\x{u:02X}"),
                _ if u <= 0xFFFF => format!("\\u{u:04X}"),
                _ => format!("\\U{u:08X}"),
            };
            column += esc.len();
            out.push_str(&esc);
            spaces = false;
        } else if c == ' ' {
            if allow_breaks && !spaces && column > BEST_WIDTH && i > 0 && i < chars.len() - 1 {
                fold(out, &mut column, cont);
                if chars.get(i + 1) == Some(&' ') {
                    out.push('\\');
                    column += 1;
                }
            } else {
                out.push(c);
                column += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            column += 1;
            spaces = false;
        }
    }
    out.push('"');
}

fn write_literal(out: &mut String, s: &str, cont: usize) {
    out.push('|');
    if s.starts_with([' ', '\n']) {
        out.push('2');
    }
    let trailing = s.len() - s.trim_end_matches('\n').len();
    match trailing {
        0 => out.push('-'),
        1 if s.len() > 1 => {}
        _ => out.push('+'),
    }
    out.push('\n');
    let mut breaks = true;
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            breaks = true;
        } else {
            if breaks {
                push_spaces(out, cont);
            }
            out.push(c);
            breaks = false;
        }
    }
    // The caller ends the line; drop the text's own final newline.
    if out.ends_with('\n') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_pod_layout() {
        let v = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": "2026-11-22T10:25:43Z",
                         "resourceVersion": "108", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"a\":1}\n"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                     "resources": {}, "args": []}],
                     "securityContext": {}},
            "status": {"conditions": [{"lastProbeTime": null, "status": "True", "type": "Ready"}], "phase": "Running"}
        });
        let want = r#"apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"a":1}
  creationTimestamp: "2026-11-22T10:25:43Z"
  labels:
    app: web
  name: web
  resourceVersion: "108"
spec:
  containers:
  - args: []
    image: nginx:1.27
    name: main
    ports:
    - containerPort: 80
      protocol: TCP
    resources: {}
  securityContext: {}
status:
  conditions:
  - lastProbeTime: null
    status: "True"
    type: Ready
  phase: Running
"#;
        assert_eq!(to_yaml(&v), want);
    }

    #[test]
    fn string_styles() {
        let cases = [
            ("plain text", "plain text"),
            ("", "\"\""),
            ("true", "\"true\""),
            ("yes", "\"yes\""),
            ("null", "\"null\""),
            ("~", "\"~\""),
            ("80", "\"80\""),
            ("0x1F", "\"0x1F\""),
            ("1e3", "\"1e3\""),
            ("1.5", "\"1.5\""),
            (".5", "\".5\""),
            ("1_000", "\"1_000\""),
            ("10:30", "\"10:30\""),
            ("2026-01-02", "\"2026-01-02\""),
            ("1.2.3", "1.2.3"),
            ("-", "'-'"),
            ("*", "'*'"),
            ("{\"a\":1}", "'{\"a\":1}'"),
            ("a: b", "'a: b'"),
            ("a:b", "a:b"),
            ("it's", "it's"),
            ("#x", "'#x'"),
            ("a #b", "'a #b'"),
            (" lead", "' lead'"),
            ("it's: x", "'it''s: x'"),
            ("tab\there", "\"tab\\there\""),
            ("a\nb", "|-\n  a\n  b"),
            ("a\nb\n", "|\n  a\n  b"),
            ("a\n\n", "|+\n  a\n"),
            (" x\ny", "|2-\n   x\n  y"),
            ("trailing \nx", "\"trailing \\nx\""),
            ("<<", "<<"),
            ("sleep", "sleep"),
            ("on", "\"on\""),
            ("😀", "\"\\U0001F600\""),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            write_string(&mut out, input, 0, 2, true);
            assert_eq!(out, want, "input {input:?}");
        }
    }

    #[test]
    fn long_strings_fold_past_80_columns() {
        let msg = "word ".repeat(30);
        let msg = msg.trim_end();
        let y = to_yaml(&json!({"message": msg}));
        let lines: Vec<&str> = y.lines().collect();
        assert!(lines.len() > 1, "{y}");
        assert!(lines[0].starts_with("message: word"));
        assert!(lines[1].starts_with("  word"), "{y}");
        // Folding is reversible: joining with single spaces gives the text.
        let joined = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        assert_eq!(joined, format!("message: {msg}"));
        // Line 1 is broken at the first space past column 80.
        assert!(lines[0].chars().count() > 80 && lines[0].chars().count() <= 85);
    }

    #[test]
    fn key_order_is_go_yaml_natural_order() {
        let mut keys = vec!["b", "a10", "a9", "a_b", "aZ", "A", "x.y", "xy", "a09", "a1"];
        keys.sort_by(|a, b| key_cmp(a, b));
        assert_eq!(keys, ["A", "a_b", "a1", "a9", "a09", "a10", "aZ", "b", "x.y", "xy"]);
    }

    #[test]
    fn numbers_and_nesting() {
        let v = json!({"f": 0.5, "i": 1.0, "big": 1e21, "l": [[1, 2], {"k": []}], "e": {}, "n": "bool-like key"});
        assert_eq!(to_yaml(&v), "big: 1e+21\ne: {}\nf: 0.5\ni: 1\nl:\n- - 1\n  - 2\n- k: []\n\"n\": bool-like key\n");
    }
}
