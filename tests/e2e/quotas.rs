//! Quotas and rate limits: per user and per tenant, requests per minute,
//! tokens per day from recorded usage, open streams; across replicas
//! through one Redis.

use serde_json::{Value, json};
use threadgate_tests::TestApp;
use threadgate_tests::redis::TestRedis;

/// Sets limits in the tenant's policy through its admin API.
async fn set_limits(app: &TestApp, tenant: &str, limits: Value) {
    let admin = app.admin_token(tenant, "root");
    let answer = app
        .call(&admin, "POST", "/v1/organization/policy", Some(limits))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

fn header(answer: &threadgate_tests::Answer, name: &str) -> String {
    answer
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_user_over_their_request_limit_gets_429_and_another_user_does_not() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    set_limits(&app, "acme", json!({"user_requests_per_minute": 3})).await;
    let (alice, bob) = (app.token("acme", "alice"), app.token("acme", "bob"));

    for remaining in ["2", "1", "0"] {
        let answer = app.call(&alice, "GET", "/v1/threads", None).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(header(&answer, "x-ratelimit-limit-requests"), "3");
        assert_eq!(header(&answer, "x-ratelimit-remaining-requests"), remaining);
        assert!(answer.headers.contains_key("x-ratelimit-reset-requests"));
    }
    let refused = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(refused.body["error"]["type"], "requests");
    assert_eq!(header(&refused, "x-ratelimit-remaining-requests"), "0");
    // One request comes back every 20 s.
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    let retry_after_ms: u64 = header(&refused, "retry-after-ms").parse().unwrap();
    assert!(
        retry_after_ms <= 20_000 && retry_after_ms > 10_000,
        "{retry_after_ms}"
    );
    // Refused before the handler: a create makes nothing.
    let create = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await;
    assert_eq!(create.status, 429);

    let answer = app.call(&bob, "GET", "/v1/threads", None).await;
    assert_eq!(answer.status, 200, "another user is unaffected");
    assert_eq!(header(&answer, "x-ratelimit-remaining-requests"), "2");

    // The refusal is audited as a decision; the admin API is not limited.
    let admin = app.admin_token("acme", "root");
    let refusals = app
        .poll("both refusals in the audit trail", || async {
            let logs = app
                .call(
                    &admin,
                    "GET",
                    "/v1/organization/audit_logs?limit=100&outcome=deny",
                    None,
                )
                .await;
            assert_eq!(logs.status, 200, "{:?}", logs.body);
            let refusals = logs.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|event| event["action"] == "rate_limit")
                .count();
            (refusals >= 2).then_some(refusals)
        })
        .await;
    assert_eq!(refusals, 2);
    app.stop().await;
}

#[actix_web::test]
async fn a_tenant_over_its_limit_refuses_all_its_users_and_no_other_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    set_limits(&app, "acme", json!({"tenant_requests_per_minute": 4})).await;
    for user in ["alice", "alice", "bob", "bob"] {
        let answer = app
            .call(&app.token("acme", user), "GET", "/v1/threads", None)
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    for user in ["alice", "bob", "carol"] {
        let answer = app
            .call(&app.token("acme", user), "GET", "/v1/threads", None)
            .await;
        assert_eq!(answer.status, 429, "{user} in the exhausted tenant");
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("tenant")
        );
    }
    let other = app
        .call(&app.token("globex", "alice"), "GET", "/v1/threads", None)
        .await;
    assert_eq!(other.status, 200, "another tenant is unaffected");
    assert!(!other.headers.contains_key("x-ratelimit-limit-requests"));
    // An admin can still read and raise the limit.
    set_limits(&app, "acme", json!({"tenant_requests_per_minute": null})).await;
    let answer = app
        .call(&app.token("acme", "carol"), "GET", "/v1/threads", None)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    app.stop().await;
}

#[actix_web::test]
async fn the_policy_shows_limits_and_refuses_bad_ones_by_name() {
    let app = TestApp::spawn_with(json!({"limits": {"user_requests_per_minute": 100}})).await;
    app.tenant("acme").await;
    let admin = app.admin_token("acme", "root");
    let policy = app
        .call(&admin, "GET", "/v1/organization/policy", None)
        .await;
    assert_eq!(
        policy.body["user_requests_per_minute"], 100,
        "the configuration's default"
    );
    assert_eq!(policy.body["tenant_tokens_per_day"], Value::Null);
    for (field, value) in [
        ("user_requests_per_minute", json!(0)),
        ("user_concurrent_streams", json!(1_000_000)),
        ("tenant_tokens_per_day", json!(-5)),
    ] {
        let answer = app
            .call(
                &admin,
                "POST",
                "/v1/organization/policy",
                Some(json!({field: value})),
            )
            .await;
        assert_eq!(answer.status, 400, "{field}: {:?}", answer.body);
        if value.as_i64().is_some_and(|v| v >= 0) {
            assert_eq!(answer.body["error"]["param"], field);
        }
    }
    set_limits(
        &app,
        "acme",
        json!({"user_requests_per_minute": null, "user_tokens_per_day": 500}),
    )
    .await;
    let policy = app
        .call(&admin, "GET", "/v1/organization/policy", None)
        .await;
    assert_eq!(
        policy.body["user_requests_per_minute"],
        Value::Null,
        "null: no limit"
    );
    assert_eq!(policy.body["user_tokens_per_day"], 500);
    app.stop().await;
}

/// Today's tokens recorded for the tenant, read as the budget check reads them.
async fn spent_today(app: &TestApp, tenant: &str) -> i64 {
    let tenant = app.admin.tenant(tenant).await.unwrap();
    app.admin
        .database
        .run("test.spent", move |conn| {
            storage::repo::usage::spent_today(conn, tenant.id, None).map(|spent| spent.tenant)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_token_budget_is_enforced_from_recorded_usage() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    set_limits(&app, "acme", json!({"user_tokens_per_day": 1})).await;
    let (alice, bob) = (app.token("acme", "alice"), app.token("acme", "bob"));
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    app.call(
        &alice,
        "POST",
        &format!("/v1/threads/{thread}/messages"),
        Some(json!({"role": "user", "content": "hello"})),
    )
    .await;
    let run = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(run.status, 200, "within the budget: {:?}", run.body);
    app.finished_run(&alice, &thread, &run.id()).await;
    app.poll("the run's usage to be recorded", || async {
        (spent_today(&app, "acme").await > 0).then_some(())
    })
    .await;

    for (body, path) in [
        (
            json!({"assistant_id": assistant}),
            format!("/v1/threads/{thread}/runs"),
        ),
        (
            json!({"assistant_id": assistant, "stream": true}),
            format!("/v1/threads/{thread}/runs"),
        ),
        (
            json!({"assistant_id": assistant}),
            "/v1/threads/runs".to_owned(),
        ),
    ] {
        let refused = app.call(&alice, "POST", &path, Some(body)).await;
        assert_eq!(refused.status, 429, "{path}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["code"], "insufficient_quota");
        assert_eq!(refused.body["error"]["type"], "insufficient_quota");
        assert_eq!(header(&refused, "x-should-retry"), "false");
        assert_eq!(header(&refused, "x-ratelimit-limit-tokens"), "1");
        assert_eq!(header(&refused, "x-ratelimit-remaining-tokens"), "0");
    }
    // Reading is not spending.
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        200
    );
    // Another user has a budget of their own.
    let theirs = app
        .call(&bob, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let run = app
        .call(
            &bob,
            "POST",
            &format!("/v1/threads/{theirs}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    app.stop().await;
}

/// A streamed thread-and-run the emulator keeps going for a while.
fn slow_streamed_run(assistant: &str) -> Value {
    json!({"assistant_id": assistant, "stream": true,
        "thread": {"messages": [{"role": "user", "content": "take your time #slow"}]}})
}

/// Opens a streamed thread-and-run and leaves it open: held until dropped.
async fn open_stream(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    let open = app
        .client
        .post(app.url("/v1/threads/runs"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    open
}

#[actix_web::test]
async fn open_streams_are_capped_per_user_and_freed_when_they_end() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    set_limits(&app, "acme", json!({"user_concurrent_streams": 1})).await;
    let alice = app.token("acme", "alice");
    let slow = slow_streamed_run(&assistant);
    let open = open_stream(&app, &alice, &slow).await;

    let second = app
        .call(&alice, "POST", "/v1/threads/runs", Some(slow.clone()))
        .await;
    assert_eq!(second.status, 429, "{:?}", second.body);
    assert_eq!(second.body["error"]["type"], "streams");
    // Not streamed: not a stream slot.
    let polled = app
        .call(
            &alice,
            "POST",
            "/v1/threads/runs",
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(polled.status, 200, "{:?}", polled.body);
    let bob = app.token("acme", "bob");
    let (status, _) = app
        .post_stream(
            &bob,
            "/v1/threads/runs",
            &json!({"assistant_id": assistant, "stream": true}),
        )
        .await;
    assert_eq!(status, 200, "another user's streams are their own");

    drop(open);
    let reopened = app
        .poll("the closed stream's slot to be free", || async {
            let (status, _) = app
                .post_stream(
                    &alice,
                    "/v1/threads/runs",
                    &json!({"assistant_id": assistant, "stream": true}),
                )
                .await;
            (status == 200).then_some(status)
        })
        .await;
    assert_eq!(reopened, 200);
    app.stop().await;
}

/// Two replicas against one Redis admit what one would: a limit of 10 a
/// minute admits 10 of 30 requests sent to both at once (11 at most: one
/// more comes back every 6 s, and the requests take well under that).
#[actix_web::test]
async fn a_request_limit_holds_across_replicas_sharing_redis() {
    let redis = TestRedis::start();
    let shared = json!({"limits": {"redis_url": redis.url()}});
    let app = TestApp::spawn_with(shared.clone()).await;
    let replica = app.replica_with(shared).await;
    app.tenant("acme").await;
    set_limits(&app, "acme", json!({"user_requests_per_minute": 10})).await;
    let alice = app.token("acme", "alice");
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all((0..30).map(|i| {
        let server = if i % 2 == 0 { &app } else { &replica };
        let alice = alice.clone();
        async move { server.call(&alice, "GET", "/v1/threads", None).await.status }
    }))
    .await;
    let took = started.elapsed();
    let admitted = answers.iter().filter(|status| **status == 200).count();
    let refused = answers.iter().filter(|status| **status == 429).count();
    assert_eq!(admitted + refused, 30, "{answers:?}");
    let tolerance = usize::try_from(took.as_secs() / 6).unwrap() + 1;
    assert!(
        (10..=10 + tolerance).contains(&admitted),
        "admitted {admitted} of 30 across two replicas in {took:?}"
    );
    replica.stop().await;
    app.stop().await;
}

/// Redis out of reach: by default requests are admitted (and counted in a
/// metric); with `on_store_failure = "closed"` refused with a 429, never a
/// 5xx.
#[actix_web::test]
async fn a_store_out_of_reach_fails_open_or_closed_by_setting() {
    let unreachable = "redis://127.0.0.1:1";
    for (mode, expected) in [("open", 200), ("closed", 429)] {
        let app = TestApp::spawn_with(json!({"limits": {
            "redis_url": unreachable, "on_store_failure": mode, "user_requests_per_minute": 1,
        }}))
        .await;
        app.tenant("acme").await;
        let alice = app.token("acme", "alice");
        for _ in 0..2 {
            let answer = app.call(&alice, "GET", "/v1/threads", None).await;
            assert_eq!(answer.status, expected, "{mode}: {:?}", answer.body);
        }
        if mode == "open" {
            let metrics =
                reqwest::get(format!("{}/metrics", app.metrics_address.as_ref().unwrap()))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
            assert!(
                metrics.contains("threadgate_quota_store_failures_total 2"),
                "{metrics}"
            );
        }
        app.stop().await;
    }
}

/// Responses spend the same budget, stored or not: a response's usage is
/// recorded from its own object (the answer, or its `response.completed`
/// event), and the next response is refused once it is spent.
#[actix_web::test]
async fn a_token_budget_counts_responses_stored_or_not() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    set_limits(&app, "acme", json!({"user_tokens_per_day": 1})).await;
    let spend = |user: &'static str, store: bool, stream: bool| {
        let app = &app;
        async move {
            let token = app.token("acme", user);
            let body =
                json!({"model": "gpt-4o", "input": "hello", "store": store, "stream": stream});
            if stream {
                let (status, events) = app.post_stream(&token, "/v1/responses", &body).await;
                assert_eq!(status, 200, "{events}");
                assert!(events.contains("response.completed"), "{events}");
            } else {
                let answer = app.call(&token, "POST", "/v1/responses", Some(body)).await;
                assert_eq!(answer.status, 200, "{:?}", answer.body);
            }
        }
    };
    spend("alice", true, false).await;
    spend("bob", false, false).await;
    spend("carol", false, true).await;
    for user in ["alice", "bob", "carol"] {
        for stream in [false, true] {
            let refused = app
                .call(
                    &app.token("acme", user),
                    "POST",
                    "/v1/responses",
                    Some(json!({"model": "gpt-4o", "input": "again", "stream": stream})),
                )
                .await;
            assert_eq!(
                refused.status, 429,
                "{user} spent their budget: {:?}",
                refused.body
            );
            assert_eq!(refused.body["error"]["code"], "insufficient_quota");
        }
    }
    let fresh = app
        .call(
            &app.token("acme", "dave"),
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "hello"})),
        )
        .await;
    assert_eq!(
        fresh.status, 200,
        "dave's budget is his own: {:?}",
        fresh.body
    );
    app.stop().await;
}

/// On a shared thread the run spends the budget of whoever started it,
/// whoever's request sees it finish: a grantee cannot spend past their
/// budget on someone else's thread, nor make the owner pay by letting the
/// owner's client be the one that reads the finished run.
#[actix_web::test]
async fn a_run_on_a_shared_thread_spends_the_runners_budget() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    set_limits(&app, "acme", json!({"user_tokens_per_day": 1})).await;
    let (alice, bob) = (app.token("acme", "alice"), app.token("acme", "bob"));
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let shared = app
        .call(
            &alice,
            "POST",
            &format!("/v1/threads/{thread}/shares"),
            Some(json!({"user": "bob", "permission": "write"})),
        )
        .await;
    assert_eq!(shared.status, 200, "{:?}", shared.body);
    let run_path = format!("/v1/threads/{thread}/runs");
    let run = app
        .call(
            &bob,
            "POST",
            &run_path,
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    // The owner's request is the one that sees it finish: bob still pays.
    app.finished_run(&alice, &thread, &run.id()).await;
    app.poll("the run's usage to be recorded", || async {
        (spent_today(&app, "acme").await > 0).then_some(())
    })
    .await;

    let refused = app
        .call(
            &bob,
            "POST",
            &run_path,
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(
        refused.status, 429,
        "bob spent his budget: {:?}",
        refused.body
    );
    assert_eq!(refused.body["error"]["code"], "insufficient_quota");
    let owners = app
        .call(
            &alice,
            "POST",
            &run_path,
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(owners.status, 200, "alice spent nothing: {:?}", owners.body);
    app.stop().await;
}

/// The router decodes percent-encoded letters (`/%761/threads` is
/// `/v1/threads`), so the limits must look at the path it routes, not the
/// one the client spelled.
#[actix_web::test]
async fn a_percent_encoded_path_is_limited_like_its_plain_spelling() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    set_limits(&app, "acme", json!({"user_requests_per_minute": 1})).await;
    let alice = app.token("acme", "alice");
    let first = app.call(&alice, "GET", "/v1/threads", None).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    for spelling in [
        "/%761/threads",
        "/v1/%74hreads",
        "/%6Fpenai/v1/threads",
        "/%6fpenai/threads?api-version=2025-04-01-preview",
    ] {
        let answer = app.call(&alice, "GET", spelling, None).await;
        assert_eq!(answer.status, 429, "{spelling}: {:?}", answer.body);
    }
    app.stop().await;
}

/// Resuming a background response's stream (`GET …?stream=true`) holds a
/// stream slot like opening one: a user at their limit cannot hold more
/// streams by resuming.
#[actix_web::test]
async fn a_resumed_response_stream_holds_a_stream_slot() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    set_limits(&app, "acme", json!({"user_concurrent_streams": 1})).await;
    let alice = app.token("acme", "alice");
    let background = app
        .call(
            &alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "take your time #slow", "background": true})),
        )
        .await;
    assert_eq!(background.status, 200, "{:?}", background.body);
    let resume = format!("/v1/responses/{}?stream=true", background.id());
    let open = app
        .client
        .get(app.url(&resume))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let second = app.call(&alice, "GET", &resume, None).await;
    assert_eq!(second.status, 429, "{:?}", second.body);
    assert_eq!(second.body["error"]["type"], "streams");
    drop(open);
    app.stop().await;
}

/// A flood of refused requests is counted in full but audited only up to
/// a bound per user (and tenant), so it cannot fill the audit queue every
/// tenant shares, nor silence the audit of other users' refusals.
#[actix_web::test]
async fn a_flood_of_refusals_is_audited_within_a_bound() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let thread = app
        .call(
            &app.token("acme", "alice"),
            "POST",
            "/v1/threads",
            Some(json!({})),
        )
        .await
        .id();
    set_limits(&app, "acme", json!({"user_requests_per_minute": 1})).await;
    let carol = app.token("acme", "carol");
    assert_eq!(
        app.call(&carol, "GET", "/v1/threads", None).await.status,
        200
    );
    let flood = 80;
    let started = std::time::Instant::now();
    for _ in 0..flood {
        assert_eq!(
            app.call(&carol, "GET", "/v1/threads", None).await.status,
            429
        );
    }
    let seconds = started.elapsed().as_secs();
    // Another user's refusal is audited still: carol used up her own
    // allowance, not her tenant's.
    let dave = app.token("acme", "dave");
    assert_eq!(
        app.call(&dave, "GET", "/v1/threads", None).await.status,
        200
    );
    assert_eq!(
        app.call(&dave, "GET", "/v1/threads", None).await.status,
        429
    );
    // A later decision: the audit trail is written in order, so once it is
    // there, every refusal audited before it is too.
    let bob = app.token("acme", "bob");
    let path = format!("/v1/threads/{thread}");
    assert_eq!(app.call(&bob, "GET", &path, None).await.status, 404);
    let admin = app.admin_token("acme", "root");
    app.poll("bob's denial in the audit trail", || async {
        let about = format!("/v1/organization/audit_logs?resource_id={thread}&outcome=deny");
        let page = app.call(&admin, "GET", &about, None).await;
        (page.body["data"]
            .as_array()
            .is_some_and(|data| !data.is_empty()))
        .then_some(())
    })
    .await;
    let logs = app
        .call(
            &admin,
            "GET",
            "/v1/organization/audit_logs?limit=100&outcome=deny",
            None,
        )
        .await;
    let audited = logs.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"] == "rate_limit")
        .count() as u64;
    let burst = api::quota::AUDITED_REFUSALS_PER_MINUTE;
    assert!(
        audited > burst && audited <= burst + seconds + 2,
        "{audited} of {flood} + 1 refusals audited in {seconds} s"
    );
    app.stop().await;
}

/// A client that leaves a streamed run before its end, and never reads
/// the run again, still spends its budget: the reconciler reads the runs
/// noted as started whose end no request saw, and charges who started
/// them.
#[actix_web::test]
async fn a_run_whose_end_no_request_saw_is_charged_by_the_reconciler() {
    use threadgate_server::reconcile;
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    set_limits(&app, "acme", json!({"user_tokens_per_day": 1})).await;
    let alice = app.token("acme", "alice");
    let mut stream = open_stream(&app, &alice, &slow_streamed_run(&assistant)).await;
    let mut seen = String::new();
    while !seen.contains("thread.run.created") {
        let chunk = stream
            .chunk()
            .await
            .unwrap()
            .expect("the stream ended early");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(stream);
    assert_eq!(spent_today(&app, "acme").await, 0, "no request saw it end");

    let report = app
        .poll("the reconciler to settle the run", || async {
            let report = reconcile::run(
                &app.admin,
                std::time::Duration::ZERO,
                reconcile::Orphans::Report,
            )
            .await
            .unwrap();
            (report.usage_settled > 0).then_some(report)
        })
        .await;
    assert_eq!(report.usage_settled, 1, "{report:?}");
    assert!(spent_today(&app, "acme").await > 0);
    let refused = app
        .call(
            &alice,
            "POST",
            "/v1/threads/runs",
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(refused.status, 429, "alice started it: {:?}", refused.body);
    let again = reconcile::run(
        &app.admin,
        std::time::Duration::ZERO,
        reconcile::Orphans::Report,
    )
    .await
    .unwrap();
    assert_eq!(again.usage_settled, 0, "settled once");
    app.stop().await;
}
