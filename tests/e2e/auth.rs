//! Authentication: token attacks, API keys, disabled users, and the audit
//! trail of decisions.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use threadgate_server::dev_issuer::DevIssuer;
use threadgate_tests::TestApp;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn claims(app: &TestApp, tenant: &str) -> Value {
    json!({"iss": app.issuer.issuer(tenant), "sub": "mallory", "aud": "threadgate", "iat": now(), "nbf": now(), "exp": now() + 600})
}

async fn assert_refused(app: &TestApp, token: &str, attack: &str) {
    let answer = app.call(token, "GET", "/v1/threads", None).await;
    assert_eq!(answer.status, 401, "{attack}: {:?}", answer.body);
    assert_eq!(
        answer.headers["www-authenticate"], r#"Bearer error="invalid_token""#,
        "{attack}"
    );
    assert_eq!(
        answer.body["error"]["type"], "invalid_request_error",
        "{attack}"
    );
    assert!(answer.body["error"]["message"].is_string(), "{attack}");
}

#[actix_web::test]
async fn token_attacks_answer_401() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    // The genuine article works.
    assert_eq!(
        app.call(&app.token("acme", "alice"), "GET", "/v1/threads", None)
            .await
            .status,
        200
    );

    let valid = claims(&app, "acme");
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&valid)
    );
    assert_refused(&app, &none, "alg none").await;

    let public_pem = app.issuer.public_key_pem().unwrap();
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &valid,
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    assert_refused(&app, &hs256, "HS256 signed with the RSA public key").await;

    let mut expired = valid.clone();
    expired["exp"] = json!(now() - 3600);
    assert_refused(&app, &app.issuer.sign(&expired).unwrap(), "expired").await;

    let mut early = valid.clone();
    early["nbf"] = json!(now() + 3600);
    assert_refused(&app, &app.issuer.sign(&early).unwrap(), "nbf in the future").await;

    let mut elsewhere = valid.clone();
    elsewhere["iss"] = json!("https://login.example.com/evil");
    assert_refused(
        &app,
        &app.issuer.sign(&elsewhere).unwrap(),
        "unknown issuer",
    )
    .await;

    let mut audience = valid.clone();
    audience["aud"] = json!("someone-else");
    assert_refused(&app, &app.issuer.sign(&audience).unwrap(), "wrong audience").await;

    // Signed by a key the issuer never published (unknown kid), claiming acme.
    let stranger = DevIssuer::generate(&format!("{}/dev/oidc", app.address)).unwrap();
    assert_refused(&app, &stranger.sign(&valid).unwrap(), "unknown kid").await;

    let genuine = app.issuer.sign(&valid).unwrap();
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    let mut tampered = valid.clone();
    tampered["sub"] = json!("alice");
    parts[1] = b64(&tampered);
    assert_refused(&app, &parts.join("."), "tampered payload").await;

    assert_refused(&app, "not-a-token", "garbage").await;
    let missing = app.client.get(app.url("/v1/threads")).send().await.unwrap();
    assert_eq!(missing.status(), 401);

    // A genuine token of globex is globex's: acme's ids are unknown to it.
    let alice = app.token("acme", "alice");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol = app.token("globex", "carol");
    assert_eq!(
        app.call(&carol, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        404
    );
    app.stop().await;
}

#[actix_web::test]
async fn api_keys_authenticate_backends_and_act_on_behalf_of_users() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let backend = app
        .admin
        .create_api_key("acme", "web backend", false, true)
        .await
        .unwrap();
    let as_alice = app
        .client
        .get(app.url(&format!("/v1/threads/{thread}")))
        .bearer_auth(&backend.key)
        .header("Threadgate-On-Behalf-Of", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(as_alice.status(), 200);
    let as_bob = app
        .client
        .get(app.url(&format!("/v1/threads/{thread}")))
        .bearer_auth(&backend.key)
        .header("Threadgate-On-Behalf-Of", "bob")
        .send()
        .await
        .unwrap();
    assert_eq!(as_bob.status(), 404);
    // Without a user, a member key owns nothing and may create nothing.
    let alone = app
        .call(&backend.key, "POST", "/v1/threads", Some(json!({})))
        .await;
    assert_eq!(alone.status, 403);

    let plain = app
        .admin
        .create_api_key("acme", "no on-behalf", false, false)
        .await
        .unwrap();
    let refused = app
        .client
        .get(app.url("/v1/threads"))
        .bearer_auth(&plain.key)
        .header("Threadgate-On-Behalf-Of", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    app.admin
        .revoke_api_key("acme", &backend.prefix)
        .await
        .unwrap();
    // Revoked by the operator's CLI, which no replica hears of: refused
    // within the caller cache's bound.
    let took = refused_within(&app, "the revoked key to be refused", 401, || async {
        app.call(&backend.key, "GET", "/v1/threads", None)
            .await
            .status
    })
    .await;
    assert!(took <= CALLER_CACHE + POLL_SLACK, "refused after {took:?}");
    // Another last digit: never the same key by chance.
    let (kept, last) = plain.key.split_at(plain.key.len() - 1);
    let wrong_secret = format!("{kept}{}", if last == "0" { "1" } else { "0" });
    assert_eq!(
        app.call(&wrong_secret, "GET", "/v1/threads", None)
            .await
            .status,
        401
    );
    // Knowing a key's prefix is not enough to refresh its last use.
    let used = key_was_used(&app, &plain.prefix).await;
    assert!(used, "the genuine use above was recorded");
    let unused = app
        .admin
        .create_api_key("acme", "never used", false, false)
        .await
        .unwrap();
    let (kept, last) = unused.key.split_at(unused.key.len() - 1);
    let forged = format!("{kept}{}", if last == "0" { "1" } else { "0" });
    assert_eq!(
        app.call(&forged, "GET", "/v1/threads", None).await.status,
        401
    );
    let touched = key_was_used(&app, &unused.prefix).await;
    assert!(!touched, "a wrong secret must not record use");
    app.stop().await;
}

/// The bound on how long a remembered caller outlives a change made
/// elsewhere: `auth.caller_cache`'s default, and what a test allows beyond
/// it for the poll itself.
const CALLER_CACHE: Duration = Duration::from_secs(2);
const POLL_SLACK: Duration = Duration::from_secs(2);

/// Polls `probe` (bounded) until it answers `expected`; how long that took.
async fn refused_within<F, Fut>(app: &TestApp, what: &str, expected: u16, probe: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = u16>,
{
    let started = Instant::now();
    app.poll(what, || {
        let answered = probe();
        async move { (answered.await == expected).then_some(()) }
    })
    .await;
    started.elapsed()
}

/// A user disabled where this replica cannot see it (another replica, or
/// the database directly) is refused within the caller cache's bound.
#[actix_web::test]
async fn disabled_users_are_refused_within_the_caller_cache_bound() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    assert_eq!(
        app.call(&alice, "GET", "/v1/threads", None).await.status,
        200
    );
    let tenant = app.admin.tenant("acme").await.unwrap();
    app.admin
        .database
        .run("test.disable", move |conn| {
            let user = storage::repo::users::find_or_create(conn, tenant.id, "alice")?;
            storage::repo::users::set_disabled(conn, tenant.id, user.id, true)
        })
        .await
        .unwrap();
    let took = refused_within(&app, "alice to be refused", 403, || async {
        app.call(&alice, "GET", "/v1/threads", None).await.status
    })
    .await;
    assert!(took <= CALLER_CACHE + POLL_SLACK, "refused after {took:?}");
    let answer = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(answer.body["error"]["type"], "permission_error");
    app.stop().await;
}

/// A key revoked on one replica is refused there at once, and on another
/// replica (which remembered it) within the caller cache's bound; a user
/// disabled on one replica likewise.
#[actix_web::test]
async fn a_revoke_on_one_replica_binds_another_within_the_bound() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let replica = app.replica().await;
    let admin = app.admin_token("acme", "root");
    let key = app
        .call(
            &admin,
            "POST",
            "/v1/organization/api_keys",
            Some(json!({"name": "backend"})),
        )
        .await;
    let secret = key.body["value"].as_str().unwrap().to_owned();
    let bob = app.token("acme", "bob");
    for server in [&app, &replica] {
        // Remembered by both.
        assert_eq!(
            server.call(&secret, "GET", "/v1/models", None).await.status,
            200
        );
        assert_eq!(
            server.call(&bob, "GET", "/v1/threads", None).await.status,
            200
        );
    }
    let revoked = app
        .call(
            &admin,
            "DELETE",
            &format!(
                "/v1/organization/api_keys/{}",
                key.body["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        app.call(&secret, "GET", "/v1/models", None).await.status,
        401,
        "at once where it was revoked"
    );
    let took = refused_within(
        &replica,
        "the other replica to refuse the key",
        401,
        || async {
            replica
                .call(&secret, "GET", "/v1/models", None)
                .await
                .status
        },
    )
    .await;
    assert!(
        took <= CALLER_CACHE + POLL_SLACK,
        "the other replica refused after {took:?}"
    );

    let users = app
        .call(&admin, "GET", "/v1/organization/users", None)
        .await;
    let bob_id = users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["subject"] == "bob")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        &admin,
        "POST",
        &format!("/v1/organization/users/{bob_id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(app.call(&bob, "GET", "/v1/threads", None).await.status, 403);
    let took = refused_within(&replica, "the other replica to refuse bob", 403, || async {
        replica.call(&bob, "GET", "/v1/threads", None).await.status
    })
    .await;
    assert!(
        took <= CALLER_CACHE + POLL_SLACK,
        "the other replica refused after {took:?}"
    );
    replica.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn every_decision_is_audited_without_secrets() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
        .await;
    app.call(&bob, "GET", &format!("/v1/threads/{thread}"), None)
        .await;
    let tenant = app.admin.tenant("acme").await.unwrap();
    let database = app.stop().await.unwrap();

    let mut conn = storage::connect(database.url()).unwrap();
    let events = storage::repo::audit::list_for_tenant(&mut conn, tenant.id).unwrap();
    let summary: Vec<(String, String, Option<String>)> = events
        .iter()
        .map(|e| (e.action.clone(), e.outcome.clone(), e.reason.clone()))
        .collect();
    assert!(
        summary.contains(&("create".to_owned(), "allow".to_owned(), None)),
        "{summary:?}"
    );
    assert!(
        summary.contains(&("read".to_owned(), "allow".to_owned(), None)),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(
            "read".to_owned(),
            "deny".to_owned(),
            Some("not_owner".to_owned())
        )),
        "{summary:?}"
    );
    let denied = events.iter().find(|e| e.outcome == "deny").unwrap();
    assert_eq!(denied.upstream_id.as_deref(), Some(thread.as_str()));
    let dump = format!("{events:?}");
    assert!(
        !dump.contains(&alice[..40]) && !dump.contains(&bob[..40]),
        "no token in the audit trail"
    );
}

/// An identity provider of its own, counting how often its keys are fetched.
async fn counting_idp() -> (
    String,
    std::sync::Arc<DevIssuer>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    actix_web::dev::ServerHandle,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/dev/oidc", listener.local_addr().unwrap());
    let issuer = Arc::new(DevIssuer::generate(&base).unwrap());
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (issuer.clone(), fetches.clone());
    let server = actix_web::HttpServer::new(move || {
        let counted = counted.clone();
        actix_web::App::new()
            .wrap(actix_web::middleware::from_fn(
                move |request: actix_web::dev::ServiceRequest,
                      next: actix_web::middleware::Next<actix_web::body::BoxBody>| {
                    let counted = counted.clone();
                    async move {
                        if request.path().ends_with("/jwks.json") {
                            counted.fetch_add(1, Ordering::SeqCst);
                        }
                        next.call(request).await
                    }
                },
            ))
            .service(DevIssuer::service(actix_web::web::Data::from(
                served.clone(),
            )))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, issuer, fetches, handle)
}

#[actix_web::test]
async fn keys_are_cached_and_unknown_kids_cannot_make_us_hammer_the_identity_provider() {
    use std::sync::atomic::Ordering;

    let app = TestApp::spawn().await;
    let (_base, idp, fetches, idp_handle) = counting_idp().await;
    app.admin
        .create_tenant("ext", None, "default")
        .await
        .unwrap();
    app.admin
        .add_issuer(
            "ext",
            threadgate_server::admin::IssuerSpec {
                issuer: idp.issuer("ext"),
                audiences: vec!["threadgate".to_owned()],
                jwks_uri: Some(idp.jwks_uri("ext")),
                algorithms: vec!["RS256".to_owned()],
                subject_claim: "sub".to_owned(),
                admin_claim: None,
            },
        )
        .await
        .unwrap();

    for _ in 0..3 {
        let token = idp.mint("ext", "erin", false, 600).unwrap();
        assert_eq!(
            app.call(&token, "GET", "/v1/threads", None).await.status,
            200
        );
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "keys are fetched once and cached"
    );

    let forger = DevIssuer::generate("https://nowhere.example").unwrap();
    let forged = json!({"iss": idp.issuer("ext"), "sub": "erin", "aud": "threadgate", "iat": now(), "nbf": now(), "exp": now() + 600});
    for _ in 0..20 {
        let token = forger.sign(&forged).unwrap();
        assert_eq!(
            app.call(&token, "GET", "/v1/threads", None).await.status,
            401
        );
    }
    // The keys were fetched moments ago: within the cooldown an unknown kid
    // is refused without asking the identity provider again.
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "a flood of unknown kids does not reach the identity provider"
    );
    idp_handle.stop(false).await;
    app.stop().await;
}

/// Whether Threadgate has recorded a use of the key with `prefix`.
async fn key_was_used(app: &TestApp, prefix: &str) -> bool {
    let prefix = prefix.to_owned();
    app.admin
        .database
        .run("test.last_used", move |conn| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Used {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                used: bool,
            }
            let row: Used = diesel::sql_query(
                "SELECT last_used_at IS NOT NULL AS used FROM api_keys WHERE prefix = $1",
            )
            .bind::<diesel::sql_types::Text, _>(prefix)
            .get_result(conn)?;
            Ok(row.used)
        })
        .await
        .unwrap()
}

/// Azure's clients send a key in `api-key`; Threadgate reads a credential
/// there as in `Authorization: Bearer`, by the same rules. Two that
/// disagree are refused, and a refusal names the header it read.
#[actix_web::test]
async fn a_credential_in_the_api_key_header_counts_like_a_bearer_one() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let token = app.token("acme", "alice");
    let key = app
        .admin
        .create_api_key("acme", "azure backend", false, false)
        .await
        .unwrap()
        .key;
    let get = |headers: Vec<(&'static str, String)>| {
        let mut request = app.client.get(app.url("/v1/threads"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        threadgate_tests::Answer::of(request)
    };
    for credential in [&token, &key] {
        let answer = get(vec![("api-key", credential.clone())]).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let both = get(vec![
            ("api-key", credential.clone()),
            ("Authorization", format!("Bearer {credential}")),
        ])
        .await;
        assert_eq!(both.status, 200, "agreeing credentials: {:?}", both.body);
    }
    let disagreeing = get(vec![
        ("api-key", key.clone()),
        ("Authorization", format!("Bearer {token}")),
    ])
    .await;
    assert_eq!(disagreeing.status, 401);
    assert!(
        disagreeing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("different credentials"),
        "{:?}",
        disagreeing.body
    );
    let forged = get(vec![("api-key", format!("{key}x"))]).await;
    assert_eq!(forged.status, 401);
    assert!(
        forged.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api-key header"),
        "{:?}",
        forged.body
    );
    let forged = get(vec![("Authorization", format!("Bearer {token}x"))]).await;
    assert!(
        forged.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization header"),
        "{:?}",
        forged.body
    );
    let missing = get(vec![]).await;
    assert_eq!(missing.status, 401);
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api-key"),
        "{:?}",
        missing.body
    );
    app.stop().await;
}

/// An identity provider whose published key set the test replaces, as a
/// provider rotating its keys does.
/// Answers its base URL, the key set it publishes (empty until the test
/// sets one) and its handle.
async fn rotating_idp() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Value>>,
    actix_web::dev::ServerHandle,
) {
    use std::sync::{Arc, Mutex};

    let published = Arc::new(Mutex::new(json!({"keys": []})));
    let served = published.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/dev/oidc", listener.local_addr().unwrap());
    let server = actix_web::HttpServer::new(move || {
        let served = served.clone();
        actix_web::App::new().route(
            "/{tail:.*}",
            actix_web::web::get().to(move || {
                let keys = served.lock().unwrap().clone();
                async move { actix_web::HttpResponse::Ok().json(keys) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (base, published, handle)
}

/// A token is verified once and then remembered until it expires, but not
/// past its key: once the identity provider stops publishing the key that
/// signed it, the remembered token is verified again, and refused.
#[actix_web::test]
async fn a_remembered_token_is_verified_again_once_its_key_rotates_out() {
    // Without the caller cache every request reaches token verification;
    // without a refetch cooldown a new kid is fetched at once.
    let app =
        TestApp::spawn_with(json!({"auth": {"caller_cache": "0s", "jwks_refetch_cooldown": "0s"}}))
            .await;
    let (base, published, idp) = rotating_idp().await;
    let old_key = DevIssuer::generate(&base).unwrap();
    let new_key = DevIssuer::generate(&base).unwrap();
    *published.lock().unwrap() = old_key.jwks();
    app.admin
        .create_tenant("ext", None, "default")
        .await
        .unwrap();
    app.admin
        .add_issuer(
            "ext",
            threadgate_server::admin::IssuerSpec {
                issuer: old_key.issuer("ext"),
                audiences: vec!["threadgate".to_owned()],
                jwks_uri: Some(old_key.jwks_uri("ext")),
                algorithms: vec!["RS256".to_owned()],
                subject_claim: "sub".to_owned(),
                admin_claim: None,
            },
        )
        .await
        .unwrap();

    let signed_by_old = old_key.mint("ext", "erin", false, 600).unwrap();
    for _ in 0..2 {
        let answer = app.call(&signed_by_old, "GET", "/v1/threads", None).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    *published.lock().unwrap() = new_key.jwks();
    // A token of the new key makes Threadgate fetch the new key set.
    let signed_by_new = new_key.mint("ext", "erin", false, 600).unwrap();
    assert_eq!(
        app.call(&signed_by_new, "GET", "/v1/threads", None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&signed_by_old, "GET", "/v1/threads", None)
            .await
            .status,
        401,
        "a token whose key rotated out was still accepted from memory"
    );
    idp.stop(false).await;
    app.stop().await;
}

/// An issuer removed where a replica cannot see it is honoured within the
/// caller cache's bound, although the replica remembers its tokens as
/// verified until they expire.
#[actix_web::test]
async fn a_removed_issuer_binds_remembered_tokens_within_the_bound() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    assert_eq!(
        app.call(&alice, "GET", "/v1/threads", None).await.status,
        200
    );
    let tenant = app.admin.tenant("acme").await.unwrap();
    app.admin
        .database
        .run("test.remove_issuer", move |conn| {
            let issuers = storage::repo::identity_providers::list_for_tenant(conn, tenant.id)?;
            for issuer in issuers {
                storage::repo::identity_providers::remove(conn, tenant.id, issuer.id)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let took = refused_within(&app, "alice's token to be refused", 401, || async {
        app.call(&alice, "GET", "/v1/threads", None).await.status
    })
    .await;
    assert!(took <= CALLER_CACHE + POLL_SLACK, "refused after {took:?}");
    app.stop().await;
}
