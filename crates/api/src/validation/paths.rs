//! Relative-path rules for subPaths, projected file paths and profiles:
//! no absolute paths and no `..` elements, so a path cannot leave its root.

use crate::field::{FieldError, Path};

/// `path` must not be absolute and must not contain a `..` element.
pub(super) fn validate_local_descending_path(p: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    errs.extend(validate_path_no_backsteps(p, path));
    errs
}

/// No `..` element anywhere in the path.
pub(super) fn validate_path_no_backsteps(p: &str, path: &Path) -> Vec<FieldError> {
    if p.split('/').any(|e| e == "..") { vec![FieldError::invalid(path, p, "must not contain '..'")] } else { vec![] }
}

/// `path` must be relative, without `..` elements, and not start with `..`.
pub(super) fn validate_local_non_reserved_path(p: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = validate_local_descending_path(p, path);
    if p.starts_with("..") && !p.starts_with("../") {
        errs.push(FieldError::invalid(path, p, "must not start with '..'"));
    }
    errs
}
