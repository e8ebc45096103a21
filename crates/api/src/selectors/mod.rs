//! Label and field selectors for list and watch requests.
//!
//! `label` parses and matches `?labelSelector=` (and structured
//! `LabelSelector`s); `field` parses `?fieldSelector=` and knows which
//! fields each resource exposes. Both report errors with apimachinery's
//! wording; the server answers them with 400 BadRequest.

mod field;
mod label;

pub use field::{FieldOperator, FieldSelector, FieldTerm, selectable_fields, supported_fields};
pub use label::{LabelSelector, Operator, Requirement};

/// A selector that cannot be parsed or is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Malformed selector; the message is apimachinery's.
    #[error("{0}")]
    Invalid(String),
    /// A field selector on a field the resource does not expose.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}
