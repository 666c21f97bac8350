//! What the API tells operators: the request span (route template, tenant,
//! status, the request id) and request metrics by route template and status.
//! Tenant ids are span attributes, never metric labels: too many values.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use crate::request_id::RequestId;

/// The server span of each request: tracing-actix-web's (route template as
/// its name, W3C `traceparent` honoured), plus our request id and the tenant.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        tracing_actix_web::root_span!(
            request,
            http.request_id = %request_id,
            tenant.id = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
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
