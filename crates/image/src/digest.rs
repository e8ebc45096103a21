//! Content digests: the `sha256:<hex>` names of blobs, and streaming hashers.
//!
//! Everything in the store is named by the SHA-256 of its bytes, so content is
//! hashed as it streams past, never by reading a whole blob into memory:
//! [`Sha256Writer`] hashes what is written through it (a blob being stored),
//! [`Sha256Reader`] hashes what is read through it (a layer being unpacked,
//! whose uncompressed digest is the `diff_id`). Registry pulls reuse both.
//!
//! Only SHA-256 is supported; it is what every registry and the OCI image
//! spec use in practice.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::ImageError;

/// The algorithm prefix of every digest this crate produces or accepts.
pub const SHA256_PREFIX: &str = "sha256:";

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parse `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Self, ImageError> {
        s.strip_prefix(SHA256_PREFIX)
            .and_then(|hex| Self::from_hex(hex).ok())
            .ok_or_else(|| ImageError::InvalidDigest(s.to_string()))
    }

    /// Build from the 64 lowercase hex digits alone (a file name in
    /// `blobs/sha256/`).
    pub fn from_hex(hex: &str) -> Result<Self, ImageError> {
        if is_sha256_hex(hex) {
            Ok(Self { hex: hex.to_string() })
        } else {
            Err(ImageError::InvalidDigest(hex.to_string()))
        }
    }

    /// The digest of a byte slice held in memory (configs, manifests).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The 64 hex digits without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    pub(crate) fn from_hasher(hasher: Sha256) -> Self {
        Self { hex: hex::encode(hasher.finalize()) }
    }
}

/// Whether `s` is exactly 64 lowercase hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHA256_PREFIX}{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts every byte written through it.
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Sha256Writer<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new(), written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The wrapped writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Stop hashing: the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.written)
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        // Hash only what the inner writer accepted, so a short write is never
        // counted twice when the caller retries the rest.
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct Sha256Reader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Sha256Reader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), read: 0 }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Stop hashing: the inner reader, the digest and the byte count. Bytes
    /// not yet read from `inner` are not part of the digest.
    pub fn finish(self) -> (R, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.read)
    }
}

impl<R: Read> Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn known_vectors() {
        assert_eq!(Digest::of_bytes(b"").hex(), EMPTY);
        assert_eq!(Digest::of_bytes(b"hello").to_string(), format!("sha256:{HELLO}"));
    }

    #[test]
    fn writer_and_reader_agree_with_of_bytes() {
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(b"hel").unwrap();
        w.write_all(b"lo").unwrap();
        let (buf, digest, n) = w.finish();
        assert_eq!((buf.as_slice(), digest.hex(), n), (&b"hello"[..], HELLO, 5));

        let mut r = Sha256Reader::new(&b"hello"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        let (_, digest, n) = r.finish();
        assert_eq!((digest.hex(), n), (HELLO, 5));
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, bool)] = &[
            (&format!("sha256:{HELLO}"), true),
            (HELLO, false),
            (&format!("sha256:{}", HELLO.to_uppercase()), false),
            (&format!("sha256:{}", &HELLO[..63]), false),
            (&format!("sha512:{HELLO}"), false),
            ("sha256:", false),
            ("", false),
        ];
        for (input, ok) in cases {
            assert_eq!(Digest::parse(input).is_ok(), *ok, "{input:?}");
        }
    }

    #[test]
    fn serde_round_trip_validates() {
        let d = Digest::of_bytes(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:nothex\"").is_err());
    }
}
