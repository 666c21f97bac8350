//! `/v1/organization/policy`: the tenant's settings in one object.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, get, post, web};
use domain::{LimitName, LimitSetting};
use serde::{Deserialize, Deserializer, Serialize};
use storage::repo::tenants::{self, PolicyUpdate, Tenant};
use utoipa::ToSchema;

use super::TenantAdmin;
use crate::policy::{KNOWN_TOOLS, allowed_tools};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

/// The longest `retention_days` (ten years).
const MAX_RETENTION_DAYS: i32 = 3650;
/// The most models a tenant may list.
const MAX_MODELS: usize = 64;

/// The tenant's settings, in one object.
#[derive(Debug, Serialize, ToSchema)]
pub struct Policy {
    /// Always `organization.policy`.
    object: &'static str,
    /// Whether tenant admins may read (never change) their users'
    /// conversations: threads, conversations, responses.
    admins_read_conversations: bool,
    /// Conversation state older than this many days is deleted by the
    /// reconciler; `null`: kept.
    retention_days: Option<i32>,
    /// Tool types runs and responses may use.
    allowed_tools: Vec<String>,
    /// Models runs, responses and assistants may name; `null`: any.
    allowed_models: Option<Vec<String>>,
    /// Requests a minute each user (or API key acting as itself) may
    /// make; `null`: no limit. Unset in the policy, the configuration's.
    user_requests_per_minute: Option<u64>,
    /// Requests a minute the tenant's users may make together.
    tenant_requests_per_minute: Option<u64>,
    /// Tokens (input + output of runs and responses, as recorded) each
    /// user may spend per UTC day; `null`: no budget.
    user_tokens_per_day: Option<u64>,
    /// Tokens the tenant may spend per UTC day.
    tenant_tokens_per_day: Option<u64>,
    /// Streamed runs and responses a user may have open at once.
    user_concurrent_streams: Option<u64>,
}

impl Policy {
    fn of(tenant: &Tenant, limits: domain::Limits) -> Self {
        Policy {
            user_requests_per_minute: limits.user_requests_per_minute,
            tenant_requests_per_minute: limits.tenant_requests_per_minute,
            user_tokens_per_day: limits.user_tokens_per_day,
            tenant_tokens_per_day: limits.tenant_tokens_per_day,
            user_concurrent_streams: limits.user_concurrent_streams,
            object: "organization.policy",
            admins_read_conversations: tenant.policy.admins_read_conversations,
            retention_days: tenant.settings.retention_days,
            allowed_tools: allowed_tools(&tenant.settings),
            allowed_models: tenant.settings.allowed_models.clone(),
        }
    }
}

/// A partial update: fields left out stay as they are; `null` clears
/// `retention_days` (keep), `allowed_tools` (the built-in set) and
/// `allowed_models` (any).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    admins_read_conversations: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3650)]
    retention_days: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    allowed_tools: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    allowed_models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1)]
    user_requests_per_minute: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1)]
    tenant_requests_per_minute: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1)]
    user_tokens_per_day: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1)]
    tenant_tokens_per_day: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1)]
    user_concurrent_streams: Option<Option<u64>>,
}

/// A field that is present, possibly `null` (an absent one stays `None`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

impl PolicyRequest {
    /// The update, once every value is checked; a bad one is a 400 that
    /// names it.
    fn checked(self) -> Result<PolicyUpdate, ApiError> {
        if let Some(Some(days)) = self.retention_days {
            if !(1..=MAX_RETENTION_DAYS).contains(&days) {
                return Err(ApiError::bad_request(
                    format!(
                        "Invalid 'retention_days': between 1 and {MAX_RETENTION_DAYS}, or null to keep everything."
                    ),
                    Some("retention_days"),
                ));
            }
        }
        if let Some(Some(tools)) = &self.allowed_tools {
            if let Some((index, unknown)) = tools
                .iter()
                .enumerate()
                .find(|(_, tool)| !KNOWN_TOOLS.contains(&tool.as_str()))
            {
                return Err(ApiError::bad_request(
                    format!(
                        "Invalid 'allowed_tools[{index}]': '{unknown}' is not one of {}.",
                        KNOWN_TOOLS.join(", ")
                    ),
                    Some(&format!("allowed_tools[{index}]")),
                ));
            }
        }
        if let Some(Some(models)) = &self.allowed_models {
            if models.len() > MAX_MODELS {
                return Err(ApiError::bad_request(
                    format!("Invalid 'allowed_models': at most {MAX_MODELS} models."),
                    Some("allowed_models"),
                ));
            }
            if let Some(index) = models
                .iter()
                .position(|model| model.is_empty() || model.len() > 128)
            {
                return Err(ApiError::bad_request(
                    format!(
                        "Invalid 'allowed_models[{index}]': a model name of 1 to 128 characters."
                    ),
                    Some(&format!("allowed_models[{index}]")),
                ));
            }
        }
        let asked = [
            (
                LimitName::UserRequestsPerMinute,
                self.user_requests_per_minute,
            ),
            (
                LimitName::TenantRequestsPerMinute,
                self.tenant_requests_per_minute,
            ),
            (LimitName::UserTokensPerDay, self.user_tokens_per_day),
            (LimitName::TenantTokensPerDay, self.tenant_tokens_per_day),
            (
                LimitName::UserConcurrentStreams,
                self.user_concurrent_streams,
            ),
        ];
        let mut limits = Vec::new();
        for (name, asked) in asked {
            match asked {
                None => {}
                Some(None) => limits.push((name, LimitSetting::Unlimited)),
                Some(Some(limit)) if name.admits(limit) => {
                    limits.push((name, LimitSetting::Max(limit)));
                }
                Some(Some(_)) => {
                    return Err(ApiError::bad_request(
                        format!(
                            "Invalid '{}': between 1 and {}, or null for no limit.",
                            name.as_str(),
                            name.maximum()
                        ),
                        Some(name.as_str()),
                    ));
                }
            }
        }
        Ok(PolicyUpdate {
            limits,
            admins_read_conversations: self.admins_read_conversations,
            retention_days: self.retention_days,
            allowed_tools: self.allowed_tools,
            allowed_models: self.allowed_models,
        })
    }
}

/// The tenant's policy.
#[utoipa::path(
    tag = "Organization",
    operation_id = "getOrganizationPolicy",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The tenant's policy", body = Policy),
        (status = 404, description = "Not a tenant admin (the path answers as if it did not exist)", body = ErrorBody)
    )
)]
#[get("/v1/organization/policy", wrap = "from_fn(super::admin_gate)")]
pub async fn get_policy(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
) -> Result<HttpResponse, ApiError> {
    let limits = state.quotas.limits_for(&caller.tenant);
    Ok(HttpResponse::Ok().json(Policy::of(&caller.tenant, limits)))
}

/// Changes the tenant's policy: only the fields sent. Takes effect on this
/// replica's next request, and every other's within `auth.caller_cache`.
#[utoipa::path(
    tag = "Organization",
    operation_id = "updateOrganizationPolicy",
    security(("bearer" = []), ("api_key" = [])),
    request_body = PolicyRequest,
    responses(
        (status = 200, description = "The tenant's policy as it now is", body = Policy),
        (status = 400, description = "A value is out of range or unknown; the message names it", body = ErrorBody),
        (status = 404, description = "Not a tenant admin (the path answers as if it did not exist)", body = ErrorBody)
    )
)]
#[post("/v1/organization/policy", wrap = "from_fn(super::admin_gate)")]
pub async fn update_policy(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    request_id: RequestId,
    body: web::Json<PolicyRequest>,
) -> Result<HttpResponse, ApiError> {
    let update = body.into_inner().checked()?;
    let details = serde_json::json!({
        "admins_read_conversations": update.admins_read_conversations,
        "retention_days": update.retention_days,
        "allowed_tools": update.allowed_tools,
        "allowed_models": update.allowed_models,
        "limits": update
            .limits
            .iter()
            .map(|(name, setting)| {
                let value = match setting {
                    LimitSetting::Max(limit) => serde_json::Value::from(*limit),
                    _ => serde_json::Value::Null,
                };
                (name.as_str().to_owned(), value)
            })
            .collect::<serde_json::Map<_, _>>(),
    });
    let tenant_id = caller.tenant.id;
    let tenant = state
        .database
        .run("tenants.update_policy", move |conn| {
            tenants::update_policy(conn, tenant_id, &update)
        })
        .await?;
    // Callers carry their tenant's policy: this replica reads it afresh.
    state.callers.clear();
    super::audit_change(&state, &caller, &request_id, "policy_update", details);
    let limits = state.quotas.limits_for(&tenant);
    Ok(HttpResponse::Ok().json(Policy::of(&tenant, limits)))
}
