//! `/v1/assistants`: the caller's tenant's assistants, for members to list,
//! read and run.

use actix_web::{HttpResponse, get, web};
use domain::{Action, ResourceKind};
use storage::repo::resources::{self, Scope};
use upstream::{Operation, UpstreamRequest};

use super::common::{ListParams, envelope, fetch_each, ok};
use super::schemas::{AssistantObject, ListObject};
use crate::auth::Caller;
use crate::gateway::Exchange;
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

/// Lists the tenant's assistants (never another tenant's: the list comes
/// from Threadgate's records, not from the upstream's list).
#[utoipa::path(
    tag = "Assistants",
    params(ListParams),
    responses((status = 200, body = ListObject), (status = 404, description = "A cursor names no assistant of the tenant", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/assistants")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let exchange = Exchange::new(&state, &caller, &request_id)
        .cursor(ResourceKind::Assistant, "after", params.after.as_deref())
        .cursor(ResourceKind::Assistant, "before", params.before.as_deref());
    exchange.authorize().await?;
    let page = params.page_query()?;
    let tenant_id = caller.tenant.id;
    let (listed, has_more) = state
        .database
        .run("assistants.list", move |conn| {
            resources::list(
                conn,
                tenant_id,
                Scope::Tenant,
                ResourceKind::Assistant,
                &page,
            )
        })
        .await?;
    let assistants = fetch_each(&exchange, Operation::GetAssistant, listed).await?;
    Ok(ok(envelope(assistants, has_more)))
}

/// Retrieves one of the tenant's assistants.
#[utoipa::path(
    tag = "Assistants",
    params(("assistant_id" = String, Path, description = "The assistant")),
    responses((status = 200, body = AssistantObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/assistants/{assistant_id}")]
pub async fn retrieve(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::Assistant,
        &path,
        Action::Read,
    );
    let assistant = exchange.authorize().await?.remove(0);
    let id = assistant
        .upstream_id
        .clone()
        .ok_or_else(|| ApiError::not_found(""))?;
    Ok(ok(exchange
        .forward(UpstreamRequest::new(Operation::GetAssistant, &[&id]))
        .await?))
}
