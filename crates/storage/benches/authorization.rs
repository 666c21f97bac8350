//! The authorization check's cost: the indexed lookup of one resource (with
//! the caller's grants) among many tenants' rows, and the decision itself.
//!
//! ```sh
//! cargo bench -p threadgate-storage --bench authorization
//! ```
//!
//! Uses `DATABASE_URL`'s server or a throwaway cluster, like the tests.

// Benchmark code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use devdb::TestDatabase;
use diesel::{Connection, RunQueryDsl};
use domain::{
    Action, Actor, Authentication, IdentityProviderId, Owner, Principal, ResourceKind, Role,
    Target, TenantPolicy, UpstreamId, authorize,
};
use storage::repo::resources::{self, NewResource};
use storage::repo::{tenants, users};

const TENANTS: usize = 50;
const THREADS_PER_TENANT: usize = 400;

fn seeded() -> (TestDatabase, domain::TenantId, domain::UserId, UpstreamId) {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let mut probe = None;
    conn.transaction::<_, storage::StorageError, _>(|conn| {
        for t in 0..TENANTS {
            let tenant = tenants::create(
                conn,
                &tenants::NewTenant {
                    slug: &format!("t{t}"),
                    display_name: "bench",
                    upstream_profile: "default",
                },
            )?;
            let user = users::find_or_create(conn, tenant.id, "user")?;
            for n in 0..THREADS_PER_TENANT {
                let id = UpstreamId::parse(format!("thread_{t}_{n}")).unwrap();
                resources::record_existing(
                    conn,
                    &NewResource {
                        tenant_id: tenant.id,
                        kind: ResourceKind::Thread,
                        upstream_profile: "default",
                        owner: Owner::User(user.id),
                        parent_id: None,
                        request_id: None,
                        attributes: serde_json::json!({}),
                    },
                    &id,
                )?;
                if t == TENANTS / 2 && n == THREADS_PER_TENANT / 2 {
                    probe = Some((tenant.id, user.id, id));
                }
            }
        }
        Ok(())
    })
    .unwrap();
    diesel::sql_query("ANALYZE resources")
        .execute(&mut conn)
        .unwrap();
    let (tenant, user, id) = probe.unwrap();
    (database, tenant, user, id)
}

fn authorization(c: &mut Criterion) {
    let (database, tenant, user, id) = seeded();
    let mut conn = storage::connect(database.url()).unwrap();
    let principal = Principal {
        tenant_id: tenant,
        actor: Actor::User(user),
        role: Role::Member,
        authentication: Authentication::Token {
            identity_provider_id: IdentityProviderId::new(),
        },
    };
    let policy = TenantPolicy::default();

    c.bench_function("lookup and decide (20k rows)", |b| {
        b.iter(|| {
            let resource = resources::find_by_upstream_id(
                &mut conn,
                tenant,
                ResourceKind::Thread,
                &id,
                Some(user),
            )
            .unwrap();
            assert!(
                authorize(
                    &principal,
                    Action::Read,
                    Target::Existing(&resource.facts),
                    &policy
                )
                .is_allowed()
            );
        });
    });

    let resource =
        resources::find_by_upstream_id(&mut conn, tenant, ResourceKind::Thread, &id, Some(user))
            .unwrap();
    c.bench_function("decide", |b| {
        b.iter(|| {
            authorize(
                &principal,
                Action::Read,
                Target::Existing(&resource.facts),
                &policy,
            )
        });
    });
}

criterion_group!(benches, authorization);
criterion_main!(benches);
