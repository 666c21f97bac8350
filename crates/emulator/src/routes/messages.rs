//! `/threads/{thread_id}/messages`

use actix_web::web;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Reply, create_vector_store, ok, refresh_vector_store_counts, require_file};
use crate::error::EmulatorError;
use crate::ids::new_id;
use crate::list::{ListQuery, page};
use crate::objects::{self, Body, NewMessage, only_keys, parse_body};
use crate::state::{State, Store};

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/threads/{thread_id}/messages", web::get().to(list))
        .route("/threads/{thread_id}/messages", web::post().to(create))
        .route(
            "/threads/{thread_id}/messages/{message_id}",
            web::get().to(retrieve),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}",
            web::post().to(modify),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}",
            web::delete().to(delete),
        );
}

/// Adds a message written by the caller (role `user` or `assistant`).
/// Attachments for `file_search` go into the thread's own vector store, which
/// is created on first use, as the service does.
pub(super) fn add_user_message(
    store: &mut Store,
    thread_id: &str,
    body: &Body,
) -> Result<Value, EmulatorError> {
    only_keys(body, &["role", "content", "attachments", "metadata"])?;
    let role = objects::required_str(body, "role")?;
    if !matches!(role, "user" | "assistant") {
        return Err(EmulatorError::invalid_param(
            "role",
            format!("Invalid value: '{role}'. Supported values are: 'user' and 'assistant'."),
        ));
    }
    let content = objects::message_content(body.get("content"))?;
    for part in &content {
        if let Some(file_id) = part["image_file"]["file_id"].as_str() {
            require_file(store, file_id)?;
        }
    }
    let attachments = objects::optional_array(body, "attachments")?
        .cloned()
        .unwrap_or_default();
    let attached = objects::attachment_file_ids(&attachments)?;
    for (file_id, _) in &attached {
        require_file(store, file_id)?;
    }
    let metadata = objects::metadata(body)?;

    let thread = store
        .threads
        .get(thread_id)
        .ok_or_else(|| EmulatorError::not_found("thread", thread_id))?;
    if let Some(run_id) = thread.active_run() {
        return Err(EmulatorError::bad_request(format!(
            "Can't add messages to {thread_id} while a run {run_id} is active."
        )));
    }

    let searchable: Vec<String> = attached
        .iter()
        .filter(|(_, tools)| tools.iter().any(|tool| tool == "file_search"))
        .map(|(file_id, _)| file_id.clone())
        .collect();
    if !searchable.is_empty() {
        add_to_thread_vector_store(store, thread_id, &searchable)?;
    }

    let id = new_id("msg_");
    let message = objects::message(NewMessage {
        id: &id,
        thread_id,
        role,
        content,
        attachments: Value::Array(attachments),
        metadata,
        assistant_id: None,
        run_id: None,
        status: "completed",
    });
    let seq = store.next_seq();
    let thread = store
        .threads
        .get_mut(thread_id)
        .ok_or_else(|| EmulatorError::not_found("thread", thread_id))?;
    thread.messages.insert(seq, &id, message.clone());
    Ok(message)
}

fn add_to_thread_vector_store(
    store: &mut Store,
    thread_id: &str,
    file_ids: &[String],
) -> Result<(), EmulatorError> {
    let existing =
        store.threads[thread_id].object["tool_resources"]["file_search"]["vector_store_ids"][0]
            .as_str()
            .map(str::to_owned);
    match existing.filter(|id| store.vector_stores.contains_key(id)) {
        Some(vector_store_id) => {
            for file_id in file_ids {
                let size = require_file(store, file_id)?;
                let seq = store.next_seq();
                if let Some(vector_store) = store.vector_stores.get_mut(&vector_store_id) {
                    vector_store.files.insert(
                        seq,
                        file_id,
                        objects::vector_store_file(file_id, &vector_store_id, size, json!({})),
                    );
                    refresh_vector_store_counts(vector_store);
                }
            }
        }
        None => {
            let vector_store_id = create_vector_store(
                store,
                Some("thread vector store"),
                json!({}),
                None,
                file_ids,
            )?;
            if let Some(thread) = store.threads.get_mut(thread_id) {
                thread.object["tool_resources"]["file_search"] =
                    json!({"vector_store_ids": [vector_store_id]});
            }
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct MessageListQuery {
    #[serde(flatten)]
    page: ListQuery,
    run_id: Option<String>,
}

async fn list(
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<MessageListQuery>,
) -> Reply {
    let store = state.store();
    let thread = store
        .threads
        .get(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("thread", &path))?;
    let rows = thread
        .messages
        .ordered()
        .into_iter()
        .filter(|row| {
            query
                .run_id
                .as_ref()
                .is_none_or(|run_id| row.object["run_id"] == run_id.as_str())
        })
        .collect();
    ok(page(rows, &query.page)?)
}

async fn create(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    let mut store = state.store();
    if !store.threads.contains_key(path.as_str()) {
        return Err(EmulatorError::not_found("thread", &path));
    }
    ok(add_user_message(&mut store, &path, &body)?)
}

async fn retrieve(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (thread_id, message_id) = path.into_inner();
    let store = state.store();
    let thread = store
        .threads
        .get(&thread_id)
        .ok_or_else(|| EmulatorError::not_found("thread", &thread_id))?;
    let message = thread
        .messages
        .get(&message_id)
        .ok_or_else(|| EmulatorError::not_found("message", &message_id))?;
    ok(message.clone())
}

async fn modify(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Reply {
    let (thread_id, message_id) = path.into_inner();
    let body = parse_body(&body)?;
    only_keys(&body, &["metadata"])?;
    let metadata = objects::metadata(&body)?;
    let mut store = state.store();
    let thread = store
        .threads
        .get_mut(&thread_id)
        .ok_or_else(|| EmulatorError::not_found("thread", &thread_id))?;
    let message = thread
        .messages
        .get_mut(&message_id)
        .ok_or_else(|| EmulatorError::not_found("message", &message_id))?;
    message["metadata"] = metadata;
    ok(message.clone())
}

async fn delete(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (thread_id, message_id) = path.into_inner();
    let mut store = state.store();
    let thread = store
        .threads
        .get_mut(&thread_id)
        .ok_or_else(|| EmulatorError::not_found("thread", &thread_id))?;
    thread
        .messages
        .rows
        .remove(&message_id)
        .ok_or_else(|| EmulatorError::not_found("message", &message_id))?;
    ok(objects::deleted(&message_id, "thread.message.deleted"))
}
