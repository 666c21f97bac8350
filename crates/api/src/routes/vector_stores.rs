//! `/v1/vector_stores`: the caller's vector stores, their files and batches.
//! A user puts only files they may read into stores they own.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use domain::{Action, ResourceKind};
use serde::Deserialize;
use serde_json::Value;
use storage::repo::resources;
use upstream::{Operation, UpstreamRequest};
use utoipa::IntoParams;

use super::common::{ListParams, envelope, ok};
use super::files::requested_ownership;
use super::schemas::{
    DeletionStatus, FileBatchObject, FileBatchRequest, ListObject, SearchRequest,
    VectorStoreFileObject, VectorStoreFileRequest, VectorStoreObject, VectorStoreRequest,
};
use super::threads::object_body;
use crate::auth::Caller;
use crate::gateway::{Exchange, child_id, list_scope, owner_of_new};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    /// Only files in this state (`in_progress`, `completed`, `failed`, `cancelled`).
    pub filter: Option<String>,
}

fn with_filter(
    mut query: Vec<(String, String)>,
    filter: &StatusFilter,
) -> Result<Vec<(String, String)>, ApiError> {
    if let Some(status) = &filter.filter {
        if !matches!(
            status.as_str(),
            "in_progress" | "completed" | "failed" | "cancelled"
        ) {
            return Err(ApiError::bad_request("Invalid 'filter'.", Some("filter")));
        }
        query.push(("filter".to_owned(), status.clone()));
    }
    Ok(query)
}

/// Creates a vector store, optionally with files of the caller.
#[utoipa::path(
    tag = "Vector stores",
    request_body = VectorStoreRequest,
    params(("Threadgate-Owner" = Option<String>, Header, description = "`tenant` makes it the tenant's (admins only)")),
    responses((status = 200, body = VectorStoreObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/vector_stores")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    request: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let authorized = Exchange::new(&state, &caller, &request_id)
        .body(Operation::CreateVectorStore, &body)?
        .authorize_create(ResourceKind::VectorStore)
        .await?;
    let owner = owner_of_new(&caller, requested_ownership(&request)?)?;
    let (_, store) = authorized
        .create(
            ResourceKind::VectorStore,
            owner,
            Operation::CreateVectorStore,
            body,
            false,
        )
        .await?;
    Ok(ok(store))
}

/// Lists the caller's vector stores (or, with `Threadgate-Owner: tenant`, the tenant's).
#[utoipa::path(
    tag = "Vector stores",
    params(ListParams, ("Threadgate-Owner" = Option<String>, Header, description = "`tenant` lists the tenant's (admins only)")),
    responses((status = 200, body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/vector_stores")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    request: HttpRequest,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let authorized = Exchange::new(&state, &caller, &request_id)
        .cursor(ResourceKind::VectorStore, "after", params.after.as_deref())?
        .cursor(
            ResourceKind::VectorStore,
            "before",
            params.before.as_deref(),
        )?
        .authorize()
        .await?;
    let scope = list_scope(
        &caller,
        ResourceKind::VectorStore,
        requested_ownership(&request)?,
    )?;
    let page = params.page_query()?;
    let tenant_id = caller.tenant.id;
    let (listed, has_more) = state
        .database
        .run("vector_stores.list", move |conn| {
            resources::list(conn, tenant_id, scope, ResourceKind::VectorStore, &page)
        })
        .await?;
    let stores = authorized
        .fetch_listed(Operation::GetVectorStore, listed)
        .await?;
    Ok(ok(envelope(stores, has_more)))
}

/// Retrieves a vector store.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store")),
    responses((status = 200, body = VectorStoreObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/vector_stores/{vector_store_id}")]
pub async fn retrieve(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &path,
        Action::Read,
    );
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(Operation::GetVectorStore, &[&id]))
        .await?))
}

/// Changes a vector store's name, expiry or metadata.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store")),
    request_body = VectorStoreRequest,
    responses((status = 200, body = VectorStoreObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/vector_stores/{vector_store_id}")]
pub async fn modify(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::VectorStore, &path, Action::Update)
        .body(Operation::ModifyVectorStore, &body)?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(Operation::ModifyVectorStore, &[&id]).json(body))
        .await?))
}

/// Deletes a vector store.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store")),
    responses((status = 200, body = DeletionStatus), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[delete("/v1/vector_stores/{vector_store_id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &path,
        Action::Delete,
    );
    let (authorized, store, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .delete(&store, Operation::DeleteVectorStore, &[&id])
        .await?))
}

/// Searches a vector store.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store")),
    request_body = SearchRequest,
    responses((status = 200, description = "A page of results", body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/vector_stores/{vector_store_id}/search")]
pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::VectorStore, &path, Action::Read)
        .body(Operation::SearchVectorStore, &body)?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(Operation::SearchVectorStore, &[&id]).json(body))
        .await?))
}

/// Lists the files of a vector store.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ListParams, StatusFilter),
    responses((status = 200, body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/vector_stores/{vector_store_id}/files")]
pub async fn list_files(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    params: web::Query<ListParams>,
    filter: web::Query<StatusFilter>,
) -> Result<HttpResponse, ApiError> {
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &path,
        Action::Read,
    );
    let query = with_filter(params.upstream_query()?, &filter)?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    let ids = [&id];
    let mut request = UpstreamRequest::new(Operation::ListVectorStoreFiles, &ids);
    request.query = query;
    Ok(ok(authorized.forward(request).await?))
}

/// Adds one of the caller's files to a vector store of theirs.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store")),
    request_body = VectorStoreFileRequest,
    responses((status = 200, body = VectorStoreFileObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/vector_stores/{vector_store_id}/files")]
pub async fn add_file(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::VectorStore, &path, Action::Update)
        .body(Operation::CreateVectorStoreFile, &body)?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(Operation::CreateVectorStoreFile, &[&id]).json(body))
        .await?))
}

/// Retrieves a file of a vector store.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ("file_id" = String, Path, description = "The file")),
    responses((status = 200, body = VectorStoreFileObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/vector_stores/{vector_store_id}/files/{file_id}")]
pub async fn retrieve_file(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (store, file) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &store,
        Action::Read,
    );
    let file = child_id(&file, "file")?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(
            Operation::GetVectorStoreFile,
            &[&id, &file],
        ))
        .await?))
}

/// Changes the attributes of a file in a vector store.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ("file_id" = String, Path, description = "The file")),
    request_body = VectorStoreFileRequest,
    responses((status = 200, body = VectorStoreFileObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/vector_stores/{vector_store_id}/files/{file_id}")]
pub async fn update_file(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (store, file) = path.into_inner();
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::VectorStore, &store, Action::Update)
        .body(Operation::UpdateVectorStoreFileAttributes, &body)?;
    let file = child_id(&file, "file")?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(
            UpstreamRequest::new(Operation::UpdateVectorStoreFileAttributes, &[&id, &file])
                .json(body),
        )
        .await?))
}

/// Removes a file from a vector store (the file itself stays).
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ("file_id" = String, Path, description = "The file")),
    responses((status = 200, body = DeletionStatus), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[delete("/v1/vector_stores/{vector_store_id}/files/{file_id}")]
pub async fn remove_file(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (store, file) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &store,
        Action::Update,
    );
    let file = child_id(&file, "file")?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(
            Operation::DeleteVectorStoreFile,
            &[&id, &file],
        ))
        .await?))
}

/// The parsed content of a file in a vector store.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ("file_id" = String, Path, description = "The file")),
    responses((status = 200, description = "A page of the file's content", body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/vector_stores/{vector_store_id}/files/{file_id}/content")]
pub async fn file_content(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (store, file) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &store,
        Action::ReadContent,
    );
    let file = child_id(&file, "file")?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(
            Operation::GetVectorStoreFileContent,
            &[&id, &file],
        ))
        .await?))
}

/// Adds several of the caller's files to a vector store of theirs.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store")),
    request_body = FileBatchRequest,
    responses((status = 200, body = FileBatchObject), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/vector_stores/{vector_store_id}/file_batches")]
pub async fn create_batch(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = object_body(body.into_inner())?;
    let exchange = Exchange::new(&state, &caller, &request_id)
        .path(ResourceKind::VectorStore, &path, Action::Update)
        .body(Operation::CreateFileBatch, &body)?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(Operation::CreateFileBatch, &[&id]).json(body))
        .await?))
}

/// Retrieves a file batch.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ("batch_id" = String, Path, description = "The batch")),
    responses((status = 200, body = FileBatchObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}")]
pub async fn retrieve_batch(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (store, batch) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &store,
        Action::Read,
    );
    let batch = child_id(&batch, "file batch")?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(
            Operation::GetFileBatch,
            &[&id, &batch],
        ))
        .await?))
}

/// Cancels a file batch.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ("batch_id" = String, Path, description = "The batch")),
    responses((status = 200, body = FileBatchObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")]
pub async fn cancel_batch(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (store, batch) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &store,
        Action::Update,
    );
    let batch = child_id(&batch, "file batch")?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    Ok(ok(authorized
        .forward(UpstreamRequest::new(
            Operation::CancelFileBatch,
            &[&id, &batch],
        ))
        .await?))
}

/// Lists the files of a batch.
#[utoipa::path(
    tag = "Vector stores",
    params(("vector_store_id" = String, Path, description = "The vector store"), ("batch_id" = String, Path, description = "The batch"), ListParams, StatusFilter),
    responses((status = 200, body = ListObject), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/files")]
pub async fn list_batch_files(
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    path: web::Path<(String, String)>,
    params: web::Query<ListParams>,
    filter: web::Query<StatusFilter>,
) -> Result<HttpResponse, ApiError> {
    let (store, batch) = path.into_inner();
    let exchange = Exchange::new(&state, &caller, &request_id).path(
        ResourceKind::VectorStore,
        &store,
        Action::Read,
    );
    let batch = child_id(&batch, "file batch")?;
    let query = with_filter(params.upstream_query()?, &filter)?;
    let (authorized, _, id) = exchange.authorize_one().await?;
    let ids = [&id, &batch];
    let mut request = UpstreamRequest::new(Operation::ListFileBatchFiles, &ids);
    request.query = query;
    Ok(ok(authorized.forward(request).await?))
}
