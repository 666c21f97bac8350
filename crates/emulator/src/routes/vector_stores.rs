//! `/vector_stores`, their files, file batches and search. Files are
//! "processed" at once: a file added is `completed` in the same request.

use actix_web::web;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Reply, create_vector_store, ok, refresh_vector_store_counts, require_file};
use crate::error::EmulatorError;
use crate::ids::{new_id, now};
use crate::list::{ListQuery, page};
use crate::objects::{self, only_keys, parse_body};
use crate::state::{State, Store, VectorStoreState};

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/vector_stores", web::get().to(list))
        .route("/vector_stores", web::post().to(create))
        .route("/vector_stores/{vector_store_id}", web::get().to(retrieve))
        .route("/vector_stores/{vector_store_id}", web::post().to(modify))
        .route("/vector_stores/{vector_store_id}", web::delete().to(delete))
        .route(
            "/vector_stores/{vector_store_id}/search",
            web::post().to(search),
        )
        .route(
            "/vector_stores/{vector_store_id}/files",
            web::get().to(list_files),
        )
        .route(
            "/vector_stores/{vector_store_id}/files",
            web::post().to(add_file),
        )
        .route(
            "/vector_stores/{vector_store_id}/files/{file_id}",
            web::get().to(retrieve_file),
        )
        .route(
            "/vector_stores/{vector_store_id}/files/{file_id}",
            web::post().to(update_file),
        )
        .route(
            "/vector_stores/{vector_store_id}/files/{file_id}",
            web::delete().to(remove_file),
        )
        .route(
            "/vector_stores/{vector_store_id}/files/{file_id}/content",
            web::get().to(file_content),
        )
        .route(
            "/vector_stores/{vector_store_id}/file_batches",
            web::post().to(create_batch),
        )
        .route(
            "/vector_stores/{vector_store_id}/file_batches/{batch_id}",
            web::get().to(retrieve_batch),
        )
        .route(
            "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel",
            web::post().to(cancel_batch),
        )
        .route(
            "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files",
            web::get().to(list_batch_files),
        );
}

fn vector_store<'a>(
    store: &'a mut Store,
    id: &str,
) -> Result<&'a mut VectorStoreState, EmulatorError> {
    store
        .vector_stores
        .get_mut(id)
        .ok_or_else(|| EmulatorError::not_found("vector store", id))
}

async fn list(state: web::Data<State>, query: web::Query<ListQuery>) -> Reply {
    let store = state.store();
    let mut rows: Vec<crate::state::Row> = store
        .vector_stores
        .values()
        .map(|vs| crate::state::Row {
            seq: vs.seq,
            object: vs.object.clone(),
        })
        .collect();
    rows.sort_by_key(|row| row.seq);
    ok(page(rows.iter().collect(), &query)?)
}

async fn create(state: web::Data<State>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(
        &body,
        &[
            "name",
            "file_ids",
            "expires_after",
            "chunking_strategy",
            "metadata",
            "description",
        ],
    )?;
    let file_ids: Vec<String> = objects::optional_array(&body, "file_ids")?
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let metadata = objects::metadata(&body)?;
    let name = objects::optional_str(&body, "name")?;
    let mut store = state.store();
    let id = create_vector_store(
        &mut store,
        name,
        metadata,
        body.get("expires_after"),
        &file_ids,
    )?;
    ok(store.vector_stores[&id].object.clone())
}

async fn retrieve(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    ok(vector_store(&mut store, &path)?.object.clone())
}

async fn modify(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, &["name", "expires_after", "metadata"])?;
    let metadata = body
        .contains_key("metadata")
        .then(|| objects::metadata(&body))
        .transpose()?;
    let mut store = state.store();
    let vs = vector_store(&mut store, &path)?;
    if let Some(name) = body.get("name") {
        vs.object["name"] = name.clone();
    }
    if let Some(expires_after) = body.get("expires_after") {
        vs.object["expires_after"] = expires_after.clone();
    }
    if let Some(metadata) = metadata {
        vs.object["metadata"] = metadata;
    }
    ok(vs.object.clone())
}

async fn delete(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    store
        .vector_stores
        .remove(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("vector store", &path))?;
    ok(objects::deleted(&path, "vector_store.deleted"))
}

/// Substring search over the files' text, one result per matching file.
async fn search(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(
        &body,
        &[
            "query",
            "rewrite_query",
            "max_num_results",
            "filters",
            "ranking_options",
        ],
    )?;
    let queries: Vec<String> = match body.get("query") {
        Some(Value::String(query)) => vec![query.clone()],
        Some(Value::Array(queries)) => queries
            .iter()
            .filter_map(|q| q.as_str().map(str::to_owned))
            .collect(),
        None | Some(Value::Null) => return Err(EmulatorError::missing("query")),
        Some(_) => {
            return Err(objects::type_error(
                "query",
                "a string or an array of strings",
            ));
        }
    };
    let max_results = body
        .get("max_num_results")
        .and_then(Value::as_u64)
        .unwrap_or(10);
    let store = state.store();
    let vs = store
        .vector_stores
        .get(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("vector store", &path))?;
    let mut results = Vec::new();
    for row in vs.files.ordered() {
        let file_id = row.object["id"].as_str().unwrap_or_default();
        let Some(file) = store.files.get(file_id) else {
            continue;
        };
        let text = String::from_utf8_lossy(&file.content);
        let lowered = text.to_lowercase();
        let hits = queries
            .iter()
            .filter(|q| lowered.contains(&q.to_lowercase()))
            .count();
        if hits > 0 {
            #[allow(clippy::cast_precision_loss)]
            let score = hits as f64 / queries.len() as f64;
            results.push(json!({
                "file_id": file_id,
                "filename": file.object["filename"],
                "score": score,
                "attributes": row.object["attributes"],
                "content": [{"type": "text", "text": text}],
            }));
        }
    }
    results.truncate(usize::try_from(max_results).unwrap_or(10));
    ok(json!({
        "object": "vector_store.search_results.page",
        "search_query": queries,
        "data": results,
        "has_more": false,
        "next_page": null,
    }))
}

#[derive(Debug, Deserialize)]
struct FileListQuery {
    #[serde(flatten)]
    page: ListQuery,
    filter: Option<String>,
}

async fn list_files(
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<FileListQuery>,
) -> Reply {
    let mut store = state.store();
    let vs = vector_store(&mut store, &path)?;
    let rows = vs
        .files
        .ordered()
        .into_iter()
        .filter(|row| {
            query
                .filter
                .as_ref()
                .is_none_or(|status| row.object["status"] == status.as_str())
        })
        .collect();
    ok(page(rows, &query.page)?)
}

fn insert_file(
    store: &mut Store,
    vector_store_id: &str,
    file_id: &str,
    attributes: Value,
) -> Result<Value, EmulatorError> {
    let size = require_file(store, file_id)?;
    let seq = store.next_seq();
    let vs = vector_store(store, vector_store_id)?;
    let object = objects::vector_store_file(file_id, vector_store_id, size, attributes);
    vs.files.insert(seq, file_id, object.clone());
    refresh_vector_store_counts(vs);
    Ok(object)
}

async fn add_file(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, &["file_id", "attributes", "chunking_strategy"])?;
    let file_id = objects::required_str(&body, "file_id")?;
    let attributes = body
        .get("attributes")
        .filter(|a| a.is_object())
        .cloned()
        .unwrap_or(json!({}));
    let mut store = state.store();
    vector_store(&mut store, &path)?;
    ok(insert_file(&mut store, &path, file_id, attributes)?)
}

fn stored_file(
    store: &mut Store,
    vector_store_id: &str,
    file_id: &str,
) -> Result<Value, EmulatorError> {
    vector_store(store, vector_store_id)?
        .files
        .get(file_id)
        .cloned()
        .ok_or_else(|| EmulatorError::not_found("file", file_id))
}

async fn retrieve_file(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (vector_store_id, file_id) = path.into_inner();
    ok(stored_file(&mut state.store(), &vector_store_id, &file_id)?)
}

async fn update_file(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Reply {
    let (vector_store_id, file_id) = path.into_inner();
    let body = parse_body(&body)?;
    only_keys(&body, &["attributes"])?;
    let attributes = match body.get("attributes") {
        Some(Value::Object(attributes)) => Value::Object(attributes.clone()),
        Some(Value::Null) | None => return Err(EmulatorError::missing("attributes")),
        Some(_) => return Err(objects::type_error("attributes", "an object")),
    };
    let mut store = state.store();
    let vs = vector_store(&mut store, &vector_store_id)?;
    let file = vs
        .files
        .get_mut(&file_id)
        .ok_or_else(|| EmulatorError::not_found("file", &file_id))?;
    file["attributes"] = attributes;
    ok(file.clone())
}

async fn remove_file(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (vector_store_id, file_id) = path.into_inner();
    let mut store = state.store();
    let vs = vector_store(&mut store, &vector_store_id)?;
    vs.files
        .rows
        .remove(&file_id)
        .ok_or_else(|| EmulatorError::not_found("file", &file_id))?;
    refresh_vector_store_counts(vs);
    ok(objects::deleted(&file_id, "vector_store.file.deleted"))
}

async fn file_content(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (vector_store_id, file_id) = path.into_inner();
    let mut store = state.store();
    stored_file(&mut store, &vector_store_id, &file_id)?;
    let file = store
        .files
        .get(&file_id)
        .ok_or_else(|| EmulatorError::not_found("file", &file_id))?;
    ok(json!({
        "object": "vector_store.file_content.page",
        "data": [{"type": "text", "text": String::from_utf8_lossy(&file.content)}],
        "has_more": false,
        "next_page": null,
    }))
}

async fn create_batch(state: web::Data<State>, path: web::Path<String>, body: web::Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(
        &body,
        &["file_ids", "files", "attributes", "chunking_strategy"],
    )?;
    let mut file_ids: Vec<(String, Value)> = Vec::new();
    let attributes = body
        .get("attributes")
        .filter(|a| a.is_object())
        .cloned()
        .unwrap_or(json!({}));
    if let Some(ids) = objects::optional_array(&body, "file_ids")? {
        for id in ids {
            let id = id
                .as_str()
                .ok_or_else(|| objects::type_error("file_ids", "an array of strings"))?;
            file_ids.push((id.to_owned(), attributes.clone()));
        }
    }
    if let Some(files) = objects::optional_array(&body, "files")? {
        for (index, file) in files.iter().enumerate() {
            let id = file["file_id"]
                .as_str()
                .ok_or_else(|| EmulatorError::missing(&format!("files[{index}].file_id")))?;
            let own = file
                .get("attributes")
                .filter(|a| a.is_object())
                .cloned()
                .unwrap_or(attributes.clone());
            file_ids.push((id.to_owned(), own));
        }
    }
    if file_ids.is_empty() {
        return Err(EmulatorError::missing("file_ids"));
    }
    let mut store = state.store();
    vector_store(&mut store, &path)?;
    for (file_id, _) in &file_ids {
        require_file(&store, file_id)?;
    }
    for (file_id, attributes) in &file_ids {
        insert_file(&mut store, &path, file_id, attributes.clone())?;
    }
    let id = new_id("vsfb_");
    let batch = json!({
        "id": id,
        "object": "vector_store.files_batch",
        "created_at": now(),
        "vector_store_id": path.as_str(),
        "status": "completed",
        "file_counts": objects::file_counts(file_ids.len()),
    });
    let ids = file_ids.into_iter().map(|(id, _)| id).collect();
    vector_store(&mut store, &path)?
        .batches
        .insert(id, (batch.clone(), ids));
    ok(batch)
}

fn batch(
    store: &mut Store,
    vector_store_id: &str,
    batch_id: &str,
) -> Result<(Value, Vec<String>), EmulatorError> {
    vector_store(store, vector_store_id)?
        .batches
        .get(batch_id)
        .cloned()
        .ok_or_else(|| EmulatorError::not_found("file batch", batch_id))
}

async fn retrieve_batch(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (vector_store_id, batch_id) = path.into_inner();
    ok(batch(&mut state.store(), &vector_store_id, &batch_id)?.0)
}

async fn cancel_batch(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (vector_store_id, batch_id) = path.into_inner();
    let mut store = state.store();
    let (object, _) = batch(&mut store, &vector_store_id, &batch_id)?;
    // Files are processed at once, so the batch is already finished; the
    // service answers a cancel of a finished batch with the batch as it is.
    ok(object)
}

async fn list_batch_files(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
    query: web::Query<FileListQuery>,
) -> Reply {
    let (vector_store_id, batch_id) = path.into_inner();
    let mut store = state.store();
    let (_, file_ids) = batch(&mut store, &vector_store_id, &batch_id)?;
    let vs = vector_store(&mut store, &vector_store_id)?;
    let rows = vs
        .files
        .ordered()
        .into_iter()
        .filter(|row| file_ids.iter().any(|id| row.object["id"] == id.as_str()))
        .filter(|row| {
            query
                .filter
                .as_ref()
                .is_none_or(|status| row.object["status"] == status.as_str())
        })
        .collect();
    ok(page(rows, &query.page)?)
}
