//! The connection pool, and the one helper through which async code runs
//! blocking database work.

use std::time::Duration;

use diesel::r2d2::{CustomizeConnection, Pool};
use diesel::{Connection, PgConnection, RunQueryDsl};
use tracing::Instrument;

use crate::StorageError;
use crate::checkout::{Manager, PooledPg};

/// Pool sizing and timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections per replica. The server's `max_connections` must cover
    /// replicas × this, plus the migration job and operators.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails as
    /// unavailable (503) instead of queueing without bound.
    pub acquire_timeout: Duration,
    /// Server-side limit for any one statement.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Applies per-connection settings as the pool opens each connection.
#[derive(Debug)]
struct SessionSettings {
    statement_timeout_ms: u128,
}

impl CustomizeConnection<PooledPg, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PooledPg) -> Result<(), diesel::r2d2::Error> {
        diesel::sql_query(format!(
            "SET statement_timeout = {}",
            self.statement_timeout_ms
        ))
        .execute(&mut **conn)
        .map(drop)
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// One connection outside the pool, for one-off work such as `threadgate
/// migrate`. Blocking: do not call it from async code.
pub fn connect(url: &str) -> Result<PgConnection, StorageError> {
    PgConnection::establish(url).map_err(|error| StorageError::Unavailable(error.to_string()))
}

/// How long a checkout waits while the database is known to be out of
/// reach: long enough to notice it is back, short enough that requests
/// during an outage get their 503 at once instead of after the full
/// acquire timeout.
const OUTAGE_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(250);

/// A pool of PostgreSQL connections. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool<Manager>,
    acquire_timeout: Duration,
    /// Cleared when a checkout fails because no connection could be opened
    /// (not merely because all were busy); set again by the next success.
    reachable: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection URL may hold a password: show the pool's state only.
        let state = self.pool.state();
        f.debug_struct("Database")
            .field("connections", &state.connections)
            .field("idle_connections", &state.idle_connections)
            .finish()
    }
}

impl Database {
    /// Builds the pool without connecting: a replica starts even while the
    /// database is down, and reports not-ready until it is reachable.
    pub fn new(url: &str, settings: &PoolSettings) -> Self {
        let manager = Manager::new(url);
        let pool = Pool::builder()
            .max_size(settings.max_connections)
            .min_idle(Some(0))
            .connection_timeout(settings.acquire_timeout)
            // Only connections idle for a while are pinged: see `checkout`.
            .test_on_check_out(true)
            .connection_customizer(Box::new(SessionSettings {
                statement_timeout_ms: settings.statement_timeout.as_millis(),
            }))
            .build_unchecked(manager);
        Self {
            pool,
            acquire_timeout: settings.acquire_timeout,
            reachable: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    /// Whether the last checkout found the database reachable.
    pub fn is_reachable(&self) -> bool {
        self.reachable.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `work` with a pooled connection on a blocking thread.
    ///
    /// `operation` names the work in the tracing span (`tenants.create`,
    /// `readiness`, …). This is the only path from async code to the database.
    pub async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, StorageError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_waiting_at_most(operation, self.acquire_timeout, work)
            .await
    }

    /// [`Database::run`], waiting at most `patience` for a connection (a
    /// readiness probe must answer within its own deadline).
    pub async fn run_waiting_at_most<T, F>(
        &self,
        operation: &'static str,
        patience: Duration,
        work: F,
    ) -> Result<T, StorageError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let reachable = self.reachable.clone();
        let patience = if self.is_reachable() {
            patience
        } else {
            patience.min(OUTAGE_ACQUIRE_TIMEOUT)
        };
        // At debug: built only when traces are exported (the telemetry
        // setup then enables this module's debug spans), so a request
        // without an exporter pays nothing for it.
        let span = tracing::debug_span!("db", db.operation = operation);
        let blocking_span = span.clone();
        tokio::task::spawn_blocking(move || {
            let _entered = blocking_span.enter();
            let waiting = std::time::Instant::now();
            let connection = pool.get_timeout(patience);
            // A failed checkout with room in the pool could not open a
            // connection: the database is out of reach, not just busy.
            let opened = connection.is_ok() || pool.state().connections >= pool.max_size();
            if reachable.swap(opened, std::sync::atomic::Ordering::Relaxed) != opened {
                metrics::gauge!("threadgate_db_reachable").set(f64::from(u8::from(opened)));
                if opened {
                    tracing::info!("the database is reachable again");
                } else {
                    tracing::warn!("the database is out of reach: checkouts wait briefly until it is back");
                }
            }
            metrics::histogram!("threadgate_db_acquire_seconds").record(waiting.elapsed().as_secs_f64());
            let state = pool.state();
            metrics::gauge!("threadgate_db_pool_connections", "state" => "idle")
                .set(f64::from(state.idle_connections));
            metrics::gauge!("threadgate_db_pool_connections", "state" => "in_use")
                .set(f64::from(state.connections - state.idle_connections));
            let mut conn = connection?;
            let started = std::time::Instant::now();
            let result = work(&mut conn);
            metrics::histogram!("threadgate_db_operation_duration_seconds", "operation" => operation)
                .record(started.elapsed().as_secs_f64());
            result
        })
        .instrument(span)
        .await
        .map_err(|join_error| StorageError::TaskFailed(join_error.to_string()))?
    }

    /// Runs `work` inside one transaction: committed when it returns `Ok`,
    /// rolled back when it returns `Err`.
    pub async fn transaction<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> Result<T, StorageError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(operation, move |conn| conn.transaction(work))
            .await
    }

    /// Connections open and idle, for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }
}
