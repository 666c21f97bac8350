//! Nothing lost, nothing duplicated, no 500 where nothing was wrong: what a
//! client sees when its input cannot be stored, when two requests race, and
//! when the upstream or the breaker asks it to come back later.

use serde_json::json;
use threadgate_tests::TestApp;

/// Rows of any state in the test's database, counted after it stopped.
fn rows(database: &devdb::TestDatabase, state: &str) -> i64 {
    let mut conn = storage::connect(database.url()).unwrap();
    diesel::RunQueryDsl::get_result(
        diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "SELECT count(*) FROM resources WHERE state = '{state}'"
        )),
        &mut conn,
    )
    .unwrap()
}

/// PostgreSQL cannot store U+0000 in text or jsonb. Before, such a body was
/// created upstream, then answered 500 when its attributes were saved, and
/// the client's retry made a second object.
#[actix_web::test]
async fn a_nul_character_is_a_400_before_anything_is_created() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let admin = app.admin_token("acme", "root");
    let nul = "before\u{0000}after";
    let cases = [
        (
            &alice,
            "/v1/threads",
            json!({"metadata": {"note": nul}}),
            "metadata.note",
        ),
        (
            &alice,
            "/v1/threads",
            json!({"metadata": {nul: "key"}}),
            "metadata",
        ),
        (&alice, "/v1/vector_stores", json!({"name": nul}), "name"),
        (
            &admin,
            "/v1/assistants",
            json!({"model": "gpt-4o", "name": nul}),
            "name",
        ),
        (
            &alice,
            "/v1/threads",
            json!({"messages": [{"role": "user", "content": nul}]}),
            "messages[0].content",
        ),
    ];
    let before = app.upstream_requests().len();
    for (token, path, body, param) in cases {
        let answer = app.call(token, "POST", path, Some(body.clone())).await;
        assert_eq!(answer.status, 400, "{path} {body}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["param"], param, "{:?}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("NUL"),
            "the message says what to fix: {message}"
        );
    }
    assert_eq!(
        app.upstream_requests().len(),
        before,
        "the upstream heard of none of them"
    );
    let database = app.stop().await.unwrap();
    assert_eq!(rows(&database, "pending"), 0, "nothing was reserved");
    assert_eq!(rows(&database, "active"), 0, "nothing was created");
}

/// Two replicas (or one impatient client) deleting the same object at once:
/// one deletes it, the other finds it gone. Before, one round in six
/// answered 500.
#[actix_web::test]
async fn deleting_one_object_twice_at_once_is_200_then_404_never_500() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    for round in 0..12 {
        let (path, kind) = match round % 3 {
            0 => ("/v1/threads", "thread"),
            1 => ("/v1/vector_stores", "vector store"),
            _ => ("/v1/files", "file"),
        };
        let id = if kind == "file" {
            app.upload(&alice, "assistants", "a.txt", b"a", &[])
                .await
                .id()
        } else {
            app.call(&alice, "POST", path, Some(json!({}))).await.id()
        };
        let target = format!("{path}/{id}");
        let (first, second) = futures_util::join!(
            app.call(&alice, "DELETE", &target, None),
            app.call(&alice, "DELETE", &target, None)
        );
        let mut statuses = [first.status, second.status];
        statuses.sort_unstable();
        assert!(
            statuses == [200, 404] || statuses == [200, 200],
            "round {round}, {kind}: {statuses:?} {:?} {:?}",
            first.body,
            second.body
        );
        assert_eq!(
            app.call(&alice, "GET", &target, None).await.status,
            404,
            "the {kind} is gone"
        );
    }
    app.stop().await;
}

/// An overloaded upstream's 503 is the client's 503, with its delay passed
/// on; an open circuit says when to come back too. Before, the first was a
/// 502 without `Retry-After`, the second a 503 without it.
#[actix_web::test]
async fn unavailable_upstreams_answer_503_with_retry_after() {
    let app = TestApp::spawn_with_upstream(json!({
        "circuit_breaker": {"failure_threshold": 3, "open_for": "40s"},
    }))
    .await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let path = format!("/v1/threads/{thread}");

    // Longer than the client waits by itself: passed on at once.
    app.upstream_fault(json!({"fault": "503:retry-after=120", "times": 1}))
        .await;
    let overloaded = app.call(&alice, "GET", &path, None).await;
    assert_eq!(overloaded.status, 503, "{:?}", overloaded.body);
    assert_eq!(overloaded.headers["retry-after"], "120");
    assert_eq!(overloaded.body["error"]["type"], "server_error");

    // Failures in a row open the circuit; then nothing reaches the upstream
    // and the caller is told how long the circuit stays open.
    assert_eq!(app.call(&alice, "GET", &path, None).await.status, 200);
    app.upstream_fault(json!({"fault": "500", "times": 3}))
        .await;
    for _ in 0..3 {
        assert_eq!(app.call(&alice, "GET", &path, None).await.status, 502);
    }
    let before = app.upstream_requests().len();
    let open = app.call(&alice, "GET", &path, None).await;
    assert_eq!(open.status, 503, "{:?}", open.body);
    let retry_after: u64 = open.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=40).contains(&retry_after),
        "the circuit's remaining time: {retry_after}"
    );
    assert_eq!(app.upstream_requests().len(), before);
    app.stop().await;
}

/// While the database is out of reach, requests get their 503 (with
/// `Retry-After`) at once and so does `/readyz`, instead of each waiting
/// the pool's full acquire timeout (5 s). The bound below is the
/// behaviour (a short wait, not the acquire timeout), not a benchmark.
#[actix_web::test]
async fn a_database_outage_is_answered_at_once_with_retry_after() {
    let app = TestApp::spawn_with_database_url("postgres://nobody@127.0.0.1:1/none").await;
    let token = app.token("acme", "alice");
    // The first checkout learns that the database is gone.
    let first = app.call(&token, "GET", "/v1/threads", None).await;
    assert_eq!(first.status, 503, "{:?}", first.body);
    assert!(first.headers.contains_key("retry-after"));
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = app.call(&token, "GET", "/v1/threads", None).await;
        assert_eq!(answer.status, 503, "{:?}", answer.body);
        assert_eq!(answer.headers["retry-after"], "1");
        let started_ready = std::time::Instant::now();
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), 503);
        assert!(ready.headers().contains_key("retry-after"));
        let (request, readiness) = (started.elapsed(), started_ready.elapsed());
        assert!(
            request < std::time::Duration::from_secs(2)
                && readiness < std::time::Duration::from_secs(1),
            "waited {request:?} and {readiness:?}, as if the outage were not known"
        );
    }
    app.stop().await;
}

/// A stream the upstream breaks off ends with an `error` event in the
/// upstream's shape, so the client knows it was cut. Before, the body just
/// stopped.
#[actix_web::test]
async fn a_stream_the_upstream_breaks_off_ends_with_an_error_event() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let assistant = app.assistant("acme").await;
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    app.upstream_fault(json!({"fault": "drop-stream:after=4", "times": 1, "path": "/runs"}))
        .await;
    let (status, body) = app
        .post_stream(
            &alice,
            &format!("/v1/threads/{thread}/runs"),
            &json!({"assistant_id": assistant, "stream": true}),
        )
        .await;
    assert_eq!(status, 200);
    // How many events got through before the cut depends on flushing;
    // what matters is how the stream ends.
    assert!(!body.contains("[DONE]"), "{body}");
    let last = body.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{body}");
    let error: serde_json::Value =
        serde_json::from_str(last.trim_start_matches("event: error\ndata: ")).unwrap();
    assert_eq!(error["type"], "server_error");
    assert_eq!(error["code"], "stream_interrupted");
    assert!(
        error["param"].is_null() && error["message"].is_string(),
        "{error}"
    );
    app.stop().await;
}

/// A server that must stop gives open streams its grace period and then
/// ends each with an `error` event, instead of cutting them.
#[actix_web::test]
async fn a_stopping_server_ends_open_streams_with_an_error_event() {
    let app = TestApp::spawn_with(json!({"server": {"shutdown_timeout": "2s"}})).await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let assistant = app.assistant("acme").await;
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    // A run that never ends: only the stop can end its stream.
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

    app.begin_shutdown();
    let mut rest = String::new();
    // Bounded by the grace period: the stream ends, one way or the other.
    while let Some(chunk) =
        tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk())
            .await
            .expect("the stream ends within the grace period")
            .expect("the stream ends cleanly, not cut")
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last = rest.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{rest}");
    assert!(last.contains("restarting"), "{last}");
    app.stop().await;
}

/// Two replicas on one database and one upstream, raced: the same keyed
/// create sent to both makes one object, the same delete sent to both
/// answers 200 once and 404 otherwise, the same keyed run starts one run.
/// Never a 5xx.
#[actix_web::test]
async fn two_replicas_raced_make_one_object_per_key_and_never_answer_5xx() {
    let first = TestApp::spawn().await;
    first.tenant("acme").await;
    let second = first.replica().await;
    let alice = first.token("acme", "alice");
    let assistant = first.assistant("acme").await;
    for round in 0..8 {
        let key = format!("race-{round}");
        let headers = [("Idempotency-Key", key.as_str())];
        let body = json!({"metadata": {"round": round.to_string()}});
        let (a, b) = futures_util::join!(
            first.call_with_headers(&alice, "POST", "/v1/threads", Some(body.clone()), &headers),
            second.call_with_headers(&alice, "POST", "/v1/threads", Some(body.clone()), &headers),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert!(
            statuses == [200, 200] || statuses == [200, 409],
            "round {round}: {statuses:?} {:?} {:?}",
            a.body,
            b.body
        );
        // The loser retries until the winner is done: one thread either way.
        let retried = first
            .poll("the key's answer", || async {
                let again = second
                    .call_with_headers(&alice, "POST", "/v1/threads", Some(body.clone()), &headers)
                    .await;
                (again.status == 200).then_some(again)
            })
            .await;
        let winner = if a.status == 200 { &a } else { &b };
        assert_eq!(
            retried.body["id"], winner.body["id"],
            "round {round}: one thread per key"
        );
        if statuses == [200, 200] {
            assert_eq!(
                a.body["id"], b.body["id"],
                "round {round}: one thread per key"
            );
        }

        let thread = winner.body["id"].as_str().unwrap().to_owned();
        let run_key = format!("run-{round}");
        let run_headers = [("Idempotency-Key", run_key.as_str())];
        let run_path = format!("/v1/threads/{thread}/runs");
        let run_body = json!({"assistant_id": assistant});
        let (a, b) = futures_util::join!(
            first.call_with_headers(
                &alice,
                "POST",
                &run_path,
                Some(run_body.clone()),
                &run_headers
            ),
            second.call_with_headers(
                &alice,
                "POST",
                &run_path,
                Some(run_body.clone()),
                &run_headers
            ),
        );
        assert!(
            a.status < 500 && b.status < 500,
            "{:?} {:?}",
            a.body,
            b.body
        );
        let runs = first.call(&alice, "GET", &run_path, None).await;
        assert_eq!(
            runs.body["data"].as_array().unwrap().len(),
            1,
            "round {round}: one run"
        );

        let target = format!("/v1/threads/{thread}");
        let (a, b) = futures_util::join!(
            first.call(&alice, "DELETE", &target, None),
            second.call(&alice, "DELETE", &target, None)
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert!(
            statuses == [200, 404] || statuses == [200, 200],
            "round {round}: {statuses:?} {:?} {:?}",
            a.body,
            b.body
        );
    }
    let threads = first.emulator.inventory().threads.len();
    assert_eq!(threads, 0, "every raced thread was made once and deleted");
    second.stop().await;
    first.stop().await;
}

/// PostgreSQL out of reach for three seconds in the middle of a load of
/// keyed creates (longer than activation waits out): every answer during
/// the outage is a 503 with `Retry-After` or a 409 while a key is held,
/// every key ends with one object, and after a reconcile nothing is left
/// behind and every object's creation is audited.
#[actix_web::test]
async fn a_database_outage_under_load_loses_nothing_and_duplicates_nothing() {
    use threadgate_tests::outage::{CuttableProxy, address_of};

    let database = devdb::TestDatabase::create();
    let proxy = CuttableProxy::start(address_of(database.url())).await;
    let app = TestApp::spawn_through(&proxy.url_through(database.url()), database).await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let created = std::cell::RefCell::new(std::collections::HashMap::new());
    let unavailable = std::cell::Cell::new(0);

    let worker = |worker: usize| {
        let (app, alice, created, unavailable) = (&app, &alice, &created, &unavailable);
        async move {
            for round in 0..12 {
                let key = format!("outage-{worker}-{round}");
                let headers = [("Idempotency-Key", key.as_str())];
                let body = json!({"name": key});
                let mut answered = None;
                for _ in 0..100 {
                    let answer = app
                        .call_with_headers(
                            alice,
                            "POST",
                            "/v1/vector_stores",
                            Some(body.clone()),
                            &headers,
                        )
                        .await;
                    match answer.status {
                        200 => {
                            answered = Some(answer.id());
                            break;
                        }
                        503 => {
                            assert!(
                                answer.headers.contains_key("retry-after"),
                                "{:?}",
                                answer.body
                            );
                            unavailable.set(unavailable.get() + 1);
                        }
                        409 => {}
                        other => panic!("{key}: {other} {:?}", answer.body),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                let id = answered.unwrap_or_else(|| panic!("{key} never succeeded"));
                assert!(created.borrow_mut().insert(key, id).is_none());
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    // Cut once the load is moving; keep it cut for three seconds, and at
    // least until a request has felt it (at most ten).
    let outage = async {
        for _ in 0..200 {
            if !created.borrow().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        proxy.cut();
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        for _ in 0..70 {
            if unavailable.get() > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        proxy.restore();
    };
    futures_util::join!(worker(0), worker(1), outage);
    assert!(unavailable.get() > 0, "the outage was felt");

    let report = threadgate_server::reconcile::run(
        &app.admin,
        std::time::Duration::ZERO,
        threadgate_server::reconcile::Orphans::Delete,
    )
    .await
    .unwrap();
    let created = created.into_inner();
    let ids: std::collections::HashSet<&String> = created.values().collect();
    assert_eq!(ids.len(), 24, "one object per key");
    let upstream: std::collections::HashSet<String> =
        app.emulator.inventory().vector_stores.into_iter().collect();
    assert_eq!(
        upstream,
        ids.iter().map(|id| (*id).clone()).collect(),
        "the upstream holds exactly the answered objects: {report:?}"
    );
    let database = app.stop().await.unwrap();
    assert_eq!(rows(&database, "pending") + rows(&database, "deleting"), 0);
    let mut conn = storage::connect(database.url()).unwrap();
    let audited: i64 = diesel::RunQueryDsl::get_result(
        diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT count(DISTINCT upstream_id) FROM audit_events WHERE action IN ('create', 'adopt')",
        ),
        &mut conn,
    )
    .unwrap();
    assert_eq!(audited, 24, "every object's creation is audited");
}

/// The pool lends a connection it had back moments ago without pinging it
/// first. When the database went away in that moment, the work on it must
/// fail as the database being unavailable (a 503 the caller may retry),
/// never as a wrong query (a 500), and the dead connection must not be lent
/// again.
#[actix_web::test]
async fn a_trusted_connection_that_died_is_unavailable_and_never_lent_again() {
    use threadgate_tests::outage::{CuttableProxy, address_of};

    #[derive(diesel::QueryableByName)]
    struct Backend {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    fn backend_pid(conn: &mut storage::PgConnection) -> Result<i32, storage::StorageError> {
        use diesel::RunQueryDsl;
        Ok(diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Backend>(conn)?
            .pid)
    }

    let test_database = devdb::TestDatabase::create();
    let proxy = CuttableProxy::start(address_of(test_database.url())).await;
    let database = storage::Database::new(
        &proxy.url_through(test_database.url()),
        &storage::PoolSettings {
            max_connections: 1,
            ..storage::PoolSettings::default()
        },
    );
    let first = database.run("pid", backend_pid).await.unwrap();
    // The connection is cut as a server stopping would cut it. The proxy
    // closes it on its own task, so a query may still slip through first:
    // ask until one fails (the pool still trusts the connection).
    proxy.cut();
    let mut failed = None;
    for _ in 0..200 {
        if let Err(error) = database.run("pid", backend_pid).await {
            failed = Some(error);
            break;
        }
        tokio::task::yield_now().await;
    }
    let failed = failed.expect("the cut connection never failed");
    assert!(
        failed.is_unavailable(),
        "a dead connection must read as the database unavailable, not as {failed:?}"
    );
    proxy.restore();
    let again = database.run("pid", backend_pid).await.unwrap();
    assert_ne!(again, first, "the dead connection was lent again");
}
