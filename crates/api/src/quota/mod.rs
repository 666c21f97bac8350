//! Quotas and rate limits per tenant and per user: requests per minute,
//! tokens per UTC day, open streams. The tenant's policy sets them
//! (`/v1/organization/policy`), the configuration fills what it left
//! unset.
//!
//! - Requests: every authenticated request under the API's surfaces
//!   (never the tenant's administration, so an admin can always raise a
//!   limit) is taken from the user's bucket, then the tenant's, before its
//!   handler runs ([`requests`], a middleware): nothing is reserved or
//!   forwarded for a refused one. Every answer says where the caller
//!   stands in OpenAI's `x-ratelimit-*-requests` headers.
//! - Tokens: a request that can spend tokens (runs, responses) is refused
//!   with `insufficient_quota` once today's recorded usage reached the
//!   budget ([`Quotas::check_budget`], called by the gateway).
//! - Streams: a streamed run or response holds a slot of the user's
//!   ([`Quotas::open_stream`], taken by the gateway before anything is
//!   reserved) until its stream ends.
//!
//! With `limits.redis_url` the buckets and slots live in Redis, shared by
//! every replica; without it, in this process ([`store`]). A store that
//! does not answer fails open (admitted, counted in
//! `threadgate_quota_store_failures_total`, logged) or closed (a 429), by
//! `limits.on_store_failure`; never a 5xx.

mod store;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, ResponseError, web};
use domain::{Actor, Authentication, Limits};
use storage::repo::audit::Outcome;

pub use store::{Bucket, BucketState, LocalStore, RedisStore, StoreError, Taken};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// What the operator configures.
#[derive(Debug, Clone)]
pub struct QuotaSettings {
    /// Limits for tenants whose policy does not set them.
    pub defaults: Limits,
    /// Redis shared by every replica; `None`: this process alone. May hold
    /// a password: kept secret, never in `Debug`.
    pub redis_url: Option<secrecy::SecretString>,
    /// How long a check waits for Redis before it counts as a failure.
    pub store_timeout: Duration,
    /// Refuse (429) rather than admit when the store does not answer.
    pub fail_closed: bool,
    /// A stream's slot is freed after this even if its replica died
    /// without closing it.
    pub stream_lease: Duration,
}

enum Store {
    Local(LocalStore),
    Shared(RedisStore),
}

pub struct Quotas {
    defaults: Limits,
    store: Store,
    /// How many refusals per tenant are audited (see [`Self::audits_refusal`]).
    refusal_audits: LocalStore,
    fail_closed: bool,
    stream_lease: Duration,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("defaults", &self.defaults)
            .field("shared", &matches!(self.store, Store::Shared(_)))
            .finish_non_exhaustive()
    }
}

impl Quotas {
    /// Ready at once: Redis is connected on first use, so a replica starts
    /// while it is down (and fails open or closed until it answers).
    pub fn start(settings: &QuotaSettings) -> Result<Self, StoreError> {
        let store = match &settings.redis_url {
            Some(url) => Store::Shared(RedisStore::connect(
                secrecy::ExposeSecret::expose_secret(url),
                settings.store_timeout,
            )?),
            None => Store::Local(LocalStore::default()),
        };
        Ok(Self {
            defaults: settings.defaults,
            store,
            refusal_audits: LocalStore::default(),
            fail_closed: settings.fail_closed,
            stream_lease: settings.stream_lease,
        })
    }

    /// In this process, with these defaults (tests, benchmarks).
    pub fn local(defaults: Limits) -> Self {
        Self {
            defaults,
            store: Store::Local(LocalStore::default()),
            refusal_audits: LocalStore::default(),
            fail_closed: false,
            stream_lease: Duration::from_secs(600),
        }
    }

    /// Whether a refusal of the caller's is written to the audit trail: up
    /// to [`AUDITED_REFUSALS_PER_MINUTE`] per user at once (then one a
    /// second), and ten times that per tenant. A user flooding past a limit
    /// would otherwise fill the audit queue every tenant shares, or use up
    /// what their tenant's other users' refusals are audited from. Every
    /// refusal is still counted in `threadgate_quota_refusals_total`.
    pub fn audits_refusal(&self, caller: &Caller) -> bool {
        let tenant = caller.tenant.id;
        let buckets = [
            Bucket {
                key: format!("{tenant}:{}", holder(caller)),
                per_minute: AUDITED_REFUSALS_PER_MINUTE,
            },
            Bucket {
                key: tenant.to_string(),
                per_minute: 10 * AUDITED_REFUSALS_PER_MINUTE,
            },
        ];
        self.refusal_audits.take(&buckets).refused.is_none()
    }

    /// The limits that hold for a tenant.
    pub fn limits_for(&self, tenant: &storage::repo::tenants::Tenant) -> Limits {
        tenant.settings.limits.over(&self.defaults)
    }

    /// The limits that hold for the caller's tenant.
    pub fn limits_of(&self, caller: &Caller) -> Limits {
        self.limits_for(&caller.tenant)
    }

    /// Takes one request from the caller's bucket and the tenant's.
    /// Answers the state to report (the bucket nearest to empty), and the
    /// refusal if one refused.
    pub async fn take_request(&self, caller: &Caller) -> (Option<BucketState>, Option<ApiError>) {
        let limits = self.limits_of(caller);
        let tenant = caller.tenant.id;
        // Keys carry the tenant as a hash tag (`{tenant}`): a tenant's
        // buckets, taken together by one script, share a Redis slot.
        let mut buckets = Vec::with_capacity(2);
        if let Some(per_minute) = limits.user_requests_per_minute {
            buckets.push(Bucket {
                key: format!("{{{tenant}}}:{}", holder(caller)),
                per_minute,
            });
        }
        if let Some(per_minute) = limits.tenant_requests_per_minute {
            buckets.push(Bucket {
                key: format!("{{{tenant}}}"),
                per_minute,
            });
        }
        if buckets.is_empty() {
            return (None, None);
        }
        let taken = match &self.store {
            Store::Local(local) => Ok(local.take(&buckets)),
            Store::Shared(redis) => redis.take(&buckets).await,
        };
        let taken = match taken {
            Ok(taken) => taken,
            Err(error) => return (None, self.store_failed(caller, &error)),
        };
        if let Some((index, retry_after)) = taken.refused {
            let scope = if limits.user_requests_per_minute.is_some() && index == 0 {
                "user"
            } else {
                "tenant"
            };
            let state = taken.states[index];
            refused_metric(caller, &format!("{scope}_requests_per_minute"));
            return (
                Some(state),
                Some(ApiError::OverLimit {
                    message: format!(
                        "Rate limit reached for requests per minute of this {scope}: limit {}. \
                         Please try again in {}.",
                        state.limit,
                        duration_text(retry_after)
                    ),
                    kind: "requests",
                    retry_after,
                }),
            );
        }
        let nearest = taken.states.into_iter().min_by_key(|state| state.remaining);
        (nearest, None)
    }

    /// Refuses with `insufficient_quota` when the caller or the tenant
    /// spent today's token budget (one indexed read of two rows; none when
    /// no budget is set).
    pub async fn check_budget(&self, state: &AppState, caller: &Caller) -> Result<(), ApiError> {
        let limits = self.limits_of(caller);
        let user = caller.user();
        let user_budget = limits.user_tokens_per_day.filter(|_| user.is_some());
        if user_budget.is_none() && limits.tenant_tokens_per_day.is_none() {
            return Ok(());
        }
        let tenant_id = caller.tenant.id;
        let spent = state
            .database
            .run("quota.spent_today", move |conn| {
                storage::repo::usage::spent_today(conn, tenant_id, user)
            })
            .await?;
        let spent_tokens = |spent: i64| u64::try_from(spent).unwrap_or(0);
        let exhausted = [
            ("user", user_budget, spent_tokens(spent.user)),
            (
                "tenant",
                limits.tenant_tokens_per_day,
                spent_tokens(spent.tenant),
            ),
        ]
        .into_iter()
        .find_map(|(scope, budget, spent)| {
            budget
                .filter(|budget| spent >= *budget)
                .map(|budget| (scope, budget, spent))
        });
        let Some((scope, budget, spent)) = exhausted else {
            return Ok(());
        };
        refused_metric(caller, &format!("{scope}_tokens_per_day"));
        Err(ApiError::QuotaExhausted {
            message: format!(
                "You exceeded the {scope}'s token budget for today: {spent} of {budget} tokens \
                 used. It renews at 00:00 UTC; a tenant admin can raise it \
                 (`{scope}_tokens_per_day` in /v1/organization/policy)."
            ),
            limit: budget,
            retry_after: until_utc_midnight(),
        })
    }

    /// Takes a stream slot of the caller's, or refuses with a 429 when
    /// they have `user_concurrent_streams` open. The slot is freed when
    /// the returned guard is dropped (the stream ended, or never opened).
    pub async fn open_stream(
        self: &Arc<Self>,
        caller: &Caller,
    ) -> Result<Option<StreamSlot>, ApiError> {
        let Some(limit) = self.limits_of(caller).user_concurrent_streams else {
            return Ok(None);
        };
        let key = format!("{{{}}}:{}", caller.tenant.id, holder(caller));
        let stream_id = uuid::Uuid::new_v4().to_string();
        let opened = match &self.store {
            Store::Local(local) => Ok(local.open_stream(&key, limit)),
            Store::Shared(redis) => {
                redis
                    .open_stream(&key, limit, &stream_id, self.stream_lease)
                    .await
            }
        };
        match opened {
            Ok(true) => Ok(Some(StreamSlot {
                quotas: self.clone(),
                key,
                stream_id,
            })),
            Ok(false) => {
                refused_metric(caller, "user_concurrent_streams");
                Err(ApiError::OverLimit {
                    message: format!(
                        "Too many open streams: at most {limit} at once for this user. Close one \
                         (or wait for one to finish) and try again."
                    ),
                    kind: "streams",
                    retry_after: Duration::from_secs(1),
                })
            }
            Err(error) => match self.store_failed(caller, &error) {
                Some(refusal) => Err(refusal),
                None => Ok(None),
            },
        }
    }

    /// A store that did not answer: counted, logged, and open or closed.
    fn store_failed(&self, caller: &Caller, error: &StoreError) -> Option<ApiError> {
        metrics::counter!("threadgate_quota_store_failures_total").increment(1);
        tracing::warn!(%error, tenant = %caller.tenant.id, fail_closed = self.fail_closed, "the quota store did not answer");
        self.fail_closed.then(|| ApiError::OverLimit {
            message: "Limits cannot be checked right now. Please try again shortly.".to_owned(),
            kind: "requests",
            retry_after: Duration::from_secs(1),
        })
    }
}

/// A refusal by a limit, audited as a decision (`action`: `rate_limit`
/// for requests, `quota` for budgets and streams), as many as
/// [`Quotas::audits_refusal`] admits.
pub fn audit_refusal(
    state: &AppState,
    caller: &Caller,
    request_id: &str,
    action: &'static str,
    refusal: &ApiError,
) {
    if !state.quotas.audits_refusal(caller) {
        return;
    }
    let mut event = crate::audit::event(caller, request_id, action, Outcome::Deny);
    event.reason = Some(refusal.to_string());
    state.audit.record(event);
}

/// Refusals per user audited per minute (a burst of as many, then one a
/// second); ten times as many per tenant.
pub const AUDITED_REFUSALS_PER_MINUTE: u64 = 60;

/// A user's open stream; frees its slot when dropped.
pub struct StreamSlot {
    quotas: Arc<Quotas>,
    key: String,
    stream_id: String,
}

impl std::fmt::Debug for StreamSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSlot").finish_non_exhaustive()
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        match &self.quotas.store {
            Store::Local(local) => local.close_stream(&self.key),
            Store::Shared(_) => {
                let quotas = self.quotas.clone();
                let (key, stream_id) = (
                    std::mem::take(&mut self.key),
                    std::mem::take(&mut self.stream_id),
                );
                // Dropped on an async worker: freed by a task; if it fails,
                // the lease frees it.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        if let Store::Shared(redis) = &quotas.store
                            && let Err(error) = redis.close_stream(&key, &stream_id).await
                        {
                            tracing::warn!(%error, "a stream slot was not freed; its lease will free it");
                        }
                    });
                }
            }
        }
    }
}

/// Whose bucket a request is taken from: the end-user, or the API key
/// acting as itself.
fn holder(caller: &Caller) -> String {
    match (&caller.principal.actor, &caller.principal.authentication) {
        (Actor::User(user), _) => format!("user:{user}"),
        (
            Actor::Service,
            Authentication::ApiKey { api_key_id } | Authentication::ApiKeyOnBehalfOf { api_key_id },
        ) => {
            format!("key:{api_key_id}")
        }
        (Actor::Service, _) => "service".to_owned(),
    }
}

fn refused_metric(caller: &Caller, limit: &str) {
    metrics::counter!(
        "threadgate_quota_refusals_total",
        "tenant" => caller.tenant.slug.clone(),
        "limit" => limit.to_owned(),
    )
    .increment(1);
}

fn until_utc_midnight() -> Duration {
    let now = chrono::Utc::now();
    let tomorrow = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .map(|midnight| midnight.and_utc());
    tomorrow
        .and_then(|midnight| (midnight - now).to_std().ok())
        .unwrap_or(Duration::from_secs(1))
}

/// A duration as OpenAI's headers write it: `20ms`, `1s`, `6m0s`.
pub fn duration_text(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{}ms", millis.max(1));
    }
    let seconds = duration.as_secs() + u64::from(duration.subsec_millis() > 0);
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// Whether a path is limited: the API's surfaces, except the tenant's
/// administration (an admin must be able to raise a limit while it binds).
fn limited(path: &str) -> bool {
    let under_surface = crate::azure::SURFACES
        .iter()
        .any(|surface| path.starts_with(&format!("{surface}/")));
    under_surface && !path.starts_with("/v1/organization")
}

/// The request limits, as a middleware: authenticates (the handler finds
/// the caller already read), takes the request from the buckets, refuses
/// a request over a limit before its handler runs, and writes the
/// `x-ratelimit-*-requests` headers on every answer.
pub async fn requests(
    mut request: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !limited(crate::azure::routed_path(request.request())) {
        return next.call(request).await;
    }
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(request).await;
    };
    let authenticated = {
        let (http, payload) = request.parts_mut();
        Caller::from_request(http, payload)
    };
    let caller = match authenticated.await {
        Ok(caller) => caller,
        Err(error) => match crate::auth::RefusedCredential::of(&error) {
            // A credential refused goes on to be refused by its handler
            // with the same words (or served, by a route that needs none);
            // the handler does not try it again.
            Some(refused) => {
                request.extensions_mut().insert(refused);
                return next.call(request).await;
            }
            // Anything else (the database did not answer) ends the request
            // here: a handler that authenticated on a second try would run
            // without its limit.
            None => return Ok(request.error_response(error)),
        },
    };
    let (bucket, refusal) = state.quotas.take_request(&caller).await;
    let mut response = match refusal {
        Some(refusal) => {
            let request_id = request
                .extensions()
                .get::<crate::request_id::RequestId>()
                .map(|id| id.0.clone())
                .unwrap_or_default();
            audit_refusal(&state, &caller, &request_id, "rate_limit", &refusal);
            request.into_response(refusal.error_response())
        }
        None => next.call(request).await?,
    };
    if let Some(bucket) = bucket {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit-requests", bucket.limit.to_string()),
            (
                "x-ratelimit-remaining-requests",
                bucket.remaining.to_string(),
            ),
            ("x-ratelimit-reset-requests", duration_text(bucket.reset)),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_openais() {
        assert_eq!(duration_text(Duration::from_millis(20)), "20ms");
        assert_eq!(duration_text(Duration::from_millis(1500)), "2s");
        assert_eq!(duration_text(Duration::from_secs(360)), "6m0s");
        assert_eq!(duration_text(Duration::from_secs(3 * 3600 + 61)), "3h1m1s");
    }

    #[test]
    fn administration_and_operations_are_not_limited() {
        assert!(limited("/v1/threads"));
        assert!(limited("/openai/threads/thread_1"));
        assert!(!limited("/v1/organization/policy"));
        assert!(!limited("/healthz"));
        assert!(!limited("/docs"));
    }

    #[test]
    fn a_bucket_admits_its_limit_then_refuses_with_a_delay() {
        let store = LocalStore::default();
        let buckets = [Bucket {
            key: "t:u".to_owned(),
            per_minute: 3,
        }];
        for expected_remaining in [2, 1, 0] {
            let taken = store.take(&buckets);
            assert_eq!(taken.refused, None);
            assert_eq!(taken.states[0].remaining, expected_remaining);
        }
        let refused = store.take(&buckets);
        let (index, retry) = refused.refused.expect("the fourth is refused");
        assert_eq!(index, 0);
        assert!(
            retry > Duration::from_secs(15) && retry <= Duration::from_secs(20),
            "{retry:?}"
        );
    }
}
