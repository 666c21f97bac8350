//! `Idempotency-Key`: a retried create runs once, and a key never leaks one
//! caller's answer to another.

use serde_json::json;
use threadgate_tests::{Answer, TestApp};

async fn create_thread(app: &TestApp, token: &str, key: &str, title: &str) -> Answer {
    app.call_with_headers(
        token,
        "POST",
        "/v1/threads",
        Some(json!({"metadata": {"title": title}})),
        &[("Idempotency-Key", key)],
    )
    .await
}

fn thread_creations(app: &TestApp) -> usize {
    app.upstream_requests()
        .iter()
        .filter(|entry| entry.method == "POST" && entry.path.ends_with("/threads"))
        .count()
}

#[actix_web::test]
async fn a_retried_create_runs_once_and_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");

    let first = create_thread(&app, &alice, "retry-1", "plans").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let retried = create_thread(&app, &alice, "retry-1", "plans").await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(retried.body, first.body);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(retried.headers["cache-control"], "no-store");
    assert_eq!(thread_creations(&app), 1);

    let other_key = create_thread(&app, &alice, "retry-2", "plans").await;
    assert_eq!(other_key.status, 200);
    assert_ne!(other_key.body["id"], first.body["id"]);
    assert_eq!(thread_creations(&app), 2);

    assert_eq!(
        replay_audit(app).await,
        vec![("allow".to_owned(), None)],
        "the replay is audited"
    );
}

/// Outcome and reason of each audited replay or refusal, oldest first.
async fn replay_audit(app: TestApp) -> Vec<(String, Option<String>)> {
    let tenant = app.admin.tenant("acme").await.unwrap();
    let database = app.stop().await.unwrap();
    let mut conn = storage::connect(database.url()).unwrap();
    storage::repo::audit::list_for_tenant(&mut conn, tenant.id)
        .unwrap()
        .into_iter()
        .filter(|event| event.action == "replay")
        .map(|event| (event.outcome, event.reason))
        .collect()
}

#[actix_web::test]
async fn a_key_reused_for_another_request_is_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");

    assert_eq!(
        create_thread(&app, &alice, "reused", "plans").await.status,
        200
    );
    let other_body = create_thread(&app, &alice, "reused", "other plans").await;
    assert_eq!(other_body.status, 400, "{:?}", other_body.body);
    assert_eq!(other_body.body["error"]["type"], "invalid_request_error");
    assert_eq!(thread_creations(&app), 1);

    let too_long = "k".repeat(256);
    let refused = create_thread(&app, &alice, &too_long, "plans").await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );

    assert_eq!(
        replay_audit(app).await,
        vec![("deny".to_owned(), Some("idempotency_key_reused".to_owned()))]
    );
}

#[actix_web::test]
async fn another_caller_with_the_same_key_never_gets_the_first_callers_answer() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let carol = app.token("globex", "carol");

    let alices = create_thread(&app, &alice, "shared-key", "plans").await;
    assert_eq!(alices.status, 200);
    for token in [&bob, &carol] {
        let theirs = create_thread(&app, token, "shared-key", "plans").await;
        assert_eq!(theirs.status, 200, "{:?}", theirs.body);
        assert_ne!(theirs.body["id"], alices.body["id"]);
        assert!(theirs.headers.get("idempotent-replayed").is_none());
    }
    assert_eq!(thread_creations(&app), 3);

    let unauthenticated = create_thread(&app, "not-a-token", "shared-key", "plans").await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(thread_creations(&app), 3);
}

#[actix_web::test]
async fn a_failed_attempt_lets_the_retry_run() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");

    app.upstream_fault(json!({"fault": "500", "times": 1}))
        .await;
    let failed = create_thread(&app, &alice, "after-failure", "plans").await;
    assert_eq!(failed.status, 502, "{:?}", failed.body);
    let retried = create_thread(&app, &alice, "after-failure", "plans").await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert!(retried.headers.get("idempotent-replayed").is_none());
    let fetched = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{}", retried.body["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(fetched.status, 200);
}

#[actix_web::test]
async fn a_streamed_run_passes_through_and_releases_its_key() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let assistant = app.assistant("acme").await;
    let thread = create_thread(&app, &alice, "thread-for-stream", "plans").await;
    let path = format!("/v1/threads/{}/runs", thread.body["id"].as_str().unwrap());

    let mut run_ids = Vec::new();
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .post(app.url(&path))
            .bearer_auth(&alice)
            .header("Idempotency-Key", "stream-key")
            .json(&json!({"assistant_id": assistant, "stream": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let events = response.text().await.unwrap();
        assert!(events.contains("thread.run.completed"), "{events}");
        let created = events
            .lines()
            .skip_while(|line| *line != "event: thread.run.created")
            .nth(1)
            .and_then(|line| line.strip_prefix("data: "))
            .map(|data| serde_json::from_str::<serde_json::Value>(data).unwrap())
            .unwrap();
        run_ids.push(created["id"].as_str().unwrap().to_owned());
    }
    assert_ne!(run_ids[0], run_ids[1]);
}

/// Another replica took the key and crashed mid-request: retries are refused
/// while its claim holds, and run once it lapses.
#[actix_web::test]
async fn a_crashed_holders_claim_refuses_retries_until_it_lapses() {
    use sha2::{Digest, Sha256};
    use storage::repo::idempotency::{self, KeyedRequest, Lifetimes};

    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let tenant = app.admin.tenant("acme").await.unwrap();
    let body = serde_json::to_vec(&json!({"metadata": {"title": "plans"}})).unwrap();
    let mut hasher = Sha256::new();
    hasher.update(b"POST\0/v1/threads\0");
    hasher.update(&body);
    let request_sha256 = hasher.finalize().into();
    app.admin
        .database
        .run("test.claim", move |conn| {
            let alice = storage::repo::users::find_or_create(conn, tenant.id, "alice")?;
            let keyed = KeyedRequest {
                tenant_id: tenant.id,
                principal_id: alice.id.as_uuid(),
                key: "crashed".to_owned(),
                request_sha256,
                request_id: "a-crashed-attempt".to_owned(),
            };
            let held = Lifetimes {
                lock_for: chrono::Duration::minutes(1),
                keep_for: chrono::Duration::hours(1),
            };
            idempotency::claim(conn, &keyed, held)
        })
        .await
        .unwrap();

    let refused = create_thread(&app, &alice, "crashed", "plans").await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(thread_creations(&app), 0);

    app.admin
        .database
        .run("test.lapse", |conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE idempotency_keys SET locked_until = now()").execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let retried = create_thread(&app, &alice, "crashed", "plans").await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(thread_creations(&app), 1);
    let replayed = create_thread(&app, &alice, "crashed", "plans").await;
    assert_eq!(replayed.body["id"], retried.body["id"]);
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
}

/// A create whose answer never came (the upstream answered after Threadgate
/// gave up), retried with its key: the retry answers the object the first
/// attempt made. Before, the key was released on the 504 and the retry made
/// a second object.
#[actix_web::test]
async fn a_retry_after_an_unknown_outcome_answers_the_first_object_and_makes_no_second() {
    let app = TestApp::spawn_with_impatient_upstream().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let create = || {
        app.call_with_headers(
            &alice,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "once"})),
            &[("Idempotency-Key", "store-1")],
        )
    };
    app.upstream_fault(
        json!({"fault": "latency:ms=600", "times": 1, "path": "/vector_stores", "method": "POST"}),
    )
    .await;
    let first = create().await;
    assert_eq!(first.status, 504, "{:?}", first.body);
    let made = app
        .poll("the late vector store to exist upstream", || async {
            let stores = app.emulator.inventory().vector_stores;
            (stores.len() == 1).then(|| stores[0].clone())
        })
        .await;

    let retried = create().await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(retried.body["id"], made.as_str());
    assert_eq!(retried.body["name"], "once");
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert!(
        retried.body["metadata"]
            .as_object()
            .is_some_and(|metadata| metadata.is_empty()),
        "the stamp stays hidden: {:?}",
        retried.body
    );
    let again = create().await;
    assert_eq!(again.body["id"], made.as_str());
    assert_eq!(
        app.emulator.inventory().vector_stores,
        std::slice::from_ref(&made)
    );
    // It is alice's.
    let read = app
        .call(&alice, "GET", &format!("/v1/vector_stores/{made}"), None)
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    app.stop().await;
}

/// Threads cannot be listed upstream, so whether a thread create whose
/// answer never came made a thread cannot be known: its retry is refused
/// (409) rather than run again, and no second thread is made.
#[actix_web::test]
async fn a_retried_thread_create_with_an_unknown_outcome_is_refused_not_repeated() {
    let app = TestApp::spawn_with_impatient_upstream().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    app.upstream_fault(
        json!({"fault": "latency:ms=600", "times": 1, "path": "/threads", "method": "POST"}),
    )
    .await;
    let first = create_thread(&app, &alice, "thread-1", "plans").await;
    assert_eq!(first.status, 504, "{:?}", first.body);
    for _ in 0..2 {
        let retried = create_thread(&app, &alice, "thread-1", "plans").await;
        assert_eq!(retried.status, 409, "{:?}", retried.body);
    }
    assert_eq!(thread_creations(&app), 1, "no second thread");
    app.stop().await;
}

/// A message whose create was answered too late, retried with its key: the
/// retry answers the message the first attempt made (found in the thread
/// by the attempt's request id) instead of adding a second.
#[actix_web::test]
async fn a_retried_message_with_an_unknown_outcome_is_found_not_added_again() {
    let app = TestApp::spawn_with_impatient_upstream().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let path = format!("/v1/threads/{thread}/messages");
    let add = || {
        app.call_with_headers(
            &alice,
            "POST",
            &path,
            Some(json!({"role": "user", "content": "only once"})),
            &[("Idempotency-Key", "message-1")],
        )
    };
    app.upstream_fault(
        json!({"fault": "latency:ms=600", "times": 1, "path": "/messages", "method": "POST"}),
    )
    .await;
    let first = add().await;
    assert_eq!(first.status, 504, "{:?}", first.body);
    let made = app
        .poll("the late message to exist", || async {
            let listed = app.call(&alice, "GET", &path, None).await;
            listed.body["data"][0]["id"].as_str().map(str::to_owned)
        })
        .await;
    let retried = add().await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(retried.body["id"], made.as_str());
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert!(
        retried.body["metadata"]
            .as_object()
            .is_some_and(|metadata| metadata.is_empty()),
        "the stamp stays hidden: {:?}",
        retried.body
    );
    let listed = app.call(&alice, "GET", &path, None).await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "one message"
    );
    app.stop().await;
}

/// An upload with an `Idempotency-Key`, sent again: the same file, not a
/// second one; the key with another file name is refused. Its answer lost
/// to a timeout, the retry uploads again: a file has nothing that proves
/// which upstream file the first attempt made, so it is never adopted by
/// its name (another tenant's could have it); the first attempt's file is
/// an orphan the reconciler deletes.
#[actix_web::test]
async fn keyed_uploads_are_made_once() {
    let app = TestApp::spawn_with_impatient_upstream().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let (server, alice) = (&app, alice.as_str());
    let upload = move |key: &'static str, name: &'static str| async move {
        server
            .upload(
                alice,
                "assistants",
                name,
                b"twice?",
                &[("Idempotency-Key", key)],
            )
            .await
    };

    let first = upload("upload-1", "a.txt").await;
    let again = upload("upload-1", "a.txt").await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(upload("upload-1", "b.txt").await.status, 400);

    app.upstream_fault(
        json!({"fault": "latency:ms=600", "times": 1, "path": "/files", "method": "POST"}),
    )
    .await;
    let lost = upload("upload-2", "late.txt").await;
    assert_eq!(lost.status, 504, "{:?}", lost.body);
    let made = app
        .poll("the late file to exist upstream", || async {
            let files = app.emulator.inventory().files;
            (files.len() == 2).then(|| {
                files
                    .into_iter()
                    .find(|id| first.body["id"] != id.as_str())
                    .unwrap()
            })
        })
        .await;
    let retried = upload("upload-2", "late.txt").await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_ne!(
        retried.body["id"],
        made.as_str(),
        "never adopted by its name"
    );
    let again = upload("upload-2", "late.txt").await;
    assert_eq!(again.body["id"], retried.body["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let report = threadgate_server::reconcile::run(
        &app.admin,
        std::time::Duration::ZERO,
        threadgate_server::reconcile::Orphans::Delete,
    )
    .await
    .unwrap();
    assert_eq!(report.orphans_deleted, 1, "{report:?}");
    let made = retried.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.emulator.inventory().files.len(),
        2,
        "the orphan is gone"
    );
    let read = app
        .call(alice, "GET", &format!("/v1/files/{made}"), None)
        .await;
    assert_eq!(read.status, 200, "the file is alice's: {:?}", read.body);
    app.stop().await;
}
