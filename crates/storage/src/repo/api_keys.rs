//! Tenant API keys. Only the SHA-256 of the secret is stored; the public
//! prefix finds the row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{ApiKeyId, Role, TenantId};

use crate::StorageError;
use crate::error::parse_stored;
use crate::schema::api_keys;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub tenant_id: TenantId,
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub secret_sha256: Vec<u8>,
    pub role: Role,
    pub can_act_on_behalf: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub tenant_id: TenantId,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_sha256: &'a [u8],
    pub role: Role,
    pub can_act_on_behalf: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct Row {
    tenant_id: uuid::Uuid,
    id: uuid::Uuid,
    name: String,
    prefix: String,
    secret_sha256: Vec<u8>,
    role: String,
    can_act_on_behalf: bool,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for ApiKey {
    type Error = StorageError;

    fn try_from(row: Row) -> Result<Self, StorageError> {
        Ok(ApiKey {
            tenant_id: TenantId::from_uuid(row.tenant_id),
            id: ApiKeyId::from_uuid(row.id),
            name: row.name,
            prefix: row.prefix,
            secret_sha256: row.secret_sha256,
            role: parse_stored("api_keys.role", &row.role)?,
            can_act_on_behalf: row.can_act_on_behalf,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        })
    }
}

pub fn create(conn: &mut PgConnection, new: &NewApiKey<'_>) -> Result<ApiKey, StorageError> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::tenant_id.eq(new.tenant_id.as_uuid()),
            api_keys::id.eq(ApiKeyId::new().as_uuid()),
            api_keys::name.eq(new.name),
            api_keys::prefix.eq(new.prefix),
            api_keys::secret_sha256.eq(new.secret_sha256),
            api_keys::role.eq(new.role.as_str()),
            api_keys::can_act_on_behalf.eq(new.can_act_on_behalf),
            api_keys::expires_at.eq(new.expires_at),
        ))
        .returning(Row::as_returning())
        .get_result(conn)?
        .try_into()
}

/// The key with this prefix, usable or not (the caller checks).
pub fn find_by_prefix(conn: &mut PgConnection, prefix: &str) -> Result<ApiKey, StorageError> {
    api_keys::table
        .filter(api_keys::prefix.eq(prefix))
        .select(Row::as_select())
        .first(conn)?
        .try_into()
}

/// Records use, at most once a minute per key, so a busy backend does not
/// turn every request into a write.
pub fn touch(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: ApiKeyId,
) -> Result<(), StorageError> {
    diesel::sql_query(
        "UPDATE api_keys SET last_used_at = now() \
         WHERE tenant_id = $1 AND id = $2 \
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
    .bind::<diesel::sql_types::Uuid, _>(id.as_uuid())
    .execute(conn)?;
    Ok(())
}

/// Revokes a key of the tenant by its prefix; revoking twice is fine.
pub fn revoke(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    prefix: &str,
) -> Result<(), StorageError> {
    let updated = diesel::update(
        api_keys::table
            .filter(api_keys::tenant_id.eq(tenant_id.as_uuid()))
            .filter(api_keys::prefix.eq(prefix)),
    )
    .set(api_keys::revoked_at.eq(Some(Utc::now())))
    .execute(conn)?;
    match updated {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}

/// What a tenant admin sees of a key: never its secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKeyListing {
    pub prefix: String,
    pub name: String,
    pub role: String,
    pub can_act_on_behalf: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A page of the tenant's keys, oldest first, after the key with prefix
/// `after` (`NotFound` when that is no key of the tenant); answers whether
/// more follow.
pub fn list_for_tenant(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<ApiKeyListing>, bool), StorageError> {
    let mut query = api_keys::table
        .filter(api_keys::tenant_id.eq(tenant_id.as_uuid()))
        .into_boxed();
    if let Some(after) = after {
        let (created_at, id): (DateTime<Utc>, uuid::Uuid) = api_keys::table
            .filter(api_keys::tenant_id.eq(tenant_id.as_uuid()))
            .filter(api_keys::prefix.eq(after))
            .select((api_keys::created_at, api_keys::id))
            .first(conn)?;
        query = query.filter(
            api_keys::created_at
                .gt(created_at)
                .or(api_keys::created_at.eq(created_at).and(api_keys::id.gt(id))),
        );
    }
    let mut keys: Vec<ApiKeyListing> = query
        .order((api_keys::created_at, api_keys::id))
        .limit(limit + 1)
        .select(ApiKeyListing::as_select())
        .load(conn)?;
    let has_more = keys.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    keys.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((keys, has_more))
}

/// One key of the tenant, as an admin sees it.
pub fn find_listing(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    prefix: &str,
) -> Result<ApiKeyListing, StorageError> {
    Ok(api_keys::table
        .filter(api_keys::tenant_id.eq(tenant_id.as_uuid()))
        .filter(api_keys::prefix.eq(prefix))
        .select(ApiKeyListing::as_select())
        .first(conn)?)
}
