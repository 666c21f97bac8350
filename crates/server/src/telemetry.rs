//! Logging and tracing set-up: human-readable text or JSON lines, filtered by
//! the `log.filter` setting (or `RUST_LOG` when set).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .map_err(|error| anyhow::anyhow!("setting `log.filter`: {error}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.format {
        LogFormat::Text => builder.try_init(),
        // One object per line, with the current span's fields (request id,
        // route) on every line.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .try_init(),
    }
    .map_err(|error| anyhow::anyhow!("installing the log subscriber: {error}"))
}
