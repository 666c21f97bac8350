//! W3C trace context reaches the upstream. A test binary of its own: it
//! installs the global subscriber and propagator.

// These tests exercise the client itself.
#![allow(clippy::disallowed_methods)]
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use upstream::{Flavour, Operation, UpstreamRequest};

#[tokio::test(flavor = "multi_thread")]
async fn every_call_carries_the_callers_trace_id() {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let emulator = support::emulator();
    let client = support::client(support::profile(&emulator, Flavour::Azure));
    let request_span = tracing::info_span!("incoming request");
    let trace_id = request_span.context().span().span_context().trace_id();
    async {
        let _: Value = client
            .call(UpstreamRequest::new(Operation::ListAssistants, &[]))
            .await
            .unwrap();
    }
    .instrument(request_span)
    .await;

    let received = emulator.requests();
    let traceparent = received[0]
        .headers
        .get("traceparent")
        .expect("a traceparent header");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(
        parts[1],
        trace_id.to_string(),
        "the caller's trace continues upstream"
    );
    emulator.stop().await;
}
