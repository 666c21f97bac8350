//! `/v1/organization/api_keys`: the tenant's API keys for its backends:
//! list (never a secret), create (the secret shown once), revoke. A revoked
//! key is refused from its next request, on every replica.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, delete, get, post, web};
use domain::Role;
use serde::Deserialize;
use serde_json::{Value, json};
use storage::StorageError;
use storage::repo::api_keys::{self, ApiKeyListing, NewApiKey};
use utoipa::ToSchema;

use super::{PageParams, TenantAdmin, page, unix};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// What the key is for, 1 to 100 characters.
    name: String,
    /// `member` (the default) or `admin`.
    role: Option<String>,
    /// Whether the key may send `Threadgate-On-Behalf-Of` to act as an end-user.
    #[serde(default)]
    can_act_on_behalf: bool,
}

fn key_object(key: &ApiKeyListing) -> Value {
    json!({
        "object": "organization.api_key",
        "id": key.prefix,
        "name": key.name,
        "redacted_value": format!("tg_{}_…", key.prefix),
        "role": key.role,
        "can_act_on_behalf": key.can_act_on_behalf,
        "created_at": unix(key.created_at),
        "last_used_at": key.last_used_at.map(unix),
        "expires_at": key.expires_at.map(unix),
        "revoked_at": key.revoked_at.map(unix),
    })
}

fn no_key(id: &str) -> ApiError {
    ApiError::not_found(format!("No API key found with id '{id}'."))
}

/// Lists the tenant's keys, oldest first; never a secret.
#[utoipa::path(
    tag = "Organization",
    operation_id = "listOrganizationApiKeys",
    security(("bearer" = []), ("api_key" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of the tenant's keys"),
        (status = 400, description = "A malformed parameter, named", body = ErrorBody),
        (status = 404, description = "Not a tenant admin, or a cursor that names no key of the tenant", body = ErrorBody)
    )
)]
#[get("/v1/organization/api_keys", wrap = "from_fn(super::admin_gate)")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit()?;
    let (tenant_id, after) = (caller.tenant.id, params.after.clone());
    let listed = state
        .database
        .run("api_keys.list", move |conn| {
            api_keys::list_for_tenant(conn, tenant_id, after.as_deref(), limit)
        })
        .await;
    let (keys, has_more) = match listed {
        Err(StorageError::NotFound) => {
            return Err(no_key(params.after.as_deref().unwrap_or_default()));
        }
        other => other?,
    };
    Ok(HttpResponse::Ok().json(page(keys.iter().map(key_object).collect(), has_more)))
}

/// Creates a key of the tenant; its secret (`value`) is in this answer only.
#[utoipa::path(
    tag = "Organization",
    operation_id = "createOrganizationApiKey",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ApiKeyRequest,
    responses(
        (status = 200, description = "The new key, with its secret `value` shown this once"),
        (status = 400, description = "A bad value, named", body = ErrorBody),
        (status = 404, description = "Not a tenant admin", body = ErrorBody)
    )
)]
#[post("/v1/organization/api_keys", wrap = "from_fn(super::admin_gate)")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    request_id: RequestId,
    body: web::Json<ApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.name.is_empty() || body.name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "Invalid 'name': 1 to 100 characters.",
            Some("name"),
        ));
    }
    if body.can_act_on_behalf {
        // A key that acts as any user would give its maker every user's
        // rights: only the platform operator makes those (the CLI).
        return Err(ApiError::bad_request(
            "Keys that act on behalf of users are made by the platform operator \
             (threadgate apikey create --on-behalf-of).",
            Some("can_act_on_behalf"),
        ));
    }
    let role = match body.role.as_deref() {
        None | Some("member") => Role::Member,
        Some("admin") => Role::Admin,
        Some(other) => {
            return Err(ApiError::bad_request(
                format!("Invalid 'role': '{other}' is not one of member, admin."),
                Some("role"),
            ));
        }
    };
    let secret = crate::auth::generate_api_key();
    let (tenant_id, hash, prefix) = (
        caller.tenant.id,
        secret.secret_sha256,
        secret.prefix.clone(),
    );
    let (name, on_behalf) = (body.name.clone(), body.can_act_on_behalf);
    let created = state
        .database
        .run("api_keys.create", move |conn| {
            api_keys::create(
                conn,
                &NewApiKey {
                    tenant_id,
                    name: &name,
                    prefix: &prefix,
                    secret_sha256: &hash,
                    role,
                    can_act_on_behalf: on_behalf,
                    expires_at: None,
                },
            )?;
            api_keys::find_listing(conn, tenant_id, &prefix)
        })
        .await?;
    super::audit_change(
        &state,
        &caller,
        &request_id,
        "api_key_create",
        json!({"key": created.prefix, "role": created.role, "can_act_on_behalf": created.can_act_on_behalf}),
    );
    let mut object = key_object(&created);
    object["value"] = Value::from(secret.key);
    Ok(HttpResponse::Ok().json(object))
}

/// Revokes a key of the tenant: refused from its next request.
#[utoipa::path(
    tag = "Organization",
    operation_id = "deleteOrganizationApiKey",
    security(("bearer" = []), ("api_key" = [])),
    params(("key_id" = String, Path, description = "The key's id (its public prefix)")),
    responses(
        (status = 200, description = "Revoked"),
        (status = 404, description = "Not a tenant admin, or no such key in the tenant", body = ErrorBody)
    )
)]
#[delete(
    "/v1/organization/api_keys/{key_id}",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_id, prefix) = (caller.tenant.id, path.clone());
    let revoked = state
        .database
        .run("api_keys.revoke", move |conn| {
            api_keys::revoke(conn, tenant_id, &prefix)
        })
        .await;
    match revoked {
        Err(StorageError::NotFound) => return Err(no_key(&path)),
        other => other?,
    }
    state.callers.clear();
    super::audit_change(
        &state,
        &caller,
        &request_id,
        "api_key_revoke",
        json!({"key": path.as_str()}),
    );
    Ok(HttpResponse::Ok().json(json!({
        "object": "organization.api_key.deleted",
        "id": path.as_str(),
        "deleted": true,
    })))
}
