//! Schemas for the OpenAPI document. Requests and answers are the Assistants
//! API's own; these types name their main fields. Every other field of the
//! Assistants API passes through unchanged.

#![allow(dead_code)] // documentation types: read by utoipa, never built

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `{"object": "list", "data", "first_id", "last_id", "has_more"}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListObject {
    /// Always `list`.
    pub object: String,
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    pub has_more: bool,
}

/// An assistant of the caller's tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssistantObject {
    pub id: String,
    /// Always `assistant`.
    pub object: String,
    pub created_at: i64,
    pub model: String,
}

/// A thread of the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ThreadObject {
    pub id: String,
    /// Always `thread`.
    pub object: String,
    pub created_at: i64,
    pub metadata: HashMap<String, String>,
}

/// A message of one of the caller's threads.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageObject {
    pub id: String,
    /// Always `thread.message`.
    pub object: String,
    pub thread_id: String,
    pub role: String,
    #[schema(value_type = Vec<Object>)]
    pub content: Vec<Value>,
}

/// A run on one of the caller's threads.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunObject {
    pub id: String,
    /// Always `thread.run`.
    pub object: String,
    pub thread_id: String,
    pub assistant_id: String,
    pub status: String,
}

/// A step of a run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunStepObject {
    pub id: String,
    pub object: String,
    pub run_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
}

/// The answer to a delete.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionStatus {
    pub id: String,
    pub object: String,
    pub deleted: bool,
}

/// Creates a thread. File and vector store ids must be the caller's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateThreadRequest {
    pub messages: Option<Vec<CreateMessageRequest>>,
    #[schema(value_type = Option<Object>)]
    pub tool_resources: Option<Value>,
    /// Up to 16 pairs; keys starting with `threadgate_` are reserved.
    pub metadata: Option<HashMap<String, String>>,
}

/// Changes metadata (and, for threads, tool resources).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModifyRequest {
    pub metadata: Option<HashMap<String, String>>,
    #[schema(value_type = Option<Object>)]
    pub tool_resources: Option<Value>,
}

/// Adds a message. Attached and shown files must be the caller's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateMessageRequest {
    /// `user` or `assistant`.
    pub role: String,
    /// A string, or an array of `text`, `image_file` and `image_url` parts.
    #[schema(value_type = Object)]
    pub content: Value,
    #[schema(value_type = Option<Vec<Object>>)]
    pub attachments: Option<Vec<Value>>,
    pub metadata: Option<HashMap<String, String>>,
}

/// Starts a run of one of the tenant's assistants.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateRunRequest {
    pub assistant_id: String,
    /// With `true` the answer is a stream of server-sent events.
    pub stream: Option<bool>,
    pub additional_messages: Option<Vec<CreateMessageRequest>>,
}

/// Creates a thread and starts a run on it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateThreadAndRunRequest {
    pub assistant_id: String,
    pub thread: Option<CreateThreadRequest>,
    pub stream: Option<bool>,
}

/// Outputs of the tool calls a run waits for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitToolOutputsRequest {
    pub tool_outputs: Vec<ToolOutput>,
    pub stream: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ToolOutput {
    pub tool_call_id: String,
    pub output: String,
}

/// A file.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileObject {
    pub id: String,
    /// Always `file`.
    pub object: String,
    pub bytes: i64,
    pub created_at: i64,
    pub filename: String,
    pub purpose: String,
}

/// A multipart upload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadFileRequest {
    /// `assistants`, `vision` or `user_data`; sent before `file`.
    pub purpose: String,
    /// The file's content.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VectorStoreObject {
    pub id: String,
    /// Always `vector_store`.
    pub object: String,
    pub created_at: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub file_counts: Value,
}

/// A file in a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VectorStoreFileObject {
    pub id: String,
    /// Always `vector_store.file`.
    pub object: String,
    pub vector_store_id: String,
    pub status: String,
}

/// A batch of files added to a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileBatchObject {
    pub id: String,
    /// Always `vector_store.files_batch`.
    pub object: String,
    pub vector_store_id: String,
    pub status: String,
}

/// Creates or changes a vector store; `file_ids` must be files the caller may read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VectorStoreRequest {
    pub name: Option<String>,
    pub file_ids: Option<Vec<String>>,
    pub metadata: Option<HashMap<String, String>>,
}

/// Adds one file (the caller's) to a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VectorStoreFileRequest {
    pub file_id: String,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// Adds files (the caller's) to a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileBatchRequest {
    pub file_ids: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub files: Option<Vec<Value>>,
}

/// Searches a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchRequest {
    /// A string, or several.
    #[schema(value_type = Object)]
    pub query: Value,
    pub max_num_results: Option<u32>,
}

/// Creates or changes an assistant of the tenant (admins only); files and
/// vector stores in `tool_resources` must be the tenant's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssistantRequest {
    pub model: Option<String>,
    pub name: Option<String>,
    pub instructions: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<Value>>,
    #[schema(value_type = Option<Object>)]
    pub tool_resources: Option<Value>,
    pub metadata: Option<HashMap<String, String>>,
}

/// One server-sent event of a streamed run (`"stream": true`): `event`
/// names it (`thread.run.created`, `thread.message.delta`, `error`, `done`,
/// ...), `data` is its JSON object (`[DONE]` for `done`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    pub event: String,
    pub data: String,
}
