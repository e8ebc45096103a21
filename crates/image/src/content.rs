//! The content-addressed blob store: `blobs/sha256/<hex>`.
//!
//! A blob is written to a temp file under `tmp/` while it is hashed, then
//! fsynced and renamed into place, so a blob path either does not exist or
//! holds exactly the bytes its name promises, even after a crash. Writing the
//! same content twice is harmless: the rename replaces identical bytes.
//!
//! Temp files are on the same filesystem as their destination (both under the
//! store root) so the rename is atomic; `tmp/` is emptied when the store opens.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, Sha256Writer};
use crate::error::{ImageError, IoContext};

/// Largest manifest or config read into memory (registries use 4 MiB).
const MAX_DOCUMENT_SIZE: u64 = 4 << 20;

/// A unique name under `tmp/` for this process.
pub(crate) fn temp_path(tmp_dir: &Path, kind: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    tmp_dir.join(format!("{kind}-{}-{n}", std::process::id()))
}

/// fsync a directory so a rename or unlink in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ImageError> {
    File::open(dir).and_then(|d| d.sync_all()).at("sync directory", dir)
}

/// Removes a temp file or directory when dropped, unless disarmed.
pub(crate) struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().expect("guard is armed while in use")
    }

    /// Keep the path: it was renamed away or is owned elsewhere now.
    pub(crate) fn disarm(mut self) -> PathBuf {
        self.path.take().expect("guard is armed while in use")
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let result = match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
                Ok(_) => fs::remove_file(&path),
                Err(_) => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove temp file");
            }
        }
    }
}

/// `blobs/sha256/` plus the temp dir its writes go through.
#[derive(Debug)]
pub(crate) struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    pub(crate) fn new(blobs: PathBuf, tmp: PathBuf) -> Self {
        Self { blobs, tmp }
    }

    pub(crate) fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub(crate) fn open(&self, digest: &Digest) -> Result<File, ImageError> {
        let path = self.path(digest);
        File::open(&path).at("open blob", &path)
    }

    /// Read a small blob (manifest, config) and check its digest.
    pub(crate) fn read(&self, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let path = self.path(digest);
        let mut bytes = Vec::new();
        self.open(digest)?.take(MAX_DOCUMENT_SIZE + 1).read_to_end(&mut bytes).at("read blob", &path)?;
        if bytes.len() as u64 > MAX_DOCUMENT_SIZE {
            return Err(ImageError::CorruptImage {
                image: digest.to_string(),
                reason: format!("document larger than {MAX_DOCUMENT_SIZE} bytes"),
            });
        }
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            return Err(ImageError::DigestMismatch { expected: digest.to_string(), actual: actual.to_string() });
        }
        Ok(bytes)
    }

    /// Start writing a blob whose digest is computed as it is written.
    pub(crate) fn writer(&self) -> Result<BlobWriter<'_>, ImageError> {
        let guard = TempGuard::new(temp_path(&self.tmp, "blob"));
        let file =
            File::options().write(true).create_new(true).open(guard.path()).at("create temp blob", guard.path())?;
        Ok(BlobWriter { store: self, inner: Sha256Writer::new(BufWriter::with_capacity(128 << 10, file)), guard })
    }

    /// Store `bytes` and return their digest.
    pub(crate) fn write_bytes(&self, bytes: &[u8]) -> Result<Digest, ImageError> {
        let mut w = self.writer()?;
        w.write_all(bytes).at("write temp blob", w.guard.path())?;
        let staged = w.finish()?;
        let digest = staged.digest.clone();
        staged.commit()?;
        Ok(digest)
    }

    /// Delete a blob; `false` if it was not there.
    pub(crate) fn delete(&self, digest: &Digest) -> Result<bool, ImageError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).at("remove blob", &path),
        }
    }
}

/// A blob being written: hashes while writing to its temp file. Dropping it
/// without [`BlobWriter::finish`] deletes the temp file.
pub(crate) struct BlobWriter<'a> {
    store: &'a ContentStore,
    inner: Sha256Writer<BufWriter<File>>,
    guard: TempGuard,
}

impl<'a> BlobWriter<'a> {
    /// The temp file being written.
    pub(crate) fn path(&self) -> &Path {
        self.guard.path()
    }

    /// Flush and fsync; the blob is complete but not yet visible.
    pub(crate) fn finish(self) -> Result<StagedBlob<'a>, ImageError> {
        let (buf, digest, size) = self.inner.finish();
        let path = self.guard.path();
        let file = buf.into_inner().map_err(io::IntoInnerError::into_error).at("write temp blob", path)?;
        // Why fsync before the rename: otherwise a crash can leave the final
        // name pointing at an empty or partial file, which would then be
        // trusted as verified content.
        file.sync_all().at("sync temp blob", path)?;
        Ok(StagedBlob { store: self.store, digest, size, guard: self.guard })
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A fully written, fsynced blob in `tmp/`, not yet in `blobs/`. Dropping it
/// deletes the temp file.
pub(crate) struct StagedBlob<'a> {
    store: &'a ContentStore,
    /// Digest of the bytes written.
    pub(crate) digest: Digest,
    /// Bytes written.
    pub(crate) size: u64,
    guard: TempGuard,
}

impl StagedBlob<'_> {
    /// Re-read the staged bytes (e.g. to unpack a layer before committing).
    pub(crate) fn open(&self) -> Result<File, ImageError> {
        File::open(self.guard.path()).at("open temp blob", self.guard.path())
    }

    /// Fail unless the content has the `expected` digest.
    #[allow(dead_code)] // Used by registry pulls, which announce digests up front.
    pub(crate) fn verify(&self, expected: &Digest) -> Result<(), ImageError> {
        if &self.digest == expected {
            Ok(())
        } else {
            Err(ImageError::DigestMismatch { expected: expected.to_string(), actual: self.digest.to_string() })
        }
    }

    /// Move the blob to `blobs/sha256/<hex>`.
    pub(crate) fn commit(self) -> Result<(), ImageError> {
        let dest = self.store.path(&self.digest);
        let tmp = self.guard.disarm();
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_file(&tmp);
            return Err(e).at("rename blob into place", &dest);
        }
        sync_dir(&self.store.blobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> ContentStore {
        let (blobs, tmp) = (dir.join("blobs"), dir.join("tmp"));
        fs::create_dir_all(&blobs).unwrap();
        fs::create_dir_all(&tmp).unwrap();
        ContentStore::new(blobs, tmp)
    }

    #[test]
    fn write_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let cs = store(dir.path());
        let d = cs.write_bytes(b"hello").unwrap();
        assert_eq!(d, Digest::of_bytes(b"hello"));
        assert_eq!(cs.read(&d).unwrap(), b"hello");
        assert!(cs.delete(&d).unwrap());
        assert!(!cs.delete(&d).unwrap());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cs = store(dir.path());
        let mut w = cs.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        let staged = {
            let mut w = cs.writer().unwrap();
            w.write_all(b"staged").unwrap();
            w.finish().unwrap()
        };
        assert!(staged.verify(&Digest::of_bytes(b"other")).is_err());
        drop(staged);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.path().join("blobs")).unwrap().count(), 0);
    }

    #[test]
    fn corrupted_blob_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let cs = store(dir.path());
        let d = cs.write_bytes(b"{}").unwrap();
        fs::write(cs.path(&d), b"{ }").unwrap();
        assert!(matches!(cs.read(&d), Err(ImageError::DigestMismatch { .. })));
    }
}
