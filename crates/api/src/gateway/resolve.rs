//! What an earlier attempt of a keyed create did when its outcome never
//! became known (it answered 504 or 503 with its row still `pending`, or its
//! process died): the idempotency middleware asks before a retry runs, so
//! the retry answers the first attempt's object instead of making a second.

// It reads only what the caller's own earlier attempt reserved: the rows
// are looked up by the caller's tenant and that attempt's request id, which
// the caller's own Idempotency-Key is bound to.
#![allow(clippy::disallowed_methods)]

use domain::{Action, ResourceKind};
use serde_json::Value;
use storage::repo::resources::{self, Resource};
use upstream::{Operation, UpstreamError, UpstreamRequest};

use super::lifecycle::Pending;
use super::{Exchange, for_caller, metadata};
use crate::auth::Caller;
use crate::request_id::RequestId;
use crate::{ApiError, AppState};

/// What the earlier attempt turned out to have done.
#[derive(Debug)]
pub enum Resolution {
    /// It created this object, which is now the caller's: the retry
    /// answers it.
    Created(Value),
    /// It created nothing (its row is gone): the retry runs.
    Nothing,
    /// Whether it created something cannot be known: the upstream cannot
    /// list objects of its kind (threads). The reconciler settles it later.
    Unknowable,
}

/// How many pages of the upstream's newest objects are searched for the
/// stamp, and how far before the row's reservation (clocks differ).
const PAGES: usize = 10;
const CLOCK_SLACK_SECONDS: i64 = 300;

/// Resolves what the attempt `holder` of the request to `path` did for
/// `caller`: the rows it reserved, or, for a message or a run (which have
/// no row), what its thread holds with the attempt's stamp.
pub async fn earlier_attempt(
    state: &AppState,
    caller: &Caller,
    holder: &str,
    request_id: &str,
    path: &str,
) -> Result<Resolution, ApiError> {
    let Some(row) = reserved_row(state, caller, holder).await? else {
        return child_of_thread(state, caller, holder, request_id, path).await;
    };
    // A create-thread-and-run answers with its run, which cannot be found
    // again by its thread's row: whether it ran is not known here.
    if crate::azure::below_surface(path)
        .is_some_and(|below| below.trim_end_matches('/') == "/threads/runs")
    {
        return Ok(Resolution::Unknowable);
    }
    let Some(operations) = Operation::for_kind(row.facts.kind) else {
        return Ok(Resolution::Unknowable);
    };
    let client = state.upstreams.get(&row.upstream_profile)?;
    match (row.facts.state, &row.upstream_id) {
        (domain::LifecycleState::Active, Some(id)) => {
            // Its answer was lost after it was recorded: answer it again.
            match client
                .call::<Value>(for_caller(
                    caller,
                    UpstreamRequest::new(operations.get, &[id]),
                ))
                .await
            {
                Ok(mut object) => {
                    metadata::hide_reserved(&mut object);
                    Ok(Resolution::Created(object))
                }
                Err(UpstreamError::NotFound(_)) => Ok(Resolution::Nothing),
                Err(error) => Err(error.into()),
            }
        }
        (domain::LifecycleState::Pending, _) => {
            let Some(list) = operations.list else {
                return Ok(Resolution::Unknowable);
            };
            if !row.facts.kind.has_metadata() {
                // A file carries nothing that proves which attempt made it
                // (a name is anybody's to choose), so it is never adopted:
                // the attempt counts as having made nothing, and what it
                // may have made is an orphan the reconciler deletes.
                discard(state, &row).await?;
                return Ok(Resolution::Nothing);
            }
            match stamped(client, caller, list, &row).await? {
                Some(mut object) => {
                    Pending::resume(row.facts.id, row.facts.kind)
                        .activate(state, caller, request_id, &object)
                        .await?;
                    metadata::hide_reserved(&mut object);
                    Ok(Resolution::Created(object))
                }
                None => {
                    // Nothing upstream carries its stamp: the create made
                    // nothing (were it only late, the object will be an
                    // orphan that the reconciler deletes).
                    discard(state, &row).await?;
                    Ok(Resolution::Nothing)
                }
            }
        }
        // Deleted since, or on its way: nothing to answer with.
        _ => Ok(Resolution::Nothing),
    }
}

/// The row the attempt `holder` reserved for an object of the caller's
/// own (as the caller would own what they create): the key is the caller's,
/// and so are the objects its attempts made.
async fn reserved_row(
    state: &AppState,
    caller: &Caller,
    holder: &str,
) -> Result<Option<Resource>, ApiError> {
    let (tenant_id, held_by) = (caller.tenant.id, holder.to_owned());
    let rows = state
        .database
        .run("resolve.rows", move |conn| {
            resources::reserved_by_request(conn, tenant_id, &held_by)
        })
        .await?;
    Ok(rows.into_iter().find(|row| match row.facts.owner {
        domain::Owner::User(user) => caller.user() == Some(user),
        domain::Owner::Tenant => caller.principal.is_admin(),
    }))
}

async fn discard(state: &AppState, row: &Resource) -> Result<(), ApiError> {
    let (tenant, id) = (row.facts.tenant_id, row.facts.id);
    state
        .database
        .run("resolve.discard", move |conn| {
            resources::discard_pending(conn, tenant, id)
        })
        .await?;
    Ok(())
}

/// A message or run the attempt made in one of the caller's threads, found
/// by the attempt's request id among the thread's newest.
async fn child_of_thread(
    state: &AppState,
    caller: &Caller,
    holder: &str,
    request_id: &str,
    path: &str,
) -> Result<Resolution, ApiError> {
    let below = crate::azure::below_surface(path).unwrap_or(path);
    let segments: Vec<&str> = below.trim_start_matches('/').split('/').collect();
    let (thread, list) = match segments.as_slice() {
        ["threads", thread, "messages"] => (*thread, Operation::ListMessages),
        ["threads", thread, "runs"] => (*thread, Operation::ListRuns),
        _ => return Ok(Resolution::Nothing),
    };
    let request_id = RequestId(request_id.to_owned());
    let granted = Exchange::new(state, caller, &request_id)
        .path(ResourceKind::Thread, thread, Action::Read)
        .authorize_one()
        .await;
    // Not the caller's thread: the retry runs, and is refused like any other.
    let Ok((authorized, _, id)) = granted else {
        return Ok(Resolution::Nothing);
    };
    let ids = [&id];
    let page = authorized
        .forward_stamped(
            UpstreamRequest::new(list, &ids)
                .query("limit", "100")
                .query("order", "desc"),
        )
        .await?;
    let found = page["data"].as_array().and_then(|children| {
        children
            .iter()
            .find(|child| child["metadata"][metadata::REQUEST_KEY] == holder)
            .cloned()
    });
    Ok(match found {
        Some(mut child) => {
            metadata::hide_reserved(&mut child);
            Resolution::Created(child)
        }
        None => Resolution::Nothing,
    })
}

/// The upstream object stamped with `row`'s id, among the newest objects of
/// its kind made since the row was reserved.
async fn stamped(
    client: &upstream::UpstreamClient,
    caller: &Caller,
    list: Operation,
    row: &Resource,
) -> Result<Option<Value>, ApiError> {
    let since = row.created_at.timestamp() - CLOCK_SLACK_SECONDS;
    let mut after: Option<String> = None;
    for _ in 0..PAGES {
        let mut request = UpstreamRequest::new(list, &[])
            .query("limit", "100")
            .query("order", "desc");
        if let Some(after) = &after {
            request = request.query("after", after.clone());
        }
        let page: Value = client.call(for_caller(caller, request)).await?;
        let objects = page["data"].as_array().cloned().unwrap_or_default();
        if let Some(found) = objects
            .iter()
            .find(|object| metadata::stamp_of(object) == Some(row.facts.id))
        {
            return Ok(Some(found.clone()));
        }
        let older = objects
            .last()
            .and_then(|object| object["created_at"].as_i64())
            .is_some_and(|created| created < since);
        let more = page["has_more"].as_bool() == Some(true);
        match objects.last().and_then(|object| object["id"].as_str()) {
            Some(last) if more && !older => after = Some(last.to_owned()),
            _ => return Ok(None),
        }
    }
    Ok(None)
}
