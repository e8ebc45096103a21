//! Layer snapshots: `snapshots/<diff_id hex>/fs`, one unpacked layer each,
//! in overlayfs lower-dir format.
//!
//! A snapshot is built in a temp directory under `tmp/` and renamed into
//! place only once fully unpacked, verified against its diff_id and synced,
//! so a path under `snapshots/` is always a complete layer. Concurrent
//! requests for the same layer are serialized by a per-layer lock and the
//! second finds the work done. Deletion renames the snapshot into `tmp/`
//! first, so a crash mid-delete never leaves a partial layer in place.

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File};
use std::io::{BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crate::content::{TempGuard, sync_dir, temp_path};
use crate::digest::Digest;
use crate::error::{ImageError, IoContext};
use crate::unpack::{UnpackLimits, unpack_layer};

/// The directory inside a snapshot that holds the layer's files.
const FS_DIR: &str = "fs";

/// Owner of `snapshots/`.
#[derive(Debug)]
pub(crate) struct Snapshotter {
    dir: PathBuf,
    tmp: PathBuf,
    limits: UnpackLimits,
    locks: Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
}

impl Snapshotter {
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf, limits: UnpackLimits) -> Self {
        Self { dir, tmp, limits, locks: Mutex::new(HashMap::new()) }
    }

    /// The caps applied when unpacking.
    pub(crate) fn limits(&self) -> &UnpackLimits {
        &self.limits
    }

    /// The unpacked layer directory (the overlay lowerdir).
    pub(crate) fn fs_path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex()).join(FS_DIR)
    }

    pub(crate) fn exists(&self, diff_id: &Digest) -> bool {
        self.fs_path(diff_id).is_dir()
    }

    /// Make sure the snapshot for `diff_id` exists, unpacking the blob that
    /// `open_blob` opens if it does not. Returns whether it unpacked.
    pub(crate) fn ensure(
        &self,
        diff_id: &Digest,
        open_blob: impl FnOnce() -> Result<File, ImageError>,
    ) -> Result<bool, ImageError> {
        self.with_layer_lock(diff_id, || {
            if self.exists(diff_id) {
                return Ok(false);
            }
            self.unpack(diff_id, open_blob()?)?;
            Ok(true)
        })
    }

    /// Like [`Snapshotter::ensure`], for a layer still arriving: unpack from
    /// `reader` while it streams, then let `before_commit` finish with it
    /// (drain it, verify and commit the blob) before the snapshot is put in
    /// place. If the snapshot already exists, only `before_commit` runs.
    /// Returns whether it unpacked.
    pub(crate) fn ensure_streaming<R: Read>(
        &self,
        diff_id: &Digest,
        reader: &mut R,
        before_commit: impl FnOnce(&mut R) -> Result<(), ImageError>,
    ) -> Result<bool, ImageError> {
        self.with_layer_lock(diff_id, || {
            if self.exists(diff_id) {
                before_commit(reader)?;
                return Ok(false);
            }
            self.unpack_from(diff_id, reader, before_commit)?;
            Ok(true)
        })
    }

    fn unpack(&self, diff_id: &Digest, blob: File) -> Result<(), ImageError> {
        self.unpack_from(diff_id, &mut BufReader::new(blob), |_| Ok(()))
    }

    fn unpack_from<R: Read>(
        &self,
        diff_id: &Digest,
        reader: &mut R,
        before_commit: impl FnOnce(&mut R) -> Result<(), ImageError>,
    ) -> Result<(), ImageError> {
        let staging = TempGuard::new(temp_path(&self.tmp, "snapshot"));
        let fs_dir = staging.path().join(FS_DIR);
        let mut builder = DirBuilder::new();
        builder.mode(0o755);
        builder.create(staging.path()).at("create directory", staging.path())?;
        builder.create(&fs_dir).at("create directory", &fs_dir)?;
        // The umask applied to mkdir; the layer root defaults to 0755 unless
        // the archive has a `./` entry.
        fs::set_permissions(&fs_dir, fs::Permissions::from_mode(0o755)).at("chmod", &fs_dir)?;

        let started = std::time::Instant::now();
        let unpacked = unpack_layer(&mut *reader, &fs_dir, &self.limits)?;
        if &unpacked.diff_id != diff_id {
            return Err(ImageError::DigestMismatch {
                expected: diff_id.to_string(),
                actual: unpacked.diff_id.to_string(),
            });
        }
        before_commit(reader)?;
        // Why syncfs before the rename: the rename makes the snapshot
        // "complete" for every later reader; without flushing the files
        // first, a crash could leave a complete-looking snapshot with empty
        // files. One syncfs is far cheaper than an fsync per file.
        let dir = File::open(staging.path()).at("open", staging.path())?;
        rustix::fs::syncfs(&dir).at("sync filesystem of", staging.path())?;

        let dest = self.dir.join(diff_id.hex());
        fs::rename(staging.path(), &dest).at("rename snapshot into place", &dest)?;
        staging.disarm();
        sync_dir(&self.dir)?;
        tracing::info!(
            %diff_id,
            bytes = unpacked.uncompressed_size,
            entries = unpacked.stats.entries,
            whiteouts = unpacked.stats.whiteouts,
            skipped_devices = unpacked.stats.skipped_devices,
            xattr_failures = unpacked.stats.xattr_failures,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "unpacked layer"
        );
        Ok(())
    }

    /// Delete a snapshot; `false` if it did not exist.
    pub(crate) fn remove(&self, diff_id: &Digest) -> Result<bool, ImageError> {
        let path = self.dir.join(diff_id.hex());
        if !path.exists() {
            return Ok(false);
        }
        // Rename first: the snapshot disappears atomically, and a crash
        // during the slow recursive delete leaves only garbage in tmp/, which
        // open() clears.
        let doomed = temp_path(&self.tmp, "deleted");
        fs::rename(&path, &doomed).at("move snapshot out of place", &path)?;
        fs::remove_dir_all(&doomed).at("remove snapshot", &doomed)?;
        Ok(true)
    }

    /// Run `f` holding the lock for `diff_id`; the lock entry is dropped
    /// again when nobody else waits for it.
    fn with_layer_lock<T>(&self, diff_id: &Digest, f: impl FnOnce() -> T) -> T {
        let lock =
            self.locks.lock().unwrap_or_else(PoisonError::into_inner).entry(diff_id.clone()).or_default().clone();
        let result = {
            let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);
            f()
        };
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map and this call hold it: no one is waiting. The count
        // cannot grow meanwhile, since clones are made under the map lock.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(diff_id);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hello", &b"world"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn snapshotter(dir: &std::path::Path) -> Snapshotter {
        let (snaps, tmp) = (dir.join("snapshots"), dir.join("tmp"));
        fs::create_dir_all(&snaps).unwrap();
        fs::create_dir_all(&tmp).unwrap();
        Snapshotter::new(snaps, tmp, UnpackLimits::default())
    }

    #[test]
    fn concurrent_requests_unpack_once() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        fs::File::create(&blob).unwrap().write_all(&layer()).unwrap();
        let diff_id = Digest::of_bytes(&layer());
        let snaps = snapshotter(dir.path());
        let opens = AtomicUsize::new(0);
        let unpacked: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        snaps
                            .ensure(&diff_id, || {
                                opens.fetch_add(1, Ordering::SeqCst);
                                File::open(&blob).at("open", &blob)
                            })
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(opens.load(Ordering::SeqCst), 1);
        assert_eq!(unpacked.iter().filter(|u| **u).count(), 1);
        assert_eq!(fs::read(snaps.fs_path(&diff_id).join("hello")).unwrap(), b"world");
        assert!(snaps.locks.lock().unwrap().is_empty(), "lock entries are dropped");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn wrong_diff_id_is_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, layer()).unwrap();
        let snaps = snapshotter(dir.path());
        let claimed = Digest::of_bytes(b"something else");
        let err = snaps.ensure(&claimed, || File::open(&blob).at("open", &blob)).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(!snaps.exists(&claimed));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(dir.path().join("snapshots")).unwrap().count(), 0);
    }

    #[test]
    fn remove_deletes_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, layer()).unwrap();
        let snaps = snapshotter(dir.path());
        let diff_id = Digest::of_bytes(&layer());
        snaps.ensure(&diff_id, || File::open(&blob).at("open", &blob)).unwrap();
        assert!(snaps.remove(&diff_id).unwrap());
        assert!(!snaps.exists(&diff_id));
        assert!(!snaps.remove(&diff_id).unwrap());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
