//! Remote command over WebSocket: the `channel.k8s.io` subprotocol family
//! (kubectl-wire.md §10.3). Every message is one channel's data with the
//! channel number first: a byte in the binary protocols, an ASCII digit
//! followed by base64 in the `base64.` ones. Channels: 0 stdin, 1 stdout,
//! 2 stderr, 3 error (the final `Status`; plain text before v4), 4 resize,
//! 255 close (v5: `[255, 0]` = the client closed stdin).
//!
//! The session ends with the status on channel 3 and a close frame (code
//! 1000); kubectl answers with its own close. Pings are answered by the
//! WebSocket layer while we read (kubectl pings every 5 s and gives up
//! after about a minute without an answer).

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use peapod_api::ApiError;

use super::{Input, Output, Session, Version, parse_resizes, status_text};
use crate::error::HttpResult;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// How long we wait for the client's close frame after sending ours.
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// A negotiated WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Protocol {
    pub name: Option<&'static str>,
    pub version: Version,
    pub base64: bool,
}

/// What we speak, best first (the kubelet's list).
const PROTOCOLS: [(&str, Version, bool); 5] = [
    ("v5.channel.k8s.io", Version::V5, false),
    ("v4.channel.k8s.io", Version::V4, false),
    ("v4.base64.channel.k8s.io", Version::V4, true),
    ("channel.k8s.io", Version::V1, false),
    ("base64.channel.k8s.io", Version::V1, true),
];

impl Protocol {
    /// Choose from the client's offer. No offer at all is the legacy
    /// binary protocol; an offer of nothing we know is refused.
    pub(crate) fn negotiate(offered: &[String]) -> Option<Protocol> {
        if offered.is_empty() {
            return Some(Protocol { name: None, version: Version::V1, base64: false });
        }
        PROTOCOLS.iter().find(|(n, _, _)| offered.iter().any(|o| o == n)).map(|&(n, version, base64)| Protocol {
            name: Some(n),
            version,
            base64,
        })
    }

    fn encode(&self, channel: u8, data: &[u8]) -> Message {
        if self.base64 {
            let text = format!("{channel}{}", base64::engine::general_purpose::STANDARD.encode(data));
            return Message::text(text);
        }
        let mut b = BytesMut::with_capacity(data.len() + 1);
        b.put_u8(channel);
        b.extend_from_slice(data);
        Message::Binary(b.freeze())
    }

    /// A client message as (channel, payload).
    fn decode(&self, msg: &Message) -> Option<(u8, Bytes)> {
        match msg {
            Message::Binary(b) if !self.base64 && !b.is_empty() => Some((b[0], b.slice(1..))),
            // The Python client sends str data as text frames even on the
            // binary protocols; the kubelet takes any frame type too.
            Message::Text(t) if !self.base64 && !t.is_empty() => {
                let b = Bytes::copy_from_slice(t.as_str().as_bytes());
                Some((b[0], b.slice(1..)))
            }
            Message::Text(t) if self.base64 && !t.is_empty() => {
                let s = t.as_str();
                // A first character that is not one ASCII digit is no channel.
                let channel = s.get(..1)?.parse().ok()?;
                let data = base64::engine::general_purpose::STANDARD.decode(&s[1..]).ok()?;
                Some((channel, Bytes::from(data)))
            }
            _ => None,
        }
    }
}

/// The offered subprotocols of a WebSocket upgrade request.
fn offered(ws: &WebSocketUpgrade) -> Vec<String> {
    ws.requested_protocols().filter_map(|v| v.to_str().ok()).map(|s| s.trim().to_owned()).collect()
}

/// Upgrade `req` and run `session` over the WebSocket.
pub(crate) async fn serve_remote_command(req: Request, session: Session) -> HttpResult<Response> {
    let (mut parts, _body) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|r| ApiError::bad_request(format!("unable to upgrade: {}", r.body_text())))?;
    let offer = offered(&ws);
    let proto = Protocol::negotiate(&offer).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offer:?}, server supports {:?}",
            PROTOCOLS.iter().map(|p| p.0).collect::<Vec<_>>()
        ))
    })?;
    let ws = match proto.name {
        Some(n) => ws.protocols([n]),
        None => ws,
    };
    Ok(ws.on_upgrade(move |socket| run(socket, proto, session)).into_response())
}

async fn run(socket: WebSocket, proto: Protocol, session: Session) {
    let (mut sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<Input>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(16);
    let tty = session.opts.tty;
    let driver = tokio::spawn(super::drive(session, in_rx, out_tx));
    // Reading also sends the pongs; the input channel closes with the
    // connection, which tells the session that the client is gone.
    let mut reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            let Some((channel, data)) = proto.decode(&msg) else { continue };
            let events = match channel {
                STDIN if !data.is_empty() => vec![Input::Stdin(data)],
                RESIZE if tty => parse_resizes(&data).into_iter().map(Input::Resize).collect(),
                CLOSE if proto.version == Version::V5 && data.first() == Some(&STDIN) => vec![Input::StdinEof],
                _ => vec![],
            };
            for e in events {
                if in_tx.send(e).await.is_err() {
                    return;
                }
            }
        }
    });
    while let Some(o) = out_rx.recv().await {
        let msg = match o {
            Output::Stdout(d) => proto.encode(STDOUT, &d),
            Output::Stderr(d) => proto.encode(STDERR, &d),
            Output::Exit(status) => {
                let body = if proto.version >= Version::V4 {
                    Some(serde_json::to_vec(&status).unwrap_or_default())
                } else {
                    status_text(&status).map(String::into_bytes)
                };
                if let Some(b) = body {
                    let _ = sink.send(proto.encode(ERROR, &b)).await;
                }
                break;
            }
        };
        if sink.send(msg).await.is_err() {
            break;
        }
    }
    // End as kubectl expects: a close frame, then its close in return.
    let close = CloseFrame { code: 1000, reason: "".into() };
    let _ = sink.send(Message::Close(Some(close))).await;
    if tokio::time::timeout(CLOSE_LINGER, &mut reader).await.is_err() {
        reader.abort();
    }
    driver.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn negotiates_like_the_kubelet() {
        let p = Protocol::negotiate(&offer(&["v5.channel.k8s.io"])).unwrap();
        assert_eq!((p.name, p.version, p.base64), (Some("v5.channel.k8s.io"), Version::V5, false));
        let p = Protocol::negotiate(&offer(&["v4.base64.channel.k8s.io", "v4.channel.k8s.io"])).unwrap();
        assert_eq!(p.name, Some("v4.channel.k8s.io"), "our preference wins");
        let p = Protocol::negotiate(&offer(&["base64.channel.k8s.io"])).unwrap();
        assert_eq!((p.version, p.base64), (Version::V1, true));
        assert_eq!(Protocol::negotiate(&[]).unwrap().name, None);
        assert!(Protocol::negotiate(&offer(&["v6.channel.k8s.io"])).is_none());
    }

    #[test]
    fn frames_binary_and_base64() {
        let bin = Protocol { name: None, version: Version::V5, base64: false };
        let m = bin.encode(STDOUT, b"hi");
        assert_eq!(m, Message::Binary(Bytes::from_static(&[1, b'h', b'i'])));
        assert_eq!(
            bin.decode(&Message::Binary(Bytes::from_static(&[255, 0]))),
            Some((CLOSE, Bytes::from_static(&[0])))
        );
        assert_eq!(bin.decode(&Message::Binary(Bytes::new())), None);
        assert_eq!(bin.decode(&Message::text("\u{0}abc")), Some((STDIN, Bytes::from_static(b"abc"))));
        let b64 = Protocol { name: None, version: Version::V4, base64: true };
        let m = b64.encode(STDERR, b"hi");
        assert_eq!(m, Message::text("2aGk="));
        assert_eq!(b64.decode(&Message::text("0aGk=")), Some((STDIN, Bytes::from_static(b"hi"))));
        assert_eq!(b64.decode(&Message::text("x!!")), None);
    }
}
