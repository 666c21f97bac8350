//! The audit trail: one row per authorization decision or administrative
//! change. The table refuses updates and deletes (a trigger), so this module
//! only appends.

use diesel::prelude::*;
use domain::{ResourceId, TenantId, UserId};
use uuid::Uuid;

use crate::StorageError;
use crate::schema::audit_events;

/// How a decision ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
    Error,
}

impl Outcome {
    const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub tenant_id: Option<TenantId>,
    pub request_id: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub actor_user_id: Option<UserId>,
    pub actor_api_key_id: Option<Uuid>,
    pub auth_method: Option<&'a str>,
    pub action: &'a str,
    pub resource_kind: Option<&'a str>,
    pub resource_id: Option<ResourceId>,
    pub upstream_id: Option<&'a str>,
    pub outcome: Outcome,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
}

pub fn append(conn: &mut PgConnection, event: &NewAuditEvent<'_>) -> Result<Uuid, StorageError> {
    let id = Uuid::now_v7();
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(id),
            audit_events::tenant_id.eq(event.tenant_id.map(|t| t.as_uuid())),
            audit_events::request_id.eq(event.request_id),
            audit_events::trace_id.eq(event.trace_id),
            audit_events::actor_user_id.eq(event.actor_user_id.map(|u| u.as_uuid())),
            audit_events::actor_api_key_id.eq(event.actor_api_key_id),
            audit_events::auth_method.eq(event.auth_method),
            audit_events::action.eq(event.action),
            audit_events::resource_kind.eq(event.resource_kind),
            audit_events::resource_id.eq(event.resource_id.map(|r| r.as_uuid())),
            audit_events::upstream_id.eq(event.upstream_id),
            audit_events::outcome.eq(event.outcome.as_str()),
            audit_events::reason.eq(event.reason),
            audit_events::details.eq(&event.details),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The number of events recorded for a tenant; for tests and operators.
pub fn count_for_tenant(conn: &mut PgConnection, tenant_id: TenantId) -> Result<i64, StorageError> {
    Ok(audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id.as_uuid()))
        .count()
        .get_result(conn)?)
}
