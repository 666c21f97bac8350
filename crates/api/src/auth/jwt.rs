//! Bearer tokens from a tenant's identity provider. The unverified `iss`
//! only chooses which issuer's keys to try; everything is then checked
//! against that issuer alone: algorithm, signature, `iss`, `aud`, `exp` and
//! `nbf` (with a small leeway).

use base64::Engine;
use domain::{Authentication, Role};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use storage::repo::identity_providers::{self, IdentityProvider};

use super::verified::{Verified, VerifiedTokens};
use super::{Claimed, Rejection};
use crate::{ApiError, AppState};

/// Clock differences tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 60;

/// Only public-key algorithms: a shared secret would let anyone who can read
/// the JWKS forge tokens.
const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

pub(super) async fn verify(state: &AppState, token: &str) -> Result<Claimed, ApiError> {
    let remembered_as = VerifiedTokens::key(token);
    if let Some(verified) = state.tokens.get(&remembered_as) {
        let key_still_held = state
            .jwks
            .holds(
                &verified.issuer,
                verified.kid.as_deref(),
                verified.algorithm,
            )
            .await;
        if key_still_held {
            metrics::counter!("threadgate_tokens_remembered_total").increment(1);
            return Ok(Claimed {
                tenant_id: verified.tenant_id,
                subject: Some(verified.subject.clone()),
                role: verified.role,
                authentication: Authentication::Token {
                    identity_provider_id: verified.identity_provider_id,
                },
                expires_at: Some(verified.expires_at),
                issuer_to_recheck: Some(verified.identity_provider_id),
            });
        }
        state.tokens.forget(&remembered_as);
    }
    let verified = verify_afresh(state, token).await?;
    let claimed = Claimed {
        tenant_id: verified.tenant_id,
        subject: Some(verified.subject.clone()),
        role: verified.role,
        authentication: Authentication::Token {
            identity_provider_id: verified.identity_provider_id,
        },
        expires_at: Some(verified.expires_at),
        // Just read: it is registered and enabled.
        issuer_to_recheck: None,
    };
    state.tokens.insert(remembered_as, verified);
    Ok(claimed)
}

/// Checks a token's signature and claims against its issuer's keys.
async fn verify_afresh(state: &AppState, token: &str) -> Result<Verified, ApiError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let issuer_url = unverified_issuer(token)?;
    let issuer = state
        .database
        .run(
            "auth.issuer",
            move |conn| match identity_providers::find_by_issuer(conn, &issuer_url) {
                Ok(issuer) => Ok(Some(issuer)),
                Err(storage::StorageError::NotFound) => Ok(None),
                Err(other) => Err(other),
            },
        )
        .await?
        .ok_or(Rejection::UnknownIssuer)?;

    let algorithm = header.alg;
    let accepted = ASYMMETRIC.contains(&algorithm)
        && issuer
            .algorithms
            .iter()
            .any(|name| name.parse::<Algorithm>().ok() == Some(algorithm));
    if !accepted {
        return Err(Rejection::Algorithm(format!("{algorithm:?}")).into());
    }
    let key = state
        .jwks
        .key(&issuer, header.kid.as_deref(), algorithm)
        .await?;

    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&issuer.issuer]);
    validation.set_audience(&issuer.audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| Rejection::Invalid(e.to_string()))?
        .claims;

    let subject = claims[issuer.subject_claim.as_str()]
        .as_str()
        .filter(|subject| !subject.is_empty() && subject.len() <= 255)
        .ok_or_else(|| Rejection::Invalid(format!("no usable `{}` claim", issuer.subject_claim)))?
        .to_owned();
    let expires_at = claims["exp"]
        .as_i64()
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .ok_or_else(|| Rejection::Invalid("`exp` is not a time".to_owned()))?;
    Ok(Verified {
        tenant_id: issuer.tenant_id,
        identity_provider_id: issuer.id,
        role: if is_admin(&issuer, &claims) {
            Role::Admin
        } else {
            Role::Member
        },
        issuer: issuer.issuer,
        kid: header.kid,
        algorithm,
        subject,
        expires_at,
    })
}

/// The `iss` of a token whose signature is not checked yet: it only says
/// which issuer's keys to check it with.
fn unverified_issuer(token: &str) -> Result<String, Rejection> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Rejection::Malformed("not a JWT".to_owned()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| Rejection::Malformed(e.to_string()))?;
    let claims: Value =
        serde_json::from_slice(&bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
    claims["iss"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Rejection::Malformed("no iss".to_owned()))
}

/// The admin claim holds the admin value, or is a list that contains it.
fn is_admin(issuer: &IdentityProvider, claims: &Value) -> bool {
    let Some((claim, value)) = &issuer.admin_claim else {
        return false;
    };
    match &claims[claim.as_str()] {
        Value::String(held) => held == value,
        Value::Array(held) => held
            .iter()
            .any(|item| item.as_str() == Some(value.as_str())),
        _ => false,
    }
}
