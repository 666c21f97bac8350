//! End-users of a tenant, created on their first authenticated request.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{TenantId, UserId};

use crate::StorageError;
use crate::schema::users;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub tenant_id: TenantId,
    pub id: UserId,
    pub subject: String,
    /// Disabled users are refused (403) even with a valid credential.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct UserRow {
    tenant_id: uuid::Uuid,
    id: uuid::Uuid,
    subject: String,
    state: String,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            tenant_id: TenantId::from_uuid(row.tenant_id),
            id: UserId::from_uuid(row.id),
            subject: row.subject,
            disabled: row.state != "active",
            created_at: row.created_at,
        }
    }
}

/// The tenant's user with this subject, created if this is their first
/// request. Concurrent first requests of one user agree on one row.
/// `last_seen_at` is refreshed when older than five minutes.
pub fn find_or_create(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    subject: &str,
) -> Result<User, StorageError> {
    // A sign-in refreshes `last_seen_at` only when it is stale: most
    // requests write nothing. (diesel's upsert has no `WHERE`.)
    let row: Option<UserRow> = diesel::sql_query(
        "INSERT INTO users (tenant_id, id, subject, last_seen_at) VALUES ($1, $2, $3, now()) \
         ON CONFLICT (tenant_id, subject) DO UPDATE SET last_seen_at = excluded.last_seen_at \
         WHERE users.last_seen_at IS NULL OR users.last_seen_at < now() - $4 \
         RETURNING tenant_id, id, subject, state, created_at",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
    .bind::<diesel::sql_types::Uuid, _>(UserId::new().as_uuid())
    .bind::<diesel::sql_types::Text, _>(subject)
    .bind::<diesel::sql_types::Interval, _>(LAST_SEEN_PRECISION)
    .get_result(conn)
    .optional()?;
    match row {
        Some(row) => Ok(row.into()),
        None => find_by_subject(conn, tenant_id, subject),
    }
}

/// How stale `last_seen_at` may be: it is written at most this often per
/// user.
const LAST_SEEN_PRECISION: diesel::data_types::PgInterval = diesel::data_types::PgInterval {
    microseconds: 5 * 60 * 1_000_000,
    days: 0,
    months: 0,
};

/// The tenant's user with this subject, registered (never seen yet) if
/// they have not made a request: sharing names users by subject, and must
/// not tell a sharer which subjects have been seen. Unlike
/// [`find_or_create`], it leaves `last_seen_at` alone.
pub fn find_or_register(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    subject: &str,
) -> Result<User, StorageError> {
    diesel::insert_into(users::table)
        .values((
            users::tenant_id.eq(tenant_id.as_uuid()),
            users::id.eq(UserId::new().as_uuid()),
            users::subject.eq(subject),
        ))
        .on_conflict((users::tenant_id, users::subject))
        .do_nothing()
        .execute(conn)?;
    find_by_subject(conn, tenant_id, subject)
}

/// The tenant's user with this subject.
pub fn find_by_subject(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    subject: &str,
) -> Result<User, StorageError> {
    let row = users::table
        .filter(users::tenant_id.eq(tenant_id.as_uuid()))
        .filter(users::subject.eq(subject))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(StorageError::NotFound)?;
    Ok(row.into())
}

pub fn set_disabled(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: UserId,
    disabled: bool,
) -> Result<(), StorageError> {
    // An erased user stays erased.
    let updated = diesel::update(
        users::table
            .find((tenant_id.as_uuid(), id.as_uuid()))
            .filter(users::state.ne(ERASED)),
    )
    .set((
        users::state.eq(if disabled { "disabled" } else { "active" }),
        users::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    match updated {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}

/// What a tenant admin sees of a user.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserListing {
    pub id: uuid::Uuid,
    pub subject: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// A page of the tenant's users, oldest first, after the user `after`
/// (`NotFound` when that is no user of the tenant); `disabled` filters by
/// state. Answers whether more follow.
pub fn list_for_tenant(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    disabled: Option<bool>,
    after: Option<UserId>,
    limit: i64,
) -> Result<(Vec<UserListing>, bool), StorageError> {
    let mut query = users::table
        .filter(users::tenant_id.eq(tenant_id.as_uuid()))
        .filter(users::state.ne(ERASED))
        .into_boxed();
    if let Some(disabled) = disabled {
        query = query.filter(users::state.eq(if disabled { "disabled" } else { "active" }));
    }
    if let Some(after) = after {
        let created_at: DateTime<Utc> = users::table
            .find((tenant_id.as_uuid(), after.as_uuid()))
            .select(users::created_at)
            .first(conn)?;
        query = query.filter(
            users::created_at.gt(created_at).or(users::created_at
                .eq(created_at)
                .and(users::id.gt(after.as_uuid()))),
        );
    }
    let mut users: Vec<UserListing> = query
        .order((users::created_at, users::id))
        .limit(limit + 1)
        .select(UserListing::as_select())
        .load(conn)?;
    let has_more = users.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    users.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((users, has_more))
}

/// The state of a user whose erasure has begun: refused, their subject
/// forgotten, and no longer listed or found by the administration API.
pub const ERASED: &str = "erased";

/// One user of the tenant, with how many live objects of each kind they own.
pub fn find_with_counts(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: UserId,
) -> Result<(UserListing, Vec<(String, i64)>), StorageError> {
    use crate::schema::resources;
    let user: UserListing = users::table
        .find((tenant_id.as_uuid(), id.as_uuid()))
        .filter(users::state.ne(ERASED))
        .select(UserListing::as_select())
        .first(conn)?;
    let counts: Vec<(String, i64)> = resources::table
        .filter(resources::tenant_id.eq(tenant_id.as_uuid()))
        .filter(resources::owner_user_id.eq(id.as_uuid()))
        .filter(resources::state.eq("active"))
        .group_by(resources::kind)
        .select((resources::kind, diesel::dsl::count_star()))
        .order(resources::kind)
        .load(conn)?;
    Ok((user, counts))
}
