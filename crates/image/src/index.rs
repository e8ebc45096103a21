//! `index.json`: which manifests the store holds, under which references.
//!
//! One descriptor per reference; its `org.opencontainers.image.ref.name`
//! annotation is the full normalized reference
//! (`docker.io/library/busybox:latest`), and several references may point at
//! one manifest. The file is replaced atomically (temp file, fsync, rename,
//! fsync of the directory) and only under the store's state lock, so readers
//! always see a whole index and writers never lose each other's updates.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::content::{TempGuard, sync_dir, temp_path};
use crate::digest::Digest;
use crate::error::{ImageError, IoContext};
use crate::oci::{ANNOTATION_REF_NAME, Descriptor, Index};

/// Read the index; a missing file is an empty index.
pub(crate) fn load(path: &Path) -> Result<Index, ImageError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Index::default()),
        Err(e) => return Err(e).at("read image index", path),
    };
    serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
        what: "image index",
        location: path.display().to_string(),
        source,
    })
}

/// Replace the index file atomically.
pub(crate) fn save(path: &Path, tmp_dir: &Path, index: &Index) -> Result<(), ImageError> {
    let bytes = serde_json::to_vec_pretty(index).map_err(|source| ImageError::Json {
        what: "image index",
        location: path.display().to_string(),
        source,
    })?;
    let tmp = TempGuard::new(temp_path(tmp_dir, "index"));
    let mut file = File::create(tmp.path()).at("create", tmp.path())?;
    file.write_all(&bytes).at("write", tmp.path())?;
    // Why fsync before rename: a crash must leave the old index or the new
    // one, never an empty file under the real name.
    file.sync_all().at("sync", tmp.path())?;
    fs::rename(tmp.path(), path).at("replace image index", path)?;
    tmp.disarm();
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

impl Index {
    /// Point `reference` at `manifest`, returning the manifest it pointed at
    /// before (if any).
    pub(crate) fn set_ref(&mut self, reference: &str, mut manifest: Descriptor) -> Option<Digest> {
        manifest.annotations.insert(ANNOTATION_REF_NAME.to_string(), reference.to_string());
        match self.manifests.iter_mut().find(|d| d.ref_name() == Some(reference)) {
            Some(existing) => {
                let old = existing.digest.clone();
                *existing = manifest;
                Some(old)
            }
            None => {
                self.manifests.push(manifest);
                None
            }
        }
    }

    /// Remove the entry for `reference`, returning the manifest it named.
    pub(crate) fn remove_ref(&mut self, reference: &str) -> Option<Digest> {
        let pos = self.manifests.iter().position(|d| d.ref_name() == Some(reference))?;
        Some(self.manifests.remove(pos).digest)
    }

    /// The digest `reference` points at.
    pub(crate) fn lookup(&self, reference: &str) -> Option<&Digest> {
        self.manifests.iter().find(|d| d.ref_name() == Some(reference)).map(|d| &d.digest)
    }

    /// References pointing at `manifest`, sorted.
    pub(crate) fn refs_of(&self, manifest: &Digest) -> Vec<String> {
        let mut refs: Vec<String> = self
            .manifests
            .iter()
            .filter(|d| &d.digest == manifest)
            .filter_map(|d| d.ref_name().map(str::to_string))
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// Whether any entry still points at `manifest`.
    pub(crate) fn contains(&self, manifest: &Digest) -> bool {
        self.manifests.iter().any(|d| &d.digest == manifest)
    }

    /// Distinct manifest digests in index order.
    pub(crate) fn manifest_digests(&self) -> Vec<Digest> {
        let mut seen = std::collections::HashSet::new();
        self.manifests.iter().filter(|d| seen.insert(d.digest.clone())).map(|d| d.digest.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::MEDIA_TYPE_MANIFEST;

    fn desc(content: &[u8]) -> Descriptor {
        Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.into(),
            digest: Digest::of_bytes(content),
            size: content.len() as u64,
            annotations: Default::default(),
        }
    }

    #[test]
    fn set_move_remove_refs() {
        let mut idx = Index::default();
        assert_eq!(idx.set_ref("r/a:1", desc(b"m1")), None);
        assert_eq!(idx.set_ref("r/b:1", desc(b"m1")), None);
        assert_eq!(idx.refs_of(&Digest::of_bytes(b"m1")), ["r/a:1", "r/b:1"]);
        assert_eq!(idx.manifest_digests().len(), 1);
        // Moving a tag returns the old target and keeps one entry per ref.
        assert_eq!(idx.set_ref("r/a:1", desc(b"m2")), Some(Digest::of_bytes(b"m1")));
        assert_eq!(idx.manifests.len(), 2);
        assert_eq!(idx.lookup("r/a:1"), Some(&Digest::of_bytes(b"m2")));
        assert_eq!(idx.remove_ref("r/b:1"), Some(Digest::of_bytes(b"m1")));
        assert!(!idx.contains(&Digest::of_bytes(b"m1")));
        assert_eq!(idx.remove_ref("r/b:1"), None);
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        assert_eq!(load(&path).unwrap(), Index::default());
        let mut idx = Index::default();
        idx.set_ref("docker.io/library/busybox:latest", desc(b"m"));
        save(&path, dir.path(), &idx).unwrap();
        assert_eq!(load(&path).unwrap(), idx);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"org.opencontainers.image.ref.name\": \"docker.io/library/busybox:latest\""));
        assert!(text.contains("\"mediaType\": \"application/vnd.oci.image.index.v1+json\""));
        // Only index.json is left: the temp file was renamed.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
