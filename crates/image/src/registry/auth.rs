//! Registry credentials: `WWW-Authenticate` challenges, user/password
//! pairs, and the Docker config keyring that `imagePullSecrets` carry.
//!
//! A registry asks for credentials with a 401 and a challenge:
//! `Basic realm="..."` means "send them with every request", `Bearer
//! realm="...",service="...",scope="..."` means "trade them (or nothing, for
//! anonymous access) for a token at `realm`" (the Docker Hub token flow).
//!
//! The keyring follows kubelet's `BasicDockerKeyring`: keys are registry
//! hosts with an optional path prefix (`registry:5000`, `quay.io/team`,
//! `*.example.com`, `https://index.docker.io/v1/`), and a lookup returns every
//! matching entry, most specific first; kubelet tries them in that order.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

use crate::error::ImageError;
use crate::reference::DOCKER_HUB;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret, not even in debug logs.
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

impl Credentials {
    /// `user:password` as given to `--creds` (the password may contain ':').
    pub fn parse_user_pass(s: &str) -> Result<Self, ImageError> {
        match s.split_once(':') {
            Some((user, pass)) if !user.is_empty() => {
                Ok(Self { username: user.to_string(), password: pass.to_string() })
            }
            _ => Err(ImageError::InvalidCredentials("expected USERNAME:PASSWORD".into())),
        }
    }

    /// The `Authorization: Basic` value.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Send credentials with HTTP basic auth.
    Basic,
    /// Fetch a token from `realm`.
    Bearer {
        /// Token endpoint URL.
        realm: String,
        /// `service` parameter to pass along.
        service: Option<String>,
        /// `scope` the registry asked for.
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` header value (RFC 7235): one or more
/// challenges, each a scheme followed by comma-separated `key=value` or
/// `key="quoted value"` parameters. Unknown schemes are skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut current: Option<(String, BTreeMap<String, String>)> = None;
    let mut rest = header.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let token_end = rest.find(|c: char| c == '=' || c == ',' || c.is_whitespace()).unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start_matches([' ', '\t']);
        if let Some(value_part) = after.strip_prefix('=') {
            // A parameter of the current challenge.
            let value_part = value_part.trim_start();
            let (value, remaining) = if let Some(quoted) = value_part.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end.min(quoted.len())..])
            } else {
                let end = value_part.find(',').unwrap_or(value_part.len());
                (value_part[..end].trim().to_string(), &value_part[end..])
            };
            if let Some((_, params)) = current.as_mut() {
                params.insert(token.to_ascii_lowercase(), value);
            }
            rest = remaining;
        } else {
            // A new challenge's scheme.
            if let Some(done) = current.take() {
                out.extend(finish_challenge(done));
            }
            current = Some((token.to_ascii_lowercase(), BTreeMap::new()));
            rest = after;
        }
    }
    if let Some(done) = current.take() {
        out.extend(finish_challenge(done));
    }
    out
}

fn finish_challenge((scheme, mut params): (String, BTreeMap<String, String>)) -> Option<Challenge> {
    match scheme.as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        }),
        _ => None,
    }
}

/// Credentials by registry, from Docker config files (`.dockerconfigjson`
/// secrets, `~/.docker/config.json`, podman's `auth.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    entries: Vec<KeyringEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyringEntry {
    /// Host (may contain `*` labels) and port.
    host: String,
    /// Repository path prefix, without slashes at either end.
    path: String,
    credentials: Credentials,
}

/// One `auths` entry of a Docker config.
#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl Keyring {
    /// Decode a Docker config: `{"auths": {KEY: {"auth": base64(user:pass)}}}`
    /// (`.dockerconfigjson`), or the legacy `{KEY: {...}}` map (`.dockercfg`).
    /// An entry's `auth` wins over `username`/`password`, as in kubelet.
    pub fn from_docker_config(bytes: &[u8]) -> Result<Self, ImageError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ImageError::InvalidCredentials(format!("not JSON: {e}")))?;
        let auths = match value.get("auths") {
            Some(a) => a.clone(),
            None => value,
        };
        let map: BTreeMap<String, AuthEntry> = serde_json::from_value(auths)
            .map_err(|e| ImageError::InvalidCredentials(format!("invalid auths map: {e}")))?;
        let mut keyring = Self::default();
        for (key, entry) in map {
            let credentials = match (entry.auth.filter(|a| !a.is_empty()), entry.username, entry.password) {
                (Some(auth), _, _) => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|e| ImageError::InvalidCredentials(format!("auth for {key:?} is not base64: {e}")))?;
                    let text = String::from_utf8(decoded)
                        .map_err(|_| ImageError::InvalidCredentials(format!("auth for {key:?} is not UTF-8")))?;
                    Credentials::parse_user_pass(&text).map_err(|_| {
                        ImageError::InvalidCredentials(format!("auth for {key:?} is not USERNAME:PASSWORD"))
                    })?
                }
                (None, Some(username), Some(password)) if !username.is_empty() => Credentials { username, password },
                // Identity tokens (OAuth refresh tokens) and empty entries
                // carry nothing we can send.
                _ => continue,
            };
            keyring.add(&key, credentials);
        }
        Ok(keyring)
    }

    /// Add credentials for a key (`host[:port][/path]`, optionally with a
    /// scheme and Docker Hub's `/v1/` suffix).
    pub fn add(&mut self, key: &str, credentials: Credentials) {
        let (host, path) = normalize_key(key);
        self.entries.push(KeyringEntry { host, path, credentials });
    }

    /// Add every entry of `other` after this keyring's own.
    pub fn extend(&mut self, other: Keyring) {
        self.entries.extend(other.entries);
    }

    /// Whether the keyring has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every credential matching `registry/repository`, most specific key
    /// first (longer paths, then exact hosts before globs); equally
    /// specific keys keep their insertion order.
    pub fn lookup(&self, registry: &str, repository: &str) -> Vec<&Credentials> {
        let registry = canonical_host(registry);
        let mut matches: Vec<(usize, bool, usize, &Credentials)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| host_matches(&e.host, &registry) && path_matches(&e.path, repository))
            .map(|(i, e)| (e.path.len(), !e.host.contains('*'), i, &e.credentials))
            .collect();
        matches.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut out: Vec<&Credentials> = Vec::new();
        for (_, _, _, c) in matches {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

/// Docker Hub has several historical host names; all mean `docker.io`.
fn canonical_host(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.to_string(),
        other => other.to_ascii_lowercase(),
    }
}

fn normalize_key(key: &str) -> (String, String) {
    let key = key.trim();
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let host = canonical_host(host);
    let mut path = path.trim_matches('/');
    // `https://index.docker.io/v1/` is Docker's key for Docker Hub itself.
    for api in ["v1", "v2"] {
        if path == api {
            path = "";
        } else if let Some(rest) = path.strip_prefix(api).and_then(|r| r.strip_prefix('/')) {
            path = rest;
        }
    }
    (host, path.to_string())
}

/// `*` matches one DNS label; the port (if any) must be equal.
fn host_matches(pattern: &str, host: &str) -> bool {
    let (pattern_name, pattern_port) = pattern.rsplit_once(':').map_or((pattern, None), |(h, p)| (h, Some(p)));
    let (name, port) = host.rsplit_once(':').map_or((host, None), |(h, p)| (h, Some(p)));
    if pattern_port != port {
        return false;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (pattern_name.split('.').collect(), name.split('.').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(p, l)| *p == "*" || p == l)
}

/// The key's path is a prefix of the repository at a `/` boundary.
fn path_matches(prefix: &str, repository: &str) -> bool {
    prefix.is_empty()
        || repository == prefix
        || repository.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// Who a pull authenticates as.
#[derive(Clone, Debug, Default)]
pub struct PullAuth {
    /// Explicit credentials (`--creds`): used for the image's registry and
    /// its mirrors, instead of any keyring entry.
    pub credentials: Option<Credentials>,
    /// Credentials by registry (`imagePullSecrets`, auth files).
    pub keyring: Keyring,
}

impl PullAuth {
    /// Anonymous access only.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The credentials to try, in order, for `registry/repository`: the
    /// explicit ones, else every keyring match, else anonymous (`None`).
    /// Like kubelet, a pull with matching keyring entries does not fall
    /// back to anonymous access.
    pub fn candidates(&self, registry: &str, repository: &str) -> Vec<Option<Credentials>> {
        if let Some(c) = &self.credentials {
            return vec![Some(c.clone())];
        }
        let found = self.keyring.lookup(registry, repository);
        if found.is_empty() { vec![None] } else { found.into_iter().cloned().map(Some).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str) -> Credentials {
        Credentials { username: u.into(), password: format!("{u}-pw") }
    }

    #[test]
    fn challenge_table() {
        let cases: &[(&str, Vec<Challenge>)] = &[
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
                vec![Challenge::Bearer {
                    realm: "https://auth.docker.io/token".into(),
                    service: Some("registry.docker.io".into()),
                    scope: Some("repository:library/busybox:pull".into()),
                }],
            ),
            (r#"Basic realm="Registry Realm""#, vec![Challenge::Basic]),
            // Unquoted values, odd spacing and case, a comma inside quotes.
            (
                r#"bearer  realm=http://127.0.0.1:9/token , scope="repository:a/b:pull,push""#,
                vec![Challenge::Bearer {
                    realm: "http://127.0.0.1:9/token".into(),
                    service: None,
                    scope: Some("repository:a/b:pull,push".into()),
                }],
            ),
            // Two challenges in one header; an unknown scheme is skipped.
            (
                r#"Negotiate, Basic realm="x", Bearer realm="https://t/\"q\"""#,
                vec![
                    Challenge::Basic,
                    Challenge::Bearer { realm: "https://t/\"q\"".into(), service: None, scope: None },
                ],
            ),
            // A bearer challenge without a realm is unusable.
            (r#"Bearer service="x""#, vec![]),
            ("", vec![]),
        ];
        for (header, want) in cases {
            assert_eq!(&parse_challenges(header), want, "{header}");
        }
    }

    #[test]
    fn credentials_parse_and_hide_the_password() {
        let c = Credentials::parse_user_pass("alice:s3:cret").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("alice", "s3:cret"));
        assert_eq!(c.basic_header(), "Basic YWxpY2U6czM6Y3JldA==");
        assert!(!format!("{c:?}").contains("s3:cret"));
        for bad in ["alice", ":pw", ""] {
            assert!(Credentials::parse_user_pass(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn docker_config_json_decoding() {
        // base64("bob:pw1") and explicit fields; `auth` wins when both exist.
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "Ym9iOnB3MQ=="},
            "127.0.0.1:5000": {"username": "u", "password": "p", "auth": "Ym9iOnB3MQ=="},
            "quay.io": {"username": "q", "password": "qp"},
            "ghcr.io": {"identitytoken": "refresh-token-only"}
        }}"#;
        let k = Keyring::from_docker_config(json).unwrap();
        let bob = Credentials { username: "bob".into(), password: "pw1".into() };
        assert_eq!(k.lookup("docker.io", "library/busybox"), [&bob]);
        assert_eq!(k.lookup("127.0.0.1:5000", "x"), [&bob]);
        assert_eq!(k.lookup("quay.io", "a/b")[0].username, "q");
        assert!(k.lookup("ghcr.io", "a").is_empty());

        // The legacy .dockercfg shape: no "auths" wrapper.
        let legacy = Keyring::from_docker_config(br#"{"r.io": {"auth": "Ym9iOnB3MQ=="}}"#).unwrap();
        assert_eq!(legacy.lookup("r.io", "x"), [&bob]);

        for bad in
            [&b"not json"[..], br#"{"auths": {"r": {"auth": "!!"}}}"#, br#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#]
        {
            assert!(matches!(Keyring::from_docker_config(bad), Err(ImageError::InvalidCredentials(_))));
        }
    }

    #[test]
    fn keyring_matching_is_most_specific_first() {
        let mut k = Keyring::default();
        k.add("*.example.com", creds("glob"));
        k.add("reg.example.com", creds("host"));
        k.add("reg.example.com/team", creds("team"));
        k.add("https://reg.example.com/team/app/", creds("app"));
        k.add("reg.example.com:5000", creds("port"));
        k.add("registry-1.docker.io", creds("hub"));
        let names = |r: &str, p: &str| k.lookup(r, p).iter().map(|c| c.username.clone()).collect::<Vec<_>>();
        assert_eq!(names("reg.example.com", "team/app"), ["app", "team", "host", "glob"]);
        assert_eq!(names("reg.example.com", "team/application"), ["team", "host", "glob"]);
        assert_eq!(names("reg.example.com", "other"), ["host", "glob"]);
        assert_eq!(names("other.example.com", "x"), ["glob"]);
        assert_eq!(names("a.b.example.com", "x"), Vec::<String>::new());
        assert_eq!(names("reg.example.com:5000", "x"), ["port"]);
        assert_eq!(names("docker.io", "library/nginx"), ["hub"]);
    }

    #[test]
    fn pull_auth_candidates() {
        let mut keyring = Keyring::default();
        keyring.add("r.io", creds("a"));
        keyring.add("r.io/x", creds("b"));
        let auth = PullAuth { credentials: None, keyring: keyring.clone() };
        let names: Vec<_> = auth.candidates("r.io", "x/y").into_iter().map(|c| c.unwrap().username).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(auth.candidates("s.io", "x"), [None]);
        let explicit = PullAuth { credentials: Some(creds("me")), keyring };
        assert_eq!(explicit.candidates("r.io", "x"), [Some(creds("me"))]);
    }
}
