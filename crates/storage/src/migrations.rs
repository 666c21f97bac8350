//! Schema migrations, embedded from the top-level `migrations/` directory so
//! the binary carries the schema it expects.

use diesel::{PgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StorageError;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Arbitrary, fixed key of the advisory lock that serializes migration runs,
/// so two `threadgate migrate` started together cannot interleave.
const MIGRATION_LOCK_KEY: i64 = 0x7468_7265_6164_6761; // "threadga"

/// Applies every pending migration; returns the versions applied, oldest first.
pub fn run_pending(conn: &mut PgConnection) -> Result<Vec<String>, StorageError> {
    with_migration_lock(conn, |conn| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|error| StorageError::Migration(error.to_string()))
    })
}

/// Reverts every applied migration, newest first. For tests and for operators
/// who tear a database down on purpose.
pub fn revert_all(conn: &mut PgConnection) -> Result<Vec<String>, StorageError> {
    with_migration_lock(conn, |conn| {
        conn.revert_all_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|error| StorageError::Migration(error.to_string()))
    })
}

/// Reverts the newest applied migration; returns its version. For tests of
/// a migration against the data the one before it allowed.
pub fn revert_last(conn: &mut PgConnection) -> Result<String, StorageError> {
    with_migration_lock(conn, |conn| {
        conn.revert_last_migration(MIGRATIONS)
            .map(|version| version.to_string())
            .map_err(|error| StorageError::Migration(error.to_string()))
    })
}

/// Whether the database has every migration this binary knows. A database
/// that is ahead (a newer release migrated it) still counts as current:
/// migrations are written to stay compatible with the previous release.
pub fn is_current(conn: &mut PgConnection) -> Result<bool, StorageError> {
    conn.has_pending_migration(MIGRATIONS)
        .map(|pending| !pending)
        .map_err(|error| StorageError::Migration(error.to_string()))
}

fn with_migration_lock<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(conn)?;
    let result = work(conn);
    let unlocked =
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(conn);
    let value = result?;
    unlocked?;
    Ok(value)
}
