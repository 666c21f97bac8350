//! Token usage the upstream reports for runs, one row per run.

use diesel::prelude::*;
use domain::{ResourceId, TenantId, UserId};

use crate::StorageError;
use crate::schema::usage_records;

#[derive(Debug, Clone)]
pub struct NewUsage<'a> {
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    /// The thread the run belongs to.
    pub resource_id: Option<ResourceId>,
    /// The upstream run.
    pub upstream_ref: &'a str,
    pub upstream_profile: &'a str,
    pub model: Option<&'a str>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// Records a run's usage; recording the same run again changes nothing.
pub fn record(conn: &mut PgConnection, usage: &NewUsage<'_>) -> Result<bool, StorageError> {
    let inserted = diesel::insert_into(usage_records::table)
        .values((
            usage_records::tenant_id.eq(usage.tenant_id.as_uuid()),
            usage_records::id.eq(uuid::Uuid::now_v7()),
            usage_records::user_id.eq(usage.user_id.map(|u| u.as_uuid())),
            usage_records::resource_id.eq(usage.resource_id.map(|r| r.as_uuid())),
            usage_records::upstream_ref.eq(usage.upstream_ref),
            usage_records::upstream_profile.eq(usage.upstream_profile),
            usage_records::model.eq(usage.model),
            usage_records::prompt_tokens.eq(usage.prompt_tokens),
            usage_records::completion_tokens.eq(usage.completion_tokens),
            usage_records::total_tokens.eq(usage.total_tokens),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}

/// Total tokens a tenant used, for tests and reports.
pub fn total_for_tenant(conn: &mut PgConnection, tenant_id: TenantId) -> Result<i64, StorageError> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let total: Total = diesel::sql_query(
        "SELECT coalesce(sum(total_tokens), 0)::bigint AS total FROM usage_records WHERE tenant_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
    .get_result(conn)?;
    Ok(total.total)
}
