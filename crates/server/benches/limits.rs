//! What a request limit check adds to a request: one request taken from a
//! user's bucket and the tenant's, in this process (governor), and in
//! Redis (one script round trip) when `REDIS_URL` names one (the tests'
//! harness starts one: `redis-server --port 6390 --save ''` and
//! `REDIS_URL=redis://127.0.0.1:6390`).

use std::hint::black_box;
use std::time::Duration;

use api::quota::{Bucket, LocalStore, RedisStore};
use criterion::{Criterion, criterion_group, criterion_main};

fn buckets() -> [Bucket; 2] {
    [
        Bucket {
            key: "bench-tenant:user:bench".to_owned(),
            // High enough never to refuse while measured.
            per_minute: 1_000_000_000,
        },
        Bucket {
            key: "bench-tenant".to_owned(),
            per_minute: 1_000_000_000,
        },
    ]
}

// Says what it did not measure, where the numbers are read.
#[allow(clippy::print_stderr)]
fn limits(c: &mut Criterion) {
    let local = LocalStore::default();
    let buckets = buckets();
    c.bench_function("request limit check (in process, user + tenant)", |b| {
        b.iter(|| local.take(black_box(&buckets)))
    });

    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("REDIS_URL is not set: the Redis check is not measured");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let redis = RedisStore::connect(&url, Duration::from_secs(1)).expect("a Redis URL");
    c.bench_function("request limit check (Redis, user + tenant)", |b| {
        b.iter(|| {
            runtime
                .block_on(redis.take(black_box(&buckets)))
                .expect("Redis answers")
        })
    });
}

criterion_group!(benches, limits);
criterion_main!(benches);
