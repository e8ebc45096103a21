//! Remote command (exec, attach) over SPDY/3.1 (kubectl-wire.md §10.4).
//!
//! The handshake picks a `X-Stream-Protocol-Version` from the client's
//! offer. After the 101 the client opens one stream per channel (`error`,
//! `stdin`, `stdout`, `stderr`, `resize`); as the kubelet, we start the
//! process only once every expected stream exists. stdin's FIN is the
//! client's EOF. At the end the status goes on the error stream (JSON from
//! v4 on, the message text before), then FIN on every stream we write,
//! GOAWAY, and the connection is closed once kubectl answers.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use peapod_api::ApiError;

use super::spdy::{SpdySession, SpdyStream};
use super::{Input, Output, Session, StreamOptions, Version, header_list, parse_resizes, status_text};
use crate::error::HttpResult;

/// How long the client may take to open its streams (the kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long we wait for the client to close after our GOAWAY.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Answer the SPDY upgrade of `req` and run `session` on the connection.
pub(crate) fn serve_spdy(mut req: Request, session: Session) -> HttpResult<Response> {
    let offered = header_list(req.headers(), "X-Stream-Protocol-Version");
    let version = Version::negotiate_spdy(&offered).ok_or_else(|| {
        ApiError::forbidden(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports \
             [v5.channel.k8s.io v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]"
        ))
    })?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => run(TokioIo::new(upgraded), version, session).await,
            Err(e) => tracing::debug!(error = %e, "SPDY upgrade"),
        }
    });
    Ok(switching_protocols((!offered.is_empty()).then(|| version.spdy_name())))
}

/// The 101 answer to a SPDY upgrade, with the chosen stream protocol.
pub(crate) fn switching_protocols(protocol: Option<&str>) -> Response {
    let mut b = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1");
    if let Some(p) = protocol {
        b = b.header("X-Stream-Protocol-Version", p);
    }
    b.body(Body::empty()).expect("static response parts")
}

/// The stream types the client will open for these options.
fn expected_streams(o: &StreamOptions, version: Version) -> Vec<&'static str> {
    let mut v = vec!["error"];
    if o.stdin {
        v.push("stdin");
    }
    if o.stdout {
        v.push("stdout");
    }
    if o.stderr {
        v.push("stderr");
    }
    if o.tty && version >= Version::V3 {
        v.push("resize");
    }
    v
}

async fn run<S>(io: S, version: Version, session: Session)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (spdy, mut incoming) = SpdySession::start(io);
    let expected = expected_streams(&session.opts, version);
    let mut streams: HashMap<String, SpdyStream> = HashMap::new();
    let deadline = tokio::time::sleep(STREAM_CREATION_TIMEOUT);
    tokio::pin!(deadline);
    while !expected.iter().all(|t| streams.contains_key(*t)) {
        tokio::select! {
            s = incoming.recv() => match s {
                Some(s) => {
                    let kind = s.headers.get("streamtype").unwrap_or("").to_owned();
                    streams.insert(kind, s);
                }
                None => return,
            },
            _ = &mut deadline => {
                tracing::debug!("timed out waiting for the client to create streams");
                spdy.finish(CLOSE_LINGER).await;
                return;
            }
        }
    }
    let ids: HashMap<String, u32> = streams.iter().map(|(k, s)| (k.clone(), s.id)).collect();
    let (in_tx, in_rx) = mpsc::channel::<Input>(16);
    if let Some(mut s) = streams.remove("stdin") {
        let tx = in_tx.clone();
        tokio::spawn(async move {
            while let Some(d) = s.data.recv().await {
                if tx.send(Input::Stdin(d)).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Input::StdinEof).await;
        });
    }
    if let Some(mut s) = streams.remove("resize") {
        let tx = in_tx.clone();
        tokio::spawn(async move {
            while let Some(d) = s.data.recv().await {
                for size in parse_resizes(&d) {
                    if tx.send(Input::Resize(size)).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    // The input channel stays open while the connection does: its end
    // tells the session that the client went away.
    tokio::spawn(async move {
        while incoming.recv().await.is_some() {}
        drop(in_tx);
    });
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(16);
    let driver = tokio::spawn(super::drive(session, in_rx, out_tx));
    let w = spdy.writer.clone();
    while let Some(o) = out_rx.recv().await {
        let sent = match o {
            Output::Stdout(d) => w.data(ids.get("stdout").copied().unwrap_or(0), d).await,
            Output::Stderr(d) => w.data(ids.get("stderr").copied().unwrap_or(0), d).await,
            Output::Exit(status) => {
                let body = if version >= Version::V4 {
                    Some(serde_json::to_vec(&status).unwrap_or_default())
                } else {
                    status_text(&status).map(String::into_bytes)
                };
                if let (Some(b), Some(id)) = (body, ids.get("error")) {
                    let _ = w.data(*id, b.into()).await;
                }
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
    for kind in ["stdout", "stderr", "error"] {
        if let Some(id) = ids.get(kind) {
            let _ = w.fin(*id).await;
        }
    }
    drop(w);
    spdy.finish(CLOSE_LINGER).await;
    driver.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expects_the_streams_kubectl_opens() {
        let o = |stdin, stdout, stderr, tty| StreamOptions { stdin, stdout, stderr, tty };
        assert_eq!(expected_streams(&o(false, true, true, false), Version::V4), ["error", "stdout", "stderr"]);
        assert_eq!(expected_streams(&o(true, true, true, false), Version::V4), ["error", "stdin", "stdout", "stderr"]);
        assert_eq!(expected_streams(&o(true, true, false, true), Version::V5), ["error", "stdin", "stdout", "resize"]);
        assert_eq!(expected_streams(&o(true, true, false, true), Version::V2), ["error", "stdin", "stdout"]);
    }

    #[test]
    fn negotiates_the_best_offered_version() {
        let offer = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let v = offer(&["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]);
        assert_eq!(Version::negotiate_spdy(&v), Some(Version::V4));
        assert_eq!(Version::negotiate_spdy(&offer(&["v5.channel.k8s.io", "v4.channel.k8s.io"])), Some(Version::V5));
        assert_eq!(Version::negotiate_spdy(&[]), Some(Version::V1));
        assert_eq!(Version::negotiate_spdy(&offer(&["portforward.k8s.io"])), None);
    }
}
