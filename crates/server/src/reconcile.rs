//! Settles rows a crash or a silent upstream left between two steps.
//!
//! * `deleting`: the upstream delete is sent again (404 counts as done), then
//!   the row becomes `deleted`.
//! * `pending`: the upstream never answered the create, so Threadgate never
//!   learned the object's id and nobody can reach it through Threadgate. The
//!   row is removed; its request id is logged so an operator can find an
//!   orphan upstream (threads carry `threadgate_resource_id` in metadata).
//!
//! It also deletes expired `Idempotency-Key` records.
//!
//! Safe to run from several places at once: each step is conditional on the
//! row's state.

// The operator's own commands, run with the database's and the upstream's
// credentials; no end-user request reaches them.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use domain::{LifecycleState, ResourceKind};
use storage::repo::resources::{self, Resource};
use upstream::{Operation, UpstreamError, UpstreamRequest};

use crate::admin::Admin;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub deleted: usize,
    pub discarded: usize,
    /// Rows whose upstream delete failed again; tried on the next pass.
    pub failed: usize,
    /// Expired `Idempotency-Key` records removed.
    pub expired_idempotency_keys: usize,
}

fn delete_operation(kind: ResourceKind) -> Option<Operation> {
    Operation::for_kind(kind).map(|operations| operations.delete)
}

/// One pass over rows unsettled for longer than `older_than`.
pub async fn run(admin: &Admin, older_than: Duration) -> anyhow::Result<Report> {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(older_than)?;
    let rows = admin
        .database
        .run("reconcile.unsettled", move |conn| {
            resources::unsettled(conn, cutoff, 1000)
        })
        .await?;
    let mut report = Report::default();
    for row in rows {
        match row.facts.state {
            LifecycleState::Deleting => {
                if finish_delete(admin, &row).await? {
                    report.deleted += 1;
                } else {
                    report.failed += 1;
                }
            }
            LifecycleState::Pending => {
                tracing::warn!(
                    tenant = %row.facts.tenant_id,
                    resource = %row.facts.id,
                    kind = row.facts.kind.as_str(),
                    "discarding a create whose outcome never became known"
                );
                let (tenant, id) = (row.facts.tenant_id, row.facts.id);
                admin
                    .database
                    .run("reconcile.discard", move |conn| {
                        resources::discard_pending(conn, tenant, id)
                    })
                    .await?;
                report.discarded += 1;
            }
            LifecycleState::Active | LifecycleState::Deleted => {}
        }
    }
    report.expired_idempotency_keys = admin
        .database
        .run(
            "reconcile.idempotency",
            storage::repo::idempotency::purge_expired,
        )
        .await?;
    Ok(report)
}

async fn finish_delete(admin: &Admin, row: &Resource) -> anyhow::Result<bool> {
    let (Some(operation), Some(upstream_id)) =
        (delete_operation(row.facts.kind), row.upstream_id.as_ref())
    else {
        return Ok(false);
    };
    let client = admin.upstreams.get(&row.upstream_profile)?;
    match client
        .call::<serde_json::Value>(UpstreamRequest::new(operation, &[upstream_id]))
        .await
    {
        Ok(_) | Err(UpstreamError::NotFound(_)) => {}
        Err(error) => {
            tracing::warn!(%error, resource = %row.facts.id, "upstream delete failed again");
            return Ok(false);
        }
    }
    let (tenant, id) = (row.facts.tenant_id, row.facts.id);
    admin
        .database
        .run("reconcile.deleted", move |conn| {
            resources::mark_deleted(conn, tenant, id)
        })
        .await?;
    Ok(true)
}
