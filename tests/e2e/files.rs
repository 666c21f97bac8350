//! Files and vector stores: ownership of uploads and of what the assistant
//! writes, tenant knowledge, limits, and lists that reveal nothing.

use domain::{Owner, ResourceKind, UpstreamId};
use serde_json::{Value, json};
use storage::repo::resources::{self, NewResource};
use threadgate_tests::TestApp;

pub(crate) async fn download(
    app: &TestApp,
    token: &str,
    file: &str,
) -> (u16, Vec<u8>, Option<String>) {
    let response = app
        .client
        .get(app.url(&format!("/v1/files/{file}/content")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        response.bytes().await.unwrap().to_vec(),
        content_type,
    )
}

pub(crate) fn output_file_of(message: &Value) -> String {
    message["content"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|part| part["image_file"]["file_id"].as_str())
        .unwrap_or_else(|| panic!("no image_file in {message}"))
        .to_owned()
}

#[actix_web::test]
async fn a_file_the_assistant_writes_is_its_thread_owners_alone() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let assistant = app.assistant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let carol = app.token("globex", "carol");

    // Polled: first seen when the messages are listed.
    let run = app
        .call(&alice, "POST", "/v1/threads/runs",
              Some(json!({"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": "chart #output-file"}]}})))
        .await;
    let thread = run.body["thread_id"].as_str().unwrap().to_owned();
    let run_id = run.body["id"].as_str().unwrap().to_owned();
    let finished = app.finished_run(&alice, &thread, &run_id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    let messages = app
        .call(
            &alice,
            "GET",
            &format!("/v1/threads/{thread}/messages"),
            None,
        )
        .await;
    let file = output_file_of(&messages.body["data"][0]);
    let (status, bytes, content_type) = download(&app, &alice, &file).await;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"\x89PNG"));
    assert_eq!(content_type.as_deref(), Some("image/png"));
    for intruder in [&bob, &carol] {
        assert_eq!(download(&app, intruder, &file).await.0, 404);
        assert_eq!(
            app.call(intruder, "GET", &format!("/v1/files/{file}"), None)
                .await
                .status,
            404
        );
    }
    let listed = app
        .call(&alice, "GET", "/v1/files?purpose=assistants_output", None)
        .await;
    assert_eq!(listed.body["data"][0]["id"], file.as_str());

    // Streamed: first seen in a delta, downloadable at once.
    let response = app
        .client
        .post(app.url("/v1/threads/runs"))
        .bearer_auth(&alice)
        .json(&json!({"assistant_id": assistant, "stream": true,
                      "thread": {"messages": [{"role": "user", "content": "again #output-file"}]}}))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let delta: Value = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|event| {
            event["object"] == "thread.message.delta"
                && event["delta"]["content"][0]["type"] == "image_file"
        })
        .expect("an image_file delta");
    let streamed = delta["delta"]["content"][0]["image_file"]["file_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(streamed, file);
    assert_eq!(download(&app, &alice, &streamed).await.0, 200);
    for intruder in [&bob, &carol] {
        assert_eq!(download(&app, intruder, &streamed).await.0, 404);
    }
    app.stop().await;
}

#[actix_web::test]
async fn tenant_knowledge_is_usable_by_assistants_and_readable_by_admins_only() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin_token("acme", "ada");
    let alice = app.token("acme", "alice");

    let knowledge = app
        .upload(
            &admin,
            "assistants",
            "handbook.txt",
            b"handbook",
            &[("Threadgate-Owner", "tenant")],
        )
        .await
        .id();
    let store = app
        .call(
            &admin,
            "POST",
            "/v1/vector_stores",
            Some(json!({"name": "handbook", "file_ids": [knowledge]})),
        )
        .await;
    assert_eq!(store.status, 200, "{:?}", store.body);
    let store = store.body["id"].as_str().unwrap().to_owned();

    let assistant = app
        .call(
            &admin,
            "POST",
            "/v1/assistants",
            Some(json!({
                "model": "gpt-4o", "name": "Handbook",
                "tools": [{"type": "file_search"}],
                "tool_resources": {"file_search": {"vector_store_ids": [store]}},
            })),
        )
        .await;
    assert_eq!(assistant.status, 200, "{:?}", assistant.body);
    let assistant = assistant.body["id"].as_str().unwrap().to_owned();

    // Members run it, but cannot reach its knowledge, nor change it.
    let run = app
        .call(&alice, "POST", "/v1/threads/runs",
              Some(json!({"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": "what does the handbook say?"}]}})))
        .await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    assert_eq!(download(&app, &alice, &knowledge).await.0, 404);
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/vector_stores/{store}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.call(
            &alice,
            "POST",
            &format!("/v1/assistants/{assistant}"),
            Some(json!({"name": "mine now"}))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call(
            &alice,
            "POST",
            "/v1/assistants",
            Some(json!({"model": "gpt-4o"}))
        )
        .await
        .status,
        403
    );
    let own_store = app
        .call(
            &alice,
            "POST",
            "/v1/vector_stores",
            Some(json!({"file_ids": [knowledge]})),
        )
        .await;
    assert_eq!(
        own_store.status, 404,
        "a member cannot index the tenant's knowledge"
    );

    // Admins read and manage it.
    assert_eq!(download(&app, &admin, &knowledge).await.0, 200);
    let tenant_files = app
        .client
        .get(app.url("/v1/files"))
        .bearer_auth(&admin)
        .header("Threadgate-Owner", "tenant")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(tenant_files["data"][0]["id"], knowledge.as_str());
    assert_eq!(
        app.call(
            &admin,
            "POST",
            &format!("/v1/assistants/{assistant}"),
            Some(json!({"name": "Handbook 2"}))
        )
        .await
        .body["name"],
        "Handbook 2"
    );
    assert_eq!(
        app.call(
            &admin,
            "DELETE",
            &format!("/v1/assistants/{assistant}"),
            None
        )
        .await
        .body["deleted"],
        true
    );
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/assistants/{assistant}"), None)
            .await
            .status,
        404
    );
    app.stop().await;
}

#[actix_web::test]
async fn uploads_over_the_limit_are_refused_with_413_and_leave_nothing() {
    let app = TestApp::spawn_with(json!({"server": {"max_upload_bytes": 1024}})).await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let big = vec![b'x'; 64 * 1024];
    for purpose_first in [true, false] {
        let file = reqwest::multipart::Part::stream(big.clone()).file_name("big.txt");
        let form = if purpose_first {
            reqwest::multipart::Form::new()
                .text("purpose", "assistants")
                .part("file", file)
        } else {
            reqwest::multipart::Form::new()
                .part("file", file)
                .text("purpose", "assistants")
        };
        let response = app
            .client
            .post(app.url("/v1/files"))
            .bearer_auth(&alice)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    // File before purpose, small: spooled and uploaded all the same.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(&b"small"[..]).file_name("small.txt"),
        )
        .text("purpose", "assistants");
    let response = app
        .client
        .post(app.url("/v1/files"))
        .bearer_auth(&alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refused = app.upload(&alice, "fine-tune", "x.txt", b"x", &[]).await;
    assert_eq!(refused.status, 400);
    let listed = app.call(&alice, "GET", "/v1/files", None).await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "only the small file exists"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_user_with_nothing_lists_nothing_while_others_have_hundreds() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    app.call(&alice, "GET", "/v1/files", None).await;
    let tenant = app.admin.tenant("acme").await.unwrap();
    app.admin
        .database
        .run("test.hundreds", move |conn| {
            let alice = storage::repo::users::find_or_create(conn, tenant.id, "alice")?;
            for index in 0..300 {
                let (kind, id) = if index % 2 == 0 {
                    (ResourceKind::File, format!("file-alice{index}"))
                } else {
                    (ResourceKind::VectorStore, format!("vs_alice{index}"))
                };
                resources::record_existing(
                    conn,
                    &NewResource {
                        tenant_id: tenant.id,
                        kind,
                        upstream_profile: "default",
                        owner: Owner::User(alice.id),
                        parent_id: None,
                        request_id: None,
                        attributes: json!({"id": id, "object": "file", "purpose": "assistants"}),
                    },
                    &UpstreamId::parse(id).unwrap(),
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    for path in ["/v1/files", "/v1/vector_stores"] {
        let empty = app.call(&bob, "GET", path, None).await;
        assert_eq!(empty.status, 200);
        assert_eq!(
            empty.body,
            json!({"object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false})
        );
    }
    let alices = app.call(&alice, "GET", "/v1/files?limit=100", None).await;
    assert_eq!(alices.body["data"].as_array().unwrap().len(), 100);
    assert_eq!(alices.body["has_more"], true);
    app.stop().await;
}

#[actix_web::test]
async fn a_vector_store_the_upstream_makes_for_a_thread_is_the_threads_owners() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let file = app
        .upload(&alice, "assistants", "notes.txt", b"notes", &[])
        .await
        .id();
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = app
        .call(&alice, "POST", &format!("/v1/threads/{thread}/messages"),
              Some(json!({"role": "user", "content": "search this", "attachments": [{"file_id": file, "tools": [{"type": "file_search"}]}]})))
        .await;
    assert_eq!(message.status, 200, "{:?}", message.body);
    let seen = app
        .call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
        .await;
    let store = seen.body["tool_resources"]["file_search"]["vector_store_ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/vector_stores/{store}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/vector_stores/{store}"), None)
            .await
            .status,
        404
    );
    let listed = app.call(&alice, "GET", "/v1/vector_stores", None).await;
    assert_eq!(listed.body["data"][0]["id"], store.as_str());
    app.stop().await;
}
