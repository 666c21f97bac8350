//! schemathesis against the running server: every `/v1` operation of the
//! OpenAPI document, with generated (valid and invalid) input, on real
//! objects of the caller's. Nothing may answer 5xx, or a status, content
//! type or body the document does not declare. A fixed seed and a bounded
//! number of examples keep it deterministic and within a minute or two.

use std::process::Command;

use serde_json::json;
use threadgate_tests::{TestApp, python};

/// Test cases per operation and phase.
const EXAMPLES: &str = "25";
const SEED: &str = "20261130";

#[actix_web::test]
async fn generated_requests_get_only_documented_answers_and_never_a_5xx() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let assistant = app.assistant("acme").await;
    // Real objects of alice's, so requests get past the not-found answer.
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let message = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{thread}/messages"),
            Some(json!({"role": "user", "content": "hi"})),
        )
        .await
        .id();
    let run = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await
        .id();
    let run = app.finished_run(&alice, &thread, &run).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let steps = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{thread}/runs/{run}/steps"),
            None,
        )
        .await;
    let step = steps.body["data"][0]["id"].as_str().unwrap().to_owned();
    let file = app
        .upload(&alice, "assistants", "notes.txt", b"notes", &[])
        .await
        .id();
    let store = app
        .call(
            &alice,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "fuzz", "file_ids": [file]})),
        )
        .await
        .id();
    let batch = app
        .call(
            &alice,
            "POST",
            &format!("/v1/vector_stores/{store}/file_batches"),
            Some(json!({"file_ids": [file]})),
        )
        .await
        .id();

    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\
             assistant_id = \"{assistant}\"\n\
             thread_id = \"{thread}\"\n\
             message_id = \"{message}\"\n\
             run_id = \"{run}\"\n\
             step_id = \"{step}\"\n\
             file_id = \"{file}\"\n\
             vector_store_id = \"{store}\"\n\
             batch_id = \"{batch}\"\n"
        ),
    )
    .unwrap();
    let document = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let address = app.address.clone();
    let authorization = format!("Authorization: Bearer {alice}");
    let output = tokio::task::spawn_blocking(move || {
        // As a module: the environment's scripts name the directory it was
        // built in before it was moved into place.
        Command::new(python::interpreter())
            .args(["-m", "schemathesis.cli", "--config-file"])
            .arg(&config)
            .arg("run")
            .arg(&document)
            .args(["--url", &address, "--header", &authorization])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", EXAMPLES, "--seed", SEED])
            .args(["--workers", "1", "--no-color", "--generation-database", "none"])
            // The operational routes are not the API under test.
            .args(["--exclude-path-regex", "^/(docs|openapi.json|healthz|readyz)$"])
            .current_dir(scratch.path())
            .output()
            .expect("schemathesis starts")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Tested: "), "{stdout}");
    app.stop().await;
}
