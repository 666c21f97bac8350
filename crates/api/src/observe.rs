//! What the API tells operators: the request span (route template, tenant,
//! status, the request id) and request metrics by route template and status.
//! Tenant ids are span attributes, never metric labels: too many values.
//! Spans follow OpenTelemetry's HTTP semantic conventions.

use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use crate::request_id::RequestId;

/// The server span of each request, in OpenTelemetry's HTTP semantic
/// conventions (named `METHOD route`; `http.request.method`, `http.route`,
/// `url.path`, `http.response.status_code`, `error.type`, ...), continuing
/// the caller's W3C trace context; plus our request id and the tenant.
/// tracing-actix-web drives it; its own span still speaks the conventions'
/// old names, so the span is built here.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let method = request.method().as_str().to_owned();
        let route = request.match_pattern();
        let name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.clone(),
        };
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = %method,
            http.route = route.as_deref().unwrap_or_default(),
            url.path = request.path(),
            url.scheme = tracing::field::Empty,
            server.address = tracing::field::Empty,
            server.port = tracing::field::Empty,
            client.address = tracing::field::Empty,
            user_agent.original = tracing::field::Empty,
            network.protocol.version = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            http.request_id = %request_id,
            trace_id = tracing::field::Empty,
            tenant.id = tracing::field::Empty,
        );
        if TRACE_DETAILS.load(Ordering::Relaxed) {
            record_details(request, &span);
        }
        continue_callers_trace(request, &span);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.response().error().map_or_else(
                || response.status(),
                |error| error.as_response_error().status_code(),
            ),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.response.status_code", status.as_u16());
        // A server span is an error only when the server failed (5xx).
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", status.as_str());
        }
    }
}

/// Whether server spans carry the conventions' connection details. Log
/// lines show every field of their request span, so the details are
/// recorded only when a trace exporter is there to use them.
static TRACE_DETAILS: AtomicBool = AtomicBool::new(false);

/// Records the connection details on server spans from now on (when traces
/// are exported).
pub fn record_trace_details(on: bool) {
    TRACE_DETAILS.store(on, Ordering::Relaxed);
}

fn record_details(request: &ServiceRequest, span: &Span) {
    let connection = request.connection_info();
    let (host, port) = split_host(connection.host());
    span.record("url.scheme", connection.scheme());
    span.record("server.address", host);
    if let Some(port) = port {
        span.record("server.port", port);
    }
    if let Some(peer) = connection.peer_addr() {
        span.record("client.address", peer);
    }
    if let Some(agent) = request
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
    {
        span.record("user_agent.original", agent);
    }
    span.record(
        "network.protocol.version",
        protocol_version(request.version()),
    );
}

/// Makes `span` a child of the trace the request's `traceparent` names (a
/// new trace when none), and records the trace id for the log lines.
fn continue_callers_trace(request: &ServiceRequest, span: &Span) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    struct Headers<'a>(&'a actix_web::http::header::HeaderMap);
    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|value| value.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0
                .keys()
                .map(actix_web::http::header::HeaderName::as_str)
                .collect()
        }
    }

    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(request.headers()))
    });
    // Only fails when no OpenTelemetry layer is installed: nothing to join.
    let _ = span.set_parent(parent);
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// `host[:port]` as the request named it (an IPv6 host is in brackets).
fn split_host(host: &str) -> (&str, Option<u16>) {
    host.rsplit_once(':')
        .and_then(|(name, port)| Some((name, Some(port.parse().ok()?))))
        .unwrap_or((host, None))
}

fn protocol_version(version: actix_web::http::Version) -> &'static str {
    use actix_web::http::Version;
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Middleware: request count and latency by route template and status.
pub async fn record_http(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let response = next.call(request).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_millis();
    // One line per request, inside the request span (request id, trace id,
    // tenant); probes only at debug level.
    if route == "/healthz" || route == "/readyz" {
        tracing::debug!(status, elapsed_ms, "request");
    } else {
        tracing::info!(status, elapsed_ms, "request");
    }
    let labels = [
        ("route", route),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("threadgate_http_requests_total", &labels).increment(1);
    metrics::histogram!("threadgate_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// Counts a stream as open from creation until it is dropped (finished, or
/// abandoned by the client).
#[derive(Debug)]
pub(crate) struct OpenStream;

impl OpenStream {
    pub fn new() -> Self {
        metrics::gauge!("threadgate_open_streams").increment(1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("threadgate_open_streams").decrement(1.0);
    }
}
