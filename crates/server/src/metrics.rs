//! `GET /metrics` in Prometheus text format, on an address of its own so it
//! is never exposed with the public API. Every crate records through the
//! `metrics` facade; this module installs the one recorder and serves it.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Mutex, OnceLock};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Seconds: from a fast authorization lookup to a long upstream call.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide recorder, installed on first use.
fn handle() -> anyhow::Result<&'static PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    static INSTALLING: Mutex<()> = Mutex::new(());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    // One installation at a time; the losers of a race find it done.
    let _installing = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)?
        .install_recorder()?;
    describe();
    Ok(HANDLE.get_or_init(|| handle))
}

/// Help texts, and series that exist from the start (a gauge at zero).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "threadgate_http_requests_total",
        "Requests by route template, method and status."
    );
    describe_histogram!(
        "threadgate_http_request_duration_seconds",
        "Request latency by route template, method and status."
    );
    describe_counter!(
        "threadgate_authorization_decisions_total",
        "Authorization decisions by outcome."
    );
    describe_counter!(
        "threadgate_upstream_requests_total",
        "Upstream attempts by operation, status and attempt number."
    );
    describe_histogram!(
        "threadgate_upstream_request_duration_seconds",
        "Upstream attempt latency by operation."
    );
    describe_counter!(
        "threadgate_tokens_total",
        "Tokens of finished runs by tenant (slug) and direction (input, output)."
    );
    describe_counter!(
        "threadgate_upstream_retries_total",
        "Upstream retries by operation."
    );
    describe_gauge!(
        "threadgate_upstream_circuit_state",
        "Circuit breaker per profile: 0 closed, 1 open, 2 half-open."
    );
    describe_gauge!(
        "threadgate_db_pool_connections",
        "Database pool connections by state (idle, in_use)."
    );
    describe_histogram!(
        "threadgate_db_acquire_seconds",
        "Time spent waiting for a pooled connection."
    );
    describe_histogram!(
        "threadgate_db_operation_duration_seconds",
        "Database work by operation."
    );
    describe_gauge!(
        "threadgate_open_streams",
        "Server-sent event streams being passed through."
    );
    describe_counter!(
        "threadgate_audit_events_queued_total",
        "Audit events handed to the writer."
    );
    describe_counter!(
        "threadgate_audit_events_dropped_total",
        "Audit events lost (queue full or database unavailable)."
    );
    describe_counter!(
        "threadgate_streams_cut_total",
        "Streams ended with an error event, by reason (upstream, shutdown)."
    );
    describe_counter!(
        "threadgate_reconcile_unresolved_total",
        "Creates whose outcome could not be known (threads cannot be listed upstream)."
    );
    describe_gauge!(
        "threadgate_db_reachable",
        "1 while the database is reachable, 0 after a checkout could not open a connection."
    );
    describe_gauge!(
        "threadgate_build_info",
        "Always 1; the labels say which build is running."
    );
    metrics::gauge!("threadgate_open_streams").increment(0.0);
    metrics::counter!("threadgate_audit_events_dropped_total").increment(0);
    metrics::gauge!("threadgate_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    process::describe();
}

/// The process's own figures, in Prometheus's conventional names, read from
/// `/proc` when `/metrics` is scraped (Linux, where Threadgate runs).
mod process {
    use metrics::{describe_counter, describe_gauge};

    pub(super) fn describe() {
        describe_counter!(
            "process_cpu_seconds_total",
            "User and system CPU time spent."
        );
        describe_gauge!("process_resident_memory_bytes", "Resident memory size.");
        describe_gauge!("process_open_fds", "Open file descriptors.");
        describe_gauge!(
            "process_start_time_seconds",
            "Start time since the Unix epoch."
        );
    }

    pub(super) fn record() {
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
            return;
        };
        // Fields after the command name, which is in parentheses.
        let Some(fields) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
            return;
        };
        let fields: Vec<&str> = fields.split_whitespace().collect();
        let number = |index: usize| {
            fields
                .get(index)
                .and_then(|field| field.parse::<u64>().ok())
        };
        // Kernel clock ticks per second: 100 on every Linux Threadgate runs on.
        const TICKS: f64 = 100.0;
        if let (Some(user), Some(system)) = (number(11), number(12)) {
            metrics::counter!("process_cpu_seconds_total").absolute((user + system) / TICKS as u64);
        }
        if let Some(pages) = number(21) {
            metrics::gauge!("process_resident_memory_bytes").set((pages * 4096) as f64);
        }
        if let (Some(started), Ok(uptime)) = (number(19), std::fs::read_to_string("/proc/uptime")) {
            let booted_ago: f64 = uptime
                .split_whitespace()
                .next()
                .and_then(|seconds| seconds.parse().ok())
                .unwrap_or(0.0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs_f64())
                .unwrap_or(0.0);
            metrics::gauge!("process_start_time_seconds")
                .set(now - booted_ago + started as f64 / TICKS);
        }
        if let Ok(open) = std::fs::read_dir("/proc/self/fd") {
            metrics::gauge!("process_open_fds").set(open.count() as f64);
        }
    }
}

pub(crate) struct MetricsServer {
    pub port: u16,
    pub handle: ServerHandle,
}

/// Serves `/metrics` on `address` (port 0 picks one).
pub(crate) fn serve(address: SocketAddr) -> anyhow::Result<MetricsServer> {
    let recorder = handle()?;
    let listener = TcpListener::bind(address).map_err(|error| {
        anyhow::anyhow!("setting `metrics.listen`: cannot listen on {address}: {error}")
    })?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new().route(
            "/metrics",
            web::get().to(move || async move {
                process::record();
                HttpResponse::Ok()
                    .content_type("text/plain; version=0.0.4")
                    .body(recorder.render())
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(MetricsServer { port, handle })
}
