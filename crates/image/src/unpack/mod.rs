//! Safe layer unpacking into an overlayfs lower directory.
//!
//! The `tar` crate only *parses* the archive; every write is our own,
//! relative to a directory fd for the destination, through the confined
//! primitives in `fsops` (`openat2` with `RESOLVE_IN_ROOT`, then `*at`
//! calls on single names). That is what makes hostile archives harmless:
//!
//! * `..` components are refused outright; a leading `/` is dropped
//!   (`/etc/passwd` is the layer's `etc/passwd`);
//! * a symlink planted by an earlier entry (`evil -> /tmp/outside`) is
//!   resolved inside the layer when a later entry (`evil/pwned`) goes through
//!   it, and a dangling one is refused rather than followed;
//! * hard link targets are resolved inside the layer too, so a link to
//!   `/etc/passwd` can only reach the layer's own copy;
//! * device nodes are refused (skipped and counted), except the 0:0
//!   character device that *is* an overlay whiteout;
//! * total uncompressed bytes and entry count are capped ([`UnpackLimits`]).
//!
//! The result is in overlayfs lower-dir format: an OCI whiteout `.wh.<name>`
//! becomes a 0:0 character device `<name>`, and `.wh..wh..opq` sets
//! `trusted.overlay.opaque=y` on its directory. Owners, modes, PAX
//! `SCHILY.xattr.*` extended attributes (except `trusted.overlay.*`, which
//! only the converter may set) and mtimes are applied as archived; directory
//! mtimes are set last, after their contents stopped changing them.
//!
//! While unpacking, the uncompressed stream is hashed: its digest is the
//! layer's `diff_id`, which the caller checks against the image config.
//!
//! This module writes into an existing directory and leaves it half-filled on
//! error; the snapshotter unpacks into a temp directory and renames it into
//! place only on success.

mod entry;
mod fsops;

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use crate::compression::Compression;
use crate::digest::{Digest, Sha256Reader};
use crate::error::ImageError;

use self::entry::Unpacker;
use self::fsops::Root;

const BLOCK: u64 = 512;

/// Caps that stop decompression bombs. The defaults are far above any real
/// image layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Maximum uncompressed tar stream size in bytes.
    pub max_bytes: u64,
    /// Maximum number of archive entries.
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self { max_bytes: 64 << 30, max_entries: 4_000_000 }
    }
}

/// Counts of what an unpack did besides writing regular entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Archive entries processed.
    pub entries: u64,
    /// Whiteouts turned into 0:0 character devices.
    pub whiteouts: u64,
    /// Directories marked opaque.
    pub opaque_dirs: u64,
    /// Device nodes refused.
    pub skipped_devices: u64,
    /// Entries of other unsupported kinds skipped (aufs metadata, PAX
    /// global headers, unknown types).
    pub skipped_other: u64,
    /// Extended attributes the filesystem refused.
    pub xattr_failures: u64,
}

/// The result of [`unpack_layer`].
#[derive(Clone, Debug)]
pub struct Unpacked {
    /// Digest of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream.
    pub uncompressed_size: u64,
    /// How the blob was compressed.
    pub compression: Compression,
    /// What was done.
    pub stats: UnpackStats,
}

/// Unpack the layer blob `blob` (plain, gzip or zstd tar) into the existing
/// directory `dest`, in overlay lower-dir format.
pub fn unpack_layer(blob: impl Read, dest: &Path, limits: &UnpackLimits) -> Result<Unpacked, ImageError> {
    let (compression, blob) = Compression::sniff(blob)?;
    let exceeded = Rc::new(Cell::new(false));
    let metered = Metered {
        inner: Sha256Reader::new(compression.decoder(blob)?),
        limit: limits.max_bytes,
        exceeded: exceeded.clone(),
        nonzero_end: 0,
    };
    let mut archive = tar::Archive::new(metered);
    let mut unpacker = Unpacker::new(Root::open(dest)?, limits, exceeded.clone());
    unpacker.run(&mut archive)?;
    let stats = unpacker.finish()?;

    let mut metered = archive.into_inner();
    let end = metered.inner.bytes_read();
    let ended_on_zero_block = end >= BLOCK && end - metered.nonzero_end >= BLOCK;
    // Hash whatever follows the end-of-archive marker (the second zero block,
    // record padding): the diff_id covers the whole stream. Reading to the
    // end also makes gzip/zstd check their trailers.
    let trailing = io::copy(&mut metered, &mut io::sink())
        .map_err(|e| stream_error(&exceeded, limits, "reading the end of the archive", e))?;
    // The tar crate treats EOF at a header boundary as a clean end. A real
    // archive ends with zero blocks, so for a plain tar an end without one
    // means the stream was cut short (a truncation inside an entry fails
    // earlier; a cut right after a file whose last 512 bytes are zeros
    // cannot be told apart). A compressed stream has its own end marker,
    // which the decoder has just checked, so there the footer may be
    // missing: umoci writes layers without it, and Go's archive/tar (hence
    // containerd and podman) accepts them.
    if trailing == 0 && !ended_on_zero_block && compression == Compression::None {
        return Err(ImageError::InvalidArchive {
            reason: if end == 0 { "empty stream".into() } else { "truncated: no end-of-archive marker".into() },
            source: None,
        });
    }
    let (_, diff_id, uncompressed_size) = metered.inner.finish();
    Ok(Unpacked { diff_id, uncompressed_size, compression, stats })
}

/// Map a read error of the uncompressed stream: over the cap, or a broken
/// archive.
fn stream_error(exceeded: &Cell<bool>, limits: &UnpackLimits, doing: &str, e: io::Error) -> ImageError {
    if exceeded.get() {
        ImageError::LimitExceeded { what: "uncompressed bytes", limit: limits.max_bytes }
    } else {
        ImageError::InvalidArchive { reason: doing.to_string(), source: Some(e) }
    }
}

/// The uncompressed stream: hashed, capped, and watched for the trailing
/// zero block.
struct Metered<R> {
    inner: Sha256Reader<R>,
    limit: u64,
    exceeded: Rc<Cell<bool>>,
    /// Stream offset just past the last non-zero byte read.
    nonzero_end: u64,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let before = self.inner.bytes_read();
        let n = self.inner.read(buf)?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            self.nonzero_end = before + i as u64 + 1;
        }
        if self.inner.bytes_read() > self.limit {
            self.exceeded.set(true);
            return Err(io::Error::other("uncompressed size limit exceeded"));
        }
        Ok(n)
    }
}
