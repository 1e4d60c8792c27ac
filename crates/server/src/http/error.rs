//! The one HTTP error type: each variant is a status code; the body is `{message}` in words (a `410` adds
//! `latestSeq`, where the client starts again). Internal failures are logged with their detail and reach the
//! client as a plain "internal error".

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use order_protocol::ErrorBody;

use crate::auth::TokenError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Gone { message: String, latest_seq: u64 },
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A limit: `what` was too many; the answer says when to try again (`Retry-After`).
    #[error("too many {what}; try again in {} s", retry_after(*.wait))]
    TooManyRequests { what: &'static str, wait: Duration },
    /// The database cannot be reached (restarting, or the network): nothing was done; try again shortly.
    #[error("the order database is unavailable right now; nothing was changed, try again shortly")]
    Unavailable(String),
    /// The detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "request failed"),
            ApiError::Unavailable(detail) => tracing::warn!(%detail, "request refused: database unavailable"),
            _ => {}
        }
        let (status, message) = (self.status(), self.to_string());
        match self {
            ApiError::Gone { latest_seq, .. } => {
                (status, Json(serde_json::json!({ "message": message, "latestSeq": latest_seq }))).into_response()
            }
            ApiError::Unavailable(_) => {
                (status, [(header::RETRY_AFTER, "1".to_owned())], Json(ErrorBody { message })).into_response()
            }
            ApiError::TooManyRequests { wait, .. } => {
                let secs = retry_after(wait);
                (status, [(header::RETRY_AFTER, secs.to_string())], Json(ErrorBody { message })).into_response()
            }
            _ => (status, Json(ErrorBody { message })).into_response(),
        }
    }
}

/// Whole seconds to wait, at least one.
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::NotFound(e.to_string()),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Gone { message, latest_seq } => ApiError::Gone { message, latest_seq },
            other if other.is_unavailable() => ApiError::Unavailable(other.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::Unauthorized(format!("not signed in: {e}"))
    }
}
