//! The audit trail: one row per authorization decision or mutation. The
//! table refuses updates and deletes (a trigger), so this module only appends.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{ApiKeyId, ResourceId, TenantId, UserId};
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
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Error => "error",
        }
    }
}

/// One event. Never holds a token, key or message content.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: Option<TenantId>,
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
    pub actor_user_id: Option<UserId>,
    pub actor_api_key_id: Option<ApiKeyId>,
    pub auth_method: Option<&'static str>,
    pub action: String,
    pub resource_kind: Option<&'static str>,
    pub resource_id: Option<ResourceId>,
    pub upstream_id: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// E.g. the upstream status of a forwarded mutation.
    pub details: serde_json::Value,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct Row<'a> {
    id: Uuid,
    tenant_id: Option<Uuid>,
    occurred_at: DateTime<Utc>,
    request_id: Option<&'a str>,
    trace_id: Option<&'a str>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
    auth_method: Option<&'a str>,
    action: &'a str,
    resource_kind: Option<&'a str>,
    resource_id: Option<Uuid>,
    upstream_id: Option<&'a str>,
    outcome: &'a str,
    reason: Option<&'a str>,
    details: &'a serde_json::Value,
}

impl<'a> From<&'a AuditEvent> for Row<'a> {
    fn from(event: &'a AuditEvent) -> Self {
        Row {
            id: Uuid::now_v7(),
            tenant_id: event.tenant_id.map(|t| t.as_uuid()),
            occurred_at: event.occurred_at,
            request_id: event.request_id.as_deref(),
            trace_id: event.trace_id.as_deref(),
            actor_user_id: event.actor_user_id.map(|u| u.as_uuid()),
            actor_api_key_id: event.actor_api_key_id.map(|k| k.as_uuid()),
            auth_method: event.auth_method,
            action: &event.action,
            resource_kind: event.resource_kind,
            resource_id: event.resource_id.map(|r| r.as_uuid()),
            upstream_id: event.upstream_id.as_deref(),
            outcome: event.outcome.as_str(),
            reason: event.reason.as_deref(),
            details: &event.details,
        }
    }
}

/// Appends a batch in one statement.
pub fn append_many(conn: &mut PgConnection, events: &[AuditEvent]) -> Result<usize, StorageError> {
    if events.is_empty() {
        return Ok(0);
    }
    // Each tenant's chain head is locked as its first event is written:
    // writing tenants in one order (events of a tenant keep theirs) means
    // two replicas' batches never wait on each other in a cycle.
    let mut ordered: Vec<&AuditEvent> = events.iter().collect();
    ordered.sort_by_key(|event| event.tenant_id.map(|tenant| tenant.as_uuid()));
    let rows: Vec<Row<'_>> = ordered.into_iter().map(Row::from).collect();
    Ok(diesel::insert_into(audit_events::table)
        .values(&rows)
        .execute(conn)?)
}

/// A recorded event, as tests and operators read it back.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct RecordedEvent {
    pub action: String,
    pub outcome: String,
    pub upstream_id: Option<String>,
    pub reason: Option<String>,
    pub trace_id: Option<String>,
}

/// Events of a tenant, oldest first.
pub fn list_for_tenant(
    conn: &mut PgConnection,
    tenant_id: TenantId,
) -> Result<Vec<RecordedEvent>, StorageError> {
    Ok(audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id.as_uuid()))
        .order(audit_events::occurred_at.asc())
        .select((
            audit_events::action,
            audit_events::outcome,
            audit_events::upstream_id,
            audit_events::reason,
            audit_events::trace_id,
        ))
        .load(conn)?)
}

/// The number of events recorded for a tenant.
pub fn count_for_tenant(conn: &mut PgConnection, tenant_id: TenantId) -> Result<i64, StorageError> {
    Ok(audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id.as_uuid()))
        .count()
        .get_result(conn)?)
}

/// An event as a tenant admin reads it: every column.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditRecord {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    pub auth_method: Option<String>,
    pub action: String,
    pub resource_kind: Option<String>,
    pub resource_id: Option<Uuid>,
    pub upstream_id: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

/// Which of a tenant's events to read; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_user_id: Option<Uuid>,
    /// The object's upstream id, as callers know it.
    pub upstream_id: Option<String>,
    pub resource_kind: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The order a search reads in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// A page of a tenant's events matching `filter`, after the event `after`
/// in `order` (`NotFound` when that is no event of the tenant); answers
/// whether more follow.
pub fn search(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    filter: &AuditFilter,
    after: Option<Uuid>,
    order: Order,
    limit: i64,
) -> Result<(Vec<AuditRecord>, bool), StorageError> {
    let mut query = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id.as_uuid()))
        .into_boxed();
    if let Some(user) = filter.actor_user_id {
        query = query.filter(audit_events::actor_user_id.eq(user));
    }
    if let Some(upstream_id) = &filter.upstream_id {
        query = query.filter(audit_events::upstream_id.eq(upstream_id.clone()));
    }
    if let Some(kind) = &filter.resource_kind {
        query = query.filter(audit_events::resource_kind.eq(kind.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(audit_events::outcome.eq(outcome.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(until));
    }
    if let Some(after) = after {
        let at: DateTime<Utc> = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id.as_uuid()))
            .filter(audit_events::id.eq(after))
            .select(audit_events::occurred_at)
            .first(conn)?;
        query = match order {
            Order::NewestFirst => query.filter(
                audit_events::occurred_at
                    .lt(at)
                    .or(audit_events::occurred_at
                        .eq(at)
                        .and(audit_events::id.lt(after))),
            ),
            Order::OldestFirst => query.filter(
                audit_events::occurred_at
                    .gt(at)
                    .or(audit_events::occurred_at
                        .eq(at)
                        .and(audit_events::id.gt(after))),
            ),
        };
    }
    query = match order {
        Order::NewestFirst => {
            query.order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        }
        Order::OldestFirst => {
            query.order((audit_events::occurred_at.asc(), audit_events::id.asc()))
        }
    };
    let mut records: Vec<AuditRecord> = query
        .limit(limit + 1)
        .select(AuditRecord::as_select())
        .load(conn)?;
    let has_more = records.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((records, has_more))
}

/// Whether a stretch of a tenant's audit chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// Events in the chain (its head's place).
    pub events: i64,
    /// The head: the last place and its hash. An administrator who keeps
    /// it elsewhere can later tell a chain cut short or rewritten from its
    /// end, which no check inside the database can.
    pub head: (i64, Vec<u8>),
    /// The last place checked: the head's, unless the check stopped early.
    pub checked_through: i64,
    /// The first place that does not hold, and its event (`None` when the
    /// place itself is missing).
    pub first_broken: Option<(Option<Uuid>, i64)>,
}

/// Links recomputed per statement: each stretch is one short query.
const VERIFY_STRETCH: i64 = 10_000;

/// Recomputes the tenant's chain in the database (`audit_chain_break`):
/// each event's hash from its predecessor's and its canonical form, after
/// place `after` and for at most `max_links` places, in stretches, then
/// whether the chain's last link is the head's.
pub fn verify_chain(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    after: i64,
    max_links: i64,
) -> Result<ChainCheck, StorageError> {
    #[derive(QueryableByName)]
    struct Broken {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    use crate::schema::{audit_chain, audit_chain_heads};
    let head: (i64, Vec<u8>) = audit_chain_heads::table
        .find(tenant_id.as_uuid())
        .select((audit_chain_heads::seq, audit_chain_heads::hash))
        .first(conn)
        .optional()?
        .unwrap_or((0, Vec::new()));
    let last = head.0.min(after.saturating_add(max_links));
    let mut from = after.max(0);
    let mut first_broken = None;
    while from < last && first_broken.is_none() {
        let upto = (from + VERIFY_STRETCH).min(last);
        let broken: Option<Broken> =
            diesel::sql_query("SELECT id, seq FROM audit_chain_break($1, $2, $3)")
                .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
                .bind::<diesel::sql_types::BigInt, _>(from)
                .bind::<diesel::sql_types::BigInt, _>(upto)
                .get_result(conn)
                .optional()?;
        first_broken = broken.map(|broken| (Some(broken.id), broken.seq));
        from = upto;
    }
    if first_broken.is_none() && last == head.0 && head.0 > 0 {
        // The stretches hold; the head's own place must hold the head's
        // hash, or the chain's end was cut off or rewritten. (Places past
        // the head are events written since it was read.)
        let at_head: Option<(Uuid, Vec<u8>)> = audit_chain::table
            .find((tenant_id.as_uuid(), head.0))
            .select((audit_chain::event_id, audit_chain::hash))
            .first(conn)
            .optional()?;
        first_broken = match at_head {
            Some((_, hash)) if hash == head.1 => None,
            Some((event, _)) => Some((Some(event), head.0)),
            None => Some((None, head.0)),
        };
    }
    Ok(ChainCheck {
        events: head.0,
        checked_through: first_broken.map_or(last, |(_, seq)| seq),
        head,
        first_broken,
    })
}
