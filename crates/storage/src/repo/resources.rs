//! Resources: the upstream objects Threadgate knows, who owns them, and where
//! they are in their life (`pending` → `active` → `deleting` → `deleted`).
//!
//! Creation is two-step on purpose: [`insert_pending`] before the upstream is
//! asked, [`activate`] once it answered. A crash in between leaves a pending
//! row that a reconciler can settle, never an upstream object nobody owns.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{QueryFragment, QueryId};
use diesel::query_dsl::LoadQuery;
use domain::{
    Grant, LifecycleState, ListScope, Owner, ResourceFacts, ResourceId, ResourceKind, TenantId,
    UpstreamId, UserId,
};
use uuid::Uuid;

use crate::StorageError;
use crate::error::parse_stored;
use crate::schema::{grants, resources};

/// A resource row: the facts the authorization decision needs, and where the
/// object lives upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub facts: ResourceFacts,
    pub upstream_profile: String,
    /// `None` only while pending.
    pub upstream_id: Option<UpstreamId>,
    pub parent_id: Option<ResourceId>,
    pub created_at: DateTime<Utc>,
    /// What the upstream said about the object when it was recorded.
    pub attributes: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct NewResource<'a> {
    pub tenant_id: TenantId,
    pub kind: ResourceKind,
    pub upstream_profile: &'a str,
    pub owner: Owner,
    pub parent_id: Option<ResourceId>,
    /// The request that reserved it, for the reconciler.
    pub request_id: Option<&'a str>,
    /// What the upstream said about the object (e.g. a file's purpose).
    pub attributes: serde_json::Value,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = resources, check_for_backend(Pg))]
struct ResourceRow {
    tenant_id: Uuid,
    id: Uuid,
    kind: String,
    upstream_profile: String,
    upstream_id: Option<String>,
    owner_user_id: Option<Uuid>,
    parent_id: Option<Uuid>,
    state: String,
    created_at: DateTime<Utc>,
    attributes: serde_json::Value,
}

impl ResourceRow {
    fn into_resource(self, grants: Vec<Grant>) -> Result<Resource, StorageError> {
        Ok(Resource {
            facts: ResourceFacts {
                id: ResourceId::from_uuid(self.id),
                tenant_id: TenantId::from_uuid(self.tenant_id),
                kind: parse_stored("resources.kind", &self.kind)?,
                owner: self
                    .owner_user_id
                    .map_or(Owner::Tenant, |user| Owner::User(UserId::from_uuid(user))),
                state: parse_stored("resources.state", &self.state)?,
                grants,
            },
            upstream_profile: self.upstream_profile,
            upstream_id: self
                .upstream_id
                .map(UpstreamId::parse)
                .transpose()
                .map_err(|source| StorageError::InvalidStoredValue {
                    column: "resources.upstream_id",
                    source,
                })?,
            parent_id: self.parent_id.map(ResourceId::from_uuid),
            created_at: self.created_at,
            attributes: self.attributes,
        })
    }
}

fn owner_column(owner: Owner) -> Option<Uuid> {
    match owner {
        Owner::User(user) => Some(user.as_uuid()),
        Owner::Tenant => None,
    }
}

/// Whether `owner` is a user whose erasure has begun, read under a share
/// lock on their row, so an erasure beginning meanwhile (which locks it for
/// update) waits for the caller's transaction, and one that began first is
/// seen.
fn owner_erased(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    owner: Owner,
) -> Result<bool, StorageError> {
    use crate::schema::users;
    let Owner::User(user) = owner else {
        return Ok(false);
    };
    let state: Option<String> = users::table
        .find((tenant_id.as_uuid(), user.as_uuid()))
        .select(users::state)
        .for_share()
        .first(conn)
        .optional()?;
    Ok(state.as_deref() == Some(crate::repo::users::ERASED))
}

/// Records that the upstream is about to be asked to create an object;
/// [`StorageError::OwnerErased`] for a user being erased (whom another
/// replica may still remember for a moment), so nothing new of theirs is
/// ever made after their erasure began.
pub fn insert_pending(
    conn: &mut PgConnection,
    new: &NewResource<'_>,
) -> Result<ResourceId, StorageError> {
    conn.transaction(|conn| {
        if owner_erased(conn, new.tenant_id, new.owner)? {
            return Err(StorageError::OwnerErased);
        }
        insert_pending_row(conn, new)
    })
}

fn insert_pending_row(
    conn: &mut PgConnection,
    new: &NewResource<'_>,
) -> Result<ResourceId, StorageError> {
    let id = ResourceId::new();
    diesel::insert_into(resources::table)
        .values((
            resources::tenant_id.eq(new.tenant_id.as_uuid()),
            resources::id.eq(id.as_uuid()),
            resources::kind.eq(new.kind.as_str()),
            resources::upstream_profile.eq(new.upstream_profile),
            resources::owner_user_id.eq(owner_column(new.owner)),
            resources::parent_id.eq(new.parent_id.map(|p| p.as_uuid())),
            resources::state.eq(LifecycleState::Pending.as_str()),
            resources::request_id.eq(new.request_id),
            resources::attributes.eq(&new.attributes),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Replaces what is recorded about the object.
pub fn set_attributes(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: ResourceId,
    attributes: &serde_json::Value,
) -> Result<(), StorageError> {
    diesel::update(resources::table.find((tenant_id.as_uuid(), id.as_uuid())))
        .set(resources::attributes.eq(attributes))
        .execute(conn)?;
    Ok(())
}

/// Removes a pending row whose upstream create was refused outright: the
/// upstream created nothing, so there is nothing to reconcile.
pub fn discard_pending(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: ResourceId,
) -> Result<(), StorageError> {
    diesel::delete(
        resources::table
            .find((tenant_id.as_uuid(), id.as_uuid()))
            .filter(resources::state.eq(LifecycleState::Pending.as_str())),
    )
    .execute(conn)?;
    Ok(())
}

/// The upstream created the object: remember its id and make it usable.
pub fn activate(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: ResourceId,
    upstream_id: &UpstreamId,
) -> Result<(), StorageError> {
    let updated = diesel::update(
        resources::table
            .find((tenant_id.as_uuid(), id.as_uuid()))
            .filter(resources::state.eq(LifecycleState::Pending.as_str())),
    )
    .set((
        resources::upstream_id.eq(upstream_id.as_str()),
        resources::state.eq(LifecycleState::Active.as_str()),
        resources::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    match updated {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}

/// Records an object the upstream created on its own (a file the code
/// interpreter wrote, a vector store made for a thread) as active and owned.
///
/// An upstream id is recorded once, in one tenant: when any row already
/// holds it (the unique index `resources_upstream_id_once`), nothing is
/// written and the answer is the tenant's existing row, or `None` when the
/// id belongs to another tenant or is of another kind.
///
/// What a run made for a user being erased is recorded `deleting`: the
/// reconciler deletes it upstream, as the erasure would have.
pub fn record_existing(
    conn: &mut PgConnection,
    new: &NewResource<'_>,
    upstream_id: &UpstreamId,
) -> Result<Option<Resource>, StorageError> {
    conn.transaction(|conn| record_existing_row(conn, new, upstream_id))
}

fn record_existing_row(
    conn: &mut PgConnection,
    new: &NewResource<'_>,
    upstream_id: &UpstreamId,
) -> Result<Option<Resource>, StorageError> {
    let state = if owner_erased(conn, new.tenant_id, new.owner)? {
        LifecycleState::Deleting
    } else {
        LifecycleState::Active
    };
    diesel::insert_into(resources::table)
        .values((
            resources::tenant_id.eq(new.tenant_id.as_uuid()),
            resources::id.eq(ResourceId::new().as_uuid()),
            resources::kind.eq(new.kind.as_str()),
            resources::upstream_profile.eq(new.upstream_profile),
            resources::upstream_id.eq(upstream_id.as_str()),
            resources::owner_user_id.eq(owner_column(new.owner)),
            resources::parent_id.eq(new.parent_id.map(|p| p.as_uuid())),
            resources::state.eq(state.as_str()),
            resources::request_id.eq(new.request_id),
            resources::attributes.eq(&new.attributes),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    match find_by_upstream_id(conn, new.tenant_id, new.kind, upstream_id, None) {
        Ok(found) => Ok(Some(found)),
        Err(StorageError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Which of `upstream_ids` any tenant's row already holds, in any state.
/// Served by the unique index `resources_upstream_id_once`.
pub fn known_anywhere(
    conn: &mut PgConnection,
    upstream_profile: &str,
    upstream_ids: &[UpstreamId],
) -> Result<Vec<UpstreamId>, StorageError> {
    if upstream_ids.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<&str> = upstream_ids.iter().map(UpstreamId::as_str).collect();
    let known: Vec<Option<String>> = resources::table
        .filter(resources::upstream_profile.eq(upstream_profile))
        .filter(resources::upstream_id.eq_any(wanted))
        .select(resources::upstream_id)
        .load(conn)?;
    Ok(upstream_ids
        .iter()
        .filter(|id| known.iter().flatten().any(|k| k == id.as_str()))
        .cloned()
        .collect())
}

/// The authorization lookup's query: the tenant's rows of `kinds` with one
/// of `upstream_ids`, each joined with the grants `grantee` holds on it or
/// on its parent (a run's output file is read through its thread's share).
/// `tenant_id`, `kind` and `upstream_id` lead the unique index
/// `resources_upstream_key`, so every id is an index probe.
fn lookup(
    tenant_id: TenantId,
    kinds: Vec<&'static str>,
    upstream_ids: Vec<String>,
    grantee: Option<Uuid>,
) -> impl LoadQuery<'static, PgConnection, LookupRow> + QueryFragment<Pg> + QueryId {
    resources::table
        .left_join(
            grants::table.on(grants::tenant_id
                .eq(resources::tenant_id)
                .and(
                    grants::resource_id.eq(resources::id).or(grants::resource_id
                        .nullable()
                        .eq(resources::parent_id)
                        // Only files (a run's output) are read through their
                        // thread's share; a thread's vector stores hold the
                        // owner's own documents.
                        .and(resources::kind.eq(ResourceKind::File.as_str()))),
                )
                .and(grants::grantee_user_id.nullable().eq(grantee))),
        )
        .filter(resources::tenant_id.eq(tenant_id.as_uuid()))
        .filter(resources::kind.eq_any(kinds))
        .filter(resources::upstream_id.eq_any(upstream_ids))
        .select((
            ResourceRow::as_select(),
            grants::grantee_user_id.nullable(),
            grants::permission.nullable(),
            grants::resource_id.nullable(),
        ))
}

/// A resource row with one grant the grantee holds on it or on its parent
/// (the grant's resource says which), if any.
type LookupRow = (ResourceRow, Option<Uuid>, Option<String>, Option<Uuid>);

/// The tenant's resources for `wanted` `(kind, upstream id)` pairs, in the
/// order asked, `None` where the tenant has none; each with the grants
/// `grants_for` holds on it (none when `None`). One query, however many ids.
///
/// This is the authorization lookup: it only ever searches inside the
/// caller's tenant, so another tenant's object is simply not found.
pub fn find_many(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    wanted: &[(ResourceKind, UpstreamId)],
    grants_for: Option<UserId>,
) -> Result<Vec<Option<Resource>>, StorageError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut kinds: Vec<&'static str> = wanted.iter().map(|(kind, _)| kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let ids: Vec<String> = wanted
        .iter()
        .map(|(_, id)| id.as_str().to_owned())
        .collect();
    let rows: Vec<LookupRow> =
        lookup(tenant_id, kinds, ids, grants_for.map(|user| user.as_uuid())).load(conn)?;
    // Up to a body's 2,000 ids: keyed, so matching stays linear.
    let mut found: HashMap<(&'static str, String), Resource> = HashMap::new();
    for (row, grantee, permission, granted_on) in rows {
        let grant = match (grantee, permission) {
            (Some(grantee), Some(permission)) => Some(Grant {
                grantee: UserId::from_uuid(grantee),
                permission: parse_stored("grants.permission", &permission)?,
                through_parent: granted_on != Some(row.id),
            }),
            _ => None,
        };
        let resource = row.into_resource(Vec::new())?;
        let Some(upstream_id) = resource.upstream_id.as_ref().map(ToString::to_string) else {
            continue;
        };
        found
            .entry((resource.facts.kind.as_str(), upstream_id))
            .or_insert(resource)
            .facts
            .grants
            .extend(grant);
    }
    Ok(wanted
        .iter()
        .map(|(kind, id)| found.get(&(kind.as_str(), id.as_str().to_owned())).cloned())
        .collect())
}

/// The tenant's resource of `kind` with this upstream id, in any state, with
/// the grants `grants_for` holds on it: [`find_many`] for one id.
pub fn find_by_upstream_id(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    kind: ResourceKind,
    upstream_id: &UpstreamId,
    grants_for: Option<UserId>,
) -> Result<Resource, StorageError> {
    find_many(conn, tenant_id, &[(kind, upstream_id.clone())], grants_for)?
        .pop()
        .flatten()
        .ok_or(StorageError::NotFound)
}

/// Moves an active resource to `deleting` before the upstream delete is sent.
pub fn mark_deleting(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: ResourceId,
) -> Result<(), StorageError> {
    transition(
        conn,
        tenant_id,
        id,
        LifecycleState::Active,
        LifecycleState::Deleting,
    )?;
    // Its shares go with it, and with them what they reached through it
    // (the output files of a deleted thread). Same transaction when the
    // caller runs one; either way, before the upstream is asked.
    diesel::delete(
        grants::table
            .filter(grants::tenant_id.eq(tenant_id.as_uuid()))
            .filter(grants::resource_id.eq(id.as_uuid())),
    )
    .execute(conn)?;
    Ok(())
}

/// The upstream confirmed the deletion (or the object was already gone).
pub fn mark_deleted(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: ResourceId,
) -> Result<(), StorageError> {
    let updated = diesel::update(
        resources::table
            .find((tenant_id.as_uuid(), id.as_uuid()))
            .filter(resources::state.eq_any([
                LifecycleState::Active.as_str(),
                LifecycleState::Deleting.as_str(),
            ])),
    )
    .set((
        resources::state.eq(LifecycleState::Deleted.as_str()),
        resources::deleted_at.eq(diesel::dsl::now),
        resources::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    match updated {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}

fn transition(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: ResourceId,
    from: LifecycleState,
    to: LifecycleState,
) -> Result<(), StorageError> {
    let updated = diesel::update(
        resources::table
            .find((tenant_id.as_uuid(), id.as_uuid()))
            .filter(resources::state.eq(from.as_str())),
    )
    .set((
        resources::state.eq(to.as_str()),
        resources::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    match updated {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}

/// A page request in the API's terms: `limit`, `order`, and `after` /
/// `before` cursors that name an item of the same list.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub limit: i64,
    pub newest_first: bool,
    pub after: Option<UpstreamId>,
    pub before: Option<UpstreamId>,
    /// Only resources whose attribute (a key chosen by code, never by a
    /// caller) has this value, e.g. `("purpose", "assistants")`.
    pub attribute_equals: Option<(&'static str, String)>,
}

/// One page of active resources of `kind` in `scope`, and whether more
/// follow in the direction of paging. Keyset paging on `(created_at, id)`
/// over an index that starts with the tenant. A cursor that names no item of
/// this list is [`StorageError::NotFound`].
pub fn list(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    scope: ListScope,
    kind: ResourceKind,
    page: &PageQuery,
) -> Result<(Vec<Resource>, bool), StorageError> {
    if scope == ListScope::Nothing {
        return Ok((Vec::new(), false));
    }
    let scoped = || listing(tenant_id, scope, kind, page.attribute_equals.as_ref());
    let mut cursor = |upstream_id: &UpstreamId| -> Result<(DateTime<Utc>, Uuid), StorageError> {
        Ok(scoped()
            .filter(resources::upstream_id.eq(upstream_id.as_str()))
            .select((resources::created_at, resources::id))
            .first(&mut *conn)?)
    };
    let after = page.after.as_ref().map(&mut cursor).transpose()?;
    let before = page.before.as_ref().map(&mut cursor).transpose()?;

    // `before` pages back towards the start: read backwards from the cursor,
    // then turn the page round.
    let backwards = before.is_some() && after.is_none();
    let ascending = page.newest_first == backwards;
    let mut query = scoped();
    // Items strictly after `key` in list order (or before it, reading backwards).
    let beyond = |query: resources::BoxedQuery<'static, Pg>,
                  key: (DateTime<Utc>, Uuid),
                  forward_in_time: bool| {
        let (at, id) = key;
        if forward_in_time {
            query.filter(
                resources::created_at
                    .gt(at)
                    .or(resources::created_at.eq(at).and(resources::id.gt(id))),
            )
        } else {
            query.filter(
                resources::created_at
                    .lt(at)
                    .or(resources::created_at.eq(at).and(resources::id.lt(id))),
            )
        }
    };
    if let Some(key) = after {
        query = beyond(query, key, !page.newest_first);
    }
    if let Some(key) = before {
        query = beyond(query, key, page.newest_first);
    }
    let mut rows: Vec<ResourceRow> = in_page_order(query, ascending, page.limit + 1).load(conn)?;
    let has_more = rows.len() > usize::try_from(page.limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    if backwards {
        rows.reverse();
    }
    let resources = rows
        .into_iter()
        .map(|row| row.into_resource(Vec::new()))
        .collect::<Result<_, _>>()?;
    Ok((resources, has_more))
}

/// The active resources of `kind` in `scope` that a list shows, before
/// cursors and order: the leading columns of `resources_owner_listing`.
fn listing(
    tenant_id: TenantId,
    scope: ListScope,
    kind: ResourceKind,
    attribute_equals: Option<&(&'static str, String)>,
) -> resources::BoxedQuery<'static, Pg> {
    let mut query = resources::table
        .filter(resources::tenant_id.eq(tenant_id.as_uuid()))
        .filter(resources::kind.eq(kind.as_str()))
        .filter(resources::state.eq(LifecycleState::Active.as_str()))
        .into_boxed();
    if let Some((key, value)) = attribute_equals {
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(&format!("attributes ->> '{key}' = "))
                .bind::<diesel::sql_types::Text, _>(value.clone()),
        );
    }
    match scope {
        ListScope::OwnedBy(user) => query.filter(resources::owner_user_id.eq(user.as_uuid())),
        ListScope::Tenant => query.filter(resources::owner_user_id.is_null()),
        ListScope::SharedWith(user) => query.filter(
            resources::id.eq_any(
                grants::table
                    .filter(grants::tenant_id.eq(tenant_id.as_uuid()))
                    .filter(grants::grantee_user_id.eq(user.as_uuid()))
                    .select(grants::resource_id),
            ),
        ),
        // Matches no row (lists return before asking).
        ListScope::Nothing => query.filter(resources::id.is_null()),
    }
}

/// `query` in list order, at most `limit` rows.
fn in_page_order(
    query: resources::BoxedQuery<'static, Pg>,
    ascending: bool,
    limit: i64,
) -> impl LoadQuery<'static, PgConnection, ResourceRow> + QueryFragment<Pg> + QueryId {
    let query = if ascending {
        query.order((resources::created_at.asc(), resources::id.asc()))
    } else {
        query.order((resources::created_at.desc(), resources::id.desc()))
    };
    query.limit(limit).select(ResourceRow::as_select())
}

/// The rows one request reserved itself (not those it recorded for a
/// parent), in any state but deleted.
pub fn reserved_by_request(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    request_id: &str,
) -> Result<Vec<Resource>, StorageError> {
    resources::table
        .filter(resources::tenant_id.eq(tenant_id.as_uuid()))
        .filter(resources::request_id.eq(request_id))
        .filter(resources::parent_id.is_null())
        .filter(resources::state.ne(LifecycleState::Deleted.as_str()))
        .select(ResourceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_resource(Vec::new()))
        .collect()
}

/// The pending row `id`, in whichever tenant: a stamp found on an upstream
/// object names the row but not its tenant. Pending rows are few and
/// `resources_unsettled` holds only them and deleting ones.
pub fn find_pending(
    conn: &mut PgConnection,
    id: ResourceId,
) -> Result<Option<Resource>, StorageError> {
    resources::table
        .filter(resources::id.eq(id.as_uuid()))
        .filter(resources::state.eq(LifecycleState::Pending.as_str()))
        .select(ResourceRow::as_select())
        .first(conn)
        .optional()?
        .map(|row| row.into_resource(Vec::new()))
        .transpose()
}

/// `user`'s rows in `state`, oldest first, at most `limit` (an erasure's
/// work list; the owner listing index leads with tenant and owner).
pub fn owned_in_state(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user: UserId,
    state: LifecycleState,
    limit: i64,
) -> Result<Vec<Resource>, StorageError> {
    resources::table
        .filter(resources::tenant_id.eq(tenant_id.as_uuid()))
        .filter(resources::owner_user_id.eq(user.as_uuid()))
        .filter(resources::state.eq(state.as_str()))
        .order((resources::created_at.asc(), resources::id.asc()))
        .limit(limit)
        .select(ResourceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_resource(Vec::new()))
        .collect()
}

/// Every active row of `user` goes `deleting` (their erasure); how many.
pub fn mark_owned_deleting(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user: UserId,
) -> Result<usize, StorageError> {
    Ok(diesel::update(
        resources::table
            .filter(resources::tenant_id.eq(tenant_id.as_uuid()))
            .filter(resources::owner_user_id.eq(user.as_uuid()))
            .filter(resources::state.eq(LifecycleState::Active.as_str())),
    )
    .set((
        resources::state.eq(LifecycleState::Deleting.as_str()),
        resources::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?)
}

/// Rows left between two steps for longer than `older_than` (a crash, or an
/// upstream that never answered), across tenants, oldest first: the
/// reconciler's work list. Uses the partial index on unsettled rows.
pub fn unsettled(
    conn: &mut PgConnection,
    older_than: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Resource>, StorageError> {
    resources::table
        .filter(resources::state.eq_any([
            LifecycleState::Pending.as_str(),
            LifecycleState::Deleting.as_str(),
        ]))
        .filter(resources::updated_at.lt(older_than))
        .order(resources::updated_at.asc())
        .limit(limit)
        .select(ResourceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_resource(Vec::new()))
        .collect()
}

/// Live conversation state past its tenant's `retention_days`: threads,
/// conversations, responses, and the files and containers they produced
/// (rows with a parent), oldest first, at most `limit`.
pub fn past_retention(conn: &mut PgConnection, limit: i64) -> Result<Vec<Resource>, StorageError> {
    use crate::schema::tenants;
    resources::table
        .inner_join(tenants::table.on(tenants::id.eq(resources::tenant_id)))
        .filter(tenants::retention_days.is_not_null())
        .filter(resources::state.eq(LifecycleState::Active.as_str()))
        .filter(resources::kind.eq_any(["thread", "conversation", "response", "file", "container"]))
        .filter(
            resources::kind
                .eq_any(["thread", "conversation", "response"])
                .or(resources::parent_id.is_not_null()),
        )
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "resources.created_at < now() - make_interval(days => tenants.retention_days)",
        ))
        .order(resources::created_at.asc())
        .limit(limit)
        .select(ResourceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_resource(Vec::new()))
        .collect()
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Text;

    use super::*;

    #[derive(QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }

    /// The plan PostgreSQL picks for `query` with `arguments`, sequential
    /// scans priced out of reach: a plan that still scans the table has no
    /// index to use.
    fn plan<Q>(conn: &mut PgConnection, query: &Q, types: &str, arguments: &str) -> String
    where
        Q: QueryFragment<Pg>,
    {
        let text = diesel::debug_query::<Pg, _>(query).to_string();
        let sql = text.split(" -- binds").next().expect("SQL text");
        diesel::sql_query("SET enable_seqscan = off")
            .execute(conn)
            .expect("set");
        diesel::sql_query(format!("PREPARE planned ({types}) AS {sql}"))
            .execute(conn)
            .expect("prepare");
        let lines: Vec<PlanLine> =
            diesel::sql_query(format!("EXPLAIN EXECUTE planned ({arguments})"))
                .load(conn)
                .expect("explain");
        diesel::sql_query("DEALLOCATE planned")
            .execute(conn)
            .expect("deallocate");
        lines
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_authorization_lookup_and_the_owner_list_use_their_indexes() {
        let database = devdb::TestDatabase::create();
        let mut conn = crate::connect(database.url()).expect("a connection");
        let tenant = TenantId::new();
        let id = UpstreamId::parse("thread_x").expect("an id");

        let query = lookup(
            tenant,
            vec!["thread"],
            vec![id.as_str().to_owned()],
            Some(UserId::new().as_uuid()),
        );
        let lookup_plan = plan(
            &mut conn,
            &query,
            "text, uuid, uuid, text[], text[]",
            &format!(
                "'file', '{}', '{tenant}', ARRAY['thread'], ARRAY['thread_x']",
                UserId::new()
            ),
        );
        assert!(
            !lookup_plan.contains("Seq Scan on grants"),
            "grants, on the resource or its parent, are index probes: {lookup_plan}"
        );
        assert!(
            lookup_plan.contains("resources_upstream_key"),
            "{lookup_plan}"
        );

        let owner = UserId::new();
        let listing = in_page_order(
            listing(
                tenant,
                ListScope::OwnedBy(owner),
                ResourceKind::Thread,
                None,
            ),
            false,
            21,
        );
        let list_plan = plan(
            &mut conn,
            &listing,
            "uuid, text, text, uuid, int8",
            &format!("'{tenant}', 'thread', 'active', '{owner}', 21"),
        );
        assert!(list_plan.contains("resources_owner_listing"), "{list_plan}");
        assert!(
            !list_plan.contains("Sort"),
            "the index gives the order: {list_plan}"
        );
    }
}
