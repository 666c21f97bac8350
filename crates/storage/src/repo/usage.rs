//! Token usage the upstream reports for runs and responses, one row per
//! run: noted when it starts (who started it), settled when it finishes.

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

/// Notes that `usage.user_id` started a run (or response) that has not
/// finished: its usage will be charged to them, whoever's request sees it
/// finish. Noting it again, or after it finished, changes nothing.
pub fn start(conn: &mut PgConnection, usage: &NewUsage<'_>) -> Result<(), StorageError> {
    diesel::insert_into(usage_records::table)
        .values((
            usage_records::tenant_id.eq(usage.tenant_id.as_uuid()),
            usage_records::id.eq(uuid::Uuid::now_v7()),
            usage_records::user_id.eq(usage.user_id.map(|u| u.as_uuid())),
            usage_records::resource_id.eq(usage.resource_id.map(|r| r.as_uuid())),
            usage_records::upstream_ref.eq(usage.upstream_ref),
            usage_records::upstream_profile.eq(usage.upstream_profile),
            usage_records::model.eq(usage.model),
            usage_records::finished.eq(false),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// Records a finished run's usage, once: charged to whoever started it
/// when [`start`] noted them, else to `usage.user_id`; added to the day's
/// totals in the same transaction. Answers whether this call recorded it
/// (recording the same run again changes nothing).
pub fn record(conn: &mut PgConnection, usage: &NewUsage<'_>) -> Result<bool, StorageError> {
    use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
    #[derive(QueryableByName)]
    struct Charged {
        #[diesel(sql_type = Nullable<SqlUuid>)]
        user_id: Option<uuid::Uuid>,
    }
    conn.transaction(|conn| {
        let charged: Option<Charged> = diesel::sql_query(
            "INSERT INTO usage_records (tenant_id, id, user_id, resource_id, upstream_ref,                upstream_profile, model, prompt_tokens, completion_tokens, total_tokens, finished)              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true)              ON CONFLICT (tenant_id, upstream_profile, upstream_ref) DO UPDATE                SET model = excluded.model, prompt_tokens = excluded.prompt_tokens,                    completion_tokens = excluded.completion_tokens,                    total_tokens = excluded.total_tokens, finished = true, recorded_at = now()                WHERE NOT usage_records.finished              RETURNING user_id",
        )
        .bind::<SqlUuid, _>(usage.tenant_id.as_uuid())
        .bind::<SqlUuid, _>(uuid::Uuid::now_v7())
        .bind::<Nullable<SqlUuid>, _>(usage.user_id.map(|u| u.as_uuid()))
        .bind::<Nullable<SqlUuid>, _>(usage.resource_id.map(|r| r.as_uuid()))
        .bind::<Text, _>(usage.upstream_ref)
        .bind::<Text, _>(usage.upstream_profile)
        .bind::<Nullable<Text>, _>(usage.model)
        .bind::<BigInt, _>(usage.prompt_tokens)
        .bind::<BigInt, _>(usage.completion_tokens)
        .bind::<BigInt, _>(usage.total_tokens)
        .get_result(conn)
        .optional()?;
        let Some(charged) = charged else {
            return Ok(false);
        };
        if usage.total_tokens > 0 {
            let user = charged.user_id.map(UserId::from_uuid);
            add_to_day(conn, usage.tenant_id, user, usage.total_tokens)?;
        }
        Ok(true)
    })
}

/// A run noted as started ([`start`]) whose end no request has seen.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct UnsettledRun {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub tenant_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub run_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub upstream_profile: String,
    /// The thread's upstream id, while its row is active.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub thread_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub thread_owner: Option<uuid::Uuid>,
}

/// Runs started before `cutoff` and not settled yet, oldest first, with
/// their thread; at most `limit`.
pub fn unsettled(
    conn: &mut PgConnection,
    cutoff: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> Result<Vec<UnsettledRun>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT u.tenant_id, u.upstream_ref AS run_id, u.upstream_profile, \
                r.upstream_id AS thread_id, r.owner_user_id AS thread_owner \
         FROM usage_records u \
         LEFT JOIN resources r ON r.tenant_id = u.tenant_id AND r.id = u.resource_id \
                               AND r.state = 'active' \
         WHERE NOT u.finished AND u.recorded_at < $1 \
         ORDER BY u.recorded_at LIMIT $2",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)?)
}

/// Settles a run whose end can no longer be read (its thread or the run is
/// gone) with no tokens, so no pass asks again.
pub fn abandon(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    upstream_profile: &str,
    run_id: &str,
) -> Result<(), StorageError> {
    diesel::update(usage_records::table)
        .filter(usage_records::tenant_id.eq(tenant_id.as_uuid()))
        .filter(usage_records::upstream_profile.eq(upstream_profile))
        .filter(usage_records::upstream_ref.eq(run_id))
        .filter(usage_records::finished.eq(false))
        .set(usage_records::finished.eq(true))
        .execute(conn)?;
    Ok(())
}

/// The tenant's total in `usage_daily`: the nil user.
const TENANT_TOTAL: uuid::Uuid = uuid::Uuid::nil();

/// Adds tokens to today's (UTC) totals of the tenant and of the user.
fn add_to_day(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user_id: Option<UserId>,
    tokens: i64,
) -> Result<(), StorageError> {
    let mut holders = vec![TENANT_TOTAL];
    holders.extend(user_id.map(|user| user.as_uuid()));
    diesel::sql_query(
        "INSERT INTO usage_daily (tenant_id, user_id, day, tokens) \
         SELECT $1, holder, (now() AT TIME ZONE 'UTC')::date, $3 FROM unnest($2::uuid[]) AS holder \
         ON CONFLICT (tenant_id, day, user_id) DO UPDATE SET tokens = usage_daily.tokens + excluded.tokens",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(holders)
    .bind::<diesel::sql_types::BigInt, _>(tokens)
    .execute(conn)?;
    Ok(())
}

/// Tokens spent today (UTC) by the tenant, and by the user if one is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpentToday {
    pub tenant: i64,
    pub user: i64,
}

/// Today's (UTC) totals of the tenant and of the user: one indexed read of
/// at most two rows.
pub fn spent_today(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    user_id: Option<UserId>,
) -> Result<SpentToday, StorageError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        user_id: uuid::Uuid,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        tokens: i64,
    }
    let mut holders = vec![TENANT_TOTAL];
    holders.extend(user_id.map(|user| user.as_uuid()));
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT user_id, tokens FROM usage_daily \
         WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date AND user_id = ANY($2)",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(holders)
    .load(conn)?;
    let mut spent = SpentToday::default();
    for row in rows {
        if row.user_id == TENANT_TOTAL {
            spent.tenant = row.tokens;
        } else {
            spent.user = row.tokens;
        }
    }
    Ok(spent)
}

/// Total tokens a tenant used, for tests and reports.
pub fn total_for_tenant(conn: &mut PgConnection, tenant_id: TenantId) -> Result<i64, StorageError> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let total: Total = diesel::sql_query(
        "SELECT coalesce(sum(total_tokens), 0)::bigint AS total FROM usage_records WHERE tenant_id = $1 AND finished",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id.as_uuid())
    .get_result(conn)?;
    Ok(total.total)
}

/// One bucket of a tenant's usage: a user (`None`: the tenant's own
/// backends), a UTC day, a model.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct UsageBucket {
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub day: chrono::NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub user_id: Option<uuid::Uuid>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub model: String,
    /// Runs and responses that consumed tokens.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub requests: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub input_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub output_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total_tokens: i64,
}

/// Which usage to sum.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub since: chrono::DateTime<chrono::Utc>,
    pub until: chrono::DateTime<chrono::Utc>,
    pub user_id: Option<UserId>,
    /// The bucket the page starts after: (day, user id or "", model).
    pub after: Option<(chrono::NaiveDate, String, String)>,
    pub limit: i64,
}

/// A page of a tenant's usage by UTC day, user and model, in that order;
/// answers whether more follow.
pub fn by_day(
    conn: &mut PgConnection,
    tenant_id: TenantId,
    query: &UsageQuery,
) -> Result<(Vec<UsageBucket>, bool), StorageError> {
    use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    let (after_day, after_user, after_model) = match &query.after {
        Some((day, user, model)) => (Some(*day), user.clone(), model.clone()),
        None => (None, String::new(), String::new()),
    };
    let mut buckets: Vec<UsageBucket> = diesel::sql_query(
        "SELECT day, user_id, model, requests, input_tokens, output_tokens, total_tokens FROM ( \
           SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, user_id, \
                  coalesce(model, '') AS model, count(*)::bigint AS requests, \
                  sum(prompt_tokens)::bigint AS input_tokens, \
                  sum(completion_tokens)::bigint AS output_tokens, \
                  sum(total_tokens)::bigint AS total_tokens \
           FROM usage_records \
           WHERE tenant_id = $1 AND finished AND recorded_at >= $2 AND recorded_at < $3 \
             AND ($4::uuid IS NULL OR user_id = $4) \
           GROUP BY 1, 2, 3) AS buckets \
         WHERE $5::date IS NULL \
            OR (day, coalesce(user_id::text, ''), model) > ($5, $6, $7) \
         ORDER BY day, coalesce(user_id::text, ''), model \
         LIMIT $8",
    )
    .bind::<SqlUuid, _>(tenant_id.as_uuid())
    .bind::<Timestamptz, _>(query.since)
    .bind::<Timestamptz, _>(query.until)
    .bind::<Nullable<SqlUuid>, _>(query.user_id.map(|user| user.as_uuid()))
    .bind::<Nullable<Date>, _>(after_day)
    .bind::<Text, _>(after_user)
    .bind::<Text, _>(after_model)
    .bind::<BigInt, _>(query.limit + 1)
    .load(conn)?;
    let has_more = buckets.len() > usize::try_from(query.limit).unwrap_or(usize::MAX);
    buckets.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
    Ok((buckets, has_more))
}
