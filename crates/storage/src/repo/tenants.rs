//! Tenants: the customers of Threadgate.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{TenantId, TenantPolicy};

use crate::StorageError;
use crate::schema::tenants;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub display_name: String,
    pub active: bool,
    pub upstream_profile: String,
    pub policy: TenantPolicy,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewTenant<'a> {
    pub slug: &'a str,
    pub display_name: &'a str,
    pub upstream_profile: &'a str,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
struct TenantRow {
    id: uuid::Uuid,
    slug: String,
    display_name: String,
    state: String,
    upstream_profile: String,
    admins_read_conversations: bool,
    created_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Tenant {
            id: TenantId::from_uuid(row.id),
            slug: row.slug,
            display_name: row.display_name,
            active: row.state == "active",
            upstream_profile: row.upstream_profile,
            policy: TenantPolicy {
                admins_read_conversations: row.admins_read_conversations,
            },
            created_at: row.created_at,
        }
    }
}

/// Creates a tenant. A taken slug is a [`StorageError::Conflict`].
pub fn create(conn: &mut PgConnection, new: &NewTenant<'_>) -> Result<Tenant, StorageError> {
    let row = diesel::insert_into(tenants::table)
        .values((
            tenants::id.eq(TenantId::new().as_uuid()),
            tenants::slug.eq(new.slug),
            tenants::display_name.eq(new.display_name),
            tenants::upstream_profile.eq(new.upstream_profile),
        ))
        .returning(TenantRow::as_returning())
        .get_result(conn)?;
    Ok(row.into())
}

pub fn find(conn: &mut PgConnection, id: TenantId) -> Result<Tenant, StorageError> {
    let row = tenants::table
        .find(id.as_uuid())
        .select(TenantRow::as_select())
        .first(conn)?;
    Ok(row.into())
}

pub fn find_by_slug(conn: &mut PgConnection, slug: &str) -> Result<Tenant, StorageError> {
    let row = tenants::table
        .filter(tenants::slug.eq(slug))
        .select(TenantRow::as_select())
        .first(conn)?;
    Ok(row.into())
}

pub fn list(conn: &mut PgConnection) -> Result<Vec<Tenant>, StorageError> {
    let rows = tenants::table
        .order(tenants::slug)
        .select(TenantRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Tenant::from).collect())
}
