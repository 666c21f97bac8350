//! `Idempotency-Key` on JSON `POST`s under `/v1`: a client that retries a
//! create after a timeout gets the first attempt's answer instead of a second
//! thread, message or run.
//!
//! The key belongs to the caller (tenant and user, or API key), so one caller
//! cannot replay another's answer. A key used again with another method, path
//! or body is refused; while the first request runs, a retry gets 409. Only
//! successful JSON answers are kept (for a day); failures that made nothing,
//! and streams, release the key so that a retry runs again.
//!
//! A key is bound to the attempt holding it. When that attempt ends without
//! a known outcome (a row it reserved is still `pending`: the upstream may
//! have made the object), or its process dies, the key is not released: the
//! next retry takes it over and first resolves what the attempt did
//! ([`gateway::resolve`]), answering the object it made, running again if it
//! made nothing, or, for a thread (which the upstream cannot list), answering
//! 409 until the reconciler settles it.
//!
//! Multipart uploads are never buffered to be hashed: their handler claims
//! the key once it has read the purpose and the file's name
//! ([`claim_upload`]), which is what identifies an upload's request, and
//! the file's bytes stream on as before.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use storage::repo::audit::Outcome;
use storage::repo::idempotency::{self, Claim, KeyedRequest, Lifetimes, StoredResponse};

use crate::auth::Caller;
use crate::gateway::{self, resolve::Resolution};
use crate::request_id::RequestId;
use crate::{ApiError, AppState, RequestLimits};

const KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer replayed from an earlier request with the same key.
const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

const LIFETIMES: Lifetimes = Lifetimes {
    // The holder renews its claim every RENEW_EVERY while it runs, so a
    // holder whose process died loses it within this; its retry then
    // resolves what it did instead of waiting.
    lock_for: chrono::Duration::seconds(5),
    keep_for: chrono::Duration::hours(24),
};
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn replay_or_record(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let applies = request.method() == Method::POST
        && crate::azure::below_surface(crate::azure::routed_path(request.request())).is_some()
        && request.headers().contains_key(KEY_HEADER)
        && !request.content_type().starts_with("multipart/");
    if !applies {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let (keyed, caller) = match keyed_request(&mut request).await {
        Ok(keyed) => keyed,
        Err(error) => return Ok(request.error_response(error)),
    };
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(
            request.error_response(ApiError::internal(std::io::Error::other(
                "no application state",
            ))),
        );
    };

    let claiming = keyed.clone();
    let claim = state
        .database
        .run("idempotency.claim", move |conn| {
            idempotency::claim(conn, &claiming, LIFETIMES)
        })
        .await;
    audit_unless_run(&state, &caller, &request, &keyed, &claim);
    match claim {
        Err(error) => Ok(request.error_response(ApiError::from(error))),
        Ok(Claim::InProgress) => Ok(request.error_response(ApiError::Conflict {
            message: "A request with this Idempotency-Key is still in progress; retry later."
                .to_owned(),
        })),
        Ok(Claim::Mismatch) => Ok(request.error_response(ApiError::bad_request(
            "This Idempotency-Key was used with another request; keys can only be reused with \
             the same method, path and body.",
            None,
        ))),
        Ok(Claim::Completed(stored)) => {
            let response =
                HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
                    .content_type(header::ContentType::json())
                    .insert_header((REPLAYED_HEADER, HeaderValue::from_static("true")))
                    .body(stored.body);
            Ok(request.into_response(response))
        }
        Ok(Claim::Acquired) => run(&state, keyed, next, request).await,
        Ok(Claim::TakenOver { holder_request_id }) => {
            let this_attempt = keyed.request_id.clone();
            let resolution = match &holder_request_id {
                Some(holder) => {
                    renewed(
                        &state,
                        &keyed,
                        holder,
                        gateway::resolve::earlier_attempt(
                            &state,
                            &caller,
                            holder,
                            &this_attempt,
                            crate::azure::routed_path(request.request()),
                        ),
                    )
                    .await
                }
                None => Ok(Resolution::Nothing),
            };
            audit_resolution(&state, &caller, &request, &keyed, &resolution);
            let holder = holder_request_id.clone().unwrap_or_default();
            match resolution {
                Ok(Resolution::Nothing) => {
                    if !hold(&state, &keyed, holder_request_id.as_deref()).await? {
                        return Ok(request.error_response(moved_on()));
                    }
                    run(&state, keyed, next, request).await
                }
                Ok(Resolution::Created(object)) => {
                    let response = HttpResponse::Ok()
                        .insert_header((REPLAYED_HEADER, HeaderValue::from_static("true")))
                        .json(object);
                    let response = request.into_response(response);
                    // The answer is the attempt's it took over.
                    settle(&state, keyed, holder, response).await
                }
                Ok(Resolution::Unknowable) => {
                    // Still bound to the attempt that may have made it.
                    mark_unknown(&state, keyed, holder).await;
                    Ok(request.error_response(ApiError::Conflict {
                        message: "The first request with this Idempotency-Key ended without a \
                                  known outcome, and whether it created the object cannot be \
                                  known yet; retry later."
                            .to_owned(),
                    }))
                }
                Err(error) => {
                    mark_unknown(&state, keyed, holder).await;
                    Ok(request.error_response(error))
                }
            }
        }
    }
}

/// Another retry took the key over first.
pub(crate) fn moved_on() -> ApiError {
    ApiError::Conflict {
        message: "Another request with this Idempotency-Key is handling it; retry later."
            .to_owned(),
    }
}

/// Runs the request holding the key, then keeps its answer, keeps the key
/// bound to it (outcome unknown), or releases it.
async fn run(
    state: &AppState,
    keyed: KeyedRequest,
    next: Next<impl MessageBody + 'static>,
    request: ServiceRequest,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let this_attempt = keyed.request_id.clone();
    let outcome = renewed(state, &keyed, &this_attempt, next.call(request)).await;
    match outcome {
        Ok(response) => settle(state, keyed, this_attempt, response).await,
        Err(error) => {
            release_or_keep(state, keyed).await;
            Err(error)
        }
    }
}

/// Does `work` while keeping the claim of the attempt `holder` alive.
pub(crate) async fn renewed<T>(
    state: &AppState,
    keyed: &KeyedRequest,
    holder: &str,
    work: impl Future<Output = T>,
) -> T {
    tokio::select! {
        outcome = work => outcome,
        never = renew_while_running(state, keyed.clone(), holder.to_owned()) => match never {},
    }
}

/// Keeps the claim of the attempt `holder` alive; never returns (it is
/// dropped when the work it accompanies ends).
async fn renew_while_running(
    state: &AppState,
    keyed: KeyedRequest,
    holder: String,
) -> std::convert::Infallible {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let (renewing, holding) = (keyed.clone(), holder.clone());
        let renewed = state
            .database
            .run("idempotency.renew", move |conn| {
                idempotency::renew(conn, &renewing, &holding, LIFETIMES.lock_for)
            })
            .await;
        if let Err(error) = renewed {
            tracing::warn!(%error, "could not renew an idempotency claim");
        }
    }
}

/// A retry that resolved an earlier attempt is a decision of its own.
fn audit_resolution(
    state: &AppState,
    caller: &Caller,
    request: &ServiceRequest,
    keyed: &KeyedRequest,
    resolution: &Result<Resolution, ApiError>,
) {
    let (outcome, found) = match resolution {
        Ok(Resolution::Created(_)) => (Outcome::Allow, "created"),
        Ok(Resolution::Nothing) => (Outcome::Allow, "nothing"),
        Ok(Resolution::Unknowable) => (Outcome::Deny, "unknowable"),
        Err(_) => (Outcome::Error, "failed"),
    };
    let request_id = RequestId::of(request.request());
    let mut event = crate::audit::event(caller, &request_id.0, "resolve", outcome);
    event.details = serde_json::json!({
        "path": request.path(),
        "idempotency_key": keyed.key,
        "earlier_attempt": found,
    });
    state.audit.record(event);
}

/// Replays and refusals are decisions of their own; a request that runs is
/// audited by its handler.
fn audit_unless_run(
    state: &AppState,
    caller: &Caller,
    request: &ServiceRequest,
    keyed: &KeyedRequest,
    claim: &Result<Claim, storage::StorageError>,
) {
    let (outcome, reason) = match claim {
        Ok(Claim::Completed(_)) => (Outcome::Allow, None),
        Ok(Claim::Mismatch) => (Outcome::Deny, Some("idempotency_key_reused")),
        Ok(Claim::InProgress) => (Outcome::Deny, Some("idempotency_key_in_progress")),
        Ok(Claim::Acquired | Claim::TakenOver { .. }) | Err(_) => return,
    };
    let request_id = RequestId::of(request.request());
    let mut event = crate::audit::event(caller, &request_id.0, "replay", outcome);
    event.reason = reason.map(str::to_owned);
    event.details = serde_json::json!({"path": request.path(), "idempotency_key": keyed.key});
    state.audit.record(event);
}

/// Keeps a successful JSON answer for replay (as the answer of the attempt
/// `holder` the key is bound to), or releases the key.
async fn settle(
    state: &AppState,
    keyed: KeyedRequest,
    holder: String,
    response: ServiceResponse<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let keep = response.status().is_success() && is_json(response.headers());
    if !keep {
        // Streams are never buffered: they pass through, and the key is let
        // go; so is a failure's, unless what it did is unknown.
        if response.status().is_success() {
            release(state, keyed).await;
        } else if response.status() == StatusCode::GATEWAY_TIMEOUT {
            // The upstream may have done it: keep the key for the retry to
            // resolve (messages and runs have no row to tell).
            mark_unknown(state, keyed, holder).await;
        } else {
            release_or_keep(state, keyed).await;
        }
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let body = actix_web::body::to_bytes(body)
        .await
        .map_err(|error| ApiError::internal(std::io::Error::other(error.into().to_string())))?;
    let stored = StoredResponse {
        status: head.status().as_u16(),
        body: body.to_vec(),
    };
    let completed = state
        .database
        .run("idempotency.complete", move |conn| {
            idempotency::complete(conn, &keyed, &holder, &stored)
        })
        .await;
    if let Err(error) = completed {
        // The work is done and its answer is good; a retry will find the
        // claim lapsed and run again, as it would have without a key.
        tracing::warn!(%error, "could not store an idempotent answer");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(body).map_into_boxed_body(),
    ))
}

/// After a failure: when the attempt left a row `pending` (the upstream may
/// have made its object), the key stays bound to it for the retry to
/// resolve; otherwise it is let go so that a retry runs again.
async fn release_or_keep(state: &AppState, keyed: KeyedRequest) {
    let (tenant_id, attempt) = (keyed.tenant_id, keyed.request_id.clone());
    let unsettled = state
        .database
        .run("idempotency.reserved", move |conn| {
            storage::repo::resources::reserved_by_request(conn, tenant_id, &attempt)
        })
        .await
        .map(|rows| {
            rows.iter()
                .any(|row| row.facts.state == domain::LifecycleState::Pending)
        });
    match unsettled {
        Ok(false) => release(state, keyed).await,
        // Pending, or not known: keep the key bound to the attempt.
        Ok(true) | Err(_) => {
            let holder = keyed.request_id.clone();
            mark_unknown(state, keyed, holder).await;
        }
    }
}

async fn mark_unknown(state: &AppState, keyed: KeyedRequest, holder: String) {
    let marked = state
        .database
        .run("idempotency.unknown", move |conn| {
            idempotency::mark_unknown(conn, &keyed, &holder)
        })
        .await;
    if let Err(error) = marked {
        tracing::warn!(%error, "could not mark an idempotency key's outcome unknown; it lapses on its own");
    }
}

/// Lets the key go so that a retry runs again.
async fn release(state: &AppState, keyed: KeyedRequest) {
    let released = state
        .database
        .run("idempotency.release", move |conn| {
            idempotency::release(conn, &keyed)
        })
        .await;
    if let Err(error) = released {
        tracing::warn!(%error, "could not release an idempotency key; it lapses on its own");
    }
}

/// Who holds the key and what they asked: authenticates the caller (the
/// handler reuses it) and reads the body to hash it, putting it back after.
async fn keyed_request(request: &mut ServiceRequest) -> Result<(KeyedRequest, Caller), ApiError> {
    let key = key_of(request.headers())?.ok_or_else(malformed_key)?;
    let caller = {
        let (http_request, payload) = request.parts_mut();
        Caller::from_request(http_request, payload).await?
    };
    let principal_id = principal_of(&caller)?;
    let limit = request
        .app_data::<web::Data<RequestLimits>>()
        .map_or(1024 * 1024, |limits| limits.max_json_body_bytes);
    let body = read_body(request, limit).await?;

    let mut hasher = Sha256::new();
    hasher.update(request.method().as_str());
    hasher.update([0]);
    // The path as routed: two spellings of one path are one request.
    hasher.update(crate::azure::routed_path(request.request()));
    if !request.query_string().is_empty() {
        hasher.update("?");
        hasher.update(request.query_string());
    }
    hasher.update([0]);
    hasher.update(&body);
    request.set_payload(actix_web::dev::Payload::from(body));
    let keyed = KeyedRequest {
        tenant_id: caller.tenant.id,
        principal_id,
        key,
        request_sha256: hasher.finalize().into(),
        request_id: RequestId::of(request.request()).0,
    };
    Ok((keyed, caller))
}

/// The request's `Idempotency-Key`, if it sent one.
fn key_of(headers: &header::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(KEY_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.len() <= 255)
        .map(|key| Some(key.to_owned()))
        .ok_or_else(malformed_key)
}

fn malformed_key() -> ApiError {
    ApiError::bad_request(
        "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
        None,
    )
}

/// Whose keys these are: the user, or the API key acting as itself.
fn principal_of(caller: &Caller) -> Result<uuid::Uuid, ApiError> {
    match (caller.user(), caller.principal.authentication.api_key_id()) {
        (Some(user), _) => Ok(user.as_uuid()),
        (None, Some(api_key)) => Ok(api_key.as_uuid()),
        (None, None) => Err(ApiError::Forbidden {
            message: "This credential cannot use idempotency keys.".to_owned(),
        }),
    }
}

async fn read_body(request: &mut ServiceRequest, limit: usize) -> Result<Bytes, ApiError> {
    let mut payload = request.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| ApiError::bad_request(error.to_string(), None))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge {
                message: format!("The request body is larger than {limit} bytes."),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn is_json(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// What a keyed upload may do, once its purpose and file name are known.
#[derive(Debug)]
pub(crate) enum UploadClaim {
    /// It runs; its outcome is told to [`finish_upload`].
    Run(KeyedRequest),
    /// The first attempt's answer, to be replayed.
    Replay(StoredResponse),
    /// An earlier attempt ended without a known outcome: resolve it with
    /// its request id, then run or answer.
    TakenOver(KeyedRequest, Option<String>),
}

/// Claims an upload's `Idempotency-Key`, if it has one: its request is the
/// method, the path, the purpose and the file's name.
pub(crate) async fn claim_upload(
    state: &AppState,
    caller: &Caller,
    request: &actix_web::HttpRequest,
    purpose: &str,
    filename: &str,
) -> Result<Option<UploadClaim>, ApiError> {
    let Some(key) = key_of(request.headers())? else {
        return Ok(None);
    };
    let principal_id = principal_of(caller)?;
    let mut hasher = Sha256::new();
    for part in [
        "POST",
        crate::azure::routed_path(request),
        purpose,
        filename,
    ] {
        hasher.update(part);
        hasher.update([0]);
    }
    let keyed = KeyedRequest {
        tenant_id: caller.tenant.id,
        principal_id,
        key,
        request_sha256: hasher.finalize().into(),
        request_id: RequestId::of(request).0,
    };
    let claiming = keyed.clone();
    let claim = state
        .database
        .run("idempotency.claim", move |conn| {
            idempotency::claim(conn, &claiming, LIFETIMES)
        })
        .await?;
    Ok(Some(match claim {
        Claim::Acquired => UploadClaim::Run(keyed),
        Claim::Completed(stored) => UploadClaim::Replay(stored),
        Claim::TakenOver { holder_request_id } => UploadClaim::TakenOver(keyed, holder_request_id),
        Claim::InProgress => {
            return Err(ApiError::Conflict {
                message: "A request with this Idempotency-Key is still in progress; retry later."
                    .to_owned(),
            });
        }
        Claim::Mismatch => {
            return Err(ApiError::bad_request(
                "This Idempotency-Key was used with another request; keys can only be reused \
                 with the same method, path, purpose and file name.",
                None,
            ));
        }
    }))
}

/// Keeps an upload's answer for replay, keeps its key bound to it when the
/// outcome is unknown, or lets it go.
pub(crate) async fn finish_upload(
    state: &AppState,
    keyed: KeyedRequest,
    holder: String,
    outcome: &Result<serde_json::Value, ApiError>,
) {
    match outcome {
        Ok(_) => {
            let stored = stored(outcome);
            let completed = state
                .database
                .run("idempotency.complete", move |conn| {
                    idempotency::complete(conn, &keyed, &holder, &stored)
                })
                .await;
            if let Err(error) = completed {
                tracing::warn!(%error, "could not store an idempotent answer");
            }
        }
        Err(ApiError::UpstreamUnknownOutcome { .. }) => {
            mark_unknown(state, keyed, holder).await;
        }
        Err(_) => release_or_keep(state, keyed).await,
    }
}

/// The answer kept for an upload's outcome.
pub(crate) fn stored(outcome: &Result<serde_json::Value, ApiError>) -> StoredResponse {
    StoredResponse {
        status: 200,
        body: outcome
            .as_ref()
            .map(|file| file.to_string().into_bytes())
            .unwrap_or_default(),
    }
}

/// Binds the key to this attempt, which runs now (the attempt `previous`
/// it took the key over from made nothing); `false` if another retry moved
/// the key on first.
pub(crate) async fn hold(
    state: &AppState,
    keyed: &KeyedRequest,
    previous: Option<&str>,
) -> Result<bool, ApiError> {
    let (holding, previous) = (keyed.clone(), previous.map(str::to_owned));
    Ok(state
        .database
        .run("idempotency.hold", move |conn| {
            idempotency::hold(conn, &holding, previous.as_deref())
        })
        .await?)
}

/// A replayed answer.
pub(crate) fn replayed(stored: StoredResponse) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .content_type(header::ContentType::json())
        .insert_header((REPLAYED_HEADER, HeaderValue::from_static("true")))
        .body(stored.body)
}

/// A key that could not be resolved stays bound to the attempt that may
/// have made the object.
pub(crate) async fn keep_unknown(state: &AppState, keyed: KeyedRequest, holder: Option<String>) {
    mark_unknown(state, keyed, holder.unwrap_or_default()).await;
}
