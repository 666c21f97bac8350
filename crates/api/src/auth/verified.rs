//! Tokens whose signature and claims were checked, remembered until they
//! expire, so that a signature is checked once per token and replica, not
//! once per request (or per `auth.caller_cache`).
//!
//! What a remembered verification still depends on, checked on every use:
//! - the token has not expired (the entry ends at its `exp`; past it, the
//!   full check with its clock leeway decides);
//! - the key that signed it is still among its issuer's keys as this
//!   replica last fetched them: a token whose key rotated out is verified
//!   again (and refused);
//! - the issuer is still registered and enabled: the principal read that
//!   follows checks that in its one round trip, so a removed issuer binds
//!   remembered tokens as soon as the caller cache lets the read happen.
//!
//! Entries are keyed by a SHA-256 of the token (no token kept in memory),
//! at most [`CAPACITY`], in a `quick_cache` like the caller cache.

use std::time::Instant;

use domain::{Role, TenantId};
use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};

/// Entries kept at most (one is about two hundred bytes).
pub const CAPACITY: usize = 50_000;

/// What a verified token said, and which key it was verified with.
#[derive(Debug, Clone)]
pub(super) struct Verified {
    pub tenant_id: TenantId,
    pub identity_provider_id: domain::IdentityProviderId,
    pub issuer: String,
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub subject: String,
    pub role: Role,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone)]
struct Entry {
    verified: std::sync::Arc<Verified>,
    valid_until: Instant,
}

pub struct VerifiedTokens {
    entries: quick_cache::sync::Cache<[u8; 32], Entry>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(CAPACITY),
        }
    }
}

impl VerifiedTokens {
    pub(super) fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The token's verification, if remembered and not yet expired.
    pub(super) fn get(&self, key: &[u8; 32]) -> Option<std::sync::Arc<Verified>> {
        let entry = self.entries.get(key)?;
        if Instant::now() >= entry.valid_until {
            self.entries.remove(key);
            return None;
        }
        Some(entry.verified)
    }

    /// Forgets a token whose key is no longer its issuer's.
    pub(super) fn forget(&self, key: &[u8; 32]) {
        self.entries.remove(key);
    }

    pub(super) fn insert(&self, key: [u8; 32], verified: Verified) {
        let left = (verified.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        if left.is_zero() {
            return;
        }
        self.entries.insert(
            key,
            Entry {
                verified: std::sync::Arc::new(verified),
                valid_until: Instant::now() + left,
            },
        );
    }
}
