//! Every conversation endpoint, as its owner uses it, and as others are refused.

use serde_json::{Value, json};
use threadgate_tests::TestApp;

/// A tenant `acme` with users alice and bob, a tenant `globex` with carol.
struct World {
    app: TestApp,
    alice: String,
    bob: String,
    carol: String,
    assistant: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let assistant = app.assistant("acme").await;
    World {
        alice: app.token("acme", "alice"),
        bob: app.token("acme", "bob"),
        carol: app.token("globex", "carol"),
        assistant,
        app,
    }
}

async fn poll_run(app: &TestApp, token: &str, thread: &str, run: &str, until: &[&str]) -> Value {
    for _ in 0..500 {
        let answer = app
            .call(
                token,
                "GET",
                &format!("/v1/threads/{thread}/runs/{run}"),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        if until.contains(&answer.body["status"].as_str().unwrap_or_default()) {
            return answer.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("run {run} never reached {until:?}");
}

#[actix_web::test]
async fn an_owner_uses_every_conversation_endpoint() {
    let World {
        app,
        alice,
        assistant,
        ..
    } = world().await;

    let listed = app.call(&alice, "GET", "/v1/assistants", None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["data"][0]["id"], assistant.as_str());
    let fetched = app
        .call(&alice, "GET", &format!("/v1/assistants/{assistant}"), None)
        .await;
    assert_eq!(fetched.body["id"], assistant.as_str());

    let thread = app
        .call(
            &alice,
            "POST",
            "/v1/threads",
            Some(json!({"metadata": {"topic": "weather"}})),
        )
        .await;
    assert_eq!(thread.status, 200, "{:?}", thread.body);
    assert_eq!(
        thread.body["metadata"],
        json!({"topic": "weather"}),
        "no reserved key is shown"
    );
    assert_eq!(thread.headers["cache-control"], "no-store");
    let id = thread.body["id"].as_str().unwrap().to_owned();

    let got = app
        .call(&alice, "GET", &format!("/v1/threads/{id}"), None)
        .await;
    assert_eq!(got.body["metadata"], json!({"topic": "weather"}));
    let modified = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}"),
            Some(json!({"metadata": {"topic": "rain"}})),
        )
        .await;
    assert_eq!(modified.body["metadata"]["topic"], "rain");

    let message = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}/messages"),
            Some(json!({"role": "user", "content": "Hello there"})),
        )
        .await;
    assert_eq!(message.status, 200, "{:?}", message.body);
    let message_id = message.body["id"].as_str().unwrap().to_owned();
    let got = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{id}/messages/{message_id}"),
            None,
        )
        .await;
    assert_eq!(got.body["id"], message_id.as_str());
    let modified = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}/messages/{message_id}"),
            Some(json!({"metadata": {"seen": "1"}})),
        )
        .await;
    assert_eq!(modified.body["metadata"]["seen"], "1");

    let run = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    let run_id = run.body["id"].as_str().unwrap().to_owned();
    let done = poll_run(&app, &alice, &id, &run_id, &["completed"]).await;
    assert!(done["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let runs = app
        .call(&alice, "GET", &format!("/v1/threads/{id}/runs"), None)
        .await;
    assert_eq!(runs.body["data"][0]["id"], run_id.as_str());
    let modified = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}/runs/{run_id}"),
            Some(json!({"metadata": {"k": "v"}})),
        )
        .await;
    assert_eq!(modified.body["metadata"]["k"], "v");
    let steps = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{id}/runs/{run_id}/steps"),
            None,
        )
        .await;
    let step_id = steps.body["data"][0]["id"].as_str().unwrap().to_owned();
    let step = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{id}/runs/{run_id}/steps/{step_id}"),
            None,
        )
        .await;
    assert_eq!(step.body["id"], step_id.as_str());

    let messages = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{id}/messages?order=asc&limit=10"),
            None,
        )
        .await;
    let texts: Vec<&str> = messages.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"][0]["text"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Hello there", "You said: Hello there"]);

    // A tool call: requires_action, outputs submitted, completed.
    app.call(
        &alice,
        "POST",
        &format!("/v1/threads/{id}/messages"),
        Some(json!({"role": "user", "content": "ask get_weather"})),
    )
    .await;
    let run = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    let run_id = run.body["id"].as_str().unwrap().to_owned();
    let waiting = poll_run(&app, &alice, &id, &run_id, &["requires_action"]).await;
    let call = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap();
    let submitted = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}/runs/{run_id}/submit_tool_outputs"),
            Some(json!({"tool_outputs": [{"tool_call_id": call, "output": "sunny"}]})),
        )
        .await;
    assert_eq!(submitted.status, 200, "{:?}", submitted.body);
    poll_run(&app, &alice, &id, &run_id, &["completed"]).await;

    // A slow run, cancelled.
    let run = app
        .call(&alice, "POST", &format!("/v1/threads/{id}/runs"),
              Some(json!({"assistant_id": assistant, "additional_messages": [{"role": "user", "content": "#slow"}]})))
        .await;
    let run_id = run.body["id"].as_str().unwrap().to_owned();
    let cancelled = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{id}/runs/{run_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelling");
    poll_run(&app, &alice, &id, &run_id, &["cancelled"]).await;

    let deleted = app
        .call(
            &alice,
            "DELETE",
            &format!("/v1/threads/{id}/messages/{message_id}"),
            None,
        )
        .await;
    assert_eq!(deleted.body["deleted"], true);

    let mine = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(mine.body["data"][0]["id"], id.as_str());
    let deleted = app
        .call(&alice, "DELETE", &format!("/v1/threads/{id}"), None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["deleted"], true);
    let gone = app
        .call(&alice, "GET", &format!("/v1/threads/{id}"), None)
        .await;
    assert_eq!(gone.status, 404);
    let mine = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(mine.body["data"], json!([]));
    app.stop().await;
}

#[actix_web::test]
async fn create_thread_and_run_registers_the_thread_for_the_caller_also_when_streamed() {
    let World {
        app,
        alice,
        bob,
        assistant,
        ..
    } = world().await;
    let run = app
        .call(&alice, "POST", "/v1/threads/runs",
              Some(json!({"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": "hi"}]}})))
        .await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    let thread = run.body["thread_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        404
    );

    let response = app
        .client
        .post(app.url("/v1/threads/runs"))
        .bearer_auth(&alice)
        .json(&json!({"assistant_id": assistant, "stream": true, "thread": {"messages": [{"role": "user", "content": "stream it"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = response.text().await.unwrap();
    let events: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"thread.created"));
    assert_eq!(events.last(), Some(&"done"));
    assert!(events.contains(&"thread.message.delta"));
    assert!(
        !body.contains("threadgate_"),
        "reserved metadata stays hidden in streams"
    );
    let created: Value =
        serde_json::from_str(body.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    let streamed_thread = created["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            &alice,
            "GET",
            &format!("/v1/threads/{streamed_thread}"),
            None
        )
        .await
        .status,
        200
    );
    let mine = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[actix_web::test]
async fn others_get_the_same_404_as_for_an_id_that_never_existed() {
    let World {
        app,
        alice,
        bob,
        carol,
        assistant,
    } = world().await;
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let never = app
        .call(&alice, "GET", "/v1/threads/thread_neverexisted", None)
        .await;
    assert_eq!(never.status, 404);
    let before = app.upstream_requests().len();
    for intruder in [&bob, &carol] {
        let answer = app
            .call(intruder, "GET", &format!("/v1/threads/{thread}"), None)
            .await;
        assert_eq!(answer.status, 404);
        assert_eq!(
            answer.body["error"]["message"],
            format!("No thread found with id '{thread}'."),
        );
        assert_eq!(answer.body["error"]["type"], never.body["error"]["type"]);
    }
    // Another tenant's assistant is unknown to carol: listing and running.
    let listed = app.call(&carol, "GET", "/v1/assistants", None).await;
    assert_eq!(listed.body["data"], json!([]));
    let carols = app
        .call(&carol, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let after_setup = app.upstream_requests().len();
    let run = app
        .call(
            &carol,
            "POST",
            &format!("/v1/threads/{carols}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(run.status, 404);
    assert_eq!(
        run.body["error"]["message"],
        format!("No assistant found with id '{assistant}'.")
    );
    assert_eq!(
        app.upstream_requests().len(),
        after_setup,
        "the upstream heard nothing of the denied run"
    );
    assert_eq!(
        before + 1,
        after_setup,
        "only carol's own thread creation reached the upstream"
    );
    app.stop().await;
}

#[actix_web::test]
async fn reserved_metadata_cannot_be_set() {
    let World { app, alice, .. } = world().await;
    let answer = app
        .call(
            &alice,
            "POST",
            "/v1/threads",
            Some(json!({"metadata": {"threadgate_resource_id": "x"}})),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error"]["param"], "metadata");
    app.stop().await;
}

#[actix_web::test]
async fn bad_input_gets_openai_shaped_errors() {
    let World { app, alice, .. } = world().await;
    let malformed = app
        .client
        .post(app.url("/v1/threads"))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let huge = app
        .client
        .post(app.url("/v1/threads"))
        .bearer_auth(&alice)
        .json(&json!({"metadata": {"x": "y".repeat(5 * 1024 * 1024)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);

    let not_object = app
        .call(&alice, "POST", "/v1/threads", Some(json!([1, 2])))
        .await;
    assert_eq!(not_object.status, 400);
    let bad_limit = app.call(&alice, "GET", "/v1/threads?limit=500", None).await;
    assert_eq!(bad_limit.status, 400);
    assert_eq!(bad_limit.body["error"]["param"], "limit");
    let wrong_method = app.call(&alice, "PUT", "/v1/threads", None).await;
    assert_eq!(wrong_method.status, 404);
    assert_eq!(
        wrong_method.body["error"]["message"],
        "Invalid URL (PUT /v1/threads)"
    );

    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");
    let fresh = app.get("/healthz").await;
    assert!(!fresh.headers()["x-request-id"].is_empty());
    app.stop().await;
}

#[actix_web::test]
async fn listing_threads_pages_like_the_api() {
    let World {
        app, alice, bob, ..
    } = world().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            app.call(&alice, "POST", "/v1/threads", Some(json!({})))
                .await
                .body["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    app.call(&bob, "POST", "/v1/threads", Some(json!({}))).await;
    let page = app
        .call(&alice, "GET", "/v1/threads?limit=2&order=asc", None)
        .await;
    let got: Vec<&str> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(page.body["has_more"], true);
    assert_eq!(page.body["first_id"], ids[0].as_str());
    assert_eq!(page.body["last_id"], ids[1].as_str());
    let next = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads?limit=2&order=asc&after={}", ids[1]),
            None,
        )
        .await;
    let got: Vec<&str> = next.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[3].as_str()]);
    let newest = app.call(&alice, "GET", "/v1/threads?limit=10", None).await;
    assert_eq!(
        newest.body["data"].as_array().unwrap().len(),
        5,
        "bob's thread is not listed"
    );
    assert_eq!(newest.body["data"][0]["id"], ids[4].as_str());
    let back = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads?limit=2&order=asc&before={}", ids[4]),
            None,
        )
        .await;
    let got: Vec<&str> = back.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[3].as_str()]);
    // Someone else's thread as a cursor is as unknown as any other id.
    let bobs = app.call(&bob, "GET", "/v1/threads", None).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = app
        .call(&alice, "GET", &format!("/v1/threads?after={bobs}"), None)
        .await;
    assert_eq!(foreign.status, 404);
    app.stop().await;
}

#[actix_web::test]
async fn a_client_that_goes_away_stops_the_upstream_stream() {
    let World {
        app,
        alice,
        assistant,
        ..
    } = world().await;
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A run that never ends: only the client's leaving can end its stream.
    app.upstream_fault(json!({"fault": "never-finish", "times": 1, "path": "/runs"}))
        .await;
    let mut response = app
        .client
        .post(app.url(&format!("/v1/threads/{thread}/runs")))
        .bearer_auth(&alice)
        .json(&json!({"assistant_id": assistant, "stream": true}))
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("thread.run.created"));
    assert_eq!(
        app.emulator.open_streams(),
        1,
        "the upstream stream is open while the client reads"
    );

    drop(response);
    let mut waited = 0;
    while app.emulator.open_streams() > 0 {
        assert!(waited < 1000, "the upstream stream outlived its client");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    app.stop().await;
}

/// Lists of threads and conversations answer from what Threadgate keeps
/// (the create's answer, replaced by each change's): no upstream request,
/// and a change made through Threadgate shows at once.
#[actix_web::test]
async fn lists_answer_from_kept_attributes_without_asking_the_upstream() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let assistant = app.assistant("acme").await;
    let thread = app
        .call(
            &alice,
            "POST",
            "/v1/threads",
            Some(json!({"metadata": {"topic": "first"}})),
        )
        .await
        .id();
    let changed = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{thread}"),
            Some(json!({"metadata": {"topic": "second"}})),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    // A thread made with a run kept no thread object: fetched instead.
    let run = app
        .call(
            &alice,
            "POST",
            "/v1/threads/runs",
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    let run_thread = run.body["thread_id"].as_str().unwrap().to_owned();
    let conversation = app
        .call(
            &alice,
            "POST",
            "/v1/conversations",
            Some(json!({"metadata": {"topic": "c1"}})),
        )
        .await
        .id();
    app.call(
        &alice,
        "POST",
        &format!("/v1/conversations/{conversation}"),
        Some(json!({"metadata": {"topic": "c2"}})),
    )
    .await;

    let before = app.upstream_requests().len();
    let threads = app.call(&alice, "GET", "/v1/threads", None).await;
    let conversations = app.call(&alice, "GET", "/v1/conversations", None).await;
    let asked: Vec<String> = app.upstream_requests()[before..]
        .iter()
        .map(|request| format!("{} {}", request.method, request.path))
        .collect();
    assert_eq!(
        asked.len(),
        1,
        "only the thread without kept attributes: {asked:?}"
    );
    assert!(asked[0].ends_with(&run_thread), "{asked:?}");
    let listed = threads.body["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let kept = listed
        .iter()
        .find(|item| item["id"] == thread.as_str())
        .unwrap();
    assert_eq!(
        kept["metadata"],
        json!({"topic": "second"}),
        "no reserved metadata, the change shown"
    );
    assert_eq!(kept["object"], "thread");
    assert!(
        listed
            .iter()
            .any(|item| item["id"] == run_thread.as_str() && item["object"] == "thread")
    );
    assert_eq!(
        conversations.body["data"][0]["metadata"],
        json!({"topic": "c2"})
    );
    app.stop().await;
}
