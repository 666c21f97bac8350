//! Threadgate's authorization database on PostgreSQL.
//!
//! * [`Database`] owns the r2d2 pool and is the only way to reach a
//!   connection from async code: it runs the blocking diesel work on tokio's
//!   blocking threads, never on an async worker.
//! * [`repo`] holds plain functions over `&mut PgConnection`, so several of
//!   them compose inside one [`Database::transaction`].
//! * [`migrations`] embeds the top-level `migrations/` directory.

mod checkout;
mod database;
mod error;
pub mod migrations;
pub mod repo;
mod schema;

pub use database::{Database, PoolSettings, connect};
pub use diesel::PgConnection;
pub use error::StorageError;
