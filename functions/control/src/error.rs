//! The one error type of the control plane: every variant has a stable `code`, an HTTP status and a message a
//! person can act on. Internal detail (database or host errors) is logged, never sent to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tradesim_journal::JournalError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A field failed validation; the message names the field and the rule.
    #[error("{0}")]
    InvalidInput(String),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// JSON of the wrong shape: a missing field or a value of the wrong type.
    #[error("the request body does not have the expected fields: {0}")]
    InvalidBody(String),
    #[error("send the request body as JSON with 'Content-Type: application/json'")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("this method is not allowed here; see /v1/openapi.json")]
    MethodNotAllowed,
    #[error("this username is taken; choose another")]
    UsernameTaken,
    #[error("the username or password is wrong")]
    InvalidCredentials,
    #[error("this request needs 'Authorization: Bearer <access token>'; log in to get one")]
    Unauthenticated,
    #[error("the access token is not valid; log in again")]
    InvalidToken,
    #[error("the access token has expired; refresh it")]
    TokenExpired,
    #[error("the refresh token is not valid or has expired; log in again")]
    InvalidRefreshToken,
    #[error("this refresh token was already used, so the sign-in was revoked; log in again")]
    RefreshTokenReused,
    #[error("the session has expired; start a new session")]
    SessionExpired,
    #[error("the session has ended; start a new session")]
    SessionEnded,
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the simulator is stopped; start a new one")]
    SimulatorStopped,
    #[error("too many requests; retry after {} s", retry_after_secs(*.0))]
    RateLimited(Duration),
    #[error("no simulator host has free capacity; try again shortly")]
    NoCapacity,
    /// The simulator host could not be reached or failed; the detail is logged.
    #[error("the simulator host is unavailable; try again shortly")]
    HostUnavailable(String),
    /// The simulator host refused the request with its own code.
    #[error("the simulator host refused the request ({code}): {message}")]
    HostRefused { code: String, message: String },
    /// The simulator manager could not launch a host (missing binary, a start that failed or timed out); the
    /// detail is logged.
    #[error("no simulator host could be started; try again shortly")]
    LaunchFailed(String),
    /// PostgreSQL could not be reached; the detail is logged.
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable(String),
    /// A bug or an unexpected database error; the detail is logged.
    #[error("something went wrong on our side; try again")]
    Internal(String),
}

/// Whole seconds for Retry-After, rounded up so a client that waits that long is admitted.
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl ControlError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "invalid_input",
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidBody(_) => "invalid_body",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UsernameTaken => "username_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::SessionExpired => "session_expired",
            Self::SessionEnded => "session_ended",
            Self::NotFound(_) => "not_found",
            Self::SimulatorStopped => "simulator_stopped",
            Self::RateLimited(_) => "rate_limited",
            Self::NoCapacity => "no_capacity",
            Self::HostUnavailable(_) => "host_unavailable",
            Self::HostRefused { .. } => "host_refused",
            Self::LaunchFailed(_) => "launch_failed",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidInput(_) | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UsernameTaken | Self::SimulatorStopped => StatusCode::CONFLICT,
            Self::InvalidCredentials
            | Self::Unauthenticated
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            Self::SessionExpired | Self::SessionEnded => StatusCode::GONE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::HostRefused { .. } | Self::HostUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::NoCapacity | Self::LaunchFailed(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The detail worth logging, for the variants that hide it from the client.
    fn hidden_detail(&self) -> Option<&str> {
        match self {
            Self::HostUnavailable(detail)
            | Self::LaunchFailed(detail)
            | Self::Unavailable(detail)
            | Self::Internal(detail) => Some(detail),
            _ => None,
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        if let Some(detail) = self.hidden_detail() {
            tracing::error!(code = self.code(), detail, "request failed");
        }
        let body = Json(ErrorBody { code: self.code().to_owned(), message: self.to_string() });
        let mut response = (self.status(), body).into_response();
        if let Self::RateLimited(wait) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
        }
        response
    }
}

/// The journal crate already classifies PostgreSQL and pool failures into "unavailable" and the rest.
impl From<JournalError> for ControlError {
    fn from(error: JournalError) -> Self {
        match error {
            JournalError::Unavailable(detail) => Self::Unavailable(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for ControlError {
    fn from(error: tokio_postgres::Error) -> Self {
        JournalError::from(error).into()
    }
}

impl From<deadpool_postgres::PoolError> for ControlError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        JournalError::from(error).into()
    }
}

/// The JSON body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorBody {
    /// Stable and machine-readable, e.g. `session_expired`.
    pub code: String,
    /// For people: what happened and what to do.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn rate_limited_answers_429_with_retry_after() {
        let response = ControlError::RateLimited(Duration::from_millis(1500)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn hidden_details_stay_out_of_the_message() {
        let error = ControlError::Unavailable("connection refused at 10.0.0.1".into());
        assert!(!error.to_string().contains("10.0.0.1"));
        assert_eq!((error.code(), error.status()), ("unavailable", StatusCode::SERVICE_UNAVAILABLE));
    }
}
