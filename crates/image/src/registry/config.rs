//! The registries configuration: where an image is actually pulled from.
//!
//! The file format is the `containers-registries.conf(5)` v2 TOML that
//! podman and CRI-O read (so one file serves both), or the same structure
//! as JSON when the file name ends in `.json`:
//!
//! ```toml
//! [[registry]]
//! prefix = "docker.io"            # which images this entry is for (default: location)
//! location = "docker.io"          # where to pull them from (may rewrite host and path)
//! insecure = false                # allow plain HTTP and unverified TLS
//! blocked = false                 # refuse pulls
//! [[registry.mirror]]             # tried in order before the location
//! location = "127.0.0.1:5001/hub"
//! insecure = true
//! ```
//!
//! The v1 lists (`[registries.insecure] registries = [...]`,
//! `[registries.block] registries = [...]`) are read too. The longest
//! matching prefix wins (`docker.io/library/busybox` before `docker.io`;
//! `*.example.com` matches subdomains).
//!
//! Loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) are insecure
//! unless an entry says `insecure = false`: containerd and dockerd treat
//! them so by default (containers/image does not; see node-env.md).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::error::{ImageError, IoContext};
use crate::reference::{DOCKER_HUB, Reference};

/// Docker Hub's API host; `docker.io` is only its name.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// Parsed registries configuration. The default has no entries: every
/// image comes from its own registry over HTTPS (loopback: plain HTTP).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RegistriesConfig {
    #[serde(default, rename = "registry")]
    entries: Vec<RegistryEntry>,
    /// The v1 format's lists.
    #[serde(default)]
    registries: V1Lists,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct RegistryEntry {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    insecure: Option<bool>,
    #[serde(default)]
    blocked: bool,
    #[serde(default, rename = "mirror")]
    mirrors: Vec<MirrorEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct MirrorEntry {
    location: String,
    #[serde(default)]
    insecure: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
struct V1Lists {
    #[serde(default)]
    insecure: Option<V1List>,
    #[serde(default)]
    block: Option<V1List>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// One place to pull an image from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` to connect to (Docker Hub's is `registry-1.docker.io`).
    pub host: String,
    /// The repository path on that host.
    pub repository: String,
    /// Plain HTTP and unverified TLS are allowed.
    pub insecure: bool,
    /// A mirror (failures fall through to the next endpoint).
    pub mirror: bool,
}

impl Endpoint {
    /// `host/repository`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }
}

impl RegistriesConfig {
    /// Read a configuration file: JSON if the name ends in `.json`, TOML
    /// otherwise.
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        let text = std::fs::read_to_string(path).at("read registries config", path)?;
        let parsed =
            if path.extension().is_some_and(|e| e == "json") { Self::from_json(&text) } else { Self::from_toml(&text) };
        parsed.map_err(|reason| ImageError::InvalidRegistriesConfig { path: path.to_path_buf(), reason })
    }

    /// Parse the TOML form.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Parse the JSON form.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let config: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        for (i, e) in self.entries.iter().enumerate() {
            let prefix = e.prefix.as_deref().or(e.location.as_deref()).unwrap_or("");
            if prefix.is_empty() {
                return Err(format!("registry entry {i}: needs a prefix or a location"));
            }
            if prefix.starts_with("*.") && e.location.as_deref().is_some_and(|l| !l.is_empty()) {
                return Err(format!("registry entry {prefix:?}: a wildcard prefix cannot have a location"));
            }
            for location in e.location.iter().chain(e.mirrors.iter().map(|m| &m.location)) {
                check_location(location).map_err(|why| format!("registry entry {prefix:?}: {why}"))?;
            }
        }
        Ok(())
    }

    /// Where to pull `reference` from, in order: the matching entry's
    /// mirrors, then its location (or the image's own registry).
    /// [`ImageError::Blocked`] if the entry blocks it.
    pub fn endpoints(&self, reference: &Reference) -> Result<Vec<Endpoint>, ImageError> {
        let name = reference.name();
        let v1_insecure = self.v1_contains(self.registries.insecure.as_ref(), &reference.registry);
        if self.v1_contains(self.registries.block.as_ref(), &reference.registry) {
            return Err(ImageError::Blocked(name));
        }
        let Some((entry, prefix)) = self.best_entry(&name) else {
            return Ok(vec![endpoint(&reference.registry, &reference.repository, v1_insecure.then_some(true), false)]);
        };
        if entry.blocked {
            return Err(ImageError::Blocked(name));
        }
        // The part of the name after the prefix: "" or "/more/path".
        let rest = if prefix.starts_with("*.") { "" } else { &name[prefix.len()..] };
        let rewrite = |location: &str| -> (String, String) {
            let full = format!("{location}{rest}");
            let (host, repo) = full.split_once('/').unwrap_or((&full, ""));
            (host.to_string(), repo.trim_matches('/').to_string())
        };
        let mut out = Vec::new();
        for m in &entry.mirrors {
            let (host, repo) = rewrite(&m.location);
            out.push(endpoint(&host, &repo, m.insecure, true));
        }
        let (host, repo) = match entry.location.as_deref().filter(|l| !l.is_empty() && !prefix.starts_with("*.")) {
            Some(location) => rewrite(location),
            None => (reference.registry.clone(), reference.repository.clone()),
        };
        out.push(endpoint(&host, &repo, entry.insecure.or(v1_insecure.then_some(true)), false));
        Ok(out)
    }

    fn v1_contains(&self, list: Option<&V1List>, registry: &str) -> bool {
        list.is_some_and(|l| l.registries.iter().any(|r| canonical(r) == registry))
    }

    /// The entry with the longest prefix matching `name`, with that prefix.
    fn best_entry(&self, name: &str) -> Option<(&RegistryEntry, String)> {
        self.entries
            .iter()
            .filter_map(|e| {
                let prefix = canonical(e.prefix.as_deref().or(e.location.as_deref())?);
                prefix_matches(&prefix, name).then_some((e, prefix))
            })
            // Wildcards are less specific than any literal prefix.
            .max_by_key(|(_, p)| if p.starts_with("*.") { 0 } else { p.len() })
    }
}

/// Docker Hub's legacy name as `docker.io`, like references are normalized.
fn canonical(prefix: &str) -> String {
    let prefix = prefix.trim().trim_end_matches('/');
    match prefix.split_once('/') {
        Some(("index.docker.io", rest)) => format!("{DOCKER_HUB}/{rest}"),
        None if prefix == "index.docker.io" => DOCKER_HUB.to_string(),
        _ => prefix.to_string(),
    }
}

fn prefix_matches(prefix: &str, name: &str) -> bool {
    if let Some(suffix) = prefix.strip_prefix("*.") {
        let host = name.split('/').next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        return host.ends_with(&format!(".{suffix}"));
    }
    name == prefix || name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

fn check_location(location: &str) -> Result<(), String> {
    if location.contains("://") {
        return Err(format!("location {location:?} must not have a scheme (use insecure = true for plain HTTP)"));
    }
    let host = location.split('/').next().unwrap_or("");
    // Any valid reference with this host parses; reuse the grammar.
    Reference::parse(&format!("{host}/x")).map_err(|_| format!("invalid location {location:?}"))?;
    if !host.contains(['.', ':']) && host != "localhost" {
        return Err(format!("location {location:?} must start with a registry host"));
    }
    Ok(())
}

fn endpoint(host: &str, repository: &str, insecure: Option<bool>, mirror: bool) -> Endpoint {
    let api_host = if host == DOCKER_HUB { DOCKER_HUB_API_HOST.to_string() } else { host.to_string() };
    let insecure = insecure.unwrap_or_else(|| is_loopback(host));
    Endpoint { host: api_host, repository: repository.to_string(), insecure, mirror }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(config: &RegistriesConfig, image: &str) -> Vec<(String, String, bool, bool)> {
        config
            .endpoints(&Reference::parse(image).unwrap())
            .unwrap()
            .into_iter()
            .map(|e| (e.host, e.repository, e.insecure, e.mirror))
            .collect()
    }

    fn ep(host: &str, repo: &str, insecure: bool, mirror: bool) -> (String, String, bool, bool) {
        (host.into(), repo.into(), insecure, mirror)
    }

    #[test]
    fn defaults_without_a_config() {
        let c = RegistriesConfig::default();
        assert_eq!(eps(&c, "busybox"), [ep("registry-1.docker.io", "library/busybox", false, false)]);
        assert_eq!(eps(&c, "quay.io/a/b:1"), [ep("quay.io", "a/b", false, false)]);
        // Loopback registries are insecure by default, like containerd's.
        assert_eq!(eps(&c, "127.0.0.1:5000/x"), [ep("127.0.0.1:5000", "x", true, false)]);
        assert_eq!(eps(&c, "localhost/x"), [ep("localhost", "x", true, false)]);
        assert_eq!(eps(&c, "[::1]:5000/x"), [ep("[::1]:5000", "x", true, false)]);
    }

    #[test]
    fn mirrors_rewrites_and_longest_prefix() {
        let c = RegistriesConfig::from_toml(
            r#"
            unqualified-search-registries = ["docker.io"]

            [[registry]]
            prefix = "docker.io"
            location = "docker.io"
            [[registry.mirror]]
            location = "127.0.0.1:5001/hub"
            [[registry.mirror]]
            location = "mirror.example.com"
            insecure = true

            [[registry]]
            prefix = "docker.io/library/busybox"
            location = "internal.example.com:5000/bb"

            [[registry]]
            location = "127.0.0.1:5000"
            insecure = false

            [[registry]]
            prefix = "*.corp.example"
            insecure = true

            [[registry]]
            prefix = "evil.example.com"
            blocked = true
            "#,
        )
        .unwrap();
        assert_eq!(
            eps(&c, "nginx:1.27"),
            [
                ep("127.0.0.1:5001", "hub/library/nginx", true, true),
                ep("mirror.example.com", "library/nginx", true, true),
                ep("registry-1.docker.io", "library/nginx", false, false),
            ]
        );
        assert_eq!(eps(&c, "busybox"), [ep("internal.example.com:5000", "bb", false, false)]);
        // `busybox-extra` does not match the `.../busybox` prefix.
        assert_eq!(eps(&c, "busybox-extra").len(), 3);
        assert_eq!(eps(&c, "127.0.0.1:5000/x"), [ep("127.0.0.1:5000", "x", false, false)]);
        assert_eq!(eps(&c, "r.corp.example/app"), [ep("r.corp.example", "app", true, false)]);
        assert!(matches!(
            c.endpoints(&Reference::parse("evil.example.com/x").unwrap()),
            Err(ImageError::Blocked(n)) if n == "evil.example.com/x"
        ));
    }

    #[test]
    fn json_and_v1_forms() {
        let c = RegistriesConfig::from_json(
            r#"{"registry": [{"prefix": "index.docker.io", "mirror": [{"location": "localhost:5002"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            eps(&c, "alpine"),
            [
                ep("localhost:5002", "library/alpine", true, true),
                ep("registry-1.docker.io", "library/alpine", false, false)
            ]
        );
        let v1 = RegistriesConfig::from_toml(
            "[registries.insecure]\nregistries = ['reg.lan:5000']\n[registries.block]\nregistries = ['bad.io']\n",
        )
        .unwrap();
        assert_eq!(eps(&v1, "reg.lan:5000/app"), [ep("reg.lan:5000", "app", true, false)]);
        assert!(v1.endpoints(&Reference::parse("bad.io/x").unwrap()).is_err());
    }

    #[test]
    fn invalid_configs_are_refused() {
        for bad in [
            "[[registry]]\ninsecure = true\n",
            "[[registry]]\nlocation = \"https://r.io\"\n",
            "[[registry]]\nprefix = \"*.x.io\"\nlocation = \"r.io\"\n",
            "[[registry]]\nlocation = \"bad host\"\n",
            "[[registry]]\nprefix = \"r.io\"\n[[registry.mirror]]\nlocation = \"noregistry\"\n",
            "[[registry]\n",
        ] {
            assert!(RegistriesConfig::from_toml(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.conf");
        std::fs::write(&path, "[[registry]]\ninsecure = true\n").unwrap();
        let err = RegistriesConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("registries.conf") && err.contains("needs a prefix"), "{err}");
    }

    #[test]
    fn loopback_detection() {
        for (host, want) in [
            ("localhost", true),
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:5000", true),
            ("10.0.0.1:5000", false),
            ("localhost.example.com", false),
            ("docker.io", false),
        ] {
            assert_eq!(is_loopback(host), want, "{host}");
        }
    }
}
