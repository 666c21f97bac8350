//! The official `openai` Python SDK, pointed at Threadgate.

use threadgate_tests::{TestApp, node, python};

#[actix_web::test]
async fn the_openai_sdk_works_against_threadgate() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    let env = vec![
        ("THREADGATE_URL", app.address.clone()),
        ("ALICE_TOKEN", app.token("acme", "alice")),
        ("BOB_TOKEN", app.token("acme", "bob")),
        ("ASSISTANT_ID", assistant),
    ];
    // pytest blocks: run it off the server's runtime thread.
    tokio::task::spawn_blocking(move || python::pytest("test_threadgate_sdk.py", &env))
        .await
        .unwrap();
    app.stop().await;
}

/// A tenant admin's flow through the SDK's generic `get/post/delete`.
#[actix_web::test]
async fn a_tenant_admin_works_through_the_sdks_generic_helpers() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let env = vec![
        ("THREADGATE_URL", app.address.clone()),
        ("ADMIN_TOKEN", app.admin_token("acme", "root")),
        ("ALICE_TOKEN", app.token("acme", "alice")),
        ("BOB_TOKEN", app.token("acme", "bob")),
    ];
    tokio::task::spawn_blocking(move || python::pytest("test_threadgate_admin.py", &env))
        .await
        .unwrap();
    app.stop().await;
}

/// The SDK's Responses and Conversations clients: chains, streams,
/// background responses, function calls, conversations, deletes.
#[actix_web::test]
async fn the_responses_api_works_through_threadgate() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let env = vec![
        ("THREADGATE_URL", app.address.clone()),
        ("ALICE_TOKEN", app.token("acme", "alice")),
        ("BOB_TOKEN", app.token("acme", "bob")),
    ];
    let node_env = env.clone();
    tokio::task::spawn_blocking(move || python::pytest("test_threadgate_responses.py", &env))
        .await
        .unwrap();
    // And Node's, from the same `openai` package family.
    tokio::task::spawn_blocking(move || node::run("responses_flow.mjs", &node_env))
        .await
        .unwrap();
    app.stop().await;
}

/// Azure's client, `openai.AzureOpenAI`, with each of its credentials.
#[actix_web::test]
async fn azures_client_works_against_threadgate() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    let backend_key = app
        .admin
        .create_api_key("acme", "azure backend", false, true)
        .await
        .unwrap()
        .key;
    let env = vec![
        ("THREADGATE_URL", app.address.clone()),
        ("ALICE_TOKEN", app.token("acme", "alice")),
        ("BOB_TOKEN", app.token("acme", "bob")),
        ("BACKEND_KEY", backend_key),
        ("ASSISTANT_ID", assistant),
    ];
    let node_env = env.clone();
    tokio::task::spawn_blocking(move || python::pytest("test_threadgate_azure_sdk.py", &env))
        .await
        .unwrap();
    // And Node's, from the same `openai` package family.
    tokio::task::spawn_blocking(move || node::run("azure_flow.mjs", &node_env))
        .await
        .unwrap();
    app.stop().await;
}

/// Threadgate's limits through the official SDK: `RateLimitError`, and a
/// retry that waits for Retry-After.
#[actix_web::test]
async fn the_sdk_sees_threadgates_limits_as_rate_limit_errors() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let env = vec![
        ("THREADGATE_URL", app.address.clone()),
        ("ADMIN_TOKEN", app.admin_token("acme", "root")),
        ("ALICE_TOKEN", app.token("acme", "alice")),
    ];
    tokio::task::spawn_blocking(move || python::pytest("test_threadgate_limits.py", &env))
        .await
        .unwrap();
    app.stop().await;
}
