//! Where request buckets and open-stream counts live: in this process
//! (one replica, `threadgate dev`), or in Redis, shared by every replica.
//!
//! Both keep a request limit of L per minute as GCRA (the generic cell
//! rate algorithm): a bucket of L requests that refills one every 60/L s.
//! In this process that is the `governor` crate; in Redis it is one Lua
//! script run atomically on the server, with the server's clock, so
//! replicas with skewed clocks still share one bucket.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// A governor limiter that reports how much is left after each check.
type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// A bucket to take one request from: its key and its limit per minute.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub key: String,
    pub per_minute: u64,
}

/// What a bucket says after a request was counted, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketState {
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset: Duration,
}

/// The outcome of taking one request from every bucket.
#[derive(Debug, Clone)]
pub struct Taken {
    /// Each bucket's state, in the order asked.
    pub states: Vec<BucketState>,
    /// The first bucket that refused, and when it would admit one.
    pub refused: Option<(usize, Duration)>,
}

#[derive(Debug, thiserror::Error)]
#[error("the quota store did not answer: {0}")]
pub struct StoreError(pub String);

/// Buckets and stream counts in this process.
pub struct LocalStore {
    /// One governor limiter per bucket key and limit (a changed limit
    /// starts a fresh bucket), with when it was last used.
    buckets: Mutex<LocalBuckets>,
    streams: Mutex<HashMap<String, u64>>,
    /// Made once: making a clock calibrates it.
    clock: DefaultClock,
}

/// The limiters in use, dropped once idle for a minute. A bucket idle for
/// a minute is full again (it refills its whole limit within one), so
/// dropping it changes nothing a caller can see: unlike evicting the least
/// recently used, no flood of new keys can reset a bucket still draining.
struct LocalBuckets {
    limiters: HashMap<(String, u64), (Arc<Limiter>, std::time::Instant)>,
    /// Idle limiters are swept once a minute, and sooner when the map
    /// reaches this size (then twice the size left): O(1) per request
    /// amortized, and at most the keys of two minutes kept.
    sweep_at: usize,
    swept: std::time::Instant,
}

/// A bucket idle this long is full.
const REFILLED_AFTER: Duration = Duration::from_secs(60);
const FIRST_SWEEP_AT: usize = 1024;

impl Default for LocalStore {
    fn default() -> Self {
        Self {
            buckets: Mutex::new(LocalBuckets {
                limiters: HashMap::new(),
                sweep_at: FIRST_SWEEP_AT,
                swept: std::time::Instant::now(),
            }),
            streams: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }
}

impl LocalBuckets {
    /// The bucket's limiter, as used `now`.
    fn limiter(
        &mut self,
        bucket: &Bucket,
        clock: &DefaultClock,
        now: std::time::Instant,
    ) -> Arc<Limiter> {
        if self.limiters.len() >= self.sweep_at
            || now.saturating_duration_since(self.swept) >= REFILLED_AFTER
        {
            self.limiters.retain(|_, (_, last_used)| {
                now.saturating_duration_since(*last_used) < REFILLED_AFTER
            });
            self.sweep_at = (self.limiters.len() * 2).max(FIRST_SWEEP_AT);
            self.swept = now;
        }
        let limit = NonZeroU32::new(u32::try_from(bucket.per_minute).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN);
        let (limiter, last_used) = self
            .limiters
            .entry((bucket.key.clone(), bucket.per_minute))
            .or_insert_with(|| {
                let limiter =
                    RateLimiter::direct_with_clock(Quota::per_minute(limit), clock.clone())
                        .with_middleware::<StateInformationMiddleware>();
                (Arc::new(limiter), now)
            });
        *last_used = now;
        limiter.clone()
    }
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore").finish_non_exhaustive()
    }
}

fn period(per_minute: u64) -> Duration {
    Duration::from_secs(60) / u32::try_from(per_minute.max(1)).unwrap_or(u32::MAX)
}

impl LocalStore {
    /// Takes one request from each bucket in turn; stops at the first that
    /// refuses (later buckets are not charged). Unlike Redis's script, an
    /// earlier bucket stays charged: governor cannot give a cell back, so
    /// a request the tenant's bucket refuses still counts in its user's.
    /// Buckets are taken user first, so a user over their own limit never
    /// drains their tenant's.
    pub fn take(&self, buckets: &[Bucket]) -> Taken {
        let mut states = Vec::with_capacity(buckets.len());
        for (index, bucket) in buckets.iter().enumerate() {
            let limiter = self
                .buckets
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .limiter(bucket, &self.clock, std::time::Instant::now());
            match limiter.check() {
                Ok(snapshot) => {
                    let remaining = u64::from(snapshot.remaining_burst_capacity());
                    states.push(BucketState {
                        limit: bucket.per_minute,
                        remaining,
                        reset: period(bucket.per_minute)
                            * u32::try_from(bucket.per_minute - remaining.min(bucket.per_minute))
                                .unwrap_or(u32::MAX),
                    });
                }
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    states.push(BucketState {
                        limit: bucket.per_minute,
                        remaining: 0,
                        reset: period(bucket.per_minute)
                            * u32::try_from(bucket.per_minute).unwrap_or(u32::MAX),
                    });
                    return Taken {
                        states,
                        refused: Some((index, wait)),
                    };
                }
            }
        }
        Taken {
            states,
            refused: None,
        }
    }

    /// Opens a stream under `key` if fewer than `limit` are open.
    pub fn open_stream(&self, key: &str, limit: u64) -> bool {
        let mut open = self
            .streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(key.to_owned()).or_insert(0);
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    pub fn close_stream(&self, key: &str) {
        let mut open = self
            .streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(key);
            }
        }
    }
}

/// GCRA over several buckets at once, atomically: every bucket is charged
/// only if none refuses. ARGV: now is the server's; per bucket its
/// emission interval (µs) and its burst (the limit). Answers, per bucket,
/// remaining and reset (µs), then the refusing bucket's index (0: none)
/// and its retry delay (µs).
const TAKE: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local out = {}
local refused, retry = 0, 0
local tats = {}
for i, key in ipairs(KEYS) do
  local emission = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + emission
  local allow_at = new_tat - emission * burst
  if now < allow_at then
    if refused == 0 then refused, retry = i, allow_at - now end
    out[2 * i - 1] = 0
    out[2 * i] = tat - now
  else
    out[2 * i - 1] = math.floor((now + emission * burst - new_tat) / emission)
    out[2 * i] = new_tat - now
  end
  tats[i] = new_tat
end
if refused == 0 then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, tats[i], 'PX', math.ceil((tats[i] - now) / 1000) + 1)
  end
end
out[#out + 1] = refused
out[#out + 1] = retry
return out
";

/// Opens a stream: members are stream ids scored by when their lease ends
/// (a replica that died holding one frees it when the lease ends).
const OPEN_STREAM: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
";

/// Buckets and stream counts in Redis, shared by every replica.
pub struct RedisStore {
    client: redis::Client,
    config: redis::aio::ConnectionManagerConfig,
    /// Made on first use (and again after a failed first connect), so a
    /// replica starts while Redis is down; it reconnects by itself after.
    connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    take: Arc<redis::Script>,
    open_stream: Arc<redis::Script>,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects (and reconnects by itself when the connection drops). A
    /// server that is down now is not an error: checks fail (open or
    /// closed, by setting) until it answers.
    pub fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1);
        Ok(Self {
            client,
            config,
            connection: tokio::sync::OnceCell::new(),
            take: Arc::new(redis::Script::new(TAKE)),
            open_stream: Arc::new(redis::Script::new(OPEN_STREAM)),
            timeout,
        })
    }

    async fn connection(&self) -> Result<redis::aio::ConnectionManager, StoreError> {
        let connecting = self.connection.get_or_try_init(|| {
            redis::aio::ConnectionManager::new_with_config(self.client.clone(), self.config.clone())
        });
        tokio::time::timeout(self.timeout, connecting)
            .await
            .map_err(|_| StoreError(format!("no connection within {:?}", self.timeout)))?
            .cloned()
            .map_err(|e| StoreError(e.to_string()))
    }

    pub async fn take(&self, buckets: &[Bucket]) -> Result<Taken, StoreError> {
        let mut invocation = self.take.prepare_invoke();
        for bucket in buckets {
            let emission = period(bucket.per_minute).as_micros();
            invocation
                .key(format!("threadgate:requests:{}", bucket.key))
                .arg(u64::try_from(emission).unwrap_or(u64::MAX))
                .arg(bucket.per_minute);
        }
        let mut connection = self.connection().await?;
        let answer: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| StoreError(format!("no answer within {:?}", self.timeout)))?
                .map_err(|e| StoreError(e.to_string()))?;
        let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
        let states = buckets
            .iter()
            .enumerate()
            .map(|(index, bucket)| BucketState {
                limit: bucket.per_minute,
                remaining: u64::try_from(answer.get(2 * index).copied().unwrap_or(0)).unwrap_or(0),
                reset: micros(answer.get(2 * index + 1).copied().unwrap_or(0)),
            })
            .collect();
        let refused = answer.get(2 * buckets.len()).copied().unwrap_or(0);
        let retry = answer.get(2 * buckets.len() + 1).copied().unwrap_or(0);
        Ok(Taken {
            states,
            refused: usize::try_from(refused)
                .ok()
                .filter(|index| *index > 0)
                .map(|index| (index - 1, micros(retry))),
        })
    }

    pub async fn open_stream(
        &self,
        key: &str,
        limit: u64,
        stream_id: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection().await?;
        let mut invocation = self.open_stream.prepare_invoke();
        invocation
            .key(format!("threadgate:streams:{key}"))
            .arg(limit)
            .arg(stream_id)
            .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let opened: i64 =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| StoreError(format!("no answer within {:?}", self.timeout)))?
                .map_err(|e| StoreError(e.to_string()))?;
        Ok(opened == 1)
    }

    pub async fn close_stream(&self, key: &str, stream_id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let removed: Result<i64, _> = tokio::time::timeout(
            self.timeout,
            redis::cmd("ZREM")
                .arg(format!("threadgate:streams:{key}"))
                .arg(stream_id)
                .query_async(&mut connection),
        )
        .await
        .map_err(|_| StoreError(format!("no answer within {:?}", self.timeout)))?;
        removed.map(drop).map_err(|e| StoreError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle buckets (full again) are dropped; busy ones are never.
    #[test]
    fn only_buckets_idle_for_a_minute_are_swept() {
        let store = LocalStore::default();
        let mut buckets = store.buckets.lock().unwrap();
        let start = std::time::Instant::now();
        let busy = Bucket {
            key: "tenant".to_owned(),
            per_minute: 5,
        };
        let kept = buckets.limiter(&busy, &store.clock, start);
        assert!(kept.check().is_ok());
        // The busy bucket and these fill the map to its first sweep.
        for user in 1..FIRST_SWEEP_AT {
            let idle = Bucket {
                key: format!("tenant:user:{user}"),
                per_minute: 5,
            };
            buckets.limiter(&idle, &store.clock, start);
        }
        let seconds = |n| start + Duration::from_secs(n);
        // Full: swept at once, but nothing is idle long enough yet.
        buckets.limiter(&busy, &store.clock, seconds(50));
        assert_eq!(buckets.limiters.len(), FIRST_SWEEP_AT);
        buckets.limiter(&busy, &store.clock, seconds(100));
        assert_eq!(
            buckets.limiters.len(),
            FIRST_SWEEP_AT,
            "swept at most once a minute"
        );
        let again = buckets.limiter(&busy, &store.clock, seconds(110));
        assert_eq!(
            buckets.limiters.len(),
            1,
            "the idle users' buckets were swept"
        );
        assert!(Arc::ptr_eq(&kept, &again), "the busy bucket kept its state");
    }
}
