//! `/v1/threads/{thread_id}/messages`: messages live in a thread and are
//! authorized through it.

use actix_web::{HttpResponse, delete, get, post, web};
use domain::{Action, ResourceKind};
use serde::Deserialize;
use serde_json::Value;
use storage::repo::resources::Resource;
use upstream::{Operation, UpstreamRequest};
use utoipa::IntoParams;

use super::common::{ListParams, ok};
use super::schemas::{
    CreateMessageRequest, DeletionStatus, ListObject, MessageObject, ModifyRequest,
};
use super::threads::object_body;
use crate::auth::Caller;
use crate::gateway::{Authorized, Exchange, child_id};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

/// Forwards a request about a thread and records what its answer reveals.
pub(crate) async fn forward_recorded(
    authorized: &Authorized<'_>,
    thread: &Resource,
    request: UpstreamRequest<'_>,
) -> Result<HttpResponse, ApiError> {
    let answer = authorized.forward(request).await?;
    authorized.recorder(thread).answer(&answer).await;
    Ok(ok(answer))
}

/// Whether a body attaches files, for which the upstream may make the
/// thread a vector store.
pub(crate) fn attaches_files(body: &Value) -> bool {
    let attaches = |message: &Value| {
        message["attachments"]
            .as_array()
            .is_some_and(|attachments| !attachments.is_empty())
    };
    attaches(body)
        || ["additional_messages", "messages"].iter().any(|key| {
            body[key]
                .as_array()
                .is_some_and(|messages| messages.iter().any(attaches))
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Only the messages of this run.
    pub run_id: Option<String>,
}

/// Lists a thread's messages.
#[utoipa::path(
    tag = "Messages",
    params(("thread_id" = String, Path, description = "The thread"), ListParams, RunFilter),
    responses((status = 200, body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/threads/{thread_id}/messages")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    params: web::Query<ListParams>,
    filter: web::Query<RunFilter>,
) -> Result<HttpResponse, ApiError> {
    let exchange =
        Exchange::new(&state, &caller, &request_id).path(ResourceKind::Thread, &path, Action::Read);
    let mut query = params.upstream_query()?;
    if let Some(run_id) = &filter.run_id {
        child_id(run_id, "run")?;
        query.push(("run_id".to_owned(), run_id.clone()));
    }
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    let ids = [&thread];
    let mut request = UpstreamRequest::new(Operation::ListMessages, &ids);
    request.query = query;
    forward_recorded(&authorized, &resource, request).await
}

/// Adds a message to a thread.
#[utoipa::path(
    tag = "Messages",
    params(("thread_id" = String, Path, description = "The thread")),
    request_body = CreateMessageRequest,
    responses((status = 200, body = MessageObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/threads/{thread_id}/messages")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Thread, &path, Action::Update)
        .body(Operation::CreateMessage, &body)?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    let attaches = attaches_files(&body);
    let answer = forward_recorded(
        &authorized,
        &resource,
        UpstreamRequest::new(Operation::CreateMessage, &[&thread]).json(body),
    )
    .await?;
    if attaches {
        // The upstream may have made the thread a vector store for them.
        authorized.recorder(&resource).thread_from_upstream().await;
    }
    Ok(answer)
}

/// Retrieves a message.
#[utoipa::path(
    tag = "Messages",
    params(("thread_id" = String, Path, description = "The thread"), ("message_id" = String, Path, description = "The message")),
    responses((status = 200, body = MessageObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/threads/{thread_id}/messages/{message_id}")]
pub async fn retrieve(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (thread, message) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::Thread,
        &thread,
        Action::Read,
    );
    let message = child_id(&message, "message")?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    forward_recorded(
        &authorized,
        &resource,
        UpstreamRequest::new(Operation::GetMessage, &[&thread, &message]),
    )
    .await
}

/// Changes a message's metadata.
#[utoipa::path(
    tag = "Messages",
    params(("thread_id" = String, Path, description = "The thread"), ("message_id" = String, Path, description = "The message")),
    request_body = ModifyRequest,
    responses((status = 200, body = MessageObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/threads/{thread_id}/messages/{message_id}")]
pub async fn modify(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (thread, message) = path.into_inner();
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Thread, &thread, Action::Update)
        .body(Operation::ModifyMessage, &body)?;
    let message = child_id(&message, "message")?;
    let (authorized, _, thread) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(Operation::ModifyMessage, &[&thread, &message]).json(body))
        .await?))
}

/// Deletes a message.
#[utoipa::path(
    tag = "Messages",
    params(("thread_id" = String, Path, description = "The thread"), ("message_id" = String, Path, description = "The message")),
    responses((status = 200, body = DeletionStatus), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[delete("/v1/threads/{thread_id}/messages/{message_id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (thread, message) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::Thread,
        &thread,
        Action::Update,
    );
    let message = child_id(&message, "message")?;
    let (authorized, _, thread) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(
            Operation::DeleteMessage,
            &[&thread, &message],
        ))
        .await?))
}
