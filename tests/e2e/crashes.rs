//! Threadgate killed at random under a load of creates and deletes, as an
//! operator would try it: a separate server process, `kill -9`ed at random
//! moments and, through a test-only fault point, between the upstream's
//! answer to a create and the row's activation; restarted each time;
//! reconciled at the end; then compared with what the emulator holds.
//!
//! Pass: no 5xx answer, no object answered 200 and then lost, no object of a
//! listable kind upstream without a row, no row left between two steps, and
//! no keyed create made twice. Thread creates whose outcome cannot be known
//! (threads cannot be listed upstream) are counted, not hidden.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use devdb::TestDatabase;
use emulator::{EmulatorConfig, RunningEmulator};
use figment::providers::Serialized;
use serde_json::{Value, json};
use threadgate_server::config::Settings;
use threadgate_server::reconcile;

/// Kills by the test (the fault point adds its own), the load's workers,
/// and the seed of the random timing.
const KILLS: usize = 8;
const WORKERS: usize = 3;
const SEED: u64 = 0x7468_7265_6164_6761;
/// How likely an activation is to die on the spot.
const DEATH_BEFORE_ACTIVATION: &str = "0.05";

/// A small deterministic generator (xorshift64*): the run's timing and
/// choices repeat for a seed.
struct Random(Cell<u64>);

impl Random {
    fn below(&self, bound: u64) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// The server process and how to start it again.
struct Server {
    child: RefCell<Child>,
    env: Vec<(String, String)>,
    base: String,
    client: reqwest::Client,
    /// Every run's log, appended, for the message of a failure.
    log: std::path::PathBuf,
}

impl Server {
    fn spawn(env: &[(String, String)], log: &std::path::Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("a log file");
        Command::new(env!("CARGO_BIN_EXE_threadgate-under-test"))
            .envs(env.iter().map(|(name, value)| (name, value)))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the server starts")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until the server answers `/readyz`, at most 10 s.
    async fn ready(&self) {
        for _ in 0..200 {
            if let Ok(answer) = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
            {
                if answer.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the server did not become ready within 10 s; its log ends:\n{}",
            self.log_tail()
        );
    }

    /// Starts it again if it died (killed, or by the fault point).
    async fn revive(&self, env: &[(String, String)]) -> bool {
        let died = self
            .child
            .borrow_mut()
            .try_wait()
            .expect("a child")
            .is_some();
        if died {
            *self.child.borrow_mut() = Self::spawn(env, &self.log);
            self.ready().await;
        }
        died
    }

    async fn kill_and_restart(&self, env: &[(String, String)]) {
        {
            let mut child = self.child.borrow_mut();
            child.kill().expect("kill -9");
            child.wait().expect("the killed server is reaped");
        }
        *self.child.borrow_mut() = Self::spawn(env, &self.log);
        self.ready().await;
    }
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    /// Objects answered 200 to a create, by idempotency key: (kind, id).
    created: HashMap<String, (&'static str, String)>,
    /// Objects answered 200 or 404 to a delete.
    deleted: HashSet<String>,
    /// Keyed thread creates whose outcome Threadgate could not know.
    unresolved_threads: usize,
    five_xx: Vec<String>,
}

struct Load<'a> {
    server: &'a Server,
    member_key: String,
    admin_key: String,
    tally: RefCell<Tally>,
    random: Random,
    stop: Cell<bool>,
    /// Every worker has stopped.
    finished: Cell<bool>,
}

impl Load<'_> {
    /// Sends until an answer comes (a kill in between is waited out).
    async fn send(&self, build: impl Fn() -> reqwest::RequestBuilder) -> (u16, Value) {
        for _ in 0..100 {
            match build().send().await {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let body = answer.json().await.unwrap_or(Value::Null);
                    if status >= 500 {
                        self.tally
                            .borrow_mut()
                            .five_xx
                            .push(format!("{status} {body}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    return (status, body);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("no answer after 100 tries");
    }

    fn post(&self, path: &str, key: &str, body: &Value, admin: bool) -> reqwest::RequestBuilder {
        let client = &self.server.client;
        let request = client
            .post(format!("{}{path}", self.server.base))
            .header("Idempotency-Key", key)
            .json(body);
        if admin {
            request.bearer_auth(&self.admin_key)
        } else {
            request
                .bearer_auth(&self.member_key)
                .header("Threadgate-On-Behalf-Of", "alice")
        }
    }

    /// One keyed create, retried with its key until it has an outcome.
    async fn create(&self, kind: &'static str, key: String) {
        let (path, body, admin) = match kind {
            "thread" => ("/v1/threads", json!({"metadata": {"key": key}}), false),
            "vector_store" => ("/v1/vector_stores", json!({"name": key}), false),
            _ => (
                "/v1/assistants",
                json!({"model": "gpt-4o", "name": key}),
                true,
            ),
        };
        for _ in 0..80 {
            let (status, answer) = self.send(|| self.post(path, &key, &body, admin)).await;
            match status {
                200 => {
                    let id = answer["id"].as_str().expect("an id").to_owned();
                    self.tally.borrow_mut().created.insert(key, (kind, id));
                    return;
                }
                409 if answer.to_string().contains("cannot be known") => {
                    assert_eq!(kind, "thread", "only threads are unknowable: {answer}");
                    self.tally.borrow_mut().unresolved_threads += 1;
                    return;
                }
                // A killed holder's claim lapses within seconds.
                409 => tokio::time::sleep(Duration::from_millis(250)).await,
                other => panic!("{kind} create answered {other}: {answer}"),
            }
        }
        panic!("the create of {key} never settled");
    }

    /// One keyed upload, sent again with its key until it has an outcome.
    async fn upload(&self, key: String) {
        for _ in 0..80 {
            let form = reqwest::multipart::Form::new()
                .text("purpose", "assistants")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(key.clone().into_bytes())
                        .file_name(key.clone()),
                );
            let sent = self
                .server
                .client
                .post(format!("{}/v1/files", self.server.base))
                .bearer_auth(&self.member_key)
                .header("Threadgate-On-Behalf-Of", "alice")
                .header("Idempotency-Key", &key)
                .multipart(form)
                .send()
                .await;
            let Ok(answer) = sent else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            match status {
                200 => {
                    let id = body["id"].as_str().expect("an id").to_owned();
                    self.tally.borrow_mut().created.insert(key, ("file", id));
                    return;
                }
                409 => tokio::time::sleep(Duration::from_millis(250)).await,
                500.. => {
                    self.tally
                        .borrow_mut()
                        .five_xx
                        .push(format!("{status} {body}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("upload answered {other}: {body}"),
            }
        }
        panic!("the upload of {key} never settled");
    }

    async fn delete(&self, kind: &str, id: &str) {
        let path = match kind {
            "thread" => "threads",
            "vector_store" => "vector_stores",
            "file" => "files",
            _ => "assistants",
        };
        let admin = kind == "assistant";
        let (status, answer) = self
            .send(|| {
                let request = self
                    .server
                    .client
                    .delete(format!("{}/v1/{path}/{id}", self.server.base));
                if admin {
                    request.bearer_auth(&self.admin_key)
                } else {
                    request
                        .bearer_auth(&self.member_key)
                        .header("Threadgate-On-Behalf-Of", "alice")
                }
            })
            .await;
        assert!(
            matches!(status, 200 | 404),
            "delete answered {status}: {answer}"
        );
        self.tally.borrow_mut().deleted.insert(id.to_owned());
    }

    async fn worker(&self, worker: usize) {
        let mut operation = 0;
        while !self.stop.get() {
            operation += 1;
            let key = format!("w{worker}-op{operation}");
            match self.random.below(10) {
                0..=2 => self.create("thread", key).await,
                3..=4 => self.create("vector_store", key).await,
                5 => self.create("assistant", key).await,
                6 => self.upload(key).await,
                _ => {
                    let victim = {
                        let tally = self.tally.borrow();
                        tally
                            .created
                            .values()
                            .find(|(_, id)| !tally.deleted.contains(id))
                            .cloned()
                    };
                    if let Some((kind, id)) = victim {
                        self.delete(kind, &id).await;
                    }
                }
            }
        }
    }

    /// Kills the server at random moments, and revives it whenever it died.
    async fn supervise(&self, env: &[(String, String)]) -> (usize, usize) {
        let (mut kills, mut deaths) = (0, 0);
        while kills < KILLS {
            // Each kill hits a load that is moving: a few creates answered
            // since the last one (at most 20 s of waiting), then a random
            // pause.
            let answered = self.tally.borrow().created.len();
            let pause = 150 + self.random.below(450);
            let mut waited = 0;
            while waited < pause
                || (self.tally.borrow().created.len() < answered + 3 && waited < 20_000)
            {
                tokio::time::sleep(Duration::from_millis(25)).await;
                waited += 25;
                if self.server.revive(env).await {
                    deaths += 1;
                }
            }
            self.server.kill_and_restart(env).await;
            kills += 1;
        }
        self.stop.set(true);
        // The workers finish what they were doing; a death at the fault
        // point meanwhile is revived too.
        while !self.finished.get() {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if self.server.revive(env).await {
                deaths += 1;
            }
        }
        (kills, deaths)
    }
}

/// A free loopback port for the server, the same across restarts.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

#[actix_web::test]
async fn killed_at_random_under_load_nothing_is_lost_duplicated_or_left_behind() {
    let database = TestDatabase::create();
    let emulator = RunningEmulator::start(
        EmulatorConfig::default(),
        "127.0.0.1:0".parse().expect("an address"),
    )
    .expect("the emulator starts");
    let upstream = json!({
        "flavour": "azure",
        "endpoint": emulator.base_url(),
        "credential": {"kind": "azure_api_key", "key": EmulatorConfig::default().api_key},
    });
    let settings = Settings::from_figment(
        Settings::figment(None)
            .merge(Serialized::default("database.url", database.url()))
            .merge(Serialized::default("upstreams.default", &upstream)),
    )
    .expect("settings");
    let admin = threadgate_server::admin_for(&settings).expect("an admin");
    admin
        .create_tenant("acme", None, "default")
        .await
        .expect("a tenant");
    let member_key = admin
        .create_api_key("acme", "backend", false, true)
        .await
        .expect("a key")
        .key;
    let admin_key = admin
        .create_api_key("acme", "operations", true, false)
        .await
        .expect("a key")
        .key;

    let port = free_port();
    let mut env: Vec<(String, String)> = vec![
        (
            "THREADGATE_SERVER__LISTEN".into(),
            format!("127.0.0.1:{port}"),
        ),
        ("THREADGATE_SERVER__WORKERS".into(), "2".into()),
        ("THREADGATE_DATABASE__URL".into(), database.url().to_owned()),
        ("THREADGATE_METRICS__LISTEN".into(), "127.0.0.1:0".into()),
        (
            "THREADGATE_UPSTREAMS__DEFAULT__FLAVOUR".into(),
            "azure".into(),
        ),
        (
            "THREADGATE_UPSTREAMS__DEFAULT__ENDPOINT".into(),
            emulator.base_url(),
        ),
        (
            "THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KIND".into(),
            "azure_api_key".into(),
        ),
        (
            "THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KEY".into(),
            EmulatorConfig::default().api_key,
        ),
        (
            "TEST_FAULT_BEFORE_ACTIVATION".into(),
            DEATH_BEFORE_ACTIVATION.into(),
        ),
    ];
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let log = scratch.path().join("server.log");
    let server = Server {
        child: RefCell::new(Server::spawn(&env, &log)),
        log,
        env: env.clone(),
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    };
    server.ready().await;
    let load = Rc::new(Load {
        server: &server,
        member_key,
        admin_key,
        tally: RefCell::new(Tally::default()),
        random: Random(Cell::new(SEED)),
        stop: Cell::new(false),
        finished: Cell::new(false),
    });

    let workers = async {
        futures_util::future::join_all((0..WORKERS).map(|worker| load.worker(worker))).await;
        load.finished.set(true);
    };
    let ((kills, deaths), _) = futures_util::join!(load.supervise(&server.env), workers);

    // The rest without the fault point, reconciled.
    env.retain(|(name, _)| !name.starts_with("TEST_FAULT_"));
    server.kill_and_restart(&env).await;
    let report = reconcile::run(&admin, Duration::ZERO, reconcile::Orphans::Delete)
        .await
        .expect("a reconcile pass");

    // What the load saw; the checks below tally their own answers afresh.
    let tally = load.tally.take();
    assert!(tally.five_xx.is_empty(), "5xx answers: {:?}", tally.five_xx);
    // No object answered 200 is lost.
    for (key, (kind, id)) in &tally.created {
        if tally.deleted.contains(id) {
            continue;
        }
        let path = match *kind {
            "thread" => "threads",
            "vector_store" => "vector_stores",
            "file" => "files",
            _ => "assistants",
        };
        let read = load
            .send(|| {
                let request = server.client.get(format!("{}/v1/{path}/{id}", server.base));
                if *kind == "assistant" {
                    request.bearer_auth(&load.admin_key)
                } else {
                    request
                        .bearer_auth(&load.member_key)
                        .header("Threadgate-On-Behalf-Of", "alice")
                }
            })
            .await;
        assert_eq!(
            read.0, 200,
            "{key}: {kind} {id} was answered 200 and is lost: {}",
            read.1
        );
    }
    // Nothing left between two steps.
    let unsettled = admin
        .database
        .run("test.unsettled", |conn| {
            storage::repo::resources::unsettled(conn, chrono::Utc::now(), 100)
        })
        .await
        .expect("rows");
    assert!(
        unsettled.is_empty(),
        "rows left between two steps: {unsettled:?}"
    );
    // Nothing listable upstream without a row, and no keyed create twice.
    let inventory = emulator.inventory();
    let known = admin
        .database
        .run("test.known", |conn| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Known {
                #[diesel(sql_type = diesel::sql_types::Text)]
                upstream_id: String,
            }
            Ok(diesel::sql_query(
                "SELECT upstream_id FROM resources WHERE state = 'active' AND upstream_id IS NOT NULL",
            )
            .load::<Known>(conn)?
            .into_iter()
            .map(|known| known.upstream_id)
            .collect::<HashSet<String>>())
        })
        .await
        .expect("rows");
    for (kind, ids) in [
        ("assistant", &inventory.assistants),
        ("vector store", &inventory.vector_stores),
        ("file", &inventory.files),
    ] {
        let orphans: Vec<&String> = ids.iter().filter(|id| !known.contains(*id)).collect();
        assert!(orphans.is_empty(), "{kind} orphans upstream: {orphans:?}");
    }
    let orphan_threads = inventory
        .threads
        .iter()
        .filter(|id| !known.contains(*id))
        .count();
    assert!(
        orphan_threads <= report.unresolved_threads,
        "{orphan_threads} threads upstream without a row, {} reported unresolved",
        report.unresolved_threads
    );
    let listable: HashSet<&String> = inventory
        .vector_stores
        .iter()
        .chain(&inventory.assistants)
        .chain(&inventory.files)
        .collect();
    let answered = tally
        .created
        .values()
        .filter(|(_, id)| listable.contains(id))
        .count();
    assert_eq!(
        listable.len(),
        answered,
        "every vector store, assistant and file upstream is one keyed create's, once"
    );
    println!(
        "crashes: {kills} kills and {deaths} deaths at the fault point; {} creates answered, {} deleted; \
         {} thread creates unresolvable ({orphan_threads} threads upstream without a row); \
         reconcile: {report:?}",
        tally.created.len(),
        tally.deleted.len(),
        tally.unresolved_threads,
    );
    let checks = load.tally.take();
    assert!(
        checks.five_xx.is_empty(),
        "5xx answers to the checks: {:?}",
        checks.five_xx
    );
    server.child.borrow_mut().kill().ok();
    emulator.stop().await;
}
