//! What the caller sees when the upstream fails, and what is left behind.

use domain::ListScope;
use serde_json::json;
use storage::repo::resources::{self, PageQuery};
use threadgate_tests::TestApp;

#[actix_web::test]
async fn upstream_failures_are_mapped_and_never_leak_the_upstream() {
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
    let path = format!("/v1/threads/{thread}");

    app.upstream_fault(json!({"fault": "429:retry-after=7", "times": 1}))
        .await;
    let limited = app.call(&alice, "GET", &path, None).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "7");
    assert_eq!(limited.body["error"]["code"], "rate_limit_exceeded");

    app.upstream_fault(json!({"fault": "500", "times": 1}))
        .await;
    let failed = app.call(&alice, "GET", &path, None).await;
    assert_eq!(failed.status, 502);
    let text = failed.body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("emulator-key"),
        "{text}"
    );

    app.upstream_fault(json!({"fault": "content-filter", "times": 1}))
        .await;
    let filtered = app
        .call(
            &alice,
            "POST",
            &format!("{path}/messages"),
            Some(json!({"role": "user", "content": "x"})),
        )
        .await;
    assert_eq!(filtered.status, 400);
    assert_eq!(filtered.body["error"]["code"], "content_filter");
    app.stop().await;
}

#[actix_web::test]
async fn timeouts_are_504_and_an_unknown_create_outcome_stays_pending() {
    let app = TestApp::spawn_with_impatient_upstream().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.upstream_fault(json!({"fault": "latency:ms=1500", "times": 1}))
        .await;
    let slow = app
        .call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
        .await;
    assert_eq!(slow.status, 504);

    app.upstream_fault(
        json!({"fault": "latency:ms=1500", "times": 1, "path": "/threads", "method": "POST"}),
    )
    .await;
    let unknown = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await;
    assert_eq!(unknown.status, 504);

    // A refused create leaves nothing behind.
    app.upstream_fault(json!({"fault": "500", "times": 1, "path": "/threads", "method": "POST"}))
        .await;
    assert_eq!(
        app.call(&alice, "POST", "/v1/threads", Some(json!({})))
            .await
            .status,
        502
    );

    let tenant = app.admin.tenant("acme").await.unwrap();
    let database = app.stop().await.unwrap();
    let mut conn = storage::connect(database.url()).unwrap();
    let alice_id = storage::repo::users::find_or_create(&mut conn, tenant.id, "alice")
        .unwrap()
        .id;
    let (active, _) = resources::list(
        &mut conn,
        tenant.id,
        ListScope::OwnedBy(alice_id),
        domain::ResourceKind::Thread,
        &PageQuery {
            limit: 10,
            newest_first: true,
            after: None,
            before: None,
            attribute_equals: None,
        },
    )
    .unwrap();
    assert_eq!(active.len(), 1, "only the first thread is active");
    let pending: i64 = diesel::RunQueryDsl::get_result(
        diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT count(*) FROM resources WHERE state = 'pending' AND request_id IS NOT NULL",
        ),
        &mut conn,
    )
    .unwrap();
    assert_eq!(
        pending, 1,
        "the create with an unknown outcome is left pending for a reconciler; the refused one is gone"
    );
}

#[actix_web::test]
async fn an_open_circuit_answers_503() {
    let app = TestApp::spawn_with_upstream(
        json!({"circuit_breaker": {"failure_threshold": 1, "open_for": "1h"}}),
    )
    .await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.upstream_fault(json!({"fault": "500", "times": 1}))
        .await;
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        502
    );
    let open = app
        .call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
        .await;
    assert_eq!(open.status, 503);
    app.stop().await;
}

#[actix_web::test]
async fn each_finished_runs_usage_is_recorded_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    let alice = app.token("acme", "alice");
    let run = app
        .call(&alice, "POST", "/v1/threads/runs",
              Some(json!({"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": "count my tokens"}]}})))
        .await;
    let (thread, run_id) = (
        run.body["thread_id"].as_str().unwrap().to_owned(),
        run.body["id"].as_str().unwrap().to_owned(),
    );
    let finished = app.finished_run(&alice, &thread, &run_id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    let total = finished["usage"]["total_tokens"].as_i64().unwrap();
    // Seen again in the run list: still one record.
    app.call(&alice, "GET", &format!("/v1/threads/{thread}/runs"), None)
        .await;
    let tenant = app.admin.tenant("acme").await.unwrap();
    let database = app.stop().await.unwrap();
    let mut conn = storage::connect(database.url()).unwrap();
    assert_eq!(
        storage::repo::usage::total_for_tenant(&mut conn, tenant.id).unwrap(),
        total
    );
}
