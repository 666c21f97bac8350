//! One request's span tree reaches an OTLP collector: the server span
//! (route template, tenant, status) under the caller's trace, with children
//! for authentication, the authorization decision, database calls and the
//! upstream call, and the trace continues upstream. A binary of its own: it
//! installs the process-wide subscriber.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use devdb::TestDatabase;
use emulator::{EmulatorConfig, RunningEmulator};
use figment::providers::Serialized;
use serde_json::{Value, json};
use threadgate_server::admin::IssuerSpec;
use threadgate_server::config::Settings;
use threadgate_server::dev_issuer::DevIssuer;
use threadgate_server::{Application, admin_for, telemetry};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A collector that keeps every OTLP/HTTP JSON export it receives.
fn collector() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                let kept = kept.clone();
                App::new().route(
                    "/v1/traces",
                    web::post().to(move |body: web::Bytes| {
                        let kept = kept.clone();
                        async move {
                            kept.lock().unwrap().push(
                                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
                            );
                            HttpResponse::Ok().json(json!({}))
                        }
                    }),
                )
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
    (address, received)
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[test]
fn a_request_leaves_its_span_tree_with_the_collector() {
    let (collector, received) = collector();
    // SAFETY of the test: set before any thread reads the environment.
    unsafe_env(&collector);
    let telemetry = telemetry::init(&threadgate_server::config::LogSettings {
        format: threadgate_server::config::LogFormat::Text,
        filter: "info".to_owned(),
    })
    .unwrap();

    let emulator_journal = actix_web::rt::System::new().block_on(async {
        let database = TestDatabase::create();
        let emulator = RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = Settings::from_figment(
            Settings::figment(None)
                .merge(Serialized::default("database.url", database.url()))
                .merge(Serialized::default("metrics.listen", None::<String>))
                .merge(Serialized::default(
                    "upstreams.default",
                    json!({"flavour": "azure", "endpoint": emulator.base_url(),
                           "credential": {"kind": "azure_api_key", "key": EmulatorConfig::default().api_key}}),
                )),
        )
        .unwrap();
        let issuer = Arc::new(DevIssuer::generate(&format!("{base}/dev/oidc")).unwrap());
        let admin = admin_for(&settings).unwrap();
        admin.create_tenant("acme", None, "default").await.unwrap();
        admin
            .add_issuer("acme", IssuerSpec {
                issuer: issuer.issuer("acme"),
                audiences: vec!["threadgate".to_owned()],
                jwks_uri: Some(issuer.jwks_uri("acme")),
                algorithms: vec!["RS256".to_owned()],
                subject_claim: "sub".to_owned(),
                admin_claim: None,
            })
            .await
            .unwrap();
        let application = Application::build_on(&settings, listener, Some(issuer.clone())).unwrap();
        let handle = application.handle();
        let server = actix_web::rt::spawn(application.run_until_stopped());

        let client = reqwest::Client::new();
        let token = issuer.mint("acme", "alice", false, 600).unwrap();
        let thread: Value = client
            .post(format!("{base}/v1/threads"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let thread = thread["id"].as_str().unwrap().to_owned();
        emulator.requests(); // (the setup's own requests are not the subject)
        let answer = client
            .get(format!("{base}/v1/threads/{thread}"))
            .bearer_auth(&token)
            .header("traceparent", format!("00-{CLIENT_TRACE}-00f067aa0ba902b7-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        handle.stop(true).await;
        server.await.unwrap().unwrap();
        let journal = emulator.requests();
        emulator.stop().await;
        // The server has stopped, so its audit events are written: the
        // read of the thread names the caller's trace.
        let mut conn = storage::connect(database.url()).unwrap();
        let tenant = admin.tenant("acme").await.unwrap();
        let events = storage::repo::audit::list_for_tenant(&mut conn, tenant.id).unwrap();
        let read = events
            .iter()
            .find(|event| event.action == "read" && event.upstream_id.as_deref() == Some(thread.as_str()))
            .expect("the read is audited");
        assert_eq!(read.trace_id.as_deref(), Some(CLIENT_TRACE));
        drop(database);
        journal
    });
    // Shutting down flushes every finished span to the collector.
    drop(telemetry);

    let spans: Vec<Value> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|export| {
            export["resourceSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|resource| {
            resource["scopeSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
        .filter(|span| {
            span["traceId"].as_str().map(str::to_lowercase) == Some(CLIENT_TRACE.to_owned())
        })
        .collect();
    let names: Vec<&str> = spans
        .iter()
        .filter_map(|span| span["name"].as_str())
        .collect();
    let server = spans
        .iter()
        .find(|span| span["name"] == "GET /v1/threads/{thread_id}")
        .unwrap_or_else(|| panic!("no server span among {names:?}"));
    assert_eq!(
        attribute(server, "http.route").unwrap()["stringValue"],
        "/v1/threads/{thread_id}"
    );
    assert!(attribute(server, "tenant.id").is_some(), "{server}");
    assert_eq!(
        attribute(server, "http.status_code").unwrap()["intValue"]
            .to_string()
            .trim_matches('"'),
        "200"
    );
    for expected in ["authenticate", "authorize", "db", "/threads/{thread_id}"] {
        assert!(names.contains(&expected), "no {expected} span in {names:?}");
    }
    let server_id = server["spanId"].as_str().unwrap();
    let authenticate = spans
        .iter()
        .find(|span| span["name"] == "authenticate")
        .unwrap();
    assert_eq!(
        authenticate["parentSpanId"], server_id,
        "authentication is the request's child"
    );
    let upstream = spans
        .iter()
        .find(|span| span["name"] == "/threads/{thread_id}")
        .unwrap();
    assert_eq!(upstream["parentSpanId"], server_id);

    // And the upstream heard the same trace.
    let traced = emulator_journal
        .iter()
        .filter_map(|request| request.headers.get("traceparent"))
        .any(|traceparent| traceparent.contains(CLIENT_TRACE));
    assert!(traced, "the upstream request carries the caller's trace");
}

fn unsafe_env(collector: &str) {
    // Edition 2024 makes set_var unsafe: nothing else runs yet in this binary.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", collector);
        std::env::set_var("OTEL_SERVICE_NAME", "threadgate-test");
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "50");
    }
}
