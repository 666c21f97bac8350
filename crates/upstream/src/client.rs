//! The client for one upstream profile: builds each request for the
//! profile's flavour, authenticates it, retries what is safe to retry, and
//! fails fast while the profile's circuit is open.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::multipart::{Form, Part};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use domain::UpstreamId;

use crate::breaker::{Admission, BreakerState, CircuitBreaker};
use crate::config::{Flavour, ProfileConfig};
use crate::credential::Credential;
use crate::error::UpstreamError;
use crate::operation::Operation;
use crate::retry::{backoff, requested_delay};
use crate::sse::{EventStream, events};

/// What to send with a request.
#[derive(Debug, Clone)]
pub enum RequestBody {
    Empty,
    Json(Value),
    /// A file upload (`POST /files`), rebuilt for each attempt.
    File(FileUpload),
    /// A file upload streamed through as it arrives: sent once, never retried.
    FileStream(StreamUpload),
}

/// A multipart file upload whose content is a stream, not held in memory.
#[derive(Debug, Clone)]
pub struct StreamUpload {
    pub purpose: String,
    pub filename: String,
    pub content_type: Option<String>,
    /// The content's length, when the caller knows it.
    pub length: Option<u64>,
    body: std::sync::Arc<std::sync::Mutex<Option<reqwest::Body>>>,
}

impl StreamUpload {
    pub fn new(
        purpose: String,
        filename: String,
        content_type: Option<String>,
        length: Option<u64>,
        body: reqwest::Body,
    ) -> Self {
        Self {
            purpose,
            filename,
            content_type,
            length,
            body: std::sync::Arc::new(std::sync::Mutex::new(Some(body))),
        }
    }

    fn form(&self) -> Result<Form, String> {
        let body = self
            .body
            .lock()
            .map_err(|_| "upload lock poisoned".to_owned())?
            .take()
            .ok_or("the upload stream was sent already and cannot be repeated")?;
        let mut part = match self.length {
            Some(length) => Part::stream_with_length(body, length),
            None => Part::stream(body),
        }
        .file_name(self.filename.clone());
        if let Some(content_type) = &self.content_type {
            part = part.mime_str(content_type).map_err(|e| e.to_string())?;
        }
        Ok(Form::new()
            .text("purpose", self.purpose.clone())
            .part("file", part))
    }
}

/// A multipart file upload held in memory.
#[derive(Debug, Clone)]
pub struct FileUpload {
    pub purpose: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub content: Bytes,
}

/// One request: the operation, the ids its path names, and its query.
#[derive(Debug, Clone)]
pub struct UpstreamRequest<'a> {
    pub operation: Operation,
    pub ids: &'a [&'a UpstreamId],
    pub query: Vec<(String, String)>,
    pub body: RequestBody,
    /// A stable pseudonym of the end-user the request is for, sent to
    /// upstreams that scope data by it (Foundry's `x-ms-user-isolation-key`).
    pub user_isolation_key: Option<String>,
}

impl<'a> UpstreamRequest<'a> {
    pub fn new(operation: Operation, ids: &'a [&'a UpstreamId]) -> Self {
        Self {
            operation,
            ids,
            query: Vec::new(),
            body: RequestBody::Empty,
            user_isolation_key: None,
        }
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = RequestBody::Json(body);
        self
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }
}

/// How a request's answer will be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Read whole, within the request timeout.
    Whole,
    /// Headers within the request timeout; the body as it comes.
    Streamed,
}

#[derive(Debug)]
pub struct UpstreamClient {
    profile: String,
    config: ProfileConfig,
    http: reqwest::Client,
    credential: Credential,
    breaker: CircuitBreaker,
}

impl UpstreamClient {
    pub fn new(profile: &str, config: ProfileConfig) -> Result<Self, UpstreamError> {
        let invalid = |problem: String| UpstreamError::InvalidProfile {
            profile: profile.to_owned(),
            problem,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            // Tokens and keys must not follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let credential =
            Credential::from_config(&config.credential, config.default_scope(), http.clone())
                .map_err(invalid)?;
        if config.retry.max_attempts == 0 {
            return Err(invalid("retry.max_attempts must be at least 1".to_owned()));
        }
        Ok(Self {
            profile: profile.to_owned(),
            breaker: CircuitBreaker::new(config.circuit_breaker).for_profile(profile),
            config,
            http,
            credential,
        })
    }

    pub fn profile(&self) -> &str {
        &self.profile
    }

    pub fn flavour(&self) -> Flavour {
        self.config.flavour
    }

    pub fn circuit_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Sends the request and decodes a JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: UpstreamRequest<'_>,
    ) -> Result<T, UpstreamError> {
        let operation = request.operation;
        let response = self.send(request, Reading::Whole).await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        // Some answers have no body (a response's delete): read as `null`.
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &body
        };
        serde_json::from_slice(body)
            .map_err(|e| UpstreamError::Decode(format!("{operation:?}: {e}")))
    }

    /// Sends a `stream: true` request; the events arrive as the upstream
    /// sends them, never buffered whole.
    pub async fn stream(&self, request: UpstreamRequest<'_>) -> Result<EventStream, UpstreamError> {
        let response = self.send(request, Reading::Streamed).await?;
        let is_event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_event_stream {
            return Err(UpstreamError::Decode(
                "a stream was asked for, but the answer is not text/event-stream".to_owned(),
            ));
        }
        Ok(events(response))
    }

    /// Sends the request and hands back the successful response unread, for
    /// bodies passed through as they arrive (file content).
    pub async fn raw(
        &self,
        request: UpstreamRequest<'_>,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.send(request, Reading::Streamed).await
    }

    async fn send(
        &self,
        request: UpstreamRequest<'_>,
        reading: Reading,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.send_with_retries(request, reading).await
    }

    /// The client span of one attempt, in OpenTelemetry's HTTP semantic
    /// conventions: named `METHOD template` (never by id), one per attempt,
    /// with `http.request.resend_count` from the second on.
    fn attempt_span(&self, operation: Operation, attempt: u32) -> tracing::Span {
        let endpoint = &self.config.endpoint;
        tracing::info_span!(
            "upstream",
            otel.name = %format_args!("{} {}", operation.method(), operation.template()),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            upstream.profile = %self.profile,
            http.request.method = %operation.method(),
            url.template = operation.template(),
            server.address = endpoint.host_str().unwrap_or_default(),
            server.port = endpoint.port_or_known_default(),
            http.request.resend_count = (attempt > 1).then(|| attempt - 1),
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    }

    async fn send_with_retries(
        &self,
        request: UpstreamRequest<'_>,
        reading: Reading,
    ) -> Result<reqwest::Response, UpstreamError> {
        let operation = request.operation;
        let path = operation.path(request.ids).map_err(UpstreamError::Decode)?;
        let retry = self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let admission = self.breaker.admit();
            if let Admission::Rejected { retry_after } = admission {
                return Err(UpstreamError::CircuitOpen {
                    profile: self.profile.clone(),
                    retry_after,
                });
            }
            let started = std::time::Instant::now();
            let span = self.attempt_span(operation, attempt);
            let outcome = self
                .attempt(&request, &path, reading)
                .instrument(span.clone())
                .await;
            let status = match &outcome {
                Ok(response) => response.status().as_u16().to_string(),
                Err(Attempt::Status { status, .. }) => status.to_string(),
                Err(Attempt::NotSent(_) | Attempt::Broken(_)) => "transport".to_owned(),
                Err(Attempt::TimedOut) => "timeout".to_owned(),
                Err(Attempt::Credential(_) | Attempt::Invalid(_)) => "not_sent".to_owned(),
            };
            if outcome.is_err() {
                // A client span fails on any error status, as on no answer.
                span.record("otel.status_code", "ERROR");
                span.record("error.type", status.as_str());
            }
            let labels = [
                ("operation", operation.template().to_owned()),
                ("status", status),
                ("attempt", attempt.to_string()),
            ];
            metrics::counter!("threadgate_upstream_requests_total", &labels).increment(1);
            metrics::histogram!("threadgate_upstream_request_duration_seconds", "operation" => operation.template())
                .record(started.elapsed().as_secs_f64());
            // A streamed body is gone once sent: there is nothing to repeat.
            let replayable = !matches!(request.body, RequestBody::FileStream(_));
            let last_attempt = attempt >= retry.max_attempts || !replayable;
            let error = match outcome {
                Ok(response) => {
                    self.breaker.record_success();
                    return Ok(response);
                }
                Err(error) => error,
            };

            let delay = match &error {
                Attempt::Status {
                    status: 429 | 503,
                    retry_after,
                    ..
                } => {
                    match retry_after {
                        // Longer than we will wait: the caller decides.
                        Some(delay) if *delay > retry.max_retry_after => None,
                        Some(delay) => Some(*delay),
                        None => Some(backoff(&retry, attempt)),
                    }
                }
                // Never reached the upstream: safe for any operation.
                Attempt::NotSent(_) => Some(backoff(&retry, attempt)),
                _ => None,
            };
            let error = error.into_error(operation);
            if error.is_upstream_failure() {
                self.breaker.record_failure();
            } else if admission == Admission::Probe {
                self.breaker.release_probe();
            }
            match delay {
                Some(delay) if !last_attempt && self.breaker.state() == BreakerState::Closed => {
                    metrics::counter!("threadgate_upstream_retries_total", "operation" => operation.template())
                        .increment(1);
                    tracing::info!(attempt, ?delay, error = %error, "retrying upstream call");
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(error),
            }
        }
    }

    async fn attempt(
        &self,
        request: &UpstreamRequest<'_>,
        path: &str,
        reading: Reading,
    ) -> Result<reqwest::Response, Attempt> {
        let operation = request.operation;
        let mut builder = self
            .http
            .request(operation.method(), self.url(operation, path))
            .query(&request.query);
        match (self.config.flavour, operation.is_responses_api()) {
            (Flavour::Azure | Flavour::Foundry, false) => {
                builder = builder.query(&[("api-version", self.config.api_version())]);
            }
            (Flavour::OpenAi, false) => builder = builder.header("OpenAI-Beta", "assistants=v2"),
            // Azure's v1 API takes no api-version; OpenAI's needs no beta header.
            (_, true) => {}
        }
        // Foundry scopes its data to the end-user this names, as defence in
        // depth behind Threadgate's own authorization.
        if let (Flavour::Foundry, Some(key)) = (self.config.flavour, &request.user_isolation_key) {
            builder = builder.header("x-ms-user-isolation-key", key);
        }
        builder = match &request.body {
            RequestBody::Empty => builder,
            RequestBody::Json(body) => builder.json(body),
            RequestBody::File(upload) => {
                builder.multipart(upload.form().map_err(Attempt::Invalid)?)
            }
            RequestBody::FileStream(upload) => {
                builder.multipart(upload.form().map_err(Attempt::Invalid)?)
            }
        };
        builder = builder.headers(trace_context());
        let builder = self
            .credential
            .apply(builder)
            .await
            .map_err(Attempt::Credential)?;

        let timeout = self.config.timeouts.request;
        let sent = tokio::time::timeout(timeout, builder.send()).await;
        let response = match sent {
            Err(_elapsed) => return Err(Attempt::TimedOut),
            Ok(Err(error)) if error.is_connect() => {
                return Err(Attempt::NotSent(error.to_string()));
            }
            Ok(Err(error)) if error.is_timeout() => return Err(Attempt::TimedOut),
            Ok(Err(error)) => return Err(Attempt::Broken(error.to_string())),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        if status.is_success() {
            return match reading {
                Reading::Streamed => Ok(response),
                // Read within the timeout, then hand over a buffered response.
                Reading::Whole => buffered(response, timeout).await,
            };
        }
        let retry_after = requested_delay(response.headers());
        let body = tokio::time::timeout(timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Err(Attempt::Status {
            status: status.as_u16(),
            retry_after,
            body,
        })
    }

    fn url(&self, operation: Operation, path: &str) -> String {
        let base = self.config.endpoint.as_str().trim_end_matches('/');
        match (self.config.flavour, operation.is_responses_api()) {
            (Flavour::Azure, false) => format!("{base}/openai{path}"),
            (Flavour::Azure | Flavour::Foundry, true) => format!("{base}/openai/v1{path}"),
            (Flavour::Foundry, false) => format!("{base}{path}"),
            (Flavour::OpenAi, _) => format!("{base}/v1{path}"),
        }
    }
}

/// How one attempt went wrong.
enum Attempt {
    Status {
        status: u16,
        retry_after: Option<Duration>,
        body: Bytes,
    },
    /// The connection was never made: the upstream heard nothing.
    NotSent(String),
    /// No answer in time, possibly after the upstream received the request.
    TimedOut,
    /// The connection broke, possibly after sending.
    Broken(String),
    Credential(UpstreamError),
    Invalid(String),
}

impl Attempt {
    fn into_error(self, operation: Operation) -> UpstreamError {
        match self {
            Attempt::Status {
                status,
                retry_after,
                body,
            } => UpstreamError::from_status(status, retry_after, &body),
            Attempt::NotSent(reason) => UpstreamError::Transport(reason),
            Attempt::TimedOut if operation.changes_state() => UpstreamError::Ambiguous {
                operation,
                reason: "no answer within the request timeout".to_owned(),
            },
            Attempt::TimedOut => UpstreamError::Timeout,
            Attempt::Broken(reason) if operation.changes_state() => {
                UpstreamError::Ambiguous { operation, reason }
            }
            Attempt::Broken(reason) => UpstreamError::Transport(reason),
            Attempt::Credential(error) => error,
            Attempt::Invalid(reason) => UpstreamError::Decode(reason),
        }
    }
}

/// Reads a whole successful body within `timeout` and rebuilds the response
/// around it, so callers read it without waiting on the network again.
async fn buffered(
    response: reqwest::Response,
    timeout: Duration,
) -> Result<reqwest::Response, Attempt> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = match tokio::time::timeout(timeout, response.bytes()).await {
        Err(_) => return Err(Attempt::TimedOut),
        Ok(Err(error)) => return Err(Attempt::Broken(error.to_string())),
        Ok(Ok(body)) => body,
    };
    let mut rebuilt = http_response(status, body);
    *rebuilt.headers_mut() = headers;
    Ok(reqwest::Response::from(rebuilt))
}

fn http_response(status: reqwest::StatusCode, body: Bytes) -> http::Response<Bytes> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
}

impl FileUpload {
    fn form(&self) -> Result<Form, String> {
        let mut part = Part::stream(reqwest::Body::from(self.content.clone()))
            .file_name(self.filename.clone());
        if let Some(content_type) = &self.content_type {
            part = part.mime_str(content_type).map_err(|e| e.to_string())?;
        }
        Ok(Form::new()
            .text("purpose", self.purpose.clone())
            .part("file", part))
    }
}

/// W3C trace context of the current span (`traceparent`, `tracestate`), as
/// the globally installed propagator writes it; nothing when none is.
fn trace_context() -> HeaderMap {
    use opentelemetry::propagation::Injector;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    struct Headers<'a>(&'a mut HeaderMap);
    impl Injector for Headers<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value))
            {
                self.0.insert(name, value);
            }
        }
    }

    let mut headers = HeaderMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut Headers(&mut headers));
    });
    headers
}
