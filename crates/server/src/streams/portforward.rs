//! `pods/portforward` over SPDY (`portforward.k8s.io`), directly (kubectl
//! ≤ 1.30) or tunnelled in a WebSocket (`SPDY/3.1+portforward.k8s.io`,
//! kubectl ≥ 1.31), as the kubelet serves it.
//!
//! For each local connection kubectl opens two SPDY streams carrying the
//! same `port` and `requestID` headers: `streamType: error` (which it
//! half-closes at once and reads to the end) and `streamType: data`. Once a
//! pair is complete we connect to the port inside the pod's network
//! namespace (through [`crate::NodeAccess::port_forward`]) and copy bytes
//! both ways; a failure is written as text on the error stream. When the
//! pod side ends we half-close the data and error streams, which is what
//! kubectl waits for before it closes the local connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use peapod_api::ApiError;

use super::spdy::{RST_PROTOCOL_ERROR, SpdySession, SpdyStream, SpdyWriter};
use super::{Transport, header_list, transport};
use crate::error::HttpResult;
use crate::handlers::Target;
use crate::query::Query;
use crate::{AppState, NodeAccess};

const PROTOCOL: &str = "portforward.k8s.io";
const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// How long the pod side may keep sending after the client's side ended.
const HALF_CLOSE_LINGER: Duration = Duration::from_secs(1);
const CLOSE_LINGER: Duration = Duration::from_secs(2);

pub async fn serve(st: &AppState, t: &Target, _q: &Query, mut req: Request) -> HttpResult<Response> {
    let name = t.name.clone().unwrap_or_default();
    let pod = st.store.get(&t.key()).ok_or_else(|| ApiError::not_found("pods", &name))?;
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return Err(ApiError::bad_request(format!("pod {name} is not running")).into());
    }
    let target =
        Forwarding { node: st.node.clone(), pod: name, uid: peapod_api::static_pod::runtime_uid(&pod).to_owned() };
    match transport(req.headers())? {
        Transport::Spdy => {
            let offered = header_list(req.headers(), "X-Stream-Protocol-Version");
            if !offered.is_empty() && !offered.iter().any(|p| p == PROTOCOL) {
                return Err(ApiError::forbidden(format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [{PROTOCOL}]"
                ))
                .into());
            }
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(u) => run(TokioIo::new(u), Arc::new(target)).await,
                    Err(e) => tracing::debug!(error = %e, "port-forward upgrade"),
                }
            });
            Ok(super::remotecommand::switching_protocols((!offered.is_empty()).then_some(PROTOCOL)))
        }
        Transport::WebSocket => {
            let (mut parts, _body) = req.into_parts();
            let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
                .await
                .map_err(|r| ApiError::bad_request(format!("unable to upgrade: {}", r.body_text())))?;
            if !ws.requested_protocols().any(|p| p == TUNNEL_PROTOCOL) {
                return Err(ApiError::bad_request(format!(
                    "unable to upgrade: port forwarding over WebSocket needs the {TUNNEL_PROTOCOL} subprotocol"
                ))
                .into());
            }
            let ws = ws.protocols([TUNNEL_PROTOCOL]);
            Ok(ws
                .on_upgrade(move |socket| async move {
                    run(super::tunnel::byte_stream(socket), Arc::new(target)).await;
                })
                .into_response())
        }
    }
}

/// The pod whose ports are forwarded.
struct Forwarding {
    node: Arc<dyn NodeAccess>,
    pod: String,
    uid: String,
}

/// The two streams of one forwarded connection.
#[derive(Default)]
struct Pair {
    data: Option<SpdyStream>,
    error: Option<SpdyStream>,
}

async fn run<S>(io: S, target: Arc<Forwarding>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (spdy, mut incoming) = SpdySession::start(io);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    while let Some(s) = incoming.recv().await {
        let port = s.headers.get("port").and_then(|p| p.parse::<u16>().ok()).filter(|p| *p > 0);
        let kind = s.headers.get("streamtype").unwrap_or("").to_owned();
        let (Some(port), "data" | "error") = (port, kind.as_str()) else {
            let _ = spdy.writer.reset(s.id, RST_PROTOCOL_ERROR).await;
            continue;
        };
        // Old clients send no requestID: pair by stream ids (error n, data n+2).
        let request = match s.headers.get("requestid") {
            Some(r) if !r.is_empty() => r.to_owned(),
            _ if kind == "error" => s.id.to_string(),
            _ => s.id.saturating_sub(2).to_string(),
        };
        let pair = pairs.entry(request.clone()).or_default();
        let slot = if kind == "data" { &mut pair.data } else { &mut pair.error };
        if slot.is_some() {
            let _ = spdy.writer.reset(s.id, RST_PROTOCOL_ERROR).await;
            continue;
        }
        *slot = Some(s);
        if pair.data.is_some() && pair.error.is_some() {
            let Pair { data: Some(data), error: Some(error) } = pairs.remove(&request).unwrap_or_default() else {
                continue;
            };
            tokio::spawn(forward(target.clone(), port, data, error, spdy.writer.clone()));
        }
    }
    spdy.finish(CLOSE_LINGER).await;
}

async fn forward(target: Arc<Forwarding>, port: u16, mut data: SpdyStream, error: SpdyStream, w: SpdyWriter) {
    // kubectl half-closes the error stream at once and never writes on it.
    drop(error.data);
    let conn = match target.node.port_forward(&target.uid, port).await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("error forwarding port {port} to pod {}, uid {}: {e}", target.pod, target.uid);
            let _ = w.data(error.id, Bytes::from(msg)).await;
            let _ = w.fin(error.id).await;
            let _ = w.fin(data.id).await;
            return;
        }
    };
    let (data_id, error_id) = (data.id, error.id);
    let (mut pod_r, mut pod_w) = conn.into_split();
    let up = async move {
        while let Some(chunk) = data.data.recv().await {
            if pod_w.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = pod_w.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match pod_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if w.data(data_id, Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = w.fin(data_id).await;
        let _ = w.fin(error_id).await;
    };
    tokio::pin!(up);
    tokio::pin!(down);
    tokio::select! {
        _ = &mut up => {
            // The client is done sending; the pod may still answer.
            let _ = tokio::time::timeout(Duration::from_secs(300), down).await;
        }
        _ = &mut down => {
            let _ = tokio::time::timeout(HALF_CLOSE_LINGER, up).await;
        }
    }
}
