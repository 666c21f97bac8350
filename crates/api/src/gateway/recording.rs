//! Objects the upstream makes on a caller's behalf become the caller's:
//! files the code interpreter writes, vector stores made for a thread, and
//! the token usage of the caller's runs.
//!
//! The rule (docs/SECURITY.md): an object is recorded only when Threadgate
//! caused its creation for the owner (a run on their thread, a helper in
//! their request), the upstream names it in a known position of an object
//! Threadgate fetched itself ([`super::positions`]), no tenant knows the id
//! yet, and the upstream, asked by id, confirms the object exists and is
//! what it should be (an `assistants_output` file, a vector store).

// The recorder asks the upstream, by id, to confirm what an answer to an
// authorized request named; nothing of the caller's reaches it.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};

use domain::{Owner, ResourceId, ResourceKind, UpstreamId};
use futures_util::FutureExt;
use serde_json::Value;
use storage::repo::audit::Outcome;
use storage::repo::resources::{self, NewResource};
use upstream::{Operation, UpstreamClient, UpstreamRequest};

use super::lifecycle::Pending;
use super::positions::{self, RunUsage};
use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Work to finish before an event is passed on (registering a new thread,
/// recording an output file), so the client can use what the event names.
pub type EventHook =
    Box<dyn FnMut(&upstream::Event) -> Option<futures_util::future::BoxFuture<'static, ()>> + Send>;

/// Records what the upstream made in answers about one thread (or, for a
/// streamed create-thread-and-run, the thread the stream creates).
#[derive(Debug, Clone)]
pub struct Recorder {
    state: AppState,
    caller: Caller,
    request_id: String,
    /// Who gets what is recorded: the thread's owner, or the tenant for
    /// what an assistant's helper made.
    owner: Owner,
    /// The row what is recorded was made for (the thread, the assistant).
    parent: ResourceId,
    /// The thread's upstream id; `None` until a streamed create names it.
    thread: Option<String>,
}

/// An object of `kind` the upstream named at `position`, not yet confirmed.
struct Candidate {
    kind: ResourceKind,
    id: String,
    position: &'static str,
}

impl Recorder {
    /// For what is made for `owner` under the row `parent` (a thread, an
    /// assistant), in answers about `thread` when there is one.
    fn new(
        state: &AppState,
        caller: &Caller,
        request_id: &str,
        owner: Owner,
        parent: ResourceId,
        thread: Option<String>,
    ) -> Self {
        Self {
            state: state.clone(),
            caller: caller.clone(),
            request_id: request_id.to_owned(),
            owner,
            parent,
            thread,
        }
    }

    /// For answers about `thread` (its row and upstream id).
    pub fn for_thread(
        state: &AppState,
        caller: &Caller,
        request_id: &str,
        thread: &resources::Resource,
    ) -> Self {
        let upstream_id = thread.upstream_id.as_ref().map(ToString::to_string);
        Self::new(
            state,
            caller,
            request_id,
            thread.facts.owner,
            thread.facts.id,
            upstream_id,
        )
    }

    /// For a thread being created for `owner` as row `reserved`.
    pub fn for_new_thread(
        state: &AppState,
        caller: &Caller,
        request_id: &str,
        owner: Owner,
        reserved: ResourceId,
        thread: Option<&str>,
    ) -> Self {
        Self::new(
            state,
            caller,
            request_id,
            owner,
            reserved,
            thread.map(str::to_owned),
        )
    }

    /// For a response of `owner`, row `row`.
    pub fn for_response(
        state: &AppState,
        caller: &Caller,
        request_id: &str,
        owner: Owner,
        row: ResourceId,
    ) -> Self {
        Self::new(state, caller, request_id, owner, row, None)
    }

    /// What a response Threadgate fetched or streamed itself shows at known
    /// positions, never in its content: its token usage once it completed,
    /// and the containers its code interpreter ran in (a new one becomes
    /// the response owner's, once the upstream confirms it is a container).
    pub async fn response(&self, response: &Value) {
        if let Some(usage) = positions::finished_response(response) {
            self.usage(usage).await;
        }
        let containers = positions::response_containers(response);
        if !containers.is_empty() {
            self.claim(candidates(
                ResourceKind::Container,
                containers,
                "code_interpreter_call",
            ))
            .await;
        }
    }

    /// For what the helpers of the tenant's assistant `assistant` made.
    pub fn for_assistant(
        state: &AppState,
        caller: &Caller,
        request_id: &str,
        assistant: ResourceId,
    ) -> Self {
        Self::new(state, caller, request_id, Owner::Tenant, assistant, None)
    }

    fn client(&self) -> Result<std::sync::Arc<UpstreamClient>, ApiError> {
        self.state
            .upstreams
            .get(&self.caller.tenant.upstream_profile)
            .cloned()
            .map_err(ApiError::internal)
    }

    /// Records what a polled answer about the thread shows at known
    /// positions: the thread's stores, what its runs wrote into assistant
    /// messages and run steps, and the usage of its finished runs.
    pub async fn answer(&self, answer: &Value) {
        let Some(thread) = self.thread.clone() else {
            return;
        };
        let mut candidates = Vec::new();
        for object in positions::items(answer, "thread") {
            candidates.extend(stores(positions::thread_stores(object, &thread), "thread"));
        }
        let messages: Vec<positions::MessageOutputs> = positions::items(answer, "thread.message")
            .into_iter()
            .filter_map(|message| positions::message_outputs(message, &thread))
            .filter(|outputs| !outputs.files.is_empty())
            .collect();
        for step in positions::items(answer, "thread.run.step") {
            candidates.extend(files(positions::step_outputs(step, &thread), "run_step"));
        }
        let usage: Vec<RunUsage> = positions::items(answer, "thread.run")
            .into_iter()
            .filter_map(|run| positions::finished_run(run, &thread))
            .collect();

        let named: Vec<String> = candidates
            .iter()
            .map(|candidate| candidate.id.clone())
            .chain(messages.iter().flat_map(|outputs| outputs.files.clone()))
            .collect();
        let unknown = self.unknown(&named).await;
        // A message's files count only once the upstream confirms its run
        // is a run of this thread: asked once per run, and only for runs
        // that wrote a file no tenant knows.
        let mut runs: HashMap<String, bool> = HashMap::new();
        for outputs in messages {
            let new: Vec<String> = outputs
                .files
                .into_iter()
                .filter(|file| unknown.iter().any(|id| id.as_str() == file))
                .collect();
            if new.is_empty() {
                continue;
            }
            let confirmed = match runs.get(&outputs.run_id) {
                Some(confirmed) => *confirmed,
                None => {
                    let confirmed = self.run_of_thread(&thread, &outputs.run_id).await;
                    runs.insert(outputs.run_id, confirmed);
                    confirmed
                }
            };
            if confirmed {
                candidates.extend(files(new, "message"));
            }
        }
        self.record_unknown(candidates, &unknown).await;
        for run in usage {
            self.usage(run).await;
        }
    }

    /// Fetches the thread from the upstream and records the vector stores
    /// it has (made by a helper or for attachments of the caller's request).
    pub async fn thread_from_upstream(&self) {
        let Some(thread) = self.thread.clone() else {
            return;
        };
        let Ok(id) = UpstreamId::parse(thread.as_str()) else {
            return;
        };
        let Ok(client) = self.client() else {
            return;
        };
        let fetched = client
            .call::<Value>(self.as_owner(UpstreamRequest::new(Operation::GetThread, &[&id])))
            .await;
        match fetched {
            Ok(object) => {
                self.claim(stores(positions::thread_stores(&object, &thread), "thread"))
                    .await;
            }
            Err(error) => tracing::warn!(%error, "could not read a thread to record its stores"),
        }
    }

    /// Records the vector stores an assistant's `vector_stores` helper made,
    /// from the assistant object the upstream answered with.
    pub async fn assistant(&self, assistant: &Value) {
        let Some(id) = assistant["id"].as_str() else {
            return;
        };
        self.claim(stores(
            positions::assistant_stores(assistant, id),
            "assistant",
        ))
        .await;
    }

    /// A hook for a run's event stream: records as events name things, in
    /// the same known positions, before the event reaches the caller. With
    /// `pending`, the stream creates the thread: its `thread.created` event
    /// activates the reserved row first.
    pub fn hook(self, pending: Option<Pending>) -> EventHook {
        let mut stream = StreamState {
            recorder: self,
            pending,
            runs: HashSet::new(),
            messages: HashSet::new(),
        };
        Box::new(move |event: &upstream::Event| stream.on_event(event))
    }

    /// Which of `ids` no tenant knows yet; no database work for none.
    async fn unknown(&self, ids: &[String]) -> Vec<UpstreamId> {
        if ids.is_empty() {
            return Vec::new();
        }
        let parsed: Vec<UpstreamId> = ids
            .iter()
            .filter_map(|id| UpstreamId::parse(id.as_str()).ok())
            .collect();
        let profile = self.caller.tenant.upstream_profile.clone();
        let asked = parsed.clone();
        let known = self
            .state
            .database
            .run("recording.known", move |conn| {
                resources::known_anywhere(conn, &profile, &asked)
            })
            .await;
        match known {
            Ok(known) => parsed
                .into_iter()
                .filter(|id| !known.contains(id))
                .collect(),
            Err(error) => {
                tracing::error!(%error, "could not check whether objects are known");
                Vec::new()
            }
        }
    }

    async fn run_of_thread(&self, thread: &str, run: &str) -> bool {
        let (Ok(thread_id), Ok(run_id)) = (UpstreamId::parse(thread), UpstreamId::parse(run))
        else {
            return false;
        };
        let Ok(client) = self.client() else {
            return false;
        };
        match client
            .call::<Value>(self.as_owner(UpstreamRequest::new(
                Operation::GetRun,
                &[&thread_id, &run_id],
            )))
            .await
        {
            Ok(object) => {
                object["object"] == "thread.run"
                    && object["id"] == run
                    && object["thread_id"] == thread
            }
            Err(_) => false,
        }
    }

    /// Records the candidates no tenant knows, each once the upstream
    /// confirms what it is.
    async fn claim(&self, candidates: Vec<Candidate>) {
        let named: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
        let unknown = self.unknown(&named).await;
        self.record_unknown(candidates, &unknown).await;
    }

    /// Records each candidate among `unknown`, once the upstream confirms
    /// what it is.
    async fn record_unknown(&self, candidates: Vec<Candidate>, unknown: &[UpstreamId]) {
        let mut done = HashSet::new();
        for candidate in candidates {
            let Some(id) = unknown.iter().find(|id| id.as_str() == candidate.id) else {
                continue;
            };
            if !done.insert(candidate.id.clone()) {
                continue;
            }
            let Some(attributes) = self.confirm(candidate.kind, id).await else {
                continue;
            };
            if let Err(error) = self.record(&candidate, id, attributes).await {
                tracing::error!(%error, "could not record an object the upstream made");
            }
        }
    }

    /// `request`, seen by upstreams that scope data by user as the owner's
    /// (a grantee's run on a shared thread makes what its owner owns).
    fn as_owner<'r>(&self, mut request: UpstreamRequest<'r>) -> UpstreamRequest<'r> {
        request.user_isolation_key = super::owner_isolation_key(self.owner)
            .or_else(|| super::user_isolation_key(&self.caller));
        request
    }

    /// Asks the upstream what `id` is; answers what to remember of it when
    /// it is what a candidate of `kind` must be.
    async fn confirm(&self, kind: ResourceKind, id: &UpstreamId) -> Option<Value> {
        let client = self.client().ok()?;
        let get = Operation::for_kind(kind)?.get;
        let ids = [id];
        let request = self.as_owner(UpstreamRequest::new(get, &ids));
        let fetched: Value = match client.call(request).await {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::warn!(%error, upstream_id = %id, "a named object is not found upstream: not recorded");
                return None;
            }
        };
        // The upstream's `object` names the kind as Threadgate spells it.
        let is_it = fetched["object"] == kind.as_str() && fetched["id"] == id.as_str();
        // Only files the assistant wrote become the thread owner's.
        let written = kind != ResourceKind::File || fetched["purpose"] == "assistants_output";
        if !(is_it && written) {
            tracing::warn!(upstream_id = %id, "a named object is not what its position says: not recorded");
            return None;
        }
        Some(match kind {
            ResourceKind::File => fetched,
            _ => serde_json::json!({}),
        })
    }

    async fn record(
        &self,
        candidate: &Candidate,
        id: &UpstreamId,
        attributes: Value,
    ) -> Result<(), ApiError> {
        let new_id = id.clone();
        let (tenant_id, kind, owner, parent) = (
            self.caller.tenant.id,
            candidate.kind,
            self.owner,
            self.parent,
        );
        let profile = self.caller.tenant.upstream_profile.clone();
        let request_id = self.request_id.clone();
        let attributes = super::lifecycle::storable(attributes);
        let mut event =
            crate::audit::event(&self.caller, &self.request_id, "record", Outcome::Allow);
        event.resource_kind = Some(kind.as_str());
        event.upstream_id = Some(id.to_string());
        event.details = serde_json::json!({"position": candidate.position});
        // The row and its audit event are written together, or neither is.
        self.state
            .database
            .transaction("recording.record", move |conn| {
                let recorded = resources::record_existing(
                    conn,
                    &NewResource {
                        tenant_id,
                        kind,
                        upstream_profile: &profile,
                        owner,
                        parent_id: Some(parent),
                        request_id: Some(&request_id),
                        attributes,
                    },
                    &new_id,
                )?;
                event.resource_id = recorded.as_ref().map(|r| r.facts.id);
                if recorded.is_none() {
                    event.outcome = Outcome::Deny;
                    event.reason = Some("known_elsewhere".to_owned());
                }
                storage::repo::audit::append_many(conn, &[event]).map(drop)
            })
            .await?;
        Ok(())
    }

    /// The run's token usage, once per run: charged to whoever started it
    /// (noted by [`Self::started`]), else to the thread's (or response's)
    /// owner.
    async fn usage(&self, run: RunUsage) {
        let owner = match self.owner {
            Owner::User(user) => Some(user),
            Owner::Tenant => None,
        };
        record_usage(&self.state, &self.caller, Some(self.parent), owner, run).await;
    }

    /// Notes that the caller started `run` (a `thread.run` of this thread
    /// in the answer to, or the `thread.run.created` event of, the
    /// caller's own create): its tokens are charged to the caller,
    /// whoever's request later sees it finish.
    pub async fn started(&self, run: &Value) {
        let Some(thread) = self.thread.as_deref() else {
            return;
        };
        if run["object"] != "thread.run" || run["thread_id"] != thread {
            return;
        }
        let Some(run_id) = run["id"].as_str().map(str::to_owned) else {
            return;
        };
        let (tenant_id, user_id) = (self.caller.tenant.id, self.caller.user());
        let profile = self.caller.tenant.upstream_profile.clone();
        let parent = self.parent;
        let noted = self
            .state
            .database
            .run("usage.start", move |conn| {
                storage::repo::usage::start(
                    conn,
                    &storage::repo::usage::NewUsage {
                        tenant_id,
                        user_id,
                        resource_id: Some(parent),
                        upstream_ref: &run_id,
                        upstream_profile: &profile,
                        model: None,
                        prompt_tokens: 0,
                        completion_tokens: 0,
                        total_tokens: 0,
                    },
                )
            })
            .await;
        if let Err(error) = noted {
            tracing::error!(%error, "could not note who started a run");
        }
    }
}

/// Records a finished run's or response's token usage, once per run:
/// charged to whoever started it when that was noted
/// ([`Recorder::started`]), else to `charged` (the thread's or response's
/// owner; the caller, for an unstored response only they can see). Never
/// simply to whoever's request saw it finish: a grantee's or an admin's
/// read would pay for someone else's run. `resource` is the row it was
/// made under (`None`: an unstored response).
pub async fn record_usage(
    state: &AppState,
    caller: &Caller,
    resource: Option<ResourceId>,
    charged: Option<domain::UserId>,
    run: RunUsage,
) {
    let tenant_id = caller.tenant.id;
    let profile = caller.tenant.upstream_profile.clone();
    let (prompt, completion) = (run.prompt_tokens, run.completion_tokens);
    let recorded = state
        .database
        .run("usage.record", move |conn| {
            storage::repo::usage::record(
                conn,
                &storage::repo::usage::NewUsage {
                    tenant_id,
                    user_id: charged,
                    resource_id: resource,
                    upstream_ref: &run.run_id,
                    upstream_profile: &profile,
                    model: run.model.as_deref(),
                    prompt_tokens: run.prompt_tokens,
                    completion_tokens: run.completion_tokens,
                    total_tokens: run.total_tokens,
                },
            )
        })
        .await;
    match recorded {
        // Counted once per run, when first recorded; by tenant (its
        // slug), never by user.
        Ok(true) => {
            let tenant = caller.tenant.slug.clone();
            for (direction, tokens) in [("input", prompt), ("output", completion)] {
                metrics::counter!(
                    "threadgate_tokens_total",
                    "tenant" => tenant.clone(),
                    "direction" => direction,
                )
                .increment(u64::try_from(tokens).unwrap_or(0));
            }
        }
        Ok(false) => {}
        Err(error) => tracing::error!(%error, "could not record a run's usage"),
    }
}

fn candidates(kind: ResourceKind, ids: Vec<String>, position: &'static str) -> Vec<Candidate> {
    ids.into_iter()
        .map(|id| Candidate { kind, id, position })
        .collect()
}

fn files(ids: Vec<String>, position: &'static str) -> Vec<Candidate> {
    candidates(ResourceKind::File, ids, position)
}

fn stores(ids: Vec<String>, position: &'static str) -> Vec<Candidate> {
    candidates(ResourceKind::VectorStore, ids, position)
}

/// What a stream has shown so far: the runs of the thread it is about, and
/// the assistant messages those runs are writing.
struct StreamState {
    recorder: Recorder,
    pending: Option<Pending>,
    runs: HashSet<String>,
    messages: HashSet<String>,
}

impl StreamState {
    fn on_event(
        &mut self,
        event: &upstream::Event,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        if event.is_done() {
            return None;
        }
        let data: Value = serde_json::from_str(&event.data).ok()?;
        let name = event.event.as_str();
        if name == "thread.created" {
            return self.thread_created(data);
        }
        let thread = self.recorder.thread.clone()?;
        let recorder = self.recorder.clone();
        if name.starts_with("thread.run.step.") {
            let found = files(positions::step_outputs(&data, &thread), "run_step");
            return (!found.is_empty()).then(|| async move { recorder.claim(found).await }.boxed());
        }
        if name.starts_with("thread.run.") {
            if data["object"] != "thread.run" || data["thread_id"] != thread.as_str() {
                return None;
            }
            self.runs.insert(data["id"].as_str()?.to_owned());
            if name == "thread.run.created" {
                // Only the stream of the caller's own create tells of one.
                return Some(async move { recorder.started(&data).await }.boxed());
            }
            let usage = positions::finished_run(&data, &thread)?;
            return Some(async move { recorder.usage(usage).await }.boxed());
        }
        let found = match name {
            "thread.message.created"
            | "thread.message.in_progress"
            | "thread.message.completed" => {
                let outputs = positions::message_outputs(&data, &thread)?;
                if !self.runs.contains(&outputs.run_id) {
                    return None;
                }
                self.messages.insert(outputs.message_id);
                outputs.files
            }
            "thread.message.delta" => {
                let (message, found) = positions::delta_outputs(&data)?;
                if !self.messages.contains(&message) {
                    return None;
                }
                found
            }
            _ => return None,
        };
        let found = files(found, "message");
        (!found.is_empty()).then(|| async move { recorder.claim(found).await }.boxed())
    }

    /// The thread a streamed create-thread-and-run made: its row becomes
    /// active before the event reaches the caller, and the stores made for
    /// it become the owner's.
    fn thread_created(
        &mut self,
        thread: Value,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        if thread["object"] != "thread" || self.recorder.thread.is_some() {
            return None;
        }
        let pending = self.pending.take()?;
        let id = thread["id"].as_str()?.to_owned();
        self.recorder.thread = Some(id.clone());
        let recorder = self.recorder.clone();
        Some(
            async move {
                let activated = pending
                    .activate(
                        &recorder.state,
                        &recorder.caller,
                        &recorder.request_id,
                        &thread,
                    )
                    .await;
                if let Err(error) = activated {
                    tracing::error!(%error, "could not register a streamed thread");
                    return;
                }
                recorder
                    .claim(stores(positions::thread_stores(&thread, &id), "thread"))
                    .await;
            }
            .boxed(),
        )
    }
}
