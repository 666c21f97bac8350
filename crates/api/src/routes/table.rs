//! The operation table: every `/v1` route is one row of [`ROUTES`]. The
//! router ([`super::configure`]), the OpenAPI document ([`super::document`])
//! and the authorization matrix test all read it, so nothing is served that
//! is not documented and tried by intruders, and nothing is documented that
//! is not served.
//!
//! A row says which ids the route names and what may be done with them: the
//! object in its path and the action on it (`on`), the children it
//! addresses below that object (the path's further parameters, which need
//! only be well-formed), the kind whose list cursors it takes, and what it
//! creates. The ids a body names are declared per upstream operation in
//! [`crate::gateway::references`], whose match has no default, so a row
//! with a new operation does not compile until its body is declared.

use domain::{Action, ResourceKind};
use upstream::Operation;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    pub fn method(self) -> actix_web::http::Method {
        match self {
            Self::Get => actix_web::http::Method::GET,
            Self::Post => actix_web::http::Method::POST,
            Self::Delete => actix_web::http::Method::DELETE,
        }
    }
}

/// One `/v1` route.
#[derive(Debug)]
pub struct Route {
    pub verb: Verb,
    /// Below `/v1`, in the upstream's template syntax; its parameters, in
    /// order, are the object and then its children.
    pub path: &'static str,
    /// OpenAI's own operation id where OpenAI has the operation.
    pub operation_id: &'static str,
    pub serves: Serves,
    pub query: Query,
    pub body: Body,
    pub doc: Doc,
}

/// What a route does once its caller is known.
#[derive(Debug)]
pub enum Serves {
    /// The path's object is authorized for `action`, the body's ids for
    /// `operation`, and the operation is forwarded.
    Forward {
        operation: Operation,
        on: (ResourceKind, Action),
        answer: Answer,
    },
    /// A new object of `kind` is created for the owner `owner` names, the
    /// lifecycle's way (pending row, upstream create, active row).
    Create {
        operation: Operation,
        kind: ResourceKind,
        owner: NewOwner,
    },
    /// The path's object is deleted: hidden at once, then deleted upstream.
    Delete {
        operation: Operation,
        kind: ResourceKind,
    },
    /// A page of Threadgate's own records of `kind` (the upstream's list
    /// would show every tenant's objects).
    List {
        kind: ResourceKind,
        owner: WhoseList,
        objects: Listed,
    },
    /// An operation on no stored object of its own (the upstream's models,
    /// a count of input tokens): any caller of the tenant may ask; ids its
    /// body names are authorized as everywhere.
    Stateless { operation: Operation },
    /// A route whose work is its own; its handler still takes every grant
    /// from the gateway.
    Special(Special),
}

/// What happens to a forwarded answer before the caller gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Passed on as it is.
    AsIs,
    /// About a thread: what the upstream made in it (files of code
    /// interpreter, the thread's own store for attachments, usage of
    /// finished runs) is recorded for the thread's owner.
    Recorded,
    /// A run: as [`Answer::Recorded`], or, with `"stream": true` in the
    /// body, the run's events passed through as they come.
    RunOrStream,
    /// An assistant: knowledge ids hidden from members; vector stores its
    /// `vector_stores` helper made recorded as the tenant's.
    Assistant,
    /// Bytes (a file's content), streamed through with the upstream's type
    /// and length.
    Bytes,
    /// A response: its usage and the containers its code interpreter made
    /// are recorded for its owner (a background response finishes after
    /// its create's answer).
    Response,
}

/// Whose a new object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewOwner {
    /// The caller's.
    Caller,
    /// The caller's, or the tenant's with `Threadgate-Owner: tenant`.
    AsHeaderSays,
    /// The tenant's (admins create them).
    Tenant,
}

/// Whose objects a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhoseList {
    /// What the caller may see of the kind.
    Callers,
    /// As [`WhoseList::Callers`], or the tenant's with `Threadgate-Owner: tenant`.
    AsHeaderSays,
}

/// Where a listed object's body comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Fetched from the upstream by id, a few at a time.
    Fetched(Operation),
    /// The attributes Threadgate stored when it was made (files do not change).
    Stored,
    /// The attributes Threadgate keeps current: stored when it was made and
    /// replaced by the answer to every change made through Threadgate (the
    /// only way such an object changes: a thread's or a conversation's
    /// metadata and tool resources); fetched with this operation only for a
    /// row that has none (made before attributes were kept).
    Kept(Operation),
}

/// The routes with a handler of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Multipart, streamed to the upstream as it arrives.
    Upload,
    /// Creates a thread and a run in one; the thread is the caller's.
    CreateThreadAndRun,
    /// Creates a response: the caller's when stored, recorded from the
    /// answer or, streamed, from its `response.created` event; with
    /// `store: false` nothing is recorded.
    CreateResponse,
}

/// The query parameters a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    None,
    /// `limit`, `order`, `after`, `before`.
    Page,
    /// A page and one filter.
    PageAnd(Filter),
    /// `stream`, `starting_after`: a background response's events.
    Resume,
}

/// A list filter beside the page parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `run_id`: the messages of one run.
    RunId,
    /// `filter`: vector store files in one state.
    Status,
    /// `purpose`: files of one purpose.
    Purpose,
    /// `shared`: what other users shared with the caller instead of their own.
    Shared,
}

/// The request body a route takes, by its schema's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Json(&'static str),
    Multipart(&'static str),
}

/// What the OpenAPI document says of a route beyond what the row implies.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub tag: &'static str,
    pub summary: &'static str,
    /// The success answer's schema (`None`: raw bytes).
    pub answer: Option<&'static str>,
    /// When the success answer needs more words than its schema's name.
    pub answer_says: Option<&'static str>,
    /// For a list: the schema of its `data` items.
    pub items: Option<&'static str>,
    /// An example body (JSON), for the interactive reference.
    pub example: Option<&'static str>,
    /// Failure statuses beside 401 (documented for all), with what they
    /// mean here when that needs saying; empty for the usual ones (400
    /// where the route reads a body or a query, 404 where it names an id).
    pub errors: &'static [(u16, Option<&'static str>)],
    /// How `Threadgate-Owner` changes the route, when it does.
    pub owner_header: Option<&'static str>,
    /// The success answer has no body at all (some deletes).
    pub empty: bool,
}

impl Route {
    /// The path as served.
    pub fn public_path(&self) -> String {
        format!("/v1{}", self.path)
    }

    /// The names of the path's parameters, in order.
    pub fn parameters(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
    }

    /// The upstream operation the route performs, if one.
    pub fn operation(&self) -> Option<Operation> {
        match self.serves {
            Serves::Forward { operation, .. }
            | Serves::Create { operation, .. }
            | Serves::Delete { operation, .. }
            | Serves::Stateless { operation } => Some(operation),
            Serves::List { .. } => None,
            Serves::Special(Special::Upload) => Some(Operation::UploadFile),
            Serves::Special(Special::CreateThreadAndRun) => Some(Operation::CreateThreadAndRun),
            Serves::Special(Special::CreateResponse) => Some(Operation::CreateResponse),
        }
    }

    /// Whether `"stream": true` makes the answer a `text/event-stream`.
    pub fn streams(&self) -> bool {
        self.query == Query::Resume
            || matches!(
                self.serves,
                Serves::Forward {
                    answer: RunOrStream,
                    ..
                } | Serves::Special(Special::CreateThreadAndRun | Special::CreateResponse)
            )
    }

    /// Whether the route names an existing object at all (an upload makes
    /// one from bytes; the model list names none).
    pub fn names_an_object(&self) -> bool {
        match self.serves {
            Serves::Special(Special::Upload) => false,
            // A stateless route names objects only in its body, if it has one.
            Serves::Stateless { .. } => self.body != Body::None,
            _ => true,
        }
    }
}

/// The noun of a child the path names below its object, as the upstream
/// words its not-found answer.
pub fn child_noun(parameter: &str) -> &'static str {
    match parameter {
        "message_id" => "message",
        "run_id" => "run",
        "step_id" => "run step",
        "file_id" => "file",
        "batch_id" => "file batch",
        "item_id" => "item",
        other => unreachable!("no route names a child called {other}"),
    }
}

/// Building rows: a verb, a path and what it serves, then what differs
/// from a route that takes no query and no body.
impl Route {
    const fn new(
        verb: Verb,
        path: &'static str,
        operation_id: &'static str,
        serves: Serves,
    ) -> Self {
        Self {
            verb,
            path,
            operation_id,
            serves,
            query: Query::None,
            body: Body::None,
            doc: Doc {
                tag: "",
                summary: "",
                answer: None,
                answer_says: None,
                items: None,
                example: None,
                errors: &[],
                owner_header: None,
                empty: false,
            },
        }
    }

    /// Tagged and summed up, answering `answer` (a schema's name).
    const fn doc(mut self, tag: &'static str, summary: &'static str, answer: &'static str) -> Self {
        self.doc.tag = tag;
        self.doc.summary = summary;
        self.doc.answer = Some(answer);
        self
    }

    /// Tagged and summed up, answering raw bytes.
    /// A background response's events may be resumed (`stream`, `starting_after`).
    const fn resume(mut self) -> Self {
        self.query = Query::Resume;
        self
    }

    /// A route whose success answer has no body, as the upstream's.
    const fn nothing(mut self, tag: &'static str, summary: &'static str) -> Self {
        self.doc.tag = tag;
        self.doc.summary = summary;
        self.doc.answer = None;
        self.doc.empty = true;
        self
    }

    const fn bytes(mut self, tag: &'static str, summary: &'static str) -> Self {
        self.doc.tag = tag;
        self.doc.summary = summary;
        self.doc.answer = None;
        self
    }

    /// An example body (JSON text).
    const fn example(mut self, json: &'static str) -> Self {
        self.doc.example = Some(json);
        self
    }

    /// A list of `item`s (a schema's name).
    const fn of(mut self, item: &'static str) -> Self {
        self.doc.items = Some(item);
        self
    }

    const fn page(mut self) -> Self {
        self.query = Query::Page;
        self
    }

    const fn page_and(mut self, filter: Filter) -> Self {
        self.query = Query::PageAnd(filter);
        self
    }

    const fn json(mut self, schema: &'static str) -> Self {
        self.body = Body::Json(schema);
        self
    }

    const fn multipart(mut self, schema: &'static str) -> Self {
        self.body = Body::Multipart(schema);
        self
    }

    const fn says(mut self, answer: &'static str) -> Self {
        self.doc.answer_says = Some(answer);
        self
    }

    const fn errors(mut self, errors: &'static [(u16, Option<&'static str>)]) -> Self {
        self.doc.errors = errors;
        self
    }

    const fn owner_header(mut self, says: &'static str) -> Self {
        self.doc.owner_header = Some(says);
        self
    }
}

const fn get(path: &'static str, operation_id: &'static str, serves: Serves) -> Route {
    Route::new(Verb::Get, path, operation_id, serves)
}

const fn post(path: &'static str, operation_id: &'static str, serves: Serves) -> Route {
    Route::new(Verb::Post, path, operation_id, serves)
}

const fn delete(path: &'static str, operation_id: &'static str, serves: Serves) -> Route {
    Route::new(Verb::Delete, path, operation_id, serves)
}

const fn forward(operation: Operation, on: ResourceKind, action: Action, answer: Answer) -> Serves {
    Serves::Forward {
        operation,
        on: (on, action),
        answer,
    }
}

const fn create(operation: Operation, kind: ResourceKind, owner: NewOwner) -> Serves {
    Serves::Create {
        operation,
        kind,
        owner,
    }
}

const fn remove(operation: Operation, kind: ResourceKind) -> Serves {
    Serves::Delete { operation, kind }
}

const fn list(kind: ResourceKind, owner: WhoseList, objects: Listed) -> Serves {
    Serves::List {
        kind,
        owner,
        objects,
    }
}

use Action::{Append, Read, ReadContent, Update};
use Answer::{
    AsIs, Assistant as AssistantView, Bytes, Recorded, Response as ResponseView, RunOrStream,
};
use Operation as Op;
use ResourceKind::{Assistant, Container, Conversation, File, Response, Thread, VectorStore};

const STREAMS: &str = "The run, or with `stream: true` a `text/event-stream` of its events";
const ADMINS_ONLY: &[(u16, Option<&str>)] =
    &[(400, None), (403, Some("Not a tenant admin")), (404, None)];

/// Every `/v1` route. Order matters where paths overlap: `/threads/runs`
/// before `/threads/{thread_id}`.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    // Assistants: the tenant's; members read and run them, admins manage them.
    get("/assistants", "listAssistants", list(Assistant, WhoseList::Callers, Listed::Fetched(Op::GetAssistant)))
        .page()
        .doc("Assistants", "Lists the tenant's assistants (never another tenant's: the list comes\nfrom Threadgate's records, not from the upstream's list).", "ListObject")
        .of("AssistantObject")
        .errors(&[(400, None), (404, Some("A cursor names no assistant of the tenant"))]),
    post("/assistants", "createAssistant", create(Op::CreateAssistant, Assistant, NewOwner::Tenant))
        .json("AssistantRequest")
        .example(r#"{"model": "gpt-4o", "name": "Support", "instructions": "You answer support questions.", "tools": [{"type": "file_search"}]}"#)
        .doc("Assistants", "Creates an assistant of the tenant (tenant admins only).", "AssistantObject")
        .errors(&[(400, None), (403, Some("Not a tenant admin")), (404, Some("A file or vector store in tool_resources is not the tenant's"))]),
    get("/assistants/{assistant_id}", "getAssistant", forward(Op::GetAssistant, Assistant, Read, AssistantView))
        .doc("Assistants", "Retrieves one of the tenant's assistants.", "AssistantObject"),
    post("/assistants/{assistant_id}", "modifyAssistant", forward(Op::ModifyAssistant, Assistant, Update, AssistantView))
        .json("AssistantRequest")
        .doc("Assistants", "Changes an assistant of the tenant (tenant admins only).", "AssistantObject")
        .errors(ADMINS_ONLY),
    delete("/assistants/{assistant_id}", "deleteAssistant", remove(Op::DeleteAssistant, Assistant))
        .doc("Assistants", "Deletes an assistant of the tenant (tenant admins only).", "DeletionStatus")
        .errors(&[(403, Some("Not a tenant admin")), (404, None)]),

    // Threads: the caller's own.
    post("/threads/runs", "createThreadAndRun", Serves::Special(Special::CreateThreadAndRun))
        .json("CreateThreadAndRunRequest")
        .example(r#"{"assistant_id": "asst_abc123", "thread": {"messages": [{"role": "user", "content": "Hello!"}]}}"#)
        .doc("Runs", "Creates a thread for the caller and runs an assistant on it.", "RunObject")
        .says(STREAMS)
        .errors(&[(400, None), (404, Some("The assistant or a named file is not the caller's"))]),
    post("/threads", "createThread", create(Op::CreateThread, Thread, NewOwner::Caller))
        .json("CreateThreadRequest")
        .example(r#"{"messages": [{"role": "user", "content": "Hello!"}], "metadata": {"topic": "greeting"}}"#)
        .doc("Threads", "Creates a thread owned by the caller.", "ThreadObject")
        .says("The new thread")
        .errors(&[(400, Some("Invalid body")), (404, Some("A named file or vector store is not the caller's"))]),
    get("/threads", "listThreads", list(Thread, WhoseList::Callers, Listed::Kept(Op::GetThread)))
        .page_and(Filter::Shared)
        .doc("Threads", "Lists the caller's own threads, or with `shared=true` those other users shared with them (an extension: the upstream has no such list).", "ListObject")
        .of("ThreadObject")
        .says("The caller's threads")
        .errors(&[(400, None), (404, Some("A cursor names no thread of the caller"))]),
    get("/threads/{thread_id}", "getThread", forward(Op::GetThread, Thread, Read, Recorded))
        .doc("Threads", "Retrieves one of the caller's threads.", "ThreadObject"),
    post("/threads/{thread_id}", "modifyThread", forward(Op::ModifyThread, Thread, Update, Recorded))
        .json("ModifyRequest")
        .doc("Threads", "Changes a thread's metadata or tool resources.", "ThreadObject"),
    delete("/threads/{thread_id}", "deleteThread", remove(Op::DeleteThread, Thread))
        .doc("Threads", "Deletes a thread: gone for every reader at once, then upstream.", "DeletionStatus"),

    // Messages: authorized through their thread.
    get("/threads/{thread_id}/messages", "listMessages", forward(Op::ListMessages, Thread, Read, Recorded))
        .page_and(Filter::RunId)
        .doc("Messages", "Lists a thread's messages.", "ListObject")
        .of("MessageObject"),
    post("/threads/{thread_id}/messages", "createMessage", forward(Op::CreateMessage, Thread, Append, Recorded))
        .json("CreateMessageRequest")
        .example(r#"{"role": "user", "content": "How long do refunds take?"}"#)
        .doc("Messages", "Adds a message to a thread.", "MessageObject"),
    get("/threads/{thread_id}/messages/{message_id}", "getMessage", forward(Op::GetMessage, Thread, Read, Recorded))
        .doc("Messages", "Retrieves a message.", "MessageObject"),
    post("/threads/{thread_id}/messages/{message_id}", "modifyMessage", forward(Op::ModifyMessage, Thread, Update, AsIs))
        .json("ModifyRequest")
        .doc("Messages", "Changes a message's metadata.", "MessageObject"),
    delete("/threads/{thread_id}/messages/{message_id}", "deleteMessage", forward(Op::DeleteMessage, Thread, Update, AsIs))
        .doc("Messages", "Deletes a message.", "DeletionStatus"),

    // Runs and their steps: authorized through their thread.
    get("/threads/{thread_id}/runs", "listRuns", forward(Op::ListRuns, Thread, Read, Recorded))
        .page()
        .doc("Runs", "Lists a thread's runs.", "ListObject")
        .of("RunObject"),
    post("/threads/{thread_id}/runs", "createRun", forward(Op::CreateRun, Thread, Append, RunOrStream))
        .json("CreateRunRequest")
        .example(r#"{"assistant_id": "asst_abc123"}"#)
        .doc("Runs", "Runs one of the tenant's assistants on a thread of the caller.", "RunObject")
        .says(STREAMS)
        .errors(&[(400, None), (404, Some("The thread, the assistant or a named file is not the caller's"))]),
    get("/threads/{thread_id}/runs/{run_id}", "getRun", forward(Op::GetRun, Thread, Read, Recorded))
        .doc("Runs", "Retrieves a run.", "RunObject"),
    post("/threads/{thread_id}/runs/{run_id}", "modifyRun", forward(Op::ModifyRun, Thread, Update, AsIs))
        .json("ModifyRequest")
        .doc("Runs", "Changes a run's metadata.", "RunObject"),
    post("/threads/{thread_id}/runs/{run_id}/cancel", "cancelRun", forward(Op::CancelRun, Thread, Append, Recorded))
        .doc("Runs", "Cancels a run.", "RunObject")
        .errors(&[(400, Some("The run cannot be cancelled in its state")), (404, None)]),
    post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", "submitToolOuputsToRun", forward(Op::SubmitToolOutputs, Thread, Append, RunOrStream))
        .json("SubmitToolOutputsRequest")
        .example(r#"{"tool_outputs": [{"tool_call_id": "call_abc123", "output": "22 degrees"}]}"#)
        .doc("Runs", "Submits the outputs of the tool calls a run waits for.", "RunObject")
        .says(STREAMS),
    get("/threads/{thread_id}/runs/{run_id}/steps", "listRunSteps", forward(Op::ListRunSteps, Thread, Read, Recorded))
        .page()
        .doc("Runs", "Lists a run's steps.", "ListObject")
        .of("RunStepObject"),
    get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", "getRunStep", forward(Op::GetRunStep, Thread, Read, Recorded))
        .doc("Runs", "Retrieves a run step.", "RunStepObject"),

    // Files: the caller's (admins: also the tenant's).
    post("/files", "createFile", Serves::Special(Special::Upload))
        .multipart("UploadFileRequest")
        .doc("Files", "Uploads a file for the caller (multipart: `purpose`, then `file`).", "FileObject")
        .owner_header("`tenant` makes the file the tenant's (admins only)")
        .errors(&[(400, None), (413, Some("Larger than the configured limit"))]),
    get("/files", "listFiles", list(File, WhoseList::AsHeaderSays, Listed::Stored))
        .page_and(Filter::Purpose)
        .doc("Files", "Lists the caller's files (or, with `Threadgate-Owner: tenant`, the tenant's).", "ListObject")
        .of("FileObject")
        .owner_header("`tenant` lists the tenant's files (admins only)")
        .errors(&[(400, None), (404, Some("A cursor names no file of the caller"))]),
    get("/files/{file_id}", "retrieveFile", forward(Op::GetFile, File, Read, AsIs))
        .doc("Files", "Retrieves a file of the caller.", "FileObject"),
    delete("/files/{file_id}", "deleteFile", remove(Op::DeleteFile, File))
        .doc("Files", "Deletes a file of the caller.", "DeletionStatus"),
    get("/files/{file_id}/content", "downloadFile", forward(Op::GetFileContent, File, ReadContent, Bytes))
        .bytes("Files", "The file's bytes, streamed through with the upstream's type and length.")
        .says("The content"),

    // Vector stores: the caller's (admins: also the tenant's), their files and batches.
    post("/vector_stores", "createVectorStore", create(Op::CreateVectorStore, VectorStore, NewOwner::AsHeaderSays))
        .json("VectorStoreRequest")
        .example(r#"{"name": "Support FAQ", "file_ids": ["file-abc123"]}"#)
        .doc("Vector stores", "Creates a vector store, optionally with files of the caller.", "VectorStoreObject")
        .owner_header("`tenant` makes it the tenant's (admins only)"),
    get("/vector_stores", "listVectorStores", list(VectorStore, WhoseList::AsHeaderSays, Listed::Fetched(Op::GetVectorStore)))
        .page()
        .doc("Vector stores", "Lists the caller's vector stores (or, with `Threadgate-Owner: tenant`, the tenant's).", "ListObject")
        .of("VectorStoreObject")
        .owner_header("`tenant` lists the tenant's (admins only)"),
    get("/vector_stores/{vector_store_id}", "getVectorStore", forward(Op::GetVectorStore, VectorStore, Read, AsIs))
        .doc("Vector stores", "Retrieves a vector store.", "VectorStoreObject"),
    post("/vector_stores/{vector_store_id}", "modifyVectorStore", forward(Op::ModifyVectorStore, VectorStore, Update, AsIs))
        .json("VectorStoreRequest")
        .doc("Vector stores", "Changes a vector store's name, expiry or metadata.", "VectorStoreObject"),
    delete("/vector_stores/{vector_store_id}", "deleteVectorStore", remove(Op::DeleteVectorStore, VectorStore))
        .doc("Vector stores", "Deletes a vector store.", "DeletionStatus"),
    post("/vector_stores/{vector_store_id}/search", "searchVectorStore", forward(Op::SearchVectorStore, VectorStore, Read, AsIs))
        .json("SearchRequest")
        .example(r#"{"query": "refund policy"}"#)
        .doc("Vector stores", "Searches a vector store.", "SearchResultsPage")
        .says("A page of results"),
    get("/vector_stores/{vector_store_id}/files", "listVectorStoreFiles", forward(Op::ListVectorStoreFiles, VectorStore, Read, AsIs))
        .page_and(Filter::Status)
        .doc("Vector stores", "Lists the files of a vector store.", "ListObject")
        .of("VectorStoreFileObject"),
    post("/vector_stores/{vector_store_id}/files", "createVectorStoreFile", forward(Op::CreateVectorStoreFile, VectorStore, Update, AsIs))
        .json("VectorStoreFileRequest")
        .doc("Vector stores", "Adds one of the caller's files to a vector store of theirs.", "VectorStoreFileObject"),
    get("/vector_stores/{vector_store_id}/files/{file_id}", "getVectorStoreFile", forward(Op::GetVectorStoreFile, VectorStore, Read, AsIs))
        .doc("Vector stores", "Retrieves a file of a vector store.", "VectorStoreFileObject"),
    post("/vector_stores/{vector_store_id}/files/{file_id}", "updateVectorStoreFileAttributes", forward(Op::UpdateVectorStoreFileAttributes, VectorStore, Update, AsIs))
        .json("VectorStoreFileRequest")
        .doc("Vector stores", "Changes the attributes of a file in a vector store.", "VectorStoreFileObject"),
    delete("/vector_stores/{vector_store_id}/files/{file_id}", "deleteVectorStoreFile", forward(Op::DeleteVectorStoreFile, VectorStore, Update, AsIs))
        .doc("Vector stores", "Removes a file from a vector store (the file itself stays).", "DeletionStatus"),
    get("/vector_stores/{vector_store_id}/files/{file_id}/content", "retrieveVectorStoreFileContent", forward(Op::GetVectorStoreFileContent, VectorStore, ReadContent, AsIs))
        .doc("Vector stores", "The parsed content of a file in a vector store.", "FileContentPage")
        .says("A page of the file's content"),
    post("/vector_stores/{vector_store_id}/file_batches", "createVectorStoreFileBatch", forward(Op::CreateFileBatch, VectorStore, Update, AsIs))
        .json("FileBatchRequest")
        .doc("Vector stores", "Adds several of the caller's files to a vector store of theirs.", "FileBatchObject"),
    get("/vector_stores/{vector_store_id}/file_batches/{batch_id}", "getVectorStoreFileBatch", forward(Op::GetFileBatch, VectorStore, Read, AsIs))
        .doc("Vector stores", "Retrieves a file batch.", "FileBatchObject"),
    post("/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel", "cancelVectorStoreFileBatch", forward(Op::CancelFileBatch, VectorStore, Update, AsIs))
        .doc("Vector stores", "Cancels a file batch.", "FileBatchObject"),
    get("/vector_stores/{vector_store_id}/file_batches/{batch_id}/files", "listFilesInVectorStoreBatch", forward(Op::ListFileBatchFiles, VectorStore, Read, AsIs))
        .page_and(Filter::Status)
        .doc("Vector stores", "Lists the files of a batch.", "ListObject")
        .of("VectorStoreFileObject"),

    // Models: what the tenant's upstream offers, read by any of its callers.
    get("/models", "listModels", Serves::Stateless { operation: Op::ListModels })
        .doc("Models", "Lists the models of the caller's upstream (many tools ask this first).", "ModelList")
        .says("The upstream's models"),

    // Conversations (the Conversations API): the caller's own; items are
    // reached only through their conversation.
    post("/conversations", "createConversation", create(Op::CreateConversation, Conversation, NewOwner::Caller))
        .json("CreateConversationRequest")
        .example(r#"{"items": [{"role": "user", "content": "Hello!"}], "metadata": {"topic": "greeting"}}"#)
        .doc("Conversations", "Creates a conversation owned by the caller.", "ConversationObject")
        .says("The new conversation")
        .errors(&[(400, Some("Invalid body")), (404, Some("A named file is not the caller's"))]),
    get("/conversations", "listConversations", list(Conversation, WhoseList::Callers, Listed::Kept(Op::GetConversation)))
        .page_and(Filter::Shared)
        .doc("Conversations", "Lists the caller's own conversations, or with `shared=true` those other users shared with them (an extension: the upstream has no such list).", "ListObject")
        .of("ConversationObject")
        .errors(&[(400, None), (404, Some("A cursor names no conversation of the caller"))]),
    get("/conversations/{conversation_id}", "getConversation", forward(Op::GetConversation, Conversation, Read, AsIs))
        .doc("Conversations", "Retrieves one of the caller's conversations.", "ConversationObject"),
    post("/conversations/{conversation_id}", "updateConversation", forward(Op::UpdateConversation, Conversation, Update, AsIs))
        .json("UpdateConversationRequest")
        .doc("Conversations", "Changes a conversation's metadata.", "ConversationObject"),
    delete("/conversations/{conversation_id}", "deleteConversation", remove(Op::DeleteConversation, Conversation))
        .doc("Conversations", "Deletes a conversation: gone for every reader at once, then upstream.", "DeletionStatus"),
    post("/conversations/{conversation_id}/items", "createConversationItems", forward(Op::CreateConversationItems, Conversation, Append, AsIs))
        .json("CreateConversationItemsRequest")
        .example(r#"{"items": [{"role": "user", "content": "And one more thing."}]}"#)
        .doc("Conversations", "Adds up to 20 items to a conversation.", "ListObject")
        .of("ConversationItem"),
    get("/conversations/{conversation_id}/items", "listConversationItems", forward(Op::ListConversationItems, Conversation, Read, AsIs))
        .page()
        .doc("Conversations", "Lists a conversation's items.", "ListObject")
        .of("ConversationItem"),
    get("/conversations/{conversation_id}/items/{item_id}", "getConversationItem", forward(Op::GetConversationItem, Conversation, Read, AsIs))
        .doc("Conversations", "Retrieves an item of a conversation.", "ConversationItem"),
    delete("/conversations/{conversation_id}/items/{item_id}", "deleteConversationItem", forward(Op::DeleteConversationItem, Conversation, Update, AsIs))
        .doc("Conversations", "Removes an item from a conversation; answers the conversation.", "ConversationObject"),

    // Responses (the Responses API): a stored response is the caller's;
    // what it continues (`previous_response_id`, `conversation`) and every
    // file and vector store it names must be the caller's too.
    post("/responses", "createResponse", Serves::Special(Special::CreateResponse))
        .json("CreateResponseRequest")
        .example(r#"{"model": "gpt-4o", "input": "Hello!"}"#)
        .doc("Responses", "Creates a response for the caller (stored unless `store: false`).", "ResponseObject")
        .says("The response, or with `stream: true` a `text/event-stream` of its events")
        .errors(&[(400, None), (404, Some("A response, conversation, file or vector store it names is not the caller's"))]),
    post("/responses/input_tokens", "getInputTokenCounts", Serves::Stateless { operation: Op::CountInputTokens })
        .json("CreateResponseRequest")
        .doc("Responses", "Counts the input tokens a response with this body would use.", "InputTokenCount")
        .errors(&[(400, None), (404, Some("A response, conversation, file or vector store it names is not the caller's"))]),
    post("/responses/compact", "compactResponse", Serves::Stateless { operation: Op::CompactResponse })
        .json("CreateResponseRequest")
        .doc("Responses", "Compacts a history (a response chain of the caller's, and input) into fewer items.", "CompactionObject")
        .errors(&[(400, None), (404, Some("A response, conversation or file it names is not the caller's"))]),
    get("/responses", "listResponses", list(Response, WhoseList::Callers, Listed::Fetched(Op::GetResponse)))
        .page()
        .doc("Responses", "Lists the caller's own stored responses (an extension: the upstream has no such list).", "ListObject")
        .of("ResponseObject")
        .errors(&[(400, None), (404, Some("A cursor names no response of the caller"))]),
    get("/responses/{response_id}", "getResponse", forward(Op::GetResponse, Response, Read, ResponseView))
        .resume()
        .doc("Responses", "Retrieves one of the caller's stored responses.", "ResponseObject")
        .says("The response, or with `stream=true` (a background response) a `text/event-stream` of its events after `starting_after`"),
    delete("/responses/{response_id}", "deleteResponse", remove(Op::DeleteResponse, Response))
        .nothing("Responses", "Deletes a stored response (an empty answer, as the upstream's).")
        .says("Deleted (no body)"),
    post("/responses/{response_id}/cancel", "cancelResponse", forward(Op::CancelResponse, Response, Update, ResponseView))
        .doc("Responses", "Cancels a background response of the caller.", "ResponseObject"),
    get("/responses/{response_id}/input_items", "listInputItems", forward(Op::ListInputItems, Response, Read, AsIs))
        .page()
        .doc("Responses", "Lists the input items of a stored response.", "ListObject")
        .of("ConversationItem"),

    // Containers (code interpreter's sandboxes): the caller's own, made
    // here or by a response of theirs; their files are reached through them.
    post("/containers", "createContainer", create(Op::CreateContainer, Container, NewOwner::Caller))
        .json("CreateContainerRequest")
        .example(r#"{"name": "analysis", "file_ids": ["file-abc123"]}"#)
        .doc("Containers", "Creates a container owned by the caller.", "ContainerObject")
        .says("The new container")
        .errors(&[(400, None), (404, Some("A named file is not the caller's"))]),
    get("/containers", "listContainers", list(Container, WhoseList::Callers, Listed::Fetched(Op::GetContainer)))
        .page()
        .doc("Containers", "Lists the caller's own containers (never another's: the list comes from Threadgate's records).", "ListObject")
        .of("ContainerObject")
        .errors(&[(400, None), (404, Some("A cursor names no container of the caller"))]),
    get("/containers/{container_id}", "retrieveContainer", forward(Op::GetContainer, Container, Read, AsIs))
        .doc("Containers", "Retrieves one of the caller's containers.", "ContainerObject"),
    delete("/containers/{container_id}", "deleteContainer", remove(Op::DeleteContainer, Container))
        .nothing("Containers", "Deletes a container: gone for every reader at once, then upstream (an empty answer, as the upstream's).")
        .says("Deleted (no body)"),
    post("/containers/{container_id}/files", "createContainerFile", forward(Op::CreateContainerFile, Container, Update, AsIs))
        .json("CreateContainerFileRequest")
        .doc("Containers", "Copies one of the caller's files into a container of theirs.", "ContainerFileObject"),
    get("/containers/{container_id}/files", "listContainerFiles", forward(Op::ListContainerFiles, Container, Read, AsIs))
        .page()
        .doc("Containers", "Lists a container's files.", "ListObject")
        .of("ContainerFileObject"),
    get("/containers/{container_id}/files/{file_id}", "retrieveContainerFile", forward(Op::GetContainerFile, Container, Read, AsIs))
        .doc("Containers", "Retrieves a file of a container.", "ContainerFileObject"),
    delete("/containers/{container_id}/files/{file_id}", "deleteContainerFile", forward(Op::DeleteContainerFile, Container, Update, AsIs))
        .nothing("Containers", "Deletes a file of a container (an empty answer, as the upstream's).")
        .says("Deleted (no body)"),
    get("/containers/{container_id}/files/{file_id}/content", "retrieveContainerFileContent", forward(Op::GetContainerFileContent, Container, ReadContent, Bytes))
        .bytes("Containers", "A container file's bytes (what code interpreter wrote), streamed through.")
        .says("The content"),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_route_is_one_method_on_one_path_with_its_own_operation_id() {
        let mut seen = HashSet::new();
        let mut ids = HashSet::new();
        for route in ROUTES {
            assert!(
                !route.doc.tag.is_empty() && !route.doc.summary.is_empty(),
                "{route:?} is undocumented"
            );
            assert!(seen.insert((route.verb, route.path)), "{route:?} twice");
            assert!(
                ids.insert(route.operation_id),
                "{} twice",
                route.operation_id
            );
        }
    }

    #[test]
    fn forwarded_routes_name_exactly_the_ids_their_operation_takes() {
        for route in ROUTES {
            let Some(operation) = route.operation() else {
                continue;
            };
            assert_eq!(
                operation.method().as_str(),
                route.verb.method().as_str(),
                "{route:?}"
            );
            assert_eq!(operation.template(), route.path, "{route:?}");
            if let Serves::Forward { .. } | Serves::Delete { .. } = route.serves {
                assert!(route.parameters().count() >= 1, "{route:?} names no object");
                for child in route.parameters().skip(1) {
                    child_noun(child);
                }
            }
        }
    }

    #[test]
    fn deletes_and_lists_agree_with_the_per_kind_operations() {
        for route in ROUTES {
            match route.serves {
                Serves::Delete { operation, kind } => {
                    assert_eq!(Some(operation), Operation::for_kind(kind).map(|k| k.delete));
                }
                Serves::List {
                    kind,
                    objects: Listed::Fetched(operation),
                    ..
                } => {
                    assert_eq!(Some(operation), Operation::for_kind(kind).map(|k| k.get));
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_upstream_operation_but_the_upstreams_own_lists_is_served() {
        let served: HashSet<Operation> = ROUTES.iter().filter_map(Route::operation).collect();
        let unserved: Vec<Operation> = Operation::ALL
            .iter()
            .copied()
            .filter(|operation| !served.contains(operation))
            .collect();
        // The upstream's lists show every tenant's objects: Threadgate lists
        // from its own records instead.
        assert_eq!(
            unserved,
            [
                Op::ListAssistants,
                Op::ListFiles,
                Op::ListVectorStores,
                Op::ListContainers
            ]
        );
    }
}
