//! What a request's authentication costs: an RS256 token verified (what
//! every request paid before callers were remembered, and what a request
//! still pays once per `auth.caller_cache` per credential), against a
//! remembered caller found by its credential's hash.

use std::hint::black_box;
use std::time::Duration;

use api::auth::{Caller, CallerCache};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{Actor, Authentication, IdentityProviderId, Principal, Role, TenantId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use threadgate_server::dev_issuer::{AUDIENCE, DevIssuer};

fn caller() -> Caller {
    let tenant_id = TenantId::new();
    Caller {
        principal: Principal {
            tenant_id,
            actor: Actor::User(UserId::new()),
            role: Role::Member,
            authentication: Authentication::Token {
                identity_provider_id: IdentityProviderId::new(),
            },
        },
        tenant: storage::repo::tenants::Tenant {
            id: tenant_id,
            slug: "bench".to_owned(),
            display_name: "Bench".to_owned(),
            active: true,
            upstream_profile: "default".to_owned(),
            policy: domain::TenantPolicy::default(),
            settings: storage::repo::tenants::TenantSettings::default(),
            created_at: chrono::Utc::now(),
        },
    }
}

fn tokens(c: &mut Criterion) {
    let issuer = DevIssuer::generate("http://127.0.0.1:1/dev/oidc").expect("a key");
    let token = issuer.mint("bench", "alice", false, 3600).expect("a token");
    let set: JwkSet = serde_json::from_value(issuer.jwks()).expect("a key set");
    let key = DecodingKey::from_jwk(&set.keys[0]).expect("a decoding key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[issuer.issuer("bench")]);

    c.bench_function("token verified (RS256, cold)", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &key, &validation)
                .expect("valid")
        })
    });

    let cache = CallerCache::new(Duration::from_secs(60));
    let key = CallerCache::key(&token, None);
    cache.insert(key, &caller(), None, cache.generation());
    c.bench_function("caller remembered (hash and lookup)", |b| {
        b.iter(|| {
            let key = CallerCache::key(black_box(&token), None);
            cache.get(&key).expect("remembered")
        })
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
