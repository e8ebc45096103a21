//! The HTTP GET of `httpGet` probes and lifecycle hooks, as kubelet's
//! prober does it: a fresh connection per request (keep-alives off), TLS
//! without certificate verification for `scheme: HTTPS`, `User-Agent:
//! kube-probe/<major>.<minor>` and `Accept: */*` unless the handler sets
//! them, a `Host` header taken from the handler's headers, at most 10 KiB of
//! body read, and redirects followed only while they stay on the same host
//! (a redirect elsewhere ends the request with that 3xx response). Errors
//! read like Go's `Get "<url>": <cause>`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::net::{Dest, Target, connect, join_host_port};

/// kubelet's user agent ("kube-probe/1.35"); hooks use "kube-lifecycle/1.35".
pub const K8S_MINOR_VERSION: &str = "1.35";
/// Most of a response body kubelet reads.
const MAX_BODY: usize = 10 * 1024;
const MAX_REDIRECTS: usize = 10;

/// One GET, resolved from an `HTTPGetAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGet {
    pub https: bool,
    /// The action's `host`; empty: the pod.
    pub host: Option<String>,
    pub port: u16,
    /// Path and query ("/" when the action gives none).
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Up to 10 KiB of the body, lossily decoded.
    pub body: String,
}

/// Send `req` to the pod (or the action's host). `purpose` is "probe" or
/// "lifecycle" (the user agent). Errors are Go-worded.
pub async fn get(target: &Target, req: &HttpGet, purpose: &str, timeout: Duration) -> Result<HttpResponse, String> {
    let dest = target.dest(req.host.as_deref()).map_err(|e| e.to_string())?;
    // Go's URL puts a "/" between host and a relative path ("healthz").
    let mut req = req.clone();
    if !req.path.starts_with('/') {
        req.path.insert(0, '/');
    }
    let req = &req;
    let first_url = url(req.https, &dest.host, req.port, &req.path);
    match tokio::time::timeout(timeout, follow(&dest, req, purpose, timeout)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "Get \"{first_url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

fn url(https: bool, host: &str, port: u16, path: &str) -> String {
    format!("{}://{}{}", if https { "https" } else { "http" }, join_host_port(host, port), path)
}

/// Send, following same-host redirects.
async fn follow(dest: &Dest, req: &HttpGet, purpose: &str, timeout: Duration) -> Result<HttpResponse, String> {
    let (mut https, mut port, mut path) = (req.https, req.port, req.path.clone());
    for _ in 0..=MAX_REDIRECTS {
        let u = url(https, &dest.host, port, &path);
        let (status, location, body) = send_once(dest, https, port, &path, req, purpose, timeout)
            .await
            .map_err(|e| format!("Get \"{u}\": {e}"))?;
        let Some(loc) = location.filter(|_| (300..400).contains(&status)) else {
            return Ok(HttpResponse { status, body });
        };
        match resolve_location(&loc, https, &dest.host, port, &path) {
            // Another host: kubelet stops (http.ErrUseLastResponse) and reports this response.
            Redirect::Elsewhere => return Ok(HttpResponse { status, body }),
            Redirect::Same { https: s, port: p, path: np } => {
                (https, port, path) = (s, p, np);
            }
        }
    }
    Err(format!("Get \"{}\": stopped after {MAX_REDIRECTS} redirects", url(https, &dest.host, port, &path)))
}

#[derive(Debug, PartialEq, Eq)]
enum Redirect {
    Same { https: bool, port: u16, path: String },
    Elsewhere,
}

/// Where a `Location` header points, relative to the current request.
fn resolve_location(loc: &str, https: bool, host: &str, port: u16, path: &str) -> Redirect {
    let absolute =
        loc.strip_prefix("http://").map(|r| (false, r)).or_else(|| loc.strip_prefix("https://").map(|r| (true, r)));
    if let Some((s, rest)) = absolute {
        let (authority, p) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (h, explicit_port) = split_authority(authority);
        if !h.eq_ignore_ascii_case(host) {
            return Redirect::Elsewhere;
        }
        let default_port = if s { 443 } else { 80 };
        return Redirect::Same { https: s, port: explicit_port.unwrap_or(default_port), path: p.to_owned() };
    }
    let new_path = if loc.starts_with('/') {
        loc.to_owned()
    } else {
        let base = path.split('?').next().unwrap_or("/");
        let dir = &base[..base.rfind('/').map(|i| i + 1).unwrap_or(0)];
        format!("{}{loc}", if dir.is_empty() { "/" } else { dir })
    };
    Redirect::Same { https, port, path: new_path }
}

fn split_authority(a: &str) -> (&str, Option<u16>) {
    if let Some(rest) = a.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (h, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match a.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()),
        None => (a, None),
    }
}

/// One request on a new connection: (status, Location, body).
async fn send_once(
    dest: &Dest,
    https: bool,
    port: u16,
    path: &str,
    req: &HttpGet,
    purpose: &str,
    timeout: Duration,
) -> Result<(u16, Option<String>, String), String> {
    let tcp = connect(dest, port, timeout).await.map_err(|e| e.to_string())?;
    let authority = join_host_port(&dest.host, port);
    let mut b = http::Request::builder().method("GET").uri(if path.is_empty() { "/" } else { path });
    let has = |name: &str| req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let host_header = req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone());
    b = b.header(http::header::HOST, host_header.unwrap_or(authority));
    if !has("user-agent") {
        b = b.header(http::header::USER_AGENT, format!("kube-{purpose}/{K8S_MINOR_VERSION}"));
    }
    if !has("accept") {
        b = b.header(http::header::ACCEPT, "*/*");
    }
    // Host went into the request line's header above; an empty Accept means "send none".
    let sent =
        |k: &str, v: &str| !(k.eq_ignore_ascii_case("host") || (k.eq_ignore_ascii_case("accept") && v.is_empty()));
    for (k, v) in req.headers.iter().filter(|(k, v)| sent(k, v)) {
        b = b.header(k.as_str(), v.as_str());
    }
    b = b.header(http::header::CONNECTION, "close");
    let request = b.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    if https {
        let tls = tls_connector().connect(server_name(&dest.host), tcp).await.map_err(|e| format!("tls: {e}"))?;
        exchange(tls, request).await
    } else {
        exchange(tcp, request).await
    }
}

async fn exchange<S>(io: S, request: http::Request<Empty<Bytes>>) -> Result<(u16, Option<String>, String), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    // The connection task ends with the response (Connection: close).
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let location = resp.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body = resp.into_body();
    let mut data = Vec::new();
    while data.len() < MAX_BODY {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Some(chunk) = f.data_ref() {
                    data.extend_from_slice(chunk);
                }
            }
            // A body cut short after the headers still answers the probe.
            Some(Err(_)) | None => break,
        }
    }
    data.truncate(MAX_BODY);
    Ok((status, location, String::from_utf8_lossy(&data).into_owned()))
}

fn server_name(host: &str) -> rustls::pki_types::ServerName<'static> {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
        Err(_) => rustls::pki_types::ServerName::try_from(host.to_owned())
            .unwrap_or_else(|_| rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())),
    }
}

/// kubelet probes HTTPS endpoints with `InsecureSkipVerify: true`.
fn tls_connector() -> tokio_rustls::TlsConnector {
    static CONNECTOR: std::sync::OnceLock<tokio_rustls::TlsConnector> = std::sync::OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("the default provider supports the default protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        })
        .clone()
}

/// Accepts any server certificate; signatures are still checked, so the
/// handshake itself stays sound.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection-per-answer HTTP server: answers the scripted raw
    /// responses in order and records each request's head.
    async fn server(answers: Vec<String>) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let mut seen = Vec::new();
            for a in answers {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                seen.push(String::from_utf8_lossy(&head).into_owned());
                s.write_all(a.as_bytes()).await.unwrap();
                let _ = s.shutdown().await;
            }
            seen
        });
        (port, h)
    }

    fn req(port: u16, path: &str, headers: &[(&str, &str)]) -> HttpGet {
        HttpGet {
            https: false,
            host: None,
            port,
            path: path.into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn local() -> Target {
        Target { pod_ip: Some("127.0.0.1".into()), netns: None }
    }

    #[tokio::test]
    async fn sends_kubelet_headers_and_reads_the_status() {
        let (port, h) = server(vec!["HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".into()]).await;
        let r = get(
            &local(),
            &req(port, "healthz?full=1", &[("X-Probe", "yes"), ("Host", "web.local")]),
            "probe",
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        assert_eq!(r, HttpResponse { status: 503, body: "busy".into() });
        let head = h.await.unwrap().remove(0).to_ascii_lowercase();
        assert!(head.starts_with("get /healthz?full=1 http/1.1\r\n"), "{head}");
        for line in ["host: web.local", "user-agent: kube-probe/1.35", "accept: */*", "x-probe: yes"] {
            assert!(head.contains(line), "{line} in {head}");
        }
    }

    #[tokio::test]
    async fn follows_same_host_redirects_only() {
        let (port, h) = server(vec![
            "HTTP/1.1 302 Found\r\nLocation: /ready\r\nContent-Length: 0\r\n\r\n".into(),
            "HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.example/x\r\nContent-Length: 3\r\n\r\nbye".into(),
        ])
        .await;
        let r = get(&local(), &req(port, "/start", &[]), "probe", Duration::from_secs(2)).await.unwrap();
        assert_eq!(r, HttpResponse { status: 301, body: "bye".into() });
        let seen = h.await.unwrap();
        assert!(seen[1].starts_with("GET /ready "), "{seen:?}");
    }

    #[tokio::test]
    async fn timeouts_and_refusals_read_like_go() {
        // Accepts but never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let e = get(&local(), &req(port, "/", &[]), "probe", Duration::from_millis(300)).await.unwrap_err();
        assert_eq!(
            e,
            format!(
                "Get \"http://127.0.0.1:{port}/\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )
        );
        hold.abort();
        let _ = hold.await; // the listener is closed once the task is gone
        let e = get(&local(), &req(port, "/x", &[]), "probe", Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(
            e,
            format!("Get \"http://127.0.0.1:{port}/x\": dial tcp 127.0.0.1:{port}: connect: connection refused")
        );
    }

    #[test]
    fn locations() {
        assert_eq!(
            resolve_location("/b", false, "10.0.0.1", 8080, "/a"),
            Redirect::Same { https: false, port: 8080, path: "/b".into() }
        );
        assert_eq!(
            resolve_location("c?x=1", false, "10.0.0.1", 8080, "/a/b?q"),
            Redirect::Same { https: false, port: 8080, path: "/a/c?x=1".into() }
        );
        assert_eq!(
            resolve_location("https://10.0.0.1:8443/s", false, "10.0.0.1", 8080, "/"),
            Redirect::Same { https: true, port: 8443, path: "/s".into() }
        );
        assert_eq!(resolve_location("http://other/", false, "10.0.0.1", 80, "/"), Redirect::Elsewhere);
        assert_eq!(split_authority("[fd00::1]:81"), ("fd00::1", Some(81)));
    }
}
