//! Schemas for the OpenAPI document: the Assistants API's objects as
//! Threadgate answers them (OpenAI's shapes, field for field), and the
//! request bodies it reads. Threadgate's own envelopes refuse other fields;
//! the upstream's objects stay open to fields it may add, but a test
//! compares live answers with these schemas, extra fields refused, so the
//! document cannot drift from the wire.
//! Requests may carry every other field of the Assistants API: it passes
//! through unchanged.

#![allow(dead_code)] // documentation types: read by utoipa, never built

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `{"object": "list", "data", "first_id", "last_id", "has_more"}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListObject {
    /// Always `list`.
    pub object: String,
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    #[schema(required = true)]
    pub first_id: Option<String>,
    #[schema(required = true)]
    pub last_id: Option<String>,
    pub has_more: bool,
}

/// A tool an assistant or a run may use.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Tool {
    /// Runs code in a sandbox.
    #[schema(title = "CodeInterpreterTool")]
    CodeInterpreter,
    /// Searches the vector stores of the thread and the assistant.
    #[schema(title = "FileSearchTool")]
    FileSearch {
        #[serde(default)]
        file_search: Option<FileSearchSettings>,
    },
    /// A function the caller runs (the run waits with `requires_action`).
    #[schema(title = "FunctionTool")]
    Function { function: FunctionDefinition },
}

/// How `file_search` searches.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileSearchSettings {
    /// 1 to 50.
    pub max_num_results: Option<u32>,
    #[schema(value_type = Option<Object>)]
    pub ranking_options: Option<Value>,
}

/// A function the model may call.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunctionDefinition {
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema object.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
}

/// Files and vector stores the tools read. Ids must be the caller's (the
/// tenant's, for an assistant).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ToolResources {
    pub code_interpreter: Option<CodeInterpreterResources>,
    pub file_search: Option<FileSearchResources>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CodeInterpreterResources {
    pub file_ids: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileSearchResources {
    pub vector_store_ids: Vec<String>,
}

/// An assistant of the caller's tenant. Members see no knowledge ids in
/// its `tool_resources`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssistantObject {
    pub id: String,
    /// Always `assistant`.
    pub object: String,
    pub created_at: i64,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(required = true)]
    pub description: Option<String>,
    pub model: String,
    #[schema(required = true)]
    pub instructions: Option<String>,
    pub tools: Vec<Tool>,
    pub tool_resources: Option<ToolResources>,
    pub metadata: HashMap<String, String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub response_format: ResponseFormat,
}

/// A thread of the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ThreadObject {
    pub id: String,
    /// Always `thread`.
    pub object: String,
    pub created_at: i64,
    #[schema(required = true)]
    pub tool_resources: Option<ToolResources>,
    pub metadata: HashMap<String, String>,
}

/// A part of a message's content, as the API answers it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    #[schema(title = "TextContentPart")]
    Text { text: TextContent },
    #[schema(title = "ImageFileContentPart")]
    ImageFile { image_file: ImageFile },
    #[schema(title = "ImageUrlContentPart")]
    ImageUrl { image_url: ImageUrl },
    #[schema(title = "RefusalContentPart")]
    Refusal { refusal: String },
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TextContent {
    pub value: String,
    /// File citations and file paths in `value`.
    #[schema(value_type = Vec<Object>)]
    pub annotations: Vec<Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImageFile {
    /// One of the caller's files.
    pub file_id: String,
    /// `auto`, `low` or `high`.
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImageUrl {
    pub url: String,
    /// `auto`, `low` or `high`.
    pub detail: Option<String>,
}

/// A file attached to a message, and the tools it is for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    /// One of the caller's files.
    pub file_id: String,
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Value>,
}

/// Why a message or a run ended before it was complete.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IncompleteDetails {
    pub reason: String,
}

/// A message of one of the caller's threads.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageObject {
    pub id: String,
    /// Always `thread.message`.
    pub object: String,
    pub created_at: i64,
    pub thread_id: String,
    /// `in_progress`, `incomplete` or `completed`.
    pub status: String,
    #[schema(required = true)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[schema(required = true)]
    pub completed_at: Option<i64>,
    #[schema(required = true)]
    pub incomplete_at: Option<i64>,
    /// `user` or `assistant`.
    pub role: String,
    pub content: Vec<MessageContent>,
    #[schema(required = true)]
    pub assistant_id: Option<String>,
    #[schema(required = true)]
    pub run_id: Option<String>,
    #[schema(required = true)]
    pub attachments: Option<Vec<Attachment>>,
    pub metadata: HashMap<String, String>,
}

/// Tokens a run or a step used; `null` until it is final.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// What went wrong with a run or a step.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LastError {
    /// `server_error`, `rate_limit_exceeded` or `invalid_prompt`.
    pub code: String,
    pub message: String,
}

/// The tool calls a run waits for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequiredAction {
    /// Always `submit_tool_outputs`.
    #[serde(rename = "type")]
    pub kind: String,
    pub submit_tool_outputs: RequiredToolOutputs,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequiredToolOutputs {
    pub tool_calls: Vec<RequiredToolCall>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequiredToolCall {
    /// Answer with it in `tool_outputs`.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text.
    pub arguments: String,
}

/// How much of the thread a run reads.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TruncationStrategy {
    /// `auto` or `last_messages`.
    #[serde(rename = "type")]
    pub kind: String,
    pub last_messages: Option<u32>,
}

/// How the model formats its answer: `auto`, or a format.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ResponseFormat {
    /// `auto`.
    Auto(String),
    Format(ResponseFormatObject),
}

/// `{"type": "text" | "json_object"}`, or `{"type": "json_schema", "json_schema"}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResponseFormatObject {
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
}

/// Which tool the model must use: `none`, `auto`, `required`, or a named tool.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(String),
    Named(NamedToolChoice),
}

/// `{"type": "function", "function": {"name"}}`, or `{"type": "file_search"}`, ...
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamedToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: Option<NamedFunction>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamedFunction {
    pub name: String,
}

/// A run on one of the caller's threads.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunObject {
    pub id: String,
    /// Always `thread.run`.
    pub object: String,
    pub created_at: i64,
    pub thread_id: String,
    pub assistant_id: String,
    /// `queued`, `in_progress`, `requires_action`, `cancelling`,
    /// `cancelled`, `failed`, `completed`, `incomplete` or `expired`.
    pub status: String,
    #[schema(required = true)]
    pub required_action: Option<RequiredAction>,
    #[schema(required = true)]
    pub last_error: Option<LastError>,
    #[schema(required = true)]
    pub expires_at: Option<i64>,
    #[schema(required = true)]
    pub started_at: Option<i64>,
    #[schema(required = true)]
    pub cancelled_at: Option<i64>,
    #[schema(required = true)]
    pub failed_at: Option<i64>,
    #[schema(required = true)]
    pub completed_at: Option<i64>,
    #[schema(required = true)]
    pub incomplete_details: Option<IncompleteDetails>,
    pub model: String,
    #[schema(required = true)]
    pub instructions: Option<String>,
    pub tools: Vec<Tool>,
    pub metadata: HashMap<String, String>,
    #[schema(required = true)]
    pub usage: Option<Usage>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    #[schema(required = true)]
    pub max_prompt_tokens: Option<u32>,
    #[schema(required = true)]
    pub max_completion_tokens: Option<u32>,
    pub truncation_strategy: TruncationStrategy,
    pub tool_choice: ToolChoice,
    pub parallel_tool_calls: bool,
    pub response_format: ResponseFormat,
}

/// A step of a run: `thread.run.step` on `/v1`, `assistant.run.step` on
/// `/openai` (each specification's name).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunStepObject {
    pub id: String,
    pub object: String,
    pub created_at: i64,
    pub assistant_id: String,
    pub thread_id: String,
    pub run_id: String,
    /// `message_creation` or `tool_calls`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `in_progress`, `cancelled`, `failed`, `completed` or `expired`.
    pub status: String,
    /// `{"type": "message_creation", "message_creation": {"message_id"}}`
    /// or `{"type": "tool_calls", "tool_calls": [...]}`.
    #[schema(value_type = Object)]
    pub step_details: Value,
    #[schema(required = true)]
    pub last_error: Option<LastError>,
    #[schema(required = true)]
    pub expired_at: Option<i64>,
    #[schema(required = true)]
    pub cancelled_at: Option<i64>,
    #[schema(required = true)]
    pub failed_at: Option<i64>,
    #[schema(required = true)]
    pub completed_at: Option<i64>,
    pub metadata: HashMap<String, String>,
    #[schema(required = true)]
    pub usage: Option<Usage>,
}

/// The answer to a delete.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletionStatus {
    pub id: String,
    /// `thread.deleted`, `assistant.deleted`, `file`, `vector_store.deleted`, ...
    pub object: String,
    pub deleted: bool,
}

/// A message to add: `content` is a string or an array of parts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateMessageRequest {
    /// `user` or `assistant`.
    pub role: String,
    pub content: MessageInput,
    /// Files (the caller's) and the tools they are for.
    pub attachments: Option<Vec<Attachment>>,
    pub metadata: Option<HashMap<String, String>>,
}

/// A message's content as sent: plain text, or parts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MessageInput {
    Text(String),
    Parts(Vec<MessageInputPart>),
}

/// A part of a message's content as sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageInputPart {
    #[schema(title = "TextInputPart")]
    Text { text: String },
    #[schema(title = "ImageFileInputPart")]
    ImageFile { image_file: ImageFile },
    #[schema(title = "ImageUrlInputPart")]
    ImageUrl { image_url: ImageUrl },
}

/// Creates a thread. File and vector store ids must be the caller's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateThreadRequest {
    pub messages: Option<Vec<CreateMessageRequest>>,
    pub tool_resources: Option<ThreadToolResourcesRequest>,
    /// Up to 16 pairs; keys starting with `threadgate_` are reserved.
    pub metadata: Option<HashMap<String, String>>,
}

/// Tool resources of a new thread: the caller's files and vector stores,
/// or (`vector_stores`) new vector stores made of the caller's files.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ThreadToolResourcesRequest {
    pub code_interpreter: Option<CodeInterpreterResources>,
    #[schema(value_type = Option<Object>)]
    pub file_search: Option<Value>,
}

/// Changes metadata (and, for threads, tool resources).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModifyRequest {
    pub metadata: Option<HashMap<String, String>>,
    pub tool_resources: Option<ToolResources>,
}

/// Starts a run of one of the tenant's assistants.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateRunRequest {
    pub assistant_id: String,
    pub model: Option<String>,
    /// Replaces the assistant's instructions for this run.
    pub instructions: Option<String>,
    /// Added to the assistant's instructions for this run.
    pub additional_instructions: Option<String>,
    pub additional_messages: Option<Vec<CreateMessageRequest>>,
    pub tools: Option<Vec<Tool>>,
    pub metadata: Option<HashMap<String, String>>,
    /// With `true` the answer is a stream of server-sent events.
    pub stream: Option<bool>,
}

/// Creates a thread and starts a run on it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateThreadAndRunRequest {
    pub assistant_id: String,
    pub thread: Option<CreateThreadRequest>,
    pub model: Option<String>,
    pub instructions: Option<String>,
    pub tools: Option<Vec<Tool>>,
    pub metadata: Option<HashMap<String, String>>,
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
    pub expires_at: Option<i64>,
    pub filename: String,
    pub purpose: String,
    /// `uploaded`, `processed` or `error`.
    pub status: String,
    pub status_details: Option<String>,
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

/// Files of a vector store or a batch, by status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileCounts {
    pub in_progress: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub total: i64,
}

/// When a vector store expires.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExpiresAfter {
    /// Always `last_active_at`.
    pub anchor: String,
    pub days: u32,
}

/// A vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VectorStoreObject {
    pub id: String,
    /// Always `vector_store`.
    pub object: String,
    pub created_at: i64,
    pub name: String,
    pub usage_bytes: i64,
    /// Azure's name for `usage_bytes`, sent by Azure upstreams.
    pub bytes: Option<i64>,
    pub file_counts: FileCounts,
    /// `expired`, `in_progress` or `completed`.
    pub status: String,
    pub expires_after: Option<ExpiresAfter>,
    pub expires_at: Option<i64>,
    #[schema(required = true)]
    pub last_active_at: Option<i64>,
    pub metadata: HashMap<String, String>,
}

/// A file in a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VectorStoreFileObject {
    /// The file's id.
    pub id: String,
    /// Always `vector_store.file`.
    pub object: String,
    pub usage_bytes: i64,
    pub created_at: i64,
    pub vector_store_id: String,
    /// `in_progress`, `completed`, `cancelled` or `failed`.
    pub status: String,
    #[schema(required = true)]
    pub last_error: Option<LastError>,
    #[schema(value_type = Option<Object>)]
    pub chunking_strategy: Option<Value>,
    /// Up to 16 pairs of strings, numbers or booleans, for search filters.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// A batch of files added to a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileBatchObject {
    pub id: String,
    /// Always `vector_store.files_batch`.
    pub object: String,
    pub created_at: i64,
    pub vector_store_id: String,
    /// `in_progress`, `completed`, `cancelled` or `failed`.
    pub status: String,
    pub file_counts: FileCounts,
}

/// Creates or changes a vector store; `file_ids` must be files the caller may read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VectorStoreRequest {
    pub name: Option<String>,
    pub file_ids: Option<Vec<String>>,
    pub expires_after: Option<ExpiresAfter>,
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

/// A page of search results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResultsPage {
    /// Always `vector_store.search_results.page`.
    pub object: String,
    pub search_query: Vec<String>,
    pub data: Vec<SearchResult>,
    pub has_more: bool,
    #[schema(required = true)]
    pub next_page: Option<String>,
}

/// A file that matched a search, with the matching text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResult {
    pub file_id: String,
    pub filename: String,
    pub score: f64,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    pub content: Vec<TextChunk>,
}

/// `{"type": "text", "text"}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TextChunk {
    /// Always `text`.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
}

/// The parsed content of a file in a vector store.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FileContentPage {
    /// Always `vector_store.file_content.page`.
    pub object: String,
    pub data: Vec<TextChunk>,
    pub has_more: bool,
    #[schema(required = true)]
    pub next_page: Option<String>,
}

/// Creates or changes an assistant of the tenant (admins only); files and
/// vector stores in `tool_resources` must be the tenant's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssistantRequest {
    pub model: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub instructions: Option<String>,
    pub tools: Option<Vec<Tool>>,
    #[schema(value_type = Option<Object>)]
    pub tool_resources: Option<Value>,
    pub metadata: Option<HashMap<String, String>>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
}

/// A model of the caller's upstream.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelObject {
    /// The name to use as `model`.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// When the model was made (Unix seconds); `created_at` on `/openai`.
    pub created: i64,
    /// `system` for the provider's own models.
    pub owned_by: String,
}

/// `{"object": "list", "data"}`: every model at once, no cursor.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    pub data: Vec<ModelObject>,
}

/// A conversation of the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationObject {
    pub id: String,
    /// Always `conversation`.
    pub object: String,
    pub created_at: i64,
    pub metadata: HashMap<String, String>,
}

/// Creates a conversation, with up to 20 first items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateConversationRequest {
    pub items: Option<Vec<InputItem>>,
    /// Up to 16 pairs; keys starting with `threadgate_` are reserved.
    pub metadata: Option<HashMap<String, String>>,
}

/// Changes a conversation's metadata.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpdateConversationRequest {
    pub metadata: HashMap<String, String>,
}

/// Adds up to 20 items to a conversation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateConversationItemsRequest {
    pub items: Vec<InputItem>,
}

/// An item as sent: a message (`{role, content}`; content a string or
/// `input_text`, `input_image`, `input_file` parts whose files are the
/// caller's), a `function_call`, or a `function_call_output`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InputItem {
    /// `message` (the default), `function_call` or `function_call_output`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A message's: `user`, `assistant`, `system` or `developer`.
    pub role: Option<String>,
    /// A message's: a string, or an array of parts.
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// A function call's, or its output's.
    pub call_id: Option<String>,
    /// A function call output's: a string, or an array of parts.
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
}

/// An item of a conversation or of a response's input or output, as
/// answered: it always has an `id` and a `type`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationItem {
    pub id: String,
    /// `message`, `function_call`, `function_call_output`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `in_progress`, `completed` or `incomplete`.
    pub status: Option<String>,
    pub role: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub content: Option<Vec<Value>>,
    pub call_id: Option<String>,
    pub name: Option<String>,
    pub arguments: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
}

/// Creates a response. `previous_response_id` and `conversation` must be
/// the caller's (and exclude each other); files and vector stores named in
/// `input` and `tools` must be the caller's. Item references, containers
/// named by id, `prompt` and tools beyond `function`, `file_search`,
/// `code_interpreter`, `web_search` and `image_generation` are refused.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateResponseRequest {
    pub model: Option<String>,
    /// A string, or an array of input items.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    pub instructions: Option<String>,
    pub previous_response_id: Option<String>,
    /// A conversation id, or `{"id"}`.
    #[schema(value_type = Option<Object>)]
    pub conversation: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<Value>>,
    /// `false`: nothing is kept, upstream or here.
    pub store: Option<bool>,
    /// With `true` the answer is a stream of server-sent events.
    pub stream: Option<bool>,
    /// With `true` the response runs on after the answer; retrieve or cancel it.
    pub background: Option<bool>,
    pub metadata: Option<HashMap<String, String>>,
}

/// A response of the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResponseObject {
    pub id: String,
    /// Always `response`.
    pub object: String,
    pub created_at: i64,
    /// `queued`, `in_progress`, `completed`, `failed`, `cancelled` or `incomplete`.
    pub status: String,
    pub model: String,
    pub output: Vec<ConversationItem>,
    pub previous_response_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub conversation: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    pub background: Option<bool>,
    pub store: Option<bool>,
    pub metadata: HashMap<String, String>,
}

/// A compacted history: `{"id", "object": "response.compaction", "output",
/// "created_at", "usage"}`; pass its output as the next response's input.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CompactionObject {
    pub id: String,
    pub object: String,
    pub output: Vec<ConversationItem>,
    pub created_at: i64,
    #[schema(value_type = Object)]
    pub usage: Value,
}

/// `{"object": "response.input_tokens", "input_tokens"}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InputTokenCount {
    pub object: String,
    pub input_tokens: i64,
}

/// A container of the caller: code interpreter's sandbox.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContainerObject {
    pub id: String,
    /// Always `container`.
    pub object: String,
    pub created_at: i64,
    /// `running` or `expired`.
    pub status: String,
    pub name: String,
    #[schema(value_type = Option<Object>)]
    pub expires_after: Option<Value>,
    pub last_active_at: Option<i64>,
}

/// A file in a container: copied in, or written by code interpreter.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContainerFileObject {
    pub id: String,
    /// Always `container.file`.
    pub object: String,
    pub created_at: i64,
    pub bytes: Option<i64>,
    pub container_id: String,
    /// Where it is inside the container, e.g. `/mnt/data/chart.png`.
    pub path: String,
    /// `user` or `assistant`.
    pub source: String,
}

/// Creates a container; `file_ids` must be the caller's files.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateContainerRequest {
    pub name: String,
    pub file_ids: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub expires_after: Option<Value>,
}

/// Copies one of the caller's files into a container.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateContainerFileRequest {
    pub file_id: String,
}

/// One server-sent event of a streamed run (`"stream": true`): `event`
/// names it (`thread.run.created`, `thread.message.delta`, `error`, `done`,
/// ...), `data` is its JSON object (`[DONE]` for `done`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    pub event: String,
    pub data: String,
}
