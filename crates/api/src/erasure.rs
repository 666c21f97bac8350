//! Carrying out a user's erasure: every object of theirs deleted upstream
//! (the output files their threads' runs wrote included), each row marked
//! and counted, then every deleted object asked for again upstream as
//! proof. Begun by `DELETE /v1/organization/users/{id}` and finished by a
//! task it starts; a crash anywhere leaves the erasure `in_progress`, and
//! `threadgate reconcile` calls [`finish`] again, which picks up where it
//! stood (each step is idempotent: an object already gone counts as
//! deleted).
//!
//! No caller is behind this work, so it does not go through the gateway's
//! grant: what it deletes is only what the erasure row and the user's own
//! rows name, and the output files the upstream shows at a known position
//! of the user's threads (assistant messages written by a run), never known
//! to any tenant.

// The eraser talks to the upstream for the erased user (see above).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;

use domain::{LifecycleState, ResourceKind, UpstreamId};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use storage::Database;
use storage::repo::audit::AuditEvent;
use storage::repo::erasures::{self, Erasure};
use storage::repo::resources::{self, Resource};
use upstream::{Operation, UpstreamClient, UpstreamError, UpstreamRequest, Upstreams};

use crate::ApiError;
use crate::gateway::{owner_isolation_key, positions};

/// Rows deleted per database round trip.
const BATCH: i64 = 100;
/// Pages of a thread's messages read for output files (100 a page).
const MESSAGE_PAGES: usize = 20;
/// Deleted objects asked for again in the proof, at most.
const PROOF_LIMIT: i64 = 10_000;
/// Upstream requests of one erasure under way at once.
const CONCURRENCY: usize = 8;

/// What an erasure needs: the database, the upstreams, and where audit
/// events go (`None` writes them directly, for the reconciler).
#[derive(Debug, Clone)]
pub struct Eraser {
    pub database: Database,
    pub upstreams: Upstreams,
    pub audit: Option<crate::audit::AuditSink>,
}

impl Eraser {
    /// Carries `erasure` as far as it can: its answer as it then stands
    /// (`completed` with a proof, or still `in_progress` when an upstream
    /// delete failed or a create of the user's is still unsettled; the
    /// reconciler goes on from there).
    pub async fn finish(&self, erasure: &Erasure) -> Result<Erasure, ApiError> {
        if erasure.completed {
            return Ok(erasure.clone());
        }
        let (tenant, user, id) = (erasure.tenant_id, erasure.user_id, erasure.id);
        loop {
            // Also catches an object whose create settled after the erasure began.
            let batch = self
                .database
                .run("erasure.batch", move |conn| {
                    resources::mark_owned_deleting(conn, tenant, user)?;
                    resources::owned_in_state(conn, tenant, user, LifecycleState::Deleting, BATCH)
                })
                .await?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                if !self.delete(id, &row).await? {
                    return self.current(erasure).await;
                }
            }
        }
        let pending = self
            .database
            .run("erasure.pending", move |conn| {
                resources::owned_in_state(conn, tenant, user, LifecycleState::Pending, 1)
            })
            .await?;
        if !pending.is_empty() {
            return self.current(erasure).await;
        }
        let proof = self.proof(erasure).await?;
        if proof["still_present"].as_i64() != Some(0) {
            tracing::warn!(erasure = %id, "objects of an erased user are still upstream: tried again next pass");
            return self.current(erasure).await;
        }
        let completed = self
            .database
            .run("erasure.complete", move |conn| {
                erasures::complete(conn, tenant, id, &proof)
            })
            .await?;
        let mut event = crate::audit::system_event("eraser", "erase_user_completed");
        event.tenant_id = Some(completed.tenant_id);
        event.details = json!({"erasure_id": id.to_string(), "deleted": completed.deleted});
        self.record(event).await;
        Ok(completed)
    }

    async fn current(&self, erasure: &Erasure) -> Result<Erasure, ApiError> {
        let (tenant, id) = (erasure.tenant_id, erasure.id);
        Ok(self
            .database
            .run("erasure.find", move |conn| erasures::find(conn, tenant, id))
            .await?)
    }

    fn client(&self, profile: &str) -> Result<&std::sync::Arc<UpstreamClient>, ApiError> {
        self.upstreams.get(profile).map_err(ApiError::internal)
    }

    /// Deletes one row's object upstream (a thread's unrecorded output
    /// files first), then marks and counts it; `false` when the upstream
    /// refused, to be tried again.
    async fn delete(&self, erasure: uuid::Uuid, row: &Resource) -> Result<bool, ApiError> {
        let (Some(operations), Some(upstream_id)) = (
            Operation::for_kind(row.facts.kind),
            row.upstream_id.as_ref(),
        ) else {
            return Ok(false);
        };
        let client = self.client(&row.upstream_profile)?;
        let key = owner_isolation_key(row.facts.owner);
        if row.facts.kind == ResourceKind::Thread {
            for file in self.unrecorded_outputs(client, row, upstream_id).await? {
                let ids = [&file];
                let mut request = UpstreamRequest::new(Operation::DeleteFile, &ids);
                request.user_isolation_key = key.clone();
                match client.call::<Value>(request).await {
                    Ok(_) | Err(UpstreamError::NotFound(_)) => {}
                    Err(error) => {
                        tracing::warn!(%error, "could not delete an erased user's output file");
                        return Ok(false);
                    }
                }
                let (tenant, id) = (row.facts.tenant_id, erasure);
                self.database
                    .run("erasure.count", move |conn| {
                        erasures::count_deleted(conn, tenant, id, ResourceKind::File)
                    })
                    .await?;
            }
        }
        let ids = [upstream_id];
        let mut request = UpstreamRequest::new(operations.delete, &ids);
        request.user_isolation_key = key;
        match client.call::<Value>(request).await {
            Ok(_) | Err(UpstreamError::NotFound(_)) => {}
            Err(error) => {
                tracing::warn!(%error, resource = %row.facts.id, "could not delete an erased user's object");
                return Ok(false);
            }
        }
        let (tenant, row_id, kind) = (row.facts.tenant_id, row.facts.id, row.facts.kind);
        self.database
            .transaction("erasure.deleted", move |conn| {
                resources::mark_deleted(conn, tenant, row_id)?;
                erasures::count_deleted(conn, tenant, erasure, kind)
            })
            .await?;
        Ok(true)
    }

    /// The files runs of this thread wrote into its assistant messages that
    /// no tenant has recorded (a run whose answer nobody read): the
    /// thread's own, to go with it.
    async fn unrecorded_outputs(
        &self,
        client: &UpstreamClient,
        row: &Resource,
        thread: &UpstreamId,
    ) -> Result<Vec<UpstreamId>, ApiError> {
        let mut named = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MESSAGE_PAGES {
            let ids = [thread];
            let mut request = UpstreamRequest::new(Operation::ListMessages, &ids)
                .query("limit", "100")
                .query("order", "asc");
            if let Some(after) = &after {
                request = request.query("after", after.clone());
            }
            request.user_isolation_key = owner_isolation_key(row.facts.owner);
            let page = match client.call::<Value>(request).await {
                Ok(page) => page,
                Err(UpstreamError::NotFound(_)) => return Ok(Vec::new()),
                Err(error) => return Err(error.into()),
            };
            for message in positions::items(&page, "thread.message") {
                if let Some(outputs) = positions::message_outputs(message, thread.as_str()) {
                    named.extend(outputs.files);
                }
            }
            after = page["last_id"].as_str().map(str::to_owned);
            if page["has_more"] != true || after.is_none() {
                break;
            }
        }
        // A file may be named twice (an image and a link to it).
        named.sort_unstable();
        named.dedup();
        let parsed: Vec<UpstreamId> = named
            .iter()
            .filter_map(|id| UpstreamId::parse(id).ok())
            .collect();
        if parsed.is_empty() {
            return Ok(Vec::new());
        }
        let profile = row.upstream_profile.clone();
        let wanted = parsed.clone();
        let known = self
            .database
            .run("erasure.known", move |conn| {
                resources::known_anywhere(conn, &profile, &wanted)
            })
            .await?;
        Ok(parsed
            .into_iter()
            .filter(|id| !known.contains(id))
            .collect())
    }

    /// Asks the upstream again for every object of the user's that was
    /// deleted: each must answer not found.
    async fn proof(&self, erasure: &Erasure) -> Result<Value, ApiError> {
        let (tenant, user) = (erasure.tenant_id, erasure.user_id);
        let deleted = self
            .database
            .run("erasure.deleted_rows", move |conn| {
                resources::owned_in_state(conn, tenant, user, LifecycleState::Deleted, PROOF_LIMIT)
            })
            .await?;
        let checks: Vec<Result<Option<String>, ApiError>> = stream::iter(&deleted)
            .map(|row| async move {
                let (Some(operations), Some(upstream_id)) = (
                    Operation::for_kind(row.facts.kind),
                    row.upstream_id.as_ref(),
                ) else {
                    return Ok(None);
                };
                let client = self.client(&row.upstream_profile)?;
                let ids = [upstream_id];
                let mut request = UpstreamRequest::new(operations.get, &ids);
                request.user_isolation_key = owner_isolation_key(row.facts.owner);
                match client.call::<Value>(request).await {
                    Err(UpstreamError::NotFound(_)) => Ok(None),
                    Ok(_) => Ok(Some(upstream_id.to_string())),
                    Err(error) => Err(error.into()),
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut present = Vec::new();
        for check in checks {
            present.extend(check?);
        }
        let mut by_kind: BTreeMap<&str, i64> = BTreeMap::new();
        for row in &deleted {
            *by_kind.entry(row.facts.kind.as_str()).or_default() += 1;
        }
        Ok(json!({
            "checked_at": chrono::Utc::now().timestamp(),
            "objects_checked": deleted.len(),
            "checked_by_kind": by_kind,
            "still_present": present.len(),
            "method": "each deleted object was asked for again upstream and answered not found",
        }))
    }

    async fn record(&self, event: AuditEvent) {
        match &self.audit {
            Some(sink) => sink.record(event),
            None => {
                let written = self
                    .database
                    .run("erasure.audit", move |conn| {
                        storage::repo::audit::append_many(conn, &[event])
                    })
                    .await;
                if let Err(error) = written {
                    tracing::warn!(%error, "could not audit an erasure");
                }
            }
        }
    }
}

/// The erasure as the API shows it.
pub fn erasure_object(erasure: &Erasure) -> Value {
    json!({
        "object": "organization.erasure",
        "id": erasure.id.to_string(),
        "user_id": erasure.user_id.to_string(),
        "status": if erasure.completed { "completed" } else { "in_progress" },
        "deleted": erasure.deleted,
        "proof": erasure.proof,
        "created_at": erasure.created_at.timestamp(),
        "completed_at": erasure.completed_at.map(|at| at.timestamp()),
    })
}
