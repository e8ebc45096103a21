//! Errors of the CLI and their kubectl-compatible rendering.
//!
//! kubectl's message for a failed command depends on the *kind* of failure,
//! not just its text (`cmdutil.CheckErr` / `StandardErrorMessage`):
//!
//! - an API `Status` with a reason: `Error from server (NotFound): <message>`;
//! - 401: `error: You must be logged in to the server (Unauthorized)`;
//! - 422 Invalid with `details`: `The Pod "bad" is invalid: <field>: <message>`;
//! - connection refused: `The connection to the server HOST:PORT was refused - ...`;
//! - anything else: `error: <message>`.
//!
//! [`CliError`] keeps that distinction as variants; [`CliError::render`] turns
//! one into the exact line kubectl prints. `Display` is the bare message of
//! this layer (what kubectl would embed in an aggregate of several errors).

use std::path::PathBuf;

use serde::Deserialize;

/// A Kubernetes `metav1.Status` as returned in error bodies.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Status {
    /// `Success` or `Failure`.
    pub status: String,
    /// Human-readable description.
    pub message: String,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Invalid`, ...).
    pub reason: String,
    /// Extra data about the failure.
    pub details: Option<StatusDetails>,
    /// HTTP status code.
    pub code: u16,
}

/// `metav1.StatusDetails`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct StatusDetails {
    /// Name of the object concerned.
    pub name: String,
    /// Kind (or resource) of the object concerned.
    pub kind: String,
    /// Individual causes (field errors for 422, exit code for exec).
    pub causes: Vec<StatusCause>,
}

/// `metav1.StatusCause`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct StatusCause {
    /// Machine-readable reason (`FieldValueRequired`, `ExitCode`, ...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Field path (`spec.containers[0].image`).
    pub field: String,
}

/// An error answer from the API server, as a `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The status (synthesised like client-go's when the body was not a Status).
    pub status: Status,
}

impl ApiError {
    /// Build from an HTTP answer. `body` is parsed as a `Status`; when it is
    /// not one, a message is made up the way client-go does
    /// (`newUnstructuredResponseError`), qualified by `what` (e.g. `get pods web`).
    pub fn from_response(code: u16, body: &[u8], what: &str) -> ApiError {
        if let Ok(s) = serde_json::from_slice::<Status>(body)
            && (!s.message.is_empty() || !s.reason.is_empty())
        {
            let mut s = s;
            if s.code == 0 {
                s.code = code;
            }
            return ApiError { status: s };
        }
        let text = String::from_utf8_lossy(body).trim().to_string();
        let (reason, message) = generic_message(code, &text);
        let qualifier = if what.is_empty() { String::new() } else { format!(" ({what})") };
        let message = match code {
            // client-go keeps the body for these, without a qualifier.
            403 if !text.is_empty() => text,
            401 => message,
            _ => format!("{message}{qualifier}"),
        };
        ApiError { status: Status { status: "Failure".into(), message, reason: reason.into(), details: None, code } }
    }

    /// The HTTP code.
    pub fn code(&self) -> u16 {
        self.status.code
    }

    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        self.status.code == 404 || self.status.reason == "NotFound"
    }

    /// Prefix the message with `error when VERB "SOURCE": ` like kubectl's
    /// `AddSourceToErr` for errors about objects read from a file.
    pub fn with_source(mut self, verb: &str, source: &str) -> ApiError {
        if !source.is_empty() {
            self.status.message = format!("error when {verb} \"{source}\": {}", self.status.message);
        }
        self
    }

    /// The line kubectl prints for this error alone (`CheckErr`).
    pub fn render_alone(&self) -> String {
        let s = &self.status;
        if s.reason == "Invalid" || s.code == 422 {
            return render_invalid(s);
        }
        self.render_standard()
    }

    /// kubectl's `StandardErrorMessage` (also used inside aggregates).
    pub fn render_standard(&self) -> String {
        let s = &self.status;
        if s.reason == "Unauthorized" || s.code == 401 {
            let msg = if s.message.is_empty() { "Unauthorized" } else { s.message.as_str() };
            return format!("error: You must be logged in to the server ({msg})");
        }
        if s.reason.is_empty() {
            format!("Error from server: {}", s.message)
        } else {
            format!("Error from server ({}): {}", s.reason, s.message)
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.status.message)
    }
}

/// kubectl's rendering of a 422 (`checkErr`, the `IsInvalid` branch).
fn render_invalid(s: &Status) -> String {
    let Some(d) = &s.details else {
        let mut out = "The request is invalid".to_string();
        if !s.message.is_empty() {
            out.push_str(": ");
            out.push_str(&s.message);
        }
        return out;
    };
    let head = if !d.kind.is_empty() || !d.name.is_empty() {
        format!("The {} \"{}\" is invalid", d.kind, d.name)
    } else if let Some(c) = d.causes.first().filter(|c| !c.field.is_empty()) {
        format!("The {} is invalid", c.field)
    } else {
        "The request is invalid".to_string()
    };
    let mut causes: Vec<String> = Vec::new();
    for c in &d.causes {
        let m = format!("{}: {}", c.field, c.message);
        if !causes.contains(&m) {
            causes.push(m);
        }
    }
    match causes.len() {
        0 => head,
        1 => format!("{head}: {}", causes[0]),
        _ => {
            // kubectl's MultilineError: prefix on its own line, then bullets.
            let mut out = format!("{head}: ");
            for c in causes {
                out.push_str("\n* ");
                out.push_str(&c);
            }
            out
        }
    }
}

/// The reason and message client-go makes up for a non-Status error body.
fn generic_message(code: u16, body: &str) -> (&'static str, String) {
    let (reason, msg) = match code {
        400 => ("BadRequest", "the server rejected our request for an unknown reason"),
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "forbidden"),
        404 => ("NotFound", "the server could not find the requested resource"),
        405 => ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
        406 => ("NotAcceptable", "the server was unable to respond with a content type that the client supports"),
        409 => ("Conflict", "the server reported a conflict"),
        410 => ("Expired", "the server could not find the requested resource"),
        413 => ("RequestEntityTooLarge", "the server has rejected the request due to its size"),
        415 => {
            ("UnsupportedMediaType", "the server was unable to respond with a content type that the client supports")
        }
        422 => ("Invalid", "the server rejected our request due to an error in our request"),
        429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
        503 => ("ServiceUnavailable", "the server is currently unable to handle the request"),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        c if c >= 500 => {
            let m = if body.is_empty() {
                "an error on the server has prevented the request from succeeding".to_string()
            } else {
                format!("an error on the server (\"{body}\") has prevented the request from succeeding")
            };
            return ("InternalError", m);
        }
        _ => ("", "the server responded with an unexpected status"),
    };
    (reason, msg.to_string())
}

/// Every failure of a CLI verb.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The kubeconfig could not be read or used.
    #[error(transparent)]
    Kubeconfig(#[from] crate::kubeconfig::KubeconfigError),
    /// The API server answered with an error status (boxed: it is large).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// TCP connection refused (kubectl has a dedicated message).
    #[error("The connection to the server {host} was refused - did you specify the right host or port?")]
    ConnectionRefused {
        /// `host:port` of the server.
        host: String,
    },
    /// Any other transport failure (TLS, DNS, reset, timeout).
    #[error("Unable to connect to the server: {detail}")]
    Transport {
        /// The error chain, flattened.
        detail: String,
    },
    /// A manifest file that is not valid YAML/JSON.
    #[error("error parsing {path}: error converting YAML to JSON: yaml: {}", decode_summary(source))]
    ManifestDecode {
        /// The file (or `STDIN`).
        path: String,
        /// The decoder's error.
        source: peapod_api::yaml::DecodeError,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The WebSocket stream of exec failed.
    #[error("{0}")]
    Stream(String),
    /// A usage or client-side error, printed as `error: <message>`.
    #[error("{0}")]
    Msg(String),
    /// Several independent errors (per-object failures of apply/create/delete).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<CliError>),
    /// The command failed and already said why (exit code 1).
    #[error("")]
    Reported,
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        CliError::Api(Box::new(e))
    }
}

impl CliError {
    /// Shorthand for [`CliError::Msg`].
    pub fn msg(m: impl Into<String>) -> CliError {
        CliError::Msg(m.into())
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CliError {
        CliError::Io { path: path.into(), source }
    }

    /// Whether this is an API 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CliError::Api(e) if e.is_not_found())
    }

    /// The text kubectl prints on stderr for this error when it ends the
    /// command (`cmdutil.CheckErr`). Empty for [`CliError::Reported`].
    pub fn render(&self) -> String {
        match self {
            CliError::Api(e) => e.render_alone(),
            CliError::ConnectionRefused { .. } | CliError::Transport { .. } => self.to_string(),
            CliError::Many(errs) if errs.len() == 1 => errs[0].render(),
            CliError::Many(errs) => errs.iter().map(CliError::render_in_aggregate).collect::<Vec<_>>().join("\n"),
            CliError::Reported => String::new(),
            other => {
                let m = other.to_string();
                if m.starts_with("error: ") { m } else { format!("error: {m}") }
            }
        }
    }

    /// How kubectl prints one member of an aggregate (`MultipleErrors`):
    /// standard messages for API and connection errors, bare text otherwise.
    fn render_in_aggregate(&self) -> String {
        match self {
            CliError::Api(e) => e.render_standard(),
            CliError::Many(errs) => errs.iter().map(CliError::render_in_aggregate).collect::<Vec<_>>().join("\n"),
            other => other.to_string(),
        }
    }
}

/// The first line of a decoder message (the YAML parser adds a source
/// snippet on further lines), without its own `error: ` prefix.
fn decode_summary(e: &peapod_api::yaml::DecodeError) -> String {
    let first = e.0.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// Combine per-object errors the way kubectl does at the end of a verb:
/// none → Ok, one → that error, several → an aggregate.
pub fn aggregate(mut errs: Vec<CliError>) -> Result<(), CliError> {
    match errs.len() {
        0 => Ok(()),
        1 => Err(errs.remove(0)),
        _ => Err(CliError::Many(errs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(body: &str, code: u16, what: &str) -> ApiError {
        ApiError::from_response(code, body.as_bytes(), what)
    }

    #[test]
    fn renders_like_kubectl() {
        // (body, HTTP code, request description, source to attach, kubectl's line)
        type Case<'a> = (&'a str, u16, &'a str, Option<(&'a str, &'a str)>, &'a str);
        let cases: &[Case] = &[
            (
                r#"{"kind":"Status","status":"Failure","message":"pods \"nosuch\" not found","reason":"NotFound","details":{"name":"nosuch","kind":"pods"},"code":404}"#,
                404,
                "get pods nosuch",
                None,
                r#"Error from server (NotFound): pods "nosuch" not found"#,
            ),
            (
                r#"{"kind":"Status","status":"Failure","message":"pods \"web\" already exists","reason":"AlreadyExists","code":409}"#,
                409,
                "",
                Some(("creating", "manifests/pod.yaml")),
                r#"Error from server (AlreadyExists): error when creating "manifests/pod.yaml": pods "web" already exists"#,
            ),
            (
                r#"{"kind":"Status","status":"Failure","message":"Pod \"bad\" is invalid: spec.containers[0].image: Required value","reason":"Invalid","details":{"name":"bad","kind":"Pod","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.containers[0].image"}]},"code":422}"#,
                422,
                "",
                Some(("creating", "bad.yaml")),
                r#"The Pod "bad" is invalid: spec.containers[0].image: Required value"#,
            ),
            (
                r#"{"kind":"Status","status":"Failure","message":"Pod \"bad\" is invalid: spec.containers[0].image: Required value","reason":"Invalid","code":422}"#,
                422,
                "",
                Some(("creating", "manifests/bad.yaml")),
                r#"The request is invalid: error when creating "manifests/bad.yaml": Pod "bad" is invalid: spec.containers[0].image: Required value"#,
            ),
            (
                r#"{"kind":"Status","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#,
                401,
                "get pods",
                None,
                "error: You must be logged in to the server (Unauthorized)",
            ),
            (
                "404 page not found",
                404,
                "get pods nosuch",
                None,
                "Error from server (NotFound): the server could not find the requested resource (get pods nosuch)",
            ),
            ("", 409, "post pods", None, "Error from server (Conflict): the server reported a conflict (post pods)"),
            (
                "boom",
                500,
                "get pods",
                None,
                "Error from server (InternalError): an error on the server (\"boom\") has prevented the request from succeeding (get pods)",
            ),
            (
                "",
                503,
                "get pods",
                None,
                "Error from server (ServiceUnavailable): the server is currently unable to handle the request (get pods)",
            ),
        ];
        for (body, code, what, source, want) in cases {
            let mut e = api(body, *code, what);
            if let Some((verb, src)) = source {
                e = e.with_source(verb, src);
            }
            assert_eq!(CliError::from(e).render(), *want, "body {body}");
        }
    }

    #[test]
    fn invalid_with_several_causes_is_a_bullet_list() {
        let e = api(
            r#"{"reason":"Invalid","message":"x","code":422,"details":{"kind":"Pod","name":"p","causes":[{"field":"a","message":"m1"},{"field":"b","message":"m2"},{"field":"a","message":"m1"}]}}"#,
            422,
            "",
        );
        assert_eq!(e.render_alone(), "The Pod \"p\" is invalid: \n* a: m1\n* b: m2");
    }

    #[test]
    fn aggregate_uses_standard_messages_and_bare_text() {
        let invalid = api(
            r#"{"reason":"Invalid","message":"Pod \"bad\" is invalid: x: Required value","code":422,"details":{"kind":"Pod","name":"bad","causes":[{"field":"x","message":"Required value"}]}}"#,
            422,
            "",
        )
        .with_source("creating", "f.yaml");
        let errs = vec![CliError::msg("resource mapping not found"), CliError::from(invalid)];
        assert_eq!(
            aggregate(errs).unwrap_err().render(),
            "resource mapping not found\nError from server (Invalid): error when creating \"f.yaml\": Pod \"bad\" is invalid: x: Required value"
        );
        assert!(aggregate(vec![]).is_ok());
        assert_eq!(aggregate(vec![CliError::msg("one")]).unwrap_err().render(), "error: one");
    }

    #[test]
    fn connection_refused_has_no_error_prefix() {
        let e = CliError::ConnectionRefused { host: "127.0.0.1:6443".into() };
        assert_eq!(
            e.render(),
            "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?"
        );
    }
}
