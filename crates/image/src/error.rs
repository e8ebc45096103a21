//! The crate's one error type.
//!
//! Each variant's `Display` is this layer's message only; the underlying
//! cause (an `io::Error`, a JSON error) is in `source()`. I/O failures carry
//! the path they happened on, so a log line names the file without the caller
//! adding context.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    /// A registry request could not be made or its body not read
    /// (connection refused, TLS failure, reset, timeout).
    #[error("request to {url} failed")]
    Transport {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },

    /// The registry wants credentials, or refused the ones given.
    #[error("pull access denied for {name}: {detail}")]
    Unauthorized {
        /// `host/repository` of the endpoint.
        name: String,
        /// What was missing or refused, with the registry's message.
        detail: String,
    },

    /// The registry has no such manifest or blob.
    #[error("{url}: not found: {detail}")]
    RegistryNotFound {
        /// The URL requested.
        url: String,
        /// The registry's message.
        detail: String,
    },

    /// Any other error status from a registry.
    #[error("{url}: unexpected status {status}: {detail}")]
    RegistryStatus {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's message.
        detail: String,
    },

    /// A document or blob whose media type this store cannot use.
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),

    /// An index without a manifest for our platform.
    #[error("no image for platform {wanted} in the manifest list (it has: {available})")]
    NoMatchingPlatform {
        /// The platform we run on.
        wanted: String,
        /// The platforms the index lists.
        available: String,
    },

    /// A document larger than we read into memory.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// "manifest", "image config".
        what: &'static str,
        /// The limit.
        limit: u64,
    },

    /// A blob whose length is not the one its descriptor announced.
    #[error("blob {digest} has {actual} bytes, but its descriptor says {expected}")]
    SizeMismatch {
        /// The blob's digest.
        digest: String,
        /// The descriptor's size.
        expected: u64,
        /// Bytes received (at least; counting stops past the expected size).
        actual: u64,
    },

    /// Credentials that cannot be decoded (a `.dockerconfigjson`, `--creds`).
    #[error("invalid registry credentials: {0}")]
    InvalidCredentials(String),

    /// A registries configuration file that cannot be used.
    #[error("invalid registries config {path}: {reason}")]
    InvalidRegistriesConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The registries configuration blocks this image.
    #[error("pulling {0} is blocked by the registries configuration")]
    Blocked(String),

    /// A pull failed; the cause is the source.
    #[error("failed to pull and unpack image {reference:?}")]
    Pull {
        /// The reference as given.
        reference: String,
        /// Why.
        #[source]
        source: Box<ImageError>,
    },

    /// An error shared by every waiter of a deduplicated operation (a pull
    /// several callers asked for at once).
    #[error(transparent)]
    Shared(Arc<ImageError>),

    /// A background task of this crate died (a bug; the message says where).
    #[error("internal error: {0}")]
    TaskFailed(String),

    /// An `image load` archive that is neither a docker-archive nor an
    /// OCI archive, or is incomplete.
    #[error("invalid image archive: {0}")]
    InvalidImageArchive(String),

    /// A path that cannot appear in overlay mount options.
    #[error("path {0} contains ':' or ',' and cannot be used in overlay mount options")]
    UnsafeMountPath(PathBuf),
}

impl ImageError {
    /// This error and its causes on one line, `: `-separated (for events
    /// and API messages, where there is no room for a chain).
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            let text = e.to_string();
            // Transparent wrappers repeat their inner message.
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cur = e.source();
        }
        out
    }
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
