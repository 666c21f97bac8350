//! Tenants: the customers of Threadgate.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{LimitName, LimitSetting, PolicyLimits, TenantId, TenantPolicy};

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
    pub settings: TenantSettings,
    pub created_at: DateTime<Utc>,
}

/// The parts of a tenant's policy the authorization decision does not
/// read: what runs and responses may use, and how long state is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Days after which conversation state is deleted; `None`: kept.
    pub retention_days: Option<i32>,
    /// Tool types runs and responses may use; `None`: the built-in set.
    pub allowed_tools: Option<Vec<String>>,
    /// Models runs and responses may name; `None`: any.
    pub allowed_models: Option<Vec<String>>,
    /// Quotas and rate limits the tenant set (the rest follow the
    /// configuration).
    pub limits: PolicyLimits,
}

/// A partial update of the policy: `None` leaves a setting as it is;
/// `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct PolicyUpdate {
    pub admins_read_conversations: Option<bool>,
    pub retention_days: Option<Option<i32>>,
    pub allowed_tools: Option<Option<Vec<String>>>,
    pub allowed_models: Option<Option<Vec<String>>>,
    /// Limits to set (`Default` ones are left as they are).
    pub limits: Vec<(LimitName, LimitSetting)>,
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
    retention_days: Option<i32>,
    allowed_tools: Option<Vec<Option<String>>>,
    allowed_models: Option<Vec<Option<String>>>,
    limits: serde_json::Value,
}

/// The policy's limits as stored: a key present holds the limit (a
/// number, or null for none); a key absent follows the configuration.
fn limits_from_json(stored: &serde_json::Value) -> PolicyLimits {
    let mut limits = PolicyLimits::default();
    for name in LimitName::ALL {
        match stored.get(name.as_str()) {
            None => {}
            Some(serde_json::Value::Null) => limits.set(name, LimitSetting::Unlimited),
            Some(value) => {
                if let Some(max) = value.as_u64() {
                    limits.set(name, LimitSetting::Max(max));
                }
            }
        }
    }
    limits
}

fn limits_to_json(limits: &PolicyLimits) -> serde_json::Value {
    let mut stored = serde_json::Map::new();
    for name in LimitName::ALL {
        match limits.get(name) {
            LimitSetting::Default => {}
            LimitSetting::Unlimited => {
                stored.insert(name.as_str().to_owned(), serde_json::Value::Null);
            }
            LimitSetting::Max(max) => {
                stored.insert(name.as_str().to_owned(), max.into());
            }
        }
    }
    stored.into()
}

/// A text array as written: PostgreSQL's elements may be null, ours never are.
fn texts(array: Option<Vec<Option<String>>>) -> Option<Vec<String>> {
    array.map(|items| items.into_iter().flatten().collect())
}

fn nullable_texts(list: Option<Vec<String>>) -> Option<Vec<Option<String>>> {
    list.map(|items| items.into_iter().map(Some).collect())
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
            settings: TenantSettings {
                retention_days: row.retention_days,
                allowed_tools: texts(row.allowed_tools),
                allowed_models: texts(row.allowed_models),
                limits: limits_from_json(&row.limits),
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

/// Applies a partial update of the tenant's policy in one statement;
/// answers the tenant as it now is.
pub fn update_policy(
    conn: &mut PgConnection,
    id: TenantId,
    update: &PolicyUpdate,
) -> Result<Tenant, StorageError> {
    conn.transaction(|conn| {
        let current = find(conn, id)?;
        let mut limits = current.settings.limits;
        for (name, setting) in &update.limits {
            limits.set(*name, *setting);
        }
        let row = diesel::update(tenants::table.find(id.as_uuid()))
            .set((
                tenants::admins_read_conversations.eq(update
                    .admins_read_conversations
                    .unwrap_or(current.policy.admins_read_conversations)),
                tenants::retention_days.eq(update
                    .retention_days
                    .unwrap_or(current.settings.retention_days)),
                tenants::allowed_tools.eq(nullable_texts(
                    update
                        .allowed_tools
                        .clone()
                        .unwrap_or(current.settings.allowed_tools),
                )),
                tenants::allowed_models.eq(nullable_texts(
                    update
                        .allowed_models
                        .clone()
                        .unwrap_or(current.settings.allowed_models),
                )),
                tenants::limits.eq(limits_to_json(&limits)),
                tenants::updated_at.eq(diesel::dsl::now),
            ))
            .returning(TenantRow::as_returning())
            .get_result(conn)?;
        Ok(row.into())
    })
}

/// Suspends (`active: false`) or reactivates a tenant: a suspended
/// tenant's requests are refused once the servers read it again (within
/// their `auth.caller_cache`).
pub fn set_active(conn: &mut PgConnection, id: TenantId, active: bool) -> Result<(), StorageError> {
    let updated = diesel::update(tenants::table.find(id.as_uuid()))
        .set((
            tenants::state.eq(if active { "active" } else { "suspended" }),
            tenants::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    match updated {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}
