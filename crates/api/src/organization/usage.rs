//! `/v1/organization/usage`: tokens and requests (runs and responses that
//! consumed tokens) per user, UTC day and model, from what the upstream
//! reported for the tenant's own runs and responses.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, get, web};
use base64::Engine;
use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};
use storage::repo::usage::{self, UsageBucket, UsageQuery};

use super::{TenantAdmin, UsageParams, page, page_limit, unix_time};
use crate::{ApiError, AppState, ErrorBody};

/// The window when `since` is absent: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

/// The longest window one request aggregates.
const MAX_DAYS: i64 = 366;

/// A bucket's cursor: its day, user and model, opaque to clients.
fn cursor_of(bucket: &UsageBucket) -> String {
    let key = format!(
        "{}|{}|{}",
        bucket.day,
        bucket
            .user_id
            .map(|user| user.to_string())
            .unwrap_or_default(),
        bucket.model
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn parse_cursor(raw: &str) -> Result<(NaiveDate, String, String), ApiError> {
    let invalid =
        || ApiError::bad_request("Invalid 'after': not a cursor of this list.", Some("after"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '|');
    let day = parts
        .next()
        .and_then(|day| day.parse::<NaiveDate>().ok())
        .ok_or_else(invalid)?;
    let user = parts.next().ok_or_else(invalid)?.to_owned();
    let model = parts.next().ok_or_else(invalid)?.to_owned();
    Ok((day, user, model))
}

fn bucket_object(bucket: &UsageBucket) -> Value {
    json!({
        "object": "organization.usage",
        "id": cursor_of(bucket),
        "day": bucket.day.to_string(),
        "user_id": bucket.user_id.map(|user| user.to_string()),
        "model": (!bucket.model.is_empty()).then_some(&bucket.model),
        "requests": bucket.requests,
        "input_tokens": bucket.input_tokens,
        "output_tokens": bucket.output_tokens,
        "total_tokens": bucket.total_tokens,
    })
}

/// The tenant's usage by UTC day, user and model, oldest day first.
#[utoipa::path(
    tag = "Organization",
    operation_id = "listOrganizationUsage",
    security(("bearer" = []), ("api_key" = [])),
    params(UsageParams),
    responses(
        (status = 200, description = "A page of usage buckets"),
        (status = 400, description = "A malformed parameter, named", body = ErrorBody),
        (status = 404, description = "Not a tenant admin", body = ErrorBody)
    )
)]
#[get("/v1/organization/usage", wrap = "from_fn(super::admin_gate)")]
pub async fn list_usage(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    params: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let until = unix_time(params.until, "until")?.unwrap_or_else(Utc::now);
    let since = unix_time(params.since, "since")?
        .unwrap_or_else(|| until - chrono::Duration::days(DEFAULT_DAYS));
    // One request aggregates a bounded window; a longer period is asked
    // window by window.
    if until - since > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::bad_request(
            format!("Invalid 'since': at most {MAX_DAYS} days before 'until'."),
            Some("since"),
        ));
    }
    let user_id = params
        .user_id
        .as_deref()
        .map(|raw| {
            raw.parse::<uuid::Uuid>()
                .map(domain::UserId::from_uuid)
                .map_err(|_| {
                    ApiError::bad_request("Invalid 'user_id': a user id.", Some("user_id"))
                })
        })
        .transpose()?;
    let after = params.after.as_deref().map(parse_cursor).transpose()?;
    let query = UsageQuery {
        since,
        until,
        user_id,
        after,
        limit,
    };
    let tenant_id = caller.tenant.id;
    let (buckets, has_more) = state
        .database
        .run("usage.by_day", move |conn| {
            usage::by_day(conn, tenant_id, &query)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page(buckets.iter().map(bucket_object).collect(), has_more)))
}
