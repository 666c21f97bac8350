//! Logs and traces. Logs are text for people or JSON lines for collectors,
//! each line carrying its request span's fields (request id, trace id,
//! route). Traces go over OTLP when the standard `OTEL_*` variables name an
//! endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or `…_TRACES_ENDPOINT`; service
//! name, sampler and headers from `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_EXPORTER_OTLP_HEADERS`); W3C trace context is honoured and
//! passed upstream either way.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};

/// Flushes and stops trace export when dropped: keep it for the life of `main`.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::debug!(%error, "trace export did not shut down cleanly");
        }
    }
}

/// Whether the environment names an OTLP endpoint for traces.
pub fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// Installs the global subscriber and propagator. Call once, first thing in
/// `main`, before any async runtime starts (the exporter has its own thread).
pub fn init(settings: &LogSettings) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .map_err(|error| anyhow::anyhow!("setting `log.filter`: {error}"))?;

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut provider = SdkTracerProvider::builder();
    if otlp_configured() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpJson)
            .build()
            .map_err(|error| anyhow::anyhow!("OTEL_EXPORTER_OTLP_*: {error}"))?;
        provider = provider.with_batch_exporter(exporter);
    }
    // Without an exporter the provider still gives spans their trace ids, so
    // incoming trace context is continued and passed upstream.
    let provider = provider.build();
    let traces = tracing_opentelemetry::layer().with_tracer(provider.tracer("threadgate"));

    let registry = tracing_subscriber::registry().with(filter).with(traces);
    let result = match settings.format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colours for a terminal only, never in a file or a pipe.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    // The request span's fields (request id, trace id,
                    // tenant) on every line, however deep the event.
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    result.map_err(|error| anyhow::anyhow!("installing the log subscriber: {error}"))?;
    Ok(Telemetry { provider })
}
