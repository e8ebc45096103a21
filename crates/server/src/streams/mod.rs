//! The streaming subresources of pods: `exec`, `attach` and `portforward`
//! (kubectl-wire.md §10).
//!
//! Each is an HTTP/1.1 upgrade on its own connection, to one of two
//! transports carrying the same logical channels (stdin, stdout, stderr,
//! error/status, resize):
//! - WebSocket with a `*.channel.k8s.io` subprotocol (websocket.rs): every
//!   message starts with its channel number;
//! - SPDY/3.1 (spdy.rs, remotecommand.rs): one SPDY stream per channel,
//!   named by its `streamtype` header.
//!
//! Both transports turn the client's side into [`Input`] events and send
//! [`Output`] in order; [`pump`] connects those to a process (exec) or to a
//! running container (attach), so the protocol quirks stay in the transport
//! and the process handling is written once. Port forwarding (portforward.rs)
//! carries TCP data instead, over SPDY or SPDY tunnelled in WebSocket.
//!
//! The node's side is reached through [`crate::NodeAccess`]; the types it
//! exchanges with us are defined here.

mod attach;
mod exec;
mod portforward;
mod remotecommand;
pub mod spdy;
mod tunnel;
mod websocket;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use peapod_api::ApiError;

use crate::AppState;
use crate::error::HttpResult;
use crate::handlers::Target;
use crate::query::Query;

/// A boxed future returned by [`crate::NodeAccess`] methods.
pub type NodeFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A process to start in a container (`pods/exec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    pub pod_uid: String,
    /// The container instance (status `containerID` without `runc://`).
    pub container_id: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Width and height of a terminal, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The streams of a started process (or of an attached container).
pub struct ProcessIo {
    pub stdin: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    pub stdout: Option<Pin<Box<dyn AsyncRead + Send>>>,
    pub stderr: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// Applies a terminal size (tty sessions).
    pub resize: Option<Box<dyn Fn(TerminalSize) + Send + Sync>>,
    /// Resolves with the exit code. Dropping it before it resolves ends the
    /// process (the client went away).
    pub exit: NodeFuture<'static, Result<i32, StreamError>>,
}

/// A running container's attach handles, from the node. Its output is
/// followed in its log file.
pub struct AttachIo {
    /// The container's stdin (when it has one and the client asked).
    pub stdin: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    /// Applies a terminal size (tty containers).
    pub resize: Option<Box<dyn Fn(TerminalSize) + Send + Sync>>,
    /// Closes the container's stdin for good (`stdinOnce`).
    pub close_stdin: Box<dyn Fn() + Send + Sync>,
}

/// Why the node could not serve a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The container or pod is not (or no longer) there to serve it.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served as asked.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else (the runtime failed).
    #[error("{0}")]
    Internal(String),
}

impl StreamError {
    fn to_api_error(&self) -> ApiError {
        match self {
            StreamError::NotFound(m) => {
                ApiError { code: 404, reason: peapod_api::StatusReason::NotFound, message: m.clone(), details: None }
            }
            StreamError::BadRequest(m) => ApiError::bad_request(m.clone()),
            StreamError::Internal(m) => ApiError::internal(m.clone()),
        }
    }
}

/// Dispatch `pods/{exec,attach,portforward}`.
pub async fn serve(st: &AppState, t: &Target, q: &Query, req: Request) -> HttpResult<Response> {
    if t.res.plural != "pods" || t.name.is_none() {
        return Err(ApiError::unknown_path().into());
    }
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return Err(ApiError::method_not_allowed("pods", req.method().as_str()).into());
    }
    match t.sub.as_deref() {
        Some("exec") => exec::serve(st, t, q, req).await,
        Some("attach") => attach::serve(st, t, q, req).await,
        Some("portforward") => portforward::serve(st, t, q, req).await,
        _ => Err(ApiError::unknown_path().into()),
    }
}

/// The transport the client asked to upgrade to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    WebSocket,
    Spdy,
}

fn transport(headers: &HeaderMap) -> Result<Transport, ApiError> {
    let upgrade = headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if upgrade == "websocket" {
        Ok(Transport::WebSocket)
    } else if upgrade.starts_with("spdy/") {
        Ok(Transport::Spdy)
    } else {
        Err(ApiError::bad_request("Upgrade request required"))
    }
}

/// Every value of a header that may repeat and hold comma-separated lists.
fn header_list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Versions of the remote-command protocol (exec and attach).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    /// `channel.k8s.io`
    V1,
    V2,
    /// Adds the resize channel.
    V3,
    /// The error channel carries a `Status` (with the exit code).
    V4,
    /// Adds the close channel (stdin EOF over WebSocket).
    V5,
}

impl Version {
    pub(crate) fn spdy_name(self) -> &'static str {
        match self {
            Version::V1 => "channel.k8s.io",
            Version::V2 => "v2.channel.k8s.io",
            Version::V3 => "v3.channel.k8s.io",
            Version::V4 => "v4.channel.k8s.io",
            Version::V5 => "v5.channel.k8s.io",
        }
    }

    /// The SPDY protocol to use for the client's offer (best first), as the
    /// kubelet's handshake: no offer means the legacy protocol; an offer
    /// without anything we speak is refused.
    pub(crate) fn negotiate_spdy(offered: &[String]) -> Option<Version> {
        if offered.is_empty() {
            return Some(Version::V1);
        }
        [Version::V5, Version::V4, Version::V3, Version::V2, Version::V1]
            .into_iter()
            .find(|v| offered.iter().any(|o| o == v.spdy_name()))
    }
}

/// Options of exec and attach requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl StreamOptions {
    pub(crate) fn from_query(q: &Query) -> Result<StreamOptions, ApiError> {
        let tty = q.flag("tty");
        // As the kubelet: a tty merges stderr into stdout.
        let o =
            StreamOptions { stdin: q.flag("stdin"), stdout: q.flag("stdout"), stderr: q.flag("stderr") && !tty, tty };
        if !o.stdin && !o.stdout && !o.stderr {
            return Err(ApiError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
        }
        Ok(o)
    }
}

/// A remote-command session waiting for its transport: what to start
/// (lazily: the future runs only once the transport is ready) and how.
pub(crate) struct Session {
    pub opts: StreamOptions,
    /// The command line, for the exit status message (empty for attach).
    pub command: Vec<String>,
    pub start: NodeFuture<'static, Result<ProcessIo, StreamError>>,
}

/// Run a session over a transport's channels: start it, pump, and queue
/// the final status (unless the client is gone).
pub(crate) async fn drive(session: Session, input: mpsc::Receiver<Input>, out: mpsc::Sender<Output>) {
    let ending = match session.start.await {
        Ok(io) => pump(io, input, out.clone()).await,
        Err(e) => Ending::Failed(e),
    };
    if ending != Ending::ClientGone {
        let _ = out.send(Output::Exit(exit_status(&ending, &session.command))).await;
    }
}

/// The client's side of a session, from either transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    Stdin(Bytes),
    /// The client has no more stdin (v5 close channel, SPDY FIN).
    StdinEof,
    Resize(TerminalSize),
}

/// What a session sends, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
    /// The final `Status`; the transport closes after it.
    Exit(Value),
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    Exited(i32),
    Failed(StreamError),
    /// The client closed the connection first; the process was ended.
    ClientGone,
}

/// Longest wait for output after the process exited: a background child
/// may hold the pipes open forever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Connect a session's [`Input`]/[`Output`] to a process until it exits
/// and its output is drained, or until the client goes away (the input
/// channel closes), which ends the process.
pub(crate) async fn pump(io: ProcessIo, mut input: mpsc::Receiver<Input>, out: mpsc::Sender<Output>) -> Ending {
    let ProcessIo { mut stdin, stdout, stderr, resize, mut exit } = io;
    let copiers: Vec<_> = [(stdout, false), (stderr, true)]
        .into_iter()
        .filter_map(|(r, err)| r.map(|r| tokio::spawn(copy_output(r, out.clone(), err))))
        .collect();
    drop(out);
    let result = loop {
        tokio::select! {
            r = &mut exit => break r,
            msg = input.recv() => match msg {
                Some(Input::Stdin(data)) => {
                    // A process that closed its stdin just loses the data.
                    if let Some(w) = stdin.as_mut()
                        && w.write_all(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                Some(Input::StdinEof) => {
                    if let Some(mut w) = stdin.take() {
                        let _ = w.shutdown().await;
                    }
                }
                Some(Input::Resize(size)) => {
                    if let Some(f) = &resize {
                        f(size);
                    }
                }
                None => {
                    for c in &copiers {
                        c.abort();
                    }
                    return Ending::ClientGone;
                }
            }
        }
    };
    drop(stdin);
    let drained = async {
        for c in copiers {
            let _ = c.await;
        }
    };
    let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, drained).await;
    match result {
        Ok(code) => Ending::Exited(code),
        Err(e) => Ending::Failed(e),
    }
}

async fn copy_output(mut r: Pin<Box<dyn AsyncRead + Send>>, out: mpsc::Sender<Output>, stderr: bool) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let data = Bytes::copy_from_slice(&buf[..n]);
        let msg = if stderr { Output::Stderr(data) } else { Output::Stdout(data) };
        if out.send(msg).await.is_err() {
            return;
        }
    }
}

/// The `Status` a remote-command session ends with (channel 3, or the
/// SPDY error stream), as the kubelet writes it.
pub(crate) fn exit_status(ending: &Ending, command: &[String]) -> Value {
    match ending {
        Ending::Exited(0) | Ending::ClientGone => json!({"metadata": {}, "status": "Success"}),
        Ending::Exited(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: error executing command {}, exit code {code}",
                go_slice(command)
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Ending::Failed(e) => e.to_api_error().to_status(),
    }
}

/// `[a b c]`, the way Go prints a string slice.
fn go_slice(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// The status text pre-v4 clients get on the error channel (nothing on success).
pub(crate) fn status_text(status: &Value) -> Option<String> {
    (status["status"] != "Success").then(|| status["message"].as_str().unwrap_or("error").to_owned())
}

/// Parse one or more resize messages (`{"Width":..,"Height":..}` each,
/// newline-separated on SPDY).
pub(crate) fn parse_resizes(data: &[u8]) -> Vec<TerminalSize> {
    serde_json::Deserializer::from_slice(data).into_iter::<TerminalSize>().map_while(Result::ok).collect()
}

/// A pod container the request names (or the only one), with its running
/// instance: `(name, container id)`. Errors are the apiserver's.
pub(crate) fn resolve_container(
    pod: &Value,
    name: &str,
    requested: Option<&str>,
    verb: &str,
) -> Result<(String, String), ApiError> {
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let (containers, inits, ephemeral) = (names("containers"), names("initContainers"), names("ephemeralContainers"));
    let container = match requested.filter(|c| !c.is_empty()) {
        Some(c) => c.to_owned(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    if !containers.contains(&container) && !inits.contains(&container) && !ephemeral.contains(&container) {
        return Err(ApiError::bad_request(format!("container {container} is not valid for pod {name}")));
    }
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        return Err(ApiError::bad_request(format!(
            "cannot {verb} a container in a completed pod; current phase is {phase}"
        )));
    }
    let status = ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]
        .iter()
        .flat_map(|k| pod.pointer(&format!("/status/{k}")).and_then(Value::as_array).into_iter().flatten())
        .find(|cs| cs["name"] == container.as_str());
    let id = status
        .filter(|cs| cs.pointer("/state/running").is_some())
        .and_then(|cs| cs["containerID"].as_str())
        .map(|s| s.trim_start_matches("runc://").to_owned())
        .filter(|s| !s.is_empty());
    match id {
        Some(id) => Ok((container, id)),
        None => Err(ApiError::bad_request(format!("container {container} is not running in pod {name}"))),
    }
}

#[cfg(test)]
mod tests;
