//! Settles what a crash or a silent upstream left between two steps, and
//! finds what such creates left upstream.
//!
//! * **Sweep.** For each kind the upstream can list (assistants, vector
//!   stores, files), every object of each profile that no row of any tenant
//!   holds is looked at. One that carries the stamp of a `pending` row
//!   (`threadgate_resource_id` in its metadata) becomes that row's: the
//!   object is adopted for its owner and audited. What the upstream makes
//!   by itself for a thread or an assistant (output files, unstamped vector
//!   stores) is left to be recorded through its owner. Anything else
//!   without a usable stamp is an orphan nobody can reach: with [`Orphans::Delete`] it is deleted
//!   upstream and audited; with [`Orphans::Report`] it is only counted. The
//!   upstream project must then be Threadgate's alone: anything in it that
//!   Threadgate did not create for someone is an orphan.
//! * `deleting` rows: the upstream delete is sent again (404 counts as
//!   done), then the row becomes `deleted`.
//! * `pending` rows left after the sweep: the create did not make an object
//!   (a complete sweep would have found it), so the row is removed. Threads
//!   cannot be listed on the Assistants API: a pending thread is removed too,
//!   and counted as unresolved (`Report::unresolved_threads` and the metric
//!   `threadgate_reconcile_unresolved_total`), since its object may exist.
//!
//! * Unsettled usage: a run noted as started whose end no request saw (its
//!   client left the stream, or never read the run again) is read from the
//!   upstream; once final, its usage is charged to who started it, as a
//!   request that saw it would have. A run or thread that is gone settles
//!   with no tokens.
//!
//! Only rows and objects older than the pass's `older_than` are touched, so
//! a pass never races a create still in flight. It also deletes expired
//! `Idempotency-Key` records. Safe to run from several places at once: each
//! step is conditional on the row's state.

// The operator's own commands, run with the database's and the upstream's
// credentials; no end-user request reaches them.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{LifecycleState, ResourceKind, UpstreamId};
use serde_json::Value;
use storage::repo::audit::AuditEvent;
use storage::repo::resources::{self, Resource};
use upstream::{Operation, UpstreamClient, UpstreamError, UpstreamRequest};

use crate::admin::Admin;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub deleted: usize,
    pub discarded: usize,
    /// Rows whose upstream delete failed again; tried on the next pass.
    pub failed: usize,
    /// Objects found upstream by their stamp and given to their row.
    pub adopted: usize,
    /// Objects found upstream that no row could claim, deleted there.
    pub orphans_deleted: usize,
    /// Such objects left in place ([`Orphans::Report`]).
    pub orphans_kept: usize,
    /// Pending threads removed without knowing whether the upstream made
    /// them (threads cannot be listed).
    pub unresolved_threads: usize,
    /// Expired `Idempotency-Key` records removed.
    pub expired_idempotency_keys: usize,
    /// Conversation state past its tenant's retention, deleted (audited as
    /// `retention`).
    pub retained_deleted: usize,
    /// Runs whose usage this pass read from the upstream and charged.
    pub usage_settled: usize,
    /// Runs whose end can no longer be read (gone upstream): settled empty.
    pub usage_abandoned: usize,
    /// User erasures finished (with their proof) by this pass.
    pub erasures_completed: usize,
    /// Erasures still going on: an upstream delete failed, or a create of
    /// the user's is still unsettled.
    pub erasures_unfinished: usize,
}

/// The most unfinished erasures one pass takes up.
const ERASURE_BATCH: i64 = 20;

/// The most unsettled runs one pass reads (the next goes on).
const USAGE_BATCH: i64 = 200;

/// The most rows past retention one pass deletes (the next goes on).
const RETENTION_BATCH: i64 = 500;

/// The kinds a sweep lists, and how many pages of 100 it reads per kind and
/// profile at most (a pass is bounded; the next one goes on).
const SWEPT: [ResourceKind; 3] = [
    ResourceKind::Assistant,
    ResourceKind::VectorStore,
    ResourceKind::File,
];
const MAX_PAGES: usize = 100;

/// What a sweep does with an object no row can claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Orphans {
    /// Delete it upstream (the upstream project is Threadgate's alone).
    Delete,
    /// Count it and leave it (the project is shared with other software).
    Report,
}

/// One pass over objects and rows older than `older_than`.
pub async fn run(admin: &Admin, older_than: Duration, orphans: Orphans) -> anyhow::Result<Report> {
    let cutoff = Utc::now() - chrono::Duration::from_std(older_than)?;
    let mut report = Report::default();
    let mut swept = HashSet::new();
    for profile in admin.upstreams.names() {
        for kind in SWEPT {
            match sweep(admin, profile, kind, cutoff, orphans, &mut report).await {
                Ok(true) => {
                    swept.insert((profile.to_owned(), kind));
                }
                Ok(false) => tracing::warn!(
                    profile,
                    kind = kind.as_str(),
                    "sweep incomplete: continued next pass"
                ),
                Err(error) => {
                    tracing::warn!(%error, profile, kind = kind.as_str(), "sweep failed: tried next pass")
                }
            }
        }
    }

    // Before the unsettled rows: an erasure counts what it deletes.
    erasures(admin, &mut report).await?;
    retention(admin, &mut report).await?;
    unsettled_usage(admin, cutoff, &mut report).await?;

    let rows = admin
        .database
        .run("reconcile.unsettled", move |conn| {
            resources::unsettled(conn, cutoff, 1000)
        })
        .await?;
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
                let kind = row.facts.kind;
                let listable = SWEPT.contains(&kind);
                if listable && !swept.contains(&(row.upstream_profile.clone(), kind)) {
                    // Not looked for yet: the object may exist.
                    continue;
                }
                if !listable {
                    tracing::warn!(
                        tenant = %row.facts.tenant_id,
                        resource = %row.facts.id,
                        kind = kind.as_str(),
                        "discarding a create whose outcome cannot be known"
                    );
                    metrics::counter!("threadgate_reconcile_unresolved_total", "kind" => kind.as_str())
                        .increment(1);
                    if kind == ResourceKind::Thread {
                        report.unresolved_threads += 1;
                    }
                }
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

/// Finishes user erasures a crash or a failed upstream left unfinished.
async fn erasures(admin: &Admin, report: &mut Report) -> anyhow::Result<()> {
    let unfinished = admin
        .database
        .run("reconcile.erasures", |conn| {
            storage::repo::erasures::unfinished(conn, ERASURE_BATCH)
        })
        .await?;
    let eraser = api::erasure::Eraser {
        database: admin.database.clone(),
        upstreams: admin.upstreams.clone(),
        audit: None,
    };
    for erasure in unfinished {
        match eraser.finish(&erasure).await {
            Ok(finished) if finished.completed => report.erasures_completed += 1,
            Ok(_) => report.erasures_unfinished += 1,
            Err(error) => {
                tracing::warn!(%error, erasure = %erasure.id, "erasure interrupted: tried next pass");
                report.erasures_unfinished += 1;
            }
        }
    }
    Ok(())
}

/// Reads the runs noted as started whose end no request saw, and charges
/// those that ended as a request that saw the end would have.
async fn unsettled_usage(
    admin: &Admin,
    cutoff: DateTime<Utc>,
    report: &mut Report,
) -> anyhow::Result<()> {
    use storage::repo::usage;
    let runs = admin
        .database
        .run("reconcile.unsettled_usage", move |conn| {
            usage::unsettled(conn, cutoff, USAGE_BATCH)
        })
        .await?;
    for run in runs {
        let tenant = domain::TenantId::from_uuid(run.tenant_id);
        let ids = run
            .thread_id
            .as_deref()
            .and_then(|thread| UpstreamId::parse(thread).ok())
            .zip(UpstreamId::parse(&run.run_id).ok());
        let abandon = |run: usage::UnsettledRun| async move {
            admin
                .database
                .run("reconcile.usage_abandon", move |conn| {
                    usage::abandon(conn, tenant, &run.upstream_profile, &run.run_id)
                })
                .await
        };
        // The thread is gone, and the run with it.
        let Some((thread_id, run_id)) = ids else {
            abandon(run).await?;
            report.usage_abandoned += 1;
            continue;
        };
        let client = admin.upstreams.get(&run.upstream_profile)?;
        let path_ids = [&thread_id, &run_id];
        let mut request = UpstreamRequest::new(Operation::GetRun, &path_ids);
        // An upstream that scopes data by user sees the read as the thread
        // owner's.
        request.user_isolation_key = run.thread_owner.and_then(|owner| {
            api::gateway::owner_isolation_key(domain::Owner::User(domain::UserId::from_uuid(owner)))
        });
        let finished = match client.call::<Value>(request).await {
            Ok(answer) => {
                match api::gateway::positions::finished_run(&answer, thread_id.as_str()) {
                    Some(finished) => finished,
                    // Still under way: a later pass reads it again.
                    None => continue,
                }
            }
            Err(UpstreamError::NotFound(_)) => {
                abandon(run).await?;
                report.usage_abandoned += 1;
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, run = %run.run_id, "could not read a run's usage: tried next pass");
                continue;
            }
        };
        let profile = run.upstream_profile.clone();
        let settled = admin
            .database
            .run("reconcile.usage_settle", move |conn| {
                usage::record(
                    conn,
                    &usage::NewUsage {
                        tenant_id: tenant,
                        // Charged to who started it: their note holds them.
                        user_id: None,
                        resource_id: None,
                        upstream_ref: &finished.run_id,
                        upstream_profile: &profile,
                        model: finished.model.as_deref(),
                        prompt_tokens: finished.prompt_tokens,
                        completion_tokens: finished.completion_tokens,
                        total_tokens: finished.total_tokens,
                    },
                )
            })
            .await?;
        if settled {
            report.usage_settled += 1;
        }
    }
    Ok(())
}

/// Deletes conversation state past its tenant's `retention_days`: each row
/// goes `deleting` (gone for every reader at once) with a `retention` audit
/// event, then upstream; a failed upstream delete is finished by a later
/// pass like any other.
async fn retention(admin: &Admin, report: &mut Report) -> anyhow::Result<()> {
    let rows = admin
        .database
        .run("reconcile.retention", |conn| {
            resources::past_retention(conn, RETENTION_BATCH)
        })
        .await?;
    for row in rows {
        let (tenant, id, kind) = (row.facts.tenant_id, row.facts.id, row.facts.kind);
        let mut audit = event("retention", kind);
        audit.tenant_id = Some(tenant);
        audit.resource_id = Some(id);
        audit.upstream_id = row.upstream_id.as_ref().map(ToString::to_string);
        let marked = admin
            .database
            .transaction("reconcile.retention_mark", move |conn| {
                match resources::mark_deleting(conn, tenant, id) {
                    // Someone deleted it meanwhile.
                    Err(storage::StorageError::NotFound) => return Ok(false),
                    other => other?,
                }
                storage::repo::audit::append_many(conn, &[audit])?;
                Ok(true)
            })
            .await?;
        if marked && finish_delete(admin, &row).await? {
            report.retained_deleted += 1;
        }
    }
    Ok(())
}

/// Looks at every object of `kind` in `profile`; `Ok(true)` when the
/// listing was read to its end.
async fn sweep(
    admin: &Admin,
    profile: &str,
    kind: ResourceKind,
    cutoff: DateTime<Utc>,
    orphans: Orphans,
    report: &mut Report,
) -> anyhow::Result<bool> {
    let Some(list) = Operation::for_kind(kind).and_then(|operations| operations.list) else {
        return Ok(true);
    };
    let client = admin.upstreams.get(profile)?;
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut request = UpstreamRequest::new(list, &[]).query("limit", "100");
        if let Some(after) = &after {
            request = request.query("after", after.clone());
        }
        let page: Value = client.call(request).await?;
        let objects = page["data"].as_array().cloned().unwrap_or_default();
        let ids: Vec<UpstreamId> = objects
            .iter()
            .filter_map(|object| UpstreamId::parse(object["id"].as_str()?).ok())
            .collect();
        let (named, wanted) = (profile.to_owned(), ids.clone());
        let known: HashSet<UpstreamId> = admin
            .database
            .run("reconcile.known", move |conn| {
                resources::known_anywhere(conn, &named, &wanted)
            })
            .await?
            .into_iter()
            .collect();
        for object in &objects {
            let Some(id) = object["id"]
                .as_str()
                .and_then(|id| UpstreamId::parse(id).ok())
            else {
                continue;
            };
            if !known.contains(&id) {
                let found = Found {
                    profile,
                    kind,
                    id: &id,
                    object,
                };
                settle_unknown(admin, client, &found, cutoff, orphans, report).await?;
            }
        }
        let more = page["has_more"].as_bool() == Some(true);
        match (more, ids.last()) {
            (true, Some(last)) => after = Some(last.to_string()),
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// An object a sweep found that no row holds.
struct Found<'a> {
    profile: &'a str,
    kind: ResourceKind,
    id: &'a UpstreamId,
    object: &'a Value,
}

/// Adopted by the row its stamp names, or an orphan.
async fn settle_unknown(
    admin: &Admin,
    client: &UpstreamClient,
    found: &Found<'_>,
    cutoff: DateTime<Utc>,
    orphans: Orphans,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Found {
        profile,
        kind,
        id,
        object,
    } = *found;
    let created = object["created_at"]
        .as_i64()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0));
    if created.is_some_and(|created| created > cutoff) {
        // Young: its create may still be answered.
        return Ok(());
    }
    let stamp = api::gateway::metadata::stamp_of(object);
    if stamp.is_none() && made_by_the_upstream(kind, object) {
        // Its owner is a thread or an assistant; it is recorded when an
        // answer about them shows it (gateway::recording), not here.
        return Ok(());
    }
    let row = match stamp {
        Some(row) => {
            admin
                .database
                .run("reconcile.stamped", move |conn| {
                    resources::find_pending(conn, row)
                })
                .await?
        }
        None => None,
    };
    match row {
        Some(row) if row.upstream_profile == profile && row.facts.kind == kind => {
            if row.created_at > cutoff {
                return Ok(());
            }
            adopt(admin, &row, id, object).await?;
            report.adopted += 1;
        }
        _ if orphans == Orphans::Report => {
            tracing::warn!(upstream_id = %id, kind = kind.as_str(), "an orphan nobody can reach (kept)");
            report.orphans_kept += 1;
        }
        _ => {
            let Some(delete) = Operation::for_kind(kind).map(|operations| operations.delete) else {
                return Ok(());
            };
            match client
                .call::<Value>(UpstreamRequest::new(delete, &[id]))
                .await
            {
                Ok(_) | Err(UpstreamError::NotFound(_)) => {}
                Err(error) => {
                    tracing::warn!(%error, upstream_id = %id, "could not delete an orphan: tried next pass");
                    return Ok(());
                }
            }
            tracing::warn!(upstream_id = %id, kind = kind.as_str(), "deleted an orphan nobody could reach");
            let mut event = event("delete_orphan", kind);
            event.upstream_id = Some(id.to_string());
            event.details = serde_json::json!({"profile": profile});
            admin
                .database
                .run("reconcile.orphan", move |conn| {
                    storage::repo::audit::append_many(conn, &[event])
                })
                .await?;
            report.orphans_deleted += 1;
        }
    }
    Ok(())
}

/// Objects the upstream makes by itself for a thread or an assistant: code
/// interpreter's output files, and vector stores made by a `vector_stores`
/// helper or for attachments (Threadgate's own creates are stamped).
fn made_by_the_upstream(kind: ResourceKind, object: &Value) -> bool {
    match kind {
        ResourceKind::File => object["purpose"] == "assistants_output",
        ResourceKind::VectorStore => true,
        _ => false,
    }
}

/// The row's create did make `object`: the row becomes active with it, and
/// the adoption is audited, in one transaction.
async fn adopt(
    admin: &Admin,
    row: &Resource,
    id: &UpstreamId,
    object: &Value,
) -> anyhow::Result<()> {
    let (tenant, row_id, upstream_id) = (row.facts.tenant_id, row.facts.id, id.clone());
    let attributes = api::gateway::lifecycle::storable(object.clone());
    let mut event = event("adopt", row.facts.kind);
    event.tenant_id = Some(tenant);
    event.resource_id = Some(row_id);
    event.upstream_id = Some(id.to_string());
    tracing::info!(resource = %row_id, upstream_id = %id, "adopted an object whose create was never answered");
    admin
        .database
        .transaction("reconcile.adopt", move |conn| {
            resources::activate(conn, tenant, row_id, &upstream_id)?;
            resources::set_attributes(conn, tenant, row_id, &attributes)?;
            storage::repo::audit::append_many(conn, &[event]).map(drop)
        })
        .await?;
    Ok(())
}

/// An audit event of the reconciler about an object of `kind`.
fn event(action: &str, kind: ResourceKind) -> AuditEvent {
    let mut event = api::audit::system_event("reconciler", action);
    event.resource_kind = Some(kind.as_str());
    event
}

async fn finish_delete(admin: &Admin, row: &Resource) -> anyhow::Result<bool> {
    let (Some(operation), Some(upstream_id)) = (
        Operation::for_kind(row.facts.kind).map(|operations| operations.delete),
        row.upstream_id.as_ref(),
    ) else {
        return Ok(false);
    };
    let client = admin.upstreams.get(&row.upstream_profile)?;
    let ids = [upstream_id];
    let mut request = UpstreamRequest::new(operation, &ids);
    // An upstream that scopes data by user sees the delete as its owner's.
    request.user_isolation_key = api::gateway::owner_isolation_key(row.facts.owner);
    match client.call::<Value>(request).await {
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
