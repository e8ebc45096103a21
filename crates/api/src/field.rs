//! Field-level validation errors, shaped and worded like apimachinery's
//! `util/validation/field` package.
//!
//! A [`FieldError`] names a field path (`spec.containers[0].image`), a kind
//! (Required, Invalid, ...) and an optional detail. Its `Display` is exactly
//! Go's `field.Error.Error()`, so `ApiError::invalid` can build the same
//! aggregated message the apiserver sends and kubectl prints.

use std::fmt;

use serde_json::Value;

/// A field path under construction, printed like apimachinery's `field.Path`:
/// children joined with `.`, list indices as `[0]`, map keys as `[key]`
/// (unquoted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(String);

impl Path {
    /// A path starting at `root` (`""` for the object itself).
    pub fn new(root: &str) -> Self {
        Path(root.to_string())
    }

    /// The path of a child field.
    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() { Path(name.to_string()) } else { Path(format!("{}.{name}", self.0)) }
    }

    /// The path of a list element.
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    /// The path of a map entry.
    pub fn key(&self, key: &str) -> Path {
        Path(format!("{}[{key}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with a field (apimachinery's `field.ErrorType`), with the
/// offending value where the Go error carries one.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldErrorKind {
    /// `FieldValueRequired`: a required value is missing.
    Required,
    /// `FieldValueInvalid`: a malformed value.
    Invalid {
        /// The rejected value.
        value: Value,
    },
    /// `FieldValueNotSupported`: a value outside an enumeration.
    NotSupported {
        /// The rejected value.
        value: Value,
        /// The accepted values, in the order they are listed.
        supported: Vec<String>,
    },
    /// `FieldValueDuplicate`: a value that must be unique.
    Duplicate {
        /// The duplicated value.
        value: Value,
    },
    /// `FieldValueNotFound`: a reference to something that does not exist.
    NotFound {
        /// The dangling reference.
        value: Value,
    },
    /// `FieldValueForbidden`: a well-formed value that is not allowed here.
    Forbidden,
    /// `FieldValueTooLong`: a value over its size limit.
    TooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// `FieldValueTooMany`: a list with too many items.
    TooMany {
        /// How many items there are, when known.
        actual: Option<usize>,
        /// The limit, when known.
        max: Option<usize>,
    },
    /// `InternalError`: a failure unrelated to user input.
    Internal,
}

impl FieldErrorKind {
    /// The `reason` string of a `metav1.StatusCause` (apimachinery's CauseType).
    pub fn reason(&self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid { .. } => "FieldValueInvalid",
            FieldErrorKind::NotSupported { .. } => "FieldValueNotSupported",
            FieldErrorKind::Duplicate { .. } => "FieldValueDuplicate",
            FieldErrorKind::NotFound { .. } => "FieldValueNotFound",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong { .. } => "FieldValueTooLong",
            FieldErrorKind::TooMany { .. } => "FieldValueTooMany",
            FieldErrorKind::Internal => "InternalError",
        }
    }

    /// The human label of the kind (Go's `ErrorType.String()`).
    pub fn label(&self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid { .. } => "Invalid value",
            FieldErrorKind::NotSupported { .. } => "Unsupported value",
            FieldErrorKind::Duplicate { .. } => "Duplicate value",
            FieldErrorKind::NotFound { .. } => "Not found",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong { .. } => "Too long",
            FieldErrorKind::TooMany { .. } => "Too many",
            FieldErrorKind::Internal => "Internal error",
        }
    }
}

/// One field-level validation error.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field path, e.g. `spec.containers[0].image`.
    pub field: String,
    /// The kind of error and the offending value.
    pub kind: FieldErrorKind,
    /// Extra explanation, appended after `: ` when not empty.
    pub detail: String,
}

impl FieldError {
    fn new(field: &Path, kind: FieldErrorKind, detail: impl Into<String>) -> Self {
        FieldError { field: field.as_str().to_string(), kind, detail: detail.into() }
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: &Path, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Required, detail)
    }

    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(field: &Path, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Invalid { value: value.into() }, detail)
    }

    /// `field.NotSupported(path, value, supported)`; the detail lists the
    /// supported values quoted, as Go does.
    pub fn not_supported(field: &Path, value: impl Into<Value>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            field,
            FieldErrorKind::NotSupported {
                value: value.into(),
                supported: supported.iter().map(|s| s.to_string()).collect(),
            },
            detail,
        )
    }

    /// `field.Duplicate(path, value)`.
    pub fn duplicate(field: &Path, value: impl Into<Value>) -> Self {
        Self::new(field, FieldErrorKind::Duplicate { value: value.into() }, "")
    }

    /// `field.NotFound(path, value)`.
    pub fn not_found(field: &Path, value: impl Into<Value>) -> Self {
        Self::new(field, FieldErrorKind::NotFound { value: value.into() }, "")
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(field: &Path, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Forbidden, detail)
    }

    /// `field.TooLong(path, value, max)`: `must have at most N bytes`.
    pub fn too_long(field: &Path, max: usize) -> Self {
        Self::new(field, FieldErrorKind::TooLong { max }, format!("must have at most {max} bytes"))
    }

    /// `field.TooMany(path, actual, max)`.
    pub fn too_many(field: &Path, actual: Option<usize>, max: Option<usize>) -> Self {
        let detail = match max {
            Some(m) => format!("must have at most {m} items"),
            None => "has too many items".to_string(),
        };
        Self::new(field, FieldErrorKind::TooMany { actual, max }, detail)
    }

    /// `field.InternalError(path, err)`.
    pub fn internal(field: &Path, message: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Internal, message)
    }

    /// The message without the field name (Go's `ErrorBody()`); this is the
    /// `message` of a `StatusCause`.
    pub fn body(&self) -> String {
        let mut s = match &self.kind {
            FieldErrorKind::Required
            | FieldErrorKind::Forbidden
            | FieldErrorKind::TooLong { .. }
            | FieldErrorKind::Internal
            | FieldErrorKind::TooMany { actual: None, .. } => self.kind.label().to_string(),
            FieldErrorKind::TooMany { actual: Some(n), .. } => format!("{}: {n}", self.kind.label()),
            FieldErrorKind::Invalid { value }
            | FieldErrorKind::NotSupported { value, .. }
            | FieldErrorKind::Duplicate { value }
            | FieldErrorKind::NotFound { value } => {
                format!("{}: {}", self.kind.label(), format_value(value))
            }
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Formats a bad value the way Go's field errors do: strings quoted with
/// `%q`, numbers and booleans bare, `null` for nil, anything else as JSON.
fn format_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Quotes a string like Go's `strconv.Quote` (`%q`): printable characters
/// kept, `"` and `\` escaped, control characters as `\n`, `\x01`, `\u0080`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_print_like_field_path() {
        let p = Path::new("spec").child("containers").index(0).child("image");
        assert_eq!(p.as_str(), "spec.containers[0].image");
        assert_eq!(Path::new("data").key("a.b").as_str(), "data[a.b]");
        assert_eq!(Path::new("").child("x").as_str(), "x");
    }

    #[test]
    fn display_matches_apimachinery() {
        let spec = Path::new("spec");
        let cases: Vec<(FieldError, &str, &str)> = vec![
            (
                FieldError::required(&spec.child("containers").index(0).child("image"), ""),
                "spec.containers[0].image: Required value",
                "FieldValueRequired",
            ),
            (
                FieldError::invalid(&Path::new("metadata.name"), "Bad_", "oops"),
                "metadata.name: Invalid value: \"Bad_\": oops",
                "FieldValueInvalid",
            ),
            (
                FieldError::invalid(&spec.child("activeDeadlineSeconds"), 0, "must be positive"),
                "spec.activeDeadlineSeconds: Invalid value: 0: must be positive",
                "FieldValueInvalid",
            ),
            (
                FieldError::not_supported(&spec.child("restartPolicy"), "Sometimes", &["Always", "OnFailure", "Never"]),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "FieldValueNotSupported",
            ),
            (
                FieldError::duplicate(&spec.child("volumes").index(1).child("name"), "v"),
                "spec.volumes[1].name: Duplicate value: \"v\"",
                "FieldValueDuplicate",
            ),
            (FieldError::not_found(&Path::new("x"), "vol"), "x: Not found: \"vol\"", "FieldValueNotFound"),
            (FieldError::forbidden(&spec, "nope"), "spec: Forbidden: nope", "FieldValueForbidden"),
            (
                FieldError::too_long(&Path::new("data"), 1048576),
                "data: Too long: must have at most 1048576 bytes",
                "FieldValueTooLong",
            ),
            (
                FieldError::too_many(&Path::new("l"), Some(5), Some(3)),
                "l: Too many: 5: must have at most 3 items",
                "FieldValueTooMany",
            ),
            (
                FieldError::invalid(&Path::new("v"), Value::Null, "bad"),
                "v: Invalid value: null: bad",
                "FieldValueInvalid",
            ),
            (
                FieldError::invalid(&Path::new("v"), json!(["a"]), "bad"),
                "v: Invalid value: [\"a\"]: bad",
                "FieldValueInvalid",
            ),
        ];
        for (err, text, reason) in cases {
            assert_eq!(err.to_string(), text);
            assert_eq!(err.kind.reason(), reason);
        }
    }

    #[test]
    fn quoting_follows_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }
}
