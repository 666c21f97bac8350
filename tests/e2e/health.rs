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
