//! Decision events leave the request path at once: handlers hand them to a
//! channel, and one background task writes them in batches. A batch the
//! database cannot take is retried for up to [`OUTAGE_PATIENCE`] while newer
//! events queue behind it; past that, or when the queue is full, events are
//! dropped and counted (`threadgate_audit_events_dropped_total`), never
//! blocking a request. What a crash loses is what was queued: at most
//! [`CAPACITY`] decisions, in practice the last few milliseconds'.
//!
//! Events of mutations (a create, a record, a delete) do not come here:
//! they are written in the transaction that makes the change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use storage::Database;
use storage::repo::audit::AuditEvent;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const CAPACITY: usize = 10_000;
const BATCH: usize = 200;
/// How long a batch waits out a database outage before it is dropped.
const OUTAGE_PATIENCE: Duration = Duration::from_secs(30);
const OUTAGE_PAUSE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct AuditSink {
    sender: mpsc::Sender<AuditEvent>,
    dropped: Arc<AtomicU64>,
}

impl AuditSink {
    /// Starts the writer on the current runtime. The returned task ends
    /// (after writing what is queued) once every sink clone is dropped.
    pub fn start(database: Database) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = tokio::spawn(write_batches(database, receiver, dropped.clone()));
        (Self { sender, dropped }, writer)
    }

    pub fn record(&self, event: AuditEvent) {
        metrics::counter!("threadgate_audit_events_queued_total").increment(1);
        if self.sender.try_send(event).is_err() {
            metrics::counter!("threadgate_audit_events_dropped_total").increment(1);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped, "audit queue full: event dropped");
        }
    }

    /// Events lost so far (queue full or database unavailable).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_batches(
    database: Database,
    mut receiver: mpsc::Receiver<AuditEvent>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        // Let a burst gather for a moment: fewer, larger inserts.
        if batch.len() < BATCH {
            tokio::time::sleep(Duration::from_millis(5)).await;
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
        }
        let events = Arc::new(std::mem::take(&mut batch));
        let count = events.len();
        let started = tokio::time::Instant::now();
        let written = loop {
            let attempt = events.clone();
            let written = database
                .run("audit.append", move |conn| {
                    storage::repo::audit::append_many(conn, &attempt)
                })
                .await;
            match written {
                Err(error) if error.is_unavailable() && started.elapsed() < OUTAGE_PATIENCE => {
                    tracing::warn!(%error, count, "audit batch waits for the database");
                    tokio::time::sleep(OUTAGE_PAUSE).await;
                }
                other => break other,
            }
        };
        if let Err(error) = written {
            metrics::counter!("threadgate_audit_events_dropped_total").increment(count as u64);
            let total = dropped.fetch_add(count as u64, Ordering::Relaxed) + count as u64;
            tracing::error!(%error, count, dropped = total, "audit events could not be written");
        }
    }
}

/// An audit event of `caller`'s request `request_id`, about nothing yet:
/// the caller fills in the resource, reason and details it knows.
pub fn event(
    caller: &crate::auth::Caller,
    request_id: &str,
    action: &str,
    outcome: storage::repo::audit::Outcome,
) -> AuditEvent {
    let principal = &caller.principal;
    AuditEvent {
        occurred_at: chrono::Utc::now(),
        tenant_id: Some(principal.tenant_id),
        request_id: Some(request_id.to_owned()),
        trace_id: current_trace_id(),
        actor_user_id: principal.user_id(),
        actor_api_key_id: principal.authentication.api_key_id(),
        auth_method: Some(principal.authentication.method()),
        action: action.to_owned(),
        resource_kind: None,
        resource_id: None,
        upstream_id: None,
        outcome,
        reason: None,
        details: serde_json::Value::Null,
    }
}

/// An audit event of Threadgate's own background work, done for no request
/// and with no credential: `worker` (`reconciler`, `eraser`) stands where a
/// request's authentication method would.
pub fn system_event(worker: &'static str, action: &str) -> AuditEvent {
    AuditEvent {
        occurred_at: chrono::Utc::now(),
        tenant_id: None,
        request_id: None,
        trace_id: None,
        actor_user_id: None,
        actor_api_key_id: None,
        auth_method: Some(worker),
        action: action.to_owned(),
        resource_kind: None,
        resource_id: None,
        upstream_id: None,
        outcome: storage::repo::audit::Outcome::Allow,
        reason: None,
        details: serde_json::json!({}),
    }
}

/// The W3C trace id of the current span, so an audit event leads to its trace.
fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
