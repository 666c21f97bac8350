//! The committed OpenAPI document, checked as client generators read it.

use threadgate_tests::{TestApp, node, python};

#[actix_web::test]
async fn the_openapi_document_is_valid_for_generators() {
    tokio::task::spawn_blocking(|| python::pytest("test_openapi_document.py", &[]))
        .await
        .unwrap();
}

/// Live answers on both surfaces match the document field for field, and a
/// Python client generated from it runs a conversation.
#[actix_web::test]
async fn answers_match_the_document_and_generated_clients_work() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    let env = vec![
        ("THREADGATE_URL", app.address.clone()),
        ("ALICE_TOKEN", app.token("acme", "alice")),
        ("BOB_TOKEN", app.token("acme", "bob")),
        ("ASSISTANT_ID", assistant),
    ];
    let node_env = env.clone();
    tokio::task::spawn_blocking(move || {
        python::pytest("test_answers_match_the_document.py", &env);
        python::pytest("test_generated_python_client.py", &env);
    })
    .await
    .unwrap();
    // And a TypeScript client: openapi-typescript's types, openapi-fetch,
    // checked with `tsc --strict`.
    tokio::task::spawn_blocking(move || node::run_typescript("generated_flow.ts", &node_env))
        .await
        .unwrap();
    app.stop().await;
}
