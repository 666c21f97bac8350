//! `/responses`: the Responses API with the same deterministic model as
//! runs, steered by the last user text of the input:
//!
//! * a `function_call_output` in the input → a reply that contains it;
//! * names a function tool → one `function_call` to it;
//! * `#fail` → `failed` with `error.code = server_error`;
//! * `#output-file` with the code interpreter tool → a `code_interpreter_call`
//!   in its container (the tool's, or a new one for `{"type": "auto"}`) that
//!   writes `chart.png`, cited by a `container_file_citation`;
//! * `#recall` → a reply that lists every earlier user text of the history
//!   (`previous_response_id`'s chain or the conversation): the model sees it;
//! * `#slow` (background) → stays `in_progress` for [`crate::Timing::slow`];
//! * otherwise → `You said: <text>`.
//!
//! Streams follow the specification's sequence (`response.created`,
//! `response.in_progress`, `response.output_item.added`,
//! `response.content_part.added`, `response.output_text.delta`…, the
//! `.done` events, `response.completed`), each with a `sequence_number`.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{Reply, ok};
use super::{containers, conversations};
use crate::error::EmulatorError;
use crate::ids::{new_id, now};
use crate::items::{self, tokens, user_texts};
use crate::list::{ListQuery, page};
use crate::objects::{self, Body, only_keys, parse_body};
use crate::state::{ResponseState, Row, State};
use crate::stream::{self, Emitter};

const CREATE_KEYS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "previous_response_id",
    "conversation",
    "tools",
    "tool_choice",
    "store",
    "stream",
    "stream_options",
    "background",
    "metadata",
    "text",
    "temperature",
    "top_p",
    "top_logprobs",
    "max_output_tokens",
    "max_tool_calls",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "truncation",
    "include",
    "reasoning",
    "service_tier",
    "prompt",
];

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/responses", web::post().to(create))
        .route("/responses/input_tokens", web::post().to(input_tokens))
        .route("/responses/compact", web::post().to(compact))
        .route("/responses/{response_id}", web::get().to(retrieve))
        .route("/responses/{response_id}", web::delete().to(delete))
        .route("/responses/{response_id}/cancel", web::post().to(cancel))
        .route(
            "/responses/{response_id}/input_items",
            web::get().to(list_input_items),
        );
}

/// What the model will answer.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Reply(String),
    CallFunction(String),
    OutputFile,
    Fail,
}

/// What a create asks for, read and checked before anything is stored.
struct Request {
    body: Body,
    model: String,
    input: Vec<Value>,
    /// Everything the model sees before `input`.
    history: Vec<Value>,
    conversation: Option<String>,
    store: bool,
    stream: bool,
    background: bool,
}

fn read_request(state: &State, raw: &[u8], needs_model: bool) -> Result<Request, EmulatorError> {
    let body = parse_body(raw)?;
    only_keys(&body, CREATE_KEYS)?;
    let model = match needs_model {
        true => objects::required_str(&body, "model")?.to_owned(),
        false => objects::optional_str(&body, "model")?
            .unwrap_or_default()
            .to_owned(),
    };
    let input = items::input_items(body.get("input"))?;
    let flag = |key: &str, default: bool| body.get(key).and_then(Value::as_bool).unwrap_or(default);
    let (store, stream, background) = (
        flag("store", true),
        flag("stream", false),
        flag("background", false),
    );
    if background && !store {
        return Err(EmulatorError::invalid_param(
            "background",
            "Background mode requires 'store' to be true.",
        ));
    }
    check_tools(&body)?;
    let previous = objects::optional_str(&body, "previous_response_id")?;
    let conversation = match body.get("conversation") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Object(reference)) => Some(
            reference
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| EmulatorError::missing("conversation.id"))?
                .to_owned(),
        ),
        Some(_) => return Err(objects::type_error("conversation", "a string or an object")),
    };
    if previous.is_some() && conversation.is_some() {
        return Err(EmulatorError::invalid_param(
            "previous_response_id",
            "Mutually exclusive parameters: Ensure you are only providing one of: \
             'previous_response_id' or 'conversation'.",
        ));
    }
    let mut store_guard = state.store();
    let input = resolve_references(&store_guard, input)?;
    let history = match (previous, &conversation) {
        (Some(previous), _) => store_guard
            .responses
            .get(previous)
            .map(|response| response.context.clone())
            .ok_or_else(|| EmulatorError::BadRequest {
                message: format!("Previous response with id '{previous}' not found."),
                param: Some("previous_response_id".to_owned()),
                code: Some("previous_response_not_found"),
            })?,
        (None, Some(id)) => conversations::conversation(&mut store_guard, id)?
            .items
            .ordered()
            .into_iter()
            .map(|row: &Row| row.object.clone())
            .collect(),
        (None, None) => Vec::new(),
    };
    Ok(Request {
        body,
        model,
        input,
        history,
        conversation,
        store,
        stream,
        background,
    })
}

/// Input items with each `item_reference` replaced by the item it names,
/// wherever in the store it is (any conversation).
fn resolve_references(
    store: &crate::state::Store,
    input: Vec<Value>,
) -> Result<Vec<Value>, EmulatorError> {
    input
        .into_iter()
        .map(|item| {
            if item["type"] != "item_reference" {
                return Ok(item);
            }
            let id = item["id"].as_str().unwrap_or_default();
            store
                .conversations
                .values()
                .find_map(|conversation| conversation.items.get(id).cloned())
                .ok_or_else(|| EmulatorError::NotFound {
                    message: format!("Item with id '{id}' not found."),
                })
        })
        .collect()
}

/// Tools as the Responses API takes them: typed objects; a function tool
/// is flat (`{"type": "function", "name", "parameters"}`).
fn check_tools(body: &Body) -> Result<(), EmulatorError> {
    let Some(tools) = objects::optional_array(body, "tools")? else {
        return Ok(());
    };
    if tools.len() > 128 {
        return Err(EmulatorError::invalid_param(
            "tools",
            "Invalid 'tools': at most 128 tools.",
        ));
    }
    for (index, tool) in tools.iter().enumerate() {
        match tool["type"].as_str() {
            Some("function") if !tool["name"].is_string() => {
                return Err(EmulatorError::missing(&format!("tools[{index}].name")));
            }
            Some(_) => {}
            None => return Err(EmulatorError::missing(&format!("tools[{index}].type"))),
        }
    }
    Ok(())
}

/// The model's decision, from the input (and, for `#recall`, the history).
fn plan(request: &Request) -> Plan {
    if let Some(output) = request
        .input
        .iter()
        .rev()
        .find(|item| item["type"] == "function_call_output")
    {
        let output = match &output["output"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        return Plan::Reply(format!("The function returned: {output}"));
    }
    let text = user_texts(&request.input).pop().unwrap_or_default();
    if text.contains("#fail") {
        return Plan::Fail;
    }
    let functions = request
        .body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|tool| tool["type"] == "function")
        .filter_map(|tool| tool["name"].as_str());
    for name in functions {
        if text.contains(name) {
            return Plan::CallFunction(name.to_owned());
        }
    }
    let code_interpreter = request
        .body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|tool| tool["type"] == "code_interpreter");
    if code_interpreter && text.contains("#output-file") {
        return Plan::OutputFile;
    }
    if text.contains("#recall") {
        let earlier = user_texts(&request.history).join(" | ");
        return Plan::Reply(format!("Earlier you said: {earlier}"));
    }
    Plan::Reply(format!("You said: {text}"))
}

/// The response object as it starts (`queued` in the background,
/// `in_progress` otherwise), with no output yet.
fn started(id: &str, request: &Request) -> Value {
    let field = |key: &str, default: Value| {
        request
            .body
            .get(key)
            .filter(|value| !value.is_null())
            .cloned()
            .unwrap_or(default)
    };
    let mut response = json!({
        "id": id,
        "object": "response",
        "created_at": now(),
        "status": if request.background { "queued" } else { "in_progress" },
        "background": request.background,
        "completed_at": null,
        "error": null,
        "incomplete_details": null,
        "instructions": field("instructions", Value::Null),
        "max_output_tokens": field("max_output_tokens", Value::Null),
        "max_tool_calls": field("max_tool_calls", Value::Null),
        "model": request.model,
        "output": [],
        "parallel_tool_calls": field("parallel_tool_calls", json!(true)),
        "previous_response_id": field("previous_response_id", Value::Null),
        "conversation": request.conversation.as_ref().map(|id| json!({"id": id})),
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "default",
        "store": request.store,
        "temperature": field("temperature", json!(1.0)),
        "text": field("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": field("tool_choice", json!("auto")),
        "tools": answered_tools(&field("tools", json!([]))),
        "top_logprobs": field("top_logprobs", json!(0)),
        "top_p": field("top_p", json!(1.0)),
        "truncation": field("truncation", json!("disabled")),
        "metadata": field("metadata", json!({})),
    });
    // `usage` comes when it is finished; these are strings when given and
    // absent otherwise (the specification has no null for them).
    for key in ["user", "safety_identifier", "prompt_cache_key"] {
        if let Some(value) = request.body.get(key).filter(|value| value.is_string()) {
            response[key] = value.clone();
        }
    }
    response
}

/// Tools as a response shows them: a function's `strict` (default `true`),
/// `description` and `parameters` always present.
fn answered_tools(tools: &Value) -> Value {
    let mut tools = tools.clone();
    for tool in tools.as_array_mut().into_iter().flatten() {
        if tool["type"] == "function" {
            for (key, default) in [
                ("strict", json!(true)),
                ("description", Value::Null),
                ("parameters", Value::Null),
            ] {
                if tool.get(key).is_none() {
                    tool[key] = default;
                }
            }
        }
    }
    tools
}

/// The output items the plan makes (a code interpreter's file is written
/// into its container as they are made).
fn output_of(state: &State, request: &Request, plan: &Plan) -> Result<Vec<Value>, EmulatorError> {
    Ok(match plan {
        Plan::Reply(text) => vec![reply(text, Vec::new())],
        Plan::CallFunction(name) => vec![json!({
            "type": "function_call",
            "id": new_id("fc_"),
            "call_id": new_id("call_"),
            "name": name,
            "arguments": "{}",
            "status": "completed",
        })],
        Plan::OutputFile => {
            let tool = request.body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|tool| tool["type"] == "code_interpreter")
                .cloned()
                .unwrap_or_default();
            let mut store = state.store();
            let container_id = match &tool["container"] {
                Value::String(id) => {
                    if !store.containers.contains_key(id) {
                        return Err(EmulatorError::NotFound {
                            message: format!("Container with id '{id}' not found."),
                        });
                    }
                    id.clone()
                }
                auto => {
                    let file_ids: Vec<String> = auto["file_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|id| id.as_str().map(str::to_owned))
                        .collect();
                    containers::new_container(&mut store, "auto", &file_ids)?
                }
            };
            let file = containers::write_file(
                &mut store,
                &container_id,
                "chart.png",
                bytes::Bytes::from_static(crate::model::OUTPUT_PNG),
                "assistant",
            )?;
            let text = "Here is the chart.";
            let citation = json!({
                "type": "container_file_citation",
                "container_id": container_id,
                "file_id": file["id"],
                "filename": "chart.png",
                "start_index": 0,
                "end_index": text.len(),
            });
            vec![
                json!({
                    "type": "code_interpreter_call",
                    "id": new_id("ci_"),
                    "status": "completed",
                    "code": "import matplotlib.pyplot as plt\nplt.savefig('/mnt/data/chart.png')",
                    "container_id": container_id,
                    "outputs": null,
                }),
                reply(text, vec![citation]),
            ]
        }
        Plan::Fail => Vec::new(),
    })
}

/// An assistant message with one text part.
fn reply(text: &str, annotations: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "id": new_id("msg_"),
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}],
    })
}

/// `response` finished as `plan` says.
fn finished(mut response: Value, request: &Request, plan: &Plan, output: &[Value]) -> Value {
    if *plan == Plan::Fail {
        response["status"] = json!("failed");
        response["error"] =
            json!({"code": "server_error", "message": "The model failed to produce a response."});
        return response;
    }
    let input_tokens = tokens(&request.history) + tokens(&request.input);
    let output_tokens = tokens(output);
    response["status"] = json!("completed");
    response["completed_at"] = json!(now());
    response["output"] = json!(output);
    response["usage"] = json!({
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    });
    response
}

/// Stores what a finished response leaves behind: itself (with `store`),
/// and its input and output appended to its conversation.
fn settle(state: &State, request: &Request, response: &Value) -> Result<(), EmulatorError> {
    let mut store = state.store();
    let output = response["output"].as_array().cloned().unwrap_or_default();
    if let Some(conversation) = &request.conversation {
        if response["status"] == "completed" {
            conversations::append(&mut store, conversation, &request.input)?;
            conversations::append(&mut store, conversation, &output)?;
        }
    }
    let id = response["id"].as_str().unwrap_or_default();
    if let Some(stored) = store.responses.get_mut(id) {
        stored.object = response.clone();
        stored.context.extend(output);
    }
    Ok(())
}

async fn create(state: web::Data<State>, body: web::Bytes) -> Reply {
    let request = read_request(&state, &body, true)?;
    let plan = plan(&request);
    let id = new_id("resp_");
    let response = started(&id, &request);
    if request.store {
        let mut store = state.store();
        let (cancel, _) = watch::channel(false);
        let mut context = request.history.clone();
        context.extend(request.input.iter().cloned());
        store.responses.insert(
            id.clone(),
            ResponseState {
                events: Vec::new(),
                object: response.clone(),
                input: request.input.clone(),
                context,
                cancel,
            },
        );
    }
    if !request.stream && !request.background {
        let output = output_of(&state, &request, &plan)?;
        let done = finished(response, &request, &plan, &output);
        settle(&state, &request, &done)?;
        return ok(done);
    }
    let state = state.into_inner();
    if request.stream {
        let (events, answer) = stream::channel_without_done(
            None,
            state.open_streams.clone(),
            state.config.timing.heartbeat,
        );
        actix_web::rt::spawn(drive(state, request, plan, response, events));
        return Ok(answer);
    }
    actix_web::rt::spawn(drive(
        state,
        request,
        plan,
        response.clone(),
        Emitter::none(),
    ));
    ok(response)
}

/// Moves a streamed or background response to its end, emitting the
/// specification's events; a cancel between two steps ends it `cancelled`.
async fn drive(state: Arc<State>, request: Request, plan: Plan, response: Value, events: Emitter) {
    let id = response["id"].as_str().unwrap_or_default().to_owned();
    let mut cancel = state
        .store()
        .responses
        .get(&id)
        .map(|stored| stored.cancel.subscribe());
    let step = state.config.timing.step;
    let mut sequence = 0_u64;
    let keeps_events = request.background;
    let mut emit = |name: &'static str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(sequence);
        sequence += 1;
        events.emit(name, &data);
        // A background response's stream can be resumed from any event.
        if keeps_events {
            if let Some(stored) = state.store().responses.get_mut(&id) {
                stored.events.push(data);
            }
        }
    };
    let cancelled = |cancel: &mut Option<watch::Receiver<bool>>| {
        cancel
            .as_mut()
            .is_some_and(|receiver| *receiver.borrow_and_update())
    };

    emit("response.created", json!({"response": response}));
    tokio::time::sleep(step).await;
    let mut current = response.clone();
    current["status"] = json!("in_progress");
    store_object(&state, &id, &current);
    emit("response.in_progress", json!({"response": current}));
    let slow = user_texts(&request.input)
        .last()
        .is_some_and(|text| text.contains("#slow"));
    if slow {
        let until = tokio::time::Instant::now() + state.config.timing.slow;
        while tokio::time::Instant::now() < until && !cancelled(&mut cancel) {
            tokio::time::sleep(step).await;
        }
    }
    let (plan, output) = match output_of(&state, &request, &plan) {
        Ok(output) => (plan, output),
        Err(_) => (Plan::Fail, Vec::new()),
    };
    for (index, item) in output.iter().enumerate() {
        if cancelled(&mut cancel) {
            break;
        }
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        if added["type"] == "message" {
            added["content"] = json!([]);
        }
        emit(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        if let Some(text) = item["content"][0]["text"].as_str() {
            let item_id = &item["id"];
            let empty =
                json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
            emit(
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": empty}),
            );
            for word in text.split_inclusive(' ') {
                tokio::time::sleep(step).await;
                emit(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0, "delta": word, "logprobs": []}),
                );
            }
            emit(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
            );
            emit(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": item["content"][0]}),
            );
        }
        emit(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }
    if cancelled(&mut cancel) {
        current["status"] = json!("cancelled");
        store_object(&state, &id, &current);
        emit("response.cancelled", json!({"response": current}));
        return;
    }
    let done = finished(current, &request, &plan, &output);
    let _ = settle(&state, &request, &done);
    if done["status"] == "failed" {
        emit("response.failed", json!({"response": done}));
    } else {
        emit("response.completed", json!({"response": done}));
    }
}

fn store_object(state: &State, id: &str, object: &Value) {
    if let Some(stored) = state.store().responses.get_mut(id) {
        stored.object = object.clone();
    }
}

fn not_found(id: &str) -> EmulatorError {
    EmulatorError::NotFound {
        message: format!("Response with id '{id}' not found."),
    }
}

/// `GET /responses/{id}`: with `stream=true` (a background response), its
/// events after `starting_after`, then the rest as they come.
#[derive(Debug, serde::Deserialize)]
struct RetrieveQuery {
    stream: Option<bool>,
    starting_after: Option<u64>,
}

async fn retrieve(
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<RetrieveQuery>,
) -> Reply {
    let background = {
        let store = state.store();
        let stored = store
            .responses
            .get(path.as_str())
            .ok_or_else(|| not_found(&path))?;
        if query.stream != Some(true) {
            return ok(stored.object.clone());
        }
        stored.object["background"] == true
    };
    if !background {
        return Err(EmulatorError::invalid_param(
            "stream",
            "Only responses created with background=true can be streamed on retrieve.",
        ));
    }
    let state = state.into_inner();
    let (events, answer) = stream::channel_without_done(
        None,
        state.open_streams.clone(),
        state.config.timing.heartbeat,
    );
    actix_web::rt::spawn(resume(
        state,
        path.into_inner(),
        query.starting_after,
        events,
    ));
    Ok(answer)
}

/// Sends a background response's events after `after`, following it until
/// it ends (or is gone); bounded by its slowest possible course.
async fn resume(state: Arc<State>, id: String, after: Option<u64>, events: Emitter) {
    let step = state.config.timing.step;
    let limit = state.config.timing.slow + step * 1000;
    let started = tokio::time::Instant::now();
    let mut next = after.map_or(0, |after| after + 1);
    while started.elapsed() < limit {
        let (fresh, finished) = {
            let store = state.store();
            let Some(stored) = store.responses.get(&id) else {
                return;
            };
            let fresh: Vec<Value> = stored
                .events
                .iter()
                .filter(|event| event["sequence_number"].as_u64().is_some_and(|n| n >= next))
                .cloned()
                .collect();
            // Ended once its last event is a final one (the status may be
            // final a moment before that event is kept).
            let finished = stored.events.last().is_some_and(|event| {
                matches!(
                    event["type"].as_str(),
                    Some("response.completed" | "response.failed" | "response.cancelled")
                )
            });
            (fresh, finished)
        };
        for event in fresh {
            next = event["sequence_number"].as_u64().unwrap_or(next) + 1;
            let name = match event["type"].as_str().unwrap_or_default() {
                "response.created" => "response.created",
                "response.in_progress" => "response.in_progress",
                "response.output_item.added" => "response.output_item.added",
                "response.content_part.added" => "response.content_part.added",
                "response.output_text.delta" => "response.output_text.delta",
                "response.output_text.done" => "response.output_text.done",
                "response.content_part.done" => "response.content_part.done",
                "response.output_item.done" => "response.output_item.done",
                "response.completed" => "response.completed",
                "response.failed" => "response.failed",
                _ => "response.cancelled",
            };
            events.emit(name, &event);
        }
        if finished {
            return;
        }
        tokio::time::sleep(step).await;
    }
}

async fn delete(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    store
        .responses
        .remove(path.as_str())
        .ok_or_else(|| not_found(&path))?;
    Ok(HttpResponse::Ok().finish())
}

async fn cancel(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    let stored = store
        .responses
        .get_mut(path.as_str())
        .ok_or_else(|| not_found(&path))?;
    if stored.object["background"] != true {
        return Err(EmulatorError::bad_request(
            "Only responses created with background=true can be cancelled.",
        ));
    }
    if matches!(
        stored.object["status"].as_str(),
        Some("queued" | "in_progress")
    ) {
        let _ = stored.cancel.send(true);
        stored.object["status"] = json!("cancelled");
    }
    ok(stored.object.clone())
}

async fn list_input_items(
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Reply {
    let store = state.store();
    let stored = store
        .responses
        .get(path.as_str())
        .ok_or_else(|| not_found(&path))?;
    let rows: Vec<Row> = stored
        .input
        .iter()
        .enumerate()
        .map(|(index, item)| Row {
            seq: u64::try_from(index).unwrap_or(u64::MAX),
            object: item.clone(),
        })
        .collect();
    ok(page(rows.iter().collect(), &query)?)
}

async fn input_tokens(state: web::Data<State>, body: web::Bytes) -> Reply {
    let request = read_request(&state, &body, false)?;
    ok(json!({
        "object": "response.input_tokens",
        "input_tokens": tokens(&request.history) + tokens(&request.input),
    }))
}

/// Compacts a history (the chain of `previous_response_id`, plus `input`)
/// into one assistant message that keeps every user text: the model's
/// deterministic summary.
async fn compact(state: web::Data<State>, body: web::Bytes) -> Reply {
    let request = read_request(&state, &body, true)?;
    let mut history = request.history.clone();
    history.extend(request.input.iter().cloned());
    let summary = format!("Summary: {}", user_texts(&history).join(" | "));
    let output = vec![reply(&summary, Vec::new())];
    let input_tokens = tokens(&history);
    let output_tokens = tokens(&output);
    ok(json!({
        "id": new_id("resp_"),
        "object": "response.compaction",
        "output": output,
        "created_at": now(),
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    }))
}
