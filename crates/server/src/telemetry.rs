//! Logs and traces. Logs are text for people or JSON lines for collectors,
//! each line carrying its request span's fields (request id, trace id,
//! route). Traces go over OTLP when the standard `OTEL_*` variables name an
//! endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or `…_TRACES_ENDPOINT`; service
//! name, sampler and headers from `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
//! `OTEL_EXPORTER_OTLP_HEADERS`; the wire format from
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`:
//! `http/protobuf`, the specification's default, or `http/json`); W3C trace
//! context is honoured and passed upstream either way.

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
    /// Flushes the log lines still queued when dropped.
    _log_writer: tracing_appender::non_blocking::WorkerGuard,
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

/// The OTLP wire formats traces can be exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf`: the OpenTelemetry specification's default.
    HttpProtobuf,
    /// `http/json`.
    HttpJson,
}

const PROTOCOL_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];

/// The protocol the environment asks for (the traces-specific variable
/// first); `http/protobuf` when it names none. A value this build cannot
/// speak stops the start with a message that names the choices.
pub fn otlp_protocol() -> anyhow::Result<OtlpProtocol> {
    for variable in PROTOCOL_VARIABLES {
        if let Ok(value) = std::env::var(variable) {
            if let Some(protocol) = protocol_named(variable, &value)? {
                return Ok(protocol);
            }
        }
    }
    Ok(OtlpProtocol::HttpProtobuf)
}

/// The protocol `variable=value` names; `None` when it is empty.
fn protocol_named(variable: &str, value: &str) -> anyhow::Result<Option<OtlpProtocol>> {
    match value.trim() {
        "" => Ok(None),
        "http/protobuf" => Ok(Some(OtlpProtocol::HttpProtobuf)),
        "http/json" => Ok(Some(OtlpProtocol::HttpJson)),
        "grpc" => Err(anyhow::anyhow!(
            "{variable}=grpc: this build exports traces over OTLP/HTTP only; set \
             http/protobuf or http/json (collectors take both on port 4318)"
        )),
        other => Err(anyhow::anyhow!(
            "{variable}={other:?} is not an OTLP protocol: use http/protobuf or http/json"
        )),
    }
}

/// An OTLP span exporter speaking `protocol`, to `endpoint` (the full
/// traces URL) or, without one, where the `OTEL_EXPORTER_OTLP_*` variables say.
pub fn span_exporter(
    protocol: OtlpProtocol,
    endpoint: Option<&str>,
) -> anyhow::Result<opentelemetry_otlp::SpanExporter> {
    let wire = match protocol {
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::Protocol::HttpBinary,
        OtlpProtocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
    };
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(wire);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder
        .build()
        .map_err(|error| anyhow::anyhow!("OTEL_EXPORTER_OTLP_*: {error}"))
}

/// Installs the global subscriber and propagator. Call once, first thing in
/// `main`, before any async runtime starts (the exporter has its own thread).
pub fn init(settings: &LogSettings) -> anyhow::Result<Telemetry> {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .map_err(|error| anyhow::anyhow!("setting `log.filter`: {error}"))?;
    if otlp_configured() {
        // Database spans are debug-level so they cost nothing unexported;
        // exported traces want them (the module logs nothing at debug).
        filter = filter.add_directive(
            "storage::database=debug"
                .parse()
                .map_err(|error| anyhow::anyhow!("a trace directive: {error}"))?,
        );
    }

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut provider = SdkTracerProvider::builder();
    if otlp_configured() {
        provider = provider.with_batch_exporter(span_exporter(otlp_protocol()?, None)?);
        api::observe::record_trace_details(true);
    }
    // Without an exporter the provider still gives spans their trace ids, so
    // incoming trace context is continued and passed upstream.
    let provider = provider.build();
    let traces = tracing_opentelemetry::layer().with_tracer(provider.tracer("threadgate"));

    // A request's log line is queued, not written on the request's thread;
    // a full queue (128,000 lines) waits rather than drops lines.
    let (stderr, log_writer) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    let result = match settings.format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(stderr)
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
                    .with_writer(stderr),
            )
            .try_init(),
    };
    result.map_err(|error| anyhow::anyhow!("installing the log subscriber: {error}"))?;
    Ok(Telemetry {
        provider,
        _log_writer: log_writer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_read_by_their_standard_names() {
        let named = |value| protocol_named("OTEL_EXPORTER_OTLP_PROTOCOL", value).unwrap();
        assert_eq!(named("http/protobuf"), Some(OtlpProtocol::HttpProtobuf));
        assert_eq!(named(" http/json "), Some(OtlpProtocol::HttpJson));
        assert_eq!(named(""), None);
    }

    #[test]
    fn an_unknown_or_unbuilt_protocol_is_refused_with_the_choices() {
        for value in ["grpc", "http"] {
            let error = protocol_named("OTEL_EXPORTER_OTLP_PROTOCOL", value)
                .unwrap_err()
                .to_string();
            assert!(error.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{error}");
            assert!(error.contains("http/protobuf or http/json"), "{error}");
        }
    }
}
