//! Media types of the distribution protocol, and choosing one platform's
//! manifest out of an OCI index or a Docker manifest list.
//!
//! Registries content-negotiate manifests by `Accept`, and some behave badly
//! when a type is missing from it: Debian's docker-registry 2.8 answers an
//! OCI manifest with 404 `MANIFEST_UNKNOWN` unless the OCI type is accepted,
//! and converts a Docker schema-2 image to schema 1 when no Accept header is
//! sent. So every manifest request sends [`MANIFEST_ACCEPT`], all four types
//! we can read, and schema 1 (which we cannot) is refused with a clear error.

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::ImageError;
use crate::oci::{MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};

/// Docker's manifest list (the multi-platform index).
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker's gzip layer.
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker's foreign (Windows base) layer; fetched like any other here.
pub const MEDIA_TYPE_DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Schema 1 manifests, which this client does not read.
const SCHEMA1_TYPES: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The `Accept` header of every manifest request: indexes first, then
/// single-platform manifests, OCI and Docker each.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// What a manifest document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// An OCI index or Docker manifest list: one manifest per platform.
    Index,
    /// A single image manifest (OCI or Docker schema 2).
    Image,
}

/// The fields that tell the document types apart when the `Content-Type`
/// header is missing or generic.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sniff {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
}

/// Classify a manifest from its `Content-Type` (parameters ignored) and,
/// when that says nothing useful, its own `mediaType` and shape.
pub fn classify(content_type: Option<&str>, body: &[u8]) -> Result<ManifestKind, ImageError> {
    let header = content_type.map(|c| c.split(';').next().unwrap_or("").trim()).filter(|c| !c.is_empty());
    if let Some(kind) = header.and_then(kind_of) {
        return Ok(kind);
    }
    if let Some(t) = header.filter(|t| SCHEMA1_TYPES.contains(t)) {
        return Err(ImageError::UnsupportedMediaType(t.to_string()));
    }
    let sniff: Sniff = serde_json::from_slice(body).map_err(|source| ImageError::Json {
        what: "manifest",
        location: "registry response".into(),
        source,
    })?;
    if let Some(t) = sniff.media_type.as_deref() {
        return kind_of(t).ok_or_else(|| ImageError::UnsupportedMediaType(t.to_string()));
    }
    match (sniff.schema_version, sniff.manifests.is_some(), sniff.layers.is_some()) {
        (Some(2), true, _) => Ok(ManifestKind::Index),
        (Some(2), _, true) => Ok(ManifestKind::Image),
        (Some(1), _, _) => Err(ImageError::UnsupportedMediaType(SCHEMA1_TYPES[0].to_string())),
        _ => Err(ImageError::UnsupportedMediaType(header.unwrap_or("(none)").to_string())),
    }
}

fn kind_of(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        MEDIA_TYPE_INDEX | MEDIA_TYPE_DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        MEDIA_TYPE_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST => Some(ManifestKind::Image),
        _ => None,
    }
}

/// Whether a manifest's config is an image config we can run (not, say, a
/// Helm chart or a signature stored as an OCI artifact).
pub fn check_config_media_type(media_type: &str) -> Result<(), ImageError> {
    match media_type {
        MEDIA_TYPE_CONFIG | MEDIA_TYPE_DOCKER_CONFIG => Ok(()),
        other => Err(ImageError::UnsupportedMediaType(other.to_string())),
    }
}

/// Whether a layer's media type is one we can unpack. The compression is
/// sniffed from the bytes anyway; this refuses encrypted layers and
/// artifacts that are not filesystem layers at all.
pub fn check_layer_media_type(media_type: &str) -> Result<(), ImageError> {
    const OCI_LAYER: &str = "application/vnd.oci.image.layer.";
    let ok = match media_type.strip_prefix(OCI_LAYER) {
        // v1.tar, v1.tar+gzip, v1.tar+zstd and the nondistributable variants.
        Some(rest) => {
            let rest = rest.strip_prefix("nondistributable.").unwrap_or(rest);
            matches!(rest, "v1.tar" | "v1.tar+gzip" | "v1.tar+zstd")
        }
        None => matches!(
            media_type,
            MEDIA_TYPE_DOCKER_LAYER_GZIP
                | MEDIA_TYPE_DOCKER_FOREIGN_LAYER
                | "application/vnd.docker.image.rootfs.diff.tar"
                | "application/vnd.docker.image.rootfs.diff.tar.zstd"
        ),
    };
    if ok { Ok(()) } else { Err(ImageError::UnsupportedMediaType(media_type.to_string())) }
}

/// An OS/architecture pair (with the ARM variant), in Go's spelling.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// `linux`.
    #[serde(default)]
    pub os: String,
    /// `amd64`, `arm64`, ...
    #[serde(default)]
    pub architecture: String,
    /// `v7`, `v8`, or empty.
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the machine we run on: linux and its architecture,
    /// with the variant the ARM builds default to.
    pub fn host() -> Self {
        let architecture = crate::oci::host_architecture().to_string();
        let variant = match architecture.as_str() {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Self { os: "linux".to_string(), architecture, variant }
    }

    /// How well an index entry for `other` fits this platform: `None` if it
    /// does not, higher is better (an exact variant beats a missing one).
    fn score(&self, other: &Platform) -> Option<u8> {
        if other.os != self.os || other.architecture != self.architecture {
            return None;
        }
        let other_variant = other.variant.as_deref().filter(|v| !v.is_empty());
        match (self.variant.as_deref(), other_variant) {
            (_, None) => Some(1),
            (Some(mine), Some(theirs)) if mine == theirs => Some(2),
            // arm64 images are often labelled without a variant or with v8;
            // a different variant is a different ABI.
            _ => None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One entry of an index.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    /// The manifest's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Which platform it is for (absent for non-image entries).
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// An OCI index or Docker manifest list.
#[derive(Clone, Debug, Deserialize)]
pub struct IndexDocument {
    /// The per-platform manifests.
    #[serde(default)]
    pub manifests: Vec<IndexEntry>,
}

impl IndexDocument {
    /// Parse an index body.
    pub fn parse(body: &[u8]) -> Result<Self, ImageError> {
        serde_json::from_slice(body).map_err(|source| ImageError::Json {
            what: "image index",
            location: "registry response".into(),
            source,
        })
    }

    /// The best manifest for `platform`; the first of equally good ones, as
    /// containerd picks.
    pub fn choose(&self, platform: &Platform) -> Result<&IndexEntry, ImageError> {
        let mut best: Option<(u8, &IndexEntry)> = None;
        for entry in &self.manifests {
            if kind_of(&entry.media_type) != Some(ManifestKind::Image) {
                continue;
            }
            let Some(score) = entry.platform.as_ref().and_then(|p| platform.score(p)) else { continue };
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, entry));
            }
        }
        best.map(|(_, e)| e).ok_or_else(|| ImageError::NoMatchingPlatform {
            wanted: platform.to_string(),
            available: self
                .manifests
                .iter()
                .filter_map(|e| e.platform.as_ref())
                .map(Platform::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    #[test]
    fn accept_lists_every_readable_type() {
        for t in [MEDIA_TYPE_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST] {
            assert!(MANIFEST_ACCEPT.split(", ").any(|a| a == t), "{t} missing from Accept");
        }
        assert!(!MANIFEST_ACCEPT.contains("distribution.manifest.v1"), "schema 1 must not be asked for");
        assert!(!MANIFEST_ACCEPT.contains('\n'));
    }

    #[test]
    fn classify_table() {
        use ManifestKind::*;
        let cases: &[(Option<&str>, &str, Option<ManifestKind>)] = &[
            (Some(MEDIA_TYPE_INDEX), "{}", Some(Index)),
            (Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"), "{}", Some(Index)),
            (Some(MEDIA_TYPE_DOCKER_MANIFEST), "{}", Some(Image)),
            (Some(MEDIA_TYPE_MANIFEST), "{}", Some(Image)),
            // Generic content type: the document's own mediaType decides.
            (Some("application/json"), r#"{"mediaType":"application/vnd.oci.image.index.v1+json"}"#, Some(Index)),
            // No mediaType at all (allowed in OCI): the shape decides.
            (None, r#"{"schemaVersion":2,"manifests":[]}"#, Some(Index)),
            (None, r#"{"schemaVersion":2,"config":{},"layers":[]}"#, Some(Image)),
            (Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), "{}", None),
            (None, r#"{"schemaVersion":1,"fsLayers":[]}"#, None),
            (None, r#"{"mediaType":"application/vnd.example.thing"}"#, None),
        ];
        for (ct, body, want) in cases {
            let got = classify(*ct, body.as_bytes());
            match want {
                Some(k) => assert_eq!(got.unwrap(), *k, "{ct:?} {body}"),
                None => assert!(matches!(got, Err(ImageError::UnsupportedMediaType(_))), "{ct:?} {body}: {got:?}"),
            }
        }
    }

    #[test]
    fn layer_and_config_types() {
        for ok in [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            MEDIA_TYPE_DOCKER_LAYER_GZIP,
            MEDIA_TYPE_DOCKER_FOREIGN_LAYER,
        ] {
            check_layer_media_type(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "application/vnd.cncf.helm.chart.content"]
        {
            assert!(check_layer_media_type(bad).is_err(), "{bad}");
        }
        assert!(check_config_media_type(MEDIA_TYPE_DOCKER_CONFIG).is_ok());
        assert!(check_config_media_type(MEDIA_TYPE_CONFIG).is_ok());
        assert!(check_config_media_type("application/vnd.cncf.helm.config.v1+json").is_err());
    }

    fn index(entries: &str) -> IndexDocument {
        IndexDocument::parse(format!(r#"{{"schemaVersion":2,"manifests":[{entries}]}}"#).as_bytes()).unwrap()
    }

    #[test]
    fn chooses_the_host_platform() {
        let amd64 = Platform { os: "linux".into(), architecture: "amd64".into(), variant: None };
        let arm64 = Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()) };
        let m = MEDIA_TYPE_MANIFEST;
        let idx = index(&format!(
            r#"{{"mediaType":"{m}","digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
               {{"mediaType":"{m}","digest":"{D2}","size":2,"platform":{{"os":"linux","architecture":"amd64"}}}},
               {{"mediaType":"{m}","digest":"{D3}","size":3,"platform":{{"os":"unknown","architecture":"unknown"}}}}"#
        ));
        assert_eq!(idx.choose(&amd64).unwrap().digest.to_string(), D2);
        assert_eq!(idx.choose(&arm64).unwrap().digest.to_string(), D1);
        let s390 = Platform { os: "linux".into(), architecture: "s390x".into(), variant: None };
        let err = idx.choose(&s390).unwrap_err().to_string();
        assert!(err.contains("linux/s390x") && err.contains("linux/arm64/v8, linux/amd64"), "{err}");

        // An exact variant beats an entry without one; a wrong variant never fits.
        let idx = index(&format!(
            r#"{{"mediaType":"{m}","digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},
               {{"mediaType":"{m}","digest":"{D2}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}"#
        ));
        assert_eq!(idx.choose(&arm64).unwrap().digest.to_string(), D2);
        let v9 = Platform { variant: Some("v9".into()), ..arm64 };
        assert_eq!(idx.choose(&v9).unwrap().digest.to_string(), D1);

        // Nested indexes and entries without a platform are skipped.
        let idx = index(&format!(
            r#"{{"mediaType":"{MEDIA_TYPE_INDEX}","digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
               {{"mediaType":"{m}","digest":"{D2}","size":1}}"#
        ));
        assert!(idx.choose(&amd64).is_err());
        assert_eq!(Platform::host().os, "linux");
    }
}
