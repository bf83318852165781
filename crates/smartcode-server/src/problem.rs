//! Every refusal as RFC 9457 problem+json, with a stable `code` word. This is the one place where
//! the core's errors meet HTTP statuses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use smartcode_core::error::OpError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Seconds to send in `Retry-After`.
    pub retry_after_seconds: Option<u64>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after_seconds: None,
        }
    }

    pub fn invalid_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    pub fn invalid_code() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "no usable secret code matches",
        )
    }

    pub fn rate_limited(seconds: u64) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed presentations from this address; try again later",
        );
        error.retry_after_seconds = Some(seconds);
        error
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
}

impl From<OpError> for ApiError {
    fn from(error: OpError) -> ApiError {
        let detail = error.to_string();
        let (status, code) = match &error {
            OpError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            OpError::InvalidCode => (StatusCode::UNAUTHORIZED, "invalid_code"),
            OpError::InsufficientFunds => (StatusCode::PAYMENT_REQUIRED, "insufficient_funds"),
            OpError::NotRevocable => (StatusCode::FORBIDDEN, "not_revocable"),
            OpError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            OpError::CurrencyMismatch => (StatusCode::CONFLICT, "currency_mismatch"),
            OpError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            OpError::Expired => (StatusCode::GONE, "expired"),
            OpError::PinRequired => (StatusCode::FORBIDDEN, "pin_required"),
            OpError::PinInvalid => (StatusCode::FORBIDDEN, "pin_invalid"),
            OpError::CodeLocked => (StatusCode::LOCKED, "code_locked"),
            OpError::Restricted(_) => (StatusCode::FORBIDDEN, "restricted"),
            OpError::LimitExceeded(_) => (StatusCode::BAD_REQUEST, "limit_exceeded"),
            OpError::IdempotencyConflict => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_conflict"),
            OpError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            OpError::CodeCollision | OpError::VerifyPin { .. } | OpError::Storage(_) => {
                // Complete in the log, opaque to the caller.
                tracing::error!(error = ?error, "request failed inside the broker");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the broker failed; nothing was changed",
                );
            }
        };
        ApiError::new(status, code, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::metrics::METRICS.refused(self.code);
        let problem = Problem {
            kind: format!("https://smartcode.example/problems/{}", self.code.replace('_', "-")),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
        };
        let body = serde_json::to_vec(&problem).expect("a problem serializes");
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let retry_after_seconds = match self.retry_after_seconds {
            Some(seconds) => Some(seconds),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            None => None,
        };
        if let Some(seconds) = retry_after_seconds {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
