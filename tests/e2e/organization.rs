//! The tenant administration API: a tenant admin reads and changes the
//! tenant's policy, which binds runs, responses and assistants at once;
//! members and anonymous callers meet a path that does not exist, and an
//! admin reaches only their own tenant.

use serde_json::json;
use threadgate_tests::TestApp;

const POLICY: &str = "/v1/organization/policy";

#[actix_web::test]
async fn a_tenant_admin_sets_the_policy_and_it_binds_at_once() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let globex_admin = app.admin_token("globex", "boss");
    let assistant = app.assistant("acme").await;

    let defaults = app.call(&admin, "GET", POLICY, None).await;
    assert_eq!(defaults.status, 200, "{:?}", defaults.body);
    assert_eq!(defaults.body["object"], "organization.policy");
    assert_eq!(defaults.body["admins_read_conversations"], false);
    assert!(defaults.body["retention_days"].is_null());
    assert!(defaults.body["allowed_models"].is_null());
    let tools = defaults.body["allowed_tools"].as_array().unwrap();
    assert!(tools.contains(&json!("file_search")) && !tools.contains(&json!("mcp")));

    // Members meet a path that does not exist; anonymous callers a 401.
    for method in ["GET", "POST"] {
        let body = (method == "POST").then(|| json!({"admins_read_conversations": true}));
        let refused = app.call(&alice, method, POLICY, body).await;
        assert_eq!(refused.status, 404, "{method}: {:?}", refused.body);
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Invalid URL"), "{message}");
    }
    let anonymous = app.client.get(app.url(POLICY)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let unchanged = app.call(&admin, "GET", POLICY, None).await;
    assert_eq!(unchanged.body, defaults.body, "a member changed nothing");

    // Bad values are named.
    for (body, param) in [
        (json!({"retention_days": 0}), "retention_days"),
        (
            json!({"allowed_tools": ["function", "telepathy"]}),
            "allowed_tools[1]",
        ),
        (json!({"allowed_models": [""]}), "allowed_models[0]"),
    ] {
        let refused = app.call(&admin, "POST", POLICY, Some(body.clone())).await;
        assert_eq!(refused.status, 400, "{body}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["param"], param, "{body}");
    }
    let unknown = app
        .call(&admin, "POST", POLICY, Some(json!({"colour": "red"})))
        .await;
    assert_eq!(unknown.status, 400, "{:?}", unknown.body);

    // A partial update binds the next request.
    let narrowed = app
        .call(
            &admin,
            "POST",
            POLICY,
            Some(json!({"allowed_tools": ["function"], "allowed_models": ["gpt-4o"], "retention_days": 30})),
        )
        .await;
    assert_eq!(narrowed.status, 200, "{:?}", narrowed.body);
    assert_eq!(narrowed.body["allowed_tools"], json!(["function"]));
    assert_eq!(narrowed.body["retention_days"], 30);
    assert_eq!(
        narrowed.body["admins_read_conversations"], false,
        "left as it was"
    );
    let before = app.upstream_requests().len();
    for (body, param) in [
        (
            json!({"model": "gpt-4o", "input": "x", "tools": [{"type": "file_search"}]}),
            "tools[0].type",
        ),
        (json!({"model": "gpt-4.1", "input": "x"}), "model"),
    ] {
        let refused = app.call(&alice, "POST", "/v1/responses", Some(body)).await;
        assert_eq!(refused.status, 400, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["param"], param);
    }
    let run = app
        .call(
            &alice,
            "POST",
            "/v1/threads/runs",
            Some(json!({"assistant_id": assistant, "model": "gpt-4.1"})),
        )
        .await;
    assert_eq!(run.status, 400, "{:?}", run.body);
    assert_eq!(
        app.upstream_requests().len(),
        before,
        "refused before the upstream"
    );
    let allowed = app
        .call(
            &alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {}}]})),
        )
        .await;
    assert_eq!(allowed.status, 200, "{:?}", allowed.body);

    // Another tenant's admin sees and changes only their own.
    let theirs = app.call(&globex_admin, "GET", POLICY, None).await;
    assert_eq!(theirs.body, defaults.body);

    // null restores a default.
    let cleared = app
        .call(
            &admin,
            "POST",
            POLICY,
            Some(json!({"allowed_tools": null, "allowed_models": null, "retention_days": null})),
        )
        .await;
    assert_eq!(cleared.body, defaults.body);

    // Reading users' conversations is the tenant's choice.
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let path = format!("/v1/threads/{thread}");
    assert_eq!(app.call(&admin, "GET", &path, None).await.status, 404);
    app.call(
        &admin,
        "POST",
        POLICY,
        Some(json!({"admins_read_conversations": true})),
    )
    .await;
    assert_eq!(app.call(&admin, "GET", &path, None).await.status, 200);
    let write = app
        .call(
            &admin,
            "POST",
            &format!("{path}/messages"),
            Some(json!({"role": "user", "content": "not mine to write"})),
        )
        .await;
    // What an admin may read anyway gets an honest 403 when changed.
    assert_eq!(write.status, 403, "read, never change: {:?}", write.body);

    // Every change is audited (written once the server has stopped).
    let tenant = app.admin.tenant("acme").await.unwrap();
    let database = app.stop().await.unwrap();
    let mut conn = storage::connect(database.url()).unwrap();
    let updates = storage::repo::audit::list_for_tenant(&mut conn, tenant.id)
        .unwrap()
        .into_iter()
        .filter(|event| event.action == "policy_update")
        .count();
    assert_eq!(updates, 3, "narrowed, cleared, opened to admins");
}

#[actix_web::test]
async fn a_tenant_admin_manages_users_and_api_keys() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let globex_admin = app.admin_token("globex", "boss");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    assert_eq!(app.call(&bob, "GET", "/v1/threads", None).await.status, 200);

    // Users, paged with clean cursors.
    let first = app
        .call(&admin, "GET", "/v1/organization/users?limit=1", None)
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["has_more"], true);
    let after = first.body["last_id"].as_str().unwrap().to_owned();
    let rest = app
        .call(
            &admin,
            "GET",
            &format!("/v1/organization/users?after={after}"),
            None,
        )
        .await;
    let mut subjects: Vec<String> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body["data"].as_array().unwrap())
        .map(|user| user["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["alice", "bob", "root"]);
    let alice_id = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body["data"].as_array().unwrap())
        .find(|user| user["subject"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = format!("/v1/organization/users/{alice_id}");
    let found = app.call(&admin, "GET", &user, None).await;
    assert_eq!(found.body["owned"]["thread"], 1, "{:?}", found.body);
    assert!(found.body["last_seen_at"].is_i64());

    // Members meet no such path; another tenant's admin no such user.
    let member = app
        .call(&alice, "GET", "/v1/organization/users", None)
        .await;
    assert_eq!(member.status, 404);
    let foreign = app.call(&globex_admin, "GET", &user, None).await;
    assert_eq!(foreign.status, 404, "{:?}", foreign.body);
    let foreign_change = app
        .call(
            &globex_admin,
            "POST",
            &user,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(foreign_change.status, 404);

    // Disabled from the next request; enabled again.
    let disabled = app
        .call(&admin, "POST", &user, Some(json!({"disabled": true})))
        .await;
    assert_eq!(disabled.body["disabled"], true, "{:?}", disabled.body);
    let refused = app
        .call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let only_disabled = app
        .call(&admin, "GET", "/v1/organization/users?disabled=true", None)
        .await;
    assert_eq!(only_disabled.body["data"].as_array().unwrap().len(), 1);
    app.call(&admin, "POST", &user, Some(json!({"disabled": false})))
        .await;
    assert_eq!(
        app.call(&alice, "GET", &format!("/v1/threads/{thread}"), None)
            .await
            .status,
        200
    );

    // API keys: the secret once, never again; revoked from the next request.
    for (body, param) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "role": "root"}), "role"),
    ] {
        let refused = app
            .call(&admin, "POST", "/v1/organization/api_keys", Some(body))
            .await;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.body["error"]["param"], param);
    }
    // A key that could act as any user is the operator's to make.
    let impersonating = app
        .call(
            &admin,
            "POST",
            "/v1/organization/api_keys",
            Some(json!({"name": "backend", "can_act_on_behalf": true})),
        )
        .await;
    assert_eq!(impersonating.status, 400);
    assert_eq!(impersonating.body["error"]["param"], "can_act_on_behalf");
    let created = app
        .call(
            &admin,
            "POST",
            "/v1/organization/api_keys",
            Some(json!({"name": "backend", "role": "admin"})),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let key = created.body["value"].as_str().unwrap().to_owned();
    let key_id = created.body["id"].as_str().unwrap().to_owned();
    let with_key = app.call(&key, "GET", "/v1/organization/policy", None).await;
    assert_eq!(
        with_key.status, 200,
        "an admin key works: {:?}",
        with_key.body
    );
    let listed = app
        .call(&admin, "GET", "/v1/organization/api_keys", None)
        .await;
    let text = listed.body.to_string();
    assert!(
        text.contains(&key_id) && !text.contains(&key[key.len() - 16..]),
        "{text}"
    );
    assert!(listed.body["data"][0].get("value").is_none());
    let revoke = format!("/v1/organization/api_keys/{key_id}");
    assert_eq!(
        app.call(&globex_admin, "DELETE", &revoke, None)
            .await
            .status,
        404
    );
    assert_eq!(app.call(&alice, "DELETE", &revoke, None).await.status, 404);
    let revoked = app.call(&admin, "DELETE", &revoke, None).await;
    assert_eq!(revoked.body["deleted"], true, "{:?}", revoked.body);
    let after_revoke = app.call(&key, "GET", "/v1/organization/policy", None).await;
    assert_eq!(after_revoke.status, 401);
    app.stop().await;
}

/// Every administration route the document lists refuses members (as a
/// path that does not exist), anonymous callers (401), and another tenant's
/// admin for the tenant's objects (404); none of them changes anything.
#[actix_web::test]
async fn every_administration_route_refuses_members_and_other_tenants_admins() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let globex_admin = app.admin_token("globex", "boss");
    app.call(&alice, "GET", "/v1/threads", None).await;
    let users = app
        .call(&admin, "GET", "/v1/organization/users", None)
        .await;
    let alice_id = users.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["subject"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app
        .call(
            &admin,
            "POST",
            "/v1/organization/api_keys",
            Some(json!({"name": "backend"})),
        )
        .await;
    let key_id = key.body["id"].as_str().unwrap().to_owned();
    let before = app.call(&admin, "GET", POLICY, None).await.body;

    let document = api::openapi();
    let mut checked = 0;
    for (template, item) in &document.paths.paths {
        if !template.starts_with("/v1/organization/") {
            continue;
        }
        let path = template
            .replace("{user_id}", &alice_id)
            .replace("{key_id}", &key_id);
        let names_an_object = path != *template;
        for (method, present) in [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
        ] {
            if !present {
                continue;
            }
            let body = (method == "POST").then(|| match template.as_str() {
                POLICY => json!({"admins_read_conversations": true}),
                "/v1/organization/api_keys" => json!({"name": "intruder"}),
                _ => json!({"disabled": true}),
            });
            let member = app.call(&alice, method, &path, body.clone()).await;
            assert_eq!(member.status, 404, "member: {method} {path}");
            let message = member.body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("Invalid URL"), "{message}");
            // Answered as an unknown URL is, headers included.
            let unknown = app
                .call(&alice, method, "/v1/organization/nothing-here", None)
                .await;
            for header in ["x-request-id", "cache-control"] {
                assert_eq!(
                    member.headers.contains_key(header),
                    unknown.headers.contains_key(header),
                    "{header} on {method} {path}"
                );
            }
            assert!(member.headers.contains_key("x-request-id"));
            // A member's malformed body or query tells them nothing more.
            let malformed_body = (method == "POST").then(|| json!(["not an object"]));
            let malformed_path = format!("{path}?limit=many&since=yesterday");
            let malformed = app
                .call(&alice, method, &malformed_path, malformed_body.clone())
                .await;
            assert_eq!(malformed.status, 404, "member, malformed: {method} {path}");
            if method == "POST" {
                let admins = app.call(&admin, method, &path, malformed_body).await;
                assert_eq!(admins.status, 400, "admin, malformed: {method} {path}");
            }
            let mut anonymous = app.client.request(method.parse().unwrap(), app.url(&path));
            if let Some(body) = &body {
                anonymous = anonymous.json(body);
            }
            assert_eq!(
                anonymous.send().await.unwrap().status(),
                401,
                "{method} {path}"
            );
            if names_an_object {
                let foreign = app.call(&globex_admin, method, &path, body).await;
                assert_eq!(foreign.status, 404, "globex admin: {method} {path}");
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "only {checked} administration operations checked"
    );
    // Nothing changed.
    assert_eq!(app.call(&admin, "GET", POLICY, None).await.body, before);
    assert_eq!(
        app.call(&alice, "GET", "/v1/threads", None).await.status,
        200
    );
    let keys = app
        .call(&admin, "GET", "/v1/organization/api_keys", None)
        .await;
    let keys = keys.body["data"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "no key was made by an intruder");
    assert!(keys[0]["revoked_at"].is_null());
    app.stop().await;
}

#[actix_web::test]
async fn a_tenant_admin_reads_filters_and_exports_the_audit_trail() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let globex_admin = app.admin_token("globex", "boss");
    let thread = app
        .call(&alice, "POST", "/v1/threads", Some(json!({})))
        .await
        .id();
    let path = format!("/v1/threads/{thread}");
    assert_eq!(app.call(&bob, "GET", &path, None).await.status, 404);
    assert_eq!(app.call(&alice, "GET", &path, None).await.status, 200);

    // Events are written a moment after the request: wait for them.
    let about = format!("/v1/organization/audit_logs?resource_id={thread}");
    let events = app
        .poll("the thread's audit events", || async {
            let page = app.call(&admin, "GET", &about, None).await;
            let data = page.body["data"].as_array().cloned().unwrap_or_default();
            (data.len() >= 3).then_some(data)
        })
        .await;
    let times: Vec<i64> = events
        .iter()
        .map(|event| event["occurred_at"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first"
    );
    assert!(
        events
            .iter()
            .all(|event| event["resource"]["id"] == thread.as_str())
    );

    let denied = app
        .call(&admin, "GET", &format!("{about}&outcome=deny"), None)
        .await;
    let denied = denied.body["data"].as_array().unwrap().clone();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["action"], "read");
    assert_eq!(denied[0]["actor"]["type"], "user");
    assert!(denied[0]["reason"].is_string());

    // Pages with clean cursors.
    let first = app
        .call(&admin, "GET", &format!("{about}&limit=1"), None)
        .await;
    assert_eq!(first.body["has_more"], true);
    let next = app
        .call(
            &admin,
            "GET",
            &format!(
                "{about}&limit=1&after={}",
                first.body["last_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_ne!(next.body["data"][0]["id"], first.body["data"][0]["id"]);

    // Bad filters are named; others see nothing of it.
    let bad = app
        .call(
            &admin,
            "GET",
            "/v1/organization/audit_logs?outcome=maybe",
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["param"], "outcome");
    let theirs = app.call(&globex_admin, "GET", &about, None).await;
    assert_eq!(theirs.body["data"], json!([]));
    assert_eq!(app.call(&alice, "GET", &about, None).await.status, 404);

    // The export: the same events, oldest first, one a line.
    let exported = app
        .client
        .get(app.url(&format!(
            "/v1/organization/audit_logs/export?resource_id={thread}"
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(exported.status(), 200);
    assert_eq!(
        exported.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = exported.text().await.unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut listed: Vec<&serde_json::Value> = events.iter().collect();
    listed.reverse();
    let exported_ids: Vec<&serde_json::Value> = lines.iter().map(|line| &line["id"]).collect();
    let listed_ids: Vec<&serde_json::Value> = listed.iter().map(|event| &event["id"]).collect();
    assert_eq!(exported_ids[..listed_ids.len()], listed_ids[..]);
    app.stop().await;
}

#[actix_web::test]
async fn a_tenant_admin_reads_usage_by_user_day_and_model() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    let bob = app.token("acme", "bob");
    let assistant = app.assistant("acme").await;
    let response = app
        .call(
            &alice,
            "POST",
            "/v1/responses",
            Some(json!({"model": "gpt-4o", "input": "count my tokens"})),
        )
        .await;
    let run = app
        .call(
            &alice,
            "POST",
            "/v1/threads/runs",
            Some(json!({"assistant_id": assistant})),
        )
        .await;
    let thread = run.body["thread_id"].as_str().unwrap().to_owned();
    let finished = app.finished_run(&alice, &thread, &run.id()).await;
    let alices_tokens = response.body["usage"]["total_tokens"].as_i64().unwrap()
        + finished["usage"]["total_tokens"].as_i64().unwrap();
    app.call(
        &bob,
        "POST",
        "/v1/responses",
        Some(json!({"model": "gpt-4o", "input": "mine"})),
    )
    .await;

    let users = app
        .call(&admin, "GET", "/v1/organization/users", None)
        .await;
    let id_of = |subject: &str| {
        users.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|user| user["subject"] == subject)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let alice_id = id_of("alice");
    let hers = app
        .poll("alice's usage", || async {
            let page = app
                .call(
                    &admin,
                    "GET",
                    &format!("/v1/organization/usage?user_id={alice_id}"),
                    None,
                )
                .await;
            let buckets = page.body["data"].as_array().cloned().unwrap_or_default();
            let requests: i64 = buckets
                .iter()
                .map(|b| b["requests"].as_i64().unwrap())
                .sum();
            (requests == 2).then_some(buckets)
        })
        .await;
    let total: i64 = hers
        .iter()
        .map(|b| b["total_tokens"].as_i64().unwrap())
        .sum();
    assert_eq!(total, alices_tokens);
    assert!(
        hers.iter()
            .all(|bucket| bucket["user_id"] == alice_id.as_str())
    );
    assert_eq!(hers[0]["day"], chrono::Utc::now().date_naive().to_string());

    // Every user's, paged with an opaque cursor.
    let first = app
        .call(&admin, "GET", "/v1/organization/usage?limit=1", None)
        .await;
    assert_eq!(first.body["has_more"], true, "{:?}", first.body);
    let rest = app
        .call(
            &admin,
            "GET",
            &format!(
                "/v1/organization/usage?after={}",
                first.body["last_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let everyone: Vec<&serde_json::Value> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body["data"].as_array().unwrap())
        .collect();
    let requests: i64 = everyone
        .iter()
        .map(|b| b["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(requests, 3, "alice's two and bob's one");
    let bad = app
        .call(&admin, "GET", "/v1/organization/usage?after=nonsense", None)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["param"], "after");
    let too_long = app
        .call(&admin, "GET", "/v1/organization/usage?since=0", None)
        .await;
    assert_eq!(too_long.status, 400, "{:?}", too_long.body);
    assert_eq!(too_long.body["error"]["param"], "since");
    assert_eq!(
        app.call(&alice, "GET", "/v1/organization/usage", None)
            .await
            .status,
        404
    );
    app.stop().await;
}

/// The tenant's audit events form one hash chain however many replicas
/// write them; editing one event in the database (as its owner could, past
/// the append-only triggers) is found, and the first broken event named.
#[actix_web::test]
async fn the_audit_chain_holds_across_replicas_and_shows_tampering() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    app.tenant("acme").await;
    let admin = app.admin_token("acme", "root");
    let alice = app.token("acme", "alice");
    // Both replicas write the tenant's events at once.
    let writes = (0..16).map(|n| {
        let (server, alice) = (if n % 2 == 0 { &app } else { &replica }, alice.clone());
        async move {
            server
                .call(&alice, "POST", "/v1/threads", Some(json!({})))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(writes).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let verify = "/v1/organization/audit_logs/verify";
    let intact = app
        .poll("the events of both replicas", || async {
            let check = app.call(&admin, "GET", verify, None).await;
            (check.body["events"].as_i64().unwrap_or(0) >= 16).then_some(check.body)
        })
        .await;
    assert_eq!(intact["intact"], true, "{intact}");
    assert!(intact["first_broken"].is_null());
    replica.stop().await;

    // An edit past the append-only trigger breaks the chain at that event.
    let tenant = app.admin.tenant("acme").await.unwrap();
    let tampered: String = app
        .admin
        .database
        .run("test.tamper", move |conn| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Id {
                #[diesel(sql_type = diesel::sql_types::Text)]
                id: String,
            }
            diesel::sql_query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
                .execute(conn)?;
            let id: Id = diesel::sql_query(
                "UPDATE audit_events SET outcome = 'allow', action = 'read' \
                 WHERE id = (SELECT event_id FROM audit_chain WHERE tenant_id = $1 AND seq = 5) \
                 RETURNING id::text AS id",
            )
            .bind::<diesel::sql_types::Uuid, _>(tenant.id.as_uuid())
            .get_result(conn)?;
            diesel::sql_query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
                .execute(conn)?;
            Ok(id.id)
        })
        .await
        .unwrap();
    let broken = app.call(&admin, "GET", verify, None).await;
    assert_eq!(broken.body["intact"], false, "{:?}", broken.body);
    assert_eq!(broken.body["first_broken"]["id"], tampered.as_str());
    assert_eq!(broken.body["first_broken"]["seq"], 5);
    let resumed = app
        .call(&admin, "GET", &format!("{verify}?after_sequence=3"), None)
        .await;
    assert_eq!(resumed.body["first_broken"]["seq"], 5, "{:?}", resumed.body);
    let negative = app
        .call(&admin, "GET", &format!("{verify}?after_sequence=-1"), None)
        .await;
    assert_eq!(negative.status, 400);
    assert_eq!(negative.body["error"]["param"], "after_sequence");

    // Cutting the chain's end off (event and link, as the owner) is seen
    // from the head; the intact answer before it named that head.
    // (Events written here, synchronously, so nothing else extends the
    // chain meanwhile.)
    app.tenant("globex").await;
    let globex = app.admin.tenant("globex").await.unwrap().id;
    let events: Vec<_> = (0..3)
        .map(|n| storage::repo::audit::AuditEvent {
            occurred_at: chrono::Utc::now(),
            tenant_id: Some(globex),
            request_id: Some(format!("req_cut_{n}")),
            trace_id: None,
            actor_user_id: None,
            actor_api_key_id: None,
            auth_method: Some("test"),
            action: "read".to_owned(),
            resource_kind: None,
            resource_id: None,
            upstream_id: Some("thread_\u{1f}allow".to_owned()),
            outcome: storage::repo::audit::Outcome::Allow,
            reason: None,
            details: json!({}),
        })
        .collect();
    app.admin
        .database
        .run("test.events", move |conn| {
            storage::repo::audit::append_many(conn, &events)
        })
        .await
        .unwrap();
    let check = move |conn: &mut diesel::PgConnection| {
        storage::repo::audit::verify_chain(conn, globex, 0, i64::MAX)
    };
    let before = app.admin.database.run("test.verify", check).await.unwrap();
    assert!(before.events >= 3, "{before:?}");
    assert_eq!(before.first_broken, None);
    assert_eq!(before.head.1.len(), 32, "a SHA-256 head");
    let last = before.events;
    app.admin
        .database
        .run("test.cut", move |conn| {
            use diesel::RunQueryDsl;
            for statement in [
                "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_append_only",
                "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
            ] {
                diesel::sql_query(statement).execute(conn)?;
            }
            diesel::sql_query(
                "WITH cut AS (DELETE FROM audit_chain WHERE tenant_id = $1 AND seq = $2 \
                 RETURNING event_id) DELETE FROM audit_events WHERE id IN (SELECT event_id FROM cut)",
            )
            .bind::<diesel::sql_types::Uuid, _>(globex.as_uuid())
            .bind::<diesel::sql_types::BigInt, _>(last)
            .execute(conn)?;
            for statement in [
                "ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_append_only",
                "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only",
            ] {
                diesel::sql_query(statement).execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let cut = app.admin.database.run("test.verify", check).await.unwrap();
    assert_eq!(cut.first_broken, Some((None, last)), "{cut:?}");
    app.stop().await;
}

/// An admin adds an issuer (checked like the CLI's, its keys fetched once),
/// whose tokens then sign users into the tenant, and removes it again.
#[actix_web::test]
async fn a_tenant_admin_adds_and_removes_issuers() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let admin = app.admin_token("acme", "root");
    let issuers = "/v1/organization/issuers";
    let listed = app.call(&admin, "GET", issuers, None).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    let own = listed.body["data"][0]["id"].as_str().unwrap().to_owned();

    // Refusals, each naming what to fix.
    let partner = app.issuer.issuer("acme-partner");
    let good = json!({"issuer": partner, "audiences": [threadgate_server::dev_issuer::AUDIENCE]});
    for (spoiled, field) in [
        (json!({"issuer": "http://idp.example.com"}), "issuer"),
        (json!({"audiences": []}), "audiences"),
        (json!({"algorithms": ["HS256"]}), "algorithms"),
        (json!({"admin_claim": "roles"}), "admin_claim"),
        (
            json!({"jwks_uri": format!("{partner}/no-keys-here")}),
            "jwks_uri",
        ),
        (
            json!({"issuer": format!("{partner}/no-discovery")}),
            "issuer",
        ),
    ] {
        let mut body = good.clone();
        for (key, value) in spoiled.as_object().unwrap() {
            body[key] = value.clone();
        }
        let refused = app.call(&admin, "POST", issuers, Some(body)).await;
        assert_eq!(refused.status, 400, "{spoiled}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["param"], field, "{spoiled}");
    }
    let taken = json!({"issuer": app.issuer.issuer("acme"), "audiences": ["x"]});
    assert_eq!(
        app.call(&admin, "POST", issuers, Some(taken)).await.status,
        400
    );

    // Added (keys found through discovery): its tokens are acme's users.
    let dave = app
        .issuer
        .mint("acme-partner", "dave", false, 3600)
        .unwrap();
    assert_eq!(
        app.call(&dave, "GET", "/v1/threads", None).await.status,
        401
    );
    let added = app.call(&admin, "POST", issuers, Some(good)).await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    assert_eq!(added.body["object"], "organization.issuer");
    assert_eq!(added.body["algorithms"], json!(["RS256"]));
    assert_eq!(
        app.call(&dave, "GET", "/v1/threads", None).await.status,
        200
    );
    let users = app
        .call(&admin, "GET", "/v1/organization/users", None)
        .await;
    assert!(
        users.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|user| user["subject"] == "dave")
    );

    // Removed: refused from the next request. Not the caller's own.
    let mine = app
        .call(&admin, "DELETE", &format!("{issuers}/{own}"), None)
        .await;
    assert_eq!(mine.status, 400, "{:?}", mine.body);
    let id = added.body["id"].as_str().unwrap();
    let removed = app
        .call(&admin, "DELETE", &format!("{issuers}/{id}"), None)
        .await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    assert_eq!(
        app.call(&dave, "GET", "/v1/threads", None).await.status,
        401
    );
    assert_eq!(
        app.call(&admin, "DELETE", &format!("{issuers}/{id}"), None)
            .await
            .status,
        404
    );
    let audit = app
        .call(
            &admin,
            "GET",
            "/v1/organization/audit_logs?action=issuer_add",
            None,
        )
        .await;
    assert_eq!(audit.body["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}
