//! `/v1/threads`: the caller's own threads.

use actix_web::{HttpResponse, delete, get, post, web};
use domain::{Action, Ownership, ResourceKind};
use serde_json::Value;
use storage::repo::resources;
use upstream::{Operation, UpstreamRequest};

use super::common::{ListParams, envelope, ok};
use super::messages::forward_recorded;
use super::schemas::{
    CreateThreadRequest, DeletionStatus, ListObject, ModifyRequest, ThreadObject,
};
use crate::auth::Caller;
use crate::gateway::recording::Recorder;
use crate::gateway::{Exchange, list_scope, owner_of_new};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

/// Creates a thread owned by the caller.
#[utoipa::path(
    tag = "Threads",
    request_body = CreateThreadRequest,
    responses(
        (status = 200, description = "The new thread", body = ThreadObject),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "A named file or vector store is not the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/threads")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let authorized = Exchange::new(&state, &caller, &request_id)
        .body(Operation::CreateThread, &body)?
        .authorize_create(ResourceKind::Thread)
        .await?;
    let owner = owner_of_new(&caller, Ownership::Own)?;
    let (reserved, thread) = authorized
        .create(
            ResourceKind::Thread,
            owner,
            Operation::CreateThread,
            body,
            true,
        )
        .await?;
    // Vector stores its `vector_stores` helper made are the caller's.
    Recorder::for_new_thread(
        &state,
        &caller,
        &request_id.0,
        owner,
        reserved,
        thread["id"].as_str(),
    )
    .answer(&thread)
    .await;
    Ok(ok(thread))
}

/// Lists the caller's own threads (an extension: the upstream has no such list).
#[utoipa::path(
    tag = "Threads",
    params(ListParams),
    responses(
        (status = 200, description = "The caller's threads", body = ListObject),
        (status = 404, description = "A cursor names no thread of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/threads")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let page = params.page_query()?;
    let authorized = Exchange::new(&state, &caller, &request_id)
        .cursor(ResourceKind::Thread, "after", params.after.as_deref())?
        .cursor(ResourceKind::Thread, "before", params.before.as_deref())?
        .authorize()
        .await?;
    let scope = list_scope(&caller, ResourceKind::Thread, Ownership::Own)?;
    let tenant_id = caller.tenant.id;
    let (listed, has_more) = state
        .database
        .run("threads.list", move |conn| {
            resources::list(conn, tenant_id, scope, ResourceKind::Thread, &page)
        })
        .await?;
    let threads = authorized
        .fetch_listed(Operation::GetThread, listed)
        .await?;
    Ok(ok(envelope(threads, has_more)))
}

/// Retrieves one of the caller's threads.
#[utoipa::path(
    tag = "Threads",
    params(("thread_id" = String, Path, description = "The thread")),
    responses((status = 200, body = ThreadObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/threads/{thread_id}")]
pub async fn retrieve(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (authorized, thread, id) = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Thread, &path, Action::Read)
        .authorize_one()
        .await?;
    forward_recorded(
        &authorized,
        &thread,
        UpstreamRequest::new(Operation::GetThread, &[&id]),
    )
    .await
}

/// Changes a thread's metadata or tool resources.
#[utoipa::path(
    tag = "Threads",
    params(("thread_id" = String, Path, description = "The thread")),
    request_body = ModifyRequest,
    responses((status = 200, body = ThreadObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/threads/{thread_id}")]
pub async fn modify(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let (authorized, thread, id) = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Thread, &path, Action::Update)
        .body(Operation::ModifyThread, &body)?
        .authorize_one()
        .await?;
    forward_recorded(
        &authorized,
        &thread,
        UpstreamRequest::new(Operation::ModifyThread, &[&id]).json(body),
    )
    .await
}

/// Deletes a thread: gone for every reader at once, then upstream.
#[utoipa::path(
    tag = "Threads",
    params(("thread_id" = String, Path, description = "The thread")),
    responses((status = 200, body = DeletionStatus), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[delete("/v1/threads/{thread_id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (authorized, thread, id) = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Thread, &path, Action::Delete)
        .authorize_one()
        .await?;
    Ok(ok(authorized
        .delete(&thread, Operation::DeleteThread, &[&id])
        .await?))
}

/// Bodies are JSON objects; anything else is refused before it goes anywhere.
pub(crate) fn object_body(body: Value) -> Result<Value, ApiError> {
    if body.is_object() {
        Ok(body)
    } else {
        Err(ApiError::bad_request(
            "The request body must be a JSON object.",
            None,
        ))
    }
}
