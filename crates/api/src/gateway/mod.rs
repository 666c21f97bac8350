//! The one path every request takes after authentication: resolve every id
//! it names, ask the decision function about each, and only then talk to the
//! upstream; record what was created; audit every decision.
//!
//! A denied id answers exactly what an id that never existed answers: the
//! upstream's own 404 body, with no upstream request made.

pub mod metadata;
pub mod outputs;
pub mod references;

use std::sync::Arc;

use chrono::Utc;
use domain::{Action, LifecycleState, Owner, ResourceKind, Target, UpstreamId, authorize};
use serde_json::Value;
use storage::repo::audit::{AuditEvent, Outcome};
use storage::repo::resources::{self, NewResource, Resource};
use upstream::{Operation, UpstreamClient, UpstreamError, UpstreamRequest};

pub use references::Reference;

use crate::auth::Caller;
use crate::request_id::RequestId;
use crate::{ApiError, AppState};

/// One request on its way through: who asks, what it names.
#[derive(Debug)]
pub struct Exchange<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub request_id: &'a RequestId,
    references: Vec<Reference>,
}

/// The not-found answer for an id, worded as the upstream words its own.
pub fn not_found(kind: ResourceKind, id: &str) -> ApiError {
    let noun = match kind {
        ResourceKind::Assistant => "assistant",
        ResourceKind::Thread => "thread",
        ResourceKind::File => "file",
        ResourceKind::VectorStore => "vector store",
        ResourceKind::Conversation => "conversation",
        ResourceKind::Response => "response",
    };
    ApiError::not_found(format!("No {noun} found with id '{id}'."))
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
        }
    }

    /// An id in the path.
    pub fn path(mut self, kind: ResourceKind, id: &str, action: Action) -> Self {
        self.references
            .push(Reference::new(kind, id, action, "path"));
        self
    }

    /// A list cursor that names an object of a top-level list.
    pub fn cursor(mut self, kind: ResourceKind, name: &str, id: Option<&str>) -> Self {
        if let Some(id) = id {
            self.references.push(Reference::new(
                kind,
                id,
                Action::Read,
                format!("query.{name}"),
            ));
        }
        self
    }

    /// Every id the body names for `operation`; also refuses reserved metadata.
    pub fn body(mut self, operation: Operation, body: &Value) -> Result<Self, ApiError> {
        metadata::refuse_reserved(body)?;
        self.references
            .extend(references::in_body(operation, body)?);
        Ok(self)
    }

    /// Authorizes every reference; the first denial ends the request as a 404.
    /// Returns the resources, in the order they were named.
    #[tracing::instrument(name = "authorize", skip_all, fields(references = self.references.len()))]
    pub async fn authorize(&self) -> Result<Vec<Resource>, ApiError> {
        let principal = self.caller.principal.clone();
        let references = self.references.clone();
        let tenant_id = principal.tenant_id;
        let lookups = self
            .state
            .database
            .run("authorize.lookup", move |conn| {
                references
                    .iter()
                    .map(|reference| {
                        let Ok(id) = UpstreamId::parse(&reference.id) else {
                            return Ok(None);
                        };
                        match resources::find_by_upstream_id(
                            conn,
                            tenant_id,
                            reference.kind,
                            &id,
                            principal.user_id(),
                        ) {
                            Ok(found) => Ok(Some(found)),
                            Err(storage::StorageError::NotFound) => Ok(None),
                            Err(other) => Err(other),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;

        let policy = self.caller.tenant.policy;
        let mut allowed = Vec::with_capacity(lookups.len());
        for (reference, found) in self.references.iter().zip(lookups) {
            let decision = match &found {
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
            match decision {
                Ok(()) => {
                    let resource = found.ok_or_else(|| {
                        ApiError::internal(std::io::Error::other("allowed without a resource"))
                    })?;
                    self.audit(
                        reference.action.as_str(),
                        Some(reference),
                        Some(&resource),
                        Outcome::Allow,
                        None,
                        Value::Null,
                    );
                    allowed.push(resource);
                }
                Err(reason) => {
                    self.audit(
                        reference.action.as_str(),
                        Some(reference),
                        found.as_ref(),
                        Outcome::Deny,
                        Some(reason),
                        serde_json::json!({"location": reference.location}),
                    );
                    // What the caller may see anyway gets an honest 403;
                    // everything else looks like it does not exist.
                    let visible = found.as_ref().is_some_and(|resource| {
                        authorize(
                            &self.caller.principal,
                            Action::Read,
                            Target::Existing(&resource.facts),
                            &policy,
                        )
                        .is_allowed()
                    });
                    if visible {
                        return Err(ApiError::Forbidden {
                            message: format!(
                                "You may not {} this {}.",
                                reference.action.as_str().replace('_', " "),
                                reference.kind.as_str().replace('_', " ")
                            ),
                        });
                    }
                    return Err(not_found(reference.kind, &reference.id));
                }
            }
        }
        Ok(allowed)
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
        let reserved = self.reserve(kind, owner).await?;
        if stamp {
            metadata::stamp(&mut body, &reserved.to_string());
        }
        match self
            .forward(UpstreamRequest::new(operation, &[]).json(body))
            .await
        {
            Ok(object) => {
                self.activate_with(reserved, kind, &object).await?;
                Ok((reserved, object))
            }
            Err(error) => {
                self.settle_failed_create(reserved, &error).await;
                Err(error)
            }
        }
    }

    /// Authorizes every reference and answers the first (the path's object)
    /// with its upstream id.
    pub async fn authorize_one(&self) -> Result<(Resource, UpstreamId), ApiError> {
        let resource = self
            .authorize()
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::internal(std::io::Error::other("nothing to authorize")))?;
        // Only active rows authorize anything, and they always have one.
        let id = resource.upstream_id.clone().ok_or_else(|| {
            ApiError::internal(std::io::Error::other(
                "an active row without an upstream id",
            ))
        })?;
        Ok((resource, id))
    }

    /// May the caller create a resource of `kind`? Denied creations are 403:
    /// no id is involved, so there is nothing to hide.
    pub fn authorize_create(&self, kind: ResourceKind) -> Result<(), ApiError> {
        match authorize(
            &self.caller.principal,
            Action::Create,
            Target::NewOf(kind),
            &self.caller.tenant.policy,
        ) {
            domain::Decision::Allow => Ok(()),
            domain::Decision::Deny(reason) => {
                self.audit(
                    "create",
                    None,
                    None,
                    Outcome::Deny,
                    Some(reason.as_str()),
                    serde_json::json!({"kind": kind.as_str()}),
                );
                Err(ApiError::Forbidden {
                    message: format!("You may not create a {}.", kind.as_str().replace('_', " ")),
                })
            }
        }
    }

    /// The upstream client of the caller's tenant.
    pub fn upstream(&self) -> Result<&Arc<UpstreamClient>, ApiError> {
        self.state
            .upstreams
            .get(&self.caller.tenant.upstream_profile)
            .map_err(ApiError::internal)
    }

    /// Sends a request upstream and answers its JSON, reserved metadata
    /// removed. The mutation (or its failure) is audited.
    pub async fn forward(&self, request: UpstreamRequest<'_>) -> Result<Value, ApiError> {
        let operation = request.operation;
        let result = self.upstream()?.call::<Value>(request).await;
        if operation.changes_state() {
            let (outcome, details) = match &result {
                Ok(_) => (
                    Outcome::Allow,
                    serde_json::json!({"operation": format!("{operation:?}"), "upstream": "ok"}),
                ),
                Err(error) => (
                    Outcome::Error,
                    serde_json::json!({"operation": format!("{operation:?}"), "upstream": error.to_string()}),
                ),
            };
            self.audit("mutate", None, None, outcome, None, details);
        }
        let mut value = result.map_err(upstream_error)?;
        metadata::hide_reserved(&mut value);
        Ok(value)
    }

    /// Reserves a `pending` row before the upstream is asked to create the object.
    pub async fn reserve(
        &self,
        kind: ResourceKind,
        owner: Owner,
    ) -> Result<domain::ResourceId, ApiError> {
        let new_tenant = self.caller.tenant.id;
        let profile = self.caller.tenant.upstream_profile.clone();
        let request_id = self.request_id.0.clone();
        Ok(self
            .state
            .database
            .run("resources.reserve", move |conn| {
                resources::insert_pending(
                    conn,
                    &NewResource {
                        tenant_id: new_tenant,
                        kind,
                        upstream_profile: &profile,
                        owner,
                        parent_id: None,
                        request_id: Some(&request_id),
                        attributes: serde_json::json!({}),
                    },
                )
            })
            .await?)
    }

    /// The upstream created it: the row becomes `active` with its upstream
    /// id, and remembers what the upstream said of it.
    pub async fn activate_with(
        &self,
        id: domain::ResourceId,
        kind: ResourceKind,
        object: &Value,
    ) -> Result<(), ApiError> {
        self.activate(id, kind, object["id"].as_str().unwrap_or_default())
            .await?;
        let tenant_id = self.caller.tenant.id;
        let attributes = object.clone();
        self.state
            .database
            .run("resources.attributes", move |conn| {
                resources::set_attributes(conn, tenant_id, id, &attributes)
            })
            .await?;
        Ok(())
    }

    /// What records the objects the upstream makes in answers about `thread`.
    pub fn recorder(&self, thread: &Resource) -> outputs::Recorder {
        outputs::Recorder {
            state: self.state.clone(),
            caller: self.caller.clone(),
            owner: thread.facts.owner,
            parent: Some(thread.facts.id),
        }
    }

    /// The upstream created it: the row becomes `active` with its upstream id.
    pub async fn activate(
        &self,
        id: domain::ResourceId,
        kind: ResourceKind,
        upstream_id: &str,
    ) -> Result<(), ApiError> {
        let upstream_id = UpstreamId::parse(upstream_id)
            .map_err(|e| ApiError::internal(std::io::Error::other(e.to_string())))?;
        let tenant_id = self.caller.tenant.id;
        let audit_id = upstream_id.to_string();
        self.state
            .database
            .run("resources.activate", move |conn| {
                resources::activate(conn, tenant_id, id, &upstream_id)
            })
            .await?;
        self.audit(
            "create",
            None,
            None,
            Outcome::Allow,
            None,
            serde_json::json!({"kind": kind.as_str(), "upstream_id": audit_id}),
        );
        Ok(())
    }

    /// Settles a reserved row after the create failed: removed when the
    /// upstream refused outright, kept `pending` when the outcome is unknown.
    pub async fn settle_failed_create(&self, id: domain::ResourceId, error: &ApiError) {
        if matches!(error, ApiError::UpstreamUnknownOutcome { .. }) {
            tracing::warn!(resource = %id, "create outcome unknown: row left pending for reconciliation");
            return;
        }
        let tenant_id = self.caller.tenant.id;
        let discarded = self
            .state
            .database
            .run("resources.discard", move |conn| {
                resources::discard_pending(conn, tenant_id, id)
            })
            .await;
        if let Err(error) = discarded {
            tracing::error!(%error, resource = %id, "could not discard a pending row");
        }
    }

    /// Deletes upstream what the caller may delete: `deleting` first (gone for
    /// every reader at once), then the upstream delete (404 counts as done),
    /// then `deleted`. An upstream failure leaves the row `deleting`.
    pub async fn delete(
        &self,
        resource: &Resource,
        operation: Operation,
        ids: &[&UpstreamId],
    ) -> Result<Value, ApiError> {
        let tenant_id = self.caller.tenant.id;
        let id = resource.facts.id;
        self.state
            .database
            .run("resources.deleting", move |conn| {
                resources::mark_deleting(conn, tenant_id, id)
            })
            .await?;
        let answer = match self
            .upstream()?
            .call::<Value>(UpstreamRequest::new(operation, ids))
            .await
        {
            Ok(answer) => answer,
            Err(UpstreamError::NotFound(_)) => serde_json::json!({
                "id": resource.upstream_id.as_ref().map(UpstreamId::as_str),
                "object": deleted_object(resource.facts.kind),
                "deleted": true,
            }),
            Err(error) => {
                self.audit(
                    "delete",
                    None,
                    Some(resource),
                    Outcome::Error,
                    None,
                    serde_json::json!({"upstream": error.to_string()}),
                );
                return Err(upstream_error(error));
            }
        };
        self.state
            .database
            .run("resources.deleted", move |conn| {
                resources::mark_deleted(conn, tenant_id, id)
            })
            .await?;
        self.audit(
            "delete",
            None,
            Some(resource),
            Outcome::Allow,
            None,
            Value::Null,
        );
        Ok(answer)
    }

    /// Queues one audit event for this request.
    pub fn audit(
        &self,
        action: &str,
        reference: Option<&Reference>,
        resource: Option<&Resource>,
        outcome: Outcome,
        reason: Option<&str>,
        details: Value,
    ) {
        let principal = &self.caller.principal;
        self.state.audit.record(AuditEvent {
            occurred_at: Utc::now(),
            tenant_id: Some(principal.tenant_id),
            request_id: Some(self.request_id.0.clone()),
            trace_id: current_trace_id(),
            actor_user_id: principal.user_id(),
            actor_api_key_id: principal.authentication.api_key_id(),
            auth_method: Some(principal.authentication.method()),
            action: action.to_owned(),
            resource_kind: reference
                .map(|r| r.kind.as_str())
                .or_else(|| resource.map(|r| r.facts.kind.as_str())),
            resource_id: resource.map(|r| r.facts.id),
            upstream_id: reference
                .map(|r| r.id.clone())
                .or_else(|| resource.and_then(|r| r.upstream_id.as_ref().map(ToString::to_string))),
            outcome,
            reason: reason.map(str::to_owned),
            details,
        });
    }
}

/// The W3C trace id of the current span, so an audit event leads to its trace.
fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

fn deleted_object(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Assistant => "assistant.deleted",
        ResourceKind::Thread => "thread.deleted",
        ResourceKind::File => "file",
        ResourceKind::VectorStore => "vector_store.deleted",
        ResourceKind::Conversation => "conversation.deleted",
        ResourceKind::Response => "response.deleted",
    }
}

/// What an upstream failure becomes for the caller. Nothing of the
/// upstream's address, key or internals is passed on.
pub fn upstream_error(error: UpstreamError) -> ApiError {
    match error {
        UpstreamError::NotFound(body) => ApiError::not_found(body.message),
        UpstreamError::BadRequest(body) => ApiError::BadRequest {
            message: body.message,
            param: body.param,
        },
        UpstreamError::ContentFiltered(body) => ApiError::ContentFiltered { message: body.message },
        UpstreamError::RateLimited { retry_after, .. } => ApiError::RateLimited { retry_after },
        UpstreamError::Rejected { status: 409, body } => ApiError::Conflict { message: body.message },
        UpstreamError::Ambiguous { .. } => ApiError::UpstreamUnknownOutcome {
            message: "The upstream did not answer in time; the operation may or may not have taken effect.".to_owned(),
        },
        UpstreamError::Timeout => ApiError::UpstreamTimeout,
        UpstreamError::CircuitOpen { .. } => ApiError::unavailable("The upstream is unavailable. Please retry later."),
        other => {
            tracing::error!(error = %other, "upstream failure");
            ApiError::BadGateway
        }
    }
}

/// Whether a resource row is usable.
pub fn is_active(resource: &Resource) -> bool {
    resource.facts.state == LifecycleState::Active
}
