//! `pods/log`: read a container's CRI log file (written by its shim) the
//! way kubelet serves it: tailLines, sinceSeconds/sinceTime, timestamps,
//! limitBytes, previous, and follow until the container stops. A plain
//! read shows the live file only (as kubelet does); follow continues across
//! the shim's rotations ([`follow`]).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use peapod_api::ApiError;
use peapod_api::cri_log::{LogEntry, parse_line as parse_cri_line};

use crate::AppState;
use crate::error::HttpResult;
use crate::handlers::Target;
use crate::query::Query;

pub(crate) mod follow;

/// What a client asked for.
#[derive(Debug, Clone, Default)]
struct LogOptions {
    tail: Option<usize>,
    since: Option<jiff::Timestamp>,
    timestamps: bool,
    limit: Option<u64>,
    follow: bool,
}

/// Render entries as the client sees them: the content, the newline for
/// full lines, the timestamp prefix with `timestamps=true`.
fn render(entry: &LogEntry<'_>, timestamps: bool, out: &mut Vec<u8>) {
    if timestamps {
        out.extend_from_slice(entry.timestamp.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(entry.content);
    if !entry.partial {
        out.push(b'\n');
    }
}

fn selected(entry: &LogEntry<'_>, since: Option<jiff::Timestamp>) -> bool {
    match since {
        None => true,
        Some(s) => entry.timestamp.parse::<jiff::Timestamp>().map(|t| t >= s).unwrap_or(true),
    }
}

/// Render the complete lines of `data` (initial read: applies tail).
fn render_initial(data: &[u8], o: &LogOptions) -> Vec<u8> {
    let entries: Vec<LogEntry<'_>> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse_cri_line)
        .filter(|e| selected(e, o.since))
        .collect();
    let skip = match o.tail {
        Some(n) => entries.len().saturating_sub(n),
        None => 0,
    };
    let mut out = Vec::new();
    for e in &entries[skip..] {
        render(e, o.timestamps, &mut out);
    }
    out
}

fn container_names(pod: &Value, key: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

pub async fn serve(st: &AppState, t: &Target, q: &Query) -> HttpResult<Response> {
    let name = t.name.clone().unwrap_or_default();
    let pod = st.store.get(&t.key()).ok_or_else(|| ApiError::not_found("pods", &name))?;
    let containers = container_names(&pod, "containers");
    let inits = container_names(&pod, "initContainers");
    let ephemeral = container_names(&pod, "ephemeralContainers");
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.to_owned(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg =
                format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" "));
            if !inits.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", inits.join(" ")));
            }
            return Err(ApiError::bad_request(msg).into());
        }
    };
    if !containers.contains(&container) && !inits.contains(&container) && !ephemeral.contains(&container) {
        return Err(ApiError::bad_request(format!("container {container} is not valid for pod {name}")).into());
    }
    let previous = q.flag("previous");
    let uid = peapod_api::static_pod::runtime_uid(&pod).to_owned();
    // As kubelet: the current instance is the status' containerID, the
    // previous one its lastState.terminated.containerID.
    let status = container_status(&pod, &container);
    let id = status.and_then(|cs| {
        let p = if previous { "/lastState/terminated/containerID" } else { "/containerID" };
        cs.pointer(p).and_then(Value::as_str).map(|s| s.trim_start_matches("runc://").to_owned())
    });
    let file = id.as_deref().filter(|i| !i.is_empty()).and_then(|i| st.node.log_file(&uid, i));
    let Some(file) = file else {
        if previous {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ))
            .into());
        }
        let reason = waiting_reason(&pod, &container).unwrap_or_else(|| "ContainerCreating".into());
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        ))
        .into());
    };
    let cid = id.unwrap_or_default();
    let since = match (q.int("sinceSeconds")?, q.get("sinceTime")) {
        (Some(s), _) => Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s)),
        (None, Some(t)) if !t.is_empty() => {
            Some(t.parse().map_err(|_| ApiError::bad_request(format!("invalid sinceTime: {t}")))?)
        }
        _ => None,
    };
    let o = LogOptions {
        tail: q.int("tailLines")?.filter(|n| *n >= 0).map(|n| n as usize),
        since,
        timestamps: q.flag("timestamps"),
        limit: q.int("limitBytes")?.filter(|n| *n > 0).map(|n| n as u64),
        follow: q.flag("follow") && !previous,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    let node = st.node.clone();
    let (uid, cid) = (uid.clone(), cid.clone());
    tokio::spawn(async move {
        let _ = stream_file(file.path, o, tx, move || node.log_file(&uid, &cid).is_some_and(|f| f.running)).await;
    });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], Body::from_stream(ReceiverStream::new(rx)))
        .into_response())
}

fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]
        .iter()
        .flat_map(|key| pod.pointer(&format!("/status/{key}")).and_then(Value::as_array).into_iter().flatten())
        .find(|cs| cs["name"] == container)
}

fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    container_status(pod, container)?.pointer("/state/waiting/reason").and_then(Value::as_str).map(str::to_owned)
}

async fn stream_file(
    path: std::path::PathBuf,
    o: LogOptions,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    still_running: impl Fn() -> bool,
) -> Result<(), ()> {
    let mut f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => return Ok(()),
    };
    let mut data = Vec::new();
    f.read_to_end(&mut data).await.map_err(|_| ())?;
    // Only complete lines now; a partial last line is picked up by follow.
    let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let mut sent: u64 = 0;
    let mut out = render_initial(&data[..complete], &o);
    if !o.follow {
        out.extend(render_initial(&data[complete..], &LogOptions { tail: None, ..o.clone() }));
    }
    if !send_limited(&tx, out, &mut sent, o.limit).await {
        return Ok(());
    }
    if !o.follow {
        return Ok(());
    }
    let follower = follow::Follower::new(path, f.into_std().await, complete as u64).map_err(|_| ())?;
    let mut follower = follow::Lines::new(follower, 5);
    loop {
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let lines = match follower.poll().await.map_err(|_| ())? {
            follow::Polled::Lines(l) => l,
            follow::Polled::Idle if !still_running() => return Ok(()),
            follow::Polled::Idle | follow::Polled::Nothing => continue,
        };
        let mut out = Vec::new();
        for e in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()).filter_map(parse_cri_line) {
            if selected(&e, o.since) {
                render(&e, o.timestamps, &mut out);
            }
        }
        if !send_limited(&tx, out, &mut sent, o.limit).await {
            return Ok(());
        }
    }
}

/// Send, honouring limitBytes; false when the stream must end.
async fn send_limited(
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    mut out: Vec<u8>,
    sent: &mut u64,
    limit: Option<u64>,
) -> bool {
    if let Some(l) = limit {
        let left = l.saturating_sub(*sent);
        if (out.len() as u64) >= left {
            out.truncate(left as usize);
            let _ = tx.send(Ok(Bytes::from(out))).await;
            return false;
        }
    }
    *sent += out.len() as u64;
    if out.is_empty() {
        return true;
    }
    tx.send(Ok(Bytes::from(out))).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] = b"2026-01-01T00:00:01.5Z stdout F one\n2026-01-01T00:00:02Z stderr F two\n2026-01-01T00:00:03Z stdout P thr\n2026-01-01T00:00:03.1Z stdout F ee\n";

    #[test]
    fn parses_cri_lines() {
        let e = parse_cri_line(b"2016-10-06T00:17:09.669794202Z stdout F hello world").unwrap();
        assert_eq!(
            (e.timestamp, e.stream, e.partial, e.content),
            ("2016-10-06T00:17:09.669794202Z", "stdout", false, &b"hello world"[..])
        );
        assert!(parse_cri_line(b"2016 stdout P x").unwrap().partial);
        assert_eq!(parse_cri_line(b"2016 stdout F").unwrap().content, b"");
        assert!(parse_cri_line(b"garbage").is_none());
        assert!(parse_cri_line(b"2016 other F x").is_none());
    }

    #[test]
    fn renders_like_kubelet() {
        let o = LogOptions::default();
        assert_eq!(render_initial(LOG, &o), b"one\ntwo\nthree\n");
        let o = LogOptions { tail: Some(2), ..Default::default() };
        assert_eq!(render_initial(LOG, &o), b"three\n");
        let o = LogOptions { timestamps: true, tail: Some(3), ..Default::default() };
        assert_eq!(
            render_initial(LOG, &o),
            b"2026-01-01T00:00:02Z two\n2026-01-01T00:00:03Z thr2026-01-01T00:00:03.1Z ee\n"
        );
        let o = LogOptions { since: Some("2026-01-01T00:00:02Z".parse().unwrap()), ..Default::default() };
        assert_eq!(render_initial(LOG, &o), b"two\nthree\n");
    }

    #[tokio::test]
    async fn limit_bytes_truncates() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut sent = 0;
        assert!(!send_limited(&tx, b"hello world".to_vec(), &mut sent, Some(5)).await);
        assert_eq!(rx.recv().await.unwrap().unwrap(), Bytes::from_static(b"hello"));
    }
}
