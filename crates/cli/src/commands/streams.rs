//! The exec stream: a WebSocket upgrade speaking `v5.channel.k8s.io`
//! (kubectl §10.3), shared by `exec` and `cp`, and by `debug -i` for
//! `pods/NAME/attach` (the same channels, no command).
//!
//! `GET .../pods/NAME/exec?command=..&command=..&container=C[&stderr=true]
//! [&stdin=true]&stdout=true[&tty=true]` on a separate HTTP/1.1 connection
//! with no ALPN, `Sec-WebSocket-Protocol: v5.channel.k8s.io` and the bearer
//! token. Every binary message starts with a channel byte: 0 stdin (to the
//! server), 1 stdout, 2 stderr, 3 the final `Status` JSON, 4 terminal
//! resize (`{"Width":W,"Height":H}`), and 255 with payload `[0]` to say
//! stdin is closed. Pings are answered by the WebSocket library while we
//! read. (kubectl ≤1.29's SPDY transport is not implemented: the daemon
//! serves WebSocket to us.)

use std::io::Write;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::client::{Client, error_chain};
use crate::errors::{ApiError, CliError, Status};
use crate::resources;

/// The only subprotocol offered, as kubectl 1.30+ does.
pub const PROTOCOL: &str = "v5.channel.k8s.io";

/// What to execute and how.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// argv.
    pub command: Vec<String>,
    /// Send stdin.
    pub stdin: bool,
    /// Allocate a TTY (no separate stderr).
    pub tty: bool,
}

impl ExecRequest {
    /// The query, in kubectl's order (false flags are left out).
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> = self.command.iter().map(|c| ("command", c.clone())).collect();
        q.push(("container", self.container.clone()));
        if !self.tty {
            q.push(("stderr", "true".into()));
        }
        if self.stdin {
            q.push(("stdin", "true".into()));
        }
        q.push(("stdout", "true".into()));
        if self.tty {
            q.push(("tty", "true".into()));
        }
        q
    }
}

/// Where stdin comes from.
pub enum Input {
    /// Nothing.
    None,
    /// The process's stdin, streamed until EOF.
    Stdin,
    /// Fixed bytes (cp's tar archive), then EOF.
    Bytes(Vec<u8>),
}

/// How the remote command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExitStatus {
    /// Exit code 0.
    Success,
    /// A non-zero exit code.
    Code(i32),
    /// Another failure, with its message.
    Failed(String),
    /// The server sent no status (kubectl then exits 0).
    Unknown,
}

impl ExitStatus {
    /// Interpret the channel-3 Status.
    pub fn from_status(v: &Value) -> ExitStatus {
        let s: Status = serde_json::from_value(v.clone()).unwrap_or_default();
        if s.status == "Success" {
            return ExitStatus::Success;
        }
        if s.reason == "NonZeroExitCode"
            && let Some(code) = s
                .details
                .as_ref()
                .and_then(|d| d.causes.iter().find(|c| c.reason == "ExitCode"))
                .and_then(|c| c.message.parse::<i32>().ok())
        {
            return ExitStatus::Code(code);
        }
        ExitStatus::Failed(s.message)
    }
}

/// Messages from the local side to the stream.
enum Outgoing {
    Stdin(Vec<u8>),
    StdinClosed,
    Resize(u16, u16),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Run a command in a container, copying its output to `stdout`/`stderr`.
pub async fn exec(
    client: &Client,
    req: &ExecRequest,
    input: Input,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitStatus, CliError> {
    stream(client, "exec", req, input, stdout, stderr).await
}

/// Attach to a running container (`req.command` is ignored): its output
/// from now on, and `input` to its stdin, until it stops.
pub async fn attach(
    client: &Client,
    req: &ExecRequest,
    input: Input,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitStatus, CliError> {
    let req = ExecRequest { command: Vec::new(), ..req.clone() };
    stream(client, "attach", &req, input, stdout, stderr).await
}

/// One session on the `exec` or `attach` subresource.
async fn stream(
    client: &Client,
    subresource: &str,
    req: &ExecRequest,
    input: Input,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitStatus, CliError> {
    let path = format!("{}/{subresource}", resources::POD.path(Some(&client.namespace), Some(&req.pod)));
    let mut url = client.url(&path, &req.query());
    let secure = url.scheme() == "https";
    let _ = url.set_scheme(if secure { "wss" } else { "ws" });
    let host = url.host_str().unwrap_or("localhost").trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default().unwrap_or(if secure { 443 } else { 80 });
    if client.verbosity() >= 6 {
        eprintln!("GET {url} (WebSocket {PROTOCOL})");
    }

    let mut request = url.as_str().into_client_request().map_err(|e| CliError::Stream(e.to_string()))?;
    let headers = request.headers_mut();
    headers.insert("Sec-WebSocket-Protocol", PROTOCOL.parse().expect("static header value"));
    if let Some(t) = client.token() {
        let v = format!("Bearer {t}").parse().map_err(|_| CliError::msg("the token is not a valid header value"))?;
        headers.insert("Authorization", v);
    }

    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            CliError::ConnectionRefused { host: format!("{host}:{port}") }
        } else {
            CliError::Transport { detail: e.to_string() }
        }
    })?;
    let io: Box<dyn Io> = if secure {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| CliError::msg(format!("invalid server name {host}: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(client.ws_tls())
            .connect(name, tcp)
            .await
            .map_err(|e| CliError::Transport { detail: error_chain(&e) })?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (ws, resp) = match tokio_tungstenite::client_async(request, io).await {
        Ok(x) => x,
        Err(tungstenite::Error::Http(resp)) => {
            let code = resp.status().as_u16();
            let body = resp.body().clone().unwrap_or_default();
            let what = format!("get pods {}", req.pod);
            if body.is_empty() {
                // The handshake only keeps body bytes that arrived with the
                // headers; ask again without the upgrade to read the Status.
                let plain = client.url(&path, &req.query());
                let resp = client.send(reqwest::Method::GET, plain, "application/json", None).await?;
                client.check(resp, &what).await?;
            }
            return Err(ApiError::from_response(code, &body, &what).into());
        }
        Err(e) => {
            return Err(CliError::Stream(format!("error upgrading the {subresource} connection: {e}")));
        }
    };
    if resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()) != Some(PROTOCOL) {
        return Err(CliError::Stream(format!("the server did not agree to the {PROTOCOL} protocol")));
    }

    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(16);
    let mut input_open = !matches!(input, Input::None);
    match input {
        Input::None => {}
        Input::Bytes(b) => {
            let tx = tx.clone();
            tokio::spawn(async move {
                for chunk in b.chunks(32 * 1024) {
                    if tx.send(Outgoing::Stdin(chunk.to_vec())).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(Outgoing::StdinClosed).await;
            });
        }
        Input::Stdin => {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut stdin = tokio::io::stdin();
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match stdin.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            let _ = tx.send(Outgoing::StdinClosed).await;
                            return;
                        }
                        Ok(n) => {
                            if tx.send(Outgoing::Stdin(buf[..n].to_vec())).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    }
    if req.tty {
        spawn_resizer(tx.clone());
    }
    drop(tx);

    let mut status = ExitStatus::Unknown;
    let mut outgoing_open = true;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { break };
                let msg = msg.map_err(|e| CliError::Stream(format!("error reading from error stream: {e}")))?;
                match msg {
                    Message::Binary(b) if !b.is_empty() => {
                        let (ch, data) = (b[0], &b[1..]);
                        let res = match ch {
                            1 => stdout.write_all(data).and_then(|()| stdout.flush()),
                            2 => stderr.write_all(data).and_then(|()| stderr.flush()),
                            3 => {
                                let v: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
                                status = ExitStatus::from_status(&v);
                                Ok(())
                            }
                            _ => Ok(()),
                        };
                        res.map_err(|e| CliError::io("stdout", e))?;
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            out = rx.recv(), if outgoing_open => {
                let frame = match out {
                    None => { outgoing_open = false; continue }
                    Some(Outgoing::Stdin(d)) => {
                        let mut f = Vec::with_capacity(d.len() + 1);
                        f.push(0u8);
                        f.extend_from_slice(&d);
                        f
                    }
                    Some(Outgoing::StdinClosed) => {
                        if !input_open { continue }
                        input_open = false;
                        vec![255u8, 0]
                    }
                    Some(Outgoing::Resize(w, h)) => {
                        let mut f = vec![4u8];
                        f.extend_from_slice(format!("{{\"Width\":{w},\"Height\":{h}}}\n").as_bytes());
                        f
                    }
                };
                sink.send(Message::binary(frame)).await.map_err(|e| CliError::Stream(format!("error writing to the exec stream: {e}")))?;
            }
        }
    }
    let _ = sink.close().await;
    Ok(status)
}

/// Send the terminal size now and on every SIGWINCH.
fn spawn_resizer(tx: mpsc::Sender<Outgoing>) {
    tokio::spawn(async move {
        let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        loop {
            if let Some((w, h)) = terminal_size()
                && tx.send(Outgoing::Resize(w, h)).await.is_err()
            {
                return;
            }
            match winch.as_mut() {
                Some(s) => {
                    if s.recv().await.is_none() {
                        return;
                    }
                }
                None => return,
            }
        }
    });
}

/// Columns and rows of the terminal on stdin or stdout.
pub fn terminal_size() -> Option<(u16, u16)> {
    for fd in [rustix::stdio::stdin(), rustix::stdio::stdout()] {
        if let Ok(ws) = rustix::termios::tcgetwinsize(fd)
            && ws.ws_col > 0
        {
            return Some((ws.ws_col, ws.ws_row));
        }
    }
    None
}

/// Puts the terminal on stdin in raw mode; restores it when dropped.
pub struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// Enter raw mode if stdin is a terminal.
    pub fn enter() -> Option<RawMode> {
        let fd = rustix::stdio::stdin();
        if !rustix::termios::isatty(fd) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(rustix::stdio::stdin(), rustix::termios::OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_like_kubectl() {
        let mut r = ExecRequest {
            pod: "web".into(),
            container: "main".into(),
            command: vec!["sh".into(), "-c".into(), "echo out; exit 3".into()],
            stdin: false,
            tty: false,
        };
        let q = |r: &ExecRequest| r.query().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        assert_eq!(q(&r), "command=sh&command=-c&command=echo out; exit 3&container=main&stderr=true&stdout=true");
        r.stdin = true;
        r.tty = true;
        r.command = vec!["sh".into()];
        assert_eq!(q(&r), "command=sh&container=main&stdin=true&stdout=true&tty=true");
    }

    #[test]
    fn exit_status_from_channel_3() {
        assert_eq!(ExitStatus::from_status(&json!({"metadata": {}, "status": "Success"})), ExitStatus::Success);
        let failed = json!({"status": "Failure", "reason": "NonZeroExitCode", "message": "command terminated with non-zero exit code",
                            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}});
        assert_eq!(ExitStatus::from_status(&failed), ExitStatus::Code(3));
        let other = json!({"status": "Failure", "reason": "InternalError", "message": "exec: \"nosuch\": not found"});
        assert_eq!(ExitStatus::from_status(&other), ExitStatus::Failed("exec: \"nosuch\": not found".into()));
    }
}
