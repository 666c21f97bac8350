//! The authorization matrix: for every row of the operation table (the
//! table the router serves and the OpenAPI document describes), with every
//! id it can name (path, list cursor, body reference) set to an object of
//! alice's, bob (same tenant) and carol (another tenant) are refused and the
//! upstream receives nothing. A route the matrix does not know how to call
//! fails the test, so a new route is covered or noticed.

use api::routes::table::{ROUTES, Verb};
use serde_json::{Value, json};
use threadgate_tests::TestApp;

struct Ids {
    assistant: String,
    thread: String,
    message: String,
    run: String,
    step: String,
    file: String,
    store: String,
    batch: String,
    conversation: String,
    item: String,
    response: String,
    container: String,
    container_file: String,
}

/// alice's objects: a thread with a message and a run, a file, a vector
/// store with it, and a file batch.
async fn alices_objects(app: &TestApp, alice: &str) -> Ids {
    let assistant = app.assistant("acme").await;
    let thread = app
        .call(alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let message = app
        .call(
            alice,
            "POST",
            &format!("/v1/threads/{thread}/messages"),
            Some(json!({"role": "user", "content": "hi"})),
        )
        .await
        .id();
    let run = app
        .call(
            alice,
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await
        .id();
    let steps = format!("/v1/threads/{thread}/runs/{run}/steps");
    let step = app
        .poll("the run's first step", || async {
            let listed = app.call(alice, "GET", &steps, None).await;
            listed.body["data"][0]["id"].as_str().map(str::to_owned)
        })
        .await;
    let file = app
        .upload(alice, "assistants", "notes.txt", b"private notes", &[])
        .await
        .id();
    let store = app
        .call(
            alice,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "mine", "file_ids": [file]})),
        )
        .await
        .id();
    let second = app
        .upload(alice, "assistants", "more.txt", b"more notes", &[])
        .await
        .id();
    let batch = app
        .call(
            alice,
            "POST",
            &format!("/v1/vector_stores/{store}/file_batches"),
            Some(json!({"file_ids": [second]})),
        )
        .await
        .id();
    let conversation = app
        .call(
            alice,
            "POST",
            "/v1/conversations",
            Some(json!({"items": [{"role": "user", "content": "private"}]})),
        )
        .await
        .id();
    let items = app
        .call(
            alice,
            "GET",
            &format!("/v1/conversations/{conversation}/items"),
            None,
        )
        .await;
    let item = items.body["data"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .call(
            alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "private"})),
        )
        .await
        .id();
    let container = app
        .call(
            alice,
            "POST",
            "/v1/containers",
            Some(json!({"name": "mine", "file_ids": [file]})),
        )
        .await
        .id();
    let container_files = app
        .call(
            alice,
            "GET",
            &format!("/v1/containers/{container}/files"),
            None,
        )
        .await;
    let container_file = container_files.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Ids {
        assistant,
        thread,
        message,
        run,
        step,
        file,
        store,
        batch,
        conversation,
        item,
        response,
        container,
        container_file,
    }
}

fn substitute(template: &str, ids: &Ids) -> String {
    let mut path = template.to_owned();
    // A container's files have ids of their own.
    if template.starts_with("/v1/containers/{container_id}/files/{file_id}") {
        path = path.replace("{file_id}", &ids.container_file);
    }
    for (name, value) in [
        ("{thread_id}", &ids.thread),
        ("{message_id}", &ids.message),
        ("{run_id}", &ids.run),
        ("{step_id}", &ids.step),
        ("{assistant_id}", &ids.assistant),
        ("{file_id}", &ids.file),
        ("{vector_store_id}", &ids.store),
        ("{batch_id}", &ids.batch),
        ("{conversation_id}", &ids.conversation),
        ("{item_id}", &ids.item),
        ("{response_id}", &ids.response),
        ("{container_id}", &ids.container),
    ] {
        path = path.replace(name, value);
    }
    assert!(
        !path.contains('{'),
        "the matrix does not know a parameter of {template}: add it"
    );
    path
}

/// A body for each POST route, naming alice's objects wherever it can.
fn body_for(template: &str, ids: &Ids) -> Option<Value> {
    let attachment = json!([{"file_id": ids.file, "tools": [{"type": "file_search"}]}]);
    Some(match template {
        "/v1/threads" => {
            json!({"messages": [{"role": "user", "content": "x", "attachments": attachment}],
                                "tool_resources": {"file_search": {"vector_store_ids": [ids.store]}}})
        }
        "/v1/threads/runs" => json!({"assistant_id": ids.assistant,
                                     "thread": {"messages": [{"role": "user", "content": "x", "attachments": attachment}]}}),
        "/v1/threads/{thread_id}" => json!({"metadata": {"k": "v"}}),
        "/v1/threads/{thread_id}/messages" => json!({"role": "user", "content": "x"}),
        "/v1/threads/{thread_id}/messages/{message_id}" => json!({"metadata": {"k": "v"}}),
        "/v1/threads/{thread_id}/runs" => json!({"assistant_id": ids.assistant}),
        "/v1/threads/{thread_id}/runs/{run_id}" => json!({"metadata": {"k": "v"}}),
        "/v1/threads/{thread_id}/runs/{run_id}/cancel" => return None,
        "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs" => {
            json!({"tool_outputs": [{"tool_call_id": "call_x", "output": "o"}]})
        }
        "/v1/assistants" => {
            json!({"model": "gpt-4o", "tool_resources": {"code_interpreter": {"file_ids": [ids.file]}}})
        }
        "/v1/assistants/{assistant_id}" => json!({"name": "renamed"}),
        "/v1/vector_stores" => json!({"name": "x", "file_ids": [ids.file]}),
        "/v1/vector_stores/{vector_store_id}" => json!({"name": "x"}),
        "/v1/vector_stores/{vector_store_id}/search" => json!({"query": "notes"}),
        "/v1/vector_stores/{vector_store_id}/files" => json!({"file_id": ids.file}),
        "/v1/vector_stores/{vector_store_id}/files/{file_id}" => json!({"attributes": {"a": "b"}}),
        "/v1/vector_stores/{vector_store_id}/file_batches" => json!({"file_ids": [ids.file]}),
        "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel" => return None,
        "/v1/conversations" => {
            json!({"items": [{"role": "user", "content": [{"type": "input_file", "file_id": ids.file}]}]})
        }
        "/v1/conversations/{conversation_id}" => json!({"metadata": {"k": "v"}}),
        "/v1/conversations/{conversation_id}/items" => {
            json!({"items": [{"role": "user", "content": "x"}]})
        }
        "/v1/responses" | "/v1/responses/input_tokens" | "/v1/responses/compact" => json!({
            "model": "gpt-4o",
            "previous_response_id": ids.response,
            "input": [{"role": "user", "content": [{"type": "input_file", "file_id": ids.file}]}],
            "tools": [{"type": "file_search", "vector_store_ids": [ids.store]}],
        }),
        "/v1/responses/{response_id}/cancel" => return None,
        "/v1/containers" => json!({"name": "x", "file_ids": [ids.file]}),
        "/v1/containers/{container_id}/files" => json!({"file_id": ids.file}),
        other => {
            panic!("the matrix has no body for POST {other}: add one that names alice's objects")
        }
    })
}

/// Top-level lists: their cursors name objects that must be authorized.
fn cursor_for(template: &str, ids: &Ids) -> Option<String> {
    match template {
        "/v1/threads" => Some(format!("?after={}", ids.thread)),
        "/v1/assistants" => Some(format!("?after={}", ids.assistant)),
        "/v1/files" => Some(format!("?after={}", ids.file)),
        "/v1/vector_stores" => Some(format!("?after={}", ids.store)),
        "/v1/conversations" => Some(format!("?after={}", ids.conversation)),
        "/v1/responses" => Some(format!("?after={}", ids.response)),
        "/v1/containers" => Some(format!("?after={}", ids.container)),
        _ => None,
    }
}

/// What bob, alice's colleague, must get: 404, except where the only id is
/// the tenant's assistant, which every member may see (`None`: allowed,
/// not checked here) but only admins may change (403).
fn colleague_expects(method: &str, template: &str) -> Option<u16> {
    match (method, template) {
        ("GET", "/v1/assistants" | "/v1/assistants/{assistant_id}") => None,
        ("POST" | "DELETE", "/v1/assistants/{assistant_id}") => Some(403),
        _ => Some(404),
    }
}

#[actix_web::test]
async fn no_route_lets_another_user_or_tenant_reach_an_object() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let carol = app.token("globex", "carol");
    let ids = alices_objects(&app, &alice).await;
    // Both intruders exist as users; each has a thread of their own.
    let bobs_thread = app
        .call(&bob, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let carols_thread = app
        .call(&carol, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();

    let mut checked = 0;
    for route in ROUTES {
        if !route.names_an_object() {
            continue;
        }
        let template = route.public_path();
        let template = template.as_str();
        let method = match route.verb {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        };
        let mut path = substitute(template, &ids);
        if method == "GET" {
            path.push_str(&cursor_for(template, &ids).unwrap_or_default());
        }
        let body = if method == "POST" {
            body_for(template, &ids)
        } else {
            None
        };
        // The Azure surface serves the same rows: another tenant tries it too.
        let separator = if path.contains('?') { '&' } else { '?' };
        let azure_path = format!(
            "{}{separator}api-version=2025-04-01-preview",
            path.replacen("/v1", "/openai", 1)
        );
        let azure_v1_path = path.replacen("/v1", "/openai/v1", 1);
        for (name, token, path) in [
            ("bob", &bob, &path),
            ("carol", &carol, &path),
            ("carol on /openai", &carol, &azure_path),
            ("bob on /openai/v1", &bob, &azure_v1_path),
        ] {
            let expected = if name.starts_with("bob") {
                colleague_expects(method, template)
            } else {
                Some(404)
            };
            let Some(expected) = expected else { continue };
            let before = app.upstream_requests().len();
            let answer = app.call(token, method, path, body.clone()).await;
            assert_eq!(
                answer.status, expected,
                "{name}: {method} {path} answered {} {:?}",
                answer.status, answer.body
            );
            // A route the router did not serve would answer 404 too.
            let message = answer.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("Invalid URL"),
                "{method} {template} is in the table but not served"
            );
            assert_eq!(
                app.upstream_requests().len(),
                before,
                "{name}: {method} {path} reached the upstream"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 110,
        "only {checked} cases: is the document complete?"
    );

    // The sharing routes (Threadgate's own, beside the table): another user
    // or tenant can neither share alice's objects nor see their shares.
    let mut shares = 0;
    for (template, item) in &api::openapi().paths.paths {
        if !template.contains("/shares") {
            continue;
        }
        let path = template
            .replace("{thread_id}", &ids.thread)
            .replace("{conversation_id}", &ids.conversation)
            .replace("{user}", "bob");
        for (method, present) in [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
        ] {
            if !present {
                continue;
            }
            let body = (method == "POST").then(|| json!({"user": "bob", "permission": "write"}));
            for (name, token) in [("bob", &bob), ("carol", &carol)] {
                let answer = app.call(token, method, &path, body.clone()).await;
                assert_eq!(
                    answer.status, 404,
                    "{name}: {method} {path}: {:?}",
                    answer.body
                );
                shares += 1;
            }
        }
    }
    assert_eq!(
        shares, 12,
        "three routes each for threads and conversations, two intruders"
    );
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/threads/{}", ids.thread), None)
            .await
            .status,
        404,
        "no share was made"
    );

    // Body references alone, on the intruder's own objects.
    let before = app.upstream_requests().len();
    let refused = [
        (
            &carol,
            format!("/v1/threads/{carols_thread}/runs"),
            json!({"assistant_id": ids.assistant}),
        ),
        (
            &carol,
            format!("/v1/threads/{carols_thread}/messages"),
            json!({"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": ids.file}}]}),
        ),
        (
            &bob,
            format!("/v1/threads/{bobs_thread}"),
            json!({"tool_resources": {"code_interpreter": {"file_ids": [ids.file]}}}),
        ),
        (
            &bob,
            format!("/v1/threads/{bobs_thread}"),
            json!({"tool_resources": {"file_search": {"vector_store_ids": [ids.store]}}}),
        ),
        (
            &bob,
            "/v1/threads".to_owned(),
            json!({"tool_resources": {"file_search": {"vector_stores": [{"file_ids": [ids.file]}]}}}),
        ),
        (
            &bob,
            format!("/v1/threads/{bobs_thread}/runs"),
            json!({"assistant_id": ids.assistant, "additional_messages": [{"role": "user", "content": "x", "attachments": [{"file_id": ids.file, "tools": [{"type": "code_interpreter"}]}]}]}),
        ),
        // The Responses API: each reference alone.
        (
            &bob,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "input": "x", "previous_response_id": ids.response}),
        ),
        (
            &bob,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "input": "x", "conversation": {"id": ids.conversation}}),
        ),
        (
            &carol,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "input": "x", "conversation": ids.conversation}),
        ),
        (
            &bob,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "store": false, "input": [{"role": "user", "content": [{"type": "input_image", "file_id": ids.file}]}]}),
        ),
        (
            &bob,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "input": "x", "tools": [{"type": "code_interpreter", "container": {"type": "auto", "file_ids": [ids.file]}}]}),
        ),
        (
            &bob,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "input": [{"type": "item_reference", "id": ids.item}]}),
        ),
        (
            &bob,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "input": "#output-file", "tools": [{"type": "code_interpreter", "container": ids.container}]}),
        ),
        (
            &bob,
            "/v1/containers".to_owned(),
            json!({"name": "x", "file_ids": [ids.file]}),
        ),
        // An item reference without its optional type, and one copied
        // into a conversation.
        (
            &bob,
            "/v1/responses".to_owned(),
            json!({"model": "gpt-4o", "input": [{"id": ids.item}]}),
        ),
        (
            &bob,
            "/v1/conversations".to_owned(),
            json!({"items": [{"type": "item_reference", "id": ids.item}]}),
        ),
        (
            &bob,
            "/v1/responses/input_tokens".to_owned(),
            json!({"model": "gpt-4o", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": [ids.store]}]}),
        ),
        (
            &bob,
            "/v1/conversations".to_owned(),
            json!({"items": [{"type": "function_call_output", "call_id": "c", "output": [{"type": "input_file", "file_id": ids.file}]}]}),
        ),
    ];
    for (token, path, body) in refused {
        let answer = app.call(token, "POST", &path, Some(body.clone())).await;
        assert_eq!(answer.status, 404, "POST {path} {body}: {:?}", answer.body);
    }
    assert_eq!(
        app.upstream_requests().len(),
        before,
        "no refused reference reached the upstream"
    );
    // Bob's own vector store cannot take alice's file.
    let bobs_store = app
        .call(
            &bob,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "bob's"})),
        )
        .await
        .id();
    let after_setup = app.upstream_requests().len();
    for (path, body) in [
        (
            format!("/v1/vector_stores/{bobs_store}/files"),
            json!({"file_id": ids.file}),
        ),
        (
            format!("/v1/vector_stores/{bobs_store}/file_batches"),
            json!({"files": [{"file_id": ids.file}]}),
        ),
    ] {
        assert_eq!(
            app.call(&bob, "POST", &path, Some(body)).await.status,
            404,
            "{path}"
        );
    }
    assert_eq!(app.upstream_requests().len(), after_setup);

    // The owner is let through on the same routes.
    let own = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{}/messages/{}", ids.thread, ids.message),
            None,
        )
        .await;
    assert_eq!(own.status, 200);
    let own = app
        .call(
            &alice,
            "GET",
            &format!("/v1/vector_stores/{}/files/{}", ids.store, ids.file),
            None,
        )
        .await;
    assert_eq!(own.status, 200);
    app.stop().await;
}
