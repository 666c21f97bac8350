//! Runs and run steps of the caller's threads, and create-thread-and-run.
//! Streams (`"stream": true`) are passed through event by event.

use actix_web::{HttpResponse, get, post, web};
use domain::{Action, Ownership, ResourceKind};
use serde_json::Value;
use storage::repo::resources::Resource;
use upstream::{Operation, UpstreamRequest};

use super::common::{ListParams, ok, pass_through};
use super::messages::{attaches_files, forward_recorded};
use super::schemas::{
    CreateRunRequest, CreateThreadAndRunRequest, ListObject, ModifyRequest, RunObject,
    RunStepObject, SubmitToolOutputsRequest,
};
use super::threads::object_body;
use crate::auth::Caller;
use crate::gateway::recording::Recorder;
use crate::gateway::{Authorized, Exchange, child_id, metadata, owner_of_new};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

fn wants_stream(body: &Value) -> bool {
    body["stream"].as_bool() == Some(true)
}

/// What a run request asks for beside the run itself.
#[derive(Debug, Clone, Copy)]
struct RunRequest {
    /// `"stream": true`: answer with the run's events.
    stream: bool,
    /// Files attached for file search: the upstream may make the thread a
    /// vector store for them.
    attaches_files: bool,
}

impl RunRequest {
    fn of(body: &Value) -> Self {
        Self {
            stream: wants_stream(body),
            attaches_files: attaches_files(body),
        }
    }
}

/// Sends `request` upstream, answering a stream or a JSON object as the
/// body asked; what the run makes is recorded for the thread's owner.
async fn run_or_stream(
    authorized: &Authorized<'_>,
    thread: &Resource,
    request: UpstreamRequest<'_>,
    asked: RunRequest,
) -> Result<HttpResponse, ApiError> {
    let recorder = authorized.recorder(thread);
    if asked.stream {
        let events = authorized.stream(request).await?;
        if asked.attaches_files {
            recorder.thread_from_upstream().await;
        }
        return Ok(pass_through(
            events,
            Some(recorder.hook(None)),
            authorized.state().stream_heartbeat,
        ));
    }
    let answer = authorized.forward(request).await?;
    if asked.attaches_files {
        recorder.thread_from_upstream().await;
    }
    recorder.answer(&answer).await;
    Ok(ok(answer))
}

/// Lists a thread's runs.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread"), ListParams),
    responses((status = 200, body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/threads/{thread_id}/runs")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let exchange =
        Exchange::new(&state, &caller, &request_id).path(ResourceKind::Thread, &path, Action::Read);
    let query = params.upstream_query()?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    let ids = [&thread];
    let mut request = UpstreamRequest::new(Operation::ListRuns, &ids);
    request.query = query;
    // Finished runs in the answer leave their usage on record.
    forward_recorded(&authorized, &resource, request).await
}

/// Runs one of the tenant's assistants on a thread of the caller.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread")),
    request_body = CreateRunRequest,
    responses(
        (status = 200, description = "The run, or with `stream: true` a `text/event-stream` of its events", body = RunObject),
        (status = 400, body = ErrorBody),
        (status = 404, description = "The thread, the assistant or a named file is not the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/threads/{thread_id}/runs")]
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
        .body(Operation::CreateRun, &body)?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    let asked = RunRequest::of(&body);
    run_or_stream(
        &authorized,
        &resource,
        UpstreamRequest::new(Operation::CreateRun, &[&thread]).json(body),
        asked,
    )
    .await
}

/// Creates a thread for the caller and runs an assistant on it.
#[utoipa::path(
    tag = "Runs",
    request_body = CreateThreadAndRunRequest,
    responses(
        (status = 200, description = "The run, or with `stream: true` a `text/event-stream` of its events", body = RunObject),
        (status = 400, body = ErrorBody),
        (status = 404, description = "The assistant or a named file is not the caller's", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/threads/runs")]
pub async fn create_thread_and_run(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut body = object_body(body.into_inner())?;
    if !(body["thread"].is_object() || body["thread"].is_null()) {
        return Err(ApiError::bad_request(
            "Invalid type for 'thread': expected an object.",
            Some("thread"),
        ));
    }
    let authorized = Exchange::new(&state, &caller, &request_id)
        .body(Operation::CreateThreadAndRun, &body)?
        .authorize_create(ResourceKind::Thread)
        .await?;
    let owner = owner_of_new(&caller, Ownership::Own)?;
    let pending = authorized.reserve(ResourceKind::Thread, owner).await?;
    let reserved = pending.id();
    if !body["thread"].is_object() {
        body["thread"] = serde_json::json!({});
    }
    metadata::stamp(&mut body["thread"], &reserved.to_string());
    let stream = wants_stream(&body);
    let request = UpstreamRequest::new(Operation::CreateThreadAndRun, &[]).json(body);

    if stream {
        let events = match authorized.stream(request).await {
            Ok(events) => events,
            Err(error) => {
                authorized.settle(pending, &error).await;
                return Err(error);
            }
        };
        // The new thread becomes the caller's before its event reaches them;
        // what the run makes becomes theirs as events name it.
        let recorder =
            Recorder::for_new_thread(&state, &caller, &request_id.0, owner, reserved, None);
        return Ok(pass_through(
            events,
            Some(recorder.hook(Some(pending))),
            state.stream_heartbeat,
        ));
    }

    let run = match authorized.forward(request).await {
        Ok(run) => run,
        Err(error) => {
            authorized.settle(pending, &error).await;
            return Err(error);
        }
    };
    let thread = run["thread_id"].as_str().unwrap_or_default().to_owned();
    pending
        .activate_as(
            &state,
            &caller,
            &request_id.0,
            &thread,
            &serde_json::json!({}),
        )
        .await?;
    let recorder = Recorder::for_new_thread(
        &state,
        &caller,
        &request_id.0,
        owner,
        reserved,
        Some(&thread),
    );
    // Stores made by the thread's helper or for its attachments.
    recorder.thread_from_upstream().await;
    recorder.answer(&run).await;
    Ok(ok(run))
}

/// Retrieves a run.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread"), ("run_id" = String, Path, description = "The run")),
    responses((status = 200, body = RunObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/threads/{thread_id}/runs/{run_id}")]
pub async fn retrieve(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (thread, run) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::Thread,
        &thread,
        Action::Read,
    );
    let run = child_id(&run, "run")?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    forward_recorded(
        &authorized,
        &resource,
        UpstreamRequest::new(Operation::GetRun, &[&thread, &run]),
    )
    .await
}

/// Changes a run's metadata.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread"), ("run_id" = String, Path, description = "The run")),
    request_body = ModifyRequest,
    responses((status = 200, body = RunObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/threads/{thread_id}/runs/{run_id}")]
pub async fn modify(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (thread, run) = path.into_inner();
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Thread, &thread, Action::Update)
        .body(Operation::ModifyRun, &body)?;
    let run = child_id(&run, "run")?;
    let (authorized, _, thread) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(Operation::ModifyRun, &[&thread, &run]).json(body))
        .await?))
}

/// Cancels a run.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread"), ("run_id" = String, Path, description = "The run")),
    responses((status = 200, body = RunObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/threads/{thread_id}/runs/{run_id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (thread, run) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::Thread,
        &thread,
        Action::Update,
    );
    let run = child_id(&run, "run")?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    forward_recorded(
        &authorized,
        &resource,
        UpstreamRequest::new(Operation::CancelRun, &[&thread, &run]),
    )
    .await
}

/// Submits the outputs of the tool calls a run waits for.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread"), ("run_id" = String, Path, description = "The run")),
    request_body = SubmitToolOutputsRequest,
    responses(
        (status = 200, description = "The run, or with `stream: true` a `text/event-stream` of its events", body = RunObject),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")]
pub async fn submit_tool_outputs(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (thread, run) = path.into_inner();
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::Thread, &thread, Action::Update)
        .body(Operation::SubmitToolOutputs, &body)?;
    let run = child_id(&run, "run")?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    let asked = RunRequest::of(&body);
    run_or_stream(
        &authorized,
        &resource,
        UpstreamRequest::new(Operation::SubmitToolOutputs, &[&thread, &run]).json(body),
        asked,
    )
    .await
}

/// Lists a run's steps.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread"), ("run_id" = String, Path, description = "The run"), ListParams),
    responses((status = 200, body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/threads/{thread_id}/runs/{run_id}/steps")]
pub async fn list_steps(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let (thread, run) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::Thread,
        &thread,
        Action::Read,
    );
    let run = child_id(&run, "run")?;
    let query = params.upstream_query()?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    let ids = [&thread, &run];
    let mut request = UpstreamRequest::new(Operation::ListRunSteps, &ids);
    request.query = query;
    forward_recorded(&authorized, &resource, request).await
}

/// Retrieves a run step.
#[utoipa::path(
    tag = "Runs",
    params(("thread_id" = String, Path, description = "The thread"), ("run_id" = String, Path, description = "The run"), ("step_id" = String, Path, description = "The step")),
    responses((status = 200, body = RunStepObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}")]
pub async fn retrieve_step(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (thread, run, step) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::Thread,
        &thread,
        Action::Read,
    );
    let run = child_id(&run, "run")?;
    let step = child_id(&step, "run step")?;
    let (authorized, resource, thread) = exchange.authorize_one().await?;
    forward_recorded(
        &authorized,
        &resource,
        UpstreamRequest::new(Operation::GetRunStep, &[&thread, &run, &step]),
    )
    .await
}
