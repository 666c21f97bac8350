//! `/v1/organization/issuers`: the identity providers whose tokens
//! authenticate the tenant's users: list, add (checked as the operator's
//! CLI checks one, and its signing keys fetched once to show they are
//! reachable), remove (its tokens are refused from their next request).

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, delete, get, post, web};
use domain::{Authentication, IdentityProviderId};
use serde_json::{Value, json};
use storage::StorageError;
use storage::repo::identity_providers::{self, IdentityProvider, NewIdentityProvider};

use super::TenantAdmin;
use crate::issuers::{IssuerSpec, check};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

fn issuer_object(provider: &IdentityProvider) -> Value {
    json!({
        "object": "organization.issuer",
        "id": provider.id.to_string(),
        "issuer": provider.issuer,
        "audiences": provider.audiences,
        "jwks_uri": provider.jwks_uri,
        "algorithms": provider.algorithms,
        "subject_claim": provider.subject_claim,
        "admin_claim": provider.admin_claim.as_ref().map(|(claim, value)| format!("{claim}={value}")),
        "enabled": provider.enabled,
    })
}

fn no_issuer(id: &str) -> ApiError {
    ApiError::not_found(format!("No issuer found with id '{id}'."))
}

/// Lists the tenant's issuers.
#[utoipa::path(
    tag = "Organization",
    operation_id = "listOrganizationIssuers",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The tenant's issuers (a list; a tenant has few)"),
        (status = 404, description = "Not a tenant admin", body = ErrorBody)
    )
)]
#[get("/v1/organization/issuers", wrap = "from_fn(super::admin_gate)")]
pub async fn list_issuers(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = caller.tenant.id;
    let providers = state
        .database
        .run("issuers.list", move |conn| {
            identity_providers::list_for_tenant(conn, tenant_id)
        })
        .await?;
    let data: Vec<Value> = providers.iter().map(issuer_object).collect();
    Ok(HttpResponse::Ok().json(super::page(data, false)))
}

/// Adds an issuer: its tokens then authenticate the tenant's users. Checked
/// like the operator's `threadgate issuer add` (an https URL, at least one
/// audience, asymmetric algorithms only), and its signing keys must be
/// reachable (at its `jwks_uri`, or found through discovery).
#[utoipa::path(
    tag = "Organization",
    operation_id = "createOrganizationIssuer",
    security(("bearer" = []), ("api_key" = [])),
    request_body = IssuerSpec,
    responses(
        (status = 200, description = "The issuer"),
        (status = 400, description = "A field to fix, named; keys that cannot be fetched; an issuer registered already", body = ErrorBody),
        (status = 404, description = "Not a tenant admin", body = ErrorBody)
    )
)]
#[post("/v1/organization/issuers", wrap = "from_fn(super::admin_gate)")]
pub async fn create_issuer(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    request_id: RequestId,
    body: web::Json<IssuerSpec>,
) -> Result<HttpResponse, ApiError> {
    let checked = check(&body)
        .map_err(|problem| ApiError::bad_request(problem.message, Some(problem.field)))?;
    let keys = state
        .jwks
        .probe(&checked.issuer, checked.jwks_uri.as_deref())
        .await
        .map_err(|where_| {
            ApiError::bad_request(
                format!(
                    "The issuer's signing keys could not be fetched from {where_}: check `issuer` (its discovery document) or `jwks_uri`."
                ),
                Some(if checked.jwks_uri.is_some() { "jwks_uri" } else { "issuer" }),
            )
        })?;
    if keys == 0 {
        return Err(ApiError::bad_request(
            "The issuer publishes no signing key this service can use.",
            Some("jwks_uri"),
        ));
    }
    let tenant_id = caller.tenant.id;
    let stored = checked.clone();
    let added = state
        .database
        .run("issuers.add", move |conn| {
            identity_providers::add(
                conn,
                &NewIdentityProvider {
                    tenant_id,
                    issuer: &stored.issuer,
                    audiences: &stored.audiences,
                    jwks_uri: stored.jwks_uri.as_deref(),
                    algorithms: &stored.algorithms,
                    subject_claim: &stored.subject_claim,
                    admin_claim: stored
                        .admin_claim
                        .as_ref()
                        .map(|(claim, value)| (claim.as_str(), value.as_str())),
                },
            )
        })
        .await;
    let provider = match added {
        Err(StorageError::Conflict { .. }) => {
            return Err(ApiError::bad_request(
                "This issuer is registered already: an issuer authenticates one tenant.",
                Some("issuer"),
            ));
        }
        other => other?,
    };
    super::audit_change(
        &state,
        &caller,
        &request_id,
        "issuer_add",
        json!({"issuer": provider.issuer, "id": provider.id.to_string()}),
    );
    Ok(HttpResponse::Ok().json(issuer_object(&provider)))
}

/// Removes an issuer of the tenant: its tokens are refused from their next
/// request. The issuer of the caller's own token cannot be removed with
/// it (sign in otherwise, or use an admin API key).
#[utoipa::path(
    tag = "Organization",
    operation_id = "deleteOrganizationIssuer",
    security(("bearer" = []), ("api_key" = [])),
    params(("issuer_id" = String, Path, description = "The issuer")),
    responses(
        (status = 200, description = "Removed"),
        (status = 400, description = "The issuer of the caller's own token", body = ErrorBody),
        (status = 404, description = "Not a tenant admin, or no such issuer in the tenant", body = ErrorBody)
    )
)]
#[delete(
    "/v1/organization/issuers/{issuer_id}",
    wrap = "from_fn(super::admin_gate)"
)]
pub async fn remove_issuer(
    state: web::Data<AppState>,
    TenantAdmin(caller): TenantAdmin,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path
        .parse::<uuid::Uuid>()
        .map(IdentityProviderId::from_uuid)
        .map_err(|_| no_issuer(&path))?;
    if let Authentication::Token {
        identity_provider_id,
    } = caller.principal.authentication
    {
        if identity_provider_id == id {
            return Err(ApiError::bad_request(
                "Your token comes from this issuer: remove it signed in otherwise, or with an admin API key.",
                None,
            ));
        }
    }
    let tenant_id = caller.tenant.id;
    let removed = state
        .database
        .run("issuers.remove", move |conn| {
            identity_providers::remove(conn, tenant_id, id)
        })
        .await;
    match removed {
        Err(StorageError::NotFound) => return Err(no_issuer(&path)),
        other => other?,
    }
    state.callers.clear();
    super::audit_change(
        &state,
        &caller,
        &request_id,
        "issuer_remove",
        json!({"id": path.as_str()}),
    );
    Ok(HttpResponse::Ok().json(json!({
        "object": "organization.issuer.deleted",
        "id": path.as_str(),
        "deleted": true,
    })))
}
