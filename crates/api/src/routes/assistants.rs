//! `/v1/assistants`: the caller's tenant's assistants, for members to list,
//! read and run.

use actix_web::{HttpResponse, delete, get, post, web};
use domain::{Action, Owner, Ownership, ResourceKind};
use serde_json::Value;
use storage::repo::resources;
use upstream::{Operation, UpstreamRequest};

use super::common::{ListParams, envelope, ok};
use super::schemas::{AssistantObject, AssistantRequest, DeletionStatus, ListObject};
use super::threads::object_body;
use crate::auth::Caller;
use crate::gateway::recording::Recorder;
use crate::gateway::{Exchange, list_scope};
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
    let page = params.page_query()?;
    let authorized = Exchange::new(&state, &caller, &request_id)
        .cursor(ResourceKind::Assistant, "after", params.after.as_deref())?
        .cursor(ResourceKind::Assistant, "before", params.before.as_deref())?
        .authorize()
        .await?;
    let scope = list_scope(&caller, ResourceKind::Assistant, Ownership::Own)?;
    let tenant_id = caller.tenant.id;
    let (listed, has_more) = state
        .database
        .run("assistants.list", move |conn| {
            resources::list(conn, tenant_id, scope, ResourceKind::Assistant, &page)
        })
        .await?;
    let mut assistants = authorized
        .fetch_listed(Operation::GetAssistant, listed)
        .await?;
    for assistant in &mut assistants {
        hide_knowledge_from_members(&caller, assistant);
    }
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
    let (authorized, _, id) = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Assistant, &path, Action::Read)
        .authorize_one()
        .await?;
    let mut assistant = authorized
        .forward(UpstreamRequest::new(Operation::GetAssistant, &[&id]))
        .await?;
    hide_knowledge_from_members(&caller, &mut assistant);
    Ok(ok(assistant))
}

/// Creates an assistant of the tenant (tenant admins only).
#[utoipa::path(
    tag = "Assistants",
    request_body = AssistantRequest,
    responses(
        (status = 200, body = AssistantObject),
        (status = 400, body = ErrorBody),
        (status = 403, description = "Not a tenant admin", body = ErrorBody),
        (status = 404, description = "A file or vector store in tool_resources is not the tenant's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/assistants")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let authorized = Exchange::new(&state, &caller, &request_id)
        .body(Operation::CreateAssistant, &body)?
        .authorize_create(ResourceKind::Assistant)
        .await?;
    let made_by_helper = uses_store_helper(&body);
    let (row, assistant) = authorized
        .create(
            ResourceKind::Assistant,
            Owner::Tenant,
            Operation::CreateAssistant,
            body,
            false,
        )
        .await?;
    // Stores its `vector_stores` helper made are the tenant's knowledge.
    if made_by_helper {
        Recorder::for_assistant(&state, &caller, &request_id.0, row)
            .assistant(&assistant)
            .await;
    }
    Ok(ok(assistant))
}

/// Changes an assistant of the tenant (tenant admins only).
#[utoipa::path(
    tag = "Assistants",
    params(("assistant_id" = String, Path, description = "The assistant")),
    request_body = AssistantRequest,
    responses((status = 200, body = AssistantObject), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/assistants/{assistant_id}")]
pub async fn modify(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let (authorized, row, id) = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Assistant, &path, Action::Update)
        .body(Operation::ModifyAssistant, &body)?
        .authorize_one()
        .await?;
    let made_by_helper = uses_store_helper(&body);
    let assistant = authorized
        .forward(UpstreamRequest::new(Operation::ModifyAssistant, &[&id]).json(body))
        .await?;
    if made_by_helper {
        Recorder::for_assistant(&state, &caller, &request_id.0, row.facts.id)
            .assistant(&assistant)
            .await;
    }
    Ok(ok(assistant))
}

/// Deletes an assistant of the tenant (tenant admins only).
#[utoipa::path(
    tag = "Assistants",
    params(("assistant_id" = String, Path, description = "The assistant")),
    responses((status = 200, body = DeletionStatus), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[delete("/v1/assistants/{assistant_id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (authorized, assistant, id) = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Assistant, &path, Action::Delete)
        .authorize_one()
        .await?;
    Ok(ok(authorized
        .delete(&assistant, Operation::DeleteAssistant, &[&id])
        .await?))
}

/// Members run the tenant's assistants but may neither use nor name its
/// knowledge: the ids of its files and vector stores are left out of what
/// they read.
fn hide_knowledge_from_members(caller: &Caller, assistant: &mut Value) {
    if caller.principal.is_admin() {
        return;
    }
    for knowledge in [
        "/tool_resources/code_interpreter/file_ids",
        "/tool_resources/file_search/vector_store_ids",
    ] {
        if let Some(ids) = assistant.pointer_mut(knowledge) {
            *ids = Value::Array(Vec::new());
        }
    }
}

/// Whether the body asks the upstream to make vector stores (the
/// `vector_stores` helper): only then are unknown stores in the answer new.
fn uses_store_helper(body: &Value) -> bool {
    body.pointer("/tool_resources/file_search/vector_stores")
        .and_then(Value::as_array)
        .is_some_and(|helpers| !helpers.is_empty())
}
