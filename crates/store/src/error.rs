//! Errors of the store.
//!
//! The `Display` texts of the Kubernetes-facing variants are the messages the
//! kube-apiserver puts in its `Status` (`pods "web" not found`,
//! `too old resource version: 5 (9)`, ...), so the API layer can pass them on.

use std::path::PathBuf;

use crate::ObjKey;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object under this key (HTTP 404).
    #[error("{} \"{}\" not found", key.resource, key.name)]
    NotFound {
        /// The key that was looked up.
        key: ObjKey,
    },
    /// Create of a key that already holds an object (HTTP 409).
    #[error("{} \"{}\" already exists", key.resource, key.name)]
    AlreadyExists {
        /// The key that is taken.
        key: ObjKey,
    },
    /// Optimistic-concurrency or precondition failure (HTTP 409). `message` is
    /// [`CONFLICT_MESSAGE`](crate::CONFLICT_MESSAGE) or a precondition text.
    #[error("Operation cannot be fulfilled on {} \"{}\": {message}", key.resource, key.name)]
    Conflict {
        /// The object that changed.
        key: ObjKey,
        /// Why, in Kubernetes words.
        message: String,
    },
    /// A watch asked for events that are no longer in history (HTTP 410).
    /// `oldest` is the smallest resourceVersion a watch could resume from.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// The resourceVersion the watch asked to resume after.
        requested: u64,
        /// The oldest resourceVersion that can still be resumed from.
        oldest: u64,
    },
    /// A watch asked to resume from a revision the store has not reached (the
    /// client saw another store, e.g. before the file was reset). The
    /// kube-apiserver answers this with HTTP 504 and reason `Timeout`.
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion {
        /// The resourceVersion the watch asked for.
        requested: u64,
        /// The store's current revision.
        current: u64,
    },
    /// The body is not a JSON object with a `metadata` object, or its name or
    /// namespace do not match the key (HTTP 400/422 at the API).
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// A row in the store file cannot be turned back into an object.
    #[error("stored object {key} is corrupt: {message}")]
    Corrupt {
        /// The row's key.
        key: ObjKey,
        /// What is wrong with it.
        message: String,
        /// The JSON parse error, when that is the problem.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The store file was written by a newer peapod.
    #[error("store schema version {found} is newer than the supported version {supported}")]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: u32,
        /// The newest version this build can read.
        supported: u32,
    },
    /// An SQLite call failed.
    #[error("store database operation failed")]
    Sqlite(#[from] rusqlite::Error),
    /// A file-system operation on the store's files failed.
    #[error("cannot access store path {}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An object could not be encoded as JSON.
    #[error("cannot encode object as JSON")]
    Json(#[from] serde_json::Error),
}

/// Error of [`Store::update_with`](crate::Store::update_with): either the store
/// failed, or the caller's closure aborted with its own error.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// The store refused or failed the write.
    #[error(transparent)]
    Store(StoreError),
    /// The closure returned `Err`; nothing was written.
    #[error(transparent)]
    Aborted(E),
}

impl<E> UpdateError<E> {
    /// Collapses both cases into the caller's error type, for callers whose
    /// error already wraps [`StoreError`].
    pub fn flatten(self) -> E
    where
        E: From<StoreError>,
    {
        match self {
            UpdateError::Store(e) => E::from(e),
            UpdateError::Aborted(e) => e,
        }
    }
}

impl<E> From<StoreError> for UpdateError<E> {
    fn from(e: StoreError) -> Self {
        UpdateError::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_kubernetes_messages() {
        let key = ObjKey::new("pods", "default", "web");
        let cases = [
            (StoreError::NotFound { key: key.clone() }, "pods \"web\" not found"),
            (StoreError::AlreadyExists { key: key.clone() }, "pods \"web\" already exists"),
            (
                StoreError::Conflict { key, message: crate::CONFLICT_MESSAGE.into() },
                "Operation cannot be fulfilled on pods \"web\": the object has been modified; \
                 please apply your changes to the latest version and try again",
            ),
            (StoreError::Expired { requested: 1, oldest: 200 }, "too old resource version: 1 (200)"),
            (
                StoreError::TooLargeResourceVersion { requested: 9, current: 3 },
                "Too large resource version: 9, current: 3",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }

    #[derive(Debug, thiserror::Error)]
    enum ApiError {
        #[error("store: {0}")]
        Store(#[from] StoreError),
        #[error("bad patch")]
        BadPatch,
    }

    #[test]
    fn flatten_keeps_both_sides() {
        let store: UpdateError<ApiError> = UpdateError::Store(StoreError::InvalidObject("x".into()));
        assert!(matches!(store.flatten(), ApiError::Store(StoreError::InvalidObject(_))));
        let aborted: UpdateError<ApiError> = UpdateError::Aborted(ApiError::BadPatch);
        assert!(matches!(aborted.flatten(), ApiError::BadPatch));
    }
}
