//! `Idempotency-Key` claims: the first request with a key runs, a retry of
//! the same request gets the stored answer, and a claim whose holder ended
//! without a known outcome, or crashed, is taken over by the next retry,
//! which first resolves what that holder did (its request id is kept).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use domain::TenantId;

use crate::StorageError;
use crate::schema::idempotency_keys;

/// Which request holds a key: the caller, the key, and what was asked.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    pub tenant_id: TenantId,
    /// The user, or the API key when a backend acts as itself.
    pub principal_id: uuid::Uuid,
    pub key: String,
    /// SHA-256 of the method, path and body.
    pub request_sha256: [u8; 32],
    /// The id of this attempt (also on the rows it reserves).
    pub request_id: String,
}

/// A completed request's answer, kept to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request holds the key and runs.
    Acquired,
    /// Another request with the key is still running.
    InProgress,
    /// This request holds the key now, but an earlier attempt ended without
    /// a known outcome or crashed: what it did must be resolved first.
    TakenOver {
        /// The earlier attempt's request id, when it was recorded.
        holder_request_id: Option<String>,
    },
    /// The key was used with another request.
    Mismatch,
    /// The request already ran; here is its answer.
    Completed(StoredResponse),
}

/// How long a claim lasts: `lock_for` while its request runs, `keep_for`
/// before the key may be used for something else.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub lock_for: Duration,
    pub keep_for: Duration,
}

#[derive(Queryable)]
struct Existing {
    request_sha256: Vec<u8>,
    state: String,
    response_status: Option<i16>,
    response_body: Option<Vec<u8>>,
    locked_until: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    holder_request_id: Option<String>,
}

type RowOf<'a> = diesel::dsl::Find<idempotency_keys::table, (uuid::Uuid, uuid::Uuid, &'a str)>;

/// The row of `request`'s key.
fn row_of(request: &KeyedRequest) -> RowOf<'_> {
    idempotency_keys::table.find((
        request.tenant_id.as_uuid(),
        request.principal_id,
        request.key.as_str(),
    ))
}

/// Claims `request`'s key, in one transaction so two replicas racing for the
/// same key see each other. A key released between this request's insert
/// and its read (by a holder that just failed) is claimed again.
pub fn claim(
    conn: &mut PgConnection,
    request: &KeyedRequest,
    lifetimes: Lifetimes,
) -> Result<Claim, StorageError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match claim_once(conn, request, lifetimes) {
            Err(StorageError::NotFound) if attempts < 3 => continue,
            other => return other,
        }
    }
}

fn claim_once(
    conn: &mut PgConnection,
    request: &KeyedRequest,
    lifetimes: Lifetimes,
) -> Result<Claim, StorageError> {
    conn.transaction(|conn| {
        let now = Utc::now();
        let this_key = row_of(request);
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::tenant_id.eq(request.tenant_id.as_uuid()),
                idempotency_keys::principal_id.eq(request.principal_id),
                idempotency_keys::key.eq(&request.key),
                idempotency_keys::request_sha256.eq(&request.request_sha256[..]),
                idempotency_keys::locked_until.eq(now + lifetimes.lock_for),
                idempotency_keys::expires_at.eq(now + lifetimes.keep_for),
                idempotency_keys::holder_request_id.eq(&request.request_id),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 1 {
            return Ok(Claim::Acquired);
        }
        let existing: Existing = this_key
            .select((
                idempotency_keys::request_sha256,
                idempotency_keys::state,
                idempotency_keys::response_status,
                idempotency_keys::response_body,
                idempotency_keys::locked_until,
                idempotency_keys::expires_at,
                idempotency_keys::holder_request_id,
            ))
            .for_update()
            .first(conn)?;
        if existing.expires_at <= now {
            // An expired key starts over, for whatever request now uses it.
            diesel::update(this_key)
                .set((
                    idempotency_keys::request_sha256.eq(&request.request_sha256[..]),
                    idempotency_keys::state.eq("in_progress"),
                    idempotency_keys::response_status.eq(None::<i16>),
                    idempotency_keys::response_body.eq(None::<Vec<u8>>),
                    idempotency_keys::created_at.eq(now),
                    idempotency_keys::locked_until.eq(now + lifetimes.lock_for),
                    idempotency_keys::expires_at.eq(now + lifetimes.keep_for),
                    idempotency_keys::holder_request_id.eq(&request.request_id),
                ))
                .execute(conn)?;
            return Ok(Claim::Acquired);
        }
        if existing.request_sha256 != request.request_sha256 {
            return Ok(Claim::Mismatch);
        }
        if existing.state == "completed" {
            return Ok(Claim::Completed(StoredResponse {
                status: existing
                    .response_status
                    .and_then(|status| u16::try_from(status).ok())
                    .unwrap_or(200),
                body: existing.response_body.unwrap_or_default(),
            }));
        }
        if existing.state == "in_progress" && existing.locked_until > now {
            return Ok(Claim::InProgress);
        }
        // The holder ended without a known outcome, or crashed: this retry
        // takes over, and resolves what the holder did before anything else.
        // The key stays bound to that holder until the retry runs itself
        // ([`hold`]): a retry that dies while resolving leaves the next one
        // the same attempt to resolve.
        diesel::update(this_key)
            .set((
                idempotency_keys::state.eq("in_progress"),
                idempotency_keys::locked_until.eq(now + lifetimes.lock_for),
            ))
            .execute(conn)?;
        Ok(Claim::TakenOver {
            holder_request_id: existing.holder_request_id,
        })
    })
}

/// Stores the answer for the attempt `holder` the key is bound to (a
/// retry answering what the attempt it took over made passes that
/// attempt). Nothing is stored if the key has moved on to another attempt.
pub fn complete(
    conn: &mut PgConnection,
    request: &KeyedRequest,
    holder: &str,
    response: &StoredResponse,
) -> Result<(), StorageError> {
    diesel::update(row_of(request))
        .filter(idempotency_keys::request_sha256.eq(&request.request_sha256[..]))
        .filter(idempotency_keys::holder_request_id.eq(holder))
        .set((
            idempotency_keys::state.eq("completed"),
            idempotency_keys::response_status.eq(i16::try_from(response.status).unwrap_or(500)),
            idempotency_keys::response_body.eq(&response.body),
        ))
        .execute(conn)?;
    Ok(())
}

/// A retry that took the key over from the attempt `previous` found that
/// it made nothing, and runs itself: the key is bound to the retry from
/// now on. `false` when another retry moved the key on meanwhile.
pub fn hold(
    conn: &mut PgConnection,
    request: &KeyedRequest,
    previous: Option<&str>,
) -> Result<bool, StorageError> {
    let key = row_of(request)
        .filter(idempotency_keys::request_sha256.eq(&request.request_sha256[..]))
        .filter(idempotency_keys::state.eq("in_progress"));
    let updated = match previous {
        Some(previous) => {
            diesel::update(key.filter(idempotency_keys::holder_request_id.eq(previous)))
                .set(idempotency_keys::holder_request_id.eq(&request.request_id))
                .execute(conn)?
        }
        None => diesel::update(key.filter(idempotency_keys::holder_request_id.is_null()))
            .set(idempotency_keys::holder_request_id.eq(&request.request_id))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

/// The holding attempt is still running: its claim is extended by
/// `lock_for` from now. A holder that stops renewing (its process died)
/// loses the claim within `lock_for`.
pub fn renew(
    conn: &mut PgConnection,
    request: &KeyedRequest,
    holder: &str,
    lock_for: Duration,
) -> Result<(), StorageError> {
    diesel::update(row_of(request))
        .filter(idempotency_keys::state.eq("in_progress"))
        .filter(idempotency_keys::holder_request_id.eq(holder))
        .set(idempotency_keys::locked_until.eq(Utc::now() + lock_for))
        .execute(conn)?;
    Ok(())
}

/// An attempt ended, but whether it created something is not known (the
/// `holder` attempt reserved a row that is still `pending`): the key stays
/// bound to that attempt, and the next retry takes it over at once to
/// resolve it.
pub fn mark_unknown(
    conn: &mut PgConnection,
    request: &KeyedRequest,
    holder: &str,
) -> Result<(), StorageError> {
    diesel::update(row_of(request))
        .filter(idempotency_keys::request_sha256.eq(&request.request_sha256[..]))
        .filter(idempotency_keys::state.eq("in_progress"))
        .filter(idempotency_keys::holder_request_id.eq(holder))
        .set((
            idempotency_keys::state.eq("unknown"),
            idempotency_keys::locked_until.eq(Utc::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives the key up, so a retry runs the request again: for answers not
/// worth keeping (failures, streams).
pub fn release(conn: &mut PgConnection, request: &KeyedRequest) -> Result<(), StorageError> {
    diesel::delete(row_of(request))
        .filter(idempotency_keys::request_sha256.eq(&request.request_sha256[..]))
        .filter(idempotency_keys::state.eq("in_progress"))
        .filter(idempotency_keys::holder_request_id.eq(&request.request_id))
        .execute(conn)?;
    Ok(())
}

/// Deletes expired keys of every tenant; returns how many.
pub fn purge_expired(conn: &mut PgConnection) -> Result<usize, StorageError> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(Utc::now())))
            .execute(conn)?,
    )
}
