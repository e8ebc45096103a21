//! peapod-api: the Kubernetes object model as pure functions.
//!
//! Everything the API server and the node agent need to behave like
//! Kubernetes, without any I/O: apiserver-style errors and `Status` bodies,
//! the served-resource registry and discovery documents, validation and
//! defaulting of typed objects, label/field selectors, server-side `Table`
//! printing, JSON/merge/strategic-merge patches, `$(VAR)` expansion, command
//! resolution against the image config, resource quantities, strict-decoding
//! checks and manifest decoding.
//!
//! Real Kubernetes is the specification: messages, field paths and corner
//! cases follow apimachinery, the apiserver and kubectl, and the tests pin
//! them with table cases taken from (or checked against) those sources.

pub mod command;
pub mod cri_log;
pub mod defaults;
pub mod errors;
pub mod expand;
pub mod field;
pub mod metrics;
pub mod patch;
pub mod qos;
pub mod quantity;
pub mod resources;
pub mod selectors;
pub mod static_pod;
pub mod strict;
pub mod table;
pub mod validation;
pub mod yaml;

pub use errors::{ApiError, Error, StatusDetails, StatusReason};
pub use field::{FieldError, FieldErrorKind, Path};
pub use qos::qos_class;
