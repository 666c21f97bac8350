//! Signing keys of each issuer, fetched from its JWKS URI (or found through
//! OpenID discovery) and cached. An unknown `kid` triggers one refetch, but
//! at most once per cooldown per issuer, so a flood of forged tokens cannot
//! make Threadgate hammer an identity provider.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use storage::repo::identity_providers::IdentityProvider;
use tokio::sync::{Mutex, RwLock};

use super::Rejection;

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    /// The key's declared algorithm, if the JWKS names one.
    algorithm: Option<jsonwebtoken::Algorithm>,
    decoding: DecodingKey,
}

struct Entry {
    keys: Vec<Key>,
    fetched_at: Instant,
}

pub struct JwksCache {
    http: reqwest::Client,
    cooldown: Duration,
    entries: RwLock<HashMap<String, Entry>>,
    /// One fetch at a time: concurrent misses wait for it, then look again.
    fetching: Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("cooldown", &self.cooldown)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    pub fn new(cooldown: Duration, fetch_timeout: Duration) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(fetch_timeout)
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .unwrap_or_default(),
            cooldown,
            entries: RwLock::new(HashMap::new()),
            fetching: Mutex::new(()),
        }
    }

    /// The key that should have signed a token of `issuer` with this `kid`
    /// and algorithm.
    pub(super) async fn key(
        &self,
        issuer: &IdentityProvider,
        kid: Option<&str>,
        algorithm: jsonwebtoken::Algorithm,
    ) -> Result<DecodingKey, Rejection> {
        if let Some(key) = self.cached(&issuer.issuer, kid, algorithm).await {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        if let Some(key) = self.cached(&issuer.issuer, kid, algorithm).await {
            return Ok(key);
        }
        let recently = self
            .entries
            .read()
            .await
            .get(&issuer.issuer)
            .is_some_and(|entry| entry.fetched_at.elapsed() < self.cooldown);
        if recently {
            return Err(Rejection::NoKey(
                "unknown kid (refetch cooling down)".to_owned(),
            ));
        }
        let keys = self.fetch(issuer).await?;
        self.entries.write().await.insert(
            issuer.issuer.clone(),
            Entry {
                keys,
                fetched_at: Instant::now(),
            },
        );
        self.cached(&issuer.issuer, kid, algorithm)
            .await
            .ok_or_else(|| Rejection::NoKey("unknown kid".to_owned()))
    }

    /// Whether the key a token was verified with is still among its
    /// issuer's keys as last fetched (a rotated-out key is not).
    pub(super) async fn holds(
        &self,
        issuer: &str,
        kid: Option<&str>,
        algorithm: jsonwebtoken::Algorithm,
    ) -> bool {
        self.cached(issuer, kid, algorithm).await.is_some()
    }

    async fn cached(
        &self,
        issuer: &str,
        kid: Option<&str>,
        algorithm: jsonwebtoken::Algorithm,
    ) -> Option<DecodingKey> {
        let entries = self.entries.read().await;
        let keys = &entries.get(issuer)?.keys;
        let usable = |key: &&Key| key.algorithm.is_none_or(|declared| declared == algorithm);
        match kid {
            Some(kid) => keys
                .iter()
                .filter(usable)
                .find(|key| key.kid.as_deref() == Some(kid))
                .map(|key| key.decoding.clone()),
            // Without a kid, only an unambiguous key set will do.
            None => match keys.iter().filter(usable).collect::<Vec<_>>().as_slice() {
                [only] => Some(only.decoding.clone()),
                _ => None,
            },
        }
    }

    /// Fetches an issuer's key set once, caching nothing: how many keys it
    /// publishes that this service can verify with. When it cannot, where
    /// it looked (the network's own error stays in the log: an admin's
    /// answer must not become a probe of the server's network).
    pub async fn probe(&self, issuer: &str, jwks_uri: Option<&str>) -> Result<usize, String> {
        let looked_at = jwks_uri.map_or_else(
            || {
                format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                )
            },
            str::to_owned,
        );
        match self.fetch_keys(issuer, jwks_uri).await {
            Ok(keys) => Ok(keys.len()),
            Err(rejection) => {
                tracing::info!(%issuer, error = %rejection, "an issuer's keys could not be fetched");
                Err(looked_at)
            }
        }
    }

    async fn fetch(&self, issuer: &IdentityProvider) -> Result<Vec<Key>, Rejection> {
        self.fetch_keys(&issuer.issuer, issuer.jwks_uri.as_deref())
            .await
    }

    async fn fetch_keys(
        &self,
        issuer: &str,
        jwks_uri: Option<&str>,
    ) -> Result<Vec<Key>, Rejection> {
        let jwks_uri = match jwks_uri {
            Some(uri) => uri.to_owned(),
            None => self.discover(issuer).await?,
        };
        tracing::info!(%issuer, %jwks_uri, "fetching signing keys");
        let set: JwkSet = self
            .http
            .get(&jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| Rejection::NoKey(format!("fetching {jwks_uri}: {e}")))?
            .json()
            .await
            .map_err(|e| Rejection::NoKey(format!("reading {jwks_uri}: {e}")))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let decoding = DecodingKey::from_jwk(jwk).ok()?;
                Some(Key {
                    kid: jwk.common.key_id.clone(),
                    algorithm: jwk
                        .common
                        .key_algorithm
                        .and_then(|alg| alg.to_string().parse().ok()),
                    decoding,
                })
            })
            .collect())
    }

    async fn discover(&self, issuer: &str) -> Result<String, Rejection> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document: serde_json::Value = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| Rejection::NoKey(format!("discovery at {url}: {e}")))?
            .json()
            .await
            .map_err(|e| Rejection::NoKey(format!("discovery at {url}: {e}")))?;
        document["jwks_uri"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Rejection::NoKey(format!("no jwks_uri at {url}")))
    }
}
