//! `docker import`: a rootfs tarball becomes a one-layer image.
//!
//! The flow, in an order chosen so a failure at any step leaves no reference
//! to incomplete content:
//!
//! 1. parse the reference and the `--change` instructions (fail before
//!    reading any input);
//! 2. stream the input into a temp blob, hashing the bytes as given (the
//!    layer digest) and, through a decompressor, the tar stream (the
//!    diff_id) in the same pass; the input is never held in memory;
//! 3. lease both digests, then unpack the layer into its snapshot from the
//!    temp blob, unless that snapshot already exists (a corrupt or truncated
//!    tar fails here, before anything is committed);
//! 4. commit the layer blob, write the config and manifest blobs;
//! 5. point the reference at the manifest in `index.json`; if that moved the
//!    tag off an image nothing else references, collect it.

use std::io::{self, Read, Write};

use crate::changes::apply_changes;
use crate::compression::Compression;
use crate::content::BlobWriter;
use crate::digest::{Digest, Sha256Reader};
use crate::error::ImageError;
use crate::image::{DEFAULT_PATH_ENV, ImageConfig, ImageInfo};
use crate::oci::{
    ConfigFile, Descriptor, History, MEDIA_TYPE_CONFIG, MEDIA_TYPE_MANIFEST, Manifest, RootFs, host_architecture,
};
use crate::reference::Reference;
use crate::store::{ImageStore, Inner, Lease};

/// `created_by` of the history entry of an imported layer.
const IMPORT_CREATED_BY: &str = "peapod image import";

/// A layer whose blob is committed and whose snapshot exists, leased until
/// its image is in the index.
pub(crate) struct IngestedLayer<'a> {
    pub(crate) descriptor: Descriptor,
    pub(crate) diff_id: Digest,
    _lease: Lease<'a>,
}

impl ImageStore {
    /// Import a rootfs tarball (plain, gzip or zstd tar) read from `reader`
    /// as a one-layer image named `reference`, with `changes` (Dockerfile
    /// instructions, see [`crate::changes`]) applied to its config. The
    /// layer is unpacked now, so the first container start does not pay for
    /// it. Re-importing under the same name moves the tag; the image it
    /// pointed at is deleted if no other reference keeps it.
    pub fn import_rootfs(
        &self,
        reader: impl Read,
        reference: &str,
        changes: &[String],
    ) -> Result<ImageInfo, ImageError> {
        let reference = Reference::parse(reference)?;
        if reference.digest.is_some() {
            return Err(ImageError::DigestReference(reference.to_string()));
        }
        let mut config = ImageConfig { env: vec![DEFAULT_PATH_ENV.to_string()], ..ImageConfig::default() };
        apply_changes(&mut config, changes)?;

        let layer = self.inner.ingest_layer(reader)?;
        let created = jiff::Timestamp::now().to_string();
        let config_file = ConfigFile {
            created: Some(created.clone()),
            architecture: host_architecture().to_string(),
            os: "linux".to_string(),
            config: Some((&config).into()),
            rootfs: RootFs { kind: "layers".to_string(), diff_ids: vec![layer.diff_id.clone()] },
            history: vec![History {
                created: Some(created),
                created_by: Some(IMPORT_CREATED_BY.to_string()),
                comment: Some("Imported from a rootfs tarball".to_string()),
                empty_layer: false,
            }],
        };
        let info = self.inner.commit_image(&[layer], &config_file, &reference)?;
        self.inner.touch(&info.id);
        tracing::info!(reference = %reference, id = %info.id, "imported image");
        Ok(info)
    }
}

impl Inner {
    /// Store a layer blob from `reader` and make sure its snapshot exists.
    pub(crate) fn ingest_layer(&self, reader: impl Read) -> Result<IngestedLayer<'_>, ImageError> {
        let mut writer = self.content.writer()?;
        let (compression, sniffed) = Compression::sniff(reader)?;
        let diff_id = self.spool(compression, sniffed, &mut writer)?;
        let staged = writer.finish()?;
        let diff_id = diff_id.unwrap_or_else(|| staged.digest.clone());

        let lease = self.lease([staged.digest.clone(), diff_id.clone()]);
        self.snapshots.ensure(&diff_id, || staged.open())?;
        let descriptor = Descriptor {
            media_type: compression.layer_media_type().to_string(),
            digest: staged.digest.clone(),
            size: staged.size,
            annotations: Default::default(),
        };
        staged.commit()?;
        Ok(IngestedLayer { descriptor, diff_id, _lease: lease })
    }

    /// Copy `input` into `writer`; for a compressed layer also decompress it
    /// on the fly and return the digest of the tar stream. `None` means the
    /// input is the tar stream itself (its blob digest is the diff_id).
    fn spool(
        &self,
        compression: Compression,
        input: impl Read,
        writer: &mut BlobWriter<'_>,
    ) -> Result<Option<Digest>, ImageError> {
        let limit = self.snapshots.limits().max_bytes;
        let temp_path = writer.path().to_path_buf();
        let mut tee = Tee { input, output: writer, write_error: None, limit, copied: 0, over_limit: false };
        let mut over_limit = false;
        let result = if compression == Compression::None {
            io::copy(&mut tee, &mut io::sink()).map(|_| None)
        } else {
            let mut tar_stream = Sha256Reader::new(compression.decoder(&mut tee)?);
            let mut buf = vec![0; 128 << 10];
            let drained = loop {
                match tar_stream.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    // A decompression bomb: stop long before the disk or the
                    // CPU budget is gone.
                    Ok(_) if tar_stream.bytes_read() > limit => {
                        over_limit = true;
                        break Err(io::Error::other("uncompressed size limit exceeded"));
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            let (_, diff_id, _) = tar_stream.finish();
            // Keep whatever follows the compressed stream in the blob, so the
            // stored blob is exactly the input.
            drained.and_then(|()| io::copy(&mut tee, &mut io::sink())).map(|_| Some(diff_id))
        };
        result.map_err(|e| {
            if let Some(source) = tee.write_error.take() {
                ImageError::Io { op: "write temp blob", path: temp_path, source }
            } else if over_limit || tee.over_limit {
                ImageError::LimitExceeded { what: "uncompressed bytes", limit }
            } else {
                ImageError::InvalidArchive {
                    reason: match compression {
                        Compression::None => "reading the layer".to_string(),
                        _ => "decompressing the layer".to_string(),
                    },
                    source: Some(e),
                }
            }
        })
    }

    /// Write `config` and a manifest over `layers`, and point `reference` at
    /// the manifest.
    pub(crate) fn commit_image(
        &self,
        layers: &[IngestedLayer<'_>],
        config: &ConfigFile,
        reference: &Reference,
    ) -> Result<ImageInfo, ImageError> {
        let config_bytes = to_json("image config", config)?;
        let config_digest = Digest::of_bytes(&config_bytes);
        let mut lease = self.lease([config_digest.clone()]);
        self.content.write_bytes(&config_bytes)?;

        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.to_string()),
            config: Descriptor {
                media_type: MEDIA_TYPE_CONFIG.to_string(),
                digest: config_digest,
                size: config_bytes.len() as u64,
                annotations: Default::default(),
            },
            layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
        };
        let manifest_bytes = to_json("manifest", &manifest)?;
        let manifest_digest = Digest::of_bytes(&manifest_bytes);
        lease.add(manifest_digest.clone());
        self.content.write_bytes(&manifest_bytes)?;

        let state = self.state();
        let mut index = self.load_index()?;
        self.point_reference(
            &state,
            &mut index,
            reference,
            Descriptor {
                media_type: MEDIA_TYPE_MANIFEST.to_string(),
                digest: manifest_digest.clone(),
                size: manifest_bytes.len() as u64,
                annotations: Default::default(),
            },
        )?;
        let info = self.info(&index, &manifest_digest);
        // The index now references everything; release the leases only after
        // the state lock (they take it too).
        drop(state);
        drop(lease);
        info
    }
}

fn to_json<T: serde::Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(value).map_err(|source| ImageError::Json { what, location: "new document".to_string(), source })
}

/// Copies everything read from `input` into `output` (the blob being
/// stored), refusing to read more than `limit` bytes.
struct Tee<'w, 'a, R> {
    input: R,
    output: &'w mut BlobWriter<'a>,
    /// A failed write, kept apart from read errors of the input.
    write_error: Option<io::Error>,
    limit: u64,
    copied: u64,
    over_limit: bool,
}

impl<R: Read> Read for Tee<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        if let Err(e) = self.output.write_all(&buf[..n]) {
            let kind = e.kind();
            self.write_error = Some(e);
            return Err(io::Error::new(kind, "writing temp blob failed"));
        }
        self.copied += n as u64;
        if self.copied > self.limit {
            self.over_limit = true;
            return Err(io::Error::other("layer size limit exceeded"));
        }
        Ok(n)
    }
}
