//! `/assistants`

use actix_web::web;

use super::{Reply, ok, tool_resources};
use crate::error::EmulatorError;
use crate::ids::new_id;
use crate::list::{ListQuery, page};
use crate::objects::{self, only_keys, parse_body};
use crate::state::State;

const CREATE_KEYS: &[&str] = &[
    "model",
    "name",
    "description",
    "instructions",
    "tools",
    "tool_resources",
    "metadata",
    "temperature",
    "top_p",
    "response_format",
    "reasoning_effort",
];

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/assistants", web::get().to(list))
        .route("/assistants", web::post().to(create))
        .route("/assistants/{assistant_id}", web::get().to(retrieve))
        .route("/assistants/{assistant_id}", web::post().to(modify))
        .route("/assistants/{assistant_id}", web::delete().to(delete));
}

async fn list(state: web::Data<State>, query: web::Query<ListQuery>) -> Reply {
    let store = state.store();
    ok(page(store.assistants.ordered(), &query)?)
}

async fn create(state: web::Data<State>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, CREATE_KEYS)?;
    let mut store = state.store();
    let resources = tool_resources(&mut store, &body)?;
    let id = new_id("asst_");
    let assistant = objects::assistant(&id, &body, resources)?;
    let seq = store.next_seq();
    store.assistants.insert(seq, &id, assistant.clone());
    ok(assistant)
}

async fn retrieve(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let store = state.store();
    let assistant = store
        .assistants
        .get(&path)
        .ok_or_else(|| EmulatorError::not_found("assistant", &path))?;
    ok(assistant.clone())
}

async fn modify(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, CREATE_KEYS)?;
    let mut store = state.store();
    if store.assistants.get(&path).is_none() {
        return Err(EmulatorError::not_found("assistant", &path));
    }
    let resources = body
        .contains_key("tool_resources")
        .then(|| tool_resources(&mut store, &body))
        .transpose()?;
    let tools = objects::tools(&body)?;
    let metadata = body
        .contains_key("metadata")
        .then(|| objects::metadata(&body))
        .transpose()?;
    let assistant = store
        .assistants
        .get_mut(&path)
        .ok_or_else(|| EmulatorError::not_found("assistant", &path))?;
    for key in [
        "model",
        "name",
        "description",
        "instructions",
        "temperature",
        "top_p",
        "response_format",
    ] {
        if let Some(value) = body.get(key) {
            assistant[key] = value.clone();
        }
    }
    if let Some(tools) = tools {
        assistant["tools"] = tools.into();
    }
    if let Some(resources) = resources {
        assistant["tool_resources"] = resources;
    }
    if let Some(metadata) = metadata {
        assistant["metadata"] = metadata;
    }
    ok(assistant.clone())
}

async fn delete(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    store
        .assistants
        .rows
        .remove(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("assistant", &path))?;
    ok(objects::deleted(&path, "assistant.deleted"))
}
