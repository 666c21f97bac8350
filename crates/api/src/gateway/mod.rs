//! The one path every request takes after authentication: resolve every id
//! it names, ask the decision function about each, and only then talk to the
//! upstream; record what was created; audit every decision.
//!
//! Deny by default is a type here, not a habit: an [`Exchange`] collects the
//! ids a request names and can do nothing else; only [`Exchange::authorize`]
//! (and its create and one-object forms) turn it into an [`Authorized`],
//! and only an [`Authorized`] reaches the upstream. Its fields are private
//! to this module, so route code cannot make one, and `clippy.toml` forbids
//! calling `UpstreamClient` directly anywhere else.
//!
//! A denied id answers exactly what an id that never existed answers: the
//! upstream's own 404 body, with no upstream request made.

pub mod lifecycle;
pub mod metadata;
pub mod positions;
pub mod recording;
pub mod references;
pub mod resolve;

use std::sync::Arc;

use domain::{
    Action, ListScope, Owner, Ownership, ResourceKind, Target, UpstreamId, UserId, authorize,
};
use futures_util::{StreamExt, stream};
use serde_json::Value;
use storage::repo::audit::Outcome;
use storage::repo::resources::{self, Resource};
use upstream::{EventStream, Operation, UpstreamClient, UpstreamError, UpstreamRequest};

pub use lifecycle::Pending;
pub use references::Reference;

use crate::auth::Caller;
use crate::request_id::RequestId;
use crate::{ApiError, AppState};

/// One request on its way through: who asks, what it names. It cannot reach
/// the upstream until it is authorized.
#[derive(Debug)]
pub struct Exchange<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    request_id: &'a RequestId,
    references: Vec<Reference>,
    /// The body asks for a stream: a slot of the user's open streams is
    /// taken before anything is looked up or reserved.
    streaming: bool,
    /// The operation can spend tokens (runs, responses): the token budget
    /// is checked before anything is looked up or reserved.
    spends_tokens: bool,
}

/// The gateway's grant: every id the request named was authorized for the
/// caller. Only the gateway makes one, and every way to the upstream takes
/// one.
///
/// Route code gets one only from an [`Exchange`]:
///
/// ```
/// use api::ApiError;
/// use api::gateway::{Authorized, Exchange};
///
/// async fn granted(exchange: Exchange<'_>) -> Result<Authorized<'_>, ApiError> {
///     exchange.authorize().await
/// }
/// ```
///
/// and cannot make one itself (its fields are private: E0451):
///
/// ```compile_fail,E0451
/// use api::AppState;
/// use api::auth::Caller;
/// use api::gateway::Authorized;
/// use api::request_id::RequestId;
///
/// fn forged<'a>(state: &'a AppState, caller: &'a Caller, request_id: &'a RequestId) -> Authorized<'a> {
///     Authorized { state, caller, request_id, resources: Vec::new(), borrowed: Vec::new(), path_owner: None }
/// }
/// ```
#[derive(Debug)]
pub struct Authorized<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    request_id: &'a RequestId,
    resources: Vec<Resource>,
    /// What the caller reached through another user's share (or an admin
    /// reading a user's conversation), and for what: re-checked once the
    /// upstream has answered and before each streamed event, so a revoke
    /// that lands while the request is on its way still binds.
    borrowed: Vec<(ResourceKind, UpstreamId, Action)>,
    /// The owner of the object the path names, if it names one.
    path_owner: Option<Owner>,
    /// The open-stream slot checked for this request, handed to its stream.
    stream_admission: std::sync::Mutex<StreamAdmission>,
}

/// Whether a request may hold one more of its user's open streams.
#[derive(Debug)]
enum StreamAdmission {
    /// Not checked yet (the body did not ask for a stream, as a resumed
    /// response's `?stream=true` does not): checked when a stream opens.
    Unchecked,
    /// Checked before anything was reserved: the slot, when a limit holds.
    Admitted(Option<crate::quota::StreamSlot>),
}

/// The not-found answer for an id, worded as the upstream words its own.
pub fn not_found(kind: ResourceKind, id: &str) -> ApiError {
    ApiError::not_found(format!("No {} found with id '{id}'.", kind.noun()))
}

/// A stable pseudonym of the caller's end-user, the same on every replica
/// and every request, from which neither their Threadgate id nor their
/// identity provider's subject can be read back; `None` for a backend
/// acting as itself.
pub fn user_isolation_key(caller: &Caller) -> Option<String> {
    caller.principal.user_id().map(isolation_key_of)
}

/// The pseudonym of one user, as upstreams that scope data by user see it.
fn isolation_key_of(user: UserId) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("threadgate-user-isolation:{user}"));
    hex::encode(&digest[..16])
}

/// The pseudonym under which an upstream that scopes data by user holds
/// the objects of `owner`; `None` for the tenant's own.
pub fn owner_isolation_key(owner: Owner) -> Option<String> {
    match owner {
        Owner::User(user) => Some(isolation_key_of(user)),
        Owner::Tenant => None,
    }
}

/// `request`, naming `caller`'s end-user to upstreams that scope data by
/// user. Every request made on a caller's behalf without an object of
/// someone else's goes through here.
pub(crate) fn for_caller<'r>(
    caller: &Caller,
    mut request: UpstreamRequest<'r>,
) -> UpstreamRequest<'r> {
    request.user_isolation_key = user_isolation_key(caller);
    request
}

/// The owner a new object of the caller's gets, as `domain::owner_of_new`
/// decides; asking for the tenant without being its admin is a 403.
pub fn owner_of_new(caller: &Caller, asked: Ownership) -> Result<Owner, ApiError> {
    domain::owner_of_new(&caller.principal, asked).map_err(|_| acting_for_the_tenant())
}

/// Whose objects of `kind` a list shows the caller, as `domain::list_scope`
/// decides.
pub fn list_scope(
    caller: &Caller,
    kind: ResourceKind,
    asked: Ownership,
) -> Result<ListScope, ApiError> {
    domain::list_scope(&caller.principal, kind, asked).map_err(|_| acting_for_the_tenant())
}

fn acting_for_the_tenant() -> ApiError {
    ApiError::Forbidden {
        message: "Only tenant admins may act for the tenant.".to_owned(),
    }
}

/// A path id that is not a resource of its own (message, run, step): it
/// only has to be a well-formed id; its parent was authorized.
pub fn child_id(raw: &str, noun: &str) -> Result<UpstreamId, ApiError> {
    UpstreamId::parse(raw)
        .map_err(|_| ApiError::not_found(format!("No {noun} found with id '{raw}'.")))
}

impl<'a> Exchange<'a> {
    pub fn new(state: &'a AppState, caller: &'a Caller, request_id: &'a RequestId) -> Self {
        Self {
            state,
            caller,
            request_id,
            references: Vec::new(),
            streaming: false,
            spends_tokens: false,
        }
    }

    /// An id in the path.
    pub fn path(mut self, kind: ResourceKind, id: &str, action: Action) -> Self {
        self.references
            .push(Reference::new(kind, id, action, "path"));
        self
    }

    /// A list cursor that names an object of a top-level list. A cursor
    /// that is no id at all is a 400 on every list; a well-formed one that
    /// names nothing of the caller's is a 404, like any other id.
    pub fn cursor(
        mut self,
        kind: ResourceKind,
        name: &str,
        id: Option<&str>,
    ) -> Result<Self, ApiError> {
        if let Some(id) = id {
            UpstreamId::parse(id)
                .map_err(|_| ApiError::bad_request(format!("Invalid '{name}'."), Some(name)))?;
            self.references.push(Reference::new(
                kind,
                id,
                Action::Read,
                format!("query.{name}"),
            ));
        }
        Ok(self)
    }

    /// Every id the body names for `operation`; refuses invalid metadata,
    /// malformed ids and more ids than the operation allows, before any
    /// lookup.
    pub fn body(mut self, operation: Operation, body: &Value) -> Result<Self, ApiError> {
        metadata::refuse_invalid(body)?;
        self.references
            .extend(references::in_body(operation, body)?);
        // What runs the model spends tokens; all of it but compaction can
        // stream. Only those hold a slot: `stream` in another body is an
        // extra key the upstream ignores.
        self.spends_tokens = matches!(
            operation,
            Operation::CreateRun
                | Operation::CreateThreadAndRun
                | Operation::SubmitToolOutputs
                | Operation::CreateResponse
                | Operation::CompactResponse
        );
        self.streaming = self.spends_tokens
            && operation != Operation::CompactResponse
            && body.get("stream") == Some(&Value::Bool(true));
        Ok(self)
    }

    /// Authorizes every reference in one database round trip; the first
    /// denial, in the order the ids were named, ends the request.
    #[tracing::instrument(name = "authorize", skip_all, fields(references = self.references.len()))]
    pub async fn authorize(self) -> Result<Authorized<'a>, ApiError> {
        // Limits first: a refused request reserves and forwards nothing.
        if self.spends_tokens {
            self.state
                .quotas
                .check_budget(self.state, self.caller)
                .await
                .inspect_err(|refusal| self.refused_by_limit(refusal))?;
        }
        let stream_admission = if self.streaming {
            StreamAdmission::Admitted(
                self.state
                    .quotas
                    .open_stream(self.caller)
                    .await
                    .inspect_err(|refusal| self.refused_by_limit(refusal))?,
            )
        } else {
            StreamAdmission::Unchecked
        };
        let principal = self.caller.principal.clone();
        let tenant_id = principal.tenant_id;
        // Ids that do not parse are never looked up: they are unknown.
        let parsed: Vec<Option<UpstreamId>> = self
            .references
            .iter()
            .map(|r| UpstreamId::parse(r.id.as_str()).ok())
            .collect();
        let wanted: Vec<(ResourceKind, UpstreamId)> = self
            .references
            .iter()
            .zip(&parsed)
            .filter_map(|(r, id)| id.clone().map(|id| (r.kind, id)))
            .collect();
        let found = self
            .state
            .database
            .run("authorize.lookup", move |conn| {
                resources::find_many(conn, tenant_id, &wanted, principal.user_id())
            })
            .await?;
        let mut found = found.into_iter();
        let policy = self.caller.tenant.policy;
        let mut allowed = Vec::with_capacity(self.references.len());
        let mut borrowed = Vec::new();
        let mut path_owner = None;
        for (reference, id) in self.references.iter().zip(&parsed) {
            let resource = id.as_ref().and_then(|_| found.next().flatten());
            let decision = match &resource {
                None => Err("unknown"),
                Some(resource) => match authorize(
                    &self.caller.principal,
                    reference.action,
                    Target::Existing(&resource.facts),
                    &policy,
                ) {
                    domain::Decision::Allow => Ok(()),
                    domain::Decision::Deny(reason) => Err(reason.as_str()),
                },
            };
            metrics::counter!(
                "threadgate_authorization_decisions_total",
                "outcome" => if decision.is_ok() { "allow" } else { "deny" },
            )
            .increment(1);
            match (decision, resource) {
                (Ok(()), Some(resource)) => {
                    let someone_elses = matches!(resource.facts.owner,
                        Owner::User(owner) if Some(owner) != self.caller.principal.user_id());
                    if let (true, Some(id)) = (someone_elses, id) {
                        borrowed.push((reference.kind, id.clone(), reference.action));
                    }
                    if reference.location == "path" && path_owner.is_none() {
                        path_owner = Some(resource.facts.owner);
                    }
                    self.audit(
                        reference,
                        Some(&resource),
                        Outcome::Allow,
                        None,
                        Value::Null,
                    );
                    allowed.push(resource);
                }
                (Ok(()), None) => {
                    return Err(ApiError::internal(std::io::Error::other(
                        "allowed without a resource",
                    )));
                }
                (Err(reason), resource) => {
                    return Err(self.deny(reference, resource.as_ref(), reason));
                }
            }
        }
        Ok(Authorized {
            state: self.state,
            caller: self.caller,
            request_id: self.request_id,
            resources: allowed,
            borrowed,
            path_owner,
            stream_admission: std::sync::Mutex::new(stream_admission),
        })
    }

    /// A limit refused the request: audited as a decision.
    fn refused_by_limit(&self, refusal: &ApiError) {
        crate::quota::audit_refusal(
            self.state,
            self.caller,
            &self.request_id.0,
            "quota",
            refusal,
        );
    }

    /// Authorizes every reference and answers the first (the path's object)
    /// with its upstream id, beside the grant.
    pub async fn authorize_one(self) -> Result<(Authorized<'a>, Resource, UpstreamId), ApiError> {
        let authorized = self.authorize().await?;
        let resource = authorized
            .resources
            .first()
            .cloned()
            .ok_or_else(|| ApiError::internal(std::io::Error::other("nothing to authorize")))?;
        // Only active rows authorize anything, and they always have one.
        let id = resource.upstream_id.clone().ok_or_else(|| {
            ApiError::internal(std::io::Error::other(
                "an active row without an upstream id",
            ))
        })?;
        Ok((authorized, resource, id))
    }

    /// Authorizes every reference, then whether the caller may create a
    /// resource of `kind`. Denied creations are 403: no id is involved, so
    /// there is nothing to hide.
    pub async fn authorize_create(self, kind: ResourceKind) -> Result<Authorized<'a>, ApiError> {
        let authorized = self.authorize().await?;
        match authorize(
            &authorized.caller.principal,
            Action::Create,
            Target::NewOf(kind),
            &authorized.caller.tenant.policy,
        ) {
            domain::Decision::Allow => Ok(authorized),
            domain::Decision::Deny(reason) => {
                let mut event = authorized.event("create", Outcome::Deny);
                event.reason = Some(reason.as_str().to_owned());
                event.details = serde_json::json!({"kind": kind.as_str()});
                authorized.state.audit.record(event);
                Err(ApiError::Forbidden {
                    message: format!("You may not create {}.", kind.with_article()),
                })
            }
        }
    }

    /// The refusal for a denied reference, audited.
    fn deny(&self, reference: &Reference, found: Option<&Resource>, reason: &str) -> ApiError {
        self.audit(
            reference,
            found,
            Outcome::Deny,
            Some(reason),
            serde_json::json!({"location": reference.location}),
        );
        // What the caller may see anyway gets an honest 403; everything
        // else looks like it does not exist.
        let visible = found.is_some_and(|resource| {
            authorize(
                &self.caller.principal,
                Action::Read,
                Target::Existing(&resource.facts),
                &self.caller.tenant.policy,
            )
            .is_allowed()
        });
        if visible {
            return ApiError::Forbidden {
                message: format!(
                    "You may not {} this {}.",
                    reference.action.as_str().replace('_', " "),
                    reference.kind.noun()
                ),
            };
        }
        not_found(reference.kind, &reference.id)
    }

    fn audit(
        &self,
        reference: &Reference,
        resource: Option<&Resource>,
        outcome: Outcome,
        reason: Option<&str>,
        details: Value,
    ) {
        let mut event = crate::audit::event(
            self.caller,
            &self.request_id.0,
            reference.action.as_str(),
            outcome,
        );
        event.resource_kind = Some(reference.kind.as_str());
        event.resource_id = resource.map(|r| r.facts.id);
        event.upstream_id = Some(reference.id.clone());
        event.reason = reason.map(str::to_owned);
        event.details = details;
        self.state.audit.record(event);
    }
}

// The grant is where authorized requests reach the upstream.
#[allow(clippy::disallowed_methods)]
impl<'a> Authorized<'a> {
    pub fn caller(&self) -> &'a Caller {
        self.caller
    }

    pub fn state(&self) -> &'a AppState {
        self.state
    }

    /// The upstream client of the caller's tenant.
    fn upstream(&self) -> Result<&Arc<UpstreamClient>, ApiError> {
        self.state
            .upstreams
            .get(&self.caller.tenant.upstream_profile)
            .map_err(ApiError::internal)
    }

    /// Sends a request upstream and answers its JSON, reserved metadata
    /// removed. The mutation (or its failure) is audited.
    pub async fn forward(&self, request: UpstreamRequest<'_>) -> Result<Value, ApiError> {
        let mut value = self.forward_stamped(request).await?;
        metadata::hide_reserved(&mut value);
        Ok(value)
    }

    /// [`Authorized::forward`] with Threadgate's own stamps left in the
    /// answer, for the gateway to read (never for the caller).
    pub(crate) async fn forward_stamped(
        &self,
        request: UpstreamRequest<'_>,
    ) -> Result<Value, ApiError> {
        let operation = request.operation;
        let result = self
            .upstream()?
            .call::<Value>(self.for_caller(request))
            .await;
        if operation.changes_state() {
            let mut event = self.event("mutate", Outcome::Allow);
            event.details = match &result {
                Ok(_) => {
                    serde_json::json!({"operation": format!("{operation:?}"), "upstream": "ok"})
                }
                Err(error) => {
                    event.outcome = Outcome::Error;
                    serde_json::json!({"operation": format!("{operation:?}"), "upstream": error.to_string()})
                }
            };
            self.state.audit.record(event);
        }
        let value = result?;
        self.still_allowed().await?;
        Ok(value)
    }

    /// Opens an upstream event stream. Where the caller reached an object
    /// through someone's share, the share is confirmed again before an
    /// event once [`SHARE_RECHECK_BUSY`] has passed, and after every
    /// [`SHARE_RECHECK`] of quiet; a revoked share ends the stream with the
    /// not-found error an unknown id gets.
    pub async fn stream(&self, request: UpstreamRequest<'_>) -> Result<EventStream, ApiError> {
        let admission = self
            .stream_admission
            .lock()
            .map(|mut admission| std::mem::replace(&mut *admission, StreamAdmission::Unchecked));
        let slot = match admission {
            Ok(StreamAdmission::Admitted(slot)) => slot,
            _ => self
                .state
                .quotas
                .open_stream(self.caller)
                .await
                .inspect_err(|refusal| {
                    crate::quota::audit_refusal(
                        self.state,
                        self.caller,
                        &self.request_id.0,
                        "quota",
                        refusal,
                    );
                })?,
        };
        let events = self.upstream()?.stream(self.for_caller(request)).await?;
        let events = match slot {
            // The slot lives as long as the stream: freed when it ends or
            // the client leaves.
            Some(slot) => Box::pin(events.inspect(move |_| {
                let _held = &slot;
            })),
            None => events,
        };
        if self.borrowed.is_empty() {
            return Ok(events);
        }
        let recheck = self.recheck();
        let ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + SHARE_RECHECK, SHARE_RECHECK);
        let confirmed = tokio::time::Instant::now();
        Ok(Box::pin(stream::unfold(
            Some((events, recheck, ticker, confirmed)),
            |open| async move {
                let (mut events, recheck, mut ticker, mut confirmed) = open?;
                loop {
                    let event = tokio::select! {
                        event = events.next() => Some(event?),
                        _ = ticker.tick() => None,
                    };
                    // Token deltas come many a second: confirmed at most
                    // every SHARE_RECHECK_BUSY, so a stream costs the
                    // database a bounded number of lookups.
                    if event.is_none() || confirmed.elapsed() >= SHARE_RECHECK_BUSY {
                        if let Some((kind, id)) = recheck.first_denied().await {
                            return Some((Ok(revoked_event(kind, &id)), None));
                        }
                        confirmed = tokio::time::Instant::now();
                    }
                    if let Some(event) = event {
                        return Some((event, Some((events, recheck, ticker, confirmed))));
                    }
                }
            },
        )))
    }

    /// Confirms, after the upstream answered, that what the caller reached
    /// through someone's share is still shared with them; the refusal an
    /// unknown id gets otherwise. No database work when nothing was
    /// borrowed (the owner's own requests).
    pub(crate) async fn still_allowed(&self) -> Result<(), ApiError> {
        if self.borrowed.is_empty() {
            return Ok(());
        }
        let recheck = self.recheck();
        match recheck.first_denied().await {
            None => Ok(()),
            Some((kind, id)) => Err(not_found(kind, id.as_str())),
        }
    }

    /// Of a page of objects of `kind` others shared with the caller,
    /// fetched upstream, those still shared once fetched (one lookup): a
    /// revoke that lands while the page is read drops the object from it.
    pub async fn still_shared(
        &self,
        kind: ResourceKind,
        objects: Vec<Value>,
    ) -> Result<Vec<Value>, ApiError> {
        let ids: Vec<Option<UpstreamId>> = objects
            .iter()
            .map(|object| {
                object["id"]
                    .as_str()
                    .and_then(|id| UpstreamId::parse(id).ok())
            })
            .collect();
        let wanted: Vec<(ResourceKind, UpstreamId, Action)> = ids
            .iter()
            .flatten()
            .map(|id| (kind, id.clone(), Action::Read))
            .collect();
        let decided = decide_again(&self.state.database, self.caller, wanted).await?;
        let mut decided = decided.into_iter();
        let mut kept = Vec::with_capacity(objects.len());
        for (object, id) in objects.into_iter().zip(ids) {
            let readable = id.is_some() && decided.next().is_some_and(|(_, allowed)| allowed);
            if readable {
                kept.push(object);
            }
        }
        Ok(kept)
    }

    fn recheck(&self) -> Recheck {
        Recheck {
            database: self.state.database.clone(),
            audit: self.state.audit.clone(),
            caller: self.caller.clone(),
            request_id: self.request_id.0.clone(),
            borrowed: self.borrowed.clone(),
        }
    }

    /// Sends a request whose answer is not JSON (file content).
    pub async fn raw(&self, request: UpstreamRequest<'_>) -> Result<reqwest::Response, ApiError> {
        let response = self.upstream()?.raw(self.for_caller(request)).await?;
        self.still_allowed().await?;
        Ok(response)
    }

    /// `request`, naming the caller's end-user to upstreams that scope data
    /// by user (Foundry's `x-ms-user-isolation-key`).
    fn for_caller<'r>(&self, mut request: UpstreamRequest<'r>) -> UpstreamRequest<'r> {
        request.user_isolation_key = self.isolation_key();
        request
    }

    /// Whose data the request is about, for upstreams that scope data by
    /// user: the owner of the object in its path when a user owns it (a
    /// thread shared with the caller stays its owner's upstream), else the
    /// caller (what a request creates is the caller's, whatever its body
    /// names).
    fn isolation_key(&self) -> Option<String> {
        self.path_owner
            .and_then(owner_isolation_key)
            .or_else(|| user_isolation_key(self.caller))
    }

    /// Starts an upload of a file streamed from the caller; its answer
    /// arrives on the task while the caller's bytes are passed on.
    pub fn upload(
        &self,
        streamed: upstream::StreamUpload,
    ) -> Result<tokio::task::JoinHandle<Result<Value, UpstreamError>>, ApiError> {
        let client = self.upstream()?.clone();
        let user_isolation_key = self.isolation_key();
        Ok(tokio::spawn(async move {
            client
                .call::<Value>(UpstreamRequest {
                    operation: Operation::UploadFile,
                    ids: &[],
                    query: Vec::new(),
                    body: upstream::RequestBody::FileStream(streamed),
                    user_isolation_key,
                })
                .await
        }))
    }

    /// The object the upstream answered a change of `resource` with,
    /// stored as its kept attributes (what lists answer from), when it is
    /// that object. A failure to store forgets the attributes instead, so
    /// a list fetches the object rather than show what it was.
    pub async fn keep_attributes(&self, resource: &Resource, answer: &Value) {
        let same = resource
            .upstream_id
            .as_ref()
            .is_some_and(|id| answer["id"].as_str() == Some(id.as_str()));
        if !same {
            return;
        }
        let (tenant_id, id) = (resource.facts.tenant_id, resource.facts.id);
        let attributes = lifecycle::storable(answer.clone());
        let kept = self
            .state
            .database
            .run("resources.keep_attributes", move |conn| {
                resources::set_attributes(conn, tenant_id, id, &attributes)
            })
            .await;
        if let Err(error) = kept {
            tracing::warn!(%error, resource = %id, "kept attributes not updated: forgotten instead");
            self.forget_attributes(resource).await;
        }
    }

    /// Forgets `resource`'s kept attributes, so lists fetch it: after a
    /// change whose answer does not show the object (a message whose
    /// attachments give the thread a vector store), or whose outcome is
    /// unknown (a failed modify).
    pub async fn forget_attributes(&self, resource: &Resource) {
        let (tenant_id, id) = (resource.facts.tenant_id, resource.facts.id);
        let forgotten = self
            .state
            .database
            .run("resources.forget_attributes", move |conn| {
                resources::set_attributes(conn, tenant_id, id, &Value::Object(Default::default()))
            })
            .await;
        if let Err(error) = forgotten {
            tracing::error!(%error, resource = %id, "kept attributes may be stale");
        }
    }

    /// Listed resources from their kept attributes, reserved metadata
    /// hidden; the ones without any fetched from the upstream with
    /// `operation` (in one batch, order kept).
    pub async fn kept_or_fetched(
        &self,
        operation: Operation,
        listed: Vec<Resource>,
    ) -> Result<Vec<Value>, ApiError> {
        // Kept only when they are the object itself (a thread made with a
        // run stored the run's answer, not the thread).
        let kept = |row: &Resource| {
            row.upstream_id
                .as_ref()
                .is_some_and(|id| row.attributes["id"].as_str() == Some(id.as_str()))
        };
        let missing: Vec<Resource> = listed.iter().filter(|row| !kept(row)).cloned().collect();
        let mut fetched: std::collections::HashMap<String, Value> = self
            .fetch_listed(operation, missing)
            .await?
            .into_iter()
            .filter_map(|object| Some((object["id"].as_str()?.to_owned(), object)))
            .collect();
        Ok(listed
            .into_iter()
            .filter_map(|row| {
                if kept(&row) {
                    let mut object = row.attributes;
                    metadata::hide_reserved(&mut object);
                    Some(object)
                } else {
                    fetched.remove(row.upstream_id.as_ref()?.as_str())
                }
            })
            .collect())
    }

    /// Fetches each listed resource from the upstream, a few at a time,
    /// keeping the order. Objects the upstream no longer has are left out.
    pub async fn fetch_listed(
        &self,
        operation: Operation,
        listed: Vec<Resource>,
    ) -> Result<Vec<Value>, ApiError> {
        let client = self.upstream()?.clone();
        let caller = self.caller;
        let fetched: Vec<Result<Option<Value>, UpstreamError>> = stream::iter(listed)
            .map(|resource| {
                let client = client.clone();
                async move {
                    let Some(id) = resource.upstream_id else {
                        return Ok(None);
                    };
                    let ids = [&id];
                    let mut request = UpstreamRequest::new(operation, &ids);
                    // A listed thread shared with the caller is its owner's upstream.
                    request.user_isolation_key = owner_isolation_key(resource.facts.owner)
                        .or_else(|| user_isolation_key(caller));
                    match client.call::<Value>(request).await {
                        Ok(value) => Ok(Some(value)),
                        Err(UpstreamError::NotFound(_)) => {
                            tracing::warn!(upstream_id = %id, "listed object missing upstream");
                            Ok(None)
                        }
                        Err(error) => Err(error),
                    }
                }
            })
            .buffered(8)
            .collect()
            .await;
        let mut objects = Vec::new();
        for item in fetched {
            if let Some(mut value) = item? {
                metadata::hide_reserved(&mut value);
                objects.push(value);
            }
        }
        Ok(objects)
    }

    /// Reserves a `pending` row before the upstream is asked to create the object.
    pub async fn reserve(&self, kind: ResourceKind, owner: Owner) -> Result<Pending, ApiError> {
        lifecycle::reserve(self.state, self.caller, &self.request_id.0, kind, owner).await
    }

    /// The upstream created `object`: the reserved row becomes active.
    pub async fn activate(
        &self,
        pending: Pending,
        object: &Value,
    ) -> Result<domain::ResourceId, ApiError> {
        pending
            .activate(self.state, self.caller, &self.request_id.0, object)
            .await
    }

    /// The create failed: the reserved row is settled.
    pub async fn settle(&self, pending: Pending, error: &ApiError) {
        pending.settle(self.state, self.caller, error).await;
    }

    /// Creates an object upstream for `owner`, the lifecycle's way: a
    /// `pending` row first, then the upstream create, then `active` with
    /// what the upstream answered. With `stamp`, the row's id goes into the
    /// object's metadata so a reconciler can match the two after a crash.
    pub async fn create(
        &self,
        kind: ResourceKind,
        owner: Owner,
        operation: Operation,
        mut body: Value,
        stamp: bool,
    ) -> Result<(domain::ResourceId, Value), ApiError> {
        let pending = self.reserve(kind, owner).await?;
        if stamp {
            metadata::stamp(&mut body, &pending.id().to_string());
        }
        match self
            .forward(UpstreamRequest::new(operation, &[]).json(body))
            .await
        {
            Ok(object) => Ok((self.activate(pending, &object).await?, object)),
            Err(error) => {
                self.settle(pending, &error).await;
                Err(error)
            }
        }
    }

    /// What records the objects the upstream makes in answers about `thread`.
    pub fn recorder(&self, thread: &Resource) -> recording::Recorder {
        recording::Recorder::for_thread(self.state, self.caller, &self.request_id.0, thread)
    }

    /// An audit event of this request.
    fn event(&self, action: &str, outcome: Outcome) -> storage::repo::audit::AuditEvent {
        crate::audit::event(self.caller, &self.request_id.0, action, outcome)
    }

    /// Deletes upstream what the caller may delete: `deleting` first (gone for
    /// every reader at once), then the upstream delete (404 counts as done),
    /// then `deleted` with its audit event in one transaction. An upstream
    /// failure leaves the row `deleting` for the reconciler. A request that
    /// finds the row already on its way out (another deleted it meanwhile)
    /// answers 404, as the object is gone.
    pub async fn delete(
        &self,
        resource: &Resource,
        operation: Operation,
        ids: &[&UpstreamId],
    ) -> Result<Value, ApiError> {
        let tenant_id = self.caller.tenant.id;
        let id = resource.facts.id;
        let kind = resource.facts.kind;
        let upstream_id = resource.upstream_id.as_ref().map(UpstreamId::as_str);
        let deleting = self
            .state
            .database
            .run("resources.deleting", move |conn| {
                resources::mark_deleting(conn, tenant_id, id)
            })
            .await;
        match deleting {
            Err(storage::StorageError::NotFound) => {
                return Err(not_found(kind, upstream_id.unwrap_or_default()));
            }
            other => other?,
        }
        let mut event = self.event("delete", Outcome::Allow);
        event.resource_kind = Some(kind.as_str());
        event.resource_id = Some(id);
        event.upstream_id = upstream_id.map(str::to_owned);
        let answer = match self
            .upstream()?
            .call::<Value>(self.for_caller(UpstreamRequest::new(operation, ids)))
            .await
        {
            Ok(answer) => answer,
            Err(UpstreamError::NotFound(_)) => serde_json::json!({
                "id": upstream_id,
                "object": kind.deleted_object(),
                "deleted": true,
            }),
            Err(error) => {
                event.outcome = Outcome::Error;
                event.details = serde_json::json!({"upstream": error.to_string()});
                self.state.audit.record(event);
                return Err(error.into());
            }
        };
        self.state
            .database
            .transaction("resources.deleted", move |conn| {
                match resources::mark_deleted(conn, tenant_id, id) {
                    // The reconciler finished it meanwhile: deleted all the same.
                    Ok(()) | Err(storage::StorageError::NotFound) => {}
                    Err(other) => return Err(other),
                }
                storage::repo::audit::append_many(conn, &[event]).map(drop)
            })
            .await?;
        Ok(answer)
    }
}

/// How long a grantee's quiet stream goes before its share is confirmed
/// again: a revoke ends it within this, even with no event to pass on.
const SHARE_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// How often a grantee's busy stream has its share confirmed (before the
/// next event once this has passed): at most four lookups a second.
const SHARE_RECHECK_BUSY: std::time::Duration = std::time::Duration::from_millis(250);

/// A grantee's rights, confirmed again: what [`Authorized`] needs of itself
/// to re-check a share from inside a stream that outlives the request.
struct Recheck {
    database: storage::Database,
    audit: crate::audit::AuditSink,
    caller: Caller,
    request_id: String,
    borrowed: Vec<(ResourceKind, UpstreamId, Action)>,
}

impl Recheck {
    /// The first borrowed object the caller may no longer act on, audited
    /// as a denial; `None` when every share still holds. One indexed
    /// lookup; a database that cannot answer denies (a share that cannot be
    /// confirmed is not assumed).
    async fn first_denied(&self) -> Option<(ResourceKind, UpstreamId)> {
        let decided = match decide_again(&self.database, &self.caller, self.borrowed.clone()).await
        {
            Ok(decided) => decided,
            Err(error) => {
                tracing::warn!(%error, "could not confirm a share: refused");
                vec![(None, false); self.borrowed.len()]
            }
        };
        for ((kind, id, action), (resource, allowed)) in self.borrowed.iter().zip(decided) {
            if !allowed {
                let mut event = crate::audit::event(
                    &self.caller,
                    &self.request_id,
                    action.as_str(),
                    Outcome::Deny,
                );
                event.resource_kind = Some(kind.as_str());
                event.resource_id = resource.map(|resource| resource.facts.id);
                event.upstream_id = Some(id.to_string());
                event.reason = Some("revoked".to_owned());
                self.audit.record(event);
                return Some((*kind, id.clone()));
            }
        }
        None
    }
}

/// Looks `wanted` up again for `caller` in one indexed query and answers,
/// in order, each row (if the tenant still has it) and whether the
/// decision function still allows its action: the re-check of what a
/// request reached through someone else's share.
async fn decide_again(
    database: &storage::Database,
    caller: &Caller,
    wanted: Vec<(ResourceKind, UpstreamId, Action)>,
) -> Result<Vec<(Option<Resource>, bool)>, storage::StorageError> {
    let principal = caller.principal.clone();
    let ids: Vec<(ResourceKind, UpstreamId)> = wanted
        .iter()
        .map(|(kind, id, _)| (*kind, id.clone()))
        .collect();
    let found = database
        .run("authorize.recheck", move |conn| {
            resources::find_many(conn, principal.tenant_id, &ids, principal.user_id())
        })
        .await?;
    let policy = caller.tenant.policy;
    Ok(wanted
        .iter()
        .zip(found)
        .map(|((_, _, action), resource)| {
            let allowed = resource.as_ref().is_some_and(|resource| {
                authorize(
                    &caller.principal,
                    *action,
                    Target::Existing(&resource.facts),
                    &policy,
                )
                .is_allowed()
            });
            (resource, allowed)
        })
        .collect())
}

/// The `error` event that ends a stream whose share was revoked: the
/// upstream's not-found error, as for an id the caller never had.
fn revoked_event(kind: ResourceKind, id: &UpstreamId) -> upstream::Event {
    let data = serde_json::json!({
        "type": "invalid_request_error",
        "code": "not_found",
        "message": format!("No {} found with id '{id}'.", kind.noun()),
        "param": Value::Null,
    });
    upstream::Event {
        event: "error".to_owned(),
        data: data.to_string(),
    }
}
