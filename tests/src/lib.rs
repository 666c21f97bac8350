//! Test support for the end-to-end tests: [`TestApp`] starts the real
//! `threadgate` server on a loopback port with a database of its own.

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
    _database: TestDatabase,
}

impl TestApp {
    /// Starts the server on port 0 with a fresh, migrated database.
    pub async fn spawn() -> Self {
        let database = TestDatabase::create();
        let settings = Settings::from_figment(
            Settings::figment(None)
                .merge(Serialized::default("server.listen", "127.0.0.1:0"))
                .merge(Serialized::default("server.workers", 1))
                .merge(Serialized::default("database.url", database.url())),
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
