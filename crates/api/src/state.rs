//! What every handler can reach.

use std::sync::Arc;

use storage::Database;
use upstream::Upstreams;

use crate::audit::AuditSink;
use crate::auth::JwksCache;

/// Shared, cheaply cloneable application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    pub upstreams: Upstreams,
    pub jwks: Arc<JwksCache>,
    /// Callers recently authenticated (see `auth::CallerCache`); cleared
    /// by every change to who may do what made on this replica.
    pub callers: Arc<crate::auth::CallerCache>,
    /// Tokens verified, remembered until they expire (see
    /// `auth::VerifiedTokens`).
    pub tokens: Arc<crate::auth::VerifiedTokens>,
    pub audit: AuditSink,
    /// Quotas and rate limits (see `quota`).
    pub quotas: Arc<crate::quota::Quotas>,
    /// How often a quiet stream gets a keep-alive comment.
    pub stream_heartbeat: std::time::Duration,
    /// Cancelled just before a stopping server's grace period ends: open
    /// streams then end with an `error` event instead of being cut.
    pub draining: tokio_util::sync::CancellationToken,
}
