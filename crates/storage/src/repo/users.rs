//! End-users of a tenant, created on their first authenticated request.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
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

#[derive(Queryable, Selectable)]
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
            disabled: row.state == "disabled",
            created_at: row.created_at,
        }
    }
}

/// The tenant's user with this subject, created if this is their first
/// request. Concurrent first requests of one user agree on one row.
pub fn find_or_create(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    subject: &str,
) -> Result<User, StorageError> {
    let row = diesel::insert_into(users::table)
        .values((
            users::tenant_id.eq(tenant_id.as_uuid()),
            users::id.eq(UserId::new().as_uuid()),
            users::subject.eq(subject),
            users::last_seen_at.eq(diesel::dsl::now),
        ))
        .on_conflict((users::tenant_id, users::subject))
        .do_update()
        .set(users::last_seen_at.eq(excluded(users::last_seen_at)))
        .returning(UserRow::as_returning())
        .get_result(conn)?;
    Ok(row.into())
}

pub fn set_disabled(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: UserId,
    disabled: bool,
) -> Result<(), StorageError> {
    let updated = diesel::update(users::table.find((tenant_id.as_uuid(), id.as_uuid())))
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
