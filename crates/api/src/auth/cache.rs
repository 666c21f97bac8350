//! Callers recently authenticated, so that a request whose credential was
//! verified and whose principal (issuer, tenant, user or API key) was read
//! moments ago costs neither a signature check nor a database round trip.
//!
//! What bounds it, and so what a revocation waits for:
//! - an entry lives at most `ttl` (the `auth.caller_cache` setting, 2 s by
//!   default; `0s` turns the cache off), never past its token's `exp`;
//! - on the replica that makes a change (an API key revoked, a user
//!   disabled or erased, an issuer removed, the policy changed), the whole
//!   cache is cleared at once, so that replica refuses the very next
//!   request; every other replica within `ttl`;
//! - entries are keyed by a SHA-256 of the credential and the on-behalf-of
//!   header, so no credential is kept in memory, and a different header
//!   never finds another caller's entry;
//! - at most [`CAPACITY`] entries (a caller is a few hundred bytes).
//!
//! Quick Cache (`quick_cache`): a small, well-kept concurrent cache with a
//! scan-resistant policy and no background threads; expiry is the entry's
//! own `valid_until`, checked on every hit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::Caller;

/// Entries kept at most.
pub const CAPACITY: usize = 50_000;

#[derive(Clone)]
struct Entry {
    caller: Arc<Caller>,
    valid_until: Instant,
}

pub struct CallerCache {
    entries: quick_cache::sync::Cache<[u8; 32], Entry>,
    ttl: Duration,
    /// Counts [`CallerCache::clear`]s: a caller read before a clear is
    /// never kept after it (it may be the one the change refuses).
    generation: AtomicU64,
}

impl std::fmt::Debug for CallerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl CallerCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(CAPACITY),
            ttl,
            generation: AtomicU64::new(0),
        }
    }

    /// The key for a credential as presented, with the on-behalf-of header.
    pub fn key(credential: &str, on_behalf_of: Option<&str>) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(credential.as_bytes());
        // A separator that neither a credential nor a header value holds.
        digest.update([0u8]);
        if let Some(user) = on_behalf_of {
            digest.update([1u8]);
            digest.update(user.as_bytes());
        }
        digest.finalize().into()
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<Caller> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.entries.get(key)?;
        if Instant::now() >= entry.valid_until {
            self.entries.remove(key);
            return None;
        }
        metrics::counter!("threadgate_caller_cache_hits_total").increment(1);
        Some(Caller::clone(&entry.caller))
    }

    /// Where the cache stands: taken before a caller is read afresh, and
    /// handed back to [`CallerCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps `caller`, read when the cache stood at `read_at`, for `ttl`,
    /// or until `expires_in` (a token's remaining lifetime) if that is
    /// sooner; not at all if the cache was cleared since it was read.
    pub fn insert(
        &self,
        key: [u8; 32],
        caller: &Caller,
        expires_in: Option<Duration>,
        read_at: u64,
    ) {
        if self.ttl.is_zero() || self.generation() != read_at {
            return;
        }
        let lifetime = expires_in.map_or(self.ttl, |left| left.min(self.ttl));
        self.entries.insert(
            key,
            Entry {
                caller: Arc::new(caller.clone()),
                valid_until: Instant::now() + lifetime,
            },
        );
        // A clear that came between the check and the insert.
        if self.generation() != read_at {
            self.entries.remove(&key);
        }
    }

    /// Forgets everyone: after a change to who may do what, this replica's
    /// next request reads it afresh.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_on_behalf_of_header_is_a_different_key() {
        let key = CallerCache::key("tg_key", None);
        assert_ne!(key, CallerCache::key("tg_key", Some("alice")));
        assert_ne!(
            CallerCache::key("tg_key", Some("alice")),
            CallerCache::key("tg_key", Some("bob"))
        );
        assert_ne!(key, CallerCache::key("tg_key", Some("")));
    }
}
