//! The tenant administration API under `/v1/organization/`, for a tenant's
//! admins (an admin token of the tenant's issuer, or an admin API key).
//! Anyone else, members included, gets the answer a path that does not
//! exist gets; an admin acts only inside their own tenant, which the
//! credential names. (The query parameter types live here: declared beside
//! their handlers, utoipa's expansion trips the `unused_qualifications`
//! lint.)

pub mod api_keys;
pub mod audit_logs;
pub mod issuers;
pub mod policy;
pub mod usage;
pub mod users;

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use storage::repo::audit::Outcome;

use crate::auth::Caller;
use crate::request_id::RequestId;
use crate::{ApiError, AppState};

/// Refuses anyone but the tenant's admins before the handler's extractors
/// parse anything of the request, so a member's malformed body or query
/// meets the same path-that-does-not-exist as a well-formed one (wrapped
/// around every administration route).
///
/// The refusal is answered here, not raised: raised, it would pass the
/// app's outer middleware by (request id, `Cache-Control`, metrics) and
/// look unlike the unknown-URL 404 it imitates.
async fn admin_gate(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Err(refusal) = request.extract::<TenantAdmin>().await {
        return Ok(request.error_response(refusal).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// A caller who is one of the tenant's admins; anyone else meets a path that
/// does not exist.
#[derive(Debug, Clone)]
pub struct TenantAdmin(pub Caller);

impl FromRequest for TenantAdmin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(request, payload);
        let (method, path) = (request.method().clone(), request.path().to_owned());
        Box::pin(async move {
            let caller = caller.await?;
            if caller.principal.is_admin() {
                return Ok(TenantAdmin(caller));
            }
            Err(ApiError::not_found(format!(
                "Invalid URL ({method} {path})"
            )))
        })
    }
}

/// Audits a change an admin made (allowed: a refusal never gets this far).
fn audit_change(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    action: &str,
    details: serde_json::Value,
) {
    let mut event = crate::audit::event(caller, &request_id.0, action, Outcome::Allow);
    event.details = details;
    state.audit.record(event);
}

/// A page of an administration list: oldest first, after a cursor.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Between 1 and 100; 20 when absent.
    pub limit: Option<i64>,
    /// The id the page starts after.
    pub after: Option<String>,
}

impl PageParams {
    fn limit(&self) -> Result<i64, ApiError> {
        page_limit(self.limit)
    }
}

/// A page's size as asked: 1 to 100, 20 when absent.
fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(20),
        Some(limit) if (1..=100).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::bad_request(
            format!("Invalid 'limit': integer between 1 and 100 expected, got {limit}."),
            Some("limit"),
        )),
    }
}

/// A time parameter given in Unix seconds; out of range is a 400 naming it.
fn unix_time(
    value: Option<i64>,
    name: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    value
        .map(|seconds| {
            chrono::DateTime::from_timestamp(seconds, 0).ok_or_else(|| {
                ApiError::bad_request(
                    format!("Invalid '{name}': a Unix time in seconds."),
                    Some(name),
                )
            })
        })
        .transpose()
}

/// A page of users, optionally only the disabled (`disabled=true`) or only
/// the active (`disabled=false`) ones.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Between 1 and 100; 20 when absent.
    pub limit: Option<i64>,
    /// The user id the page starts after.
    pub after: Option<String>,
    pub disabled: Option<bool>,
}

/// Which events: every parameter narrows.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditLogParams {
    /// Between 1 and 100; 20 when absent (pages only).
    pub limit: Option<i64>,
    /// The event id the page starts after.
    pub after: Option<String>,
    /// Events of this user (an id of `GET /v1/organization/users`).
    pub actor_id: Option<String>,
    /// Events about this object (its id, as callers know it).
    pub resource_id: Option<String>,
    /// `thread`, `file`, `response`, ...
    pub kind: Option<String>,
    /// `read`, `create`, `delete`, `policy_update`, ...
    pub action: Option<String>,
    /// `allow`, `deny` or `error`.
    pub outcome: Option<String>,
    /// From this time on (Unix seconds).
    pub since: Option<i64>,
    /// Before this time (Unix seconds).
    pub until: Option<i64>,
}

/// Where a verification starts: after a place of the chain a previous
/// answer checked through (`0`, the start, when absent).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    pub after_sequence: Option<i64>,
}

/// Which usage: a time window (the last 30 days by default), one user.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Between 1 and 100; 20 when absent.
    pub limit: Option<i64>,
    /// The bucket id the page starts after.
    pub after: Option<String>,
    /// Only this user's (an id of `GET /v1/organization/users`).
    pub user_id: Option<String>,
    /// From this time on (Unix seconds).
    pub since: Option<i64>,
    /// Before this time (Unix seconds).
    pub until: Option<i64>,
}

/// The list envelope of the administration API (OpenAI's admin API's).
fn page(data: Vec<serde_json::Value>, has_more: bool) -> serde_json::Value {
    serde_json::json!({
        "object": "list",
        "first_id": data.first().map(|item| item["id"].clone()),
        "last_id": data.last().map(|item| item["id"].clone()),
        "has_more": has_more,
        "data": data,
    })
}

/// A Unix timestamp, as every time in the API.
fn unix(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp()
}
