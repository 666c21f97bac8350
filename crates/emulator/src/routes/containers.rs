//! `/containers`: code interpreter's sandboxes and their files. A response
//! whose code interpreter writes a file (`#output-file`) writes it here.

use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{Reply, ok};
use crate::error::EmulatorError;
use crate::ids::{new_id, now};
use crate::list::{ListQuery, page};
use crate::objects::{self, only_keys, parse_body};
use crate::state::{ContainerState, State, Store};

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/containers", web::post().to(create))
        .route("/containers", web::get().to(list))
        .route("/containers/{container_id}", web::get().to(retrieve))
        .route("/containers/{container_id}", web::delete().to(delete))
        .route(
            "/containers/{container_id}/files",
            web::post().to(create_file),
        )
        .route(
            "/containers/{container_id}/files",
            web::get().to(list_files),
        )
        .route(
            "/containers/{container_id}/files/{file_id}",
            web::get().to(retrieve_file),
        )
        .route(
            "/containers/{container_id}/files/{file_id}",
            web::delete().to(delete_file),
        )
        .route(
            "/containers/{container_id}/files/{file_id}/content",
            web::get().to(file_content),
        );
}

fn container<'a>(store: &'a mut Store, id: &str) -> Result<&'a mut ContainerState, EmulatorError> {
    store
        .containers
        .get_mut(id)
        .ok_or_else(|| EmulatorError::NotFound {
            message: format!("Container with id '{id}' not found."),
        })
}

/// A new container, with copies of `file_ids` (files of the store).
pub(crate) fn new_container(
    store: &mut Store,
    name: &str,
    file_ids: &[String],
) -> Result<String, EmulatorError> {
    let copies: Vec<(String, Bytes)> = file_ids
        .iter()
        .map(|file_id| {
            store
                .files
                .get(file_id)
                .map(|file| {
                    let filename = file.object["filename"]
                        .as_str()
                        .unwrap_or("file")
                        .to_owned();
                    (filename, file.content.clone())
                })
                .ok_or_else(|| EmulatorError::not_found("file", file_id))
        })
        .collect::<Result<_, _>>()?;
    let id = new_id("cntr_");
    let created_at = now();
    let seq = store.next_seq();
    store.containers.insert(
        id.clone(),
        ContainerState {
            seq,
            object: json!({
                "id": id,
                "object": "container",
                "created_at": created_at,
                "status": "running",
                "expires_after": {"anchor": "last_active_at", "minutes": 20},
                "last_active_at": created_at,
                "name": name,
            }),
            ..ContainerState::default()
        },
    );
    for (filename, content) in copies {
        write_file(store, &id, &filename, content, "user")?;
    }
    Ok(id)
}

/// Writes a file into a container; answers the file object.
pub(crate) fn write_file(
    store: &mut Store,
    container_id: &str,
    filename: &str,
    content: Bytes,
    source: &str,
) -> Result<Value, EmulatorError> {
    let seq = store.next_seq();
    let container = container(store, container_id)?;
    let id = new_id("cfile_");
    let object = json!({
        "id": id,
        "object": "container.file",
        "created_at": now(),
        "bytes": content.len(),
        "container_id": container_id,
        "path": format!("/mnt/data/{filename}"),
        "source": source,
    });
    container.files.insert(seq, &id, object.clone());
    container.contents.insert(id, content);
    Ok(object)
}

async fn create(state: web::Data<State>, body: Bytes) -> Reply {
    let body = parse_body(&body)?;
    only_keys(&body, &["name", "file_ids", "expires_after"])?;
    let name = objects::required_str(&body, "name")?.to_owned();
    let file_ids: Vec<String> = objects::optional_array(&body, "file_ids")?
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    let mut store = state.store();
    let id = new_container(&mut store, &name, &file_ids)?;
    ok(store.containers[&id].object.clone())
}

async fn list(state: web::Data<State>, query: web::Query<ListQuery>) -> Reply {
    let store = state.store();
    let mut rows: Vec<crate::state::Row> = store
        .containers
        .values()
        .map(|container| crate::state::Row {
            seq: container.seq,
            object: container.object.clone(),
        })
        .collect();
    rows.sort_by_key(|row| row.seq);
    ok(page(rows.iter().collect(), &query)?)
}

async fn retrieve(state: web::Data<State>, path: web::Path<String>) -> Reply {
    ok(container(&mut state.store(), &path)?.object.clone())
}

async fn delete(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    container(&mut store, &path)?;
    store.containers.remove(path.as_str());
    // The API answers a delete of a container, or of its file, with no body.
    Ok(HttpResponse::Ok().finish())
}

/// A file from one of the store's files (`{"file_id"}`) or uploaded
/// (multipart `file`).
async fn create_file(
    state: web::Data<State>,
    path: web::Path<String>,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> Reply {
    let is_multipart = request
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let (filename, content) = if is_multipart {
        let mut form = Multipart::new(request.headers(), payload);
        let mut upload = None;
        while let Some(field) = form.next().await {
            let mut field = field.map_err(|error| {
                EmulatorError::bad_request(format!("Invalid multipart body: {error}"))
            })?;
            let filename = field
                .content_disposition()
                .and_then(|disposition| disposition.get_filename())
                .unwrap_or("upload")
                .to_owned();
            let mut data = BytesMut::new();
            while let Some(chunk) = field.next().await {
                data.extend_from_slice(&chunk.map_err(|error| {
                    EmulatorError::bad_request(format!("Invalid multipart body: {error}"))
                })?);
            }
            if field.name() == Some("file") {
                upload = Some((filename, data.freeze()));
            }
        }
        upload.ok_or_else(|| EmulatorError::missing("file"))?
    } else {
        let raw = payload
            .to_bytes()
            .await
            .map_err(|error| EmulatorError::bad_request(error.to_string()))?;
        let body = parse_body(&raw)?;
        only_keys(&body, &["file_id"])?;
        let file_id = objects::required_str(&body, "file_id")?;
        let store = state.store();
        let file = store
            .files
            .get(file_id)
            .ok_or_else(|| EmulatorError::not_found("file", file_id))?;
        let filename = file.object["filename"]
            .as_str()
            .unwrap_or("file")
            .to_owned();
        (filename, file.content.clone())
    };
    let mut store = state.store();
    ok(write_file(&mut store, &path, &filename, content, "user")?)
}

async fn list_files(
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Reply {
    let mut store = state.store();
    ok(page(container(&mut store, &path)?.files.ordered(), &query)?)
}

fn file_not_found(id: &str) -> EmulatorError {
    EmulatorError::NotFound {
        message: format!("File with id '{id}' not found."),
    }
}

async fn retrieve_file(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (container_id, file_id) = path.into_inner();
    let mut store = state.store();
    let container = container(&mut store, &container_id)?;
    ok(container
        .files
        .get(&file_id)
        .cloned()
        .ok_or_else(|| file_not_found(&file_id))?)
}

async fn delete_file(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (container_id, file_id) = path.into_inner();
    let mut store = state.store();
    let container = container(&mut store, &container_id)?;
    if container.files.rows.remove(&file_id).is_none() {
        return Err(file_not_found(&file_id));
    }
    container.contents.remove(&file_id);
    Ok(HttpResponse::Ok().finish())
}

async fn file_content(state: web::Data<State>, path: web::Path<(String, String)>) -> Reply {
    let (container_id, file_id) = path.into_inner();
    let mut store = state.store();
    let container = container(&mut store, &container_id)?;
    let content = container
        .contents
        .get(&file_id)
        .cloned()
        .ok_or_else(|| file_not_found(&file_id))?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(content))
}
