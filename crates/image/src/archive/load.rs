//! Reading a docker-archive or oci-archive tarball into the store.

use std::collections::HashMap;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use super::ANNOTATION_IMAGE_NAME;
use crate::compression::Compression;
use crate::content::StagedBlob;
use crate::digest::Digest;
use crate::error::{ImageError, IoContext};
use crate::image::ImageInfo;
use crate::oci::{ConfigFile, Descriptor, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST, Manifest};
use crate::reference::Reference;
use crate::registry::media::{IndexDocument, ManifestKind, Platform, classify};
use crate::store::{ImageStore, Inner};

/// Largest JSON member read into memory (manifest.json, index.json,
/// configs, manifests).
const MAX_DOCUMENT: u64 = 16 << 20;
/// Symlinks followed when resolving a member.
const MAX_LINK_HOPS: usize = 8;

/// What [`ImageStore::load`] loaded.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// The images, in archive order.
    pub images: Vec<ImageInfo>,
    /// `Loaded image: X` subjects: full references, or the id of an image
    /// the archive does not name.
    pub loaded: Vec<String>,
}

/// The archive's members: each regular file spooled into a temp blob.
struct Members<'a> {
    files: HashMap<String, StagedBlob<'a>>,
    /// Members already moved into the store: path → (digest, size).
    committed: HashMap<String, (Digest, u64)>,
    /// Symlinks and hard links: member path → target member path.
    links: HashMap<String, String>,
}

/// One image found in the archive, before it is committed.
struct Candidate {
    /// The original manifest (OCI archives); docker-archives have none.
    manifest: Option<(Vec<u8>, String)>,
    config_member: String,
    layer_members: Vec<String>,
    names: Vec<Reference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl ImageStore {
    /// `image load`: read a docker-archive or oci-archive tarball (plain,
    /// gzip or zstd) from `reader` and store every image in it under the
    /// names it carries. Nothing is referenced until all of an image's
    /// blobs are verified and its layers unpacked.
    pub fn load(&self, reader: impl Read) -> Result<LoadReport, ImageError> {
        let inner = &self.inner;
        let (compression, sniffed) = Compression::sniff(reader)?;
        let mut archive = tar::Archive::new(compression.decoder(sniffed)?);
        let mut members = Members { files: HashMap::new(), committed: HashMap::new(), links: HashMap::new() };
        let entries = archive.entries().map_err(|e| invalid_tar("reading the archive", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| invalid_tar("reading the archive", e))?;
            let path = normalize(&String::from_utf8_lossy(&entry.path_bytes()));
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut w = inner.content.writer()?;
                    io::copy(&mut entry, &mut w).map_err(|e| invalid_tar(&format!("reading member {path}"), e))?;
                    let staged = w.finish()?;
                    if let Some(hex) = path.strip_prefix("blobs/sha256/")
                        && staged.digest.hex() != hex
                    {
                        return Err(ImageError::DigestMismatch {
                            expected: format!("sha256:{hex}"),
                            actual: staged.digest.to_string(),
                        });
                    }
                    members.files.insert(path, staged);
                }
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                    let Some(target) = target else { continue };
                    // A hard link names a member; a symlink is relative to
                    // its own directory.
                    let resolved = if kind == tar::EntryType::Link || target.starts_with('/') {
                        normalize(&target)
                    } else {
                        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                        normalize(&format!("{dir}/{target}"))
                    };
                    members.links.insert(path, resolved);
                }
                _ => {}
            }
        }

        let candidates = if members.get("index.json").is_some() {
            oci_candidates(&members)?
        } else if members.get("manifest.json").is_some() {
            docker_candidates(&members)?
        } else {
            return Err(ImageError::InvalidImageArchive(
                "neither manifest.json (docker-archive) nor index.json (oci-archive) found".into(),
            ));
        };
        if candidates.is_empty() {
            return Err(ImageError::InvalidImageArchive("the archive lists no images".into()));
        }
        let mut report = LoadReport { images: Vec::new(), loaded: Vec::new() };
        for c in candidates {
            let names: Vec<String> = c.names.iter().map(Reference::to_string).collect();
            let info = inner.commit_loaded(c, &mut members)?;
            tracing::info!(id = %info.id, ?names, "loaded image");
            if names.is_empty() {
                report.loaded.push(info.id.clone());
            }
            report.loaded.extend(names);
            report.images.push(info);
        }
        Ok(report)
    }
}

fn missing(path: &str) -> ImageError {
    ImageError::InvalidImageArchive(format!("member {path} is missing"))
}

fn invalid_tar(doing: &str, e: io::Error) -> ImageError {
    ImageError::InvalidArchive { reason: doing.to_string(), source: Some(e) }
}

/// `./a//b/` → `a/b`; `..` is resolved lexically (members are only keys,
/// nothing is written at these paths).
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl<'a> Members<'a> {
    /// The member at `path`, following links.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut p = normalize(path);
        for _ in 0..MAX_LINK_HOPS {
            if self.files.contains_key(&p) || self.committed.contains_key(&p) {
                return Some(p);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    /// Digest and size of a member, staged or already committed.
    fn info(&self, path: &str) -> Option<(Digest, u64)> {
        let key = self.resolve(path)?;
        match self.files.get(&key) {
            Some(s) => Some((s.digest.clone(), s.size)),
            None => self.committed.get(&key).cloned(),
        }
    }

    /// Move a member into the store (once; later calls find it there).
    fn commit(&mut self, path: &str, expected: &Digest) -> Result<(), ImageError> {
        let key = self.resolve(path).ok_or_else(|| missing(path))?;
        if let Some(staged) = self.files.remove(&key) {
            staged.verify(expected)?;
            let info = (staged.digest.clone(), staged.size);
            staged.commit()?;
            self.committed.insert(key, info);
        }
        Ok(())
    }

    fn get(&self, path: &str) -> Option<&StagedBlob<'a>> {
        self.files.get(&self.resolve(path)?)
    }

    fn require(&self, path: &str) -> Result<&StagedBlob<'a>, ImageError> {
        self.get(path).ok_or_else(|| missing(path))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, ImageError> {
        let staged = self.require(path)?;
        if staged.size > MAX_DOCUMENT {
            return Err(ImageError::TooLarge { what: "archive document", limit: MAX_DOCUMENT });
        }
        let mut bytes = Vec::with_capacity(staged.size as usize);
        staged.open()?.read_to_end(&mut bytes).at("read archive member", path)?;
        Ok(bytes)
    }
}

fn parse<T: serde::de::DeserializeOwned>(what: &'static str, path: &str, bytes: &[u8]) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|source| ImageError::Json { what, location: path.to_string(), source })
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Images of an OCI layout: each `index.json` entry, nested indexes
/// resolved to our platform.
fn oci_candidates(members: &Members<'_>) -> Result<Vec<Candidate>, ImageError> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "mediaType", default)]
        media_type: String,
        digest: Digest,
        #[serde(default)]
        annotations: HashMap<String, String>,
    }
    #[derive(Deserialize)]
    struct Top {
        #[serde(default)]
        manifests: Vec<Entry>,
    }
    let top: Top = parse("image index", "index.json", &members.read("index.json")?)?;
    let mut out: Vec<Candidate> = Vec::new();
    for entry in top.manifests {
        let mut digest = entry.digest.clone();
        let mut bytes = members.read(&blob_path(&digest))?;
        let mut media_type = entry.media_type.clone();
        if classify(Some(&entry.media_type).filter(|m| !m.is_empty()).map(String::as_str), &bytes)?
            == ManifestKind::Index
        {
            let chosen = IndexDocument::parse(&bytes)?.choose(&Platform::host())?.clone();
            digest = chosen.digest;
            media_type = chosen.media_type;
            bytes = members.read(&blob_path(&digest))?;
        }
        let manifest: Manifest = parse("manifest", &digest.to_string(), &bytes)?;
        let name = entry.annotations.get(ANNOTATION_IMAGE_NAME).cloned().or_else(|| {
            // A bare tag (skopeo's default) names no repository.
            entry.annotations.get(crate::oci::ANNOTATION_REF_NAME).filter(|n| n.contains(['/', ':'])).cloned()
        });
        let name = name.map(|n| Reference::parse(&n)).transpose()?;
        // Several entries may name one manifest: one image, several names.
        if let Some(existing) = out.iter_mut().find(|c| c.manifest.as_ref().is_some_and(|(b, _)| *b == bytes)) {
            existing.names.extend(name);
            continue;
        }
        out.push(Candidate {
            config_member: blob_path(&manifest.config.digest),
            layer_members: manifest.layers.iter().map(|l| blob_path(&l.digest)).collect(),
            manifest: Some((bytes, if media_type.is_empty() { MEDIA_TYPE_MANIFEST.into() } else { media_type })),
            names: name.into_iter().collect(),
        });
    }
    Ok(out)
}

/// Images of a docker-archive's `manifest.json`.
fn docker_candidates(members: &Members<'_>) -> Result<Vec<Candidate>, ImageError> {
    let entries: Vec<DockerManifestEntry> = parse("manifest", "manifest.json", &members.read("manifest.json")?)?;
    entries
        .into_iter()
        .map(|e| {
            let names =
                e.repo_tags.unwrap_or_default().iter().map(|t| Reference::parse(t)).collect::<Result<_, _>>()?;
            Ok(Candidate { manifest: None, config_member: e.config, layer_members: e.layers, names })
        })
        .collect()
}

impl Inner {
    /// Verify, store and unpack one image from the archive, then name it.
    fn commit_loaded(&self, c: Candidate, members: &mut Members<'_>) -> Result<ImageInfo, ImageError> {
        let config_bytes = members.read(&c.config_member)?;
        let config: ConfigFile = parse("image config", &c.config_member, &config_bytes)?;
        if config.rootfs.diff_ids.len() != c.layer_members.len() {
            return Err(ImageError::InvalidImageArchive(format!(
                "{} lists {} layers but its config has {} diff_ids",
                c.config_member,
                c.layer_members.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let config_digest = Digest::of_bytes(&config_bytes);

        // Layer descriptors: the manifest's (checked against the members),
        // or, for a docker-archive, made from the members themselves.
        let mut layers = Vec::new();
        let (manifest_bytes, media_type) = match c.manifest {
            Some((bytes, media_type)) => {
                let manifest: Manifest = parse("manifest", "archive", &bytes)?;
                for (desc, member) in manifest.layers.iter().zip(&c.layer_members) {
                    if let Some((_, size)) = self.member_or_stored(members, member, &desc.digest)?
                        && size != desc.size
                    {
                        return Err(ImageError::SizeMismatch {
                            digest: desc.digest.to_string(),
                            expected: desc.size,
                            actual: size,
                        });
                    }
                    layers.push(desc.clone());
                }
                (bytes, media_type)
            }
            None => {
                for member in &c.layer_members {
                    let (digest, size) = members.info(member).ok_or_else(|| missing(member))?;
                    let file = match members.get(member) {
                        Some(staged) => staged.open()?,
                        None => self.content.open(&digest)?,
                    };
                    let (kind, _) = Compression::sniff(file)?;
                    layers.push(Descriptor {
                        media_type: kind.layer_media_type().to_string(),
                        digest,
                        size,
                        annotations: Default::default(),
                    });
                }
                let manifest = Manifest {
                    schema_version: 2,
                    media_type: Some(MEDIA_TYPE_MANIFEST.to_string()),
                    config: Descriptor {
                        media_type: MEDIA_TYPE_CONFIG.to_string(),
                        digest: config_digest.clone(),
                        size: config_bytes.len() as u64,
                        annotations: Default::default(),
                    },
                    layers: layers.clone(),
                };
                let bytes = serde_json::to_vec(&manifest).map_err(|source| ImageError::Json {
                    what: "manifest",
                    location: "new".into(),
                    source,
                })?;
                (bytes, MEDIA_TYPE_MANIFEST.to_string())
            }
        };
        let manifest_digest = Digest::of_bytes(&manifest_bytes);
        let _lease = self.lease(
            [manifest_digest.clone(), config_digest.clone()]
                .into_iter()
                .chain(layers.iter().map(|l| l.digest.clone()))
                .chain(config.rootfs.diff_ids.iter().cloned()),
        );

        // Blobs into place (a member shared by two images is committed
        // once; the second finds it stored), then the snapshots.
        for (desc, member) in layers.iter().zip(&c.layer_members) {
            if !self.content.path(&desc.digest).is_file() {
                members.commit(member, &desc.digest)?;
            }
        }
        for (desc, diff_id) in layers.iter().zip(&config.rootfs.diff_ids) {
            self.snapshots.ensure(diff_id, || self.content.open(&desc.digest))?;
        }
        for (bytes, digest) in [(&config_bytes, &config_digest), (&manifest_bytes, &manifest_digest)] {
            if !self.content.path(digest).is_file() {
                self.content.write_bytes(bytes)?;
            }
        }

        let descriptor = Descriptor {
            media_type,
            digest: manifest_digest.clone(),
            size: manifest_bytes.len() as u64,
            annotations: Default::default(),
        };
        let state = self.state();
        let mut index = self.load_index()?;
        if c.names.is_empty() {
            if !index.contains(&manifest_digest) {
                index.manifests.push(descriptor);
                self.save_index(&index)?;
            }
        } else {
            for name in &c.names {
                self.point_reference(&state, &mut index, name, descriptor.clone())?;
            }
        }
        let info = self.info(&index, &manifest_digest)?;
        drop(state);
        self.touch(&info.id);
        Ok(info)
    }

    /// `(digest, size)` of the member, or `None` when it is absent but the
    /// store already has the blob (archives may omit shared layers).
    fn member_or_stored(
        &self,
        members: &Members<'_>,
        member: &str,
        digest: &Digest,
    ) -> Result<Option<(Digest, u64)>, ImageError> {
        match members.info(member) {
            Some(info) => Ok(Some(info)),
            None if self.content.path(digest).is_file() => Ok(None),
            None => Err(missing(member)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn member_paths() {
        for (input, want) in [
            ("./manifest.json", "manifest.json"),
            ("/blobs//sha256/ab/", "blobs/sha256/ab"),
            ("abc/../def/layer.tar", "def/layer.tar"),
            ("../../etc/passwd", "etc/passwd"),
        ] {
            assert_eq!(normalize(input), want, "{input}");
        }
    }
}
