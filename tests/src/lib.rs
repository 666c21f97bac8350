//! Test support for the end-to-end tests: [`TestApp`] starts the real
//! `threadgate` server on a loopback port with a database of its own, the
//! emulator as its upstream, and a development identity provider; it makes
//! tenants, users and tokens in one line each. [`python`] prepares the
//! official `openai` SDK.

pub mod node;
pub mod outage;
pub mod python;
pub mod redis;

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use devdb::TestDatabase;
use emulator::{EmulatorConfig, JournalEntry, RunningEmulator};
use figment::providers::Serialized;
use serde_json::{Value, json};
use threadgate_server::admin::{Admin, IssuerSpec};
use threadgate_server::config::Settings;
use threadgate_server::dev_issuer::{self, DevIssuer};
use threadgate_server::{Application, admin_for};

/// How often [`TestApp::poll`] asks before it gives up (10 s in all).
pub const POLL_ATTEMPTS: u32 = 1000;
/// The wait between two of [`TestApp::poll`]'s attempts.
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// A running Threadgate with its own database and upstream. Stopped with [`TestApp::stop`].
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub emulator: RunningEmulator,
    pub issuer: Arc<DevIssuer>,
    pub admin: Admin,
    /// A replica shares its first server's upstream and leaves it running.
    owns_emulator: bool,
    database_url: String,
    /// `http://127.0.0.1:PORT` of `/metrics`.
    pub metrics_address: Option<String>,
    handle: ServerHandle,
    shutdown: threadgate_server::Shutdown,
    server: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
    // Declared last so it is dropped after the server stops.
    database: Option<TestDatabase>,
}

/// An answer: status, headers and the body as JSON (`Null` when not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `id` of a successful answer (a created or read object); any
    /// other answer fails the test.
    pub fn id(&self) -> String {
        assert_eq!(self.status, 200, "{:?}", self.body);
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_owned()
    }

    /// Sends `request` and reads its answer.
    pub async fn of(request: reqwest::RequestBuilder) -> Self {
        let response = request
            .send()
            .await
            .expect("the request reaches the server");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        Self {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }
}

impl TestApp {
    /// Starts the server on port 0 with a fresh, migrated database.
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDatabase::create()).await
    }

    /// As [`TestApp::spawn`], with settings of the upstream profile
    /// overridden (`{"timeouts": {"request": "200ms"}}`, …).
    pub async fn spawn_with_upstream(overrides: Value) -> Self {
        Self::spawn_with(json!({"upstreams": {"default": overrides}})).await
    }

    /// As [`TestApp::spawn`], with any settings overridden
    /// (`{"server": {"max_upload_bytes": 1024}}`, …).
    pub async fn spawn_with(overrides: Value) -> Self {
        let database = TestDatabase::create();
        let url = database.url().to_owned();
        Self::start_with(&url, Some(database), overrides).await
    }

    /// Starts the server with an upstream it waits on for 300 ms only (a
    /// slower answer is a timeout, or an unknown outcome for a change) and
    /// a circuit that does not open on the way.
    pub async fn spawn_with_impatient_upstream() -> Self {
        Self::spawn_with_upstream(json!({
            "timeouts": {"request": "300ms"},
            "circuit_breaker": {"failure_threshold": 100},
        }))
        .await
    }

    /// Starts the server on `database`, reached through `url` (a proxy
    /// the test controls, say).
    pub async fn spawn_through(url: &str, database: TestDatabase) -> Self {
        Self::start(url, Some(database)).await
    }

    /// Starts the server on a database the test prepared.
    pub async fn spawn_on(database: TestDatabase) -> Self {
        let url = database.url().to_owned();
        Self::start(&url, Some(database)).await
    }

    /// Starts the server against any database URL, reachable or not.
    pub async fn spawn_with_database_url(url: &str) -> Self {
        Self::start(url, None).await
    }

    async fn start(database_url: &str, database: Option<TestDatabase>) -> Self {
        Self::start_with(database_url, database, json!({})).await
    }

    async fn start_with(
        database_url: &str,
        database: Option<TestDatabase>,
        overrides: Value,
    ) -> Self {
        let emulator = Self::emulator();
        Self::start_server(database_url, database, overrides, emulator, None, true).await
    }

    fn emulator() -> RunningEmulator {
        let mut emulator_config = EmulatorConfig::default();
        // Short keep-alives: streams notice a vanished reader quickly.
        emulator_config.timing.heartbeat = std::time::Duration::from_millis(50);
        RunningEmulator::start(emulator_config, "127.0.0.1:0".parse().expect("an address"))
            .expect("the emulator starts")
    }

    /// Starts the server with an Azure AI Foundry project as its upstream
    /// (the emulator's), reached with Entra client credentials.
    pub async fn spawn_on_foundry() -> Self {
        let database = TestDatabase::create();
        let url = database.url().to_owned();
        let emulator = Self::emulator();
        let entra = EmulatorConfig::default().entra;
        let overrides = json!({"upstreams": {"default": {
            "flavour": "foundry",
            "endpoint": emulator.foundry_project_url(),
            "credential": {
                "kind": "entra_client_secret",
                "tenant_id": "contoso",
                "client_id": entra.client_id,
                "client_secret": entra.client_secret,
                "authority": emulator.base_url(),
            },
        }}});
        Self::start_server(&url, Some(database), overrides, emulator, None, true).await
    }

    /// A second replica of this server: the same database and upstream, and
    /// the same tokens, on a port of its own. Stopping it leaves this one,
    /// the upstream and the database running.
    pub async fn replica(&self) -> Self {
        self.replica_with(json!({})).await
    }

    /// [`Self::replica`] with settings overridden, as in [`Self::spawn_with`].
    pub async fn replica_with(&self, overrides: Value) -> Self {
        Self::start_server(
            &self.database_url,
            None,
            overrides,
            self.emulator.clone(),
            Some(self.issuer.clone()),
            false,
        )
        .await
    }

    async fn start_server(
        database_url: &str,
        database: Option<TestDatabase>,
        overrides: Value,
        emulator: RunningEmulator,
        issuer: Option<Arc<DevIssuer>>,
        owns_emulator: bool,
    ) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("an address");
        let mut default_upstream = json!({
            "flavour": "azure",
            "endpoint": emulator.base_url(),
            "credential": {"kind": "azure_api_key", "key": EmulatorConfig::default().api_key},
            "retry": {"max_attempts": 1},
        });
        // A credential of another kind replaces the default one whole
        // (merging would leave the key beside it).
        if overrides["upstreams"]["default"]["credential"]["kind"].is_string() {
            default_upstream["credential"] =
                overrides["upstreams"]["default"]["credential"].clone();
        }
        let settings = Settings::from_figment(
            Settings::figment(None)
                .merge(Serialized::default("server.listen", address))
                .merge(Serialized::default("server.workers", 2))
                .merge(Serialized::default("database.url", database_url))
                .merge(Serialized::default("database.acquire_timeout", "500ms"))
                .merge(Serialized::default("metrics.listen", "127.0.0.1:0"))
                .merge(Serialized::default("server.stream_heartbeat", "50ms"))
                .merge(Serialized::default("upstreams.default", default_upstream))
                .merge(Serialized::defaults(overrides)),
        )
        .expect("test settings are valid");
        let base = format!("http://{address}");
        // A replica trusts the first server's issuer, as its tenants do.
        let issuer = issuer.unwrap_or_else(|| {
            Arc::new(DevIssuer::generate(&format!("{base}/dev/oidc")).expect("a key"))
        });
        let application = Application::build_on(&settings, listener, Some(issuer.clone()))
            .expect("the server starts");
        let metrics_port = application.metrics_port();
        let handle = application.handle();
        let shutdown = application.shutdown();
        let server = actix_web::rt::spawn(application.run_until_stopped());
        Self {
            address: base,
            client: reqwest::Client::new(),
            admin: admin_for(&settings).expect("an admin handle"),
            metrics_address: metrics_port.map(|port| format!("http://127.0.0.1:{port}")),
            emulator,
            owns_emulator,
            database_url: database_url.to_owned(),
            issuer,
            handle,
            shutdown,
            server,
            database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// Creates a tenant whose users sign in with the development issuer.
    pub async fn tenant(&self, slug: &str) {
        self.admin
            .create_tenant(slug, None, "default")
            .await
            .expect("the tenant is created");
        self.admin
            .add_issuer(
                slug,
                IssuerSpec {
                    issuer: self.issuer.issuer(slug),
                    audiences: vec![dev_issuer::AUDIENCE.to_owned()],
                    jwks_uri: Some(self.issuer.jwks_uri(slug)),
                    algorithms: vec!["RS256".to_owned()],
                    subject_claim: "sub".to_owned(),
                    admin_claim: Some("roles=threadgate.admin".to_owned()),
                },
            )
            .await
            .expect("the issuer is registered");
    }

    /// A token of `user` in `tenant`.
    pub fn token(&self, tenant: &str, user: &str) -> String {
        self.issuer
            .mint(tenant, user, false, 3600)
            .expect("a token")
    }

    pub fn admin_token(&self, tenant: &str, user: &str) -> String {
        self.issuer.mint(tenant, user, true, 3600).expect("a token")
    }

    /// An assistant of `tenant` with the code interpreter, file search and
    /// the `get_weather` function.
    pub async fn assistant(&self, tenant: &str) -> String {
        let assistant = self
            .admin
            .create_assistant(
                tenant,
                json!({
                    "model": "gpt-4o",
                    "name": format!("{tenant} assistant"),
                    "tools": [{"type": "code_interpreter"}, {"type": "file_search"},
                              {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}],
                }),
            )
            .await
            .expect("the assistant is created");
        assistant["id"].as_str().expect("an id").to_owned()
    }

    /// Sends `method path` with `token` and an optional JSON body.
    pub async fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_with_headers(token, method, path, body, &[]).await
    }

    /// [`Self::call`] with extra request headers.
    pub async fn call_with_headers(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::of(request).await
    }

    /// Calls `probe` until it answers `Some`, at most [`POLL_ATTEMPTS`]
    /// times [`POLL_INTERVAL`] apart; waiting longer fails the test, naming
    /// `what` was awaited, instead of hanging it.
    pub async fn poll<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        for _ in 0..POLL_ATTEMPTS {
            if let Some(found) = probe().await {
                return found;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        panic!("gave up waiting for {what} after {POLL_ATTEMPTS} attempts");
    }

    /// Sends a JSON `POST` and answers its status and whole body as text:
    /// an event stream is read to its end.
    pub async fn post_stream(&self, token: &str, path: &str, body: &Value) -> (u16, String) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("the request reaches the server");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a stream"))
    }

    /// Polls a run until it reaches a final status; answers the run.
    pub async fn finished_run(&self, token: &str, thread: &str, run: &str) -> Value {
        let path = format!("/v1/threads/{thread}/runs/{run}");
        self.poll(&format!("run {run} to finish"), || async {
            let current = self.call(token, "GET", &path, None).await;
            assert_eq!(current.status, 200, "{:?}", current.body);
            let status = current.body["status"].as_str().unwrap_or_default();
            matches!(
                status,
                "completed" | "failed" | "cancelled" | "expired" | "incomplete" | "requires_action"
            )
            .then_some(current.body)
        })
        .await
    }

    /// Uploads `bytes` as `name` with `purpose`; `headers` e.g.
    /// `[("Threadgate-Owner", "tenant")]`. Answers the upload's answer.
    pub async fn upload(
        &self,
        token: &str,
        purpose: &str,
        name: &str,
        bytes: &[u8],
        headers: &[(&str, &str)],
    ) -> Answer {
        let form = reqwest::multipart::Form::new()
            .text("purpose", purpose.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
            );
        let mut request = self
            .client
            .post(self.url("/v1/files"))
            .bearer_auth(token)
            .multipart(form);
        for (header, value) in headers {
            request = request.header(*header, *value);
        }
        Answer::of(request).await
    }

    /// Injects a fault into the emulator for the next matching requests.
    pub async fn upstream_fault(&self, rule: Value) {
        let response = self
            .client
            .post(format!("{}/_emulator/faults", self.emulator.base_url()))
            .json(&rule)
            .send()
            .await
            .expect("the emulator answers");
        assert!(response.status().is_success(), "{rule}");
    }

    /// Requests the emulator has received so far.
    pub fn upstream_requests(&self) -> Vec<JournalEntry> {
        self.emulator.requests()
    }

    /// Stops the server gracefully and waits until it has finished,
    /// queued audit events included; hands back the database for checks.
    /// Stops the server as SIGTERM does (graceful, streams ended honestly),
    /// without waiting for it; [`Self::stop`] still cleans up after.
    pub fn begin_shutdown(&self) {
        actix_web::rt::spawn(self.shutdown.clone().begin());
    }

    pub async fn stop(self) -> Option<TestDatabase> {
        self.handle.stop(true).await;
        self.server
            .await
            .expect("the server task ends")
            .expect("the server stops cleanly");
        if self.owns_emulator {
            self.emulator.stop().await;
        }
        self.database
    }
}
