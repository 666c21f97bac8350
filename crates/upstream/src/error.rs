//! The upstream crate's one error type, parsed from both error spellings:
//! OpenAI's `{"error": {"type", "message", "param", "code"}}` and Azure's,
//! which adds `innererror` / `inner_error` with content filter results.

use std::time::Duration;

use serde_json::Value;

use crate::operation::Operation;

/// What the upstream said about a failed request, when it said anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorBody {
    pub message: String,
    pub kind: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
    /// Azure's `innererror.code` (e.g. `ResponsibleAIPolicyViolation`).
    pub inner_code: Option<String>,
    /// Azure's content filter results, as sent.
    pub content_filter: Option<Value>,
}

impl ErrorBody {
    /// Parses either spelling; `None` when the body is not an error object.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let error = value.get("error")?;
        let text = |key: &str| match error.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let inner = error.get("innererror").or_else(|| error.get("inner_error"));
        Some(Self {
            message: text("message").unwrap_or_default(),
            kind: text("type"),
            param: text("param"),
            code: text("code"),
            inner_code: inner
                .and_then(|i| i.get("code"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            content_filter: inner
                .and_then(|i| {
                    i.get("content_filter_result")
                        .or_else(|| i.get("content_filter_results"))
                })
                .cloned(),
        })
    }

    fn is_content_filter(&self) -> bool {
        self.code.as_deref() == Some("content_filter")
            || self.code.as_deref() == Some("content_policy_violation")
            || self.inner_code.as_deref() == Some("ResponsibleAIPolicyViolation")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream: not found: {}", .0.message)]
    NotFound(Box<ErrorBody>),
    #[error("upstream: bad request: {}", .0.message)]
    BadRequest(Box<ErrorBody>),
    /// The upstream refused our credential (401 or 403): a configuration
    /// problem of ours, never the end-user's.
    #[error("upstream: credential refused ({status}): {}", .body.message)]
    Unauthorized { status: u16, body: Box<ErrorBody> },
    #[error("upstream: rate limited (retry after {retry_after:?})")]
    RateLimited {
        retry_after: Option<Duration>,
        body: Box<ErrorBody>,
    },
    #[error("upstream: content filtered: {}", .0.message)]
    ContentFiltered(Box<ErrorBody>),
    /// Any other 4xx.
    #[error("upstream: status {status}: {}", .body.message)]
    Rejected { status: u16, body: Box<ErrorBody> },
    /// 503: the upstream is overloaded or down for a while, and may say
    /// how long (`Retry-After`).
    #[error("upstream: unavailable (retry after {retry_after:?})")]
    Unavailable {
        retry_after: Option<Duration>,
        body: Option<Box<ErrorBody>>,
    },
    #[error("upstream: server error {status}")]
    Server {
        status: u16,
        body: Option<Box<ErrorBody>>,
    },
    #[error("upstream: timed out")]
    Timeout,
    #[error("upstream: transport failure: {0}")]
    Transport(String),
    /// A request that changes state was sent, and its outcome is unknown (it
    /// timed out or the connection broke after sending). It was not retried:
    /// the caller must reconcile, e.g. by listing what exists.
    #[error("upstream: outcome of {operation:?} unknown: {reason}")]
    Ambiguous {
        operation: Operation,
        reason: String,
    },
    /// The profile's circuit breaker is open: the upstream failed repeatedly
    /// and is not being called until a probe succeeds.
    #[error("upstream: circuit open for profile `{profile}`")]
    CircuitOpen {
        profile: String,
        /// How long the circuit stays open.
        retry_after: Duration,
    },
    /// Obtaining an access token failed.
    #[error("upstream: credential: {0}")]
    Credential(String),
    /// The upstream answered something that is not what the API returns.
    #[error("upstream: unexpected response: {0}")]
    Decode(String),
    #[error("no upstream profile named `{0}` is configured")]
    UnknownProfile(String),
    #[error("upstream profile `{profile}`: {problem}")]
    InvalidProfile { profile: String, problem: String },
}

impl UpstreamError {
    /// Classifies an error status and its body.
    pub(crate) fn from_status(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let parsed = ErrorBody::parse(body);
        let body_or_default = || {
            Box::new(parsed.clone().unwrap_or_else(|| ErrorBody {
                message: String::from_utf8_lossy(body).chars().take(500).collect(),
                ..ErrorBody::default()
            }))
        };
        if parsed.as_ref().is_some_and(ErrorBody::is_content_filter) {
            return UpstreamError::ContentFiltered(body_or_default());
        }
        match status {
            404 => UpstreamError::NotFound(body_or_default()),
            400 | 422 => UpstreamError::BadRequest(body_or_default()),
            401 | 403 => UpstreamError::Unauthorized {
                status,
                body: body_or_default(),
            },
            429 => UpstreamError::RateLimited {
                retry_after,
                body: body_or_default(),
            },
            503 => UpstreamError::Unavailable {
                retry_after,
                body: parsed.map(Box::new),
            },
            500..=599 => UpstreamError::Server {
                status,
                body: parsed.map(Box::new),
            },
            _ => UpstreamError::Rejected {
                status,
                body: body_or_default(),
            },
        }
    }

    /// Failures that say the upstream itself is unwell (they count against
    /// the circuit breaker); a 4xx is the request's fault, not the upstream's.
    pub(crate) fn is_upstream_failure(&self) -> bool {
        matches!(
            self,
            UpstreamError::Server { .. }
                | UpstreamError::Unavailable { .. }
                | UpstreamError::Timeout
                | UpstreamError::Transport(_)
                | UpstreamError::Ambiguous { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_openai_spelling() {
        let body = br#"{"error":{"message":"No thread found with id 'x'.","type":"invalid_request_error","param":null,"code":null}}"#;
        let error = UpstreamError::from_status(404, None, body);
        let UpstreamError::NotFound(parsed) = error else {
            panic!("{error:?}")
        };
        assert_eq!(parsed.message, "No thread found with id 'x'.");
        assert_eq!(parsed.kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(parsed.code, None);
    }

    #[test]
    fn parses_azure_content_filters_in_both_spellings() {
        for inner in ["innererror", "inner_error"] {
            let body = format!(
                r#"{{"error":{{"message":"filtered","param":"prompt","code":"content_filter","status":400,"{inner}":{{"code":"ResponsibleAIPolicyViolation","content_filter_result":{{"hate":{{"filtered":true,"severity":"high"}}}}}}}}}}"#
            );
            let error = UpstreamError::from_status(400, None, body.as_bytes());
            let UpstreamError::ContentFiltered(parsed) = error else {
                panic!("{error:?}")
            };
            assert_eq!(
                parsed.inner_code.as_deref(),
                Some("ResponsibleAIPolicyViolation")
            );
            assert_eq!(parsed.content_filter.unwrap()["hate"]["filtered"], true);
        }
    }

    #[test]
    fn parses_azure_front_door_errors_with_numeric_codes() {
        let body = br#"{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}"#;
        let error = UpstreamError::from_status(401, None, body);
        let UpstreamError::Unauthorized { status, body } = error else {
            panic!("{error:?}")
        };
        assert_eq!(status, 401);
        assert_eq!(body.code.as_deref(), Some("401"));
    }

    #[test]
    fn classifies_statuses() {
        assert!(matches!(
            UpstreamError::from_status(429, None, b"{}"),
            UpstreamError::RateLimited { .. }
        ));
        assert!(matches!(
            UpstreamError::from_status(503, Some(Duration::from_secs(7)), b"oops"),
            UpstreamError::Unavailable {
                retry_after: Some(delay),
                body: None
            } if delay == Duration::from_secs(7)
        ));
        assert!(matches!(
            UpstreamError::from_status(502, None, b"oops"),
            UpstreamError::Server {
                status: 502,
                body: None
            }
        ));
        assert!(matches!(
            UpstreamError::from_status(409, None, b"{}"),
            UpstreamError::Rejected { status: 409, .. }
        ));
        assert!(
            matches!(UpstreamError::from_status(400, None, b"not json"), UpstreamError::BadRequest(b) if b.message == "not json")
        );
    }
}
