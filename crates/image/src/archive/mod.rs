//! `image save` and `image load`: images as tarballs.
//!
//! Two formats, both directions:
//!
//! * **docker-archive**, what `docker save` writes: `manifest.json`
//!   (`[{"Config", "RepoTags", "Layers"}]`), `repositories`, the config and
//!   the layer tars. We write Docker 25's layout, in which those files are
//!   `blobs/sha256/<hex>` next to an OCI `index.json` and `oci-layout`, so
//!   the same tarball is also an OCI archive. We read that layout and the
//!   older one (`<id>/layer.tar`, `<hex>.json`, `<hex>.tar`, symlinked
//!   duplicate layers), gzip- or zstd-compressed or not.
//! * **oci-archive**: an OCI image layout (`oci-layout`, `index.json`,
//!   `blobs/`) in a tar, as `skopeo copy oci-archive:` and `podman save
//!   --format oci-archive` write. Names are in the index's
//!   `io.containerd.image.name` (full reference) and
//!   `org.opencontainers.image.ref.name` (the tag, as skopeo expects)
//!   annotations.
//!
//! Both directions stream: save reads blobs from the store straight into
//! the tar writer, load spools each archive member into a temp blob while
//! hashing it (the member order of a tarball is not ours to choose, and
//! `manifest.json` often comes last). Loaded layers are unpacked and
//! verified against the config's diff_ids before any reference points at
//! them.

mod load;
mod save;

use std::str::FromStr;

use serde::Serialize;

pub use self::load::LoadReport;

/// Which tarball layout to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveFormat {
    /// `docker save` output (Docker 25 layout, also an OCI layout).
    #[default]
    DockerArchive,
    /// An OCI image layout.
    OciArchive,
}

impl FromStr for ArchiveFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "docker-archive" | "docker" => Ok(Self::DockerArchive),
            "oci-archive" | "oci" => Ok(Self::OciArchive),
            other => Err(format!("unknown archive format {other:?} (docker-archive or oci-archive)")),
        }
    }
}

/// The annotation containerd and Docker use for an image's full name.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names() {
        assert_eq!("docker-archive".parse::<ArchiveFormat>().unwrap(), ArchiveFormat::DockerArchive);
        assert_eq!("oci-archive".parse::<ArchiveFormat>().unwrap(), ArchiveFormat::OciArchive);
        assert_eq!("oci".parse::<ArchiveFormat>().unwrap(), ArchiveFormat::OciArchive);
        assert!("tar".parse::<ArchiveFormat>().is_err());
        assert_eq!(ArchiveFormat::default(), ArchiveFormat::DockerArchive);
    }
}
