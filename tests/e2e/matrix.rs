//! The authorization matrix: for every `/v1` route in the OpenAPI document,
//! with every id it can name (path, list cursor, body reference) set to an
//! object of alice's, bob (same tenant) and carol (another tenant) get 404
//! and the upstream receives nothing. A route the matrix does not know how
//! to call fails the test, so a new route is covered or noticed.

use bytes::Bytes;
use domain::{Owner, ResourceKind, UpstreamId};
use serde_json::{Value, json};
use storage::repo::resources::{self, NewResource};
use threadgate_tests::TestApp;
use upstream::{FileUpload, Operation, RequestBody, UpstreamRequest};

struct Ids {
    assistant: String,
    thread: String,
    message: String,
    run: String,
    step: String,
    file: String,
}

/// alice's objects: a thread with a message and a completed run, and a file.
async fn alices_objects(app: &TestApp, alice: &str) -> Ids {
    let assistant = app.assistant("acme").await;
    let thread = app
        .call(alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = app
        .call(
            alice,
            "POST",
            &format!("/v1/threads/{thread}/messages"),
            Some(json!({"role": "user", "content": "hi"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = app
        .call(
            alice,
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let step = loop {
        let steps = app
            .call(
                alice,
                "GET",
                &format!("/v1/threads/{thread}/runs/{run}/steps"),
                None,
            )
            .await;
        if let Some(id) = steps.body["data"][0]["id"].as_str() {
            break id.to_owned();
        }
        tokio::task::yield_now().await;
    };
    // A file of alice's, recorded as the file API will record uploads.
    let upstream = app.admin.upstreams.get("default").unwrap();
    let file: Value = upstream
        .call(UpstreamRequest {
            operation: Operation::UploadFile,
            ids: &[],
            query: Vec::new(),
            body: RequestBody::File(FileUpload {
                purpose: "assistants".to_owned(),
                filename: "notes.txt".to_owned(),
                content_type: None,
                content: Bytes::from_static(b"private notes"),
            }),
        })
        .await
        .unwrap();
    let file_id = UpstreamId::parse(file["id"].as_str().unwrap()).unwrap();
    let tenant = app.admin.tenant("acme").await.unwrap();
    let alice_user = {
        let database = app.admin.database.clone();
        database
            .run("test.user", move |conn| {
                storage::repo::users::find_or_create(conn, tenant.id, "alice")
            })
            .await
            .unwrap()
    };
    let recorded = file_id.clone();
    app.admin
        .database
        .run("test.file", move |conn| {
            resources::record_existing(
                conn,
                &NewResource {
                    tenant_id: tenant.id,
                    kind: ResourceKind::File,
                    upstream_profile: "default",
                    owner: Owner::User(alice_user.id),
                    parent_id: None,
                    request_id: None,
                    attributes: serde_json::json!({}),
                },
                &recorded,
            )
        })
        .await
        .unwrap();
    Ids {
        assistant,
        thread,
        message,
        run,
        step,
        file: file_id.to_string(),
    }
}

fn substitute(template: &str, ids: &Ids) -> String {
    let mut path = template.to_owned();
    for (name, value) in [
        ("{thread_id}", &ids.thread),
        ("{message_id}", &ids.message),
        ("{run_id}", &ids.run),
        ("{step_id}", &ids.step),
        ("{assistant_id}", &ids.assistant),
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
            json!({"messages": [{"role": "user", "content": "x", "attachments": attachment}]})
        }
        "/v1/threads/runs" => {
            json!({"assistant_id": ids.assistant, "thread": {"messages": [{"role": "user", "content": "x", "attachments": attachment}]}})
        }
        "/v1/threads/{thread_id}" => json!({"metadata": {"k": "v"}}),
        "/v1/threads/{thread_id}/messages" => json!({"role": "user", "content": "x"}),
        "/v1/threads/{thread_id}/messages/{message_id}" => json!({"metadata": {"k": "v"}}),
        "/v1/threads/{thread_id}/runs" => json!({"assistant_id": ids.assistant}),
        "/v1/threads/{thread_id}/runs/{run_id}" => json!({"metadata": {"k": "v"}}),
        "/v1/threads/{thread_id}/runs/{run_id}/cancel" => return None,
        "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs" => {
            json!({"tool_outputs": [{"tool_call_id": "call_x", "output": "o"}]})
        }
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
        _ => None,
    }
}

/// Routes whose only ids are the tenant's assistants, which every member
/// may read and run: bob is allowed there; carol is not.
fn members_may(method: &str, template: &str) -> bool {
    matches!(
        (method, template),
        ("GET", "/v1/assistants" | "/v1/assistants/{assistant_id}")
    )
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
    // Make sure both intruders exist as users and carol has a thread of her own.
    app.call(&bob, "GET", "/v1/threads", None).await;
    let carols_thread = app
        .call(&carol, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut checked = 0;
    for (template, operations) in document["paths"].as_object().unwrap() {
        if !template.starts_with("/v1/") {
            continue;
        }
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let mut path = substitute(template, &ids);
            if method == "GET" {
                path.push_str(&cursor_for(template, &ids).unwrap_or_default());
            }
            let body = if method == "POST" {
                body_for(template, &ids)
            } else {
                None
            };
            for (name, token) in [("bob", &bob), ("carol", &carol)] {
                if name == "bob" && members_may(&method, template) {
                    continue;
                }
                let before = app.upstream_requests().len();
                let answer = app.call(token, &method, &path, body.clone()).await;
                assert_eq!(
                    answer.status, 404,
                    "{name}: {method} {path} answered {} {:?}",
                    answer.status, answer.body
                );
                assert_eq!(
                    app.upstream_requests().len(),
                    before,
                    "{name}: {method} {path} reached the upstream"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 30,
        "only {checked} cases: is the document complete?"
    );

    // Body references alone, on the intruder's own objects.
    let before = app.upstream_requests().len();
    let run = app
        .call(
            &carol,
            "POST",
            &format!("/v1/threads/{carols_thread}/runs"),
            Some(json!({"assistant_id": ids.assistant})),
        )
        .await;
    assert_eq!(run.status, 404);
    let message = app
        .call(&carol, "POST", &format!("/v1/threads/{carols_thread}/messages"),
              Some(json!({"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": ids.file}}]})))
        .await;
    assert_eq!(message.status, 404);
    assert_eq!(
        message.body["error"]["message"],
        format!("No file found with id '{}'.", ids.file)
    );
    let bobs_thread = app
        .call(&bob, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let after_setup = app.upstream_requests().len();
    let modified = app
        .call(
            &bob,
            "POST",
            &format!("/v1/threads/{bobs_thread}"),
            Some(json!({"tool_resources": {"code_interpreter": {"file_ids": [ids.file]}}})),
        )
        .await;
    assert_eq!(modified.status, 404);
    assert_eq!(app.upstream_requests().len(), after_setup);
    assert_eq!(
        after_setup,
        before + 1,
        "only bob's own thread creation reached the upstream"
    );

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
    app.stop().await;
}
