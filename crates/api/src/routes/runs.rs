//! Runs and run steps of the caller's threads, and create-thread-and-run.
//! Streams (`"stream": true`) are passed through event by event.

use actix_web::{HttpResponse, get, post, web};
use domain::{Action, ResourceKind, UpstreamId};
use futures_util::FutureExt;
use serde_json::Value;
use storage::repo::resources::{self, Resource};
use upstream::{Operation, UpstreamRequest};

use super::common::{EventHook, ListParams, ok, pass_through, recording};
use super::messages::forward_recorded;
use super::schemas::{
    CreateRunRequest, CreateThreadAndRunRequest, ListObject, ModifyRequest, RunObject,
    RunStepObject, SubmitToolOutputsRequest,
};
use super::threads::{object_body, owner_of_new};
use crate::auth::Caller;
use crate::gateway::outputs::Recorder;
use crate::gateway::{Exchange, child_id, metadata, upstream_error};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

fn wants_stream(body: &Value) -> bool {
    body["stream"].as_bool() == Some(true)
}

/// Sends `request` upstream, answering a stream or a JSON object as the body asked.
async fn run_or_stream(
    exchange: &Exchange<'_>,
    thread: &Resource,
    request: UpstreamRequest<'_>,
    stream: bool,
) -> Result<HttpResponse, ApiError> {
    if stream {
        let events = exchange
            .upstream()?
            .stream(request)
            .await
            .map_err(upstream_error)?;
        Ok(pass_through(
            events,
            Some(recording(exchange.recorder(thread))),
            exchange.state.stream_heartbeat,
        ))
    } else {
        Ok(ok(exchange.forward(request).await?))
    }
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
    let (resource, thread) = exchange.authorize_one().await?;
    let ids = [&thread];
    let mut request = UpstreamRequest::new(Operation::ListRuns, &ids);
    request.query = query;
    // Finished runs in the answer leave their usage on record.
    forward_recorded(&exchange, &resource, request).await
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
    let (resource, thread) = exchange.authorize_one().await?;
    let stream = wants_stream(&body);
    run_or_stream(
        &exchange,
        &resource,
        UpstreamRequest::new(Operation::CreateRun, &[&thread]).json(body),
        stream,
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
    let exchange =
        Exchange::new(&state, &caller, &request_id).body(Operation::CreateThreadAndRun, &body)?;
    exchange.authorize().await?;
    exchange.authorize_create(ResourceKind::Thread)?;
    let reserved = exchange
        .reserve(ResourceKind::Thread, owner_of_new(&caller))
        .await?;
    if !body["thread"].is_object() {
        body["thread"] = serde_json::json!({});
    }
    metadata::stamp(&mut body["thread"], &reserved.to_string());
    let stream = wants_stream(&body);
    let request = UpstreamRequest::new(Operation::CreateThreadAndRun, &[]).json(body);

    if stream {
        let events = match exchange.upstream()?.stream(request).await {
            Ok(events) => events,
            Err(error) => {
                let error = upstream_error(error);
                exchange.settle_failed_create(reserved, &error).await;
                return Err(error);
            }
        };
        // The new thread becomes the caller's before its event reaches them;
        // output files the run writes become theirs as they are named.
        let database = state.database.clone();
        let tenant_id = caller.tenant.id;
        let mut record = recording(Recorder {
            state: state.get_ref().clone(),
            caller: caller.clone(),
            owner: owner_of_new(&caller),
            parent: Some(reserved),
        });
        let hook: EventHook = Box::new(move |event: &upstream::Event| {
            if event.event != "thread.created" {
                return record(event);
            }
            let thread = serde_json::from_str::<Value>(&event.data).ok()?["id"]
                .as_str()?
                .to_owned();
            let database = database.clone();
            Some(
                async move {
                    let Ok(thread) = UpstreamId::parse(thread) else {
                        return;
                    };
                    let activated = database
                        .run("resources.activate", move |conn| {
                            resources::activate(conn, tenant_id, reserved, &thread)
                        })
                        .await;
                    if let Err(error) = activated {
                        tracing::error!(%error, "could not register a streamed thread");
                    }
                }
                .boxed(),
            )
        });
        return Ok(pass_through(events, Some(hook), state.stream_heartbeat));
    }

    let run = match exchange.forward(request).await {
        Ok(run) => run,
        Err(error) => {
            exchange.settle_failed_create(reserved, &error).await;
            return Err(error);
        }
    };
    exchange
        .activate(
            reserved,
            ResourceKind::Thread,
            run["thread_id"].as_str().unwrap_or_default(),
        )
        .await?;
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
    let (resource, thread) = exchange.authorize_one().await?;
    forward_recorded(
        &exchange,
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
    let (_, thread) = exchange.authorize_one().await?;
    Ok(ok(exchange
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
    let (_, thread) = exchange.authorize_one().await?;
    Ok(ok(exchange
        .forward(UpstreamRequest::new(Operation::CancelRun, &[&thread, &run]))
        .await?))
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
    let (resource, thread) = exchange.authorize_one().await?;
    let stream = wants_stream(&body);
    run_or_stream(
        &exchange,
        &resource,
        UpstreamRequest::new(Operation::SubmitToolOutputs, &[&thread, &run]).json(body),
        stream,
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
    let (resource, thread) = exchange.authorize_one().await?;
    let ids = [&thread, &run];
    let mut request = UpstreamRequest::new(Operation::ListRunSteps, &ids);
    request.query = query;
    forward_recorded(&exchange, &resource, request).await
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
    let (resource, thread) = exchange.authorize_one().await?;
    forward_recorded(
        &exchange,
        &resource,
        UpstreamRequest::new(Operation::GetRunStep, &[&thread, &run, &step]),
    )
    .await
}
