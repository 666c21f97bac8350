//! The emulator's front door answers like the service's: unknown
//! api-versions, missing or wrong credentials, bad bodies.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_have_the_services_status_and_shape() {
    let emulator =
        RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = emulator.base_url();
    let http = reqwest::Client::new();
    let key = EmulatorConfig::default().api_key;

    let (status, body) = answer(
        http.get(format!("{base}/openai/assistants?api-version=1999-01-01"))
            .header("api-key", &key),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": {"code": "404", "message": "Resource not found"}})
        )
    );
    let (status, _) = answer(
        http.get(format!("{base}/openai/assistants"))
            .header("api-key", &key),
    )
    .await;
    assert_eq!(
        status, 404,
        "a missing api-version is an unknown resource too"
    );

    let (status, body) = answer(http.get(format!(
        "{base}/openai/assistants?api-version=2025-04-01-preview"
    )))
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "401");
    let (status, _) = answer(
        http.get(format!(
            "{base}/openai/assistants?api-version=2025-04-01-preview"
        ))
        .header("api-key", "wrong"),
    )
    .await;
    assert_eq!(status, 401);

    let (status, body) = answer(
        http.get(format!("{base}/v1/assistants"))
            .header("OpenAI-Beta", "assistants=v2"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, body) = answer(
        http.get(format!("{base}/v1/assistants"))
            .bearer_auth("wrong")
            .header("OpenAI-Beta", "assistants=v2"),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("invalid_api_key"))
    );
    let (status, body) = answer(http.get(format!("{base}/v1/assistants")).bearer_auth(&key)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_beta"))
    );

    let openai = |path: &str| {
        http.post(format!("{base}/v1{path}"))
            .bearer_auth(&key)
            .header("OpenAI-Beta", "assistants=v2")
            .header("content-type", "application/json")
    };
    let (status, body) = answer(openai("/assistants").body("{not json")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not parse the JSON body")
    );
    let (status, body) = answer(openai("/assistants").body("{}")).await;
    assert_eq!(
        (status, body["error"]["param"].clone()),
        (400, json!("model"))
    );
    let (status, body) =
        answer(openai("/assistants").body(r#"{"model": "m", "colour": "blue"}"#)).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let (status, body) = answer(openai("/threads").body(r#"{"metadata": "not an object"}"#)).await;
    assert_eq!(
        (status, body["error"]["param"].clone()),
        (400, json!("metadata"))
    );
    let (status, body) = answer(
        http.get(format!("{base}/v1/threads/thread_nope"))
            .bearer_auth(&key)
            .header("OpenAI-Beta", "assistants=v2"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"]["message"],
        "No thread found with id 'thread_nope'."
    );
    emulator.stop().await;
}
