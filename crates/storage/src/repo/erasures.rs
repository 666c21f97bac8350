//! Erasing a user: the row that carries an erasure from its request to its
//! proof, so a crash anywhere between leaves something `threadgate
//! reconcile` finishes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{ApiKeyId, ResourceKind, TenantId, UserId};
use serde_json::Value;
use uuid::Uuid;

use crate::StorageError;
use crate::repo::users::ERASED;
use crate::repo::{grants, resources};
use crate::schema::{erasures, idempotency_keys, users};

#[derive(Debug, Clone, PartialEq)]
pub struct Erasure {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub user_id: UserId,
    pub completed: bool,
    /// Objects deleted so far, by kind.
    pub deleted: Value,
    /// When completed: what the upstream was asked again, and what it still had.
    pub proof: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = erasures, check_for_backend(diesel::pg::Pg))]
struct ErasureRow {
    tenant_id: Uuid,
    id: Uuid,
    user_id: Uuid,
    state: String,
    deleted: Value,
    proof: Option<Value>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl From<ErasureRow> for Erasure {
    fn from(row: ErasureRow) -> Self {
        Erasure {
            tenant_id: TenantId::from_uuid(row.tenant_id),
            id: row.id,
            user_id: UserId::from_uuid(row.user_id),
            completed: row.state == "completed",
            deleted: row.deleted,
            proof: row.proof,
            created_at: row.created_at,
            completed_at: row.completed_at,
        }
    }
}

/// Who asked for an erasure.
#[derive(Debug, Clone, Copy)]
pub struct RequestedBy {
    pub user: Option<UserId>,
    pub api_key: Option<ApiKeyId>,
}

/// Begins erasing `user`, in one transaction: the user is refused from now
/// on and their subject forgotten (a later sign-in with it is a new, empty
/// user), their shares (held and given) are removed, and every object of
/// theirs still active goes `deleting`, unreadable by anyone at once. A
/// user already being erased answers their erasure as it stands, and
/// `false` (not begun by this call).
/// [`StorageError::NotFound`] when the tenant has no such user.
pub fn begin(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user: UserId,
    requested_by: RequestedBy,
) -> Result<(Erasure, bool), StorageError> {
    conn.transaction(|conn| {
        let state: String = users::table
            .find((tenant_id.as_uuid(), user.as_uuid()))
            .select(users::state)
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(StorageError::NotFound)?;
        if state == ERASED {
            return Ok((find_for_user(conn, tenant_id, user)?, false));
        }
        diesel::update(users::table.find((tenant_id.as_uuid(), user.as_uuid())))
            .set((
                users::state.eq(ERASED),
                users::subject.eq(format!("erased:{user}")),
                users::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        grants::remove_for_user(conn, tenant_id, user)?;
        resources::mark_owned_deleting(conn, tenant_id, user)?;
        // Kept answers hold conversation content.
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::tenant_id.eq(tenant_id.as_uuid()))
                .filter(idempotency_keys::principal_id.eq(user.as_uuid())),
        )
        .execute(conn)?;
        let row = diesel::insert_into(erasures::table)
            .values((
                erasures::tenant_id.eq(tenant_id.as_uuid()),
                erasures::id.eq(Uuid::now_v7()),
                erasures::user_id.eq(user.as_uuid()),
                erasures::requested_by_user_id.eq(requested_by.user.map(|user| user.as_uuid())),
                erasures::requested_by_api_key_id.eq(requested_by.api_key.map(|key| key.as_uuid())),
            ))
            .returning(ErasureRow::as_returning())
            .get_result(conn)?;
        Ok((row.into(), true))
    })
}

/// The tenant's erasure with this id.
pub fn find(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: Uuid,
) -> Result<Erasure, StorageError> {
    let row = erasures::table
        .find((tenant_id.as_uuid(), id))
        .select(ErasureRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StorageError::NotFound)?;
    Ok(row.into())
}

fn find_for_user(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user: UserId,
) -> Result<Erasure, StorageError> {
    let row = erasures::table
        .filter(erasures::tenant_id.eq(tenant_id.as_uuid()))
        .filter(erasures::user_id.eq(user.as_uuid()))
        .select(ErasureRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StorageError::NotFound)?;
    Ok(row.into())
}

/// Erasures not completed yet, oldest first: the reconciler finishes them.
pub fn unfinished(conn: &mut PgConnection, limit: i64) -> Result<Vec<Erasure>, StorageError> {
    let rows: Vec<ErasureRow> = erasures::table
        .filter(erasures::state.eq("in_progress"))
        .order(erasures::created_at.asc())
        .limit(limit)
        .select(ErasureRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Erasure::from).collect())
}

/// Counts one more deleted object of `kind`.
pub fn count_deleted(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: Uuid,
    kind: ResourceKind,
) -> Result<(), StorageError> {
    diesel::sql_query(
        "UPDATE erasures SET deleted = jsonb_set(deleted, ARRAY[$3], \
         to_jsonb(coalesce((deleted ->> $3)::bigint, 0) + 1)), updated_at = now() \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Text, _>(kind.as_str())
    .execute(conn)?;
    Ok(())
}

/// The erasure is done: nothing of the user's is left, as `proof` shows.
pub fn complete(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: Uuid,
    proof: &Value,
) -> Result<Erasure, StorageError> {
    let row = diesel::update(erasures::table.find((tenant_id.as_uuid(), id)))
        .set((
            erasures::state.eq("completed"),
            erasures::proof.eq(proof),
            erasures::completed_at.eq(diesel::dsl::now),
            erasures::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ErasureRow::as_returning())
        .get_result(conn)?;
    Ok(row.into())
}
