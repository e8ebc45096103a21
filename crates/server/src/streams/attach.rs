//! `pods/attach`: the output of a running container from now on, and its
//! stdin for containers with `stdin: true` (`kubectl attach`, `kubectl run
//! -it`), over the same transports as exec.
//!
//! Output comes from the container's CRI log, followed from its current end
//! and split back into stdout and stderr (the shim writes it as it happens,
//! partial lines of a tty at once). Input and terminal size go to the
//! container through its shim ([`crate::NodeAccess::attach`]). The session
//! ends when the container stops. With `stdinOnce`, the container's stdin
//! is closed when the first session's stdin ends, as the kubelet does.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use peapod_api::ApiError;
use peapod_api::cri_log::parse_line;

use super::{ProcessIo, Session, StreamError, StreamOptions, Transport, resolve_container, transport};
use crate::error::HttpResult;
use crate::handlers::Target;
use crate::logs::follow::{Follower, Lines, Polled};
use crate::query::Query;
use crate::{AppState, NodeAccess};

/// How often the log is checked for new output.
const POLL: Duration = Duration::from_millis(50);

pub async fn serve(st: &AppState, t: &Target, q: &Query, req: Request) -> HttpResult<Response> {
    let name = t.name.clone().unwrap_or_default();
    let pod = st.store.get(&t.key()).ok_or_else(|| ApiError::not_found("pods", &name))?;
    let opts = StreamOptions::from_query(q)?;
    let (container, container_id) = resolve_container(&pod, &name, q.get("container"), "attach to")?;
    let spec = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array).into_iter().flatten())
        .find(|c| c["name"] == container.as_str())
        .cloned()
        .unwrap_or_default();
    let stdin_once = spec["stdinOnce"].as_bool().unwrap_or(false);
    let uid = peapod_api::static_pod::runtime_uid(&pod).to_owned();
    let kind = transport(req.headers())?;
    let node = st.node.clone();
    let stdin = opts.stdin;
    let start = async move { start(node, uid, container_id, stdin, stdin_once).await };
    let session = Session { opts, command: Vec::new(), start: Box::pin(start) };
    match kind {
        Transport::WebSocket => super::websocket::serve_remote_command(req, session).await,
        Transport::Spdy => super::remotecommand::serve_spdy(req, session),
    }
}

async fn start(
    node: Arc<dyn NodeAccess>,
    uid: String,
    container_id: String,
    stdin: bool,
    stdin_once: bool,
) -> Result<ProcessIo, StreamError> {
    let log = node
        .log_file(&uid, &container_id)
        .filter(|l| l.running)
        .ok_or_else(|| StreamError::NotFound(format!("container not found ({container_id:?})")))?;
    // Output from this moment on: take the position before any input can
    // reach the container (the follower task starts later). The file is
    // opened here, once, so a rotation can't fall between looking and opening.
    let not_found = |e: std::io::Error| StreamError::NotFound(format!("log of container {container_id:?}: {e}"));
    let file = std::fs::File::open(&log.path).map_err(not_found)?;
    let from = file.metadata().map(|m| m.len()).unwrap_or(0);
    let log = Follower::new(log.path, file, from).map_err(not_found)?;
    let a = node.attach(&uid, &container_id, stdin).await?;
    let close_stdin: Arc<dyn Fn() + Send + Sync> = Arc::from(a.close_stdin);
    let (stdout, stderr, follower) = follow(log, move || node.log_file(&uid, &container_id).is_some_and(|l| l.running));
    let follower = AbortOnDrop(follower);
    let stdin = a.stdin.map(|w| {
        let close = stdin_once.then(|| close_stdin.clone());
        Box::pin(SessionStdin { inner: w, close }) as Pin<Box<dyn AsyncWrite + Send>>
    });
    Ok(ProcessIo {
        stdin,
        stdout: Some(Box::pin(stdout)),
        stderr: Some(Box::pin(stderr)),
        resize: a.resize,
        exit: Box::pin(async move {
            // The session lasts as long as the container (the follower).
            let mut f = follower;
            let _ = (&mut f.0).await;
            Ok(0)
        }),
    })
}

/// Follow the container's CRI log (across rotations, as `logs -f` does),
/// writing stdout and stderr content to the returned streams, until the
/// container stops (`running` false and nothing new) or the readers go away.
fn follow(log: Follower, running: impl Fn() -> bool + Send + 'static) -> (DuplexStream, DuplexStream, JoinHandle<()>) {
    let (mut out_w, out_r) = tokio::io::duplex(64 * 1024);
    let (mut err_w, err_r) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(async move {
        // Four idle polls: a moment for the shim to write the last output.
        let mut lines = Lines::new(log, 4);
        loop {
            tokio::time::sleep(POLL).await;
            let lines = match lines.poll().await {
                Ok(Polled::Lines(l)) => l,
                Ok(Polled::Idle) if !running() => return,
                Ok(Polled::Idle | Polled::Nothing) => continue,
                Err(_) => return,
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            for e in lines.split(|b| *b == b'\n').filter_map(parse_line) {
                let target = if e.stream == "stderr" { &mut err } else { &mut out };
                target.extend_from_slice(e.content);
                if !e.partial {
                    target.push(b'\n');
                }
            }
            if (!out.is_empty() && out_w.write_all(&out).await.is_err())
                || (!err.is_empty() && err_w.write_all(&err).await.is_err())
            {
                return;
            }
        }
    });
    (out_r, err_r, task)
}

/// Stops the log follower when the session is dropped (the client left).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The container's stdin for one session; with `stdinOnce`, the end of the
/// session's stdin closes the container's.
struct SessionStdin {
    inner: Pin<Box<dyn AsyncWrite + Send>>,
    close: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl AsyncWrite for SessionStdin {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}

impl Drop for SessionStdin {
    fn drop(&mut self) {
        if let Some(close) = self.close.take() {
            close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn follows_new_output_and_splits_the_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "2026-01-01T00:00:00Z stdout F old line\n").unwrap();
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let r = running.clone();
        let file = std::fs::File::open(&path).unwrap();
        let from = file.metadata().unwrap().len();
        let log = Follower::new(path.clone(), file, from).unwrap();
        let (mut out, mut err, task) = follow(log, move || r.load(std::sync::atomic::Ordering::SeqCst));
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        use std::io::Write;
        f.write_all(b"2026-01-01T00:00:01Z stdout P / # \n2026-01-01T00:00:02Z stderr F oops\n2026-01-01T00:00:03Z stdout F done\n").unwrap();
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        task.await.unwrap();
        let (mut o, mut e) = (String::new(), String::new());
        out.read_to_string(&mut o).await.unwrap();
        err.read_to_string(&mut e).await.unwrap();
        assert_eq!((o.as_str(), e.as_str()), ("/ # done\n", "oops\n"), "from the end on; partial lines as they are");
    }

    #[tokio::test]
    async fn stdin_once_closes_the_containers_stdin_with_the_session() {
        let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = closed.clone();
        let (w, _r) = tokio::io::duplex(16);
        let mut s = SessionStdin {
            inner: Box::pin(w),
            close: Some(Arc::new(move || {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })),
        };
        s.write_all(b"x").await.unwrap();
        drop(s);
        assert_eq!(closed.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
