//! Image references, normalized the way Docker and kubelet do.
//!
//! The grammar is distribution's `reference` package (what `docker pull`,
//! containerd and kubelet use):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component ( "/" path-component )*
//! domain     := host [ ":" port ]          host: DNS labels joined by "." or "[ipv6]"
//! path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := "sha256:" 64 lowercase hex   (the only algorithm we store)
//! ```
//!
//! Normalization (`ParseNormalizedNamed`): the first path component is a
//! registry only if it contains `.` or `:`, is `localhost`, or has an upper
//! case letter; otherwise the registry is `docker.io`, and a single-component
//! Docker Hub name gets `library/`. `index.docker.io` becomes `docker.io`. A
//! reference without tag and digest gets the tag `latest`.

use std::fmt;

use crate::digest::is_sha256_hex;
use crate::error::ImageError;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// The tag used when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_HUB: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why a reference was rejected. `Display` follows Docker's messages, all of
/// which start with `invalid reference format` where Docker's do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferenceErrorKind {
    /// Does not match the grammar.
    InvalidFormat,
    /// The repository path has upper case letters.
    Uppercase(String),
    /// Registry plus repository exceed 255 characters.
    NameTooLong,
    /// A bare 64-hex-digit string, which Docker refuses as a name (it looks
    /// like an image id).
    HexName,
    /// The digest part is malformed or uses another algorithm.
    InvalidDigest,
}

impl fmt::Display for ReferenceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidFormat => f.write_str("invalid reference format"),
            Self::Uppercase(repo) => write!(f, "invalid reference format: repository name ({repo}) must be lowercase"),
            Self::NameTooLong => {
                write!(f, "invalid reference format: repository name must not be more than {MAX_NAME_LEN} characters")
            }
            Self::HexName => f.write_str("invalid repository name, cannot specify 64-byte hexadecimal strings"),
            Self::InvalidDigest => f.write_str("invalid reference format: digest must be sha256:<64 lowercase hex>"),
        }
    }
}

/// A normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    /// Tag; `latest` when the input had neither tag nor digest.
    pub tag: Option<String>,
    /// Manifest digest `sha256:<hex>`, when pinned by digest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parse and normalize `input` (see the module docs for the rules).
    pub fn parse(input: &str) -> Result<Self, ImageError> {
        parse(input).map_err(|reason| ImageError::InvalidReference { name: input.to_string(), reason })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form Docker prints: `busybox:latest`, `foo/bar:1`,
    /// `localhost:5000/x:1`.
    pub fn familiar(&self) -> String {
        let mut out = if self.registry == DOCKER_HUB {
            match self.repository.strip_prefix(OFFICIAL_PREFIX) {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            self.name()
        };
        push_tag_digest(&mut out, self);
        out
    }
}

fn push_tag_digest(out: &mut String, r: &Reference) {
    if let Some(tag) = &r.tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = &r.digest {
        out.push('@');
        out.push_str(digest);
    }
}

impl fmt::Display for Reference {
    /// The full normalized form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        push_tag_digest(&mut out, self);
        f.write_str(&out)
    }
}

impl std::str::FromStr for Reference {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn parse(input: &str) -> Result<Reference, ReferenceErrorKind> {
    if input.is_empty() {
        return Err(ReferenceErrorKind::InvalidFormat);
    }
    if is_sha256_hex(input) {
        return Err(ReferenceErrorKind::HexName);
    }

    let (rest, digest) = match input.split_once('@') {
        Some((rest, digest)) => (rest, Some(parse_digest(digest)?)),
        None => (input, None),
    };

    // A ':' after the last '/' starts the tag; one before it is a port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&rest[..at], Some(&rest[at + 1..]))
        }
        None => (rest, None),
    };
    if let Some(tag) = tag
        && !valid_tag(tag)
    {
        return Err(ReferenceErrorKind::InvalidFormat);
    }

    let (registry, path) = split_registry(name);
    if !valid_domain(registry) {
        return Err(ReferenceErrorKind::InvalidFormat);
    }
    let registry = if registry == LEGACY_HUB { DOCKER_HUB } else { registry };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path.to_string()
    };
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceErrorKind::Uppercase(repository));
    }
    if !repository.split('/').all(valid_path_component) {
        return Err(ReferenceErrorKind::InvalidFormat);
    }
    if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
        return Err(ReferenceErrorKind::NameTooLong);
    }

    let tag = match (tag, &digest) {
        (Some(tag), _) => Some(tag.to_string()),
        (None, None) => Some(DEFAULT_TAG.to_string()),
        (None, Some(_)) => None,
    };
    Ok(Reference { registry: registry.to_string(), repository, tag, digest })
}

/// Split `name` into (registry, path) by Docker's rule for the first
/// component.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn parse_digest(s: &str) -> Result<String, ReferenceErrorKind> {
    match s.strip_prefix("sha256:") {
        Some(hex) if is_sha256_hex(hex) => Ok(s.to_string()),
        _ => Err(ReferenceErrorKind::InvalidDigest),
    }
}

fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes[1..].iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `host[:port]`, where host is DNS labels joined by dots or `[ipv6]`.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(v6) = domain.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
    };
    let host_ok = (host.is_empty() && domain.starts_with('[')) || host.split('.').all(label_ok);
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// `[a-z0-9]+ ( ("." | "_" | "__" | "-"+) [a-z0-9]+ )*`
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        // One run of alphanumerics.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // One separator.
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn normalization_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
            ("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
            ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
            ("index.docker.io/foo/bar:x", "docker.io/foo/bar:x", "foo/bar:x"),
            ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
            ("localhost:5000/x:1", "localhost:5000/x:1", "localhost:5000/x:1"),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            ("host.tld/x", "host.tld/x:latest", "host.tld/x:latest"),
            ("quay.io/a/b/c:v1.2_3-rc", "quay.io/a/b/c:v1.2_3-rc", "quay.io/a/b/c:v1.2_3-rc"),
            ("[::1]:5000/img", "[::1]:5000/img:latest", "[::1]:5000/img:latest"),
            ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"),
            ("a__b/c-d--e.f_g", "docker.io/a__b/c-d--e.f_g:latest", "a__b/c-d--e.f_g:latest"),
            (&format!("busybox@{D}"), &format!("docker.io/library/busybox@{D}"), &format!("busybox@{D}")),
            (
                &format!("r.io:443/busybox:1@{D}"),
                &format!("r.io:443/busybox:1@{D}"),
                &format!("r.io:443/busybox:1@{D}"),
            ),
        ];
        for (input, full, short) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *full, "full form of {input}");
            assert_eq!(r.familiar(), *short, "familiar form of {input}");
            assert_eq!(Reference::parse(full).unwrap(), r, "{full} is a fixed point");
        }
    }

    #[test]
    fn fields_are_split() {
        let r = Reference::parse(&format!("localhost:5000/team/app:v2@{D}")).unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.name(), "localhost:5000/team/app");
    }

    #[test]
    fn rejection_table() {
        use ReferenceErrorKind as K;
        let long = "a".repeat(250);
        let cases: &[(&str, K)] = &[
            ("", K::InvalidFormat),
            ("Busybox", K::Uppercase("library/Busybox".into())),
            ("foo/Bar", K::Uppercase("foo/Bar".into())),
            ("busybox:", K::InvalidFormat),
            ("busybox:-x", K::InvalidFormat),
            ("busybox:a b", K::InvalidFormat),
            ("bus box", K::InvalidFormat),
            ("busybox/", K::InvalidFormat),
            ("/busybox", K::InvalidFormat),
            ("a//b", K::InvalidFormat),
            ("-a", K::InvalidFormat),
            ("a.", K::InvalidFormat),
            ("a___b", K::InvalidFormat),
            ("a._b", K::InvalidFormat),
            ("bad_host.io/x", K::InvalidFormat),
            ("host-.io/x", K::InvalidFormat),
            ("host.io:port/x", K::InvalidFormat),
            ("busybox@sha256:abc", K::InvalidDigest),
            ("busybox@sha512:abc", K::InvalidDigest),
            (&format!("busybox@{}", D.to_uppercase()), K::InvalidDigest),
            ("busybox@", K::InvalidDigest),
            (&D[7..], K::HexName),
            (&format!("docker.io/{long}/x"), K::NameTooLong),
        ];
        for (input, kind) in cases {
            match Reference::parse(input) {
                Err(ImageError::InvalidReference { name, reason }) => {
                    assert_eq!(&reason, kind, "{input:?}");
                    assert_eq!(name, *input);
                }
                other => panic!("{input:?}: expected rejection, got {other:?}"),
            }
        }
    }

    #[test]
    fn message_matches_kubelet() {
        let err = Reference::parse("foo bar").unwrap_err();
        assert_eq!(err.to_string(), r#"couldn't parse image name "foo bar": invalid reference format"#);
        let err = Reference::parse("UPPER").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"couldn't parse image name "UPPER": invalid reference format: repository name (library/UPPER) must be lowercase"#
        );
    }
}
