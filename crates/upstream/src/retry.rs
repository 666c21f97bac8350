//! When to try again, and after how long.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::config::RetryConfig;

/// The delay the upstream asked for: `retry-after-ms`, `x-ms-retry-after-ms`
/// (milliseconds), or `Retry-After` (seconds, or an HTTP date).
pub(crate) fn requested_delay(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header(name).and_then(|v| v.trim().parse::<f64>().ok()) {
            if ms.is_finite() && ms >= 0.0 {
                return Some(Duration::from_secs_f64(ms / 1000.0));
            }
        }
    }
    let retry_after = header("retry-after")?.trim();
    if let Ok(seconds) = retry_after.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(retry_after).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The pause before attempt `attempt + 1` (attempts count from 1):
/// exponential from `base_delay`, capped at `max_delay`, with equal jitter so
/// that many clients backing off together spread out.
pub(crate) fn backoff(config: &RetryConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = config
        .base_delay
        .saturating_mul(1_u32 << exponent)
        .min(config.max_delay);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn milliseconds_headers_win_over_retry_after() {
        let both = headers(&[("retry-after-ms", "250"), ("retry-after", "7")]);
        assert_eq!(requested_delay(&both), Some(Duration::from_millis(250)));
        let azure = headers(&[("x-ms-retry-after-ms", "1500")]);
        assert_eq!(requested_delay(&azure), Some(Duration::from_millis(1500)));
        assert_eq!(
            requested_delay(&headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(requested_delay(&headers(&[])), None);
        assert_eq!(requested_delay(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn retry_after_may_be_an_http_date() {
        let at = SystemTime::now() + Duration::from_secs(30);
        let delay =
            requested_delay(&headers(&[("retry-after", &httpdate::fmt_http_date(at))])).unwrap();
        assert!(
            delay > Duration::from_secs(28) && delay <= Duration::from_secs(30),
            "{delay:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
        assert_eq!(
            requested_delay(&headers(&[("retry-after", &past)])),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let config = RetryConfig {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        };
        for _ in 0..100 {
            let first = backoff(&config, 1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = backoff(&config, 3);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            let late = backoff(&config, 30);
            assert!(
                late >= Duration::from_millis(500) && late <= Duration::from_millis(1000),
                "{late:?}"
            );
        }
    }
}
