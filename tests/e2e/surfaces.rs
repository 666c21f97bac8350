//! The two surfaces, `/v1` and Azure's `/openai`, each answer in their own
//! specification's shapes, whichever flavour the tenant's upstream speaks.

use serde_json::{Value, json};
use threadgate_tests::{Answer, TestApp};

const AZURE_QUERY: &str = "api-version=2025-04-01-preview";

/// Run steps are `thread.run.step` on `/v1` and `assistant.run.step` on
/// `/openai` (listed, retrieved and streamed); an upload answers 200 on
/// `/v1` and 201 on `/openai`. Checked against an Azure-flavoured upstream
/// and an OpenAI-flavoured one.
#[actix_web::test]
async fn each_surface_answers_in_its_own_shapes_whatever_the_upstream_speaks() {
    for flavour in ["azure", "openai"] {
        let app = match flavour {
            "azure" => TestApp::spawn().await,
            _ => {
                TestApp::spawn_with_upstream(json!({
                    "flavour": "openai",
                    "credential": {"kind": "openai_key", "key": emulator::EmulatorConfig::default().api_key},
                }))
                .await
            }
        };
        app.tenant("acme").await;
        let assistant = app.assistant("acme").await;
        let alice = app.token("acme", "alice");

        let run = app
            .call(
                &alice,
                "POST",
                "/v1/threads/runs",
                Some(json!({"assistant_id": assistant})),
            )
            .await;
        let thread = run.body["thread_id"].as_str().unwrap().to_owned();
        app.finished_run(&alice, &thread, &run.id()).await;
        let run = run.body["id"].as_str().unwrap();
        let steps = format!("/threads/{thread}/runs/{run}/steps");

        for (surface, query, step_object, upload_status) in [
            ("/v1", "", "thread.run.step", 200),
            ("/openai", AZURE_QUERY, "assistant.run.step", 201),
        ] {
            let listed = app
                .call(&alice, "GET", &format!("{surface}{steps}?{query}"), None)
                .await;
            assert_eq!(listed.status, 200, "{flavour} {surface}: {:?}", listed.body);
            let first = &listed.body["data"][0];
            assert_eq!(first["object"], step_object, "{flavour} {surface} list");
            let step = first["id"].as_str().unwrap();
            let retrieved = app
                .call(
                    &alice,
                    "GET",
                    &format!("{surface}{steps}/{step}?{query}"),
                    None,
                )
                .await;
            assert_eq!(retrieved.body["object"], step_object, "{flavour} {surface}");

            let streamed = streamed_steps(&app, &alice, &assistant, surface, query).await;
            assert!(!streamed.is_empty(), "{flavour} {surface}: no step events");
            for event in streamed {
                assert_eq!(event["object"], step_object, "{flavour} {surface} stream");
            }

            let uploaded = upload(&app, &alice, &format!("{surface}/files?{query}")).await;
            assert_eq!(
                uploaded.status, upload_status,
                "{flavour} {surface}: {:?}",
                uploaded.body
            );
            assert_eq!(uploaded.body["object"], "file");
        }
        app.stop().await;
    }
}

/// The data of the step events of a streamed create-thread-and-run.
async fn streamed_steps(
    app: &TestApp,
    token: &str,
    assistant: &str,
    surface: &str,
    query: &str,
) -> Vec<Value> {
    let (status, text) = app
        .post_stream(
            token,
            &format!("{surface}/threads/runs?{query}"),
            &json!({"assistant_id": assistant, "stream": true}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let mut steps = Vec::new();
    let mut event = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            if event.starts_with("thread.run.step.") && !event.ends_with(".delta") {
                steps.push(serde_json::from_str(data).expect("an event's data is JSON"));
            }
        }
    }
    steps
}

async fn upload(app: &TestApp, token: &str, path: &str) -> Answer {
    let form = reqwest::multipart::Form::new()
        .text("purpose", "assistants")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"notes".to_vec()).file_name("notes.txt"),
        );
    Answer::of(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .multipart(form),
    )
    .await
}
