//! `/threads/{thread_id}/runs`, `/threads/runs` and run steps.

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::messages::add_user_message;
use super::threads::create_thread;
use super::{Reply, ok, tool_resources};
use crate::error::EmulatorError;
use crate::faults::RequestFaults;
use crate::gate::Flavour;
use crate::ids::{new_id, now};
use crate::list::{ListQuery, page};
use crate::model::{self, DriveOptions, Start};
use crate::objects::{self, Body, only_keys, parse_body};
use crate::state::{RunState, State, Store};
use crate::stream::{self, Emitter};

const RUN_KEYS: &[&str] = &[
    "assistant_id",
    "model",
    "reasoning_effort",
    "instructions",
    "additional_instructions",
    "additional_messages",
    "tools",
    "metadata",
    "temperature",
    "top_p",
    "stream",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
];

const THREAD_AND_RUN_KEYS: &[&str] = &[
    "assistant_id",
    "thread",
    "model",
    "instructions",
    "tools",
    "tool_resources",
    "metadata",
    "temperature",
    "top_p",
    "stream",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
];

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/threads/runs", web::post().to(create_thread_and_run))
        .route("/threads/{thread_id}/runs", web::get().to(list))
        .route("/threads/{thread_id}/runs", web::post().to(create))
        .route(
            "/threads/{thread_id}/runs/{run_id}",
            web::get().to(retrieve),
        )
        .route("/threads/{thread_id}/runs/{run_id}", web::post().to(modify))
        .route(
            "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
            web::post().to(submit_tool_outputs),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}/cancel",
            web::post().to(cancel),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}/steps",
            web::get().to(list_steps),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
            web::get().to(retrieve_step),
        );
}

fn wants_stream(body: &Body) -> Result<bool, EmulatorError> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(stream)) => Ok(*stream),
        Some(_) => Err(objects::type_error("stream", "a boolean")),
    }
}

/// Inserts a new `queued` run on the thread.
fn insert_run(store: &mut Store, thread_id: &str, body: &Body) -> Result<Value, EmulatorError> {
    let assistant_id = objects::required_str(body, "assistant_id")?;
    let assistant = store
        .assistants
        .get(assistant_id)
        .cloned()
        .ok_or_else(|| EmulatorError::not_found("assistant", assistant_id))?;
    let thread = store
        .threads
        .get(thread_id)
        .ok_or_else(|| EmulatorError::not_found("thread", thread_id))?;
    if let Some(active) = thread.active_run() {
        return Err(EmulatorError::bad_request(format!(
            "Thread {thread_id} already has an active run {active}."
        )));
    }
    let tools = objects::tools(body)?.map_or_else(|| assistant["tools"].clone(), Value::from);
    let metadata = objects::metadata(body)?;
    let mut instructions = objects::optional_str(body, "instructions")?.map_or_else(
        || assistant["instructions"].as_str().unwrap_or("").to_owned(),
        str::to_owned,
    );
    if let Some(additional) = objects::optional_str(body, "additional_instructions")? {
        instructions = format!("{instructions}\n{additional}");
    }
    for (index, message) in objects::optional_array(body, "additional_messages")?
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Value::Object(message) = message else {
            return Err(objects::type_error(
                &format!("additional_messages[{index}]"),
                "an object",
            ));
        };
        add_user_message(store, thread_id, message)?;
    }

    let id = new_id("run_");
    let created_at = now();
    let field = |key: &str, default: Value| {
        body.get(key)
            .filter(|value| !value.is_null())
            .cloned()
            .unwrap_or(default)
    };
    let run = json!({
        "id": id,
        "object": "thread.run",
        "created_at": created_at,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "status": "queued",
        "started_at": null,
        "expires_at": created_at + 600,
        "cancelled_at": null,
        "failed_at": null,
        "completed_at": null,
        "required_action": null,
        "last_error": null,
        "model": field("model", assistant["model"].clone()),
        "instructions": instructions,
        "tools": tools,
        "metadata": metadata,
        "usage": null,
        "temperature": field("temperature", assistant["temperature"].clone()),
        "top_p": field("top_p", assistant["top_p"].clone()),
        "max_prompt_tokens": field("max_prompt_tokens", Value::Null),
        "max_completion_tokens": field("max_completion_tokens", Value::Null),
        "truncation_strategy": field("truncation_strategy", json!({"type": "auto", "last_messages": null})),
        "incomplete_details": null,
        "response_format": field("response_format", assistant["response_format"].clone()),
        "tool_choice": field("tool_choice", json!("auto")),
        "parallel_tool_calls": field("parallel_tool_calls", json!(true)),
    });
    let seq = store.next_seq();
    let (cancel, _) = watch::channel(false);
    if let Some(thread) = store.threads.get_mut(thread_id) {
        thread.runs.insert(
            id,
            RunState {
                seq,
                object: run.clone(),
                steps: crate::state::Table::default(),
                cancel,
            },
        );
    }
    Ok(run)
}

/// Starts the run's driver and answers with the run, or with its stream.
fn start(
    state: Arc<State>,
    request: &HttpRequest,
    run: &Value,
    start: Start,
    stream: bool,
    first_events: &[(&'static str, Value)],
) -> HttpResponse {
    let faults = request
        .extensions()
        .get::<RequestFaults>()
        .cloned()
        .unwrap_or_default();
    let (emitter, response) = if stream {
        let (emitter, response) = stream::channel(
            faults.drop_stream_after,
            state.open_streams.clone(),
            state.config.timing.heartbeat,
        );
        (emitter, Some(response))
    } else {
        (Emitter::none(), None)
    };
    for (name, data) in first_events {
        emitter.emit(name, data);
    }
    let thread_id = run["thread_id"].as_str().unwrap_or_default().to_owned();
    let run_id = run["id"].as_str().unwrap_or_default().to_owned();
    let options = DriveOptions {
        never_finish: faults.never_finish,
    };
    tokio::spawn(model::drive(
        state, thread_id, run_id, start, emitter, options,
    ));
    response.unwrap_or_else(|| HttpResponse::Ok().json(run))
}

async fn create(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, RUN_KEYS)?;
    let stream = wants_stream(&body)?;
    let run = {
        let mut store = state.store();
        insert_run(&mut store, &path, &body)?
    };
    Ok(start(
        state.into_inner(),
        &request,
        &run,
        Start::New,
        stream,
        &[],
    ))
}

async fn create_thread_and_run(
    state: web::Data<State>,
    request: HttpRequest,
    body: web::Bytes,
) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, THREAD_AND_RUN_KEYS)?;
    let stream = wants_stream(&body)?;
    let (thread, run) = {
        let mut store = state.store();
        objects::required_str(&body, "assistant_id")?;
        if !store
            .assistants
            .rows
            .contains_key(objects::required_str(&body, "assistant_id")?)
        {
            return Err(EmulatorError::not_found(
                "assistant",
                objects::required_str(&body, "assistant_id")?,
            ));
        }
        let thread_body = match body.get("thread") {
            None | Some(Value::Null) => Body::new(),
            Some(Value::Object(thread)) => thread.clone(),
            Some(_) => return Err(objects::type_error("thread", "an object")),
        };
        let mut thread = create_thread(&mut store, &thread_body)?;
        let thread_id = thread["id"].as_str().unwrap_or_default().to_owned();
        if body.contains_key("tool_resources") {
            let resources = tool_resources(&mut store, &body)?;
            if let Some(stored) = store.threads.get_mut(&thread_id) {
                stored.object["tool_resources"] = resources;
                thread = stored.object.clone();
            }
        }
        let mut run_body = body.clone();
        run_body.remove("thread");
        run_body.remove("tool_resources");
        let run = insert_run(&mut store, &thread_id, &run_body)?;
        (thread, run)
    };
    let first = [("thread.created", thread)];
    Ok(start(
        state.into_inner(),
        &request,
        &run,
        Start::New,
        stream,
        &first,
    ))
}

fn run_object(store: &Store, thread_id: &str, run_id: &str) -> Result<Value, EmulatorError> {
    let thread = store
        .threads
        .get(thread_id)
        .ok_or_else(|| EmulatorError::not_found("thread", thread_id))?;
    thread
        .runs
        .get(run_id)
        .map(|run| run.object.clone())
        .ok_or_else(|| EmulatorError::not_found("run", run_id))
}

async fn list(
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Reply {
    let store = state.store();
    let thread = store
        .threads
        .get(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("thread", &path))?;
    let mut rows: Vec<crate::state::Row> = thread
        .runs
        .values()
        .map(|run| crate::state::Row {
            seq: run.seq,
            object: run.object.clone(),
        })
        .collect();
    rows.sort_by_key(|row| row.seq);
    ok(page(rows.iter().collect(), &query)?)
}

async fn retrieve(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (thread_id, run_id) = path.into_inner();
    ok(run_object(&state.store(), &thread_id, &run_id)?)
}

async fn modify(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Reply {
    let (thread_id, run_id) = path.into_inner();
    let body = parse_body(&body)?;
    only_keys(&body, &["metadata"])?;
    let metadata = objects::metadata(&body)?;
    let mut store = state.store();
    run_object(&store, &thread_id, &run_id)?;
    let run = store
        .threads
        .get_mut(&thread_id)
        .and_then(|thread| thread.runs.get_mut(&run_id))
        .ok_or_else(|| EmulatorError::not_found("run", &run_id))?;
    run.object["metadata"] = metadata;
    ok(run.object.clone())
}

async fn submit_tool_outputs(
    state: web::Data<State>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Reply {
    let (thread_id, run_id) = path.into_inner();
    let body = parse_body(&body)?;
    only_keys(&body, &["tool_outputs", "stream"])?;
    let stream = wants_stream(&body)?;
    let Some(Value::Array(submitted)) = body.get("tool_outputs") else {
        return Err(EmulatorError::missing("tool_outputs"));
    };
    let mut outputs = Vec::new();
    for (index, output) in submitted.iter().enumerate() {
        let call_id = output["tool_call_id"].as_str().ok_or_else(|| {
            EmulatorError::missing(&format!("tool_outputs[{index}].tool_call_id"))
        })?;
        let text = output["output"].as_str().unwrap_or_default();
        outputs.push((call_id.to_owned(), text.to_owned()));
    }
    let run = {
        let mut store = state.store();
        let run = run_object(&store, &thread_id, &run_id)?;
        let status = run["status"].as_str().unwrap_or_default();
        if status != "requires_action" {
            return Err(EmulatorError::bad_request(format!(
                "Runs in status \"{status}\" do not accept tool outputs."
            )));
        }
        let mut expected: Vec<&str> = run["required_action"]["submit_tool_outputs"]["tool_calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .filter_map(|call| call["id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut given: Vec<&str> = outputs.iter().map(|(id, _)| id.as_str()).collect();
        expected.sort_unstable();
        given.sort_unstable();
        if expected != given {
            return Err(EmulatorError::bad_request(format!(
                "Expected tool outputs for call_ids {expected:?}, got {given:?}"
            )));
        }
        let run = store
            .threads
            .get_mut(&thread_id)
            .and_then(|thread| thread.runs.get_mut(&run_id))
            .ok_or_else(|| EmulatorError::not_found("run", &run_id))?;
        run.object["status"] = json!("queued");
        run.object["required_action"] = Value::Null;
        run.object.clone()
    };
    Ok(start(
        state.into_inner(),
        &request,
        &run,
        Start::AfterToolOutputs(outputs),
        stream,
        &[],
    ))
}

async fn cancel(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (thread_id, run_id) = path.into_inner();
    let (run, needs_driver) = {
        let mut store = state.store();
        run_object(&store, &thread_id, &run_id)?;
        let run = store
            .threads
            .get_mut(&thread_id)
            .and_then(|thread| thread.runs.get_mut(&run_id))
            .ok_or_else(|| EmulatorError::not_found("run", &run_id))?;
        let status = run.object["status"].as_str().unwrap_or_default().to_owned();
        if !matches!(
            status.as_str(),
            "queued" | "in_progress" | "requires_action"
        ) {
            return Err(EmulatorError::bad_request(format!(
                "Cannot cancel run with status '{status}'."
            )));
        }
        run.object["status"] = json!("cancelling");
        let _ = run.cancel.send(true);
        // A run waiting for tool outputs has no driver to notice the cancel.
        (run.object.clone(), status == "requires_action")
    };
    if needs_driver {
        let state = state.into_inner();
        tokio::spawn(model::drive(
            state,
            thread_id,
            run_id,
            Start::New,
            Emitter::none(),
            DriveOptions::default(),
        ));
    }
    ok(run)
}

/// Azure's specification names the run step object `assistant.run.step`
/// where OpenAI's says `thread.run.step`; each flavour answers in its own.
fn step_for(flavour: Flavour, mut step: Value) -> Value {
    if flavour == Flavour::Azure {
        step["object"] = json!("assistant.run.step");
    }
    step
}

async fn list_steps(
    state: web::Data<State>,
    flavour: web::Data<Flavour>,
    path: web::Path<(String, String)>,
    query: web::Query<ListQuery>,
) -> Reply {
    let (thread_id, run_id) = path.into_inner();
    let store = state.store();
    run_object(&store, &thread_id, &run_id)?;
    let steps = &store.threads[&thread_id].runs[&run_id].steps;
    let mut listed = page(steps.ordered(), &query)?;
    if let Some(data) = listed["data"].as_array_mut() {
        for step in data.iter_mut() {
            *step = step_for(**flavour, step.take());
        }
    }
    ok(listed)
}

async fn retrieve_step(
    state: web::Data<State>,
    flavour: web::Data<Flavour>,
    path: web::Path<(String, String, String)>,
) -> Reply {
    let (thread_id, run_id, step_id) = path.into_inner();
    let store = state.store();
    run_object(&store, &thread_id, &run_id)?;
    let step = store.threads[&thread_id].runs[&run_id]
        .steps
        .get(&step_id)
        .cloned()
        .ok_or_else(|| EmulatorError::not_found("run step", &step_id))?;
    ok(step_for(**flavour, step))
}
