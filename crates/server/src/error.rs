//! Every failure leaves the server as a Kubernetes `Status` body with the
//! right HTTP code, so kubectl prints the same message a cluster gives.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use peapod_api::ApiError;
use peapod_store::{StoreError, UpdateError};

/// An error on its way to the client.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

pub type HttpResult<T> = Result<T, HttpError>;

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0.to_status()).unwrap_or_default();
        (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Map a store error for `resource`/`name` to the apiserver's error.
pub fn store_error(resource: &str, name: &str, e: StoreError) -> HttpError {
    HttpError(match e {
        StoreError::NotFound { .. } => ApiError::not_found(resource, name),
        StoreError::AlreadyExists { .. } => ApiError::already_exists(resource, name),
        StoreError::Conflict { message, .. } => {
            if message.starts_with("Precondition failed") {
                ApiError::conflict(resource, name, &message)
            } else {
                ApiError::conflict(resource, name, peapod_store::CONFLICT_MESSAGE)
            }
        }
        StoreError::Expired { requested, oldest } => {
            ApiError::gone_expired(format!("too old resource version: {requested} ({oldest})"))
        }
        StoreError::TooLargeResourceVersion { requested, current } => {
            ApiError::timeout(format!("Too large resource version: {requested}, current: {current}"))
        }
        other => ApiError::internal(other.to_string()),
    })
}

pub fn update_error(resource: &str, name: &str, e: UpdateError<HttpError>) -> HttpError {
    match e {
        UpdateError::Store(s) => store_error(resource, name, s),
        UpdateError::Aborted(h) => h,
    }
}
