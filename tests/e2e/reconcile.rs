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

    let report = reconcile::run(
        &app.admin,
        std::time::Duration::ZERO,
        reconcile::Orphans::Delete,
    )
    .await
    .unwrap();
    assert_eq!(
        report,
        reconcile::Report {
            deleted: 1,
            discarded: 1,
            // A thread cannot be found by listing: its create stays unknown.
            unresolved_threads: 1,
            ..reconcile::Report::default()
        }
    );

    let id = domain::UpstreamId::parse(thread.as_str()).unwrap();
    let upstream = app.admin.upstreams.get("default").unwrap();
    let gone = upstream
        .call::<serde_json::Value>(UpstreamRequest::new(Operation::GetThread, &[&id]))
        .await;
    assert!(matches!(gone, Err(UpstreamError::NotFound(_))), "{gone:?}");
    // Nothing is left to settle.
    let again = reconcile::run(
        &app.admin,
        std::time::Duration::ZERO,
        reconcile::Orphans::Delete,
    )
    .await
    .unwrap();
    assert_eq!(again, reconcile::Report::default());
    app.stop().await;
}

/// Creates whose answer never came (the process crashed, or the upstream
/// answered too late) leave an object upstream that nobody can reach.
/// Before, the reconciler discarded their rows and the objects stayed,
/// orphaned. Now it finds them: a stamped object becomes its owner's, an
/// unclaimed one is deleted; nothing listable is left without a row.
#[actix_web::test]
async fn the_reconciler_adopts_or_deletes_what_unanswered_creates_left_upstream() {
    let app = TestApp::spawn_with_impatient_upstream().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let admin = app.admin_token("acme", "root");
    for (token, path, body) in [
        (&alice, "/v1/vector_stores", json!({"name": "late"})),
        (
            &admin,
            "/v1/assistants",
            json!({"model": "gpt-4o", "name": "late"}),
        ),
    ] {
        app.upstream_fault(json!({"fault": "latency:ms=600", "times": 1, "path": path.trim_start_matches("/v1"), "method": "POST"}))
            .await;
        let answer = app.call(token, "POST", path, Some(body)).await;
        assert_eq!(answer.status, 504, "{path}: {:?}", answer.body);
    }
    app.upstream_fault(
        json!({"fault": "latency:ms=600", "times": 1, "path": "/files", "method": "POST"}),
    )
    .await;
    let upload = app
        .upload(&alice, "assistants", "late.txt", b"late", &[])
        .await;
    assert_eq!(upload.status, 504, "{:?}", upload.body);
    // The upstream makes them after the answer was given up on.
    app.poll("the late objects to exist upstream", || async {
        let held = app.emulator.inventory();
        let made = held.vector_stores.len() + held.assistants.len() + held.files.len();
        (made == 3).then_some(())
    })
    .await;

    let report = reconcile::run(
        &app.admin,
        std::time::Duration::ZERO,
        reconcile::Orphans::Delete,
    )
    .await
    .unwrap();
    assert_eq!(report.adopted, 2, "{report:?}");
    assert_eq!(
        report.orphans_deleted, 1,
        "the file carries no stamp: {report:?}"
    );
    assert_eq!(report.discarded, 1, "the upload's row: {report:?}");

    // The vector store is alice's now, the assistant the tenant's.
    let stores = app.call(&alice, "GET", "/v1/vector_stores", None).await;
    assert_eq!(stores.body["data"][0]["name"], "late", "{:?}", stores.body);
    assert!(
        stores.body["data"][0]["metadata"]
            .as_object()
            .is_some_and(|metadata| metadata.is_empty()),
        "the stamp stays hidden: {:?}",
        stores.body
    );
    let assistants = app.call(&alice, "GET", "/v1/assistants", None).await;
    assert_eq!(assistants.body["data"][0]["name"], "late");
    // Nothing listable upstream is without a row.
    assert!(app.emulator.inventory().files.is_empty());
    assert_eq!(app.emulator.inventory().vector_stores.len(), 1);
    assert_eq!(app.emulator.inventory().assistants.len(), 1);
    // A second pass finds nothing to do.
    let again = reconcile::run(
        &app.admin,
        std::time::Duration::ZERO,
        reconcile::Orphans::Delete,
    )
    .await
    .unwrap();
    assert_eq!(again, reconcile::Report::default());
    app.stop().await;
}

/// With `retention_days` set, the reconciler deletes conversation state
/// older than that (and what it produced), upstream and here, audited as
/// `retention`; younger state and other tenants' stay.
#[actix_web::test]
async fn conversation_state_past_retention_is_deleted_and_audited() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let carol = app.token("globex", "carol");
    let set = app
        .call(
            &admin,
            "POST",
            "/v1/organization/policy",
            Some(json!({"retention_days": 1})),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let old_thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let old_response = app
        .call(
            &alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "old"})),
        )
        .await
        .id();
    let carols = app
        .call(&carol, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    // Two days pass for everything made so far.
    app.admin
        .database
        .run("test.age", |conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE resources SET created_at = now() - interval '2 days'")
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let young = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();

    let report = reconcile::run(
        &app.admin,
        std::time::Duration::from_secs(3600),
        reconcile::Orphans::Report,
    )
    .await
    .unwrap();
    assert_eq!(report.retained_deleted, 2, "{report:?}");
    for path in [
        format!("/v1/threads/{old_thread}"),
        format!("/v1/responses/{old_response}"),
    ] {
        assert_eq!(
            app.call(&alice, "GET", &path, None).await.status,
            404,
            "{path}"
        );
    }
    let inventory = app.emulator.inventory();
    assert!(!inventory.threads.contains(&old_thread));
    assert!(!inventory.responses.contains(&old_response));
    assert!(inventory.threads.contains(&young) && inventory.threads.contains(&carols));
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/threads/{young}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&carol, "GET", &format!("/v1/threads/{carols}"), None)
            .await
            .status,
        200,
        "another tenant keeps everything"
    );
    let audited = app
        .call(
            &admin,
            "GET",
            "/v1/organization/audit_logs?action=retention",
            None,
        )
        .await;
    assert_eq!(audited.body["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}
