//! Test-only fault points. Built only with the `fault-points` feature (the
//! crash tests' server enables it; release builds do not), and even then
//! inert unless `TEST_FAULT_<POINT>` (outside the `THREADGATE_` namespace of settings) gives a probability between 0
//! and 1 with which the process dies on the spot at that point, as a
//! `kill -9` there would leave it.

/// The moment between the upstream's answer to a create and the row's
/// activation: the object exists upstream, Threadgate's record does not.
pub const BEFORE_ACTIVATION: &str = "BEFORE_ACTIVATION";

/// Dies here with the configured probability.
#[cfg(feature = "fault-points")]
pub fn crash_point(point: &str) {
    let Some(probability) = std::env::var(format!("TEST_FAULT_{point}"))
        .ok()
        .and_then(|value| value.parse::<f64>().ok())
    else {
        return;
    };
    // Not a secret, and not worth a dependency: the clock's nanoseconds.
    let draw = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| f64::from(elapsed.subsec_nanos() % 1_000_000) / 1_000_000.0)
        .unwrap_or(1.0);
    if draw < probability {
        tracing::error!(point, "fault point: dying here");
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-points"))]
#[inline(always)]
pub fn crash_point(_point: &str) {}
