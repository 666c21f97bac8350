//! Repository functions against a real database.

use devdb::TestDatabase;
use diesel::{Connection, PgConnection, RunQueryDsl};
use domain::{LifecycleState, Owner, ResourceKind, TenantId, UpstreamId};
use storage::StorageError;
use storage::repo::audit::{self, AuditEvent, Outcome};
use storage::repo::resources::{self, NewResource};
use storage::repo::tenants::{self, NewTenant, Tenant};
use storage::repo::users;

fn tenant(conn: &mut PgConnection, slug: &str) -> Tenant {
    tenants::create(
        conn,
        &NewTenant {
            slug,
            display_name: slug,
            upstream_profile: "default",
        },
    )
    .expect("the tenant is created")
}

/// A resource of `kind` for `owner` in `tenant_id`, on the default profile.
fn resource(tenant_id: TenantId, kind: ResourceKind, owner: Owner) -> NewResource<'static> {
    NewResource {
        tenant_id,
        kind,
        upstream_profile: "default",
        owner,
        parent_id: None,
        request_id: None,
        attributes: serde_json::json!({}),
    }
}

fn upstream_id(raw: &str) -> UpstreamId {
    UpstreamId::parse(raw).expect("a valid upstream id")
}

#[test]
fn a_taken_slug_is_a_conflict_naming_the_constraint() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    tenant(&mut conn, "acme");
    let error = tenants::create(
        &mut conn,
        &NewTenant {
            slug: "acme",
            display_name: "Acme again",
            upstream_profile: "default",
        },
    )
    .unwrap_err();
    assert!(
        matches!(&error, StorageError::Conflict { constraint } if constraint == "tenants_slug_key"),
        "{error:?}"
    );
}

#[test]
fn users_are_found_by_subject_within_their_tenant_only() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    let globex = tenant(&mut conn, "globex");

    let first = users::find_or_create(&mut conn, acme.id, "alice").unwrap();
    let again = users::find_or_create(&mut conn, acme.id, "alice").unwrap();
    let elsewhere = users::find_or_create(&mut conn, globex.id, "alice").unwrap();
    assert_eq!(first.id, again.id);
    assert_ne!(first.id, elsewhere.id);
    assert!(!first.disabled);

    users::set_disabled(&mut conn, acme.id, first.id, true).unwrap();
    assert!(
        users::find_or_create(&mut conn, acme.id, "alice")
            .unwrap()
            .disabled
    );
}

#[test]
fn a_resource_goes_from_pending_to_active_to_deleted() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    let alice = users::find_or_create(&mut conn, acme.id, "alice").unwrap();
    let new = NewResource {
        tenant_id: acme.id,
        kind: ResourceKind::Thread,
        upstream_profile: "default",
        owner: Owner::User(alice.id),
        parent_id: None,
        request_id: Some("req-1"),
        attributes: serde_json::json!({}),
    };

    let id = resources::insert_pending(&mut conn, &new).unwrap();
    let thread_id = upstream_id("thread_abc");
    // Not findable by upstream id until the upstream has answered.
    assert!(matches!(
        resources::find_by_upstream_id(&mut conn, acme.id, ResourceKind::Thread, &thread_id, None),
        Err(StorageError::NotFound)
    ));

    resources::activate(&mut conn, acme.id, id, &thread_id).unwrap();
    let found =
        resources::find_by_upstream_id(&mut conn, acme.id, ResourceKind::Thread, &thread_id, None)
            .unwrap();
    assert_eq!(found.facts.id, id);
    assert_eq!(found.facts.owner, Owner::User(alice.id));
    assert_eq!(found.facts.state, LifecycleState::Active);
    assert_eq!(found.upstream_id.as_ref(), Some(&thread_id));
    // Activating twice is refused: the row is no longer pending.
    assert!(matches!(
        resources::activate(&mut conn, acme.id, id, &thread_id),
        Err(StorageError::NotFound)
    ));

    resources::mark_deleting(&mut conn, acme.id, id).unwrap();
    resources::mark_deleted(&mut conn, acme.id, id).unwrap();
    let gone =
        resources::find_by_upstream_id(&mut conn, acme.id, ResourceKind::Thread, &thread_id, None)
            .unwrap();
    assert_eq!(gone.facts.state, LifecycleState::Deleted);
}

#[test]
fn the_authorization_lookup_never_crosses_tenants_or_kinds() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    let globex = tenant(&mut conn, "globex");
    let file_id = upstream_id("file-123");
    resources::record_existing(
        &mut conn,
        &resource(acme.id, ResourceKind::File, Owner::Tenant),
        &file_id,
    )
    .unwrap();

    let lookup = |conn: &mut PgConnection, tenant_id: TenantId, kind| {
        resources::find_by_upstream_id(conn, tenant_id, kind, &file_id, None)
    };
    assert!(lookup(&mut conn, acme.id, ResourceKind::File).is_ok());
    assert!(matches!(
        lookup(&mut conn, globex.id, ResourceKind::File),
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        lookup(&mut conn, acme.id, ResourceKind::VectorStore),
        Err(StorageError::NotFound)
    ));
}

#[test]
fn recording_an_object_seen_again_keeps_its_first_owner() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    let alice = users::find_or_create(&mut conn, acme.id, "alice").unwrap();
    let bob = users::find_or_create(&mut conn, acme.id, "bob").unwrap();
    let output = upstream_id("file-output");
    let record = |conn: &mut PgConnection, owner| {
        resources::record_existing(conn, &resource(acme.id, ResourceKind::File, owner), &output)
            .unwrap()
            .expect("the tenant's row")
    };
    let first = record(&mut conn, Owner::User(alice.id));
    let second = record(&mut conn, Owner::User(bob.id));
    assert_eq!(first.facts.id, second.facts.id);
    assert_eq!(second.facts.owner, Owner::User(alice.id));
}

#[test]
fn an_upstream_id_known_in_one_tenant_is_never_recorded_in_another() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    let globex = tenant(&mut conn, "globex");
    let mallory = users::find_or_create(&mut conn, globex.id, "mallory").unwrap();
    let store = upstream_id("vs_acme");
    assert!(
        resources::record_existing(
            &mut conn,
            &resource(acme.id, ResourceKind::VectorStore, Owner::Tenant),
            &store
        )
        .unwrap()
        .is_some()
    );
    for kind in [ResourceKind::VectorStore, ResourceKind::File] {
        let claimed = resources::record_existing(
            &mut conn,
            &resource(globex.id, kind, Owner::User(mallory.id)),
            &store,
        )
        .unwrap();
        assert_eq!(claimed, None, "{kind:?}");
    }
    assert_eq!(
        resources::known_anywhere(
            &mut conn,
            "default",
            &[store.clone(), upstream_id("vs_new")]
        )
        .unwrap(),
        vec![store.clone()]
    );
    let owner =
        resources::find_by_upstream_id(&mut conn, acme.id, ResourceKind::VectorStore, &store, None)
            .unwrap()
            .facts
            .owner;
    assert_eq!(owner, Owner::Tenant);
}

#[test]
fn the_lookup_answers_many_ids_in_the_order_asked_with_the_callers_grants() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    let alice = users::find_or_create(&mut conn, acme.id, "alice").unwrap();
    let bob = users::find_or_create(&mut conn, acme.id, "bob").unwrap();
    let mut wanted = Vec::new();
    for n in 0..5 {
        let id = upstream_id(&format!("file-{n}"));
        resources::record_existing(
            &mut conn,
            &resource(acme.id, ResourceKind::File, Owner::User(alice.id)),
            &id,
        )
        .unwrap();
        wanted.push((ResourceKind::File, id));
    }
    let shared =
        resources::find_by_upstream_id(&mut conn, acme.id, ResourceKind::File, &wanted[3].1, None)
            .unwrap();
    diesel::sql_query(format!(
        "INSERT INTO grants (tenant_id, id, resource_id, grantee_user_id, permission) \
         VALUES ('{}', gen_random_uuid(), '{}', '{}', 'read')",
        acme.id, shared.facts.id, bob.id
    ))
    .execute(&mut conn)
    .unwrap();
    wanted.insert(2, (ResourceKind::File, upstream_id("file-unknown")));
    wanted.push((ResourceKind::VectorStore, upstream_id("file-1")));

    let found = resources::find_many(&mut conn, acme.id, &wanted, Some(bob.id)).unwrap();
    let names: Vec<Option<&str>> = found
        .iter()
        .map(|r| {
            r.as_ref()
                .and_then(|r| r.upstream_id.as_ref())
                .map(UpstreamId::as_str)
        })
        .collect();
    assert_eq!(
        names,
        [
            Some("file-0"),
            Some("file-1"),
            None,
            Some("file-2"),
            Some("file-3"),
            Some("file-4"),
            None
        ]
    );
    let grants: Vec<usize> = found
        .iter()
        .flatten()
        .map(|r| r.facts.grants.len())
        .collect();
    assert_eq!(grants, [0, 0, 0, 1, 0], "only bob's grant on file-3");
}

#[test]
fn repository_calls_compose_in_one_transaction_and_roll_back_together() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let result: Result<(), StorageError> = conn.transaction(|conn| {
        let acme = tenant(conn, "acme");
        users::find_or_create(conn, acme.id, "alice")?;
        // Fails: the slug is taken inside this same transaction.
        tenants::create(
            conn,
            &NewTenant {
                slug: "acme",
                display_name: "dup",
                upstream_profile: "default",
            },
        )?;
        Ok(())
    });
    assert!(matches!(result, Err(StorageError::Conflict { .. })));
    assert_eq!(tenants::list(&mut conn).unwrap(), Vec::new());
}

#[test]
fn audit_events_can_be_appended_but_never_changed_or_removed() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    audit::append_many(
        &mut conn,
        &[AuditEvent {
            occurred_at: chrono::Utc::now(),
            tenant_id: Some(acme.id),
            request_id: Some("req-1".to_owned()),
            trace_id: None,
            actor_user_id: None,
            actor_api_key_id: None,
            auth_method: Some("token"),
            action: "read".to_owned(),
            resource_kind: Some("thread"),
            resource_id: None,
            upstream_id: Some("thread_x".to_owned()),
            outcome: Outcome::Deny,
            reason: Some("not_owner".to_owned()),
            details: serde_json::json!({}),
        }],
    )
    .unwrap();
    assert_eq!(audit::count_for_tenant(&mut conn, acme.id).unwrap(), 1);

    for statement in [
        "UPDATE audit_events SET outcome = 'allow'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn);
        assert!(refused.is_err(), "{statement} was allowed");
    }
    assert_eq!(audit::count_for_tenant(&mut conn, acme.id).unwrap(), 1);
}

#[tokio::test]
async fn the_pool_runs_work_off_the_async_workers_and_transactions_commit() {
    let database = TestDatabase::create();
    let pool = storage::Database::new(database.url(), &storage::PoolSettings::default());
    let created = pool
        .transaction("test.create", |conn| {
            let acme = tenants::create(
                conn,
                &NewTenant {
                    slug: "acme",
                    display_name: "Acme",
                    upstream_profile: "default",
                },
            )?;
            users::find_or_create(conn, acme.id, "alice")?;
            Ok(acme)
        })
        .await
        .unwrap();
    let found = pool
        .run("test.find", move |conn| tenants::find(conn, created.id))
        .await
        .unwrap();
    assert_eq!(found.slug, "acme");
}

#[tokio::test]
async fn an_unreachable_database_is_reported_as_unavailable() {
    let settings = storage::PoolSettings {
        acquire_timeout: std::time::Duration::from_millis(300),
        ..storage::PoolSettings::default()
    };
    // Port 1 on loopback: nothing listens there.
    let pool = storage::Database::new("postgres://nobody@127.0.0.1:1/none", &settings);
    let error = pool
        .run("test.unreachable", tenants::list)
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

#[test]
fn an_idempotency_key_runs_once_lapses_when_abandoned_and_expires() {
    use chrono::Duration;
    use storage::repo::idempotency::{self, Claim, KeyedRequest, Lifetimes, StoredResponse};

    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    let acme = tenant(&mut conn, "acme");
    let request = KeyedRequest {
        tenant_id: acme.id,
        principal_id: uuid::Uuid::now_v7(),
        key: "retry-1".to_owned(),
        request_sha256: [1; 32],
        request_id: "first-attempt".to_owned(),
    };
    let held = Lifetimes {
        lock_for: Duration::minutes(1),
        keep_for: Duration::hours(1),
    };
    let claim = |conn: &mut PgConnection, request: &KeyedRequest, lifetimes| {
        idempotency::claim(conn, request, lifetimes).unwrap()
    };

    assert_eq!(claim(&mut conn, &request, held), Claim::Acquired);
    assert_eq!(claim(&mut conn, &request, held), Claim::InProgress);
    let other_body = KeyedRequest {
        request_sha256: [2; 32],
        ..request.clone()
    };
    assert_eq!(claim(&mut conn, &other_body, held), Claim::Mismatch);
    let answer = StoredResponse {
        status: 200,
        body: br#"{"id":"thread_1"}"#.to_vec(),
    };
    idempotency::complete(&mut conn, &request, &request.request_id, &answer).unwrap();
    assert_eq!(claim(&mut conn, &request, held), Claim::Completed(answer));
    // Releasing a completed key changes nothing.
    idempotency::release(&mut conn, &request).unwrap();
    assert!(matches!(
        claim(&mut conn, &request, held),
        Claim::Completed(_)
    ));

    // A holder that never finishes: its claim lapses and a retry takes
    // over, told which attempt it takes over from.
    let abandoned = KeyedRequest {
        key: "abandoned".to_owned(),
        ..request.clone()
    };
    let lapsing = Lifetimes {
        lock_for: Duration::zero(),
        keep_for: Duration::hours(1),
    };
    assert_eq!(claim(&mut conn, &abandoned, lapsing), Claim::Acquired);
    let retry = KeyedRequest {
        request_id: "second-attempt".to_owned(),
        ..abandoned.clone()
    };
    assert_eq!(
        claim(&mut conn, &retry, held),
        Claim::TakenOver {
            holder_request_id: Some("first-attempt".to_owned())
        }
    );
    assert_eq!(claim(&mut conn, &abandoned, held), Claim::InProgress);
    // Until the retry runs itself, the key stays bound to the first attempt:
    // a retry that dies while resolving leaves the next one the same task.
    assert!(!idempotency::hold(&mut conn, &retry, Some("someone-else")).unwrap());
    assert!(idempotency::hold(&mut conn, &retry, Some("first-attempt")).unwrap());
    // The first attempt, come back, can no longer release the retry's key.
    idempotency::release(&mut conn, &abandoned).unwrap();
    assert_eq!(claim(&mut conn, &abandoned, held), Claim::InProgress);

    // A holder that ended without a known outcome: the next retry takes
    // over at once, however long the lock was meant to last.
    let unknown = KeyedRequest {
        key: "unknown".to_owned(),
        ..request.clone()
    };
    assert_eq!(claim(&mut conn, &unknown, held), Claim::Acquired);
    idempotency::mark_unknown(&mut conn, &unknown, &unknown.request_id).unwrap();
    assert_eq!(
        claim(
            &mut conn,
            &KeyedRequest {
                request_id: "later".to_owned(),
                ..unknown.clone()
            },
            held
        ),
        Claim::TakenOver {
            holder_request_id: Some("first-attempt".to_owned())
        }
    );
    assert_eq!(claim(&mut conn, &unknown, held), Claim::InProgress);

    // An expired key is purged, and until then starts over for any request.
    let expiring = KeyedRequest {
        key: "expiring".to_owned(),
        ..request.clone()
    };
    let expired = Lifetimes {
        lock_for: Duration::zero(),
        keep_for: Duration::zero(),
    };
    assert_eq!(claim(&mut conn, &expiring, expired), Claim::Acquired);
    assert_eq!(
        claim(&mut conn, &other_body_of(&expiring), held),
        Claim::Acquired
    );
    assert_eq!(idempotency::purge_expired(&mut conn).unwrap(), 0);
    assert_eq!(claim(&mut conn, &expiring, expired), Claim::Mismatch);
    let expired_again = KeyedRequest {
        key: "expired-again".to_owned(),
        ..request.clone()
    };
    assert_eq!(claim(&mut conn, &expired_again, expired), Claim::Acquired);
    assert_eq!(idempotency::purge_expired(&mut conn).unwrap(), 1);
    assert_eq!(
        claim(&mut conn, &request, held),
        Claim::Completed(StoredResponse {
            status: 200,
            body: br#"{"id":"thread_1"}"#.to_vec(),
        })
    );
}

fn other_body_of(
    request: &storage::repo::idempotency::KeyedRequest,
) -> storage::repo::idempotency::KeyedRequest {
    storage::repo::idempotency::KeyedRequest {
        request_sha256: [9; 32],
        ..request.clone()
    }
}
