//! Error classes, retries, ambiguous creates, the circuit breaker and
//! streaming, against the emulator's injected faults.

// These tests exercise the client itself.
#![allow(clippy::disallowed_methods)]
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use domain::UpstreamId;
use emulator::EmulatorConfig;
use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use upstream::wire::Run;
use upstream::{
    BreakerConfig, BreakerState, CredentialConfig, Flavour, Operation, UpstreamError,
    UpstreamRequest,
};

fn id(raw: &str) -> UpstreamId {
    UpstreamId::parse(raw).expect("a valid id")
}

async fn create_thread(client: &upstream::UpstreamClient) -> Result<Value, UpstreamError> {
    client
        .call(UpstreamRequest::new(Operation::CreateThread, &[]).json(json!({})))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn error_classes_are_told_apart() {
    let emulator = support::emulator();
    let client = support::client(support::profile(&emulator, Flavour::Azure));

    let missing = id("thread_missing");
    let error = client
        .call::<Value>(UpstreamRequest::new(Operation::GetThread, &[&missing]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, UpstreamError::NotFound(body) if body.message.contains("thread_missing")),
        "{error:?}"
    );

    let error = client
        .call::<Value>(UpstreamRequest::new(Operation::CreateAssistant, &[]).json(json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, UpstreamError::BadRequest(body) if body.param.as_deref() == Some("model")),
        "{error:?}"
    );

    let mut wrong_key = support::profile(&emulator, Flavour::Azure);
    wrong_key.credential = CredentialConfig::AzureApiKey {
        key: SecretString::from("wrong"),
    };
    let error = create_thread(&support::client(wrong_key))
        .await
        .unwrap_err();
    assert!(
        matches!(error, UpstreamError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );

    for spelling in ["innererror", "inner_error"] {
        support::add_fault(
            &emulator,
            json!({"fault": format!("content-filter:spelling={spelling}"), "times": 1}),
        )
        .await;
        let error = create_thread(&client).await.unwrap_err();
        let UpstreamError::ContentFiltered(body) = error else {
            panic!("{error:?}")
        };
        assert_eq!(
            body.inner_code.as_deref(),
            Some("ResponsibleAIPolicyViolation")
        );
        assert!(body.content_filter.is_some());
    }

    // A 500 is reported, not retried.
    support::add_fault(
        &emulator,
        json!({"fault": "500", "times": 1, "path": "/threads"}),
    )
    .await;
    let before = support::received(&emulator, "POST", "/threads");
    let error = create_thread(&client).await.unwrap_err();
    assert!(
        matches!(error, UpstreamError::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(support::received(&emulator, "POST", "/threads"), before + 1);

    // A delay longer than we are willing to wait ends the retries at once.
    support::add_fault(
        &emulator,
        json!({"fault": "429:retry-after=60", "times": 1}),
    )
    .await;
    let error = create_thread(&client).await.unwrap_err();
    assert!(
        matches!(error, UpstreamError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(60)),
        "{error:?}"
    );

    let mut impatient = support::profile(&emulator, Flavour::Azure);
    impatient.timeouts.request = Duration::from_millis(100);
    let impatient = support::client(impatient);
    support::add_fault(&emulator, json!({"fault": "latency:ms=1000", "times": 1})).await;
    let error = impatient
        .call::<Value>(UpstreamRequest::new(Operation::ListAssistants, &[]))
        .await
        .unwrap_err();
    assert!(matches!(error, UpstreamError::Timeout), "{error:?}");
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_and_overload_are_retried_after_the_delay_asked_for() {
    let emulator = support::emulator();
    let client = support::client(support::profile(&emulator, Flavour::Azure));

    for fault in [
        "429:retry-after-ms=150",
        "429:x-ms-retry-after-ms=150",
        "503:retry-after-ms=150",
    ] {
        support::add_fault(
            &emulator,
            json!({"fault": fault, "times": 2, "path": "/threads"}),
        )
        .await;
        let before = support::received(&emulator, "POST", "/threads");
        let started = Instant::now();
        let thread = create_thread(&client)
            .await
            .unwrap_or_else(|e| panic!("{fault}: {e}"));
        assert!(thread["id"].as_str().unwrap().starts_with("thread_"));
        assert_eq!(
            support::received(&emulator, "POST", "/threads"),
            before + 3,
            "{fault}: three attempts"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{fault}: the two delays were honoured"
        );
    }

    // Retry-After in seconds.
    support::add_fault(
        &emulator,
        json!({"fault": "429:retry-after=1", "times": 1, "path": "/threads"}),
    )
    .await;
    let started = Instant::now();
    create_thread(&client).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));

    // Attempts run out: the last error is reported.
    support::add_fault(
        &emulator,
        json!({"fault": "429:retry-after-ms=10", "times": 5, "path": "/threads"}),
    )
    .await;
    let before = support::received(&emulator, "POST", "/threads");
    let error = create_thread(&client).await.unwrap_err();
    assert!(
        matches!(error, UpstreamError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(support::received(&emulator, "POST", "/threads"), before + 3);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_outcome_is_unknown_is_reported_and_never_repeated() {
    let emulator = support::emulator();
    let mut config = support::profile(&emulator, Flavour::OpenAi);
    config.timeouts.request = Duration::from_millis(200);
    let client = support::client(config);

    support::add_fault(
        &emulator,
        json!({"fault": "latency:ms=1500", "times": 1, "path": "/threads"}),
    )
    .await;
    let error = create_thread(&client).await.unwrap_err();
    assert!(
        matches!(
            error,
            UpstreamError::Ambiguous {
                operation: Operation::CreateThread,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        support::received(&emulator, "POST", "/threads"),
        1,
        "sent once, not retried"
    );
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_never_opens_is_retried_even_for_a_create() {
    // A port nobody listens on: every connection is refused before sending.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emulator = support::emulator();
    let mut config = support::profile(&emulator, Flavour::OpenAi);
    config.endpoint = format!("http://127.0.0.1:{port}").parse().unwrap();
    config.retry.base_delay = Duration::from_millis(100);
    config.retry.max_delay = Duration::from_millis(100);
    let client = support::client(config);

    let started = Instant::now();
    let error = create_thread(&client).await.unwrap_err();
    assert!(
        matches!(error, UpstreamError::Transport(_)),
        "not ambiguous: nothing was sent: {error:?}"
    );
    // Two backoffs of at least 50 ms each (100 ms with equal jitter).
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "retried with backoff"
    );
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_circuit_opens_fails_fast_and_probes_back() {
    let emulator = support::emulator();
    let mut config = support::profile(&emulator, Flavour::Azure);
    config.circuit_breaker = BreakerConfig {
        failure_threshold: 2,
        open_for: Duration::from_secs(3600),
    };
    let client = support::client(config.clone());

    support::add_fault(&emulator, json!({"fault": "500", "path": "/threads"})).await;
    for _ in 0..2 {
        assert!(matches!(
            create_thread(&client).await,
            Err(UpstreamError::Server { .. })
        ));
    }
    assert_eq!(client.circuit_state(), BreakerState::Open);
    let before = support::received(&emulator, "POST", "/threads");
    let error = create_thread(&client).await.unwrap_err();
    assert!(
        matches!(error, UpstreamError::CircuitOpen { ref profile, retry_after } if profile == "test" && retry_after > Duration::from_secs(3000)),
        "{error:?}"
    );
    assert_eq!(
        support::received(&emulator, "POST", "/threads"),
        before,
        "failing fast: the upstream heard nothing"
    );

    // With no pause, the next call is the probe.
    config.circuit_breaker.open_for = Duration::ZERO;
    let client = support::client(config);
    for _ in 0..2 {
        assert!(create_thread(&client).await.is_err());
    }
    assert!(
        matches!(
            create_thread(&client).await,
            Err(UpstreamError::Server { .. })
        ),
        "the probe failed"
    );
    assert_eq!(client.circuit_state(), BreakerState::Open);
    support::clear_faults(&emulator).await;
    create_thread(&client).await.expect("the probe succeeds");
    assert_eq!(client.circuit_state(), BreakerState::Closed);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_events_arrive_while_the_run_is_still_in_progress() {
    let emulator = support::emulator_with(EmulatorConfig {
        timing: emulator::Timing {
            step: Duration::from_millis(20),
            slow: Duration::from_secs(2),
            heartbeat: Duration::from_secs(15),
        },
        ..EmulatorConfig::default()
    });
    let client = support::client(support::profile(&emulator, Flavour::OpenAi));
    let assistant: Value = client
        .call(
            UpstreamRequest::new(Operation::CreateAssistant, &[]).json(json!({"model": "gpt-4o"})),
        )
        .await
        .unwrap();
    let mut stream = client
        .stream(
            UpstreamRequest::new(Operation::CreateThreadAndRun, &[]).json(json!({
                "assistant_id": assistant["id"],
                "stream": true,
                "thread": {"messages": [{"role": "user", "content": "take your time #slow"}]},
            })),
        )
        .await
        .unwrap();

    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.event, "thread.created");
    let created = stream.next().await.unwrap().unwrap();
    assert_eq!(created.event, "thread.run.created");
    let run: Run = serde_json::from_str(&created.data).unwrap();
    // The run is still going: the events were not held back until the end.
    let now: Run = client
        .call(UpstreamRequest::new(
            Operation::GetRun,
            &[&id(&run.thread_id), &id(&run.id)],
        ))
        .await
        .unwrap();
    assert!(
        matches!(now.status.as_str(), "queued" | "in_progress"),
        "{}",
        now.status
    );

    let rest: Vec<_> = stream.map(|event| event.unwrap().event).collect().await;
    assert_eq!(rest.last().map(String::as_str), Some("done"));
    assert!(rest.contains(&"thread.run.completed".to_owned()));
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_cut_short_ends_in_an_error() {
    let emulator = support::emulator();
    let client = support::client(support::profile(&emulator, Flavour::Azure));
    let assistant: Value = client
        .call(
            UpstreamRequest::new(Operation::CreateAssistant, &[]).json(json!({"model": "gpt-4o"})),
        )
        .await
        .unwrap();
    support::add_fault(
        &emulator,
        json!({"fault": "drop-stream:after=3", "times": 1}),
    )
    .await;
    let stream = client
        .stream(
            UpstreamRequest::new(Operation::CreateThreadAndRun, &[]).json(json!({
                "assistant_id": assistant["id"],
                "stream": true,
                "thread": {"messages": [{"role": "user", "content": "hi"}]},
            })),
        )
        .await
        .unwrap();
    let items: Vec<_> = stream.collect().await;
    // How many of the three events sent before the cut are delivered depends
    // on flushing; what matters is that the stream ends in an error, not `done`.
    let delivered: Vec<_> = items.iter().filter_map(|item| item.as_ref().ok()).collect();
    assert!((1..=3).contains(&delivered.len()), "{items:?}");
    assert!(delivered.iter().all(|event| !event.is_done()));
    assert!(
        matches!(items.last(), Some(Err(UpstreamError::Transport(_)))),
        "{items:?}"
    );
    emulator.stop().await;
}
