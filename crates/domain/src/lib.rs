//! Threadgate's vocabulary: who is asking ([`Principal`]), about what
//! ([`ResourceFacts`], [`ResourceKind`]), to do what ([`Action`]), and the one
//! function that answers yes or no ([`authorize`]).
//!
//! This crate performs no I/O and knows no framework: storage loads the facts,
//! the API asks the question, and only [`authorize`] decides.

mod action;
mod authz;
mod error;
mod ids;
mod limits;
mod principal;
mod resource;

pub use action::Action;
pub use authz::{
    Decision, DenyReason, ListScope, Ownership, Target, TenantPolicy, authorize, list_scope,
    owner_of_new, shared_list_scope,
};
pub use error::DomainError;
pub use ids::{ApiKeyId, IdentityProviderId, ResourceId, TenantId, UpstreamId, UserId};
pub use limits::{LimitName, LimitSetting, Limits, PolicyLimits};
pub use principal::{Actor, Authentication, Principal, Role};
pub use resource::{Grant, LifecycleState, Owner, Permission, ResourceFacts, ResourceKind};
