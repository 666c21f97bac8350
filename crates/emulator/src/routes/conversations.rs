//! `/conversations`: a conversation and its items. Responses created with
//! `conversation` read its items as history and append their input and
//! output to it.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::{Reply, ok};
use crate::error::EmulatorError;
use crate::ids::{new_id, now};
use crate::items::{self, MAX_ITEMS_PER_REQUEST};
use crate::list::{ListQuery, page};
use crate::objects::{self, only_keys, parse_body};
use crate::state::{ConversationState, State, Store, Table};

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/conversations", web::post().to(create))
        .route("/conversations/{conversation_id}", web::get().to(retrieve))
        .route("/conversations/{conversation_id}", web::post().to(update))
        .route("/conversations/{conversation_id}", web::delete().to(delete))
        .route(
            "/conversations/{conversation_id}/items",
            web::post().to(create_items),
        )
        .route(
            "/conversations/{conversation_id}/items",
            web::get().to(list_items),
        )
        .route(
            "/conversations/{conversation_id}/items/{item_id}",
            web::get().to(retrieve_item),
        )
        .route(
            "/conversations/{conversation_id}/items/{item_id}",
            web::delete().to(delete_item),
        );
}

/// The conversation, or the API's 404.
pub(crate) fn conversation<'a>(
    store: &'a mut Store,
    id: &str,
) -> Result<&'a mut ConversationState, EmulatorError> {
    store
        .conversations
        .get_mut(id)
        .ok_or_else(|| EmulatorError::NotFound {
            message: format!("Conversation with id '{id}' not found."),
        })
}

/// Appends stored items to a conversation, in order.
pub(crate) fn append(store: &mut Store, id: &str, new: &[Value]) -> Result<(), EmulatorError> {
    let seqs: Vec<u64> = new.iter().map(|_| store.next_seq()).collect();
    let conversation = conversation(store, id)?;
    for (item, seq) in new.iter().zip(seqs) {
        let item_id = item["id"].as_str().unwrap_or_default().to_owned();
        conversation.items.insert(seq, &item_id, item.clone());
    }
    Ok(())
}

fn items_of(body: &objects::Body) -> Result<Vec<Value>, EmulatorError> {
    let Some(given) = objects::optional_array(body, "items")? else {
        return Ok(Vec::new());
    };
    if given.len() > MAX_ITEMS_PER_REQUEST {
        return Err(EmulatorError::invalid_param(
            "items",
            format!(
                "Invalid 'items': array too long. Expected an array with maximum length \
                 {MAX_ITEMS_PER_REQUEST}, but got an array with length {} instead.",
                given.len()
            ),
        ));
    }
    given
        .iter()
        .enumerate()
        .map(|(index, item)| items::stored(item, &format!("items[{index}]")))
        .collect()
}

async fn create(state: web::Data<State>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, &["items", "metadata"])?;
    let metadata = objects::metadata(&body)?;
    let new = items_of(&body)?;
    let id = new_id("conv_");
    let object = json!({
        "id": id,
        "object": "conversation",
        "created_at": now(),
        "metadata": metadata,
    });
    let mut store = state.store();
    store.conversations.insert(
        id.clone(),
        ConversationState {
            object: object.clone(),
            items: Table::default(),
        },
    );
    append(&mut store, &id, &new)?;
    ok(object)
}

async fn retrieve(state: web::Data<State>, path: web::Path<String>) -> Reply {
    ok(conversation(&mut state.store(), &path)?.object.clone())
}

async fn update(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, &["metadata"])?;
    if !body.contains_key("metadata") {
        return Err(EmulatorError::missing("metadata"));
    }
    let metadata = objects::metadata(&body)?;
    let mut store = state.store();
    let conversation = conversation(&mut store, &path)?;
    conversation.object["metadata"] = metadata;
    ok(conversation.object.clone())
}

async fn delete(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    conversation(&mut store, &path)?;
    store.conversations.remove(path.as_str());
    ok(json!({"id": path.as_str(), "object": "conversation.deleted", "deleted": true}))
}

async fn create_items(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, &["items"])?;
    if !body.contains_key("items") {
        return Err(EmulatorError::missing("items"));
    }
    let new = items_of(&body)?;
    let mut store = state.store();
    append(&mut store, &path, &new)?;
    ok(json!({
        "object": "list",
        "data": new,
        "first_id": new.first().map(|item| &item["id"]),
        "last_id": new.last().map(|item| &item["id"]),
        "has_more": false,
    }))
}

async fn list_items(
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Reply {
    let mut store = state.store();
    let conversation = conversation(&mut store, &path)?;
    ok(page(conversation.items.ordered(), &query)?)
}

fn item_not_found(id: &str) -> EmulatorError {
    EmulatorError::NotFound {
        message: format!("Item with id '{id}' not found."),
    }
}

async fn retrieve_item(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (conversation_id, item_id) = path.into_inner();
    let mut store = state.store();
    let conversation = conversation(&mut store, &conversation_id)?;
    let item = conversation
        .items
        .get(&item_id)
        .cloned()
        .ok_or_else(|| item_not_found(&item_id))?;
    ok(item)
}

async fn delete_item(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (conversation_id, item_id) = path.into_inner();
    let mut store = state.store();
    let conversation = conversation(&mut store, &conversation_id)?;
    if conversation.items.rows.remove(&item_id).is_none() {
        return Err(item_not_found(&item_id));
    }
    // The API answers a removed item with the conversation it was in.
    Ok(HttpResponse::Ok().json(&conversation.object))
}
