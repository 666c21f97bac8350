//! The pool's connection manager: diesel's, except that a connection handed
//! back moments ago is lent again without a `SELECT 1` first.
//!
//! r2d2's `test_on_check_out` pings on every checkout: under load that is a
//! second round trip for every query, the most frequent statement the
//! server runs. A connection that finished a query within [`TRUSTED_FOR`]
//! almost surely still works; one idle longer is pinged as before. When a
//! trusted connection turns out dead after all (the server went away in
//! that second), diesel reports the closed connection, which storage calls
//! unavailable (a 503 the caller may retry), and marks the connection
//! broken, so the pool closes it instead of lending it again
//! (`reliability::a_trusted_connection_that_died_…` holds both).

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection};

/// How long after it was handed back a connection is lent without a ping.
pub(crate) const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// A pooled PostgreSQL connection and when the pool last had it back.
pub struct PooledPg {
    connection: PgConnection,
    returned_at: Instant,
}

impl Deref for PooledPg {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl DerefMut for PooledPg {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

/// diesel's manager, trusting recently returned connections.
pub(crate) struct Manager {
    diesel: ConnectionManager<PgConnection>,
}

impl Manager {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            diesel: ConnectionManager::new(url),
        }
    }
}

impl ManageConnection for Manager {
    type Connection = PooledPg;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledPg, Self::Error> {
        Ok(PooledPg {
            connection: self.diesel.connect()?,
            returned_at: Instant::now(),
        })
    }

    fn is_valid(&self, pooled: &mut PooledPg) -> Result<(), Self::Error> {
        if pooled.returned_at.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        // A round trip like any other: the benchmark counts it as one.
        metrics::counter!("threadgate_db_pings_total").increment(1);
        self.diesel.is_valid(&mut pooled.connection)
    }

    /// Called as the connection comes back to the pool: this is when it was
    /// last known to work.
    fn has_broken(&self, pooled: &mut PooledPg) -> bool {
        pooled.returned_at = Instant::now();
        self.diesel.has_broken(&mut pooled.connection)
    }
}
