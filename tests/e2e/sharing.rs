//! Sharing a thread or a conversation with another user of the tenant: what
//! each permission lets the grantee do, that only the owner shares, and
//! that a revoke binds at once — on the next request, on a request already
//! under way, and on an open stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{Value, json};
use threadgate_tests::TestApp;

use crate::files::{download, output_file_of};

fn shares(thread: &str) -> String {
    format!("/v1/threads/{thread}/shares")
}

#[actix_web::test]
async fn an_owner_shares_a_thread_and_a_revoke_binds_at_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let assistant = app.assistant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let carol = app.token("acme", "carol");
    let mallory = app.token("globex", "mallory");

    let run = app
        .call(&alice, "POST", "/v1/threads/runs",
              Some(json!({"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": "chart #output-file"}]}})))
        .await;
    let thread = run.body["thread_id"].as_str().unwrap().to_owned();
    let finished = app.finished_run(&alice, &thread, &run.id()).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    let messages_path = format!("/v1/threads/{thread}/messages");
    let messages = app.call(&alice, "GET", &messages_path, None).await;
    let output = output_file_of(&messages.body["data"][0]);
    assert_eq!(download(&app, &bob, &output).await.0, 404);
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        404
    );

    // Refusals first: a malformed share, the owner themselves, a stranger.
    let bad = app
        .call(
            &alice,
            "POST",
            &shares(&thread),
            Some(json!({"user": "bob", "permission": "admin"})),
        )
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let empty = app
        .call(
            &alice,
            "POST",
            &shares(&thread),
            Some(json!({"user": " ", "permission": "read"})),
        )
        .await;
    assert_eq!(empty.body["error"]["param"], "user");
    let myself = app
        .call(
            &alice,
            "POST",
            &shares(&thread),
            Some(json!({"user": "alice", "permission": "read"})),
        )
        .await;
    assert_eq!(myself.status, 400, "{:?}", myself.body);
    for stranger in [&bob, &mallory] {
        let refused = app
            .call(
                stranger,
                "POST",
                &shares(&thread),
                Some(json!({"user": "carol", "permission": "write"})),
            )
            .await;
        assert_eq!(refused.status, 404, "{:?}", refused.body);
    }

    // Read: the thread, its messages, runs, steps and output files.
    let shared = app
        .call(
            &alice,
            "POST",
            &shares(&thread),
            Some(json!({"user": "bob", "permission": "read"})),
        )
        .await;
    assert_eq!(shared.status, 200, "{:?}", shared.body);
    assert_eq!(shared.body["object"], "thread.share");
    assert_eq!(shared.body["user"], "bob");
    assert_eq!(shared.body["permission"], "read");
    assert_eq!(shared.body["thread_id"], thread.as_str());
    for path in [
        format!("/v1/threads/{thread}"),
        messages_path.clone(),
        format!("/v1/threads/{thread}/runs"),
        format!("/v1/threads/{thread}/runs/{}", run.id()),
        format!("/v1/threads/{thread}/runs/{}/steps", run.id()),
        format!("/v1/files/{output}"),
    ] {
        let read = app.call(&bob, "GET", &path, None).await;
        assert_eq!(read.status, 200, "bob reads {path}: {:?}", read.body);
    }
    assert_eq!(download(&app, &bob, &output).await.0, 200);
    let written = app
        .call(
            &bob,
            "POST",
            &messages_path,
            Some(json!({"role": "user", "content": "mine now"})),
        )
        .await;
    assert_eq!(
        written.status, 403,
        "read does not write: {:?}",
        written.body
    );
    for (method, path) in [
        ("DELETE", format!("/v1/threads/{thread}")),
        ("DELETE", format!("/v1/files/{output}")),
        ("GET", shares(&thread)),
    ] {
        let refused = app.call(&bob, method, &path, None).await;
        assert_eq!(
            refused.status, 403,
            "bob {method} {path}: {:?}",
            refused.body
        );
    }
    let reshare = app
        .call(
            &bob,
            "POST",
            &shares(&thread),
            Some(json!({"user": "carol", "permission": "read"})),
        )
        .await;
    assert_eq!(reshare.status, 403, "only the owner shares");
    for outsider in [&carol, &mallory] {
        assert_eq!(
            app.call(outsider, "GET", &format!("/v1/threads/{thread}"), None)
                .await
                .status,
            404
        );
    }
    let bobs_shared = app.call(&bob, "GET", "/v1/threads?shared=true", None).await;
    assert_eq!(
        bobs_shared.body["data"][0]["id"],
        thread.as_str(),
        "{:?}",
        bobs_shared.body
    );
    assert_eq!(bobs_shared.body["data"].as_array().unwrap().len(), 1);
    let bobs_own = app.call(&bob, "GET", "/v1/threads", None).await;
    assert_eq!(
        bobs_own.body["data"].as_array().unwrap().len(),
        0,
        "not bob's own"
    );
    let carols_shared = app
        .call(&carol, "GET", "/v1/threads?shared=true", None)
        .await;
    assert_eq!(carols_shared.body["data"].as_array().unwrap().len(), 0);

    // Write: messages and runs, never deletes.
    let upgraded = app
        .call(
            &alice,
            "POST",
            &shares(&thread),
            Some(json!({"user": "bob", "permission": "write"})),
        )
        .await;
    assert_eq!(upgraded.body["permission"], "write");
    let written = app
        .call(
            &bob,
            "POST",
            &messages_path,
            Some(json!({"role": "user", "content": "bob was here"})),
        )
        .await;
    assert_eq!(written.status, 200, "{:?}", written.body);
    let bobs_run = app
        .call(
            &bob,
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    assert_eq!(bobs_run.status, 200, "{:?}", bobs_run.body);
    app.finished_run(&bob, &thread, &bobs_run.id()).await;
    assert_eq!(
        app.call(&bob, "DELETE", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        403
    );
    // Adding, never changing or removing what is there.
    let bobs_message = written.id();
    for (method, path, body) in [
        (
            "POST",
            format!("/v1/threads/{thread}"),
            Some(json!({"metadata": {"owner": "bob"}})),
        ),
        ("DELETE", format!("{messages_path}/{bobs_message}"), None),
        (
            "POST",
            format!("{messages_path}/{bobs_message}"),
            Some(json!({"metadata": {"x": "y"}})),
        ),
    ] {
        let refused = app.call(&bob, method, &path, body).await;
        assert_eq!(
            refused.status, 403,
            "bob {method} {path}: {:?}",
            refused.body
        );
    }
    let listed = app.call(&alice, "GET", &shares(&thread), None).await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "{:?}",
        listed.body
    );
    assert_eq!(listed.body["data"][0]["user"], "bob");
    assert_eq!(listed.body["data"][0]["permission"], "write");

    // Revoked: unknown again, files included, on another replica as well.
    let replica = app.replica().await;
    assert_eq!(
        replica
            .call(&bob, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        200
    );
    let revoked = app
        .call(&alice, "DELETE", &format!("{}/bob", shares(&thread)), None)
        .await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert_eq!(revoked.body["deleted"], true);
    for server in [&app, &replica] {
        for path in [
            format!("/v1/threads/{thread}"),
            messages_path.clone(),
            format!("/v1/files/{output}"),
        ] {
            let gone = server.call(&bob, "GET", &path, None).await;
            assert_eq!(gone.status, 404, "{path}: {:?}", gone.body);
        }
        assert_eq!(download(server, &bob, &output).await.0, 404);
    }
    let bobs_shared = app.call(&bob, "GET", "/v1/threads?shared=true", None).await;
    assert_eq!(bobs_shared.body["data"].as_array().unwrap().len(), 0);
    let again = app
        .call(&alice, "DELETE", &format!("{}/bob", shares(&thread)), None)
        .await;
    assert_eq!(again.status, 404);
    // The owner's own access never depended on it.
    assert_eq!(
        app.call(&alice, "GET", &messages_path, None).await.status,
        200
    );
    // A deleted thread takes its shares, and what they reached, with it.
    app.call(
        &alice,
        "POST",
        &shares(&thread),
        Some(json!({"user": "bob", "permission": "read"})),
    )
    .await;
    assert_eq!(download(&app, &bob, &output).await.0, 200);
    app.call(&alice, "DELETE", &format!("/v1/threads/{thread}"), None)
        .await;
    assert_eq!(download(&app, &bob, &output).await.0, 404);
    assert_eq!(
        app.call(&bob, "GET", &format!("/v1/files/{output}"), None)
            .await
            .status,
        404
    );
    replica.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn conversations_are_shared_like_threads() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let conversation = app
        .call(
            &alice,
            "POST",
            "/v1/conversations",
            Some(json!({"items": [{"type": "message", "role": "user", "content": "Hello"}]})),
        )
        .await;
    assert_eq!(conversation.status, 200, "{:?}", conversation.body);
    let id = conversation.id();
    let items = format!("/v1/conversations/{id}/items");
    let share = format!("/v1/conversations/{id}/shares");
    assert_eq!(app.call(&bob, "GET", &items, None).await.status, 404);
    let shared = app
        .call(
            &alice,
            "POST",
            &share,
            Some(json!({"user": "bob", "permission": "read"})),
        )
        .await;
    assert_eq!(shared.status, 200, "{:?}", shared.body);
    assert_eq!(shared.body["object"], "conversation.share");
    assert_eq!(shared.body["conversation_id"], id.as_str());
    assert_eq!(app.call(&bob, "GET", &items, None).await.status, 200);
    let added = app
        .call(
            &bob,
            "POST",
            &items,
            Some(json!({"items": [{"type": "message", "role": "user", "content": "hi"}]})),
        )
        .await;
    assert_eq!(added.status, 403, "{:?}", added.body);
    let listed = app
        .call(&bob, "GET", "/v1/conversations?shared=true", None)
        .await;
    assert_eq!(
        listed.body["data"][0]["id"],
        id.as_str(),
        "{:?}",
        listed.body
    );
    app.call(&alice, "DELETE", &format!("{share}/bob"), None)
        .await;
    assert_eq!(app.call(&bob, "GET", &items, None).await.status, 404);
    // Responses and files are not shared objects.
    let response = app
        .call(
            &alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "hi"})),
        )
        .await;
    let not_shareable = app
        .call(
            &alice,
            "POST",
            &format!("/v1/responses/{}/shares", response.id()),
            Some(json!({"user": "bob", "permission": "read"})),
        )
        .await;
    assert_eq!(not_shareable.status, 404);
    app.stop().await;
}

/// The revoked grantee's open stream on the thread ends (with the error an
/// unknown thread gets) although the run is quiet, and the owner's goes on.
#[actix_web::test]
async fn a_revoke_ends_the_grantees_open_stream() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let assistant = app.assistant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    app.call(
        &alice,
        "POST",
        &shares(&thread),
        Some(json!({"user": "bob", "permission": "write"})),
    )
    .await;
    app.call(
        &bob,
        "POST",
        &format!("/v1/threads/{thread}/messages"),
        Some(json!({"role": "user", "content": "take your time #slow"})),
    )
    .await;
    let response = app
        .client
        .post(app.url(&format!("/v1/threads/{thread}/runs")))
        .bearer_auth(&bob)
        .json(&json!({"assistant_id": assistant, "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    // Read until the run is under way (its in_progress event).
    while !seen.contains("thread.run.in_progress") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .expect("the stream goes on")
            .expect("more of the stream")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let revoked_at = Instant::now();
    app.call(&alice, "DELETE", &format!("{}/bob", shares(&thread)), None)
        .await;
    let rest = tokio::time::timeout(std::time::Duration::from_secs(4), async {
        let mut rest = String::new();
        while let Some(chunk) = body.next().await {
            rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        rest
    })
    .await
    .expect("the stream ends within seconds of the revoke, before the quiet run speaks");
    assert!(revoked_at.elapsed() < std::time::Duration::from_secs(4));
    let error = rest
        .split("\n\n")
        .find(|frame| frame.starts_with("event: error"))
        .unwrap_or_else(|| panic!("no error event in {rest:?}"));
    assert!(
        error.contains(&format!("No thread found with id '{thread}'")),
        "{error}"
    );
    assert!(
        !rest.contains("thread.message.delta"),
        "nothing after the revoke: {rest}"
    );
    app.stop().await;
}

/// A grantee's read already past authorization when the share is revoked
/// (held up on its way upstream) answers what an unknown thread answers,
/// never what the owner wrote after the revoke.
#[actix_web::test]
async fn a_read_under_way_when_the_share_is_revoked_answers_404() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let messages = format!("/v1/threads/{thread}/messages");
    app.call(
        &alice,
        "POST",
        &shares(&thread),
        Some(json!({"user": "bob", "permission": "read"})),
    )
    .await;
    app.upstream_fault(
        json!({"fault": "latency:ms=1500", "times": 1, "path": "/messages", "method": "GET"}),
    )
    .await;
    let before = app.upstream_requests().len();
    let (read, ()) = tokio::join!(app.call(&bob, "GET", &messages, None), async {
        // Once the read has reached the upstream, the owner revokes and writes.
        app.poll("bob's read to reach the upstream", || async {
            app.upstream_requests()[before..]
                .iter()
                .any(|request| request.method == "GET" && request.path.ends_with("/messages"))
                .then_some(())
        })
        .await;
        app.call(&alice, "DELETE", &format!("{}/bob", shares(&thread)), None)
            .await;
        let secret = app
            .call(
                &alice,
                "POST",
                &messages,
                Some(json!({"role": "user", "content": "after the revoke"})),
            )
            .await;
        assert_eq!(secret.status, 200);
    });
    assert_eq!(read.status, 404, "{:?}", read.body);
    assert!(!read.body.to_string().contains("after the revoke"));
    app.stop().await;
}

/// A tiny deterministic generator (xorshift64*), so a failing interleaving
/// can be replayed from its seed.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One request of the grantee: when it went out and came back, and what it
/// answered.
struct Seen {
    sent: Instant,
    answered: Instant,
    status: u16,
    body: Value,
}

/// The owner shares, revokes and writes in a seeded order while the
/// grantee reads and writes as fast as it can. Nothing the owner wrote
/// while the share was revoked is ever returned to the grantee unless the
/// answer came after the thread was shared again, and every request the
/// grantee made wholly inside a revoked stretch was a 404.
#[actix_web::test]
async fn concurrent_shares_and_revokes_never_leak_what_was_written_after_a_revoke() {
    const SEED: u64 = 0x005E_ED0F_5A4E;
    const OWNER_STEPS: usize = 40;
    let app = Arc::new(TestApp::spawn().await);
    app.tenant("acme").await;
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let messages = format!("/v1/threads/{thread}/messages");
    let done = Arc::new(AtomicBool::new(false));

    let grantee = {
        let (app, bob, messages, done) = (app.clone(), bob.clone(), messages.clone(), done.clone());
        actix_web::rt::spawn(async move {
            let mut seen = Vec::new();
            // Bounded: the owner's steps end it long before this.
            for n in 0..5_000 {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let sent = Instant::now();
                let answer = if n % 3 == 2 {
                    app.call(
                        &bob,
                        "POST",
                        &messages,
                        Some(json!({"role": "user", "content": format!("bob {n}")})),
                    )
                    .await
                } else {
                    app.call(&bob, "GET", &format!("{messages}?limit=100"), None)
                        .await
                };
                seen.push(Seen {
                    sent,
                    answered: Instant::now(),
                    status: answer.status,
                    body: answer.body,
                });
            }
            seen
        })
    };

    let mut random = Seeded(SEED);
    let mut shared = false;
    // (revoke answered, next share sent) for each revoked stretch.
    let mut revoked_stretches: Vec<(Instant, Option<Instant>)> = Vec::new();
    // Markers the owner wrote while revoked, with the stretch they fell in.
    let mut secret: Vec<(String, usize)> = Vec::new();
    for step in 0..OWNER_STEPS {
        match random.next() % 3 {
            0 if !shared => {
                let permission = if random.next() % 2 == 0 {
                    "read"
                } else {
                    "write"
                };
                let sent = Instant::now();
                let answer = app
                    .call(
                        &alice,
                        "POST",
                        &shares(&thread),
                        Some(json!({"user": "bob", "permission": permission})),
                    )
                    .await;
                assert_eq!(answer.status, 200, "{:?}", answer.body);
                if let Some(last) = revoked_stretches.last_mut() {
                    last.1 = Some(sent);
                }
                shared = true;
            }
            0 | 1 if shared => {
                let answer = app
                    .call(&alice, "DELETE", &format!("{}/bob", shares(&thread)), None)
                    .await;
                assert_eq!(answer.status, 200, "{:?}", answer.body);
                revoked_stretches.push((Instant::now(), None));
                shared = false;
            }
            _ => {
                let marker = format!("owner {step} {}", random.next());
                let answer = app
                    .call(
                        &alice,
                        "POST",
                        &messages,
                        Some(json!({"role": "user", "content": marker})),
                    )
                    .await;
                assert_eq!(answer.status, 200);
                if !shared {
                    if let Some(stretch) = revoked_stretches.len().checked_sub(1) {
                        secret.push((marker, stretch));
                    }
                }
            }
        }
        // Let the grantee get some requests in between the owner's steps.
        for _ in 0..3 {
            app.call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
                .await;
        }
    }
    done.store(true, Ordering::SeqCst);
    let seen = grantee.await.unwrap();
    assert!(
        !revoked_stretches.is_empty() && !secret.is_empty(),
        "the seed exercises revokes"
    );

    let mut refused_inside = 0;
    for request in &seen {
        let inside = revoked_stretches
            .iter()
            .any(|(from, to)| request.sent > *from && to.is_none_or(|to| request.answered < to));
        if inside {
            assert_eq!(
                request.status, 404,
                "a request wholly inside a revoke: {:?}",
                request.body
            );
            refused_inside += 1;
        }
        if request.status != 200 {
            continue;
        }
        let text = request.body.to_string();
        for (marker, stretch) in &secret {
            if text.contains(marker.as_str()) {
                let reshared = revoked_stretches[*stretch].1;
                assert!(
                    reshared.is_some_and(|reshared| request.answered > reshared),
                    "{marker:?}, written while revoked, reached the grantee before a new share"
                );
            }
        }
    }
    assert!(
        refused_inside > 0,
        "some grantee requests fell inside a revoke"
    );
    assert!(
        seen.iter().any(|request| request.status == 200),
        "and some inside a share"
    );
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}
