//! `/v1/organization/users`: the tenant's end-users, as its admins see
//! them: list (`disabled` filter, cursor), retrieve (with what they own and
//! when they were last seen), and disable or enable.

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, delete, get, post, web};
use domain::UserId;
use serde::Deserialize;
use serde_json::{Value, json};
use storage::StorageError;
use storage::repo::erasures::{self, RequestedBy};
use storage::repo::users::{self, UserListing};
use utoipa::ToSchema;

use super::{TenantAdmin, UserListParams, page, page_limit, unix};
use crate::erasure::{Eraser, erasure_object};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

/// Disables or enables a user: a disabled user is refused (403) whatever
/// their credential, from their next request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    disabled: bool,
}

fn user_object(user: &UserListing) -> Value {
    json!({
        "object": "organization.user",
        "id": user.id.to_string(),
        "subject": user.subject,
        "disabled": user.state == "disabled",
        "created_at": unix(user.created_at),
        "last_seen_at": user.last_seen_at.map(unix),
    })
}

/// A user id of the path; one that is not an id names no user.
fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse::<uuid::Uuid>()
        .map(UserId::from_uuid)
        .map_err(|_| no_user(raw))
}

fn no_user(id: &str) -> ApiError {
    ApiError::not_found(format!("No user found with id '{id}'."))
}

/// Lists the tenant's users, oldest first.
#[utoipa::path(
    tag = "Organization",
    operation_id = "listOrganizationUsers",
    security(("bearer" = []), ("api_key" = [])),
    params(UserListParams),
    responses(
        (status = 200, description = "A page of the tenant's users"),
        (status = 400, description = "A malformed parameter, named", body = ErrorBody),
        (status = 404, description = "Not a tenant admin, or a cursor that names no user of the tenant", body = ErrorBody)
    )
)]
#[get("/v1/organization/users", wrap = "from_fn(super::admin_gate)")]
pub async fn list_users(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    params: web::Query<UserListParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let after = params.after.as_deref().map(user_id).transpose()?;
    let (tenant_id, disabled) = (caller.tenant.id, params.disabled);
    let listed = state
        .database
        .run("users.list", move |conn| {
            users::list_for_tenant(conn, tenant_id, disabled, after, limit)
        })
        .await;
    let (users, has_more) = match listed {
        Err(StorageError::NotFound) => {
            return Err(no_user(params.after.as_deref().unwrap_or_default()));
        }
        other => other?,
    };
    let data = users.iter().map(user_object).collect();
    Ok(HttpResponse::Ok().json(page(data, has_more)))
}

/// One user of the tenant, with how many live objects of each kind they own.
#[utoipa::path(
    tag = "Organization",
    operation_id = "retrieveOrganizationUser",
    security(("bearer" = []), ("api_key" = [])),
    params(("user_id" = String, Path, description = "The user")),
    responses(
        (status = 200, description = "The user"),
        (status = 404, description = "Not a tenant admin, or no such user in the tenant", body = ErrorBody)
    )
)]
#[get(
    "/v1/organization/users/{user_id}",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn retrieve_user(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let tenant_id = caller.tenant.id;
    let found = state
        .database
        .run("users.find", move |conn| {
            users::find_with_counts(conn, tenant_id, id)
        })
        .await;
    let (user, counts) = match found {
        Err(StorageError::NotFound) => return Err(no_user(&path)),
        other => other?,
    };
    let mut object = user_object(&user);
    object["owned"] = counts
        .into_iter()
        .map(|(kind, count)| (kind, Value::from(count)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    Ok(HttpResponse::Ok().json(object))
}

/// Disables or enables a user of the tenant; audited.
#[utoipa::path(
    tag = "Organization",
    operation_id = "modifyOrganizationUser",
    security(("bearer" = []), ("api_key" = [])),
    params(("user_id" = String, Path, description = "The user")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "The user as it now is"),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "Not a tenant admin, or no such user in the tenant", body = ErrorBody)
    )
)]
#[post(
    "/v1/organization/users/{user_id}",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn modify_user(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<UserUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    let (tenant_id, disabled) = (caller.tenant.id, body.disabled);
    let changed = state
        .database
        .run("users.set_disabled", move |conn| {
            users::set_disabled(conn, tenant_id, id, disabled)?;
            users::find_with_counts(conn, tenant_id, id)
        })
        .await;
    let (user, _) = match changed {
        Err(StorageError::NotFound) => return Err(no_user(&path)),
        other => other?,
    };
    // This replica refuses (or admits) them from their next request.
    state.callers.clear();
    let action = if disabled {
        "user_disable"
    } else {
        "user_enable"
    };
    super::audit_change(
        &state,
        &caller,
        &request_id,
        action,
        json!({"user": user.id.to_string(), "subject": user.subject}),
    );
    Ok(HttpResponse::Ok().json(user_object(&user)))
}

/// Erases a user of the tenant: they are refused at once and their subject
/// forgotten, their shares removed, and every object they own is deleted
/// upstream, then asked for again as proof. Answers the erasure, which goes
/// on in the background (`GET /v1/organization/erasures/{erasure_id}`);
/// erasing a user again answers the same erasure. Audited.
#[utoipa::path(
    tag = "Organization",
    operation_id = "deleteOrganizationUser",
    security(("bearer" = []), ("api_key" = [])),
    params(("user_id" = String, Path, description = "The user")),
    responses(
        (status = 202, description = "The erasure, `in_progress` (or as it stands, for a user already being erased)"),
        (status = 400, description = "The caller themselves", body = ErrorBody),
        (status = 404, description = "Not a tenant admin, or no such user in the tenant", body = ErrorBody)
    )
)]
#[delete(
    "/v1/organization/users/{user_id}",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn erase_user(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&path)?;
    if caller.user() == Some(id) {
        return Err(ApiError::bad_request(
            "You cannot erase yourself: ask another admin of the tenant.",
            None,
        ));
    }
    let tenant_id = caller.tenant.id;
    let requested_by = RequestedBy {
        user: caller.user(),
        api_key: caller.principal.authentication.api_key_id(),
    };
    let begun = state
        .database
        .run("erasures.begin", move |conn| {
            erasures::begin(conn, tenant_id, id, requested_by)
        })
        .await;
    let (erasure, begun) = match begun {
        Err(StorageError::NotFound) => return Err(no_user(&path)),
        other => other?,
    };
    if begun {
        state.callers.clear();
        super::audit_change(
            &state,
            &caller,
            &request_id,
            "erase_user",
            json!({"user": id.to_string(), "erasure_id": erasure.id.to_string()}),
        );
    }
    let eraser = Eraser {
        database: state.database.clone(),
        upstreams: state.upstreams.clone(),
        audit: Some(state.audit.clone()),
    };
    let carried = erasure.clone();
    // Goes on after the answer; a crash leaves it to `threadgate reconcile`.
    actix_web::rt::spawn(async move {
        if let Err(error) = eraser.finish(&carried).await {
            tracing::warn!(%error, erasure = %carried.id, "erasure interrupted: the reconciler goes on");
        }
    });
    Ok(HttpResponse::Accepted().json(erasure_object(&erasure)))
}

/// An erasure of the tenant: its progress, and when completed, what was
/// deleted by kind and the proof that nothing of the user's is left.
#[utoipa::path(
    tag = "Organization",
    operation_id = "retrieveOrganizationErasure",
    security(("bearer" = []), ("api_key" = [])),
    params(("erasure_id" = String, Path, description = "The erasure")),
    responses(
        (status = 200, description = "`{object: organization.erasure, id, user_id, status: in_progress | completed, deleted: {kind: count}, proof, created_at, completed_at}`"),
        (status = 404, description = "Not a tenant admin, or no such erasure in the tenant", body = ErrorBody)
    )
)]
#[get(
    "/v1/organization/erasures/{erasure_id}",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn retrieve_erasure(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let no_erasure = || ApiError::not_found(format!("No erasure found with id '{path}'."));
    let id: uuid::Uuid = path.parse().map_err(|_| no_erasure())?;
    let tenant_id = caller.tenant.id;
    let found = state
        .database
        .run("erasures.find", move |conn| {
            erasures::find(conn, tenant_id, id)
        })
        .await;
    match found {
        Err(StorageError::NotFound) => Err(no_erasure()),
        other => Ok(HttpResponse::Ok().json(erasure_object(&other?))),
    }
}
