//! What every handler can reach.

use storage::Database;

/// Shared, cheaply cloneable application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
}
