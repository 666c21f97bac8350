//! Erasing a user: everything they own is deleted upstream (checked against
//! the emulator's own inventory), nothing of theirs stays readable by
//! anyone, and an erasure a failing upstream interrupts is finished by the
//! reconciler.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use threadgate_server::reconcile;
use threadgate_tests::TestApp;

/// Every id the emulator holds, of any kind.
fn upstream_ids(app: &TestApp) -> BTreeSet<String> {
    let inventory = app.emulator.inventory();
    [
        inventory.assistants,
        inventory.threads,
        inventory.files,
        inventory.vector_stores,
        inventory.conversations,
        inventory.responses,
        inventory.containers,
    ]
    .into_iter()
    .flatten()
    .collect()
}

async fn user_id(app: &TestApp, admin: &str, subject: &str) -> String {
    let users = app
        .call(admin, "GET", "/v1/organization/users?limit=100", None)
        .await;
    users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["subject"] == subject)
        .unwrap_or_else(|| panic!("no user {subject} in {:?}", users.body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn completed(app: &TestApp, admin: &str, erasure: &str) -> Value {
    let path = format!("/v1/organization/erasures/{erasure}");
    app.poll("the erasure to complete", || async {
        let current = app.call(admin, "GET", &path, None).await;
        assert_eq!(current.status, 200, "{:?}", current.body);
        (current.body["status"] == "completed").then_some(current.body)
    })
    .await
}

/// alice's threads (one whose output file nobody has read yet), messages,
/// runs, output files, uploads, a vector store, a conversation and a
/// response; what she owns is exactly what the emulator gained meanwhile.
async fn alices_world(app: &TestApp, alice: &str, assistant: &str) -> BTreeSet<String> {
    let before = upstream_ids(app);
    for content in ["chart #output-file", "again #output-file"] {
        let run = app
            .call(alice, "POST", "/v1/threads/runs",
                  Some(json!({"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": content}]}})))
            .await;
        assert_eq!(run.status, 200, "{:?}", run.body);
        let thread = run.body["thread_id"].as_str().unwrap().to_owned();
        app.finished_run(alice, &thread, &run.id()).await;
        if content.starts_with("chart") {
            // Read: its output file is recorded as alice's.
            app.call(
                alice,
                "GET",
                &format!("/v1/threads/{thread}/messages"),
                None,
            )
            .await;
        }
    }
    let upload = app
        .upload(alice, "assistants", "notes.txt", b"alice's notes", &[])
        .await;
    assert_eq!(upload.status, 200, "{:?}", upload.body);
    let store = app
        .call(
            alice,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "mine", "file_ids": [upload.id()]})),
        )
        .await;
    assert_eq!(store.status, 200, "{:?}", store.body);
    let conversation = app
        .call(
            alice,
            "POST",
            "/v1/conversations",
            Some(json!({"items": [{"type": "message", "role": "user", "content": "private"}]})),
        )
        .await;
    assert_eq!(conversation.status, 200);
    let response = app
        .call(
            alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "private too"})),
        )
        .await;
    assert_eq!(response.status, 200);
    upstream_ids(app).difference(&before).cloned().collect()
}

#[actix_web::test]
async fn an_erased_user_leaves_nothing_upstream_and_nothing_readable() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let assistant = app.assistant("acme").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let bobs_thread = app
        .call(&bob, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    app.call(
        &bob,
        "POST",
        &format!("/v1/threads/{bobs_thread}/shares"),
        Some(json!({"user": "alice", "permission": "write"})),
    )
    .await;
    let alices = alices_world(&app, &alice, &assistant).await;
    let files = app.emulator.inventory().files;
    let alices_files = alices.iter().filter(|id| files.contains(id)).count();
    assert!(alices_files >= 3, "an upload and output files: {alices:?}");
    let alices_thread = alices
        .iter()
        .find(|id| id.starts_with("thread_"))
        .unwrap()
        .clone();
    app.call(
        &alice,
        "POST",
        &format!("/v1/threads/{alices_thread}/shares"),
        Some(json!({"user": "bob", "permission": "read"})),
    )
    .await;
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/threads/{alices_thread}"), None)
            .await
            .status,
        200
    );
    let others_before = upstream_ids(&app)
        .difference(&alices)
        .cloned()
        .collect::<BTreeSet<_>>();

    // Refusals: a member, another tenant's admin, an unknown user, oneself.
    let alice_id = user_id(&app, &admin, "alice").await;
    let erase = format!("/v1/organization/users/{alice_id}");
    assert_eq!(app.call(&bob, "DELETE", &erase, None).await.status, 404);
    let globex_admin = app.admin_token("globex", "boss");
    assert_eq!(
        app.call(&globex_admin, "DELETE", &erase, None).await.status,
        404
    );
    let unknown = "/v1/organization/users/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    assert_eq!(app.call(&admin, "DELETE", unknown, None).await.status, 404);
    app.call(&admin, "GET", "/v1/threads", None).await;
    let root_id = user_id(&app, &admin, "root").await;
    let myself = app
        .call(
            &admin,
            "DELETE",
            &format!("/v1/organization/users/{root_id}"),
            None,
        )
        .await;
    assert_eq!(myself.status, 400, "{:?}", myself.body);
    assert_eq!(
        upstream_ids(&app).intersection(&alices).count(),
        alices.len(),
        "nothing erased yet"
    );

    // Another replica remembers alice (for auth.caller_cache).
    let replica = app.replica().await;
    assert_eq!(
        replica
            .call(&alice, "GET", "/v1/threads", None)
            .await
            .status,
        200
    );

    let begun = app.call(&admin, "DELETE", &erase, None).await;
    assert_eq!(begun.status, 202, "{:?}", begun.body);
    // What she makes there meanwhile is refused, never made as hers (or,
    // once the replica has forgotten her, made by the new user her
    // subject signs in as).
    let late = replica
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await;
    assert!(matches!(late.status, 200 | 403), "{:?}", late.body);
    assert_eq!(begun.body["object"], "organization.erasure");
    assert_eq!(begun.body["user_id"], alice_id.as_str());
    // Unreadable by anyone at once, whatever the upstream still holds.
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/threads/{alices_thread}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.call(&admin, "GET", &format!("/v1/threads/{alices_thread}"), None)
            .await
            .status,
        404
    );

    let done = completed(&app, &admin, begun.body["id"].as_str().unwrap()).await;
    assert_eq!(done["deleted"]["thread"], 2, "{done}");
    assert_eq!(
        done["deleted"]["file"], alices_files,
        "the upload and every output file, read or not: {done}"
    );
    assert_eq!(done["deleted"]["vector_store"], 1, "{done}");
    assert_eq!(done["deleted"]["conversation"], 1, "{done}");
    assert_eq!(done["deleted"]["response"], 1, "{done}");
    assert_eq!(done["proof"]["still_present"], 0, "{done}");
    assert!(
        done["proof"]["objects_checked"].as_u64().unwrap() >= 7,
        "{done}"
    );
    assert!(done["completed_at"].is_i64());

    let erased = alice_id.clone();
    let live: i64 = app
        .admin
        .database
        .run("test.erased_rows", move |conn| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let count: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM resources \
                 WHERE owner_user_id = $1::uuid AND state <> 'deleted'",
            )
            .bind::<diesel::sql_types::Text, _>(erased)
            .get_result(conn)?;
            Ok(count.n)
        })
        .await
        .unwrap();
    assert_eq!(
        live, 0,
        "nothing of the erased user's is left, or made since"
    );
    replica.stop().await;
    // The emulator's own inventory: nothing of alice's, everything else kept.
    let left = upstream_ids(&app);
    let kept: Vec<&String> = left.intersection(&alices).collect();
    assert!(kept.is_empty(), "alice's objects left upstream: {kept:?}");
    assert!(
        others_before.is_subset(&left),
        "only alice's objects were deleted"
    );
    // Bob's thread is untouched and no longer shared with her.
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/threads/{bobs_thread}"), None)
            .await
            .status,
        200
    );
    let shares = app
        .call(
            &bob,
            "GET",
            &format!("/v1/threads/{bobs_thread}/shares"),
            None,
        )
        .await;
    assert_eq!(
        shares.body["data"].as_array().unwrap().len(),
        0,
        "{:?}",
        shares.body
    );
    // Her subject signs in as a new, empty user.
    let fresh = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.body["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/threads/{bobs_thread}"), None)
            .await
            .status,
        404
    );
    assert_ne!(user_id(&app, &admin, "alice").await, alice_id);
    assert_eq!(
        app.call(&admin, "GET", &erase, None).await.status,
        404,
        "an erased user is not listed"
    );
    // Again: the same erasure.
    let again = app.call(&admin, "DELETE", &erase, None).await;
    assert_eq!(again.body["id"], begun.body["id"]);
    assert_eq!(again.body["status"], "completed");
    // Audited once (asking again begins nothing); the trail is written
    // behind the answers, so it is polled until the eraser's own event.
    app.poll("the erasure's audit events", || async {
        let audit = app
            .call(
                &admin,
                "GET",
                "/v1/organization/audit_logs?action=erase_user_completed",
                None,
            )
            .await;
        (!audit.body["data"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    let audit = app
        .call(
            &admin,
            "GET",
            "/v1/organization/audit_logs?action=erase_user",
            None,
        )
        .await;
    assert_eq!(
        audit.body["data"].as_array().unwrap().len(),
        1,
        "{:?}",
        audit.body
    );
    app.stop().await;
}

#[actix_web::test]
async fn an_erasure_the_upstream_interrupts_is_finished_by_the_reconciler() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let upload = app.upload(&alice, "assistants", "a.txt", b"a", &[]).await;
    let alice_id = user_id(&app, &admin, "alice").await;
    // The erasure's own task meets a failing upstream delete.
    app.upstream_fault(json!({"fault": "500", "times": 1, "method": "DELETE"}))
        .await;
    let begun = app
        .call(
            &admin,
            "DELETE",
            &format!("/v1/organization/users/{alice_id}"),
            None,
        )
        .await;
    assert_eq!(begun.status, 202);
    let erasure = begun.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/organization/erasures/{erasure}");
    // The task gives up on the first failed delete (the upstream journal shows it tried).
    app.poll("the erasure's first delete", || async {
        app.upstream_requests()
            .iter()
            .any(|request| request.method == "DELETE")
            .then_some(())
    })
    .await;
    assert_eq!(
        app.call(&admin, "GET", &path, None).await.body["status"],
        "in_progress"
    );
    assert!(upstream_ids(&app).contains(&thread));

    let report = reconcile::run(
        &app.admin,
        std::time::Duration::from_secs(3600),
        reconcile::Orphans::Report,
    )
    .await
    .unwrap();
    assert_eq!(report.erasures_completed, 1, "{report:?}");
    let done = app.call(&admin, "GET", &path, None).await;
    assert_eq!(done.body["status"], "completed", "{:?}", done.body);
    assert_eq!(done.body["proof"]["still_present"], 0);
    let left = upstream_ids(&app);
    assert!(
        !left.contains(&thread) && !left.contains(&upload.id()),
        "{left:?}"
    );
    app.stop().await;
}
