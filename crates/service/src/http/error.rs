//! The HTTP API's one error type: a status and `{"error": message, "kind": kind}`, from the
//! facade's errors and the fleet registry's.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rtsp_worker::Error;
use serde_json::json;

use crate::registry::{RegistryError, SwapError};

/// An error answer: a status and `{"error": message, "kind": kind}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "kind": self.kind});
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::DuplicateStream(_) | Error::TooManyStreams(_) => StatusCode::CONFLICT,
            Error::UnknownStream(_) | Error::ModelNotFound { .. } => StatusCode::NOT_FOUND,
            Error::ModelClassesDiffer { .. } => StatusCode::CONFLICT,
            Error::Model(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Camera { .. }
            | Error::InvalidConfig { .. }
            | Error::InvalidStreamId(_)
            | Error::FileUrlRefused => StatusCode::BAD_REQUEST,
            Error::Shutdown => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.kind(), e.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Exists => {
                ApiError::new(StatusCode::CONFLICT, "duplicate_stream", e.to_string())
            }
            RegistryError::Missing => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_stream", e.to_string())
            }
            RegistryError::Invalid(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
            }
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "cluster", e.to_string()),
        }
    }
}

impl From<SwapError> for ApiError {
    fn from(e: SwapError) -> Self {
        match e {
            SwapError::Disabled => {
                ApiError::new(StatusCode::FORBIDDEN, "model_swap_disabled", e.to_string())
            }
            SwapError::BadName => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
            }
            SwapError::Busy => {
                ApiError::new(StatusCode::CONFLICT, "swap_in_progress", e.to_string())
            }
            SwapError::Failed(e) => e.into(),
        }
    }
}
