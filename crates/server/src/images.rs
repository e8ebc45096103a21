//! peapod's own image endpoints (not part of the Kubernetes API), behind
//! the same authentication: list, import of a rootfs tarball (streamed to a
//! temp file, then imported off the async runtime), inspect, remove.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use peapod_api::ApiError;
use peapod_image::ImageError;

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
        ImageError::UnsupportedCompression(_) => ApiError::bad_request(e.to_string()),
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
