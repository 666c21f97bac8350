//! `/threads`

use actix_web::web;
use serde_json::{Value, json};

use super::messages::add_user_message;
use super::{Reply, ok, tool_resources};
use crate::error::EmulatorError;
use crate::ids::new_id;
use crate::objects::{self, Body, only_keys, parse_body};
use crate::state::{State, Store, ThreadState};

pub(super) const CREATE_KEYS: &[&str] = &["messages", "tool_resources", "metadata"];

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/threads", web::post().to(create))
        .route("/threads/{thread_id}", web::get().to(retrieve))
        .route("/threads/{thread_id}", web::post().to(modify))
        .route("/threads/{thread_id}", web::delete().to(delete));
}

/// Creates a thread with its initial messages; used by `POST /threads` and
/// by create-thread-and-run.
pub(super) fn create_thread(store: &mut Store, body: &Body) -> Result<Value, EmulatorError> {
    only_keys(body, CREATE_KEYS)?;
    let metadata = objects::metadata(body)?;
    let resources = tool_resources(store, body)?;
    let messages = objects::optional_array(body, "messages")?
        .cloned()
        .unwrap_or_default();
    let id = new_id("thread_");
    store.threads.insert(
        id.clone(),
        ThreadState {
            object: objects::thread(&id, metadata, resources),
            ..ThreadState::default()
        },
    );
    for (index, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(objects::type_error(
                &format!("messages[{index}]"),
                "an object",
            ));
        };
        if let Err(error) = add_user_message(store, &id, message) {
            store.threads.remove(&id);
            return Err(error);
        }
    }
    let thread = &store.threads[&id].object;
    Ok(thread.clone())
}

async fn create(state: web::Data<State>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    let mut store = state.store();
    ok(create_thread(&mut store, &body)?)
}

async fn retrieve(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let store = state.store();
    let thread = store
        .threads
        .get(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("thread", &path))?;
    ok(thread.object.clone())
}

async fn modify(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, &["tool_resources", "metadata"])?;
    let mut store = state.store();
    if !store.threads.contains_key(path.as_str()) {
        return Err(EmulatorError::not_found("thread", &path));
    }
    let resources = body
        .contains_key("tool_resources")
        .then(|| tool_resources(&mut store, &body))
        .transpose()?;
    let metadata = body
        .contains_key("metadata")
        .then(|| objects::metadata(&body))
        .transpose()?;
    let thread = store
        .threads
        .get_mut(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("thread", &path))?;
    if let Some(resources) = resources {
        thread.object["tool_resources"] = resources;
    }
    if let Some(metadata) = metadata {
        thread.object["metadata"] = metadata;
    }
    ok(thread.object.clone())
}

async fn delete(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    let thread = store
        .threads
        .remove(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("thread", &path))?;
    for run in thread.runs.values() {
        let _ = run.cancel.send(true);
    }
    ok(json!({"id": path.as_str(), "object": "thread.deleted", "deleted": true}))
}
