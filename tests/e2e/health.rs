use devdb::TestDatabase;
use threadgate_tests::TestApp;

#[actix_web::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
    app.stop().await;
}

#[actix_web::test]
async fn readyz_is_ready_with_a_migrated_database() {
    let app = TestApp::spawn().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ready"}));
    app.stop().await;
}

#[actix_web::test]
async fn unknown_routes_get_an_openai_shaped_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": {
            "message": "Invalid URL (GET /v1/nothing-here)",
            "type": "invalid_request_error",
            "param": null,
            "code": null,
        }})
    );
    app.stop().await;
}

async fn assert_not_ready(app: &TestApp, expected_message: &str) {
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(body["error"]["message"], expected_message);
}

#[actix_web::test]
async fn readyz_is_not_ready_while_migrations_are_pending() {
    let database = TestDatabase::create();
    let mut conn = storage::connect(database.url()).unwrap();
    storage::migrations::revert_all(&mut conn).unwrap();
    drop(conn);
    let app = TestApp::spawn_on(database).await;

    assert_not_ready(
        &app,
        "The database schema is behind this release: run `threadgate migrate`.",
    )
    .await;
    // Alive all the same: an orchestrator must not restart it for this.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

#[actix_web::test]
async fn readyz_is_not_ready_while_the_database_is_unreachable() {
    let app = TestApp::spawn_with_database_url("postgres://nobody@127.0.0.1:1/none").await;
    assert_not_ready(&app, "The database is unreachable.").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}

#[actix_web::test]
async fn metrics_are_served_apart_with_route_templates_and_no_tenant_ids() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(serde_json::json!({})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(&bob, "GET", &format!("/v1/threads/{thread}"), None)
        .await;
    // A finished run's tokens are counted for its tenant.
    let assistant = app.assistant("acme").await;
    let run = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(serde_json::json!({"assistant_id": assistant})),
        )
        .await;
    app.finished_run(&alice, &thread, &run.id()).await;
    // Not on the public port.
    assert_eq!(app.get("/metrics").await.status(), 404);
    let text = app
        .client
        .get(format!("{}/metrics", app.metrics_address.as_ref().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"threadgate_http_requests_total{route="/v1/threads/{thread_id}",method="GET",status="404"}"#,
        "threadgate_http_request_duration_seconds_bucket{",
        r#"threadgate_authorization_decisions_total{outcome="deny"}"#,
        r#"threadgate_upstream_requests_total{operation="/threads",status="200",attempt="1"}"#,
        "threadgate_upstream_request_duration_seconds_bucket{",
        r#"threadgate_db_pool_connections{state="in_use"}"#,
        "threadgate_db_acquire_seconds_bucket",
        "threadgate_audit_events_queued_total",
        "threadgate_open_streams",
        "threadgate_upstream_circuit_state",
        r#"threadgate_build_info{version=""#,
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_cpu_seconds_total ",
        r#"threadgate_tokens_total{tenant="acme",direction="input"}"#,
        r#"threadgate_tokens_total{tenant="acme",direction="output"}"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    let tenant = app.admin.tenant("acme").await.unwrap();
    assert!(
        !text.contains(&tenant.id.to_string()),
        "no tenant id in metrics"
    );
    assert!(!text.contains(&thread), "no object id in metrics");
    app.stop().await;
}

/// The Azure surface needs a supported `api-version`, and says so.
#[actix_web::test]
async fn the_azure_surface_needs_a_supported_api_version() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    for (query, expected) in [
        ("", "Missing required query parameter: api-version"),
        ("?api-version=2023-05-15", "API version not supported"),
    ] {
        let refused = app
            .call(&alice, "GET", &format!("/openai/threads{query}"), None)
            .await;
        assert_eq!(refused.status, 400, "{query}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["message"], expected);
        assert_eq!(refused.body["error"]["param"], "api-version");
    }
    let served = app
        .call(
            &alice,
            "GET",
            "/openai/threads?api-version=2025-04-01-preview",
            None,
        )
        .await;
    assert_eq!(served.status, 200, "{:?}", served.body);
    assert_eq!(served.body["object"], "list");

    // Errors in each surface's spelling: Azure's `code` is a string (the
    // status when there is no specific code) and absent fields are left out.
    let missing = "/threads/thread_0123456789abcdef01234567";
    let azure = app
        .call(
            &alice,
            "GET",
            &format!("/openai{missing}?api-version=2025-04-01-preview"),
            None,
        )
        .await;
    assert_eq!(azure.status, 404);
    assert_eq!(azure.body["error"]["code"], "404", "{:?}", azure.body);
    assert!(
        azure.body["error"].get("param").is_none(),
        "{:?}",
        azure.body
    );
    let openai = app
        .call(&alice, "GET", &format!("/v1{missing}"), None)
        .await;
    assert_eq!(openai.status, 404);
    assert!(openai.body["error"]["code"].is_null(), "{:?}", openai.body);
    assert!(openai.body["error"]["param"].is_null(), "{:?}", openai.body);
    assert_eq!(
        azure.body["error"]["message"],
        openai.body["error"]["message"]
    );
    app.stop().await;
}

/// A malformed query parameter is named in plain words.
#[actix_web::test]
async fn a_malformed_limit_is_named_in_plain_words() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    for path in ["/v1/threads?limit=many", "/v1/files?limit=1.5"] {
        let refused = app.call(&alice, "GET", path, None).await;
        assert_eq!(refused.status, 400, "{path}");
        assert_eq!(refused.body["error"]["param"], "limit", "{path}");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Invalid 'limit': integer"), "{message}");
        assert!(!message.contains("deserialize"), "{message}");
    }
    // Unknown parameters are ignored, as the upstream ignores them.
    let listed = app
        .call(&alice, "GET", "/v1/threads?limit=2&colour=blue", None)
        .await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    app.stop().await;
}

/// `/docs` is Swagger UI from the binary itself: every asset is served here
/// (nothing from a CDN), it reads this server's document, tries operations
/// out, and offers both credentials.
#[actix_web::test]
async fn the_docs_page_is_served_whole_from_the_binary() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");
    let page = app.get("/docs/").await.text().await.unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "only local assets: {page}"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let served = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(served.status(), 200, "{asset}");
    }
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(r#""url": "/openapi.json""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""tryItOutEnabled": true"#),
        "{initializer}"
    );
    let document: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "api-key");
    app.stop().await;
}

/// `/docs` in a real browser: authorize with a token, create a thread.
#[actix_web::test]
async fn the_docs_page_creates_a_thread_in_a_real_browser() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let env = vec![
        ("THREADGATE_URL", app.address.clone()),
        ("TOKEN", app.token("acme", "alice")),
    ];
    tokio::task::spawn_blocking(move || {
        threadgate_tests::python::pytest("test_docs_browser.py", &env)
    })
    .await
    .unwrap();
    app.stop().await;
}
