//! The tenant administration API: a tenant admin reads and changes the
//! tenant's policy, which binds runs, responses and assistants at once;
//! members and anonymous callers meet a path that does not exist, and an
//! admin reaches only their own tenant.

use serde_json::json;
use threadgate_tests::TestApp;

const POLICY: &str = "/v1/organization/policy";

#[actix_web::test]
async fn a_tenant_admin_sets_the_policy_and_it_binds_at_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let globex_admin = app.admin_token("globex", "boss");
    let assistant = app.assistant("acme").await;

    let defaults = app.call(&admin, "GET", POLICY, None).await;
    assert_eq!(defaults.status, 200, "{:?}", defaults.body);
    assert_eq!(defaults.body["object"], "organization.policy");
    assert_eq!(defaults.body["admins_read_conversations"], false);
    assert!(defaults.body["retention_days"].is_null());
    assert!(defaults.body["allowed_models"].is_null());
    let tools = defaults.body["allowed_tools"].as_array().unwrap();
    assert!(tools.contains(&json!("file_search")) && !tools.contains(&json!("mcp")));

    // Members meet a path that does not exist; anonymous callers a 401.
    for method in ["GET", "POST"] {
        let body = (method == "POST").then(|| json!({"admins_read_conversations": true}));
        let refused = app.call(&alice, method, POLICY, body).await;
        assert_eq!(refused.status, 404, "{method}: {:?}", refused.body);
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Invalid URL"), "{message}");
    }
    let anonymous = app.client.get(app.url(POLICY)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let unchanged = app.call(&admin, "GET", POLICY, None).await;
    assert_eq!(unchanged.body, defaults.body, "a member changed nothing");

    // Bad values are named.
    for (body, param) in [
        (json!({"retention_days": 0}), "retention_days"),
        (
            json!({"allowed_tools": ["function", "telepathy"]}),
            "allowed_tools[1]",
        ),
        (json!({"allowed_models": [""]}), "allowed_models[0]"),
    ] {
        let refused = app.call(&admin, "POST", POLICY, Some(body.clone())).await;
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["param"], param, "{body}");
    }
    let unknown = app
        .call(&admin, "POST", POLICY, Some(json!({"colour": "red"})))
        .await;
    assert_eq!(unknown.status, 400, "{:?}", unknown.body);

    // A partial update binds the next request.
    let narrowed = app
        .call(
            &admin,
            "POST",
            POLICY,
            Some(json!({"allowed_tools": ["function"], "allowed_models": ["gpt-4o"], "retention_days": 30})),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{:?}", narrowed.body);
    assert_eq!(narrowed.body["allowed_tools"], json!(["function"]));
    assert_eq!(narrowed.body["retention_days"], 30);
    assert_eq!(
        narrowed.body["admins_read_conversations"], false,
        "left as it was"
    );
    let before = app.upstream_requests().len();
    for (body, param) in [
        (
            json!({"model": "gpt-4o", "input": "x", "tools": [{"type": "file_search"}]}),
            "tools[0].type",
        ),
        (json!({"model": "gpt-4.1", "input": "x"}), "model"),
    ] {
        let refused = app.call(&alice, "POST", "/v1/responses", Some(body)).await;
        assert_eq!(refused.status, 400, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["param"], param);
    }
    let run = app
        .call(
            &alice,
            "POST",
            "/v1/threads/runs",
            Some(json!({"assistant_id": assistant, "model": "gpt-4.1"})),
        )
        .await;
    assert_eq!(run.status, 400, "{:?}", run.body);
    assert_eq!(
        app.upstream_requests().len(),
        before,
        "refused before the upstream"
    );
    let allowed = app
        .call(
            &alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {}}]})),
        )
        .await;
    assert_eq!(allowed.status, 200, "{:?}", allowed.body);

    // Another tenant's admin sees and changes only their own.
    let theirs = app.call(&globex_admin, "GET", POLICY, None).await;
    assert_eq!(theirs.body, defaults.body);

    // null restores a default.
    let cleared = app
        .call(
            &admin,
            "POST",
            POLICY,
            Some(json!({"allowed_tools": null, "allowed_models": null, "retention_days": null})),
        )
        .await;
    assert_eq!(cleared.body, defaults.body);

    // Reading users' conversations is the tenant's choice.
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let path = format!("/v1/threads/{thread}");
    assert_eq!(app.call(&admin, "GET", &path, None).await.status, 404);
    app.call(
        &admin,
        "POST",
        POLICY,
        Some(json!({"admins_read_conversations": true})),
    )
    .await;
    assert_eq!(app.call(&admin, "GET", &path, None).await.status, 200);
    let write = app
        .call(
            &admin,
            "POST",
            &format!("{path}/messages"),
            Some(json!({"role": "user", "content": "not mine to write"})),
        )
        .await;
    // What an admin may read anyway gets an honest 403 when changed.
    assert_eq!(write.status, 403, "read, never change: {:?}", write.body);

    // Every change is audited (written once the server has stopped).
    let tenant = app.admin.tenant("acme").await.unwrap();
    let database = app.stop().await.unwrap();
    let mut conn = storage::connect(database.url()).unwrap();
    let updates = storage::repo::audit::list_for_tenant(&mut conn, tenant.id)
        .unwrap()
        .into_iter()
        .filter(|event| event.action == "policy_update")
        .count();
    assert_eq!(updates, 3, "narrowed, cleared, opened to admins");
}
