//! peapod's own image endpoints (not part of the Kubernetes API), behind
//! the same authentication:
//!
//! - `GET /peapod/v1/images`, `GET|DELETE /peapod/v1/images/<ref>`: list,
//!   inspect, remove (refused while a container uses the image);
//! - `POST /peapod/v1/images/import?reference=R&change=C`: a rootfs tarball;
//! - `POST /peapod/v1/images/pull?reference=R`, optional JSON body with
//!   credentials (`{"username","password"}`, or a Docker config
//!   `{"auths":{...}}`): answers 200 at once and streams the progress as
//!   JSON lines (`{"status":"resolved"|"layer",...}`), ending with
//!   `{"status":"done","report":{...}}` or `{"status":"error","message":..}`;
//! - `POST /peapod/v1/images/load`: a docker-archive or oci-archive tarball;
//! - `GET /peapod/v1/images/save?name=N&name=M&format=docker-archive|oci-archive`:
//!   the tarball, streamed as it is written;
//! - `POST /peapod/v1/images/prune?all=true`: delete unused images.
//!
//! Uploads are spooled to a temp file and handed to the (blocking) image
//! store off the async runtime; downloads are written by a blocking task
//! into a bounded channel that feeds the response body.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use peapod_api::ApiError;
use peapod_image::archive::ArchiveFormat;
use peapod_image::registry::{Credentials, Keyring, PullAuth};
use peapod_image::{ImageError, PullHandle};

use crate::AppState;
use crate::error::{HttpError, HttpResult};
use crate::handlers::json_response;
use crate::query::Query;

fn image_error(e: ImageError, name: &str) -> HttpError {
    HttpError(match e {
        ImageError::NotFound(_) => ApiError::not_found("images", name),
        ImageError::InvalidReference { .. } | ImageError::InvalidChange { .. } | ImageError::DigestReference(_) => {
            ApiError::bad_request(e.to_string())
        }
        ImageError::InvalidArchive { .. } | ImageError::UnsafeEntry { .. } | ImageError::LimitExceeded { .. } => {
            ApiError::bad_request(e.to_string())
        }
        ImageError::UnsupportedCompression(_)
        | ImageError::InvalidImageArchive(_)
        | ImageError::DigestMismatch { .. }
        | ImageError::SizeMismatch { .. }
        | ImageError::TooLarge { .. }
        | ImageError::Json { .. }
        | ImageError::UnsupportedMediaType(_)
        | ImageError::NoMatchingPlatform { .. }
        | ImageError::InvalidCredentials(_) => ApiError::bad_request(e.chain()),
        ImageError::AmbiguousId { .. } | ImageError::Conflict { .. } => {
            ApiError::conflict("images", name, &e.to_string())
        }
        other => ApiError::internal(other.to_string()),
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, HttpError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| HttpError(ApiError::internal(e.to_string())))
}

pub async fn list(State(st): State<AppState>) -> HttpResult<Response> {
    let images = st.images.clone();
    let list = blocking(move || images.list()).await?.map_err(|e| image_error(e, ""))?;
    Ok(json_response(StatusCode::OK, &json!({"kind": "ImageList", "items": list}), &[]))
}

pub async fn inspect(State(st): State<AppState>, Path(reference): Path<String>) -> HttpResult<Response> {
    let images = st.images.clone();
    let r = reference.clone();
    let info = blocking(move || images.get(&r)).await?.map_err(|e| image_error(e, &reference))?;
    let info = info.ok_or_else(|| ApiError::not_found("images", &reference))?;
    Ok(json_response(StatusCode::OK, &serde_json::to_value(info).unwrap_or_default(), &[]))
}

pub async fn remove(State(st): State<AppState>, Path(reference): Path<String>) -> HttpResult<Response> {
    let images = st.images.clone();
    let r = reference.clone();
    let info = blocking(move || images.get(&r)).await?.map_err(|e| image_error(e, &reference))?;
    let info = info.ok_or_else(|| ApiError::not_found("images", &reference))?;
    if st.node.images_in_use().contains(&info.id) {
        return Err(
            ApiError::conflict("images", &reference, &format!("image is in use by a container: {}", info.id)).into()
        );
    }
    let images = st.images.clone();
    let r = reference.clone();
    let report = blocking(move || images.remove(&r)).await?.map_err(|e| image_error(e, &reference))?;
    Ok(json_response(StatusCode::OK, &json!({"untagged": report.untagged, "deleted": report.deleted}), &[]))
}

/// `POST /peapod/v1/images/import?reference=R&change=C...`, body = the tarball.
pub async fn import(State(st): State<AppState>, RawQuery(raw): RawQuery, body: Body) -> HttpResult<Response> {
    let q = Query::parse(raw.as_deref());
    let reference = q.get("reference").unwrap_or("").to_owned();
    if reference.is_empty() {
        return Err(ApiError::bad_request("reference: Required value").into());
    }
    peapod_image::reference::Reference::parse(&reference).map_err(|e| image_error(e, &reference))?;
    let changes: Vec<String> = q.all("change").into_iter().map(str::to_owned).collect();
    let tmp = spool(&st, body).await?;
    let images = st.images.clone();
    let (t, r) = (tmp.clone(), reference.clone());
    let out = blocking(move || {
        let f = std::fs::File::open(&t).map_err(|e| ImageError::Io { op: "open", path: t.clone(), source: e });
        f.and_then(|f| images.import_rootfs(std::io::BufReader::new(f), &r, &changes))
    })
    .await;
    let _ = std::fs::remove_file(&tmp);
    let info = out?.map_err(|e| image_error(e, &reference))?;
    Ok(json_response(StatusCode::CREATED, &serde_json::to_value(info).unwrap_or_default(), &[]))
}

fn tempfile_in(dir: &std::path::Path) -> Result<std::path::PathBuf, ApiError> {
    let n: u64 = rand::random();
    Ok(dir.join(format!("upload-{n:016x}.tar")))
}

/// Write an upload to a temp file under the data dir; the caller removes it.
async fn spool(st: &AppState, body: Body) -> Result<std::path::PathBuf, HttpError> {
    std::fs::create_dir_all(&st.tmp_dir).map_err(|e| ApiError::internal(e.to_string()))?;
    let tmp = tempfile_in(&st.tmp_dir)?;
    let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| ApiError::internal(e.to_string()))?;
    let mut stream = body.into_data_stream();
    let res: Result<(), ApiError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?;
            file.write_all(&chunk).await.map_err(|e| ApiError::internal(e.to_string()))?;
        }
        file.flush().await.map_err(|e| ApiError::internal(e.to_string()))
    }
    .await;
    drop(file);
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(tmp)
}

/// Credentials for a pull from the request body: `{"username", "password"}`
/// or a Docker config (`{"auths": {...}}`); empty means anonymous.
fn pull_auth(body: &[u8]) -> Result<PullAuth, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PullAuth::anonymous());
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid pull request body: {e}")))?;
    if v.get("auths").is_some() {
        let keyring = Keyring::from_docker_config(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        return Ok(PullAuth { credentials: None, keyring });
    }
    match (v.get("username").and_then(|u| u.as_str()), v.get("password").and_then(|p| p.as_str())) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(PullAuth {
            credentials: Some(Credentials { username: u.to_string(), password: p.to_string() }),
            ..Default::default()
        }),
        (None, None) => Ok(PullAuth::anonymous()),
        _ => Err(ApiError::bad_request("credentials need both username and password")),
    }
}

/// One JSON line of a streamed answer.
fn line(v: &serde_json::Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// `POST /peapod/v1/images/pull?reference=R`: progress as JSON lines.
pub async fn pull(State(st): State<AppState>, RawQuery(raw): RawQuery, body: Bytes) -> HttpResult<Response> {
    let q = Query::parse(raw.as_deref());
    let reference = q.get("reference").unwrap_or("").to_owned();
    if reference.is_empty() {
        return Err(ApiError::bad_request("reference: Required value").into());
    }
    let auth = pull_auth(&body)?;
    let handle = st.images.start_pull(&reference, &auth).map_err(|e| image_error(e, &reference))?;
    enum Phase {
        Progress(Box<PullHandle>),
        Finished,
    }
    let stream = futures_util::stream::unfold(Phase::Progress(Box::new(handle)), |phase| async move {
        match phase {
            Phase::Finished => None,
            Phase::Progress(mut handle) => match handle.progress().await {
                Some(event) => {
                    let v = serde_json::to_value(&event).unwrap_or_default();
                    Some((Ok::<_, std::convert::Infallible>(line(&v)), Phase::Progress(handle)))
                }
                None => {
                    let last = match handle.wait().await {
                        Ok(report) => json!({"status": "done", "report": report}),
                        Err(e) => json!({"status": "error", "message": e.chain()}),
                    };
                    Some((Ok(line(&last)), Phase::Finished))
                }
            },
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(resp)
}

/// `POST /peapod/v1/images/load`, body = the archive.
pub async fn load(State(st): State<AppState>, body: Body) -> HttpResult<Response> {
    let tmp = spool(&st, body).await?;
    let images = st.images.clone();
    let t = tmp.clone();
    let out = blocking(move || {
        let f = std::fs::File::open(&t).map_err(|e| ImageError::Io { op: "open", path: t.clone(), source: e });
        f.and_then(|f| images.load(std::io::BufReader::new(f)))
    })
    .await;
    let _ = std::fs::remove_file(&tmp);
    let report = out?.map_err(|e| image_error(e, ""))?;
    Ok(json_response(StatusCode::OK, &serde_json::to_value(report).unwrap_or_default(), &[]))
}

/// Sends what is written to it as body chunks; blocks while the client is
/// slower than the writer (the channel is bounded).
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 << 10;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// `GET /peapod/v1/images/save?name=N...&format=F`: the tarball.
pub async fn save(State(st): State<AppState>, RawQuery(raw): RawQuery) -> HttpResult<Response> {
    let q = Query::parse(raw.as_deref());
    let names: Vec<String> = q.all("name").into_iter().map(str::to_owned).collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("name: Required value").into());
    }
    let format: ArchiveFormat = q.get("format").unwrap_or("docker-archive").parse().map_err(ApiError::bad_request)?;
    // Unknown names fail with a status, before the 200 and the stream.
    for name in &names {
        let (images, n) = (st.images.clone(), name.clone());
        if blocking(move || images.get(&n)).await?.map_err(|e| image_error(e, name))?.is_none() {
            return Err(ApiError::not_found("images", name).into());
        }
    }
    let (tx, rx) = mpsc::channel(8);
    let images = st.images.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        if let Err(e) = images.save(&names, format, &mut w).and_then(|()| {
            w.flush().map_err(|source| ImageError::Io { op: "send archive", path: "(response)".into(), source })
        }) {
            tracing::warn!(error = %e.chain(), "image save failed");
            // Fail the body so the client sees a truncated transfer, not a
            // short tarball that looks complete.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.chain())));
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(resp)
}

/// `POST /peapod/v1/images/prune?all=true`.
pub async fn prune(State(st): State<AppState>, RawQuery(raw): RawQuery) -> HttpResult<Response> {
    let q = Query::parse(raw.as_deref());
    let all = q.flag("all");
    let in_use = st.node.images_in_use();
    let images = st.images.clone();
    let report = blocking(move || images.prune(all, &in_use)).await?.map_err(|e| image_error(e, ""))?;
    Ok(json_response(StatusCode::OK, &serde_json::to_value(report).unwrap_or_default(), &[]))
}
