//! Field selectors: apimachinery's `fields.ParseSelector` syntax
//! (`metadata.name=x,status.phase!=Running`, `==`, backslash escapes) and
//! the per-resource selectable fields of the apiserver's registries
//! (`pods`: `spec.nodeName`, `status.phase`, ...; `events`:
//! `involvedObject.*`, ...). A field a resource does not support is an
//! error, as the apiserver answers `field label not supported: X`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::SelectorError;

/// `=`/`==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field op value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field path (`status.phase`).
    pub field: String,
    /// The operator.
    pub operator: FieldOperator,
    /// The unescaped value.
    pub value: String,
}

/// A parsed field selector: the AND of its terms (empty matches all).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

const OPERATORS: [(&str, FieldOperator); 3] =
    [("!=", FieldOperator::NotEquals), ("==", FieldOperator::Equals), ("=", FieldOperator::Equals)];

impl FieldSelector {
    /// Parses the string form (`?fieldSelector=`). Terms are sorted, as Go
    /// sorts them before building the selector.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut parts = split_terms(input);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let Some((field, operator, raw)) = split_term(part) else {
                return Err(SelectorError::Invalid(format!("invalid selector: '{input}'; can't understand '{part}'")));
            };
            terms.push(FieldTerm { field: field.to_string(), operator, value: unescape(raw)? });
        }
        Ok(FieldSelector { terms })
    }

    /// Parses and checks every field is selectable on `resource`.
    pub fn parse_for(resource: &str, input: &str) -> Result<Self, SelectorError> {
        let s = Self::parse(input)?;
        s.validate(resource)?;
        Ok(s)
    }

    /// Errors with `field label not supported: X` for the first term
    /// `resource` cannot select on.
    pub fn validate(&self, resource: &str) -> Result<(), SelectorError> {
        let supported = supported_fields(resource);
        match self.terms.iter().find(|t| !supported.contains(&t.field.as_str())) {
            Some(t) => Err(SelectorError::UnsupportedField(t.field.clone())),
            None => Ok(()),
        }
    }

    /// True when `obj` (a `resource` object as JSON) satisfies every term.
    /// An unsupported field is an error, as in [`FieldSelector::validate`].
    pub fn matches(&self, resource: &str, obj: &Value) -> Result<bool, SelectorError> {
        self.validate(resource)?;
        let fields = selectable_fields(resource, obj);
        Ok(self.terms.iter().all(|t| {
            let have = fields.get(t.field.as_str()).map(String::as_str).unwrap_or("");
            match t.operator {
                FieldOperator::Equals => have == t.value,
                FieldOperator::NotEquals => have != t.value,
            }
        }))
    }

    /// The value an `=` term requires for `field`, if any (lets a store
    /// narrow `metadata.name=x` to a single key).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms.iter().find(|t| t.field == field && t.operator == FieldOperator::Equals).map(|t| t.value.as_str())
    }

    /// True when the selector restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms, sorted.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let op = match t.operator {
                    FieldOperator::Equals => "=",
                    FieldOperator::NotEquals => "!=",
                };
                format!("{}{op}{}", t.field, escape(&t.value))
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=")
}

/// Splits on unescaped commas, keeping escapes for [`unescape`].
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The first operator occurrence splits the term (keys cannot be escaped).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        for (op, kind) in OPERATORS {
            if term[i..].starts_with(op) {
                return Some((&term[..i], kind, &term[i + op.len()..]));
            }
        }
    }
    None
}

fn unescape(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(SelectorError::Invalid(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    )));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(SelectorError::Invalid(format!(
                    "invalid field selector: unescaped character in value: {c}"
                )));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::Invalid("invalid field selector: invalid escape sequence: \\".into()));
    }
    Ok(out)
}

/// The fields `resource` (plural name) can be selected on.
pub fn supported_fields(resource: &str) -> &'static [&'static str] {
    match resource {
        "pods" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "events" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "secrets" => &["metadata.name", "metadata.namespace", "type"],
        "namespaces" => &["metadata.name", "status.phase"],
        "nodes" => &["metadata.name", "spec.unschedulable"],
        _ => {
            let namespaced = crate::resources::lookup(resource).is_none_or(|r| r.namespaced);
            if namespaced { &["metadata.name", "metadata.namespace"] } else { &["metadata.name"] }
        }
    }
}

fn text(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn flag(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer).and_then(Value::as_bool).unwrap_or(false).to_string()
}

/// The selectable field values of an object, as the apiserver's
/// `ToSelectableFields` computes them (absent fields read as `""`).
pub fn selectable_fields(resource: &str, obj: &Value) -> BTreeMap<&'static str, String> {
    let mut f = BTreeMap::new();
    f.insert("metadata.name", text(obj, "/metadata/name"));
    if supported_fields(resource).contains(&"metadata.namespace") {
        f.insert("metadata.namespace", text(obj, "/metadata/namespace"));
    }
    match resource {
        "pods" => {
            for (field, ptr) in [
                ("spec.nodeName", "/spec/nodeName"),
                ("spec.restartPolicy", "/spec/restartPolicy"),
                ("spec.schedulerName", "/spec/schedulerName"),
                ("spec.serviceAccountName", "/spec/serviceAccountName"),
                ("status.phase", "/status/phase"),
                ("status.nominatedNodeName", "/status/nominatedNodeName"),
            ] {
                f.insert(field, text(obj, ptr));
            }
            f.insert("spec.hostNetwork", flag(obj, "/spec/hostNetwork"));
            // The first of podIPs, as the registry reads it.
            let mut ip = text(obj, "/status/podIPs/0/ip");
            if ip.is_empty() {
                ip = text(obj, "/status/podIP");
            }
            f.insert("status.podIP", ip);
        }
        "events" => {
            for (field, ptr) in [
                ("involvedObject.kind", "/involvedObject/kind"),
                ("involvedObject.namespace", "/involvedObject/namespace"),
                ("involvedObject.name", "/involvedObject/name"),
                ("involvedObject.uid", "/involvedObject/uid"),
                ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
                ("involvedObject.resourceVersion", "/involvedObject/resourceVersion"),
                ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
                ("reason", "/reason"),
                ("reportingComponent", "/reportingComponent"),
                ("type", "/type"),
            ] {
                f.insert(field, text(obj, ptr));
            }
            let mut source = text(obj, "/source/component");
            if source.is_empty() {
                source = text(obj, "/reportingComponent");
            }
            f.insert("source", source);
        }
        "secrets" => {
            f.insert("type", text(obj, "/type"));
        }
        "namespaces" => {
            f.insert("status.phase", text(obj, "/status/phase"));
        }
        "nodes" => {
            f.insert("spec.unschedulable", flag(obj, "/spec/unschedulable"));
        }
        _ => {}
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_table() {
        let table = [
            ("", ""),
            ("metadata.name=x", "metadata.name=x"),
            ("metadata.name==x", "metadata.name=x"),
            ("status.phase!=Running,metadata.name=x", "metadata.name=x,status.phase!=Running"),
            ("metadata.name=a\\,b", "metadata.name=a\\,b"),
            ("metadata.name=", "metadata.name="),
            ("a=b,", "a=b"),
        ];
        for (input, printed) in table {
            assert_eq!(FieldSelector::parse(input).unwrap().to_string(), printed, "{input}");
        }
        assert_eq!(FieldSelector::parse("metadata.name=a\\,b").unwrap().terms()[0].value, "a,b");
    }

    #[test]
    fn parse_errors() {
        let table = [
            ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
            ("a=b=c", "invalid field selector: unescaped character in value: ="),
            ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
            ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ];
        for (input, want) in table {
            assert_eq!(FieldSelector::parse(input).unwrap_err().to_string(), want, "{input}");
        }
        assert_eq!(
            FieldSelector::parse_for("configmaps", "data.x=1").unwrap_err().to_string(),
            "field label not supported: data.x"
        );
        assert_eq!(
            FieldSelector::parse_for("namespaces", "metadata.namespace=x").unwrap_err().to_string(),
            "field label not supported: metadata.namespace"
        );
    }

    #[test]
    fn matching_pods_and_events() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": true},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]}
        });
        let table = [
            ("metadata.name=web", true),
            ("metadata.name=db", false),
            ("metadata.namespace=default,spec.nodeName=n1", true),
            ("status.phase!=Running", false),
            ("status.phase!=Pending", true),
            ("spec.hostNetwork=true", true),
            ("status.podIP=10.0.0.5", true),
            ("status.nominatedNodeName=", true),
            ("spec.serviceAccountName!=", false),
        ];
        for (sel, want) in table {
            let s = FieldSelector::parse(sel).unwrap();
            assert_eq!(s.matches("pods", &pod).unwrap(), want, "{sel}");
        }
        let ev = json!({
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1", "apiVersion": "v1"},
            "reason": "Started", "type": "Normal", "reportingComponent": "kubelet"
        });
        let s = FieldSelector::parse("involvedObject.uid=u1,involvedObject.name=web,involvedObject.namespace=default")
            .unwrap();
        assert!(s.matches("events", &ev).unwrap());
        assert!(FieldSelector::parse("source=kubelet").unwrap().matches("events", &ev).unwrap());
        assert!(FieldSelector::parse("spec.nodeName=x").unwrap().matches("events", &ev).is_err());
        assert_eq!(
            FieldSelector::parse("metadata.name=web").unwrap().requires_exact_match("metadata.name"),
            Some("web")
        );
        let secret = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"});
        assert!(FieldSelector::parse("type=Opaque").unwrap().matches("secrets", &secret).unwrap());
    }
}
