//! Reading a kubeconfig file and resolving the context to use.
//!
//! The standard format (`clusters`, `users`, `contexts`, `current-context`)
//! is parsed into typed structs; [`Kubeconfig::resolve`] then picks the
//! context (the `--context` flag, else `current-context`) and produces a
//! [`ClusterAccess`]: server URL, trust material, credentials and default
//! namespace. File references (`certificate-authority`, `tokenFile`,
//! `client-certificate`, `client-key`) are read at that point, relative to the
//! kubeconfig's directory as kubectl does.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// Failure to load or use a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The kubeconfig file does not exist.
    #[error(
        "kubeconfig {path} not found: is the peapod daemon running? (use --kubeconfig or KUBECONFIG to point at another file)"
    )]
    Missing {
        /// The path looked at.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The kubeconfig is not valid YAML or does not have the expected shape.
    #[error("error loading config file \"{path}\": {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The selected context, cluster or user is not in the file.
    #[error("{0}")]
    Invalid(String),
    /// A base64 `*-data` field is malformed.
    #[error("invalid base64 in {field}: {source}")]
    Base64 {
        /// Which field.
        field: &'static str,
        /// The cause.
        source: base64::DecodeError,
    },
}

/// The parts of a kubeconfig that peapod uses.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Kubeconfig {
    /// Named clusters.
    pub clusters: Vec<NamedCluster>,
    /// Named users (credentials).
    pub users: Vec<NamedUser>,
    /// Named contexts.
    pub contexts: Vec<NamedContext>,
    /// The context used without `--context`.
    #[serde(rename = "current-context")]
    pub current_context: String,
}

/// `clusters[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NamedCluster {
    /// Name referred to by contexts.
    pub name: String,
    /// The cluster.
    pub cluster: Cluster,
}

/// A cluster: where the API server is and how to trust it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct Cluster {
    /// `https://host:port`.
    pub server: String,
    /// Base64 of a PEM bundle.
    pub certificate_authority_data: Option<String>,
    /// Path of a PEM bundle.
    pub certificate_authority: Option<PathBuf>,
    /// Skip server certificate verification.
    pub insecure_skip_tls_verify: bool,
}

/// `users[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NamedUser {
    /// Name referred to by contexts.
    pub name: String,
    /// The credentials.
    pub user: AuthInfo,
}

/// Credentials.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, rename_all = "kebab-case")]
pub struct AuthInfo {
    /// Bearer token.
    pub token: Option<String>,
    /// File holding a bearer token.
    #[serde(rename = "tokenFile")]
    pub token_file: Option<PathBuf>,
    /// Base64 PEM client certificate.
    pub client_certificate_data: Option<String>,
    /// Base64 PEM client key.
    pub client_key_data: Option<String>,
    /// Path of a PEM client certificate.
    pub client_certificate: Option<PathBuf>,
    /// Path of a PEM client key.
    pub client_key: Option<PathBuf>,
}

/// `contexts[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NamedContext {
    /// The context's name.
    pub name: String,
    /// The context.
    pub context: Context,
}

/// A (cluster, user, namespace) triple.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Context {
    /// Cluster name.
    pub cluster: String,
    /// User name.
    pub user: String,
    /// Default namespace.
    pub namespace: Option<String>,
}

/// Everything needed to talk to the API server, resolved from a kubeconfig.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterAccess {
    /// Server URL.
    pub server: String,
    /// PEM bytes of the CA bundle to trust (only these, not system roots).
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// Bearer token.
    pub token: Option<String>,
    /// PEM client certificate and key.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Namespace of the context (`default` when unset).
    pub namespace: String,
}

impl Kubeconfig {
    /// Parse kubeconfig text. `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Kubeconfig, KubeconfigError> {
        let parse_err = |message: String| KubeconfigError::Parse { path: path.to_path_buf(), message };
        let doc = peapod_api::yaml::decode_documents(text)
            .map_err(|e| parse_err(e.to_string()))?
            .into_iter()
            .next()
            .unwrap_or(serde_json::Value::Null);
        if doc.is_null() {
            return Ok(Kubeconfig::default());
        }
        serde_json::from_value(doc).map_err(|e| parse_err(e.to_string()))
    }

    /// Read and parse a kubeconfig file.
    pub fn load(path: &Path) -> Result<Kubeconfig, KubeconfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                KubeconfigError::Missing { path: path.to_path_buf() }
            } else {
                KubeconfigError::Read { path: path.to_path_buf(), source: e }
            }
        })?;
        Kubeconfig::parse(&text, path)
    }

    /// Resolve the context named `context` (or `current-context`). Relative
    /// file references are taken relative to `base_dir`.
    pub fn resolve(&self, context: Option<&str>, base_dir: &Path) -> Result<ClusterAccess, KubeconfigError> {
        let ctx_name = context.unwrap_or(&self.current_context);
        if ctx_name.is_empty() {
            return Err(KubeconfigError::Invalid(
                "no context is set in the kubeconfig (current-context is empty)".into(),
            ));
        }
        let ctx = &self
            .contexts
            .iter()
            .find(|c| c.name == ctx_name)
            .ok_or_else(|| {
                KubeconfigError::Invalid(format!("context was not found for specified context: {ctx_name}"))
            })?
            .context;
        let cluster = &self
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .ok_or_else(|| {
                KubeconfigError::Invalid(format!(
                    "cluster has no server defined (cluster \"{}\" not found)",
                    ctx.cluster
                ))
            })?
            .cluster;
        if cluster.server.is_empty() {
            return Err(KubeconfigError::Invalid(format!("cluster \"{}\" has no server defined", ctx.cluster)));
        }
        // A context may name no user at all (anonymous access).
        let user = self.users.iter().find(|u| u.name == ctx.user).map(|u| u.user.clone()).unwrap_or_default();

        let read = |p: &Path| -> Result<Vec<u8>, KubeconfigError> {
            let full = if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) };
            std::fs::read(&full).map_err(|source| KubeconfigError::Read { path: full, source })
        };
        let b64 = |field: &'static str, s: &str| -> Result<Vec<u8>, KubeconfigError> {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|source| KubeconfigError::Base64 { field, source })
        };

        let ca_pem = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
            (Some(d), _) if !d.is_empty() => Some(b64("certificate-authority-data", d)?),
            (_, Some(p)) => Some(read(p)?),
            _ => None,
        };
        let token = match (&user.token, &user.token_file) {
            (Some(t), _) if !t.is_empty() => Some(t.clone()),
            (_, Some(p)) => Some(String::from_utf8_lossy(&read(p)?).trim().to_string()),
            _ => None,
        };
        let cert = match (&user.client_certificate_data, &user.client_certificate) {
            (Some(d), _) if !d.is_empty() => Some(b64("client-certificate-data", d)?),
            (_, Some(p)) => Some(read(p)?),
            _ => None,
        };
        let key = match (&user.client_key_data, &user.client_key) {
            (Some(d), _) if !d.is_empty() => Some(b64("client-key-data", d)?),
            (_, Some(p)) => Some(read(p)?),
            _ => None,
        };
        let client_identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(KubeconfigError::Invalid(format!(
                    "user \"{}\" needs both a client certificate and a client key",
                    ctx.user
                )));
            }
        };
        Ok(ClusterAccess {
            server: cluster.server.trim_end_matches('/').to_string(),
            ca_pem,
            insecure: cluster.insecure_skip_tls_verify,
            token,
            client_identity,
            namespace: ctx.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into()),
        })
    }
}

/// Load `path` and resolve `context` in one step.
pub fn load_access(path: &Path, context: Option<&str>) -> Result<ClusterAccess, KubeconfigError> {
    let kc = Kubeconfig::load(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    kc.resolve(context, base)
}

/// The kubeconfig path to use: `KUBECONFIG` may hold a `:`-separated list, of
/// which peapod uses the first file that exists (kubectl merges them; peapod
/// only needs one).
pub fn pick_path(value: &Path) -> PathBuf {
    let s = value.to_string_lossy();
    if !s.contains(':') {
        return value.to_path_buf();
    }
    let parts: Vec<&str> = s.split(':').filter(|p| !p.is_empty()).collect();
    parts
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(parts.first().copied().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAEMON: &str = r#"apiVersion: v1
kind: Config
clusters: [{name: peapod, cluster: {server: "https://127.0.0.1:6443/", certificate-authority-data: "LS0tLS1CRUdJTg=="}}]
users: [{name: admin, user: {token: abc123}}]
contexts: [{name: peapod, context: {cluster: peapod, user: admin, namespace: team}}]
current-context: peapod
"#;

    #[test]
    fn resolves_the_daemon_kubeconfig() {
        let kc = Kubeconfig::parse(DAEMON, Path::new("k")).unwrap();
        let a = kc.resolve(None, Path::new("/")).unwrap();
        assert_eq!(a.server, "https://127.0.0.1:6443");
        assert_eq!(a.ca_pem.as_deref(), Some(&b"-----BEGIN"[..]));
        assert_eq!(a.token.as_deref(), Some("abc123"));
        assert_eq!(a.namespace, "team");
        assert!(!a.insecure);
        assert!(a.client_identity.is_none());
    }

    #[test]
    fn insecure_file_references_and_default_namespace() {
        let dir = std::env::temp_dir().join(format!("peapod-cli-kc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tok"), "from-file\n").unwrap();
        std::fs::write(dir.join("ca.pem"), "PEM").unwrap();
        let text = r#"
clusters:
- name: a
  cluster: {server: "https://a:1", insecure-skip-tls-verify: true}
- name: b
  cluster: {server: "https://b:2", certificate-authority: ca.pem}
users:
- name: u
  user: {tokenFile: tok}
contexts:
- name: one
  context: {cluster: a, user: u}
- name: two
  context: {cluster: b, user: nobody}
current-context: one
"#;
        let kc = Kubeconfig::parse(text, Path::new("k")).unwrap();
        let a = kc.resolve(None, &dir).unwrap();
        assert!(a.insecure);
        assert_eq!(a.token.as_deref(), Some("from-file"));
        assert_eq!(a.namespace, "default");
        let b = kc.resolve(Some("two"), &dir).unwrap();
        assert_eq!(b.server, "https://b:2");
        assert_eq!(b.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(b.token, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_what_is_missing() {
        let kc = Kubeconfig::parse(DAEMON, Path::new("k")).unwrap();
        let e = kc.resolve(Some("nope"), Path::new("/")).unwrap_err();
        assert_eq!(e.to_string(), "context was not found for specified context: nope");
        let e = Kubeconfig::load(Path::new("/nonexistent/kubeconfig")).unwrap_err();
        assert!(matches!(e, KubeconfigError::Missing { .. }));
        assert!(e.to_string().contains("/nonexistent/kubeconfig"));
        let e = Kubeconfig::parse("clusters: 3", Path::new("k")).unwrap_err();
        assert!(matches!(e, KubeconfigError::Parse { .. }));
    }

    #[test]
    fn picks_first_existing_path_of_a_list() {
        assert_eq!(pick_path(Path::new("/a/b")), PathBuf::from("/a/b"));
        assert_eq!(pick_path(Path::new("/nonexistent1:/")), PathBuf::from("/"));
        assert_eq!(pick_path(Path::new("/nonexistent1:/nonexistent2")), PathBuf::from("/nonexistent1"));
    }
}
