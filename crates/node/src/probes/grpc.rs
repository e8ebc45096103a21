//! `grpc` probes: the standard health protocol (`grpc.health.v1.Health/Check`)
//! over cleartext HTTP/2 (h2c with prior knowledge, as kubelet's probe dials
//! with insecure credentials), hand-rolled on hyper: a unary call is one
//! POST whose body is a length-prefixed protobuf message, answered by a
//! length-prefixed message and a `grpc-status` trailer (or a trailers-only
//! response carrying it in the headers). Every outcome is a success or a
//! failure with kubelet's wording; gRPC probes never "error".

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::http::K8S_MINOR_VERSION;
use super::net::{Target, connect, join_host_port};
use crate::status::go_duration;

/// `HealthCheckResponse.ServingStatus` names.
fn serving_status_name(v: u64) -> String {
    match v {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}

/// gRPC status code names as grpc-go prints them.
fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code as usize).map(|s| s.to_string()).unwrap_or_else(|| format!("Code({code})"))
}

/// `HealthCheckRequest { service }` as a length-prefixed gRPC message.
pub fn encode_request(service: &str) -> Bytes {
    let mut msg = BytesMut::new();
    if !service.is_empty() {
        msg.put_u8(0x0a); // field 1, length-delimited
        put_varint(&mut msg, service.len() as u64);
        msg.put_slice(service.as_bytes());
    }
    let mut out = BytesMut::with_capacity(5 + msg.len());
    out.put_u8(0); // not compressed
    out.put_u32(msg.len() as u32);
    out.put_slice(&msg);
    out.freeze()
}

fn put_varint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn read_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The `status` field of a length-prefixed `HealthCheckResponse` (0 when absent).
pub fn decode_response(body: &[u8]) -> Result<u64, String> {
    if body.len() < 5 {
        return Err("empty response message".into());
    }
    if body[0] != 0 {
        return Err("compressed responses are not supported".into());
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let msg = body.get(5..5 + len).ok_or("truncated response message")?;
    let mut pos = 0;
    let mut status = 0;
    while pos < msg.len() {
        let key = read_varint(msg, &mut pos).ok_or("bad protobuf")?;
        match key & 7 {
            0 => {
                let v = read_varint(msg, &mut pos).ok_or("bad protobuf")?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            2 => {
                let l = read_varint(msg, &mut pos).ok_or("bad protobuf")? as usize;
                pos += l;
            }
            5 => pos += 4,
            1 => pos += 8,
            _ => return Err("bad protobuf wire type".into()),
        }
    }
    Ok(status)
}

/// `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Run one health check. `Ok` is the success output, `Err` the failure output.
pub async fn check(target: &Target, port: u16, service: &str, timeout: Duration) -> Result<String, String> {
    let dest = target.dest(None).map_err(|e| format!("error: failed to connect service: {e}"))?;
    let addr = join_host_port(&dest.host, port);
    let timed_out = || {
        format!(
            "timeout: failed to connect service {addr:?} within {}: context deadline exceeded",
            go_duration(timeout)
        )
    };
    let call = async {
        let tcp = connect(&dest, port, timeout)
            .await
            .map_err(|e| format!("error: failed to connect service at {addr:?}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| format!("error: failed to connect service at {addr:?}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/grpc.health.v1.Health/Check"))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .header(http::header::USER_AGENT, format!("kube-probe/{K8S_MINOR_VERSION}"))
            .header("grpc-timeout", format!("{}m", timeout.as_millis().max(1)))
            .body(Full::new(encode_request(service)))
            .map_err(|e| format!("error: health rpc probe failed: {e}"))?;
        let resp = sender.send_request(req).await.map_err(|e| format!("error: health rpc probe failed: {e}"))?;
        let headers = resp.headers().clone();
        let collected = resp.into_body().collect().await.map_err(|e| format!("error: health rpc probe failed: {e}"))?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let body = collected.to_bytes();
        // grpc-status: in the trailers, or in the headers of a trailers-only response.
        let status_of = |name: &str| {
            trailers.get(name).or_else(|| headers.get(name)).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let code: u32 = status_of("grpc-status").and_then(|s| s.parse().ok()).unwrap_or(2);
        let message = status_of("grpc-message").map(|m| percent_decode(&m)).unwrap_or_default();
        match code {
            0 => {}
            12 => {
                return Err(format!(
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {message}"
                ));
            }
            4 => return Err(format!("timeout: health rpc did not complete within {}", go_duration(timeout))),
            c => {
                return Err(format!(
                    "error: health rpc probe failed: rpc error: code = {} desc = {message}",
                    code_name(c)
                ));
            }
        }
        let status = decode_response(&body).map_err(|e| format!("error: health rpc probe failed: {e}"))?;
        if status != 1 {
            return Err(format!("service unhealthy (responded with {:?})", serving_status_name(status)));
        }
        Ok("service healthy".to_string())
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(timed_out()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    use http_body_util::StreamBody;
    use hyper::body::Frame;

    /// A gRPC health server on loopback: `service` → serving status; unknown
    /// services get NOT_FOUND; `unimplemented` answers every call with UNIMPLEMENTED.
    async fn health_server(statuses: Vec<(&'static str, u8)>, unimplemented: bool) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                let statuses = statuses.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let statuses = statuses.clone();
                        async move {
                            assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            // The service name: after the 5-byte prefix, tag 0x0a and a 1-byte length.
                            let name = if body.len() > 7 {
                                String::from_utf8_lossy(&body[7..]).into_owned()
                            } else {
                                String::new()
                            };
                            let mut trailers = http::HeaderMap::new();
                            let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = Vec::new();
                            match statuses.iter().find(|(n, _)| *n == name) {
                                _ if unimplemented => {
                                    trailers.insert("grpc-status", "12".parse().unwrap());
                                    trailers.insert("grpc-message", "unknown%20service".parse().unwrap());
                                }
                                Some((_, st)) => {
                                    frames.push(Ok(Frame::data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, *st]))));
                                    trailers.insert("grpc-status", "0".parse().unwrap());
                                }
                                None => {
                                    trailers.insert("grpc-status", "5".parse().unwrap());
                                    trailers.insert("grpc-message", "unknown service".parse().unwrap());
                                }
                            }
                            frames.push(Ok(Frame::trailers(trailers)));
                            let resp = http::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(StreamBody::new(futures_util::stream::iter(frames)))
                                .unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        port
    }

    fn local() -> Target {
        Target { pod_ip: Some("127.0.0.1".into()), netns: None }
    }

    #[tokio::test]
    async fn health_protocol_outcomes() {
        let port = health_server(vec![("", 1), ("db", 2)], false).await;
        let t = Duration::from_secs(2);
        assert_eq!(check(&local(), port, "", t).await, Ok("service healthy".into()));
        assert_eq!(
            check(&local(), port, "db", t).await,
            Err("service unhealthy (responded with \"NOT_SERVING\")".into())
        );
        assert_eq!(
            check(&local(), port, "cache", t).await,
            Err("error: health rpc probe failed: rpc error: code = NotFound desc = unknown service".into())
        );
        let port = health_server(vec![], true).await;
        assert_eq!(
            check(&local(), port, "", t).await,
            Err("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service".into())
        );
    }

    #[test]
    fn protobuf_framing() {
        assert_eq!(encode_request("").as_ref(), &[0, 0, 0, 0, 0]);
        assert_eq!(encode_request("db").as_ref(), &[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']);
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(1));
        // Unknown fields are skipped; an empty message means UNKNOWN.
        assert_eq!(decode_response(&[0, 0, 0, 0, 5, 0x12, 1, b'x', 0x08, 3]), Ok(3));
        assert_eq!(decode_response(&[0, 0, 0, 0, 0]), Ok(0));
        assert!(decode_response(&[0, 0, 0]).is_err());
        assert_eq!(percent_decode("a%20b%zz"), "a b%zz");
    }
}
