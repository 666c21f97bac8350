//! Test support for the end-to-end tests: [`TestApp`] starts the real
//! `threadgate` server on a loopback port with a database of its own;
//! [`python`] prepares the official `openai` SDK for tests that drive the
//! service (or the emulator) with it.

pub mod python;

use actix_web::dev::ServerHandle;
use devdb::TestDatabase;
use figment::providers::Serialized;
use threadgate_server::Application;
use threadgate_server::config::Settings;

/// A running Threadgate with its own database. Stopped and dropped with the value.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    handle: ServerHandle,
    // Declared last so it is dropped after the server stops.
    _database: Option<TestDatabase>,
}

impl TestApp {
    /// Starts the server on port 0 with a fresh, migrated database.
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDatabase::create()).await
    }

    /// Starts the server on a database the test prepared.
    pub async fn spawn_on(database: TestDatabase) -> Self {
        let url = database.url().to_owned();
        Self::start(&url, Some(database))
    }

    /// Starts the server against any database URL, reachable or not.
    pub async fn spawn_with_database_url(url: &str) -> Self {
        Self::start(url, None)
    }

    fn start(database_url: &str, database: Option<TestDatabase>) -> Self {
        let settings = Settings::from_figment(
            Settings::figment(None)
                .merge(Serialized::default("server.listen", "127.0.0.1:0"))
                .merge(Serialized::default("server.workers", 1))
                .merge(Serialized::default("database.url", database_url))
                .merge(Serialized::default("database.acquire_timeout", "500ms")),
        )
        .expect("test settings are valid");
        let application = Application::build(&settings).expect("the server starts");
        let address = format!("http://127.0.0.1:{}", application.port());
        let handle = application.handle();
        actix_web::rt::spawn(application.run_until_stopped());
        Self {
            address,
            client: reqwest::Client::new(),
            handle,
            _database: database,
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

    /// Stops the server gracefully.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
