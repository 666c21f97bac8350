//! An Azure AI Foundry project as a tenant's upstream: its Agent Service
//! (the Assistants protocol) and its v1 API (Responses, Conversations),
//! reached with Entra tokens for Foundry's scope, every request naming its
//! end-user in `x-ms-user-isolation-key`.

use serde_json::json;
use threadgate_tests::TestApp;

#[actix_web::test]
async fn a_foundry_project_serves_both_apis_with_each_end_user_isolated() {
    let app = TestApp::spawn_on_foundry().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    app.emulator.requests(); // the set-up's own requests are not the subject
    let before = app.upstream_requests().len();

    let reply = app
        .call(
            &alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "Hello, Foundry"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["output"][0]["content"][0]["text"],
        "You said: Hello, Foundry"
    );
    let run = app
        .call(
            &alice,
            "POST",
            "/v1/threads/runs",
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    let thread = run.body["thread_id"].as_str().unwrap().to_owned();
    let finished = app.finished_run(&alice, &thread, &run.id()).await;
    assert_eq!(finished["status"], "completed");
    let bobs = app
        .call(&bob, "POST", "/v1/conversations", Some(json!({})))
        .await;
    assert_eq!(bobs.status, 200, "{:?}", bobs.body);
    // Bob is refused alice's response before the upstream hears of it.
    let refused = app
        .call(&bob, "GET", &format!("/v1/responses/{}", reply.id()), None)
        .await;
    assert_eq!(refused.status, 404);

    let requests = &app.upstream_requests()[before..];
    let keys: Vec<(&str, &str)> = requests
        .iter()
        .map(|request| {
            let key = request
                .headers
                .get("x-ms-user-isolation-key")
                .unwrap_or_else(|| panic!("{} {} names no end-user", request.method, request.path));
            (request.path.as_str(), key.as_str())
        })
        .collect();
    let key_of = |prefix: &str| -> Vec<&str> {
        keys.iter()
            .filter(|(path, _)| path.contains(prefix))
            .map(|(_, key)| *key)
            .collect()
    };
    let alices = key_of("/responses");
    let bobs_keys = key_of("/conversations");
    assert!(!alices.is_empty() && !bobs_keys.is_empty(), "{keys:?}");
    assert!(
        alices
            .iter()
            .chain(&key_of("/threads"))
            .all(|key| *key == alices[0])
    );
    assert_ne!(
        alices[0], bobs_keys[0],
        "each end-user has a key of their own"
    );
    assert_eq!(alices[0].len(), 32);
    assert!(!alices[0].contains("alice"), "a pseudonym, not the subject");
    // Both surfaces of the project: the Agent Service with its api-version,
    // the v1 API without.
    assert!(requests.iter().any(|request| {
        request
            .path
            .ends_with("/api/projects/threadgate/threads/runs")
            && request.query.contains("api-version=2025-05-01")
    }));
    assert!(requests.iter().any(|request| {
        request
            .path
            .ends_with("/api/projects/threadgate/openai/v1/responses")
            && request.query.is_empty()
    }));
    app.stop().await;
}
