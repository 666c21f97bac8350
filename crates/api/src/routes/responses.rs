//! Creating a response: the one Responses route whose lifecycle is its own.
//! A stored response becomes the caller's from the answer, or, streamed,
//! from its `response.created` event before that event reaches the caller;
//! with `store: false` only its usage is recorded (nothing can be
//! retrieved).
//! What Threadgate cannot vouch for is refused before the upstream hears of
//! the request: prompts, tools that reach other systems, and item
//! references other than to items of the conversation the request
//! continues (each confirmed by the upstream's read of the item under that
//! conversation, after the conversation is authorized as the caller's).

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Ownership, ResourceKind, UpstreamId};
use futures_util::FutureExt;
use serde_json::Value;
use upstream::{Operation, UpstreamRequest};

use super::common::{object_body, ok};
use super::serve::Asked;
use super::stream::pass_through;
use crate::auth::Caller;
use crate::azure::Surface;
use crate::gateway::lifecycle::Pending;
use crate::gateway::positions;
use crate::gateway::recording::{EventHook, Recorder, record_usage};
use crate::gateway::{Authorized, Exchange, metadata, owner_of_new};
use crate::request_id::RequestId;
use crate::{ApiError, AppState};

/// Creates a response for the caller.
pub async fn create_response(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    request: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    refuse_what_cannot_be_vouched_for(&caller, &body)?;
    let surface = Surface::of(&request);
    let stream = Asked::of(Some(&body)).stream;
    let exchange =
        Exchange::new(&state, &caller, &request_id).body(Operation::CreateResponse, &body)?;
    if body["store"] == false {
        // Nothing is kept upstream, so no object is recorded: the grant
        // covers what the body names, and the answer passes through. Its
        // usage still spends the caller's budget.
        let authorized = exchange.authorize().await?;
        vouch_for_item_references(&authorized, &body).await?;
        let upstream = UpstreamRequest::new(Operation::CreateResponse, &[]).json(body);
        if stream {
            let events = authorized.stream(upstream).await?;
            let hook = unstored_usage_hook(&state, &caller);
            return Ok(pass_through(events, Some(hook), &state, surface));
        }
        let mut answer = authorized.forward(upstream).await?;
        if let Some(usage) = positions::finished_response(&answer) {
            record_usage(&state, &caller, None, caller.user(), usage).await;
        }
        surface.shape(&mut answer);
        return Ok(ok(answer));
    }
    let authorized = exchange.authorize_create(ResourceKind::Response).await?;
    vouch_for_item_references(&authorized, &body).await?;
    let owner = owner_of_new(&caller, Ownership::Own)?;
    if !stream {
        let (row, mut answer) = authorized
            .create(
                ResourceKind::Response,
                owner,
                Operation::CreateResponse,
                body,
                true,
            )
            .await?;
        Recorder::for_response(&state, &caller, &request_id.0, owner, row)
            .response(&answer)
            .await;
        surface.shape(&mut answer);
        return Ok(ok(answer));
    }
    let pending = authorized.reserve(ResourceKind::Response, owner).await?;
    let row = pending.id();
    let mut body = body;
    metadata::stamp(&mut body, &row.to_string());
    let upstream = UpstreamRequest::new(Operation::CreateResponse, &[]).json(body);
    let events = match authorized.stream(upstream).await {
        Ok(events) => events,
        Err(error) => {
            authorized.settle(pending, &error).await;
            return Err(error);
        }
    };
    let recorder = Recorder::for_response(&state, &caller, &request_id.0, owner, row);
    let hook = stream_hook(&state, &caller, &request_id, recorder, Some(pending));
    Ok(pass_through(events, Some(hook), &state, surface))
}

/// What a response's stream records as it passes (see [`ResponseStream`]);
/// `pending` is the row a streamed create activates, `None` for a resumed
/// stream of a response already recorded.
pub(super) fn stream_hook(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    recorder: Recorder,
    pending: Option<Pending>,
) -> EventHook {
    ResponseStream {
        recorder,
        state: state.clone(),
        caller: caller.clone(),
        request_id: request_id.0.clone(),
        pending,
    }
    .into_hook()
}

/// What an unstored streamed response records: its usage, from the
/// `response` object of the event it ends with.
fn unstored_usage_hook(state: &AppState, caller: &Caller) -> EventHook {
    let (state, caller) = (state.clone(), caller.clone());
    Box::new(move |event: &upstream::Event| {
        if !positions::RESPONSE_END_EVENTS.contains(&event.event.as_str()) {
            return None;
        }
        let data: Value = serde_json::from_str(&event.data).ok()?;
        let usage = positions::finished_response(data.get("response")?)?;
        let (state, caller) = (state.clone(), caller.clone());
        Some(
            async move {
                let charged = caller.user();
                record_usage(&state, &caller, None, charged, usage).await;
            }
            .boxed(),
        )
    })
}

/// What a streamed response records as its events pass: the response row
/// becomes active on `response.created` (before the caller sees the id),
/// and its usage and containers are recorded on the event it ends with. Only
/// the `response` object of those events is read.
struct ResponseStream {
    recorder: Recorder,
    state: AppState,
    caller: Caller,
    request_id: String,
    pending: Option<Pending>,
}

impl ResponseStream {
    fn into_hook(mut self) -> EventHook {
        Box::new(move |event: &upstream::Event| {
            if event.is_done() {
                return None;
            }
            let data: Value = serde_json::from_str(&event.data).ok()?;
            let response = data.get("response")?.clone();
            if response["object"] != "response" {
                return None;
            }
            match event.event.as_str() {
                "response.created" => {
                    let pending = self.pending.take()?;
                    let (state, caller, request_id) = (
                        self.state.clone(),
                        self.caller.clone(),
                        self.request_id.clone(),
                    );
                    Some(
                        async move {
                            let activated = pending
                                .activate(&state, &caller, &request_id, &response)
                                .await;
                            if let Err(error) = activated {
                                tracing::error!(%error, "could not register a streamed response");
                            }
                        }
                        .boxed(),
                    )
                }
                name if positions::RESPONSE_END_EVENTS.contains(&name) => {
                    let recorder = self.recorder.clone();
                    Some(async move { recorder.response(&response).await }.boxed())
                }
                _ => None,
            }
        })
    }
}

/// Refuses what names something Threadgate has no record of, or reaches
/// beyond the tenant's upstream, with the answers an unknown id gets.
pub(super) fn refuse_what_cannot_be_vouched_for(
    caller: &Caller,
    body: &Value,
) -> Result<(), ApiError> {
    // Tools and models the tenant's policy allows.
    crate::policy::check_use(&caller.tenant.settings, body)?;
    if let Some(prompt) = body.get("prompt").filter(|prompt| !prompt.is_null()) {
        // No prompt is registered for any tenant yet.
        let id = prompt["id"].as_str().unwrap_or_default();
        return Err(ApiError::not_found(format!(
            "No prompt found with id '{id}'."
        )));
    }
    refuse_unvouched_items(&body["input"], "input")?;
    let references = item_references(body);
    if references.len() > MAX_ITEM_REFERENCES {
        return Err(ApiError::bad_request(
            format!("At most {MAX_ITEM_REFERENCES} item references per request."),
            Some("input"),
        ));
    }
    if let (Some(id), None) = (references.first(), conversation_of(body)) {
        // An item's id does not tell which conversation it is in: only
        // items of the conversation the request continues can be vouched for.
        return Err(unknown_item(id));
    }
    Ok(())
}

/// The most `item_reference`s one request may name (each is one upstream
/// read before the request is sent).
const MAX_ITEM_REFERENCES: usize = 20;

/// The ids of the `item_reference`s in `input`.
fn item_references(body: &Value) -> Vec<String> {
    body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| is_item_reference(item))
        .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// An item that names a stored item by id: `"type": "item_reference"`, or
/// (the type being optional) an untyped item with an `id` and no `role`.
pub(super) fn is_item_reference(item: &Value) -> bool {
    item["type"] == "item_reference"
        || (item["type"].is_null() && item.get("id").is_some() && item.get("role").is_none())
}

/// Input item types that carry tools or name containers of their own,
/// which Threadgate does not authorize inside items: refused.
const UNSUPPORTED_ITEMS: &[&str] = &["additional_tools", "tool_search_output", "shell_call"];

/// Refuses input items Threadgate cannot vouch for wherever items are
/// given (a response's `input`, a conversation's `items`).
pub(super) fn refuse_unvouched_items(items: &Value, field: &str) -> Result<(), ApiError> {
    for (index, item) in items.as_array().into_iter().flatten().enumerate() {
        let kind = item["type"].as_str().unwrap_or_default();
        if UNSUPPORTED_ITEMS.contains(&kind) {
            return Err(ApiError::bad_request(
                format!("Input items of type '{kind}' are not accepted here."),
                Some(&format!("{field}[{index}].type")),
            ));
        }
    }
    Ok(())
}

/// The conversation a request continues: a string, or `{"id"}`.
fn conversation_of(body: &Value) -> Option<&str> {
    body["conversation"]
        .as_str()
        .or_else(|| body["conversation"]["id"].as_str())
}

fn unknown_item(id: &str) -> ApiError {
    ApiError::not_found(format!("No item found with id '{id}'."))
}

/// Confirms, once the request's conversation is authorized as the
/// caller's, that every item it references is an item of that
/// conversation: the upstream's own read of the item under it.
pub(super) async fn vouch_for_item_references(
    authorized: &Authorized<'_>,
    body: &Value,
) -> Result<(), ApiError> {
    let references = item_references(body);
    let Some(conversation) = conversation_of(body) else {
        return match references.first() {
            Some(id) => Err(unknown_item(id)),
            None => Ok(()),
        };
    };
    let conversation = UpstreamId::parse(conversation).map_err(|_| unknown_item(conversation))?;
    for id in references {
        let item = UpstreamId::parse(&id).map_err(|_| unknown_item(&id))?;
        let found = authorized
            .forward(UpstreamRequest::new(
                Operation::GetConversationItem,
                &[&conversation, &item],
            ))
            .await;
        match found {
            Ok(_) => {}
            Err(ApiError::NotFound { .. }) => return Err(unknown_item(&id)),
            Err(other) => return Err(other),
        }
    }
    Ok(())
}
