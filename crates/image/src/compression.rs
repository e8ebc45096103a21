//! Layer compression, recognised by magic bytes.
//!
//! Media types are not trusted for this: Docker writes non-standard ones
//! (`...diff.tar.zstd`), `docker import` accepts any of the three, and a blob
//! on disk is all we have when a snapshot is rebuilt lazily. The first bytes
//! are read, inspected, and put back in front of the stream.

use std::io::{self, Cursor, Read};

use crate::error::ImageError;
use crate::oci::{MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const BZIP2_MAGIC: &[u8] = b"BZh";
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const SNIFF_LEN: usize = 6;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// zstd (possibly several frames).
    Zstd,
}

/// A reader with its first bytes already inspected.
pub type Sniffed<R> = io::Chain<Cursor<Vec<u8>>, R>;

impl Compression {
    /// Detect the compression from the first bytes of `reader`, returning a
    /// reader that still yields the whole stream.
    pub fn sniff<R: Read>(mut reader: R) -> Result<(Self, Sniffed<R>), ImageError> {
        let mut head = Vec::with_capacity(SNIFF_LEN);
        (&mut reader).take(SNIFF_LEN as u64).read_to_end(&mut head).map_err(|e| ImageError::InvalidArchive {
            reason: "cannot read the start of the layer".into(),
            source: Some(e),
        })?;
        let kind = if head.starts_with(GZIP_MAGIC) {
            Self::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Self::Zstd
        } else if head.starts_with(BZIP2_MAGIC) {
            return Err(ImageError::UnsupportedCompression("bzip2"));
        } else if head.starts_with(XZ_MAGIC) {
            return Err(ImageError::UnsupportedCompression("xz"));
        } else {
            Self::None
        };
        Ok((kind, Cursor::new(head).chain(reader)))
    }

    /// A reader of the uncompressed stream.
    pub fn decoder<'a, R: Read + 'a>(self, reader: R) -> Result<Box<dyn Read + 'a>, ImageError> {
        Ok(match self {
            Self::None => Box::new(reader),
            // Multi-member gzip is valid and some tools write it; a plain
            // GzDecoder would stop after the first member.
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::new(reader).map_err(|e| {
                ImageError::InvalidArchive { reason: "cannot start zstd decoder".into(), source: Some(e) }
            })?),
        })
    }

    /// The OCI layer media type for a blob compressed this way.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Self::None => MEDIA_TYPE_LAYER,
            Self::Gzip => MEDIA_TYPE_LAYER_GZIP,
            Self::Zstd => MEDIA_TYPE_LAYER_ZSTD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(kind: Compression, data: &[u8]) -> Vec<u8> {
        let encoded = match kind {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
        };
        let (found, reader) = Compression::sniff(&encoded[..]).unwrap();
        assert_eq!(found, kind);
        let mut out = Vec::new();
        found.decoder(reader).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn sniff_and_decode_each_kind() {
        let data = b"some tar bytes, not really a tar".repeat(50);
        for kind in [Compression::None, Compression::Gzip, Compression::Zstd] {
            assert_eq!(roundtrip(kind, &data), data, "{kind:?}");
        }
        // Shorter than the sniff window.
        assert_eq!(roundtrip(Compression::None, b"ab"), b"ab");
        assert_eq!(roundtrip(Compression::None, b""), b"");
    }

    #[test]
    fn refuses_bzip2_and_xz() {
        for (data, name) in [(&b"BZh91AY"[..], "bzip2"), (XZ_MAGIC, "xz")] {
            match Compression::sniff(data) {
                Err(ImageError::UnsupportedCompression(n)) => assert_eq!(n, name),
                other => panic!("{name}: {:?}", other.map(|(k, _)| k)),
            }
        }
    }
}
