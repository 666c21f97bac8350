//! Token issuers a tenant trusts. A token's `iss` finds the issuer and with
//! it the tenant.

use diesel::prelude::*;
use domain::{IdentityProviderId, TenantId};

use crate::StorageError;
use crate::schema::identity_providers;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub tenant_id: TenantId,
    pub id: IdentityProviderId,
    pub issuer: String,
    pub audiences: Vec<String>,
    /// `None`: discovered through the issuer's `/.well-known/openid-configuration`.
    pub jwks_uri: Option<String>,
    pub algorithms: Vec<String>,
    pub subject_claim: String,
    /// A claim and the value that marks a tenant admin.
    pub admin_claim: Option<(String, String)>,
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub struct NewIdentityProvider<'a> {
    pub tenant_id: TenantId,
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub jwks_uri: Option<&'a str>,
    pub algorithms: &'a [String],
    pub subject_claim: &'a str,
    pub admin_claim: Option<(&'a str, &'a str)>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = identity_providers, check_for_backend(diesel::pg::Pg))]
struct Row {
    tenant_id: uuid::Uuid,
    id: uuid::Uuid,
    issuer: String,
    audiences: Vec<Option<String>>,
    jwks_uri: Option<String>,
    algorithms: Vec<Option<String>>,
    subject_claim: String,
    admin_claim: Option<String>,
    admin_claim_value: Option<String>,
    enabled: bool,
}

impl From<Row> for IdentityProvider {
    fn from(row: Row) -> Self {
        IdentityProvider {
            tenant_id: TenantId::from_uuid(row.tenant_id),
            id: IdentityProviderId::from_uuid(row.id),
            issuer: row.issuer,
            audiences: row.audiences.into_iter().flatten().collect(),
            jwks_uri: row.jwks_uri,
            algorithms: row.algorithms.into_iter().flatten().collect(),
            subject_claim: row.subject_claim,
            admin_claim: row.admin_claim.zip(row.admin_claim_value),
            enabled: row.enabled,
        }
    }
}

/// Registers an issuer. An issuer URL already registered (by any tenant) is a
/// [`StorageError::Conflict`].
pub fn add(
    conn: &mut PgConnection,
    new: &NewIdentityProvider<'_>,
) -> Result<IdentityProvider, StorageError> {
    let row = diesel::insert_into(identity_providers::table)
        .values((
            identity_providers::tenant_id.eq(new.tenant_id.as_uuid()),
            identity_providers::id.eq(IdentityProviderId::new().as_uuid()),
            identity_providers::issuer.eq(new.issuer),
            identity_providers::audiences.eq(new.audiences),
            identity_providers::jwks_uri.eq(new.jwks_uri),
            identity_providers::algorithms.eq(new.algorithms),
            identity_providers::subject_claim.eq(new.subject_claim),
            identity_providers::admin_claim.eq(new.admin_claim.map(|(claim, _)| claim)),
            identity_providers::admin_claim_value.eq(new.admin_claim.map(|(_, value)| value)),
        ))
        .returning(Row::as_returning())
        .get_result(conn)?;
    Ok(row.into())
}

/// The enabled issuer with this exact `iss`.
pub fn find_by_issuer(
    conn: &mut PgConnection,
    issuer: &str,
) -> Result<IdentityProvider, StorageError> {
    let row = identity_providers::table
        .filter(identity_providers::issuer.eq(issuer))
        .filter(identity_providers::enabled.eq(true))
        .select(Row::as_select())
        .first(conn)?;
    Ok(row.into())
}

/// Whether the tenant still has this issuer, enabled: a token verified
/// earlier is accepted only while it does.
pub fn is_enabled(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: IdentityProviderId,
) -> Result<bool, StorageError> {
    let enabled = identity_providers::table
        .find((tenant_id.as_uuid(), id.as_uuid()))
        .filter(identity_providers::enabled.eq(true))
        .select(identity_providers::id)
        .first::<uuid::Uuid>(conn)
        .optional()?;
    Ok(enabled.is_some())
}

pub fn list_for_tenant(
    conn: &mut PgConnection,
    tenant_id: TenantId,
) -> Result<Vec<IdentityProvider>, StorageError> {
    let rows = identity_providers::table
        .filter(identity_providers::tenant_id.eq(tenant_id.as_uuid()))
        .order(identity_providers::issuer)
        .select(Row::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(IdentityProvider::from).collect())
}

/// Removes one of the tenant's issuers: its tokens find no tenant from
/// their next request. [`StorageError::NotFound`] when the tenant has none
/// with this id.
pub fn remove(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    id: IdentityProviderId,
) -> Result<(), StorageError> {
    let removed =
        diesel::delete(identity_providers::table.find((tenant_id.as_uuid(), id.as_uuid())))
            .execute(conn)?;
    match removed {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}
