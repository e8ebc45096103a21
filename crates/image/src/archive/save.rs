//! Writing images as a docker-archive or oci-archive tarball.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use serde_json::json;

use super::{ANNOTATION_IMAGE_NAME, ArchiveFormat};
use crate::digest::Digest;
use crate::error::{ImageError, IoContext};
use crate::oci::{ANNOTATION_REF_NAME, Descriptor, Index, OCI_LAYOUT};
use crate::reference::Reference;
use crate::store::{ImageStore, LoadedImage, Matched};

/// Entry mtime: fixed, so saving the same images twice gives the same bytes.
const MTIME: u64 = 0;

/// One image to write, with the names it is saved under.
struct Selected {
    manifest: Descriptor,
    image: LoadedImage,
    /// Full normalized references.
    names: Vec<Reference>,
}

impl ImageStore {
    /// Write the images `names` (references or ids) to `out` as a tarball
    /// in `format`. An image named by reference is saved under that name;
    /// one named by id under all its references. Shared blobs are written
    /// once. [`ImageError::NotFound`] before anything is written if a name
    /// matches nothing.
    pub fn save(&self, names: &[String], format: ArchiveFormat, out: impl Write) -> Result<(), ImageError> {
        let selected = self.select(names)?;
        // Protect everything being written from a concurrent removal.
        let inner = &self.inner;
        let _lease = inner.lease(selected.iter().flat_map(|s| {
            [s.manifest.digest.clone(), s.image.manifest.config.digest.clone()]
                .into_iter()
                .chain(s.image.manifest.layers.iter().map(|l| l.digest.clone()))
        }));

        let mut tar = tar::Builder::new(out);
        let mut written = HashSet::new();
        dir(&mut tar, "blobs/")?;
        dir(&mut tar, "blobs/sha256/")?;
        for s in &selected {
            let blobs = std::iter::once(&s.manifest.digest)
                .chain(std::iter::once(&s.image.manifest.config.digest))
                .chain(s.image.manifest.layers.iter().map(|l| &l.digest));
            for digest in blobs {
                if written.insert(digest.clone()) {
                    self.write_blob(&mut tar, digest)?;
                }
            }
        }
        file(&mut tar, "oci-layout", OCI_LAYOUT.as_bytes())?;
        file(&mut tar, "index.json", &to_json(&oci_index(&selected))?)?;
        if format == ArchiveFormat::DockerArchive {
            let (manifest_json, repositories) = docker_manifest(&selected);
            file(&mut tar, "manifest.json", &to_json(&manifest_json)?)?;
            file(&mut tar, "repositories", &to_json(&repositories)?)?;
        }
        tar.into_inner().and_then(|mut w| w.flush()).map_err(|e| ImageError::Io {
            op: "write archive",
            path: "(output)".into(),
            source: e,
        })?;
        Ok(())
    }

    fn select(&self, names: &[String]) -> Result<Vec<Selected>, ImageError> {
        let inner = &self.inner;
        let _state = inner.state();
        let index = inner.load_index()?;
        let mut selected: Vec<Selected> = Vec::new();
        for name in names {
            let resolved = inner.resolve(&index, name)?.ok_or_else(|| ImageError::NotFound(name.clone()))?;
            let digest = resolved.manifests[0].clone();
            let refs: Vec<Reference> = match &resolved.matched {
                Matched::Reference(r) => vec![r.clone()],
                Matched::Id => index.refs_of(&digest).iter().filter_map(|r| Reference::parse(r).ok()).collect(),
            };
            if let Some(existing) = selected.iter_mut().find(|s| s.manifest.digest == digest) {
                for r in refs {
                    if !existing.names.contains(&r) {
                        existing.names.push(r);
                    }
                }
                continue;
            }
            let mut manifest = index
                .manifests
                .iter()
                .find(|d| d.digest == digest)
                .cloned()
                .expect("resolve only returns manifests listed in the index");
            manifest.annotations.clear();
            selected.push(Selected { manifest, image: inner.load_image(&digest)?, names: refs });
        }
        Ok(selected)
    }

    fn write_blob<W: Write>(&self, tar: &mut tar::Builder<W>, digest: &Digest) -> Result<(), ImageError> {
        let content = &self.inner.content;
        let path = content.path(digest);
        let file = content.open(digest)?;
        let size = file.metadata().at("stat", &path)?.len();
        let mut h = header(tar::EntryType::Regular, size, 0o644);
        // Blobs are trusted as stored (verified on write); the reader of
        // the archive verifies them again.
        tar.append_data(&mut h, format!("blobs/sha256/{}", digest.hex()), std::io::BufReader::new(file))
            .at("write archive entry for", &path)
    }
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<(), ImageError> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    tar.append_data(&mut h, path, std::io::empty()).at("write archive entry", path)
}

fn file<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> Result<(), ImageError> {
    let mut h = header(tar::EntryType::Regular, bytes.len() as u64, 0o644);
    tar.append_data(&mut h, path, bytes).at("write archive entry", path)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(v).map_err(|source| ImageError::Json { what: "archive index", location: "new".into(), source })
}

/// `index.json`: one entry per (image, name); an unnamed image once.
fn oci_index(selected: &[Selected]) -> Index {
    let mut index = Index::default();
    for s in selected {
        if s.names.is_empty() {
            index.manifests.push(s.manifest.clone());
        }
        for name in &s.names {
            let mut d = s.manifest.clone();
            d.annotations.insert(ANNOTATION_IMAGE_NAME.to_string(), name.to_string());
            // skopeo's `oci-archive:FILE:NAME` matches this annotation;
            // like containerd and Docker, it holds the tag.
            let short = name.tag.clone().or_else(|| name.digest.clone()).unwrap_or_default();
            d.annotations.insert(ANNOTATION_REF_NAME.to_string(), short);
            index.manifests.push(d);
        }
    }
    index
}

/// `manifest.json` and `repositories` of a docker-archive.
fn docker_manifest(selected: &[Selected]) -> (serde_json::Value, BTreeMap<String, BTreeMap<String, String>>) {
    let mut entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in selected {
        let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        // Docker's RepoTags are tags only: `name:tag`, never digests.
        let tagged: Vec<Reference> =
            s.names.iter().filter(|n| n.tag.is_some()).map(|n| Reference { digest: None, ..n.clone() }).collect();
        let tags: Vec<String> = tagged.iter().map(Reference::familiar).collect();
        let top = s.image.manifest.layers.last().map(|l| l.digest.hex().to_string()).unwrap_or_default();
        for name in &tagged {
            let repo = Reference { tag: None, ..name.clone() }.familiar();
            repositories.entry(repo).or_default().insert(name.tag.clone().unwrap_or_default(), top.clone());
        }
        entries.push(json!({
            "Config": blob(&s.image.manifest.config.digest),
            "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { json!(tags) },
            "Layers": s.image.manifest.layers.iter().map(|l| blob(&l.digest)).collect::<Vec<_>>(),
        }));
    }
    (serde_json::Value::Array(entries), repositories)
}
