//! Tenant API keys: `tg_<prefix>_<secret>`. The prefix is public and finds
//! the row; only the SHA-256 of the 256-bit secret is stored and compared in
//! constant time.

use domain::{Authentication, Role};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Claimed, Rejection};
use crate::{ApiError, AppState};

/// A backend with the on-behalf-of right names the end-user in this header.
pub const ON_BEHALF_OF_HEADER: &str = "Threadgate-On-Behalf-Of";
const KEY_PREFIX: &str = "tg_";

/// A new key: shown once, then only its hash is kept.
#[derive(Debug)]
pub struct ApiKeySecret {
    /// The public part, e.g. for revoking.
    pub prefix: String,
    /// The whole key, `tg_<prefix>_<secret>`; to be shown once.
    pub key: String,
    pub secret_sha256: [u8; 32],
}

/// Generates a key from the operating system's randomness.
pub fn generate() -> ApiKeySecret {
    let prefix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    ApiKeySecret {
        key: format!("{KEY_PREFIX}{prefix}_{secret}"),
        secret_sha256: Sha256::digest(secret.as_bytes()).into(),
        prefix,
    }
}

pub(super) fn looks_like_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    let well_formed = prefix.len() == 12
        && secret.len() == 64
        && prefix
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_hexdigit());
    well_formed.then_some((prefix, secret))
}

pub(super) async fn verify(
    state: &AppState,
    token: &str,
    on_behalf_of: Option<&str>,
) -> Result<Claimed, ApiError> {
    let (prefix, secret) = split(token).ok_or(Rejection::BadKey)?;
    let prefix = prefix.to_owned();
    let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    // Use is recorded only once the secret is verified: knowing a key's
    // public prefix must not be enough to refresh its last use.
    let key = state
        .database
        .run(
            "auth.api_key",
            move |conn| match storage::repo::api_keys::find_by_prefix(conn, &prefix) {
                Ok(key) => {
                    let genuine: bool = presented.ct_eq(key.secret_sha256.as_slice()).into();
                    if !(genuine && key.is_usable(chrono::Utc::now())) {
                        return Ok(None);
                    }
                    storage::repo::api_keys::touch(conn, key.tenant_id, key.id)?;
                    Ok(Some(key))
                }
                Err(storage::StorageError::NotFound) => Ok(None),
                Err(other) => Err(other),
            },
        )
        .await?
        .ok_or(Rejection::BadKey)?;

    match on_behalf_of {
        None => Ok(Claimed {
            tenant_id: key.tenant_id,
            subject: None,
            role: key.role,
            authentication: Authentication::ApiKey { api_key_id: key.id },
            expires_at: key.expires_at,
            issuer_to_recheck: None,
        }),
        Some(_) if !key.can_act_on_behalf => Err(ApiError::Forbidden {
            message: "This API key may not act on behalf of users.".to_owned(),
        }),
        Some(subject) if subject.is_empty() || subject.len() > 255 => Err(ApiError::bad_request(
            "Threadgate-On-Behalf-Of must name a subject of 1 to 255 characters.",
            None,
        )),
        // Acting as an end-user grants that user's rights, not the key's.
        Some(subject) => Ok(Claimed {
            tenant_id: key.tenant_id,
            subject: Some(subject.to_owned()),
            role: Role::Member,
            authentication: Authentication::ApiKeyOnBehalfOf { api_key_id: key.id },
            expires_at: key.expires_at,
            issuer_to_recheck: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_expected_shape_and_hash() {
        let key = generate();
        let (prefix, secret) = split(&key.key).unwrap();
        assert_eq!(prefix, key.prefix);
        let hashed: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        assert_eq!(hashed, key.secret_sha256);
        assert_ne!(generate().key, key.key);
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        for token in [
            "tg_",
            "tg_abc_def",
            "tg_zzzzzzzzzzzz_0000",
            "sk-123",
            &format!("tg_{}_{}", "a".repeat(12), "g".repeat(64)),
        ] {
            assert!(split(token).is_none(), "{token}");
        }
    }
}
