//! The API's one error type, and the only place where failures become HTTP
//! statuses. Bodies have OpenAI's shape so the official SDKs raise their usual
//! exceptions: `{"error": {"message", "type", "param", "code"}}`.
//!
//! Server-side failures (5xx) never describe their cause to the caller; the
//! cause is logged with the request's span instead.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use utoipa::ToSchema;

use storage::StorageError;

/// OpenAI's error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A human-readable description of the problem.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `rate_limit_error` or `server_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request parameter the error is about, if any.
    pub param: Option<String>,
    /// A machine-readable code, if any.
    pub code: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {message}")]
    BadRequest {
        message: String,
        param: Option<String>,
    },
    #[error("unauthenticated: {message}")]
    Unauthenticated { message: String },
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// Also what every denied id becomes: a caller cannot tell an object that
    /// exists but is not theirs from one that never existed.
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("conflict: {message}")]
    Conflict { message: String },
    #[error("payload too large: {message}")]
    PayloadTooLarge { message: String },
    /// Threadgate or its upstream cannot serve now; `Retry-After` says when
    /// to come back.
    #[error("unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("content filtered: {message}")]
    ContentFiltered { message: String },
    /// The upstream asked us to slow down; the delay is passed on.
    #[error("rate limited")]
    RateLimited {
        retry_after: Option<std::time::Duration>,
    },
    /// Over one of Threadgate's own limits (requests per minute, open
    /// streams): `kind` says which, as OpenAI's `type` does.
    #[error("over a limit: {message}")]
    OverLimit {
        message: String,
        kind: &'static str,
        retry_after: std::time::Duration,
    },
    /// A token budget is spent until it renews: retrying sooner is no use
    /// (`x-should-retry: false`).
    #[error("quota exhausted: {message}")]
    QuotaExhausted {
        message: String,
        limit: u64,
        retry_after: std::time::Duration,
    },
    /// The upstream failed (5xx, transport, or refused our own credential).
    #[error("bad gateway")]
    BadGateway,
    #[error("upstream timeout")]
    UpstreamTimeout,
    /// A change was sent upstream and no answer came: it may have happened.
    #[error("upstream outcome unknown: {message}")]
    UpstreamUnknownOutcome { message: String },
    /// Anything the caller cannot fix. The source is logged, never sent.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound {
            message: message.into(),
        }
    }

    /// Unavailable for about a second (a database blip, a probe in flight).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::unavailable_for(message, std::time::Duration::from_secs(1))
    }

    pub fn unavailable_for(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        ApiError::Unavailable {
            message: message.into(),
            retry_after,
        }
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(error))
    }

    fn body(&self) -> ErrorBody {
        let (message, kind, param, code) = match self {
            ApiError::BadRequest { message, param } => (
                message.clone(),
                "invalid_request_error",
                param.clone(),
                None,
            ),
            ApiError::Unauthenticated { message } => (
                message.clone(),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
            ApiError::Forbidden { message } => (message.clone(), "permission_error", None, None),
            ApiError::NotFound { message } => {
                (message.clone(), "invalid_request_error", None, None)
            }
            ApiError::Conflict { message } => {
                (message.clone(), "invalid_request_error", None, None)
            }
            ApiError::PayloadTooLarge { message } => (
                message.clone(),
                "invalid_request_error",
                None,
                Some("payload_too_large"),
            ),
            ApiError::Unavailable { message, .. } => (message.clone(), "server_error", None, None),
            ApiError::ContentFiltered { message } => (
                message.clone(),
                "invalid_request_error",
                None,
                Some("content_filter"),
            ),
            ApiError::RateLimited { .. } => (
                "Rate limit reached. Please retry after the delay in Retry-After.".to_owned(),
                "rate_limit_error",
                None,
                Some("rate_limit_exceeded"),
            ),
            ApiError::OverLimit { message, kind, .. } => {
                (message.clone(), *kind, None, Some("rate_limit_exceeded"))
            }
            ApiError::QuotaExhausted { message, .. } => (
                message.clone(),
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
            ApiError::BadGateway => (
                "The upstream service failed to process the request.".to_owned(),
                "server_error",
                None,
                None,
            ),
            ApiError::UpstreamTimeout => (
                "The upstream service did not answer in time.".to_owned(),
                "server_error",
                None,
                None,
            ),
            ApiError::UpstreamUnknownOutcome { message } => {
                (message.clone(), "server_error", None, None)
            }
            ApiError::Internal(_) => (
                "The server had an error while processing your request.".to_owned(),
                "server_error",
                None,
                None,
            ),
        };
        ErrorBody {
            error: ErrorDetail {
                message,
                kind,
                param,
                code,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::ContentFiltered { .. } => StatusCode::BAD_REQUEST,
            ApiError::RateLimited { .. }
            | ApiError::OverLimit { .. }
            | ApiError::QuotaExhausted { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway => StatusCode::BAD_GATEWAY,
            ApiError::UpstreamTimeout | ApiError::UpstreamUnknownOutcome { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(source) = self {
            tracing::error!(error = %source, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::RateLimited {
            retry_after: Some(delay),
        }
        | ApiError::Unavailable {
            retry_after: delay, ..
        }
        | ApiError::OverLimit {
            retry_after: delay, ..
        }
        | ApiError::QuotaExhausted {
            retry_after: delay, ..
        } = self
        {
            // Whole seconds, rounded up: never "come back now".
            let seconds = (delay.as_secs() + u64::from(delay.subsec_nanos() > 0)).max(1);
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            response.insert_header(("retry-after-ms", delay.as_millis().max(1).to_string()));
        }
        if let ApiError::QuotaExhausted {
            limit, retry_after, ..
        } = self
        {
            // OpenAI's SDKs retry a 429 unless told not to.
            response.insert_header(("x-should-retry", "false"));
            response.insert_header(("x-ratelimit-limit-tokens", limit.to_string()));
            response.insert_header(("x-ratelimit-remaining-tokens", "0"));
            response.insert_header((
                "x-ratelimit-reset-tokens",
                crate::quota::duration_text(*retry_after),
            ));
        }
        if matches!(self, ApiError::Unauthenticated { .. }) {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            ));
        }
        response.json(self.body())
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(ref detail) => {
                tracing::warn!(%detail, "database unavailable");
                ApiError::unavailable("The service is temporarily unavailable. Please retry.")
            }
            StorageError::OwnerErased => ApiError::Forbidden {
                message: "This user is disabled.".to_owned(),
            },
            other => ApiError::internal(other),
        }
    }
}

/// The answer for a path no route matches, in OpenAI's words.
pub async fn unknown_route(request: HttpRequest) -> HttpResponse {
    ApiError::not_found(format!(
        "Invalid URL ({} {})",
        request.method(),
        request.path()
    ))
    .error_response()
}

pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _request| {
            let message = match &error {
                actix_web::error::JsonPayloadError::ContentType => {
                    "Expected a JSON body with `Content-Type: application/json`.".to_owned()
                }
                actix_web::error::JsonPayloadError::Overflow { limit }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { limit, .. } => {
                    return ApiError::PayloadTooLarge {
                        message: format!("The request body exceeds {limit} bytes."),
                    }
                    .into();
                }
                other => format!("We could not parse the JSON body of your request: {other}"),
            };
            ApiError::bad_request(message, None).into()
        })
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        ApiError::bad_request(format!("Invalid query parameters: {error}"), None).into()
    })
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _request| {
        ApiError::bad_request(format!("Invalid path: {error}"), None).into()
    })
}

/// What an upstream failure becomes for the caller. Nothing of the
/// upstream's address, key or internals is passed on.
impl From<upstream::UpstreamError> for ApiError {
    fn from(error: upstream::UpstreamError) -> Self {
        use upstream::UpstreamError;
        match error {
            UpstreamError::NotFound(body) => ApiError::not_found(body.message),
            UpstreamError::BadRequest(body) => ApiError::BadRequest {
                message: body.message,
                param: body.param,
            },
            UpstreamError::ContentFiltered(body) => ApiError::ContentFiltered { message: body.message },
            UpstreamError::RateLimited { retry_after, .. } => ApiError::RateLimited { retry_after },
            UpstreamError::Rejected { status: 409, body } => ApiError::Conflict { message: body.message },
            UpstreamError::Ambiguous { .. } => ApiError::UpstreamUnknownOutcome {
                message: "The upstream did not answer in time; the operation may or may not have taken effect.".to_owned(),
            },
            UpstreamError::Timeout => ApiError::UpstreamTimeout,
            UpstreamError::CircuitOpen { retry_after, .. } => ApiError::unavailable_for(
                "The upstream is unavailable. Please retry later.",
                retry_after,
            ),
            UpstreamError::Unavailable { retry_after, .. } => ApiError::unavailable_for(
                "The upstream is overloaded. Please retry after the delay in Retry-After.",
                retry_after.unwrap_or(std::time::Duration::from_secs(1)),
            ),
            other => {
                tracing::error!(error = %other, "upstream failure");
                ApiError::BadGateway
            }
        }
    }
}
