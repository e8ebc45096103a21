//! The HTTP client: TLS from the kubeconfig, bearer token, request logging,
//! and turning error answers into [`ApiError`]s.
//!
//! One rustls configuration is built from the kubeconfig and used twice: by
//! reqwest for normal requests (ALPN `h2,http/1.1`, like kubectl) and, without
//! ALPN, for the WebSocket connections of `exec`/`cp` (kubectl offers no ALPN
//! on upgrades either, so the server sees the same thing from both clients).
//! When the kubeconfig names a CA, only that CA is trusted.

use std::sync::Arc;
use std::time::Instant;

use reqwest::{Method, Url};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde_json::Value;

use crate::errors::{ApiError, CliError};
use crate::kubeconfig::ClusterAccess;

/// The `Accept` value kubectl sends for human-readable `get`.
pub const ACCEPT_TABLE: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// Plain JSON.
pub const ACCEPT_JSON: &str = "application/json";

/// Debian's CA bundle, used when the kubeconfig names no CA.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A client of one API server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: Url,
    token: Option<String>,
    verbosity: u8,
    ws_tls: Arc<rustls::ClientConfig>,
    /// Namespace used when neither the manifest nor the command names one.
    pub namespace: String,
}

impl Client {
    /// Build a client for `access`. `namespace` overrides the context's.
    pub fn new(access: &ClusterAccess, namespace: Option<&str>, verbosity: u8) -> Result<Client, CliError> {
        let server = Url::parse(&access.server)
            .map_err(|e| CliError::msg(format!("invalid server URL {:?} in kubeconfig: {e}", access.server)))?;
        let base = tls_config(access)?;
        let mut http_tls = base.clone();
        http_tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(http_tls)
            .user_agent(concat!("peapod/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::msg(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            server,
            token: access.token.clone(),
            verbosity,
            ws_tls: Arc::new(base),
            namespace: namespace.map(str::to_string).unwrap_or_else(|| access.namespace.clone()),
        })
    }

    /// The server URL.
    pub fn server(&self) -> &Url {
        &self.server
    }

    /// The TLS configuration for upgrade connections (no ALPN).
    pub fn ws_tls(&self) -> Arc<rustls::ClientConfig> {
        self.ws_tls.clone()
    }

    /// The bearer token, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `-v` level.
    pub fn verbosity(&self) -> u8 {
        self.verbosity
    }

    /// Absolute URL for `path` (already escaped) plus query pairs (escaped here).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut u = self.server.clone();
        let base = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{base}{path}"));
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        u
    }

    /// Send a request; transport failures become [`CliError`]s, HTTP error
    /// statuses are returned as they are (see [`Client::check`]).
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        accept: &str,
        body: Option<(&str, reqwest::Body)>,
    ) -> Result<reqwest::Response, CliError> {
        let mut req = self.http.request(method.clone(), url.clone()).header("Accept", accept);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some((ctype, b)) = body {
            if self.verbosity >= 8
                && let Some(bytes) = b.as_bytes()
            {
                eprintln!("Request Body: {}", String::from_utf8_lossy(bytes));
            }
            req = req.header("Content-Type", ctype).body(b);
        }
        let started = Instant::now();
        let resp = req.send().await.map_err(|e| transport_error(&e, &url))?;
        if self.verbosity >= 6 {
            eprintln!("{method} {url} {} in {} milliseconds", resp.status(), started.elapsed().as_millis());
        }
        for w in resp.headers().get_all("Warning") {
            if let Ok(w) = w.to_str() {
                eprintln!("Warning: {}", warning_text(w));
            }
        }
        Ok(resp)
    }

    /// Turn an HTTP error status into an [`ApiError`]; `what` qualifies
    /// made-up messages (`get pods web`).
    pub async fn check(&self, resp: reqwest::Response, what: &str) -> Result<reqwest::Response, CliError> {
        let code = resp.status().as_u16();
        if code < 400 {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        if self.verbosity >= 8 {
            eprintln!("Response Body: {}", String::from_utf8_lossy(&body));
        }
        Err(ApiError::from_response(code, &body, what).into())
    }

    /// Send, check, and decode a JSON answer.
    pub async fn request_json(
        &self,
        method: Method,
        url: Url,
        accept: &str,
        body: Option<&Value>,
        content_type: &str,
        what: &str,
    ) -> Result<Value, CliError> {
        let body = body.map(|b| (content_type, reqwest::Body::from(b.to_string())));
        let resp = self.send(method, url, accept, body).await?;
        let resp = self.check(resp, what).await?;
        let bytes = resp.bytes().await.map_err(|e| CliError::Transport { detail: error_chain(&e) })?;
        if self.verbosity >= 8 {
            eprintln!("Response Body: {}", String::from_utf8_lossy(&bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::msg(format!("the server returned an invalid JSON answer to {what}: {e}")))
    }

    /// GET a JSON document.
    pub async fn get(&self, path: &str, query: &[(&str, String)], accept: &str, what: &str) -> Result<Value, CliError> {
        self.request_json(Method::GET, self.url(path, query), accept, None, "", what).await
    }

    /// Open a watch (`GET ...?watch=true`) and return its event stream.
    pub async fn watch(
        &self,
        path: &str,
        query: &[(&str, String)],
        accept: &str,
        what: &str,
    ) -> Result<WatchStream, CliError> {
        let mut q: Vec<(&str, String)> = query.to_vec();
        q.push(("watch", "true".into()));
        let resp = self.send(Method::GET, self.url(path, &q), accept, None).await?;
        let resp = self.check(resp, what).await?;
        Ok(WatchStream { resp, buf: Vec::new() })
    }
}

/// One event of a watch stream.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub kind: String,
    /// The object (a Table when the Table Accept was sent, a Status for ERROR).
    pub object: Value,
}

/// A watch response read as newline-delimited JSON events.
pub struct WatchStream {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl WatchStream {
    /// The next event, or `None` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<WatchEvent>, CliError> {
        loop {
            if let Some(ev) = split_event(&mut self.buf)? {
                return Ok(Some(ev));
            }
            match self.resp.chunk().await.map_err(|e| CliError::Transport { detail: error_chain(&e) })? {
                Some(c) => self.buf.extend_from_slice(&c),
                None => {
                    // A last event without a trailing newline.
                    if self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
                        self.buf.push(b'\n');
                        continue;
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// Take one complete JSON line off the front of `buf`, if there is one.
fn split_event(buf: &mut Vec<u8>) -> Result<Option<WatchEvent>, CliError> {
    while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=pos).collect();
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = serde_json::from_slice(&line)
            .map_err(|e| CliError::msg(format!("invalid watch event from the server: {e}")))?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let object = v.get("object").cloned().unwrap_or(Value::Null);
        return Ok(Some(WatchEvent { kind, object }));
    }
    Ok(None)
}

/// The text of a `Warning: 299 - "text"` header.
fn warning_text(h: &str) -> &str {
    let rest = h.strip_prefix("299 - ").or_else(|| h.split_once(" - ").map(|x| x.1)).unwrap_or(h);
    rest.trim().trim_matches('"')
}

/// Flatten an error and its sources into one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Map a reqwest failure to kubectl's messages.
fn transport_error(e: &reqwest::Error, url: &Url) -> CliError {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return refused(url);
        }
        cur = err.source();
    }
    let chain = error_chain(e);
    if chain.contains("Connection refused") || chain.contains("connection refused") {
        return refused(url);
    }
    // reqwest's head ("error sending request for url (...)") repeats the URL;
    // the causes after it say what went wrong.
    let detail = match chain.split_once(": ") {
        Some((head, rest)) if head.starts_with("error sending request") => rest.to_string(),
        _ => chain,
    };
    CliError::Transport { detail }
}

fn refused(url: &Url) -> CliError {
    let host = match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.to_string(),
    };
    CliError::ConnectionRefused { host }
}

/// The rustls configuration for the kubeconfig's trust and identity (no ALPN).
pub fn tls_config(access: &ClusterAccess) -> Result<rustls::ClientConfig, CliError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::msg(format!("TLS setup: {e}")))?;
    let builder = if access.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let (pem, origin) = match &access.ca_pem {
            Some(p) => (p.clone(), "the kubeconfig's certificate authority"),
            None => (std::fs::read(SYSTEM_CA_BUNDLE).map_err(|e| CliError::io(SYSTEM_CA_BUNDLE, e))?, SYSTEM_CA_BUNDLE),
        };
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| CliError::msg(format!("invalid PEM in {origin}: {e}")))?;
            roots.add(cert).map_err(|e| CliError::msg(format!("invalid certificate in {origin}: {e}")))?;
        }
        if roots.is_empty() {
            return Err(CliError::msg(format!("no certificate found in {origin}")));
        }
        builder.with_root_certificates(roots)
    };
    match &access.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_pem, key_pem)) => {
            let certs = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CliError::msg(format!("invalid client certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem)
                .map_err(|e| CliError::msg(format!("invalid client key: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| CliError::msg(format!("invalid client certificate/key: {e}")))
        }
    }
}

/// `insecure-skip-tls-verify`: accept any certificate, but still check the
/// handshake signatures so the connection is at least consistent.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_watch_lines() {
        let mut buf = b"{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n\n{\"type\":\"DEL".to_vec();
        let ev = split_event(&mut buf).unwrap().unwrap();
        assert_eq!(ev.kind, "ADDED");
        assert_eq!(ev.object["a"], 1);
        assert!(split_event(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"ETED\",\"object\":{}}\n");
        assert_eq!(split_event(&mut buf).unwrap().unwrap().kind, "DELETED");
        assert!(buf.is_empty());
    }

    #[test]
    fn warning_header_text() {
        assert_eq!(warning_text("299 - \"unknown field x\""), "unknown field x");
        assert_eq!(warning_text("plain"), "plain");
    }

    #[test]
    fn url_escapes_query_values() {
        let access = ClusterAccess {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: None,
            insecure: true,
            token: None,
            client_identity: None,
            namespace: "default".into(),
        };
        let c = Client::new(&access, None, 0).unwrap();
        let u = c.url("/api/v1/namespaces/default/pods", &[("labelSelector", "app=web".into())]);
        assert_eq!(u.as_str(), "https://127.0.0.1:6443/api/v1/namespaces/default/pods?labelSelector=app%3Dweb");
    }
}
