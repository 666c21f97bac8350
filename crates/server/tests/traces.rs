//! One request's span tree reaches an OTLP collector: the server span
//! (route template, tenant, status) under the caller's trace, with children
//! for authentication, the authorization decision, database calls and the
//! upstream call, and the trace continues upstream. A binary of its own: it
//! installs the process-wide subscriber.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use devdb::TestDatabase;
use emulator::{EmulatorConfig, RunningEmulator};
use figment::providers::Serialized;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message as _;
use serde_json::{Value, json};
use threadgate_server::admin::IssuerSpec;
use threadgate_server::config::Settings;
use threadgate_server::dev_issuer::DevIssuer;
use threadgate_server::telemetry::OtlpProtocol;
use threadgate_server::{Application, admin_for, telemetry};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// One export as the collector received it: its content type, and its
/// spans as OTLP/JSON (protobuf exports are decoded into the same shape).
#[derive(Debug, Clone)]
struct Export {
    content_type: String,
    body: Value,
}

/// A collector that keeps every OTLP/HTTP export it receives, JSON or protobuf.
fn collector() -> (String, Arc<Mutex<Vec<Export>>>) {
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
                    web::post().to(move |request: HttpRequest, body: web::Bytes| {
                        let kept = kept.clone();
                        async move {
                            let content_type = request
                                .headers()
                                .get("content-type")
                                .and_then(|value| value.to_str().ok())
                                .unwrap_or_default()
                                .to_owned();
                            let body = if content_type == "application/x-protobuf" {
                                let decoded = ExportTraceServiceRequest::decode(body).unwrap();
                                serde_json::to_value(decoded).unwrap()
                            } else {
                                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)
                            };
                            kept.lock().unwrap().push(Export { content_type, body });
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

/// Every span of every export.
fn spans_of(exports: &[Export]) -> Vec<Value> {
    exports
        .iter()
        .flat_map(|export| {
            export.body["resourceSpans"]
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
        .collect()
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

    let (emulator_journal, emulator_port) = actix_web::rt::System::new().block_on(async {
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
        let port = emulator.address().port();
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
        (journal, port)
    });
    // Shutting down flushes every finished span to the collector.
    drop(telemetry);

    let spans: Vec<Value> = spans_of(&received.lock().unwrap())
        .into_iter()
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
    // OpenTelemetry's HTTP semantic conventions, as they stand.
    let text = |span: &Value, key: &str| {
        attribute(span, key)
            .map(|value| value.to_string())
            .unwrap_or_else(|| panic!("no {key} in {span}"))
    };
    assert!(text(server, "http.response.status_code").contains("200"));
    assert!(text(server, "http.request.method").contains("GET"));
    assert!(text(server, "url.path").contains("/v1/threads/thread_"));
    assert!(text(server, "url.scheme").contains("http"));
    assert!(text(server, "server.address").contains("127.0.0.1"));
    assert!(
        attribute(server, "http.status_code").is_none(),
        "old names: {server}"
    );
    for expected in [
        "authenticate",
        "authorize",
        "db",
        "GET /threads/{thread_id}",
    ] {
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
        .find(|span| span["name"] == "GET /threads/{thread_id}")
        .unwrap();
    assert_eq!(upstream["parentSpanId"], server_id);
    assert!(text(upstream, "url.template").contains("/threads/{thread_id}"));
    assert!(text(upstream, "http.response.status_code").contains("200"));
    assert!(text(upstream, "server.port").contains(&emulator_port.to_string()));

    // And the upstream heard the same trace.
    let traced = emulator_journal
        .iter()
        .filter_map(|request| request.headers.get("traceparent"))
        .any(|traceparent| traceparent.contains(CLIENT_TRACE));
    assert!(traced, "the upstream request carries the caller's trace");
}

/// Each protocol `OTEL_EXPORTER_OTLP_PROTOCOL` may name reaches a
/// collector in its own content type, spans intact.
#[test]
fn each_otlp_protocol_reaches_the_collector() {
    let (collector, received) = collector();
    for (protocol, content_type) in [
        (OtlpProtocol::HttpProtobuf, "application/x-protobuf"),
        (OtlpProtocol::HttpJson, "application/json"),
    ] {
        let endpoint = format!("{collector}/v1/traces");
        let exporter = telemetry::span_exporter(protocol, Some(&endpoint)).unwrap();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter)
            .build();
        let name = format!("exported over {protocol:?}");
        provider
            .tracer("protocols")
            .in_span(name.clone(), |_context| {});
        provider.shutdown().unwrap();
        let exports = received.lock().unwrap().clone();
        let carried: Vec<&Export> = exports
            .iter()
            .filter(|export| {
                spans_of(std::slice::from_ref(export))
                    .iter()
                    .any(|span| span["name"] == name.as_str())
            })
            .collect();
        assert_eq!(carried.len(), 1, "{name}: {exports:?}");
        assert_eq!(carried[0].content_type, content_type);
        let span = &spans_of(std::slice::from_ref(carried[0]))[0];
        assert_eq!(span["traceId"].as_str().map(str::len), Some(32), "{span}");
    }
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
