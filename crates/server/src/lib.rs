//! The `threadgate` service: typed configuration ([`config`]), logging and
//! tracing ([`telemetry`]), and the HTTP server ([`Application`]). The binary
//! in `main.rs` is a thin CLI over this library, and the end-to-end tests
//! start the very same [`Application`].

pub mod admin;
mod application;
pub mod config;
pub mod dev_issuer;
mod metrics;
pub mod reconcile;
pub mod telemetry;

pub use application::{Application, Shutdown};

use secrecy::ExposeSecret;

use crate::config::Settings;

/// Applies pending migrations to the configured database.
pub fn migrate(settings: &Settings) -> anyhow::Result<()> {
    use anyhow::Context;

    let mut conn = storage::connect(settings.database.url.expose_secret())
        .context("setting `database.url`: cannot connect to the database")?;
    let applied = storage::migrations::run_pending(&mut conn)?;
    if applied.is_empty() {
        tracing::info!("database schema is current");
    }
    for version in applied {
        tracing::info!(%version, "migration applied");
    }
    Ok(())
}

/// The administration handle for the configured database and upstreams.
pub fn admin_for(settings: &Settings) -> anyhow::Result<admin::Admin> {
    Ok(admin::Admin {
        database: storage::Database::new(
            settings.database.url.expose_secret(),
            &storage::PoolSettings::default(),
        ),
        upstreams: upstream::Upstreams::new(&settings.upstreams)
            .map_err(|error| anyhow::anyhow!("setting `upstreams`: {error}"))?,
    })
}
