//! The HTTPS listener: rustls with ALPN h2 + http/1.1 (kubectl uses HTTP/2
//! when offered; its exec/attach upgrades offer no ALPN and get HTTP/1.1),
//! bearer-token authentication, and the router.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use peapod_api::ApiError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use crate::error::HttpError;
use crate::{AppState, Pki, discovery, handlers, images};

/// Largest request body accepted for API objects (the apiserver's limit is 3 MiB).
pub const MAX_OBJECT_BODY: usize = 3 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(health))
        .route("/version", get(discovery::version))
        .route("/api", get(discovery::api))
        .route("/apis", get(discovery::apis))
        .route("/openapi/v2", get(discovery::openapi_v2))
        .route("/openapi/v3", get(discovery::openapi_v3_index))
        .route("/openapi/v3/{*path}", get(discovery::openapi_v3_doc))
        .route("/api/v1", get(discovery::api_v1))
        .route("/api/v1/{*rest}", any(handlers::dispatch))
        .route("/apis/{group}", get(discovery::api_group))
        .route("/apis/{group}/{version}", get(discovery::group_version))
        .route("/apis/{group}/{version}/{*rest}", any(handlers::dispatch))
        .route("/peapod/v1/images", get(images::list))
        .route("/peapod/v1/images/import", axum::routing::post(images::import))
        .route("/peapod/v1/images/pull", axum::routing::post(images::pull))
        .route("/peapod/v1/images/load", axum::routing::post(images::load))
        .route("/peapod/v1/images/save", get(images::save))
        .route("/peapod/v1/images/prune", axum::routing::post(images::prune))
        .route("/peapod/v1/images/{*reference}", get(images::inspect).delete(images::remove))
        .route("/metrics", get(crate::metrics::serve))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .with_state(state)
}

async fn health() -> &'static str {
    "ok"
}

async fn not_found() -> HttpError {
    HttpError(ApiError::unknown_path())
}

/// Every endpoint but the health checks needs the bearer token.
async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/livez" | "/readyz") {
        return next.run(req).await;
    }
    let ok = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| crate::pki::token_matches(&state.token, t.trim()));
    if !ok {
        let mut r = HttpError(ApiError::unauthorized()).into_response();
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    next.run(req).await
}

fn tls_config(pki: &Pki) -> std::io::Result<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| std::io::Error::other(format!("server certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes())
        .map_err(|e| std::io::Error::other(format!("server key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| std::io::Error::other(format!("TLS setup: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Serve HTTPS on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    pki: &Pki,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(pki)?));
    let service = TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = service.clone();
        tokio::spawn(async move {
            // A slow or silent client must not hold a task forever.
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake");
                    return;
                }
                Err(_) => return,
            };
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(tls), service).await {
                tracing::debug!(%peer, error = %e, "connection");
            }
        });
    }
}
