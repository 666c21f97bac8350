//! Who is asking: the authenticated caller of one request.

use std::str::FromStr;

use crate::{ApiKeyId, DomainError, IdentityProviderId, TenantId, UserId};

/// The caller of one request, as established by authentication.
///
/// The tenant always comes from the credential (the token's issuer, or the API
/// key's row), never from anything the caller wrote into the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub actor: Actor,
    pub role: Role,
    pub authentication: Authentication,
}

impl Principal {
    /// The end-user this request acts as, if any.
    pub fn user_id(&self) -> Option<UserId> {
        match self.actor {
            Actor::User(user_id) => Some(user_id),
            Actor::Service => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// On whose behalf the request acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// An end-user of the tenant: signed in with a token, or named by a
    /// backend's API key that may act on behalf of users.
    User(UserId),
    /// A tenant backend acting as itself, with no end-user: it may only do what
    /// its role allows on tenant-owned objects.
    Service,
}

/// What the caller may do beyond their own objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    /// Manages the tenant's assistants and knowledge files. Being an admin gives
    /// no access to other users' conversations (see [`crate::TenantPolicy`]).
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            other => Err(DomainError::UnknownRole(other.to_owned())),
        }
    }
}

/// How the caller proved who they are; kept for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// A bearer token from one of the tenant's identity providers.
    Token {
        identity_provider_id: IdentityProviderId,
    },
    /// A tenant API key, acting as the backend itself.
    ApiKey { api_key_id: ApiKeyId },
    /// A tenant API key acting on behalf of one of the tenant's end-users.
    ApiKeyOnBehalfOf { api_key_id: ApiKeyId },
}

impl Authentication {
    pub const fn method(&self) -> &'static str {
        match self {
            Authentication::Token { .. } => "token",
            Authentication::ApiKey { .. } => "api_key",
            Authentication::ApiKeyOnBehalfOf { .. } => "api_key_on_behalf_of",
        }
    }

    /// The tenant API key the request came with, if any.
    pub const fn api_key_id(&self) -> Option<ApiKeyId> {
        match self {
            Authentication::Token { .. } => None,
            Authentication::ApiKey { api_key_id }
            | Authentication::ApiKeyOnBehalfOf { api_key_id } => Some(*api_key_id),
        }
    }
}
