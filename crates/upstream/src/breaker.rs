//! A circuit breaker per profile: after repeated upstream failures, calls fail
//! fast for a while instead of piling onto a service that is down; then one
//! probe is let through, and its outcome closes or re-opens the circuit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    /// One probe is in flight; other calls still fail fast.
    HalfOpen,
}

#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    /// The profile it guards, for the state gauge.
    profile: String,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
}

/// Permission to call the upstream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Allowed,
    /// Allowed as the half-open probe.
    Probe,
    /// Refused; a call may be admitted again after about `retry_after`.
    Rejected {
        retry_after: Duration,
    },
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            profile: String::new(),
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_at: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// Names the profile in the `threadgate_upstream_circuit_state` gauge
    /// (0 closed, 1 open, 2 half-open).
    pub fn for_profile(mut self, profile: &str) -> Self {
        self.profile = profile.to_owned();
        self.publish(BreakerState::Closed);
        self
    }

    fn publish(&self, state: BreakerState) {
        let value = match state {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        };
        metrics::gauge!("threadgate_upstream_circuit_state", "profile" => self.profile.clone())
            .set(value);
    }

    pub fn admit(&self) -> Admission {
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => Admission::Allowed,
            // The probe will tell soon.
            BreakerState::HalfOpen => Admission::Rejected {
                retry_after: Duration::from_secs(1),
            },
            BreakerState::Open => {
                let waited = inner.opened_at.map_or(Duration::MAX, |at| at.elapsed());
                if waited >= self.config.open_for {
                    inner.state = BreakerState::HalfOpen;
                    self.publish(BreakerState::HalfOpen);
                    tracing::info!("circuit half-open: probing the upstream");
                    Admission::Probe
                } else {
                    Admission::Rejected {
                        retry_after: self.config.open_for - waited,
                    }
                }
            }
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        if inner.state != BreakerState::Closed {
            tracing::info!("circuit closed: the upstream answered");
        }
        inner.state = BreakerState::Closed;
        inner.consecutive_failures = 0;
        inner.opened_at = None;
        self.publish(BreakerState::Closed);
    }

    pub fn record_failure(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures += 1;
        let trip = inner.state == BreakerState::HalfOpen
            || inner.consecutive_failures >= self.config.failure_threshold;
        if trip && inner.state != BreakerState::Open {
            tracing::warn!(
                failures = inner.consecutive_failures,
                "circuit open: failing fast"
            );
            inner.state = BreakerState::Open;
            inner.opened_at = Some(Instant::now());
            self.publish(BreakerState::Open);
        }
    }

    /// A probe that ended without a verdict (e.g. a 4xx) frees the slot.
    pub fn release_probe(&self) {
        let mut inner = self.lock();
        if inner.state == BreakerState::HalfOpen {
            inner.state = BreakerState::Closed;
            inner.consecutive_failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_pause() {
        let breaker = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 2,
            open_for: Duration::ZERO,
        });
        assert_eq!(breaker.admit(), Admission::Allowed);
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        // open_for is zero: the next call is the probe, the one after waits.
        assert_eq!(breaker.admit(), Admission::Probe);
        assert!(matches!(breaker.admit(), Admission::Rejected { .. }));
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.admit(), Admission::Probe);
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.admit(), Admission::Allowed);
    }

    #[test]
    fn stays_open_until_the_pause_is_over() {
        let breaker = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 1,
            open_for: Duration::from_secs(3600),
        });
        breaker.record_failure();
        let Admission::Rejected { retry_after } = breaker.admit() else {
            panic!("the circuit is open")
        };
        assert!(retry_after > Duration::from_secs(3590), "{retry_after:?}");
    }
}
