//! The HTTP side of the distribution protocol: requests to `/v2/<repo>/…`,
//! authentication on 401, plain HTTP for insecure registries, and the
//! registry's error bodies turned into [`ImageError`]s.
//!
//! One [`RegistryClient`] lives as long as the store: it holds the two
//! connection pools (verified TLS, and unverified TLS for insecure
//! registries), the bearer tokens by scope, and which insecure hosts speak
//! plain HTTP. A [`Session`] is one repository on one endpoint with one set
//! of credentials; the layers of a pull share it, and with it the
//! `Authorization` header, so only the first request meets the 401.
//!
//! Insecure registries are tried over HTTPS without certificate checks
//! first (credentials never go out in clear text to a registry that has
//! TLS); if the TLS connection cannot be made, plain HTTP, and the answer
//! is remembered per host, as dockerd does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_RANGE, CONTENT_TYPE, RANGE, WWW_AUTHENTICATE};
use serde::Deserialize;

use super::auth::{Challenge, Credentials, parse_challenges};
use super::config::Endpoint;
use super::media::MANIFEST_ACCEPT;
use crate::digest::Digest;
use crate::error::ImageError;

/// Largest manifest accepted (the distribution spec's recommended cap).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;
/// Lifetime of a token whose response names none (the spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Refresh tokens this long before they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(5);

/// Connection pools, tokens and per-host scheme decisions for all pulls.
pub(crate) struct RegistryClient {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    /// Insecure hosts and whether they speak plain HTTP (`true`) or TLS.
    plain_http: Mutex<HashMap<String, bool>>,
    tokens: Mutex<HashMap<TokenKey, (String, Instant)>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    realm: String,
    service: Option<String>,
    scope: String,
    credentials: Option<Credentials>,
}

impl RegistryClient {
    pub(crate) fn new() -> Result<Self, ImageError> {
        let build = |accept_invalid: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("peapod/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                // Between two reads of a body, not for the whole transfer:
                // a large layer may take minutes, a stalled one may not.
                .read_timeout(Duration::from_secs(60))
                .tls_danger_accept_invalid_certs(accept_invalid)
                .build()
                .map_err(|e| ImageError::Transport { url: "(client setup)".into(), source: e })
        };
        Ok(Self {
            verified: build(false)?,
            unverified: build(true)?,
            plain_http: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// A session for one repository on one endpoint.
    pub(crate) fn session(&self, endpoint: Endpoint, credentials: Option<Credentials>) -> Session<'_> {
        Session { client: self, endpoint, credentials, authorization: Mutex::new(None) }
    }

    fn http(&self, insecure: bool) -> &reqwest::Client {
        if insecure { &self.unverified } else { &self.verified }
    }
}

/// A fetched manifest document.
pub(crate) struct FetchedManifest {
    /// The bytes exactly as served (they are what the digest covers).
    pub(crate) bytes: Vec<u8>,
    /// `Content-Type`, if any.
    pub(crate) content_type: Option<String>,
    /// Digest of the bytes (checked against the request and the
    /// `Docker-Content-Digest` header).
    pub(crate) digest: Digest,
}

/// One repository on one endpoint, as one identity.
pub(crate) struct Session<'a> {
    client: &'a RegistryClient,
    pub(crate) endpoint: Endpoint,
    credentials: Option<Credentials>,
    /// The `Authorization` value that last worked.
    authorization: Mutex<Option<String>>,
}

/// The JSON error body of the distribution spec.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Session<'_> {
    /// Whether this session sends credentials.
    pub(crate) fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// `GET /v2/<repo>/manifests/<tag or digest>` with the full Accept list;
    /// the body is read (capped) and its digest checked against `expected`
    /// (for digest references) and the `Docker-Content-Digest` header.
    pub(crate) async fn get_manifest(
        &self,
        tag_or_digest: &str,
        expected: Option<&Digest>,
    ) -> Result<FetchedManifest, ImageError> {
        let what = format!("manifests/{tag_or_digest}");
        let mut resp = self.get(&what, Some(MANIFEST_ACCEPT), None).await?;
        let url = resp.url().to_string();
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_SIZE) {
            return Err(ImageError::TooLarge { what: "manifest", limit: MAX_MANIFEST_SIZE });
        }
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_type = header(CONTENT_TYPE.as_str());
        let announced = header("docker-content-digest");
        let mut bytes = Vec::new();
        while let Some(chunk) =
            resp.chunk().await.map_err(|source| ImageError::Transport { url: url.clone(), source })?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_MANIFEST_SIZE {
                return Err(ImageError::TooLarge { what: "manifest", limit: MAX_MANIFEST_SIZE });
            }
        }
        let digest = Digest::of_bytes(&bytes);
        if let Some(want) = expected
            && &digest != want
        {
            return Err(ImageError::DigestMismatch { expected: want.to_string(), actual: digest.to_string() });
        }
        // The header is advisory for tags, but a registry that announces one
        // digest and serves other bytes is serving something broken.
        if let Some(announced) = announced.as_deref().filter(|a| a.starts_with("sha256:"))
            && announced != digest.to_string()
        {
            return Err(ImageError::DigestMismatch { expected: announced.to_string(), actual: digest.to_string() });
        }
        Ok(FetchedManifest { bytes, content_type, digest })
    }

    /// `GET /v2/<repo>/blobs/<digest>`, from byte `offset` on (a `Range`
    /// request when > 0). Returns the response and whether it starts at
    /// `offset` (`206`) or at 0 (`200`: the registry ignored the range).
    pub(crate) async fn get_blob(&self, digest: &Digest, offset: u64) -> Result<(reqwest::Response, u64), ImageError> {
        let resp = self.get(&format!("blobs/{digest}"), None, (offset > 0).then_some(offset)).await?;
        if resp.status() == StatusCode::PARTIAL_CONTENT {
            let start = resp
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start == Some(offset) {
                return Ok((resp, offset));
            }
            return Err(ImageError::RegistryStatus {
                url: resp.url().to_string(),
                status: 206,
                detail: format!("Content-Range does not start at the requested offset {offset}"),
            });
        }
        Ok((resp, 0))
    }

    /// A GET under `/v2/<repo>/` that answers 2xx, authenticating once on
    /// a 401.
    async fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        range_from: Option<u64>,
    ) -> Result<reqwest::Response, ImageError> {
        let mut authenticated = false;
        loop {
            let resp = self.send(path, accept, range_from).await?;
            match resp.status() {
                s if s.is_success() => return Ok(resp),
                StatusCode::UNAUTHORIZED if !authenticated => {
                    let challenges: Vec<Challenge> = resp
                        .headers()
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(parse_challenges)
                        .collect();
                    let header = self.authenticate(&challenges).await?;
                    *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(header);
                    authenticated = true;
                }
                _ => return Err(self.status_error(resp).await),
            }
        }
    }

    async fn send(
        &self,
        path: &str,
        accept: Option<&str>,
        range_from: Option<u64>,
    ) -> Result<reqwest::Response, ImageError> {
        let ep = &self.endpoint;
        let known_plain = if ep.insecure {
            self.client.plain_http.lock().unwrap_or_else(|e| e.into_inner()).get(&ep.host).copied()
        } else {
            Some(false)
        };
        let try_send = |scheme: &str| {
            let url = format!("{scheme}://{}/v2/{}/{path}", ep.host, ep.repository);
            let mut req = self.client.http(ep.insecure).get(&url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if let Some(from) = range_from {
                req = req.header(RANGE, format!("bytes={from}-"));
            }
            if let Some(auth) = self.authorization.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                req = req.header(AUTHORIZATION, auth);
            }
            async move { req.send().await.map_err(|source| ImageError::Transport { url, source }) }
        };
        match known_plain {
            Some(plain) => try_send(if plain { "http" } else { "https" }).await,
            None => match try_send("https").await {
                Ok(resp) => {
                    self.remember_scheme(false);
                    Ok(resp)
                }
                Err(ImageError::Transport { source, .. }) if source.is_connect() => {
                    let resp = try_send("http").await?;
                    tracing::debug!(host = %ep.host, "insecure registry speaks plain HTTP");
                    self.remember_scheme(true);
                    Ok(resp)
                }
                Err(e) => Err(e),
            },
        }
    }

    fn remember_scheme(&self, plain: bool) {
        self.client.plain_http.lock().unwrap_or_else(|e| e.into_inner()).insert(self.endpoint.host.clone(), plain);
    }

    /// Answer a 401: a bearer token from the challenge's realm, or basic
    /// credentials. Returns the `Authorization` value to use.
    async fn authenticate(&self, challenges: &[Challenge]) -> Result<String, ImageError> {
        let registry = self.endpoint.host.clone();
        let bearer = challenges.iter().find_map(|c| match c {
            Challenge::Bearer { realm, service, scope } => Some((realm, service, scope)),
            Challenge::Basic => None,
        });
        if let Some((realm, service, scope)) = bearer {
            let scope = scope.clone().unwrap_or_else(|| format!("repository:{}:pull", self.endpoint.repository));
            let key = TokenKey {
                realm: realm.clone(),
                service: service.clone(),
                scope: scope.clone(),
                credentials: self.credentials.clone(),
            };
            if let Some((token, expires)) = self.client.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
                && *expires > Instant::now()
            {
                return Ok(format!("Bearer {token}"));
            }
            let (token, lifetime) = self.fetch_token(realm, service.as_deref(), &scope).await?;
            let expires = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
            self.client.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (token.clone(), expires));
            return Ok(format!("Bearer {token}"));
        }
        if challenges.contains(&Challenge::Basic) {
            return match &self.credentials {
                Some(c) => Ok(c.basic_header()),
                None => Err(ImageError::Unauthorized {
                    name: self.endpoint.name(),
                    detail: "authentication required and no credentials were given".into(),
                }),
            };
        }
        Err(ImageError::Unauthorized {
            name: self.endpoint.name(),
            detail: format!("the registry {registry} answered 401 without a usable WWW-Authenticate challenge"),
        })
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(String, Duration), ImageError> {
        let mut url = reqwest::Url::parse(realm).map_err(|e| ImageError::RegistryStatus {
            url: realm.to_string(),
            status: 401,
            detail: format!("invalid token realm: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = self.client.http(self.endpoint.insecure).get(url.clone());
        if let Some(c) = &self.credentials {
            req = req.header(AUTHORIZATION, c.basic_header());
        }
        let resp = req.send().await.map_err(|source| ImageError::Transport { url: url.to_string(), source })?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let detail = error_detail(resp).await;
                return Err(ImageError::Unauthorized { name: self.endpoint.name(), detail: self.denied(&detail) });
            }
            _ => return Err(self.status_error(resp).await),
        }
        let body: TokenResponse =
            resp.json().await.map_err(|source| ImageError::Transport { url: url.to_string(), source })?;
        let token =
            body.token.or(body.access_token).filter(|t| !t.is_empty()).ok_or_else(|| ImageError::RegistryStatus {
                url: url.to_string(),
                status: 200,
                detail: "token response has no token".into(),
            })?;
        let lifetime = body.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok((token, lifetime))
    }

    /// Why credentials were refused, for the message.
    fn denied(&self, server: &str) -> String {
        let ours = if self.credentials.is_some() {
            "the registry rejected the credentials (wrong user name or password?)"
        } else {
            "authentication required and no credentials were given"
        };
        if server.is_empty() { ours.to_string() } else { format!("{ours}; server message: {server}") }
    }

    async fn status_error(&self, resp: reqwest::Response) -> ImageError {
        let status = resp.status();
        let url = resp.url().to_string();
        let detail = error_detail(resp).await;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                ImageError::Unauthorized { name: self.endpoint.name(), detail: self.denied(&detail) }
            }
            StatusCode::NOT_FOUND => ImageError::RegistryNotFound { url, detail },
            _ => ImageError::RegistryStatus { url, status: status.as_u16(), detail },
        }
    }
}

/// The registry's error message: `CODE: message` items of the spec's JSON
/// body, else the start of the body, else the status text.
async fn error_detail(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(&body)
        && !parsed.errors.is_empty()
    {
        return parsed
            .errors
            .iter()
            .map(|e| if e.message.is_empty() { e.code.clone() } else { format!("{}: {}", e.code, e.message) })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
    if text.is_empty() { status.to_string() } else { format!("{status}: {text}") }
}
