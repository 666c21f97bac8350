//! The API's operations, registered identically under both flavours.

mod assistants;
mod containers;
mod conversations;
mod files;
mod messages;
mod models;
mod responses;
mod runs;
mod threads;
mod vector_stores;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::error::EmulatorError;
use crate::ids::new_id;
use crate::objects::{self, Body};
use crate::state::{Store, VectorStoreState};

pub(crate) type Reply = Result<HttpResponse, EmulatorError>;

pub(crate) fn ok(value: Value) -> Reply {
    Ok(HttpResponse::Ok().json(value))
}

pub(crate) fn configure(config: &mut web::ServiceConfig) {
    assistants::configure(config);
    // `/threads/runs` before `/threads/{thread_id}`: first match wins.
    runs::configure(config);
    threads::configure(config);
    messages::configure(config);
    files::configure(config);
    vector_stores::configure(config);
    models::configure(config);
    conversations::configure(config);
    responses::configure(config);
    containers::configure(config);
}

/// Checks and normalizes `tool_resources` of an assistant, thread or run:
/// every file and vector store named must exist, and `vector_stores`
/// helpers become new vector stores.
pub(crate) fn tool_resources(store: &mut Store, body: &Body) -> Result<Value, EmulatorError> {
    let resources = match body.get("tool_resources") {
        None | Some(Value::Null) => return Ok(json!({})),
        Some(Value::Object(resources)) => resources,
        Some(_) => return Err(objects::type_error("tool_resources", "an object")),
    };
    let mut normalized = json!({});
    if let Some(code) = resources.get("code_interpreter") {
        let file_ids = string_list(
            &code["file_ids"],
            "tool_resources.code_interpreter.file_ids",
        )?;
        if file_ids.len() > 20 {
            return Err(EmulatorError::invalid_param(
                "tool_resources.code_interpreter.file_ids",
                "Invalid 'tool_resources.code_interpreter.file_ids': at most 20 files.",
            ));
        }
        for file_id in &file_ids {
            require_file(store, file_id)?;
        }
        normalized["code_interpreter"] = json!({"file_ids": file_ids});
    }
    if let Some(search) = resources.get("file_search") {
        let mut vector_store_ids = string_list(
            &search["vector_store_ids"],
            "tool_resources.file_search.vector_store_ids",
        )?;
        for vector_store_id in &vector_store_ids {
            if !store.vector_stores.contains_key(vector_store_id) {
                return Err(EmulatorError::not_found("vector store", vector_store_id));
            }
        }
        if let Some(helpers) = search["vector_stores"].as_array() {
            for helper in helpers {
                let file_ids = string_list(
                    &helper["file_ids"],
                    "tool_resources.file_search.vector_stores.file_ids",
                )?;
                let metadata = helper
                    .get("metadata")
                    .filter(|m| m.is_object())
                    .cloned()
                    .unwrap_or(json!({}));
                vector_store_ids.push(create_vector_store(store, None, metadata, None, &file_ids)?);
            }
        }
        if vector_store_ids.len() > 1 {
            return Err(EmulatorError::invalid_param(
                "tool_resources.file_search.vector_store_ids",
                "Invalid 'tool_resources.file_search.vector_store_ids': at most 1 vector store.",
            ));
        }
        normalized["file_search"] = json!({"vector_store_ids": vector_store_ids});
    }
    Ok(normalized)
}

fn string_list(value: &Value, param: &str) -> Result<Vec<String>, EmulatorError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| objects::type_error(param, "an array of strings"))
            })
            .collect(),
        _ => Err(objects::type_error(param, "an array of strings")),
    }
}

pub(crate) fn require_file(store: &Store, file_id: &str) -> Result<usize, EmulatorError> {
    store
        .files
        .get(file_id)
        .map(|file| file.content.len())
        .ok_or_else(|| EmulatorError::not_found("file", file_id))
}

/// Creates a vector store holding `file_ids` (processed at once).
pub(crate) fn create_vector_store(
    store: &mut Store,
    name: Option<&str>,
    metadata: Value,
    expires_after: Option<&Value>,
    file_ids: &[String],
) -> Result<String, EmulatorError> {
    let sizes = file_ids
        .iter()
        .map(|file_id| require_file(store, file_id))
        .collect::<Result<Vec<_>, _>>()?;
    let id = new_id("vs_");
    let seq = store.next_seq();
    let mut state = VectorStoreState {
        seq,
        object: objects::vector_store(&id, name, metadata, expires_after),
        ..VectorStoreState::default()
    };
    for (file_id, size) in file_ids.iter().zip(sizes) {
        let file_seq = store.next_seq();
        state.files.insert(
            file_seq,
            file_id,
            objects::vector_store_file(file_id, &id, size, json!({})),
        );
    }
    refresh_vector_store_counts(&mut state);
    store.vector_stores.insert(id.clone(), state);
    Ok(id)
}

/// Recomputes `file_counts` and `usage_bytes` after files changed.
pub(crate) fn refresh_vector_store_counts(state: &mut VectorStoreState) {
    let count = state.files.rows.len();
    let bytes: i64 = state
        .files
        .rows
        .values()
        .filter_map(|row| row.object["usage_bytes"].as_i64())
        .sum();
    state.object["file_counts"] = objects::file_counts(count);
    state.object["usage_bytes"] = json!(bytes);
    state.object["bytes"] = json!(bytes);
}
