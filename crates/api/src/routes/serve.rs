//! The one handler behind every row of the operation table that is not
//! special: the row says what the request names and what to do; the
//! gateway authorizes it; only its grant reaches the upstream.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Action, Ownership, ResourceKind, UpstreamId};
use serde_json::Value;
use storage::repo::resources::{self, Resource};
use upstream::{Operation, UpstreamRequest};

use super::common::{
    ListParams, PurposeFilter, ResumeParams, RunFilter, SharedFilter, StatusFilter, envelope,
    object_body, ok,
};
use super::files::requested_ownership;
use super::stream::pass_through;
use super::table::{Answer, Filter, Listed, NewOwner, Query, Route, Serves, WhoseList, child_noun};
use crate::auth::Caller;
use crate::azure::Surface;
use crate::gateway::recording::Recorder;
use crate::gateway::{Authorized, Exchange, child_id, list_scope, metadata, owner_of_new};
use crate::request_id::RequestId;
use crate::{ApiError, AppState};

/// Serves `route` for `caller`; `body` is the JSON body of routes that take one.
pub async fn serve(
    route: &'static Route,
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    request: HttpRequest,
    body: Option<Value>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map(object_body).transpose()?;
    let call = Call {
        route,
        state: &state,
        caller: &caller,
        request_id: &request_id,
        request: &request,
    };
    match route.serves {
        Serves::Forward {
            operation,
            on: (kind, action),
            answer,
        } => call.forward(operation, kind, action, answer, body).await,
        Serves::Create {
            operation,
            kind,
            owner,
        } => {
            let body = body.unwrap_or_else(|| Value::Object(Default::default()));
            call.create(operation, kind, owner, body).await
        }
        Serves::Delete { operation, kind } => call.delete(operation, kind).await,
        Serves::List {
            kind,
            owner,
            objects,
        } => call.list(kind, owner, objects).await,
        Serves::Stateless { operation } => call.stateless(operation, body).await,
        Serves::Special(special) => unreachable!("{special:?} has a handler of its own"),
    }
}

/// One request to a row.
struct Call<'a> {
    route: &'static Route,
    state: &'a AppState,
    caller: &'a Caller,
    request_id: &'a RequestId,
    request: &'a HttpRequest,
}

impl<'a> Call<'a> {
    /// A successful answer, in the shapes of the surface the request came in
    /// on; none where the upstream answered none (some deletes).
    fn answer(&self, mut value: Value) -> HttpResponse {
        if value.is_null() {
            return HttpResponse::Ok().finish();
        }
        Surface::of(self.request).shape(&mut value);
        ok(value)
    }

    fn exchange(&self) -> Exchange<'a> {
        Exchange::new(self.state, self.caller, self.request_id)
    }

    /// The path's parameters as sent, in the template's order.
    fn path_values(&self) -> Vec<&'a str> {
        let info = self.request.match_info();
        self.route
            .parameters()
            .map(|name| info.get(name).unwrap_or_default())
            .collect()
    }

    /// The path's children below its object: they need only be ids.
    fn children(&self) -> Result<Vec<UpstreamId>, ApiError> {
        self.route
            .parameters()
            .zip(self.path_values())
            .skip(1)
            .map(|(name, raw)| child_id(raw, child_noun(name)))
            .collect()
    }

    fn query<T: serde::de::DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.route.query == Query::None {
            return Ok(T::default());
        }
        let raw = self.request.query_string();
        // The one typed parameter, named in plain words when it is not a number.
        if let Some((_, limit)) = url::form_urlencoded::parse(raw.as_bytes())
            .find(|(name, value)| name == "limit" && value.parse::<i64>().is_err())
        {
            return Err(ApiError::bad_request(
                format!("Invalid 'limit': integer between 1 and 100 expected, got '{limit}'."),
                Some("limit"),
            ));
        }
        // Unknown parameters are ignored, as the upstream ignores them.
        web::Query::<T>::from_query(raw)
            .map(web::Query::into_inner)
            .map_err(|error| {
                ApiError::bad_request(format!("Invalid query parameters: {error}"), None)
            })
    }

    /// The page and filter passed on to an upstream list under an object
    /// the caller may read.
    fn upstream_query(&self) -> Result<Vec<(String, String)>, ApiError> {
        let mut query = match self.route.query {
            Query::None => return Ok(Vec::new()),
            Query::Resume => return Ok(self.query::<ResumeParams>()?.upstream_query()),
            Query::Page | Query::PageAnd(_) => self.query::<ListParams>()?.upstream_query()?,
        };
        match self.route.query {
            Query::PageAnd(Filter::RunId) => {
                if let Some(run_id) = self.query::<RunFilter>()?.run_id {
                    child_id(&run_id, "run")?;
                    query.push(("run_id".to_owned(), run_id));
                }
            }
            Query::PageAnd(Filter::Status) => {
                if let Some(status) = self.query::<StatusFilter>()?.checked()? {
                    query.push(("filter".to_owned(), status));
                }
            }
            Query::PageAnd(Filter::Purpose | Filter::Shared)
            | Query::Page
            | Query::None
            | Query::Resume => {}
        }
        Ok(query)
    }

    async fn forward(
        &self,
        operation: Operation,
        kind: ResourceKind,
        action: Action,
        answer: Answer,
        body: Option<Value>,
    ) -> Result<HttpResponse, ApiError> {
        let object = self.path_values()[0];
        let mut exchange = self.exchange().path(kind, object, action);
        if let Some(body) = &body {
            if matches!(operation, Operation::CreateRun | Operation::ModifyAssistant) {
                crate::policy::check_use(&self.caller.tenant.settings, body)?;
            }
            if operation == Operation::CreateConversationItems {
                refuse_item_references(body)?;
            }
            exchange = exchange.body(operation, body)?;
        }
        let query = self.upstream_query()?;
        let children = self.children()?;
        let (authorized, resource, id) = exchange.authorize_one().await?;
        let ids: Vec<&UpstreamId> = std::iter::once(&id).chain(&children).collect();
        let asked = Asked::of(body.as_ref());
        let mut body = body;
        if let (Some(body), Operation::CreateMessage | Operation::CreateRun) =
            (body.as_mut(), operation)
        {
            // A message or a run has no row: it carries its request's id,
            // by which a retry of the request finds it (gateway::resolve).
            metadata::stamp_request(body, &self.request_id.0);
        }
        let mut upstream = UpstreamRequest::new(operation, &ids);
        upstream.query = query;
        if let Some(body) = body {
            upstream = upstream.json(body);
        }
        match answer {
            Answer::AsIs if operation == Operation::UpdateConversation => {
                let conversation = match authorized.forward(upstream).await {
                    Ok(conversation) => conversation,
                    Err(error) => {
                        authorized.forget_attributes(&resource).await;
                        return Err(error);
                    }
                };
                authorized.keep_attributes(&resource, &conversation).await;
                Ok(self.answer(conversation))
            }
            Answer::AsIs => Ok(self.answer(authorized.forward(upstream).await?)),
            Answer::Bytes => Ok(bytes(authorized.raw(upstream).await?)),
            Answer::Response => {
                let recorder = Recorder::for_response(
                    self.state,
                    self.caller,
                    &self.request_id.0,
                    resource.facts.owner,
                    resource.facts.id,
                );
                if upstream.query.iter().any(|(name, _)| name == "stream") {
                    // A background response's events, recorded as they pass.
                    let events = authorized.stream(upstream).await?;
                    let hook = super::responses::stream_hook(
                        self.state,
                        self.caller,
                        self.request_id,
                        recorder,
                        None,
                    );
                    return Ok(pass_through(
                        events,
                        Some(hook),
                        self.state,
                        Surface::of(self.request),
                    ));
                }
                let response = authorized.forward(upstream).await?;
                recorder.response(&response).await;
                Ok(self.answer(response))
            }
            Answer::Recorded | Answer::RunOrStream => {
                let may_stream = answer == Answer::RunOrStream;
                let surface = Surface::of(self.request);
                recorded(&authorized, &resource, upstream, asked, may_stream, surface).await
            }
            Answer::Assistant => {
                let mut assistant = authorized.forward(upstream).await?;
                if asked.uses_store_helper {
                    Recorder::for_assistant(
                        self.state,
                        self.caller,
                        &self.request_id.0,
                        resource.facts.id,
                    )
                    .assistant(&assistant)
                    .await;
                }
                hide_knowledge_from_members(self.caller, &mut assistant);
                Ok(self.answer(assistant))
            }
        }
    }

    async fn create(
        &self,
        operation: Operation,
        kind: ResourceKind,
        owner: NewOwner,
        body: Value,
    ) -> Result<HttpResponse, ApiError> {
        if operation == Operation::CreateAssistant {
            crate::policy::check_use(&self.caller.tenant.settings, &body)?;
        }
        if operation == Operation::CreateConversation {
            refuse_item_references(&body)?;
        }
        if operation == Operation::CreateContainer && body.get("skills").is_some() {
            return Err(ApiError::bad_request(
                "Containers with 'skills' are not accepted here.",
                Some("skills"),
            ));
        }
        let authorized = self
            .exchange()
            .body(operation, &body)?
            .authorize_create(kind)
            .await?;
        let asked = match owner {
            NewOwner::Caller => Ownership::Own,
            NewOwner::AsHeaderSays => requested_ownership(self.request)?,
            NewOwner::Tenant => Ownership::Tenant,
        };
        let owner = owner_of_new(self.caller, asked)?;
        let made_by_helper = uses_store_helper(&body);
        // The object carries its row's id in its metadata (hidden from
        // clients), so the reconciler can tell whose it is if the answer to
        // its create is lost. Files have no metadata.
        let stamp = kind.has_metadata();
        let (row, object) = authorized
            .create(kind, owner, operation, body, stamp)
            .await?;
        match kind {
            // Stores its `vector_stores` helper made, or made for its
            // attachments, are the caller's.
            ResourceKind::Thread => {
                Recorder::for_new_thread(
                    self.state,
                    self.caller,
                    &self.request_id.0,
                    owner,
                    row,
                    object["id"].as_str(),
                )
                .answer(&object)
                .await;
            }
            // Stores its helper made are the tenant's knowledge.
            ResourceKind::Assistant if made_by_helper => {
                Recorder::for_assistant(self.state, self.caller, &self.request_id.0, row)
                    .assistant(&object)
                    .await;
            }
            _ => {}
        }
        Ok(self.answer(object))
    }

    /// An operation on no stored object: the grant covers the ids its body
    /// names (none for a catalogue), and nothing is recorded.
    async fn stateless(
        &self,
        operation: Operation,
        body: Option<Value>,
    ) -> Result<HttpResponse, ApiError> {
        let mut exchange = self.exchange();
        if let Some(body) = &body {
            // Counting and compacting read a response's input as creating
            // one does: the same refusals and the same vouching.
            super::responses::refuse_what_cannot_be_vouched_for(self.caller, body)?;
            exchange = exchange.body(operation, body)?;
        }
        let authorized = exchange.authorize().await?;
        if let Some(body) = &body {
            super::responses::vouch_for_item_references(&authorized, body).await?;
        }
        let mut upstream = UpstreamRequest::new(operation, &[]);
        if let Some(body) = body {
            upstream = upstream.json(body);
        }
        Ok(self.answer(authorized.forward(upstream).await?))
    }

    async fn delete(
        &self,
        operation: Operation,
        kind: ResourceKind,
    ) -> Result<HttpResponse, ApiError> {
        let object = self.path_values()[0];
        let (authorized, resource, id) = self
            .exchange()
            .path(kind, object, Action::Delete)
            .authorize_one()
            .await?;
        let deleted = authorized.delete(&resource, operation, &[&id]).await?;
        // A response's and a container's deletes answer nothing, as the
        // upstream's do (also when the upstream had it gone already).
        if matches!(kind, ResourceKind::Response | ResourceKind::Container) {
            return Ok(HttpResponse::Ok().finish());
        }
        Ok(self.answer(deleted))
    }

    async fn list(
        &self,
        kind: ResourceKind,
        owner: WhoseList,
        objects: Listed,
    ) -> Result<HttpResponse, ApiError> {
        let params = self.query::<ListParams>()?;
        let authorized = self
            .exchange()
            .cursor(kind, "after", params.after.as_deref())?
            .cursor(kind, "before", params.before.as_deref())?
            .authorize()
            .await?;
        let asked = match owner {
            WhoseList::Callers => Ownership::Own,
            WhoseList::AsHeaderSays => requested_ownership(self.request)?,
        };
        let shared = self.route.query == Query::PageAnd(Filter::Shared)
            && self.query::<SharedFilter>()?.shared == Some(true);
        let scope = if shared {
            domain::shared_list_scope(&self.caller.principal, kind)
        } else {
            list_scope(self.caller, kind, asked)?
        };
        let mut page = params.page_query()?;
        if self.route.query == Query::PageAnd(Filter::Purpose) {
            page.attribute_equals = self
                .query::<PurposeFilter>()?
                .purpose
                .map(|purpose| ("purpose", purpose));
        }
        let tenant_id = self.caller.tenant.id;
        let (listed, has_more) = self
            .state
            .database
            .run("resources.list", move |conn| {
                resources::list(conn, tenant_id, scope, kind, &page)
            })
            .await?;
        let mut listed = match objects {
            Listed::Fetched(operation) => authorized.fetch_listed(operation, listed).await?,
            Listed::Stored => listed.into_iter().map(|row| row.attributes).collect(),
            Listed::Kept(operation) => authorized.kept_or_fetched(operation, listed).await?,
        };
        if shared {
            listed = authorized.still_shared(kind, listed).await?;
        }
        if kind == ResourceKind::Assistant {
            for assistant in &mut listed {
                hide_knowledge_from_members(self.caller, assistant);
            }
        }
        Ok(self.answer(envelope(listed, has_more)))
    }
}

/// A conversation's new items may not reference stored items (nothing
/// vouches for whose they are) nor carry tools of their own.
fn refuse_item_references(body: &Value) -> Result<(), ApiError> {
    super::responses::refuse_unvouched_items(&body["items"], "items")?;
    for item in body["items"].as_array().into_iter().flatten() {
        if super::responses::is_item_reference(item) {
            let id = item["id"].as_str().unwrap_or_default();
            return Err(ApiError::not_found(format!(
                "No item found with id '{id}'."
            )));
        }
    }
    Ok(())
}

/// An upstream answer's bytes, streamed through with its type and length.
fn bytes(response: reqwest::Response) -> HttpResponse {
    let mut answer = HttpResponse::Ok();
    if let Some(content_type) = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
    {
        answer.insert_header(("content-type", content_type.to_owned()));
    }
    let length = response.content_length();
    let bytes = futures_util::TryStreamExt::map_err(response.bytes_stream(), std::io::Error::other);
    match length {
        Some(length) => answer.no_chunking(length).streaming(bytes),
        None => answer.streaming(bytes),
    }
}

/// What a body asks for beside the operation itself.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Asked {
    /// `"stream": true`: answer with the run's events.
    pub stream: bool,
    /// Files attached for file search: the upstream may make the thread a
    /// vector store for them.
    pub attaches_files: bool,
    /// The `vector_stores` helper: the upstream makes vector stores.
    pub uses_store_helper: bool,
}

impl Asked {
    pub fn of(body: Option<&Value>) -> Self {
        body.map(|body| Self {
            stream: body["stream"].as_bool() == Some(true),
            attaches_files: attaches_files(body),
            uses_store_helper: uses_store_helper(body),
        })
        .unwrap_or_default()
    }
}

/// Sends a request about `thread` upstream and records, for the thread's
/// owner, what its answer shows the upstream made; with `may_stream` and
/// `"stream": true`, the answer is the run's events, recorded as they pass.
/// Either is answered in `surface`'s shapes.
pub(super) async fn recorded(
    authorized: &Authorized<'_>,
    thread: &Resource,
    request: UpstreamRequest<'_>,
    asked: Asked,
    may_stream: bool,
    surface: Surface,
) -> Result<HttpResponse, ApiError> {
    let recorder = authorized.recorder(thread);
    if may_stream && asked.stream {
        let events = authorized.stream(request).await?;
        if asked.attaches_files {
            recorder.thread_from_upstream().await;
            authorized.forget_attributes(thread).await;
        }
        return Ok(pass_through(
            events,
            Some(recorder.hook(None)),
            authorized.state(),
            surface,
        ));
    }
    let changes_the_thread = request.operation == Operation::ModifyThread;
    let starts_a_run = request.operation == Operation::CreateRun;
    let mut answer = match authorized.forward(request).await {
        Ok(answer) => answer,
        Err(error) => {
            if changes_the_thread {
                authorized.forget_attributes(thread).await;
            }
            return Err(error);
        }
    };
    if asked.attaches_files {
        recorder.thread_from_upstream().await;
        // The upstream may have given the thread a vector store.
        authorized.forget_attributes(thread).await;
    }
    if starts_a_run {
        recorder.started(&answer).await;
    }
    recorder.answer(&answer).await;
    if changes_the_thread {
        authorized.keep_attributes(thread, &answer).await;
    }
    surface.shape(&mut answer);
    Ok(ok(answer))
}

/// Whether a body attaches files, for which the upstream may make the
/// thread a vector store.
fn attaches_files(body: &Value) -> bool {
    let attaches = |message: &Value| {
        message["attachments"]
            .as_array()
            .is_some_and(|attachments| !attachments.is_empty())
    };
    attaches(body)
        || ["additional_messages", "messages"].iter().any(|key| {
            body[key]
                .as_array()
                .is_some_and(|messages| messages.iter().any(attaches))
        })
}

/// Whether the body asks the upstream to make vector stores (the
/// `vector_stores` helper): only then are unknown stores in the answer new.
fn uses_store_helper(body: &Value) -> bool {
    body.pointer("/tool_resources/file_search/vector_stores")
        .and_then(Value::as_array)
        .is_some_and(|helpers| !helpers.is_empty())
}

/// Members run the tenant's assistants but may neither use nor name its
/// knowledge: the ids of its files and vector stores are left out of what
/// they read.
fn hide_knowledge_from_members(caller: &Caller, assistant: &mut Value) {
    if caller.principal.is_admin() {
        return;
    }
    for knowledge in [
        "/tool_resources/code_interpreter/file_ids",
        "/tool_resources/file_search/vector_store_ids",
    ] {
        if let Some(ids) = assistant.pointer_mut(knowledge) {
            *ids = Value::Array(Vec::new());
        }
    }
}
