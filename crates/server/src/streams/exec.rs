//! `pods/exec`: validate the request the way the apiserver does (so an
//! unknown container is a 400 before any upgrade, kubectl-wire.md §10.2),
//! then hand the connection to the transport the client asked for. The
//! process starts only once the transport is ready.

use axum::extract::Request;
use axum::response::Response;

use peapod_api::ApiError;

use super::{ExecRequest, Session, StreamOptions, Transport, resolve_container, transport};
use crate::AppState;
use crate::error::HttpResult;
use crate::handlers::Target;
use crate::query::Query;

pub async fn serve(st: &AppState, t: &Target, q: &Query, req: Request) -> HttpResult<Response> {
    let name = t.name.clone().unwrap_or_default();
    let pod = st.store.get(&t.key()).ok_or_else(|| ApiError::not_found("pods", &name))?;
    let opts = StreamOptions::from_query(q)?;
    let command: Vec<String> = q.all("command").into_iter().map(str::to_owned).collect();
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command").into());
    }
    let (_, container_id) = resolve_container(&pod, &name, q.get("container"), "exec into")?;
    let kind = transport(req.headers())?;
    let exec = ExecRequest {
        pod_uid: peapod_api::static_pod::runtime_uid(&pod).to_owned(),
        container_id,
        command: command.clone(),
        stdin: opts.stdin,
        stdout: opts.stdout,
        stderr: opts.stderr,
        tty: opts.tty,
    };
    let node = st.node.clone();
    let session = Session { opts, command, start: Box::pin(async move { node.exec(exec).await }) };
    match kind {
        Transport::WebSocket => super::websocket::serve_remote_command(req, session).await,
        Transport::Spdy => super::remotecommand::serve_spdy(req, session),
    }
}
