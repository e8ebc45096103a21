//! A WebSocket as a byte stream, for SPDY tunnelled over WebSocket
//! (kubectl ≥ 1.30 port-forward, subprotocol `SPDY/3.1+portforward.k8s.io`):
//! the client writes each chunk of its SPDY byte stream as one binary
//! message, and reads ours the same way. A normal close is the end of the
//! stream.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Bridge `socket` to the returned in-memory stream; two tasks copy the
/// bytes until either side ends.
pub(crate) fn byte_stream(socket: WebSocket) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut rd, mut wr) = tokio::io::split(ours);
    let (mut sink, mut stream) = socket.split();
    tokio::spawn(async move {
        // Reading also answers pings.
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if wr.write_all(&b).await.is_err() => return,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
    });
    theirs
}
