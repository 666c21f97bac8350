//! Attacks on the rule that an id alone grants nothing. Upstream answers
//! echo what callers typed (tool schemas, response formats, extra keys of
//! message parts, truncation strategies), so an attacker can make an answer
//! *look* as if the upstream made an object for them. None of it may make
//! the object theirs: only what Threadgate caused to be created, confirmed
//! in a known position of an object Threadgate fetched itself, is recorded.

use serde_json::{Value, json};
use threadgate_tests::TestApp;

/// A thread-shaped object naming `store`, as the old recorder looked for.
fn thread_lookalike(store: &str) -> Value {
    json!({"object": "thread", "id": "thread_fake",
           "tool_resources": {"file_search": {"vector_store_ids": [store]}}})
}

/// A run-shaped object with a final status and a huge usage.
fn finished_run_lookalike() -> Value {
    json!({"object": "thread.run", "id": "run_fake", "status": "completed",
           "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000, "total_tokens": 2_000_000}})
}

/// Every free-form place of a run request that the upstream echoes, each
/// carrying `payload`.
fn run_with_echoes(assistant: &str, payload: &Value) -> Value {
    json!({
        "assistant_id": assistant,
        "tools": [{"type": "function", "function": {"name": "lookalike", "parameters": {
            "type": "object", "properties": {}, "examples": [payload]}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "default": payload}}},
        "truncation_strategy": {"type": "auto", "last_messages": null, "extra": payload},
    })
}

/// A message whose image_url part carries `payload` as an extra key.
fn message_with_echo(payload: &Value) -> Value {
    json!({"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "extra": payload}},
    ]})
}

/// Reads everything a thread's answers can show: the thread, its messages,
/// its runs, each run and its steps, polled and streamed.
async fn read_everything(app: &TestApp, token: &str, thread: &str) {
    let runs = app
        .call(token, "GET", &format!("/v1/threads/{thread}/runs"), None)
        .await;
    assert_eq!(runs.status, 200, "{:?}", runs.body);
    for run in runs.body["data"].as_array().unwrap() {
        let run = run["id"].as_str().unwrap();
        app.finished_run(token, thread, run).await;
        let steps = app
            .call(
                token,
                "GET",
                &format!("/v1/threads/{thread}/runs/{run}/steps"),
                None,
            )
            .await;
        assert_eq!(steps.status, 200, "{:?}", steps.body);
    }
    for path in [
        format!("/v1/threads/{thread}"),
        format!("/v1/threads/{thread}/messages"),
        format!("/v1/threads/{thread}/runs"),
    ] {
        assert_eq!(app.call(token, "GET", &path, None).await.status, 200);
    }
}

/// Every way `token` could reach the vector store: all must be 404.
async fn assert_store_unreachable(app: &TestApp, token: &str, store: &str) {
    for (method, path, body) in [
        ("GET", format!("/v1/vector_stores/{store}"), None),
        (
            "POST",
            format!("/v1/vector_stores/{store}/search"),
            Some(json!({"query": "secret"})),
        ),
        (
            "POST",
            format!("/v1/vector_stores/{store}"),
            Some(json!({"name": "mine now"})),
        ),
        ("GET", format!("/v1/vector_stores/{store}/files"), None),
        ("DELETE", format!("/v1/vector_stores/{store}"), None),
    ] {
        let answer = app.call(token, method, &path, body).await;
        assert_eq!(answer.status, 404, "{method} {path}: {:?}", answer.body);
    }
}

async fn new_thread(app: &TestApp, token: &str) -> String {
    app.call(token, "POST", "/v1/threads", Some(json!({})))
        .await
        .id()
}

/// Runs `body` on `thread`, polled and streamed, and waits for the runs.
async fn run_twice(app: &TestApp, token: &str, thread: &str, body: &Value) {
    let run = app
        .call(
            token,
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(body.clone()),
        )
        .await;
    app.finished_run(token, thread, &run.id()).await;
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, events) = app
        .post_stream(token, &format!("/v1/threads/{thread}/runs"), &streamed)
        .await;
    assert_eq!(status, 200);
    assert!(events.contains("thread.run.completed"), "{events}");
}

#[actix_web::test]
async fn a_thread_lookalike_in_echoed_fields_does_not_claim_another_tenants_vector_store() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let alice = app.token("acme", "alice");
    let mallory = app.token("globex", "mallory");
    let assistant = app.assistant("globex").await;

    let store = app
        .call(
            &alice,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "alice's notes"})),
        )
        .await
        .id();

    let thread = new_thread(&app, &mallory).await;
    let payload = thread_lookalike(&store);
    let message = app
        .call(
            &mallory,
            "POST",
            &format!("/v1/threads/{thread}/messages"),
            Some(message_with_echo(&payload)),
        )
        .await;
    assert_eq!(message.status, 200, "{:?}", message.body);
    run_twice(
        &app,
        &mallory,
        &thread,
        &run_with_echoes(&assistant, &payload),
    )
    .await;
    // Create-thread-and-run, polled and streamed, with the lookalike in the
    // new thread's first message too.
    for stream in [false, true] {
        let mut body = run_with_echoes(&assistant, &payload);
        body["thread"] = json!({"messages": [message_with_echo(&payload)]});
        body["stream"] = json!(stream);
        let (status, answer) = app.post_stream(&mallory, "/v1/threads/runs", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let threads = app.call(&mallory, "GET", "/v1/threads", None).await;
    for listed in threads.body["data"].as_array().unwrap() {
        read_everything(&app, &mallory, listed["id"].as_str().unwrap()).await;
    }

    assert_store_unreachable(&app, &mallory, &store).await;
    let listed = app.call(&mallory, "GET", "/v1/vector_stores", None).await;
    assert_eq!(listed.body["data"], json!([]), "{:?}", listed.body);
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/vector_stores/{store}"), None)
            .await
            .status,
        200,
        "the owner still has it"
    );
    app.stop().await;
}

#[actix_web::test]
async fn an_output_file_named_in_a_message_part_is_not_claimed_by_another_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let mallory = app.token("globex", "mallory");
    let acme_assistant = app.assistant("acme").await;
    let globex_assistant = app.assistant("globex").await;

    // Alice's code interpreter writes a chart.
    let run = app
        .call(&alice, "POST", "/v1/threads/runs",
              Some(json!({"assistant_id": acme_assistant, "thread": {"messages": [{"role": "user", "content": "chart #output-file"}]}})))
        .await;
    let alice_thread = run.body["thread_id"].as_str().unwrap().to_owned();
    app.finished_run(&alice, &alice_thread, run.body["id"].as_str().unwrap())
        .await;
    let messages = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{alice_thread}/messages"),
            None,
        )
        .await;
    let file = messages.body["data"][0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|part| part["image_file"]["file_id"].as_str())
        .unwrap()
        .to_owned();
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/files/{file}/content"), None)
            .await
            .status,
        200
    );

    // Mallory names it where a file part would be, in every echoed place.
    let payload = json!({"type": "image_file", "image_file": {"file_id": file},
                         "file_path": {"file_id": file}, "image": {"file_id": file}});
    for (intruder, assistant) in [(&mallory, &globex_assistant), (&bob, &acme_assistant)] {
        let thread = new_thread(&app, intruder).await;
        let message = app
            .call(
                intruder,
                "POST",
                &format!("/v1/threads/{thread}/messages"),
                Some(message_with_echo(&payload)),
            )
            .await;
        assert_eq!(message.status, 200, "{:?}", message.body);
        run_twice(
            &app,
            intruder,
            &thread,
            &run_with_echoes(assistant, &payload),
        )
        .await;
        read_everything(&app, intruder, &thread).await;
        for path in [
            format!("/v1/files/{file}"),
            format!("/v1/files/{file}/content"),
        ] {
            let answer = app.call(intruder, "GET", &path, None).await;
            assert_eq!(answer.status, 404, "{path}: {:?}", answer.body);
        }
        let files = app.call(intruder, "GET", "/v1/files", None).await;
        assert_eq!(files.body["data"], json!([]), "{:?}", files.body);
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_member_cannot_see_or_claim_the_knowledge_store_an_assistant_helper_made() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin_token("acme", "ada");
    let alice = app.token("acme", "alice");
    let member_assistant = app.assistant("acme").await;

    let knowledge = app
        .upload(
            &admin,
            "assistants",
            "handbook.txt",
            b"the secret handbook",
            &[("Threadgate-Owner", "tenant")],
        )
        .await
        .id();
    let assistant = app
        .call(
            &admin,
            "POST",
            "/v1/assistants",
            Some(json!({"model": "gpt-4o", "tools": [{"type": "file_search"}],
                        "tool_resources": {"file_search": {"vector_stores": [{"file_ids": [knowledge]}]}}})),
        )
        .await;
    assert_eq!(assistant.status, 200, "{:?}", assistant.body);
    let store = assistant.body["tool_resources"]["file_search"]["vector_store_ids"][0]
        .as_str()
        .expect("the helper made a store")
        .to_owned();
    let assistant = assistant.body["id"].as_str().unwrap().to_owned();

    // The store the helper made is the tenant's: its admins manage it.
    let seen = app
        .call(&admin, "GET", &format!("/v1/vector_stores/{store}"), None)
        .await;
    assert_eq!(seen.status, 200, "{:?}", seen.body);
    let searched = app
        .call(
            &admin,
            "POST",
            &format!("/v1/vector_stores/{store}/search"),
            Some(json!({"query": "handbook"})),
        )
        .await;
    assert_eq!(searched.status, 200, "{:?}", searched.body);

    // Members read the assistant but see no id of its knowledge.
    for path in [
        format!("/v1/assistants/{assistant}"),
        "/v1/assistants".to_owned(),
    ] {
        let read = app.call(&alice, "GET", &path, None).await;
        assert_eq!(read.status, 200, "{:?}", read.body);
        let text = read.body.to_string();
        assert!(!text.contains(&store), "{path} shows the store: {text}");
        assert!(!text.contains(&knowledge), "{path} shows the file: {text}");
    }
    let admin_view = app
        .call(&admin, "GET", &format!("/v1/assistants/{assistant}"), None)
        .await;
    assert!(admin_view.body.to_string().contains(&store));

    // Told the id anyway, a member cannot claim it through echoed content.
    let thread = new_thread(&app, &alice).await;
    let payload = thread_lookalike(&store);
    run_twice(
        &app,
        &alice,
        &thread,
        &run_with_echoes(&member_assistant, &payload),
    )
    .await;
    read_everything(&app, &alice, &thread).await;
    assert_store_unreachable(&app, &alice, &store).await;
    // It is still there for the admin (the member's delete did nothing).
    assert_eq!(
        app.call(&admin, "GET", &format!("/v1/vector_stores/{store}"), None)
            .await
            .status,
        200
    );
    app.stop().await;
}

#[actix_web::test]
async fn usage_comes_from_the_callers_own_run_never_from_echoed_content() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let assistant = app.assistant("acme").await;

    let thread = new_thread(&app, &alice).await;
    let payload = finished_run_lookalike();
    let message = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{thread}/messages"),
            Some(message_with_echo(&payload)),
        )
        .await;
    assert_eq!(message.status, 200);
    run_twice(
        &app,
        &alice,
        &thread,
        &run_with_echoes(&assistant, &payload),
    )
    .await;
    read_everything(&app, &alice, &thread).await;

    let runs = app
        .call(&alice, "GET", &format!("/v1/threads/{thread}/runs"), None)
        .await;
    let expected: i64 = runs.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["usage"]["total_tokens"].as_i64().unwrap())
        .sum();
    assert!(expected > 0 && expected < 2_000_000, "{expected}");
    let tenant = app.admin.tenant("acme").await.unwrap();
    let recorded = app
        .admin
        .database
        .run("test.usage", move |conn| {
            storage::repo::usage::total_for_tenant(conn, tenant.id)
        })
        .await
        .unwrap();
    assert_eq!(recorded, expected, "only the two real runs are counted");
    app.stop().await;
}

#[actix_web::test]
async fn oversized_id_lists_are_refused_before_any_lookup_while_other_tenants_carry_on() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let mallory = app.token("acme", "mallory");
    let carol = app.token("globex", "carol");
    // About 2 MiB: 120,000 ids where the specification allows 500.
    let ids: Vec<String> = (0..120_000).map(|n| format!("file-{n:06}")).collect();
    let flood = json!({"file_ids": ids});
    let floods =
        (0..10).map(|_| app.call(&mallory, "POST", "/v1/vector_stores", Some(flood.clone())));
    let (refused, carols) = tokio::join!(
        futures_util::future::join_all(floods),
        app.call(&carol, "POST", "/v1/threads", Some(json!({})))
    );
    for answer in refused {
        assert_eq!(answer.status, 400, "{:?}", answer.body);
        assert_eq!(answer.body["error"]["param"], "file_ids");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("maximum length 500"), "{message}");
    }
    assert_eq!(carols.status, 200, "{:?}", carols.body);
    let reached = app
        .upstream_requests()
        .iter()
        .filter(|entry| entry.path.contains("vector_stores"))
        .count();
    assert_eq!(reached, 0, "nothing reached the upstream");
    app.stop().await;
}

#[actix_web::test]
async fn malformed_bodies_and_cursors_are_400s_that_name_the_field() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let assistant = app.assistant("acme").await;
    for (path, body, param) in [
        ("/v1/threads", json!({"metadata": 5}), "metadata"),
        ("/v1/vector_stores", json!({"metadata": "x"}), "metadata"),
        (
            "/v1/threads/runs",
            json!({"assistant_id": assistant, "thread": "x"}),
            "thread",
        ),
        (
            "/v1/threads/runs",
            json!({"assistant_id": assistant, "thread": {"metadata": []}}),
            "thread.metadata",
        ),
    ] {
        let answer = app.call(&alice, "POST", path, Some(body)).await;
        assert_eq!(answer.status, 400, "{path}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["param"], param, "{path}");
    }
    let threads = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(threads.body["data"], json!([]), "nothing was created");
    for list in [
        "/v1/threads",
        "/v1/assistants",
        "/v1/files",
        "/v1/vector_stores",
    ] {
        for cursor in ["after=", "after=a%20b", "before=%2F"] {
            let answer = app
                .call(&alice, "GET", &format!("{list}?{cursor}"), None)
                .await;
            assert_eq!(answer.status, 400, "{list}?{cursor}: {:?}", answer.body);
        }
        let unknown = app
            .call(&alice, "GET", &format!("{list}?after=thread_unknown"), None)
            .await;
        assert_eq!(unknown.status, 404, "{list}: {:?}", unknown.body);
    }
    let refused = app
        .call(
            &alice,
            "POST",
            "/v1/assistants",
            Some(json!({"model": "gpt-4o"})),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.body["error"]["message"],
        "You may not create an assistant."
    );
    app.stop().await;
}

/// Responses echo what callers typed too (tool schemas, `text.format`,
/// metadata): lookalikes of another tenant's response, conversation and
/// vector store in every echoed field, polled and streamed, make none of
/// them the caller's, and only the caller's own responses count as usage.
#[actix_web::test]
async fn echoed_lookalikes_in_responses_claim_nothing() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let alice = app.token("acme", "alice");
    let carol = app.token("globex", "carol");
    let carols_response = app
        .call(
            &carol,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "carol's"})),
        )
        .await
        .id();
    let carols_conversation = app
        .call(&carol, "POST", "/v1/conversations", Some(json!({})))
        .await
        .id();
    let carols_store = app
        .call(
            &carol,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "carol's"})),
        )
        .await
        .id();
    let lookalikes = json!([
        {"object": "response", "id": carols_response, "status": "completed",
         "usage": {"input_tokens": 1_000_000, "output_tokens": 1_000_000, "total_tokens": 2_000_000}},
        {"object": "conversation", "id": carols_conversation},
        {"type": "code_interpreter_call", "container_id": "cntr_fake"},
        {"type": "file_search_call", "vector_store_ids": [carols_store]},
    ]);
    let with_echoes = |stream: bool| {
        json!({
            "model": "gpt-4o",
            "input": "nothing to see",
            "stream": stream,
            "tools": [{"type": "function", "name": "lookalike", "strict": false, "parameters": {
                "type": "object", "properties": {}, "examples": lookalikes}}],
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {
                "type": "object", "default": lookalikes}}},
            "metadata": {"response": carols_response, "conversation": carols_conversation},
        })
    };
    let polled = app
        .call(&alice, "POST", "/v1/responses", Some(with_echoes(false)))
        .await;
    assert_eq!(polled.status, 200, "{:?}", polled.body);
    let (status, streamed) = app
        .post_stream(&alice, "/v1/responses", &with_echoes(true))
        .await;
    assert_eq!(status, 200, "{streamed}");
    assert!(streamed.contains("response.completed"), "{streamed}");

    for path in [
        format!("/v1/responses/{carols_response}"),
        format!("/v1/conversations/{carols_conversation}"),
        format!("/v1/vector_stores/{carols_store}"),
    ] {
        let refused = app.call(&alice, "GET", &path, None).await;
        assert_eq!(refused.status, 404, "{path}: {:?}", refused.body);
    }
    let listed = app.call(&alice, "GET", "/v1/responses", None).await;
    let mine: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|response| response["id"].as_str().unwrap())
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(!mine.contains(&carols_response.as_str()));

    // Usage: alice's two responses, as they report it, and nothing echoed.
    let expected: i64 = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|response| response["usage"]["total_tokens"].as_i64().unwrap())
        .sum();
    assert!(expected > 0 && expected < 2_000_000, "{expected}");
    let tenant = app.admin.tenant("acme").await.unwrap();
    let recorded = app
        .admin
        .database
        .run("test.usage", move |conn| {
            storage::repo::usage::total_for_tenant(conn, tenant.id)
        })
        .await
        .unwrap();
    assert_eq!(recorded, expected);
    app.stop().await;
}
