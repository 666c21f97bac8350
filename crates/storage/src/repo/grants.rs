//! Shares: a right one user of a tenant holds on another's thread or
//! conversation. Nothing here is cached anywhere: the authorization lookup
//! reads grants in the same query as the resource, so a revoke binds the
//! grantee's next request on every replica.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{Permission, ResourceId, TenantId, UserId};
use uuid::Uuid;

use crate::StorageError;
use crate::error::parse_stored;
use crate::schema::{grants, resources, users};

/// Shares one object may have at most: every share is a row the owner
/// controls, so it is bounded like everything else a caller controls.
pub const MAX_SHARES_PER_OBJECT: i64 = 100;

/// One share of an object, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub grantee: UserId,
    /// The grantee's subject at their identity provider.
    pub subject: String,
    pub permission: Permission,
    pub created_at: DateTime<Utc>,
}

/// Gives `grantee` `permission` on `resource`, or changes the permission
/// they already hold. `Ok(None)` when the object already has
/// [`MAX_SHARES_PER_OBJECT`] other shares.
pub fn share(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    resource: ResourceId,
    grantee: UserId,
    permission: Permission,
    granted_by: Option<UserId>,
) -> Result<Option<DateTime<Utc>>, StorageError> {
    conn.transaction(|conn| {
        // Concurrent shares of one object wait for each other, so the cap holds.
        resources::table
            .find((tenant_id.as_uuid(), resource.as_uuid()))
            .select(resources::id)
            .for_update()
            .first::<Uuid>(conn)?;
        let others: i64 = grants::table
            .filter(grants::tenant_id.eq(tenant_id.as_uuid()))
            .filter(grants::resource_id.eq(resource.as_uuid()))
            .filter(grants::grantee_user_id.ne(grantee.as_uuid()))
            .count()
            .get_result(conn)?;
        if others >= MAX_SHARES_PER_OBJECT {
            return Ok(None);
        }
        let created_at = diesel::insert_into(grants::table)
            .values((
                grants::tenant_id.eq(tenant_id.as_uuid()),
                grants::id.eq(Uuid::now_v7()),
                grants::resource_id.eq(resource.as_uuid()),
                grants::grantee_user_id.eq(grantee.as_uuid()),
                grants::permission.eq(permission.as_str()),
                grants::granted_by_user_id.eq(granted_by.map(|user| user.as_uuid())),
            ))
            .on_conflict((
                grants::tenant_id,
                grants::resource_id,
                grants::grantee_user_id,
            ))
            .do_update()
            .set(grants::permission.eq(permission.as_str()))
            .returning(grants::created_at)
            .get_result(conn)?;
        Ok(Some(created_at))
    })
}

/// The shares of `resource`, oldest first (at most [`MAX_SHARES_PER_OBJECT`]).
pub fn list_for_resource(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    resource: ResourceId,
) -> Result<Vec<Share>, StorageError> {
    let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = grants::table
        .inner_join(
            users::table.on(users::tenant_id
                .eq(grants::tenant_id)
                .and(users::id.eq(grants::grantee_user_id))),
        )
        .filter(grants::tenant_id.eq(tenant_id.as_uuid()))
        .filter(grants::resource_id.eq(resource.as_uuid()))
        .order((grants::created_at.asc(), grants::id.asc()))
        .limit(MAX_SHARES_PER_OBJECT)
        .select((
            grants::grantee_user_id,
            users::subject,
            grants::permission,
            grants::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(grantee, subject, permission, created_at)| {
            Ok(Share {
                grantee: UserId::from_uuid(grantee),
                subject,
                permission: parse_stored("grants.permission", &permission)?,
                created_at,
            })
        })
        .collect()
}

/// Takes `grantee`'s share of `resource` away; whether they had one.
pub fn revoke(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    resource: ResourceId,
    grantee: UserId,
) -> Result<bool, StorageError> {
    let removed = diesel::delete(
        grants::table
            .filter(grants::tenant_id.eq(tenant_id.as_uuid()))
            .filter(grants::resource_id.eq(resource.as_uuid()))
            .filter(grants::grantee_user_id.eq(grantee.as_uuid())),
    )
    .execute(conn)?;
    Ok(removed > 0)
}

/// Removes `user` if they were only ever named by shares: never seen,
/// holding no share and owning nothing (so revoking shares of made-up
/// subjects leaves no rows behind).
pub fn forget_if_unseen(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user: UserId,
) -> Result<(), StorageError> {
    use diesel::dsl::{exists, not};
    diesel::delete(
        users::table
            .filter(users::tenant_id.eq(tenant_id.as_uuid()))
            .filter(users::id.eq(user.as_uuid()))
            .filter(users::last_seen_at.is_null())
            .filter(not(exists(
                grants::table
                    .filter(grants::tenant_id.eq(tenant_id.as_uuid()))
                    .filter(grants::grantee_user_id.eq(user.as_uuid())),
            )))
            .filter(not(exists(
                resources::table
                    .filter(resources::tenant_id.eq(tenant_id.as_uuid()))
                    .filter(resources::owner_user_id.eq(user.as_uuid())),
            ))),
    )
    .execute(conn)?;
    Ok(())
}

/// Every share `user` holds or gave, removed (their erasure); how many.
pub fn remove_for_user(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user: UserId,
) -> Result<usize, StorageError> {
    Ok(diesel::delete(
        grants::table
            .filter(grants::tenant_id.eq(tenant_id.as_uuid()))
            .filter(
                grants::grantee_user_id
                    .eq(user.as_uuid())
                    .or(grants::granted_by_user_id.eq(user.as_uuid())),
            ),
    )
    .execute(conn)?)
}
