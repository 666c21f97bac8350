//! Who is calling: a bearer token from one of a tenant's identity providers,
//! or a tenant API key (optionally acting on behalf of an end-user). The
//! tenant always comes from the credential.
//!
//! [`Caller`] is the extractor handlers take; it authenticates once per
//! request. Every failure is a 401 with an OpenAI-shaped body and
//! `WWW-Authenticate: Bearer error="invalid_token"`, saying no more than
//! that the credential was not accepted.

mod api_key;
mod cache;
mod jwks;
mod jwt;
mod verified;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use domain::{Actor, Authentication, Principal, Role};
use storage::repo::{identity_providers, tenants::Tenant, users};

pub use api_key::{ApiKeySecret, ON_BEHALF_OF_HEADER, generate as generate_api_key};
pub use cache::CallerCache;
pub use jwks::JwksCache;
pub use verified::VerifiedTokens;

use crate::{ApiError, AppState};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub tenant: Tenant,
}

impl Caller {
    /// The end-user's subject, when the request acts as one.
    pub fn user(&self) -> Option<domain::UserId> {
        self.principal.user_id()
    }
}

/// Why a credential was not accepted. Logged at debug level for operators;
/// the caller only learns that it was not.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Rejection {
    #[error("no bearer credential")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("unknown issuer")]
    UnknownIssuer,
    #[error("algorithm {0} not accepted by the issuer")]
    Algorithm(String),
    #[error("no key for the token: {0}")]
    NoKey(String),
    #[error("token invalid: {0}")]
    Invalid(String),
    #[error("unknown or revoked API key")]
    BadKey,
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        tracing::debug!(%rejection, "credential rejected");
        let message = match rejection {
            Rejection::Missing => {
                "You didn't provide an API key. You need to provide your API key or token in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), \
                 or in an api-key header."
            }
            _ => "The bearer credential is invalid or expired.",
        };
        ApiError::Unauthenticated {
            message: message.to_owned(),
        }
    }
}

/// What a verified credential says, before the user is looked up.
struct Claimed {
    tenant_id: domain::TenantId,
    subject: Option<String>,
    role: Role,
    authentication: Authentication,
    /// When the credential stops being valid, if it says.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The issuer of a token verified earlier: still registered and
    /// enabled? Read with the principal, in the same round trip.
    issuer_to_recheck: Option<domain::IdentityProviderId>,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            if let Some(caller) = request.extensions().get::<Caller>() {
                return Ok(caller.clone());
            }
            if let Some(refused) = request.extensions().get::<RefusedCredential>() {
                return Err(refused.error());
            }
            let state = request
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal(std::io::Error::other("no application state")))?;
            let caller = authenticate(&state, &request).await?;
            if let Some(root) = request.extensions().get::<tracing_actix_web::RootSpan>() {
                root.record("tenant.id", tracing::field::display(caller.tenant.id));
            }
            request.extensions_mut().insert(caller.clone());
            Ok(caller)
        })
    }
}

/// A credential already refused for this request (by the limits, which
/// authenticate first): the handler answers the same refusal rather than
/// trying again, since a second try that succeeded (keys fetched by then)
/// would run without its limit.
#[derive(Debug, Clone)]
pub(crate) enum RefusedCredential {
    BadRequest {
        message: String,
        param: Option<String>,
    },
    Unauthenticated {
        message: String,
    },
    Forbidden {
        message: String,
    },
}

impl RefusedCredential {
    /// The refusal, if `error` is one of a credential (not, say, a
    /// database that did not answer).
    pub(crate) fn of(error: &ApiError) -> Option<Self> {
        match error {
            ApiError::BadRequest { message, param } => Some(Self::BadRequest {
                message: message.clone(),
                param: param.clone(),
            }),
            ApiError::Unauthenticated { message } => Some(Self::Unauthenticated {
                message: message.clone(),
            }),
            ApiError::Forbidden { message } => Some(Self::Forbidden {
                message: message.clone(),
            }),
            _ => None,
        }
    }

    fn error(&self) -> ApiError {
        match self.clone() {
            Self::BadRequest { message, param } => ApiError::BadRequest { message, param },
            Self::Unauthenticated { message } => ApiError::Unauthenticated { message },
            Self::Forbidden { message } => ApiError::Forbidden { message },
        }
    }
}

/// The header Azure's clients send a key in.
const API_KEY_HEADER: &str = "api-key";

/// The credential and the header it came in: `Authorization: Bearer`, as
/// OpenAI's clients send it, or `api-key`, as Azure's send a key. Both may
/// be sent only if they agree.
fn credential(request: &HttpRequest) -> Result<(String, &'static str), ApiError> {
    let headers = request.headers();
    let bearer = headers
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let api_key = headers
        .get(API_KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty());
    match (bearer, api_key) {
        (Some(bearer), Some(api_key)) if bearer != api_key => Err(ApiError::Unauthenticated {
            message: "The Authorization and api-key headers carry different credentials; send \
                      one credential, in one of them."
                .to_owned(),
        }),
        (Some(bearer), _) => Ok((bearer.to_owned(), "Authorization")),
        (None, Some(api_key)) => Ok((api_key.to_owned(), "api-key")),
        (None, None) => Err(Rejection::Missing.into()),
    }
}

#[tracing::instrument(name = "authenticate", skip_all, fields(tenant = tracing::field::Empty, method = tracing::field::Empty))]
async fn authenticate(state: &AppState, request: &HttpRequest) -> Result<Caller, ApiError> {
    let (token, header) = credential(request)?;
    let on_behalf_of = request
        .headers()
        .get(ON_BEHALF_OF_HEADER)
        .map(|value| value.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| {
            ApiError::bad_request("The Threadgate-On-Behalf-Of header must be text.", None)
        })?;
    let key = CallerCache::key(&token, on_behalf_of.as_deref());
    if let Some(caller) = state.callers.get(&key) {
        return Ok(caller);
    }
    let read_at = state.callers.generation();
    let (caller, expires_at) = authenticate_afresh(state, &token, header, on_behalf_of).await?;
    let expires_in = expires_at.map(|at| {
        (at - chrono::Utc::now())
            .to_std()
            .unwrap_or(std::time::Duration::ZERO)
    });
    state.callers.insert(key, &caller, expires_in, read_at);
    Ok(caller)
}

/// Verifies the credential and reads its principal: the issuer or key, the
/// tenant, the user. Answers the credential's expiry beside the caller.
async fn authenticate_afresh(
    state: &AppState,
    token: &str,
    header: &str,
    on_behalf_of: Option<String>,
) -> Result<(Caller, Option<chrono::DateTime<chrono::Utc>>), ApiError> {
    let verified = if api_key::looks_like_key(token) {
        api_key::verify(state, token, on_behalf_of.as_deref()).await
    } else {
        if on_behalf_of.is_some() {
            return Err(ApiError::bad_request(
                "Threadgate-On-Behalf-Of is only for API keys that may act on behalf of users.",
                None,
            ));
        }
        jwt::verify(state, token).await
    };
    // Say which header was read, never why the credential failed.
    let claimed = verified.map_err(|error| match error {
        ApiError::Unauthenticated { .. } => ApiError::Unauthenticated {
            message: format!("The credential in the {header} header is invalid or expired."),
        },
        other => other,
    })?;
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(claimed.tenant_id));
    span.record("method", claimed.authentication.method());

    let Claimed {
        tenant_id,
        subject,
        role,
        authentication,
        expires_at,
        issuer_to_recheck,
    } = claimed;
    let principal = state
        .database
        .run("auth.principal", move |conn| {
            if let Some(issuer) = issuer_to_recheck
                && !identity_providers::is_enabled(conn, tenant_id, issuer)?
            {
                return Ok(None);
            }
            let tenant = storage::repo::tenants::find(conn, tenant_id)?;
            let user = subject
                .map(|subject| users::find_or_create(conn, tenant_id, &subject))
                .transpose()?;
            Ok(Some((tenant, user)))
        })
        .await?;
    let Some((tenant, user)) = principal else {
        return Err(ApiError::Unauthenticated {
            message: format!("The credential in the {header} header is invalid or expired."),
        });
    };
    if !tenant.active {
        return Err(ApiError::Forbidden {
            message: "This tenant is suspended.".to_owned(),
        });
    }
    let actor = match user {
        Some(user) if user.disabled => {
            return Err(ApiError::Forbidden {
                message: "This user is disabled.".to_owned(),
            });
        }
        Some(user) => Actor::User(user.id),
        None => Actor::Service,
    };
    let caller = Caller {
        principal: Principal {
            tenant_id: tenant.id,
            actor,
            role,
            authentication,
        },
        tenant,
    };
    Ok((caller, expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential's refusal is answered again in its own words; anything
    /// else is not a credential's and is not kept.
    #[test]
    fn a_refused_credential_is_answered_as_it_was_refused() {
        let refused = ApiError::BadRequest {
            message: "Threadgate-On-Behalf-Of needs a key that may act for users.".to_owned(),
            param: Some("Threadgate-On-Behalf-Of".to_owned()),
        };
        let kept = RefusedCredential::of(&refused).expect("a credential's refusal");
        assert_eq!(kept.error().to_string(), refused.to_string());
        let unauthenticated = ApiError::Unauthenticated {
            message: "Invalid token.".to_owned(),
        };
        let kept = RefusedCredential::of(&unauthenticated).expect("a credential's refusal");
        assert!(
            matches!(kept.error(), ApiError::Unauthenticated { message } if message == "Invalid token.")
        );
        let outage = ApiError::internal(std::io::Error::other("the database did not answer"));
        assert!(RefusedCredential::of(&outage).is_none());
    }
}
