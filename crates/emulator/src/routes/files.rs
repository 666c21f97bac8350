//! `/files`: multipart upload (201 on Azure, 200 on OpenAI), list, retrieve,
//! delete and content.

use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::Deserialize;

use super::{Reply, ok};
use crate::error::EmulatorError;
use crate::gate::Flavour;
use crate::ids::new_id;
use crate::list::{ListQuery, page};
use crate::objects;
use crate::state::{State, StoredFile};

/// Purposes accepted for upload. `assistants_output` is only ever written by
/// the service itself.
const UPLOAD_PURPOSES: &[&str] = &[
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
];

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/files", web::get().to(list))
        .route("/files", web::post().to(upload))
        .route("/files/{file_id}", web::get().to(retrieve))
        .route("/files/{file_id}", web::delete().to(delete))
        .route("/files/{file_id}/content", web::get().to(content));
}

#[derive(Debug, Deserialize)]
struct FileListQuery {
    #[serde(flatten)]
    page: ListQuery,
    purpose: Option<String>,
}

async fn list(state: web::Data<State>, query: web::Query<FileListQuery>) -> Reply {
    let store = state.store();
    let mut rows: Vec<crate::state::Row> = store
        .files
        .values()
        .filter(|file| {
            query
                .purpose
                .as_ref()
                .is_none_or(|purpose| file.object["purpose"] == purpose.as_str())
        })
        .map(|file| crate::state::Row {
            seq: file.seq,
            object: file.object.clone(),
        })
        .collect();
    rows.sort_by_key(|row| row.seq);
    let limit_default = ListQuery {
        limit: query.page.limit.clone().or_else(|| Some("100".to_owned())),
        order: query.page.order.clone(),
        after: query.page.after.clone(),
        before: query.page.before.clone(),
    };
    ok(page(rows.iter().collect(), &limit_default)?)
}

async fn upload(
    state: web::Data<State>,
    flavour: web::Data<Flavour>,
    mut form: Multipart,
) -> Reply {
    let mut purpose = None;
    let mut file: Option<(String, BytesMut)> = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|error| {
            EmulatorError::bad_request(format!("Invalid multipart body: {error}"))
        })?;
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|disposition| disposition.get_filename())
            .map(str::to_owned);
        let mut data = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|error| {
                EmulatorError::bad_request(format!("Invalid multipart body: {error}"))
            })?;
            data.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "purpose" => purpose = Some(String::from_utf8_lossy(&data).into_owned()),
            "file" => file = Some((filename.unwrap_or_else(|| "upload".to_owned()), data)),
            _ => {}
        }
    }
    let purpose = purpose.ok_or_else(|| EmulatorError::missing("purpose"))?;
    if !UPLOAD_PURPOSES.contains(&purpose.as_str()) {
        return Err(EmulatorError::invalid_param(
            "purpose",
            format!("'{purpose}' is not one of {UPLOAD_PURPOSES:?} - 'purpose'"),
        ));
    }
    let (filename, data) = file.ok_or_else(|| EmulatorError::missing("file"))?;
    let id = new_id("file-");
    let object = objects::file(&id, &filename, &purpose, data.len());
    let mut store = state.store();
    let seq = store.next_seq();
    store.files.insert(
        id,
        StoredFile {
            seq,
            object: object.clone(),
            content: data.freeze(),
        },
    );
    Ok(match **flavour {
        Flavour::Azure => HttpResponse::Created().json(object),
        Flavour::OpenAi => HttpResponse::Ok().json(object),
    })
}

async fn retrieve(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let store = state.store();
    let file = store
        .files
        .get(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("file", &path))?;
    ok(file.object.clone())
}

async fn delete(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let mut store = state.store();
    store
        .files
        .remove(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("file", &path))?;
    ok(objects::deleted(&path, "file"))
}

async fn content(state: web::Data<State>, path: web::Path<String>) -> Reply {
    let store = state.store();
    let file = store
        .files
        .get(path.as_str())
        .ok_or_else(|| EmulatorError::not_found("file", &path))?;
    let content_type = if file.object["filename"]
        .as_str()
        .is_some_and(|name| name.ends_with(".png"))
    {
        "image/png"
    } else {
        "application/octet-stream"
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .body(file.content.clone()))
}
