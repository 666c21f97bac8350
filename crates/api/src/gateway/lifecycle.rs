//! The one path by which a row comes to life: [`Pending`] is the `pending`
//! row written before the upstream is asked to create an object, and it is
//! consumed either by [`Pending::activate`] (the upstream answered: the row
//! becomes `active` with its id and attributes, and the creation is
//! audited) or by [`Pending::settle`] (the create failed). Create, upload
//! and the streaming hooks all go through it.

use domain::{Owner, ResourceId, ResourceKind, UpstreamId};
use serde_json::Value;
use storage::repo::audit::Outcome;
use storage::repo::resources::{self, NewResource};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// How often an activation is tried through database blips, and the base
/// of the growing pause between tries (0.2 s, 0.4 s, ...: about 2 s in all).
const ACTIVATION_ATTEMPTS: u32 = 5;
const ACTIVATION_BACKOFF: std::time::Duration = std::time::Duration::from_millis(200);

/// What the upstream said, as PostgreSQL can store it: text cannot hold
/// U+0000, which an upstream may put in what it generates (requests with
/// it are refused before they are sent).
pub fn storable(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains('\0') => Value::String(text.replace('\0', "")),
        Value::Array(items) => Value::Array(items.into_iter().map(storable).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, inner)| (key.replace('\0', ""), storable(inner)))
                .collect(),
        ),
        other => other,
    }
}

/// A reserved `pending` row, not yet active.
#[derive(Debug)]
#[must_use = "a reserved row must be activated or settled"]
pub struct Pending {
    id: ResourceId,
    kind: ResourceKind,
}

/// Writes the `pending` row for an object of `kind` that `owner` is about
/// to get, before the upstream is asked to create it.
pub async fn reserve(
    state: &AppState,
    caller: &Caller,
    request_id: &str,
    kind: ResourceKind,
    owner: Owner,
) -> Result<Pending, ApiError> {
    let tenant_id = caller.tenant.id;
    let profile = caller.tenant.upstream_profile.clone();
    let request_id = request_id.to_owned();
    let id = state
        .database
        .run("resources.reserve", move |conn| {
            resources::insert_pending(
                conn,
                &NewResource {
                    tenant_id,
                    kind,
                    upstream_profile: &profile,
                    owner,
                    parent_id: None,
                    request_id: Some(&request_id),
                    attributes: serde_json::json!({}),
                },
            )
        })
        .await?;
    Ok(Pending { id, kind })
}

impl Pending {
    /// A row an earlier attempt reserved and left `pending`, taken up by
    /// the retry that resolves it.
    pub(crate) fn resume(id: ResourceId, kind: ResourceKind) -> Self {
        Self { id, kind }
    }

    /// The row's id (stamped into the object's metadata for reconciliation).
    pub fn id(&self) -> ResourceId {
        self.id
    }

    /// The upstream created `object`: the row becomes `active` with its id
    /// and remembers what the upstream said of it, in one transaction.
    pub async fn activate(
        self,
        state: &AppState,
        caller: &Caller,
        request_id: &str,
        object: &Value,
    ) -> Result<ResourceId, ApiError> {
        self.activate_as(
            state,
            caller,
            request_id,
            object["id"].as_str().unwrap_or_default(),
            object,
        )
        .await
    }

    /// As [`Pending::activate`], for an answer that is not the object itself
    /// (a create-thread-and-run answers with the run, naming the thread).
    pub async fn activate_as(
        self,
        state: &AppState,
        caller: &Caller,
        request_id: &str,
        upstream_id: &str,
        attributes: &Value,
    ) -> Result<ResourceId, ApiError> {
        let upstream_id = UpstreamId::parse(upstream_id)
            .map_err(|e| ApiError::internal(std::io::Error::other(e.to_string())))?;
        let (tenant_id, id) = (caller.tenant.id, self.id);
        let mut event = crate::audit::event(caller, request_id, "create", Outcome::Allow);
        event.resource_kind = Some(self.kind.as_str());
        event.resource_id = Some(id);
        event.upstream_id = Some(upstream_id.to_string());
        event.details =
            serde_json::json!({"kind": self.kind.as_str(), "upstream_id": upstream_id.as_str()});
        let attributes = storable(attributes.clone());
        crate::faults::crash_point(crate::faults::BEFORE_ACTIVATION);
        // The object exists upstream now: the client must get it. A short
        // database blip is waited out rather than answered with a 503 that
        // a retry would turn into a second object.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (stored_id, attributes, event) =
                (upstream_id.clone(), attributes.clone(), event.clone());
            let activated = state
                .database
                .transaction("resources.activate", move |conn| {
                    resources::activate(conn, tenant_id, id, &stored_id)?;
                    resources::set_attributes(conn, tenant_id, id, &attributes)?;
                    storage::repo::audit::append_many(conn, &[event]).map(drop)
                })
                .await;
            match activated {
                Err(error) if error.is_unavailable() && attempt < ACTIVATION_ATTEMPTS => {
                    tracing::warn!(%error, attempt, resource = %id, "activation waits for the database");
                    tokio::time::sleep(ACTIVATION_BACKOFF * attempt).await;
                }
                other => break other?,
            }
        }
        Ok(id)
    }

    /// The create failed: the row is removed when the upstream refused
    /// outright, and kept `pending` for the reconciler when the outcome is
    /// unknown.
    pub async fn settle(self, state: &AppState, caller: &Caller, error: &ApiError) {
        if matches!(error, ApiError::UpstreamUnknownOutcome { .. }) {
            tracing::warn!(resource = %self.id, "create outcome unknown: row left pending for reconciliation");
            return;
        }
        let (tenant_id, id) = (caller.tenant.id, self.id);
        let discarded = state
            .database
            .run("resources.discard", move |conn| {
                resources::discard_pending(conn, tenant_id, id)
            })
            .await;
        if let Err(error) = discarded {
            tracing::error!(%error, resource = %id, "could not discard a pending row");
        }
    }
}
