//! What every handler can reach.

use storage::Database;
use upstream::Upstreams;

/// Shared, cheaply cloneable application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    pub upstreams: Upstreams,
}
