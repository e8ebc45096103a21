//! The crate's one error type.
//!
//! Each variant's `Display` is this layer's message only; the underlying
//! cause (an `io::Error`, a JSON error) is in `source()`. I/O failures carry
//! the path they happened on, so a log line names the file without the caller
//! adding context.

use std::io;
use std::path::{Path, PathBuf};

use crate::reference::ReferenceErrorKind;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An image name that is not a valid Docker reference. The message matches
    /// kubelet's (`couldn't parse image name "X": invalid reference format`),
    /// which kubelet reports as `InvalidImageName`.
    #[error("couldn't parse image name {name:?}: {reason}")]
    InvalidReference {
        /// The name as given.
        name: String,
        /// Which rule it broke.
        reason: ReferenceErrorKind,
    },

    /// `import` was given a digest reference; an import creates a new image,
    /// so it can only be named by tag.
    #[error("cannot import as {0:?}: an imported image is named by tag, not by digest")]
    DigestReference(String),

    /// A string that should be `sha256:<64 lowercase hex>` is not.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),

    /// A `--change` instruction that could not be applied.
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange {
        /// The instruction as given.
        change: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No image matches the name or id.
    #[error("No such image: {0}")]
    NotFound(String),

    /// An id prefix matched more than one image.
    #[error("image id prefix {prefix:?} is ambiguous: it matches {count} images")]
    AmbiguousId {
        /// The prefix as given.
        prefix: String,
        /// How many images it matched.
        count: usize,
    },

    /// Removal by id of an image tagged in several repositories (Docker's
    /// wording; a forced remove is a later addition).
    #[error("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")]
    Conflict {
        /// The image id.
        id: String,
    },

    /// A filesystem operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done ("open", "rename", "create directory", ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Content did not hash to the digest it was stored or announced under.
    #[error("content verification failed: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the content should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },

    /// A stored JSON document (index, manifest, config) could not be read or
    /// written.
    #[error("invalid {what} {location}")]
    Json {
        /// "image index", "manifest", "image config".
        what: &'static str,
        /// Digest or path of the document.
        location: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// An image whose stored documents contradict each other or are missing.
    #[error("image {image} is corrupt: {reason}")]
    CorruptImage {
        /// Image id or manifest digest.
        image: String,
        /// What is inconsistent.
        reason: String,
    },

    /// A layer tar stream that is not a valid archive (bad header, truncated,
    /// failing decompression).
    #[error("invalid layer archive: {reason}")]
    InvalidArchive {
        /// What is wrong, including the entry path where known.
        reason: String,
        /// The reader's error, if it came from one.
        #[source]
        source: Option<io::Error>,
    },

    /// A layer entry that tries to leave the layer directory, or that cannot
    /// be placed without doing so.
    #[error("unsafe layer entry {path:?}: {reason}")]
    UnsafeEntry {
        /// The entry's path as written in the archive.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A layer that exceeds the configured unpack caps (decompression bombs).
    #[error("layer exceeds the unpack limit of {limit} {what}")]
    LimitExceeded {
        /// "uncompressed bytes" or "entries".
        what: &'static str,
        /// The configured limit.
        limit: u64,
    },

    /// A layer compressed with something other than gzip or zstd.
    #[error("unsupported layer compression {0}: only plain, gzip and zstd tar are supported")]
    UnsupportedCompression(&'static str),

    /// A path that cannot appear in overlay mount options.
    #[error("path {0} contains ':' or ',' and cannot be used in overlay mount options")]
    UnsafeMountPath(PathBuf),
}

/// Attach an operation name and a path to an I/O result.
pub(crate) trait IoContext<T> {
    /// Turn an `io::Error` into [`ImageError::Io`] naming `op` and `path`.
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, ImageError>;
}

impl<T, E: Into<io::Error>> IoContext<T> for Result<T, E> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, ImageError> {
        self.map_err(|source| ImageError::Io { op, path: path.as_ref().to_path_buf(), source: source.into() })
    }
}
