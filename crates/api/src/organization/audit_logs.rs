//! `/v1/organization/audit_logs`: the tenant's audit trail. A page of it,
//! newest first, with filters; or all of it that matches, oldest first, as
//! NDJSON for a SIEM, streamed in batches (never held whole); or whether
//! its hash chain is intact.
//!
//! One event, in both (a stable schema: fields are only ever added):
//! `{"object": "organization.audit_log", "id", "occurred_at" (Unix
//! seconds), "action", "outcome" (allow | deny | error), "reason",
//! "actor": {"type": "user" | "api_key" | "system", "id"}, "auth_method",
//! "resource": {"kind", "id"} | null, "request_id", "trace_id", "details"}`.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{Value, json};
use storage::StorageError;
use storage::repo::audit::{self, AuditFilter, AuditRecord, Order};

use super::{AuditLogParams, TenantAdmin, VerifyParams, page, page_limit, unix, unix_time};
use crate::{ApiError, AppState, ErrorBody};

/// Events read per database round trip of an export.
const EXPORT_BATCH: i64 = 500;

impl AuditLogParams {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        if let Some(outcome) = &self.outcome {
            if !["allow", "deny", "error"].contains(&outcome.as_str()) {
                return Err(ApiError::bad_request(
                    format!("Invalid 'outcome': '{outcome}' is not one of allow, deny, error."),
                    Some("outcome"),
                ));
            }
        }
        let actor_user_id = self
            .actor_id
            .as_deref()
            .map(|raw| {
                raw.parse::<uuid::Uuid>().map_err(|_| {
                    ApiError::bad_request("Invalid 'actor_id': a user id.", Some("actor_id"))
                })
            })
            .transpose()?;
        Ok(AuditFilter {
            actor_user_id,
            upstream_id: self.resource_id.clone(),
            resource_kind: self.kind.clone(),
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            since: unix_time(self.since, "since")?,
            until: unix_time(self.until, "until")?,
        })
    }

    fn after(&self) -> Result<Option<uuid::Uuid>, ApiError> {
        self.after
            .as_deref()
            .map(|raw| raw.parse::<uuid::Uuid>().map_err(|_| no_event(raw)))
            .transpose()
    }
}

fn no_event(id: &str) -> ApiError {
    ApiError::not_found(format!("No audit event found with id '{id}'."))
}

/// One event in the documented, stable shape.
fn event_object(record: &AuditRecord) -> Value {
    let actor = match (record.actor_user_id, record.actor_api_key_id) {
        (Some(user), _) => json!({"type": "user", "id": user.to_string()}),
        (None, Some(key)) => json!({"type": "api_key", "id": key.to_string()}),
        (None, None) => json!({"type": "system", "id": null}),
    };
    let resource = match (&record.resource_kind, &record.upstream_id) {
        (None, None) => Value::Null,
        (kind, id) => json!({"kind": kind, "id": id}),
    };
    json!({
        "object": "organization.audit_log",
        "id": record.id.to_string(),
        "occurred_at": unix(record.occurred_at),
        "action": record.action,
        "outcome": record.outcome,
        "reason": record.reason,
        "actor": actor,
        "auth_method": record.auth_method,
        "resource": resource,
        "request_id": record.request_id,
        "trace_id": record.trace_id,
        "details": record.details,
    })
}

/// A page of the tenant's audit trail, newest first.
#[utoipa::path(
    tag = "Organization",
    operation_id = "listOrganizationAuditLogs",
    security(("bearer" = []), ("api_key" = [])),
    params(AuditLogParams),
    responses(
        (status = 200, description = "A page of events, newest first"),
        (status = 400, description = "A malformed filter, named", body = ErrorBody),
        (status = 404, description = "Not a tenant admin, or a cursor that names no event of the tenant", body = ErrorBody)
    )
)]
#[get("/v1/organization/audit_logs", wrap = "from_fn(super::admin_gate)")]
pub async fn list_audit_logs(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    params: web::Query<AuditLogParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let (filter, after) = (params.filter()?, params.after()?);
    let tenant_id = caller.tenant.id;
    let found = state
        .database
        .run("audit.search", move |conn| {
            audit::search(conn, tenant_id, &filter, after, Order::NewestFirst, limit)
        })
        .await;
    let (records, has_more) = match found {
        Err(StorageError::NotFound) => {
            return Err(no_event(params.after.as_deref().unwrap_or_default()));
        }
        other => other?,
    };
    Ok(HttpResponse::Ok().json(page(records.iter().map(event_object).collect(), has_more)))
}

/// Every matching event, oldest first, one JSON object a line.
#[utoipa::path(
    tag = "Organization",
    operation_id = "exportOrganizationAuditLogs",
    security(("bearer" = []), ("api_key" = [])),
    params(AuditLogParams),
    responses(
        (status = 200, description = "application/x-ndjson: one event a line, oldest first", content_type = "application/x-ndjson"),
        (status = 400, description = "A malformed filter, named", body = ErrorBody),
        (status = 404, description = "Not a tenant admin", body = ErrorBody)
    )
)]
#[get(
    "/v1/organization/audit_logs/export",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn export_audit_logs(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    params: web::Query<AuditLogParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = params.filter()?;
    let tenant_id = caller.tenant.id;
    let database = state.database.clone();
    // Batches read one after another, each after the last one's final event.
    let lines = stream::unfold(Some(None), move |cursor: Option<Option<uuid::Uuid>>| {
        let (database, filter) = (database.clone(), filter.clone());
        async move {
            let after = cursor?;
            let read = database
                .run("audit.export", move |conn| {
                    audit::search(
                        conn,
                        tenant_id,
                        &filter,
                        after,
                        Order::OldestFirst,
                        EXPORT_BATCH,
                    )
                })
                .await;
            let (records, has_more) = match read {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "an audit export broke off");
                    return Some((
                        Err(std::io::Error::other("the audit export broke off")),
                        None,
                    ));
                }
            };
            let mut text = String::new();
            for record in &records {
                text.push_str(&event_object(record).to_string());
                text.push('\n');
            }
            let next = (has_more).then(|| records.last().map(|record| record.id));
            Some((Ok::<_, std::io::Error>(Bytes::from(text)), next))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(lines))
}

/// Places of the chain one request recomputes at most; a longer chain is
/// verified in several requests, each starting after the last one's
/// `checked_through`.
const VERIFY_PER_REQUEST: i64 = 1_000_000;

/// Recomputes the tenant's audit chain and says whether it is intact, and
/// if not, which place is the first that does not hold; answers the head
/// (last place and hash) so it can be kept elsewhere and compared later.
#[utoipa::path(
    tag = "Organization",
    operation_id = "verifyOrganizationAuditLogs",
    security(("bearer" = []), ("api_key" = [])),
    params(VerifyParams),
    responses(
        (status = 200, description = "`{object, intact, events, head: {seq, hash}, checked_through, has_more, first_broken: {id | null, seq} | null}`"),
        (status = 400, description = "A malformed parameter, named", body = ErrorBody),
        (status = 404, description = "Not a tenant admin", body = ErrorBody)
    )
)]
#[get(
    "/v1/organization/audit_logs/verify",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn verify_audit_logs(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    params: web::Query<VerifyParams>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = caller.tenant.id;
    let after = match params.after_sequence {
        None => 0,
        Some(after) if after >= 0 => after,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid 'after_sequence': a place of the chain, 0 or more.",
                Some("after_sequence"),
            ));
        }
    };
    let check = state
        .database
        .run("audit.verify", move |conn| {
            audit::verify_chain(conn, tenant_id, after, VERIFY_PER_REQUEST)
        })
        .await?;
    let intact = check.first_broken.is_none();
    Ok(HttpResponse::Ok().json(json!({
        "object": "organization.audit_log.verification",
        "intact": intact,
        "events": check.events,
        "head": {"seq": check.head.0, "hash": hex::encode(&check.head.1)},
        "checked_through": check.checked_through,
        "has_more": intact && check.checked_through < check.events,
        "first_broken": check.first_broken.map(|(id, seq)| json!({
            "id": id.map(|id| id.to_string()),
            "seq": seq,
        })),
    })))
}
