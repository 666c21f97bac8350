//! Create-thread-and-run: the one run route that makes a thread, so the
//! one whose lifecycle is its own. Every other run route is a row of the
//! operation table. Streams (`"stream": true`) are passed through event by
//! event.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Ownership, ResourceKind};
use serde_json::Value;
use upstream::{Operation, UpstreamRequest};

use super::common::{object_body, ok};
use super::serve::Asked;
use super::stream::pass_through;
use crate::auth::Caller;
use crate::azure::Surface;
use crate::gateway::recording::Recorder;
use crate::gateway::{Exchange, metadata, owner_of_new};
use crate::request_id::RequestId;
use crate::{ApiError, AppState};

/// Creates a thread for the caller and runs an assistant on it.
pub async fn create_thread_and_run(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    request: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let surface = Surface::of(&request);
    let mut body = object_body(body.into_inner())?;
    crate::policy::check_use(&caller.tenant.settings, &body)?;
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
    let stream = Asked::of(Some(&body)).stream;
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
            &state,
            surface,
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
    recorder.started(&run).await;
    recorder.answer(&run).await;
    Ok(ok(run))
}
