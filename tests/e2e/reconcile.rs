//! What a crash or a silent upstream leaves between two steps is settled by
//! the reconciler.

// The test plays a crashed process that had already reached the upstream.
#![allow(clippy::disallowed_methods)]

use serde_json::json;
use threadgate_server::reconcile;
use threadgate_tests::TestApp;
use upstream::{Operation, UpstreamError, UpstreamRequest};

#[actix_web::test]
async fn unsettled_deletes_are_finished_and_unknown_creates_are_discarded() {
    let app = TestApp::spawn_with_upstream(json!({
        "timeouts": {"request": "300ms"},
        "circuit_breaker": {"failure_threshold": 100},
    }))
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

    // The upstream fails the delete: the thread is gone for readers at once,
    // but still exists upstream.
    app.upstream_fault(json!({"fault": "500", "times": 1, "method": "DELETE"}))
        .await;
    assert_eq!(
        app.call(&alice, "DELETE", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        502
    );
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        404
    );
    // A create whose answer never came.
    app.upstream_fault(
        json!({"fault": "latency:ms=1500", "times": 1, "path": "/threads", "method": "POST"}),
    )
    .await;
    assert_eq!(
        app.call(&alice, "POST", "/v1/threads", Some(json!({})))
            .await
            .status,
        504
    );

    let report = reconcile::run(&app.admin, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        report,
        reconcile::Report {
            deleted: 1,
            discarded: 1,
            failed: 0,
            expired_idempotency_keys: 0,
        }
    );

    let id = domain::UpstreamId::parse(thread.as_str()).unwrap();
    let upstream = app.admin.upstreams.get("default").unwrap();
    let gone = upstream
        .call::<serde_json::Value>(UpstreamRequest::new(Operation::GetThread, &[&id]))
        .await;
    assert!(matches!(gone, Err(UpstreamError::NotFound(_))), "{gone:?}");
    // Nothing is left to settle.
    let again = reconcile::run(&app.admin, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again, reconcile::Report::default());
    app.stop().await;
}
