//! The daemon's credentials: a CA generated on first start, a serving
//! certificate signed by it for every address clients use, a bearer token,
//! and the kubeconfig that both `peapod` and `kubectl` read.
//!
//! Files in the PKI directory (mode 0600 for secrets): `ca.crt`, `ca.key`,
//! `server.crt`, `server.key`, `token`.

use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PkiError {
    let context = context.into();
    move |source| PkiError::Io { context, source }
}

/// Loaded credentials.
#[derive(Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub token: String,
}

impl Pki {
    /// Load the credentials in `dir`, creating what is missing. The serving
    /// certificate is reissued when it does not cover every name in `sans`.
    pub fn ensure(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        set_mode(dir, 0o700)?;
        let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
        if !ca_crt.exists() || !ca_key.exists() {
            let key = KeyPair::generate()?;
            let mut p = CertificateParams::new(Vec::<String>::new())?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "peapod-ca");
            p.distinguished_name = dn;
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages =
                vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
            p.not_after = rcgen::date_time_ymd(2036, 1, 1);
            let cert = p.self_signed(&key)?;
            write_secret(&ca_key, &key.serialize_pem())?;
            std::fs::write(&ca_crt, cert.pem()).map_err(io(format!("writing {}", ca_crt.display())))?;
            // A new CA invalidates any serving certificate.
            let _ = std::fs::remove_file(dir.join("server.crt"));
        }
        let ca_pem = std::fs::read_to_string(&ca_crt).map_err(io(format!("reading {}", ca_crt.display())))?;
        let ca_key_pem = std::fs::read_to_string(&ca_key).map_err(io(format!("reading {}", ca_key.display())))?;

        let (crt, key) = (dir.join("server.crt"), dir.join("server.key"));
        let sans_file = dir.join("server.sans");
        let wanted = sans.join(",");
        let current = std::fs::read_to_string(&sans_file).unwrap_or_default();
        if !crt.exists() || !key.exists() || !covers(&current, sans) {
            let issuer = Issuer::from_ca_cert_pem(&ca_pem, KeyPair::from_pem(&ca_key_pem)?)?;
            let k = KeyPair::generate()?;
            let mut p = CertificateParams::new(Vec::<String>::new())?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "peapod-apiserver");
            p.distinguished_name = dn;
            p.subject_alt_names = sans
                .iter()
                .map(|s| match s.parse::<std::net::IpAddr>() {
                    Ok(ip) => Ok(SanType::IpAddress(ip)),
                    Err(_) => s.clone().try_into().map(SanType::DnsName),
                })
                .collect::<Result<_, _>>()?;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
            p.not_after = rcgen::date_time_ymd(2035, 1, 1);
            let cert = p.signed_by(&k, &issuer)?;
            write_secret(&key, &k.serialize_pem())?;
            std::fs::write(&crt, cert.pem()).map_err(io(format!("writing {}", crt.display())))?;
            std::fs::write(&sans_file, &wanted).map_err(io(format!("writing {}", sans_file.display())))?;
        }
        let token_file = dir.join("token");
        if !token_file.exists() {
            let bytes: [u8; 32] = rand::random();
            write_secret(&token_file, &hex(&bytes))?;
        }
        Ok(Pki {
            dir: dir.to_path_buf(),
            ca_pem,
            cert_pem: std::fs::read_to_string(&crt).map_err(io(format!("reading {}", crt.display())))?,
            key_pem: std::fs::read_to_string(&key).map_err(io(format!("reading {}", key.display())))?,
            token: std::fs::read_to_string(&token_file)
                .map_err(io(format!("reading {}", token_file.display())))?
                .trim()
                .to_owned(),
        })
    }

    /// The kubeconfig for this daemon.
    pub fn kubeconfig(&self, server_url: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: peapod\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: peapod\n  context:\n    cluster: peapod\n    user: admin\n    namespace: default\ncurrent-context: peapod\n",
            self.token
        )
    }

    /// Write the kubeconfig (mode 0600) unless it already has this content.
    pub fn write_kubeconfig(&self, path: &Path, server_url: &str) -> Result<(), PkiError> {
        let text = self.kubeconfig(server_url);
        if std::fs::read_to_string(path).map(|t| t == text).unwrap_or(false) {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        }
        write_secret(path, &text)
    }
}

fn covers(current: &str, sans: &[String]) -> bool {
    let have: Vec<&str> = current.split(',').collect();
    sans.iter().all(|s| have.contains(&s.as_str()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn set_mode(p: &Path, mode: u32) -> Result<(), PkiError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(io(format!("chmod {}", p.display())))
}

fn write_secret(path: &Path, text: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(format!("writing {}", tmp.display())))?;
    f.write_all(text.as_bytes()).map_err(io(format!("writing {}", tmp.display())))?;
    set_mode(&tmp, 0o600)?;
    std::fs::rename(&tmp, path).map_err(io(format!("writing {}", path.display())))
}

/// Constant-time comparison of bearer tokens.
pub fn token_matches(expected: &str, got: &str) -> bool {
    let (a, b) = (expected.as_bytes(), got.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reuses_and_reissues_for_new_names() {
        let d = tempfile::tempdir().unwrap();
        let a = Pki::ensure(d.path(), &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let b = Pki::ensure(d.path(), &["127.0.0.1".into()]).unwrap();
        assert_eq!(a.cert_pem, b.cert_pem, "covered names: same certificate");
        assert_eq!(a.token, b.token);
        assert_eq!(a.token.len(), 64);
        let c = Pki::ensure(d.path(), &["127.0.0.1".into(), "10.1.2.3".into()]).unwrap();
        assert_ne!(a.cert_pem, c.cert_pem, "new name: reissued");
        assert_eq!(a.ca_pem, c.ca_pem, "same CA");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join("ca.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let kc = d.path().join("k/kubeconfig");
        c.write_kubeconfig(&kc, "https://127.0.0.1:6443").unwrap();
        let text = std::fs::read_to_string(&kc).unwrap();
        assert!(text.contains("server: https://127.0.0.1:6443"));
        assert!(text.contains(&c.token));
        assert_eq!(std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn token_compare() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
    }
}
