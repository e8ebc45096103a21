//! API errors as the apiserver reports them: a `metav1.Status` with an HTTP
//! code, a machine `reason` and a human `message`.
//!
//! Constructors mirror apimachinery's `api/errors` package (`NewNotFound`,
//! `NewConflict`, `NewInvalid`, ...) and reproduce its wording, because
//! kubectl prints the message verbatim (`Error from server (NotFound): pods
//! "x" not found`) and scripts match on it.
//!
//! The crate's other error types ([`Error`]) convert into an [`ApiError`] so
//! the server has one mapping point from "this input was bad" to a Status.

use serde_json::{Map, Value, json};

use crate::field::FieldError;

/// The `reason` of a `metav1.Status` (Go's `StatusReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusReason {
    /// No reason (`""`).
    Unknown,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 409 on create.
    AlreadyExists,
    /// 409 on an optimistic-lock failure.
    Conflict,
    /// 410.
    Gone,
    /// 422.
    Invalid,
    /// 500 with a retry hint.
    ServerTimeout,
    /// 504.
    Timeout,
    /// 429.
    TooManyRequests,
    /// 400.
    BadRequest,
    /// 405.
    MethodNotAllowed,
    /// 406.
    NotAcceptable,
    /// 413.
    RequestEntityTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 500.
    InternalError,
    /// 410 for an expired watch/list resource version.
    Expired,
    /// 503.
    ServiceUnavailable,
}

impl StatusReason {
    /// The wire string (`"NotFound"`, ...; `""` for [`StatusReason::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            StatusReason::Unknown => "",
            StatusReason::Unauthorized => "Unauthorized",
            StatusReason::Forbidden => "Forbidden",
            StatusReason::NotFound => "NotFound",
            StatusReason::AlreadyExists => "AlreadyExists",
            StatusReason::Conflict => "Conflict",
            StatusReason::Gone => "Gone",
            StatusReason::Invalid => "Invalid",
            StatusReason::ServerTimeout => "ServerTimeout",
            StatusReason::Timeout => "Timeout",
            StatusReason::TooManyRequests => "TooManyRequests",
            StatusReason::BadRequest => "BadRequest",
            StatusReason::MethodNotAllowed => "MethodNotAllowed",
            StatusReason::NotAcceptable => "NotAcceptable",
            StatusReason::RequestEntityTooLarge => "RequestEntityTooLarge",
            StatusReason::UnsupportedMediaType => "UnsupportedMediaType",
            StatusReason::InternalError => "InternalError",
            StatusReason::Expired => "Expired",
            StatusReason::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

/// One `metav1.StatusCause`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusCause {
    /// Machine reason (`FieldValueRequired`, ...); omitted when empty.
    pub reason: String,
    /// Human message; omitted when empty.
    pub message: String,
    /// Field path; omitted when empty.
    pub field: String,
}

/// `metav1.StatusDetails`. Empty strings and lists are omitted on the wire.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusDetails {
    /// Object name.
    pub name: String,
    /// API group (`""` for core).
    pub group: String,
    /// Resource (`pods`) or kind (`Pod` for Invalid), as the apiserver fills it.
    pub kind: String,
    /// Object UID.
    pub uid: String,
    /// Individual causes.
    pub causes: Vec<StatusCause>,
    /// Retry hint in seconds.
    pub retry_after_seconds: Option<i32>,
}

impl StatusDetails {
    /// Details naming one object of a resource; `resource` may be qualified
    /// (`deployments.apps`), as in [`ApiError::not_found`].
    pub fn for_object(resource: &str, name: &str, uid: &str) -> Self {
        let (resource, group) = split_resource(resource);
        StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: resource.to_string(),
            uid: uid.to_string(),
            ..Default::default()
        }
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        if !self.name.is_empty() {
            m.insert("name".into(), json!(self.name));
        }
        if !self.group.is_empty() {
            m.insert("group".into(), json!(self.group));
        }
        if !self.kind.is_empty() {
            m.insert("kind".into(), json!(self.kind));
        }
        if !self.uid.is_empty() {
            m.insert("uid".into(), json!(self.uid));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| {
                    let mut cm = Map::new();
                    if !c.reason.is_empty() {
                        cm.insert("reason".into(), json!(c.reason));
                    }
                    if !c.message.is_empty() {
                        cm.insert("message".into(), json!(c.message));
                    }
                    if !c.field.is_empty() {
                        cm.insert("field".into(), json!(c.field));
                    }
                    Value::Object(cm)
                })
                .collect();
            m.insert("causes".into(), Value::Array(causes));
        }
        if let Some(s) = self.retry_after_seconds {
            m.insert("retryAfterSeconds".into(), json!(s));
        }
        Value::Object(m)
    }
}

/// The message kubectl expects after an optimistic-lock failure.
pub const OPTIMISTIC_LOCK_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// An error to send to a client as a `metav1.Status`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code (also the Status `code`).
    pub code: u16,
    /// Machine reason.
    pub reason: StatusReason,
    /// Human message, printed by kubectl.
    pub message: String,
    /// Optional details.
    pub details: Option<StatusDetails>,
}

/// Splits `deployments.apps` into (`deployments`, `apps`); `pods` → (`pods`, ``).
fn split_resource(resource: &str) -> (&str, &str) {
    match resource.split_once('.') {
        Some((r, g)) => (r, g),
        None => (resource, ""),
    }
}

impl ApiError {
    fn plain(code: u16, reason: StatusReason, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None }
    }

    /// 404 `pods "x" not found` (Go `NewNotFound`). `resource` is the plural,
    /// group-qualified for non-core groups (`deployments.apps`).
    pub fn not_found(resource: &str, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: StatusReason::NotFound,
            message: format!("{resource} {} not found", crate::field::go_quote(name)),
            details: Some(StatusDetails::for_object(resource, name, "")),
        }
    }

    /// 404 `namespaces "x" not found`, for writes into a missing namespace.
    pub fn namespace_not_found(namespace: &str) -> Self {
        Self::not_found("namespaces", namespace)
    }

    /// 404 for a URL that names no resource, with the apiserver's generic
    /// message and empty details.
    pub fn unknown_path() -> Self {
        ApiError {
            details: Some(StatusDetails::default()),
            ..Self::plain(404, StatusReason::NotFound, "the server could not find the requested resource")
        }
    }

    /// 409 `pods "x" already exists` (Go `NewAlreadyExists`).
    pub fn already_exists(resource: &str, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: StatusReason::AlreadyExists,
            message: format!("{resource} {} already exists", crate::field::go_quote(name)),
            details: Some(StatusDetails::for_object(resource, name, "")),
        }
    }

    /// 409 `Operation cannot be fulfilled on pods "x": <msg>` (Go
    /// `NewConflict`). Use [`OPTIMISTIC_LOCK_MESSAGE`] for a stale
    /// resourceVersion.
    pub fn conflict(resource: &str, name: &str, msg: &str) -> Self {
        ApiError {
            code: 409,
            reason: StatusReason::Conflict,
            message: format!("Operation cannot be fulfilled on {resource} {}: {msg}", crate::field::go_quote(name)),
            details: Some(StatusDetails::for_object(resource, name, "")),
        }
    }

    /// 422 `Pod "x" is invalid: ...` (Go `NewInvalid`). `kind` is the Kind,
    /// optionally group-qualified (`Deployment.apps`). The message joins the
    /// distinct error strings, bracketed when there are several, and each
    /// error becomes a cause.
    pub fn invalid(kind: &str, name: &str, errors: Vec<FieldError>) -> Self {
        let (kind_only, group) = split_resource(kind);
        let causes = errors
            .iter()
            .map(|e| StatusCause { reason: e.kind.reason().to_string(), message: e.body(), field: e.field.clone() })
            .collect();
        // Go's ToAggregate drops errors whose text repeats an earlier one.
        let mut distinct: Vec<String> = Vec::new();
        for e in &errors {
            let s = e.to_string();
            if !distinct.contains(&s) {
                distinct.push(s);
            }
        }
        let quoted = crate::field::go_quote(name);
        let message = match distinct.len() {
            0 => format!("{kind} {quoted} is invalid"),
            1 => format!("{kind} {quoted} is invalid: {}", distinct[0]),
            _ => format!("{kind} {quoted} is invalid: [{}]", distinct.join(", ")),
        };
        ApiError {
            code: 422,
            reason: StatusReason::Invalid,
            message,
            details: Some(StatusDetails {
                name: name.to_string(),
                group: group.to_string(),
                kind: kind_only.to_string(),
                causes,
                ..Default::default()
            }),
        }
    }

    /// 400 with the given message (Go `NewBadRequest`).
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::plain(400, StatusReason::BadRequest, msg)
    }

    /// 401 `Unauthorized`, as the apiserver answers a missing or bad token.
    pub fn unauthorized() -> Self {
        Self::plain(401, StatusReason::Unauthorized, "Unauthorized")
    }

    /// 403 with a free-form message.
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::plain(403, StatusReason::Forbidden, msg)
    }

    /// 403 `pods "x" is forbidden: <msg>` (Go `NewForbidden`); without a
    /// name, `pods is forbidden: <msg>`.
    pub fn forbidden_resource(resource: &str, name: &str, msg: &str) -> Self {
        let message = if name.is_empty() {
            format!("{resource} is forbidden: {msg}")
        } else {
            format!("{resource} {} is forbidden: {msg}", crate::field::go_quote(name))
        };
        ApiError {
            code: 403,
            reason: StatusReason::Forbidden,
            message,
            details: Some(StatusDetails::for_object(resource, name, "")),
        }
    }

    /// 403 for a create in a namespace that is being deleted, with the
    /// apiserver's `NamespaceTerminating` cause.
    pub fn namespace_terminating(resource: &str, name: &str, namespace: &str) -> Self {
        let msg = format!("unable to create new content in namespace {namespace} because it is being terminated");
        let mut err = Self::forbidden_resource(resource, name, &msg);
        if let Some(d) = err.details.as_mut() {
            d.causes.push(StatusCause {
                reason: "NamespaceTerminating".into(),
                message: msg,
                field: "metadata.namespace".into(),
            });
        }
        err
    }

    /// 405 `<verb> is not supported on resources of kind "pods"` (Go
    /// `NewMethodNotSupported`).
    pub fn method_not_allowed(resource: &str, verb: &str) -> Self {
        let (r, g) = split_resource(resource);
        ApiError {
            code: 405,
            reason: StatusReason::MethodNotAllowed,
            message: format!("{verb} is not supported on resources of kind {}", crate::field::go_quote(resource)),
            details: Some(StatusDetails { group: g.to_string(), kind: r.to_string(), ..Default::default() }),
        }
    }

    /// 406 `only the following media types are accepted: ...`.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::plain(
            406,
            StatusReason::NotAcceptable,
            format!("only the following media types are accepted: {}", accepted.join(", ")),
        )
    }

    /// 415 `the body of the request was in an unknown format - accepted media
    /// types include: ...` (the apiserver lists what it accepts, not what was
    /// sent).
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::plain(
            415,
            StatusReason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 410 `Expired`, e.g. `too old resource version: 1 (200)`.
    pub fn gone_expired(msg: impl Into<String>) -> Self {
        Self::plain(410, StatusReason::Expired, msg)
    }

    /// 410 `Gone`.
    pub fn gone(msg: impl Into<String>) -> Self {
        Self::plain(410, StatusReason::Gone, msg)
    }

    /// 500 `Internal error occurred: <msg>` with the message as a cause
    /// (Go `NewInternalError`).
    pub fn internal(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        ApiError {
            code: 500,
            reason: StatusReason::InternalError,
            message: format!("Internal error occurred: {msg}"),
            details: Some(StatusDetails {
                causes: vec![StatusCause { message: msg, ..Default::default() }],
                ..Default::default()
            }),
        }
    }

    /// 413 `Request entity too large: <msg>`.
    pub fn too_large(msg: impl Into<String>) -> Self {
        Self::plain(413, StatusReason::RequestEntityTooLarge, format!("Request entity too large: {}", msg.into()))
    }

    /// 503 with the given message.
    pub fn service_unavailable(msg: impl Into<String>) -> Self {
        Self::plain(503, StatusReason::ServiceUnavailable, msg)
    }

    /// 504 `Timeout: <msg>`.
    pub fn timeout(msg: impl Into<String>) -> Self {
        Self::plain(504, StatusReason::Timeout, format!("Timeout: {}", msg.into()))
    }

    /// The `metav1.Status` JSON body, keys in the apiserver's order.
    pub fn to_status(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), json!("Status"));
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("metadata".into(), json!({}));
        m.insert("status".into(), json!("Failure"));
        if !self.message.is_empty() {
            m.insert("message".into(), json!(self.message));
        }
        if self.reason != StatusReason::Unknown {
            m.insert("reason".into(), json!(self.reason.as_str()));
        }
        if let Some(d) = &self.details {
            m.insert("details".into(), d.to_value());
        }
        m.insert("code".into(), json!(self.code));
        Value::Object(m)
    }
}

/// The `Status` with `status: Success` that the apiserver returns for a
/// DELETE of anything but a pod.
pub fn success_status(details: &StatusDetails) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details.to_value(),
    })
}

/// Every error this crate returns, for callers that want one type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest or body that is not YAML/JSON.
    #[error(transparent)]
    Decode(#[from] crate::yaml::DecodeError),
    /// A malformed or unsupported label/field selector.
    #[error(transparent)]
    Selector(#[from] crate::selectors::SelectorError),
    /// A patch that cannot be decoded or applied.
    #[error(transparent)]
    Patch(#[from] crate::patch::PatchError),
    /// A malformed resource quantity.
    #[error(transparent)]
    Quantity(#[from] crate::quantity::QuantityError),
}

impl From<&Error> for ApiError {
    /// Maps input errors to the Status the apiserver would send: bad
    /// selectors, bodies and quantities are 400; patch failures follow
    /// [`crate::patch::PatchError::to_api_error`].
    fn from(e: &Error) -> Self {
        match e {
            Error::Decode(d) => ApiError::bad_request(d.to_string()),
            Error::Selector(s) => ApiError::bad_request(s.to_string()),
            Error::Quantity(q) => ApiError::bad_request(q.to_string()),
            Error::Patch(p) => p.to_api_error(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::from(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Path;

    #[test]
    fn not_found_status_shape() {
        let e = ApiError::not_found("pods", "nosuch");
        assert_eq!(e.to_string(), "pods \"nosuch\" not found");
        assert_eq!(
            serde_json::to_string(&e.to_status()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nosuch\" not found","reason":"NotFound","details":{"name":"nosuch","kind":"pods"},"code":404}"#
        );
    }

    #[test]
    fn grouped_resources_fill_group() {
        let e = ApiError::already_exists("deployments.apps", "web");
        assert_eq!(e.message, "deployments.apps \"web\" already exists");
        let d = e.details.unwrap();
        assert_eq!((d.kind.as_str(), d.group.as_str()), ("deployments", "apps"));
        assert_eq!(e.code, 409);
    }

    #[test]
    fn conflict_wording() {
        let e = ApiError::conflict("pods", "web", OPTIMISTIC_LOCK_MESSAGE);
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(e.reason.as_str(), "Conflict");
    }

    #[test]
    fn invalid_single_and_many() {
        let p = Path::new("spec").child("containers").index(0);
        let one = ApiError::invalid("Pod", "bad", vec![FieldError::required(&p.child("image"), "")]);
        assert_eq!(one.message, "Pod \"bad\" is invalid: spec.containers[0].image: Required value");
        assert_eq!(one.code, 422);
        let st = one.to_status();
        assert_eq!(
            st["details"],
            json!({"name":"bad","kind":"Pod","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.containers[0].image"}]})
        );

        let many = ApiError::invalid(
            "Pod",
            "bad",
            vec![
                FieldError::required(&p.child("image"), ""),
                FieldError::required(&p.child("image"), ""),
                FieldError::invalid(&p.child("name"), "A", "x"),
            ],
        );
        assert_eq!(
            many.message,
            "Pod \"bad\" is invalid: [spec.containers[0].image: Required value, spec.containers[0].name: Invalid value: \"A\": x]"
        );
        assert_eq!(many.details.unwrap().causes.len(), 3);
    }

    #[test]
    fn simple_constructors() {
        let table: Vec<(ApiError, u16, &str, &str)> = vec![
            (ApiError::bad_request("nope"), 400, "BadRequest", "nope"),
            (ApiError::unauthorized(), 401, "Unauthorized", "Unauthorized"),
            (ApiError::forbidden("no"), 403, "Forbidden", "no"),
            (
                ApiError::forbidden_resource("pods", "", "User \"x\" cannot list"),
                403,
                "Forbidden",
                "pods is forbidden: User \"x\" cannot list",
            ),
            (
                ApiError::method_not_allowed("pods", "deletecollection"),
                405,
                "MethodNotAllowed",
                "deletecollection is not supported on resources of kind \"pods\"",
            ),
            (
                ApiError::unsupported_media_type(&["application/json", "application/yaml"]),
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
            ),
            (
                ApiError::gone_expired("too old resource version: 1 (200)"),
                410,
                "Expired",
                "too old resource version: 1 (200)",
            ),
            (ApiError::internal("disk full"), 500, "InternalError", "Internal error occurred: disk full"),
            (
                ApiError::too_large("limit is 3145728"),
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3145728",
            ),
            (ApiError::namespace_not_found("nonexist"), 404, "NotFound", "namespaces \"nonexist\" not found"),
            (ApiError::unknown_path(), 404, "NotFound", "the server could not find the requested resource"),
        ];
        for (e, code, reason, msg) in table {
            assert_eq!((e.code, e.reason.as_str(), e.message.as_str()), (code, reason, msg));
            assert_eq!(e.to_status()["code"], json!(code));
        }
    }

    #[test]
    fn namespace_terminating_has_cause() {
        let e = ApiError::namespace_terminating("pods", "web", "dev");
        let st = e.to_status();
        assert_eq!(st["details"]["causes"][0]["reason"], "NamespaceTerminating");
        assert_eq!(
            e.message,
            "pods \"web\" is forbidden: unable to create new content in namespace dev because it is being terminated"
        );
    }

    #[test]
    fn success_status_shape() {
        let v = success_status(&StatusDetails::for_object("configmaps", "c", "u-1"));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"c","kind":"configmaps","uid":"u-1"}}"#
        );
    }
}
