//! Throwaway PostgreSQL, for `threadgate dev` and for the tests.
//!
//! * [`EphemeralCluster`] starts a private PostgreSQL server in a temporary
//!   directory on a free loopback port, from the server binaries installed on
//!   the machine, and removes it when the process that started it exits.
//! * [`TestDatabase`] gives each test its own database, cloned from a
//!   template migrated once per test process, and drops it when the test ends.
//!   It uses `DATABASE_URL`'s server when that is set, and an
//!   [`EphemeralCluster`] otherwise.

mod cluster;
mod test_database;

pub use cluster::EphemeralCluster;
pub use test_database::TestDatabase;

/// Why a throwaway database could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DevDbError {
    #[error(
        "no PostgreSQL server binaries found: put `initdb` and `pg_ctl` on PATH \
         (e.g. `apt-get install postgresql`) or set DATABASE_URL"
    )]
    BinariesNotFound,
    #[error("{step} failed: {detail}")]
    Command { step: &'static str, detail: String },
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("database setup failed: {0}")]
    Database(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
