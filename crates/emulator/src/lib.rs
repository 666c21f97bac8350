//! An emulator of the Assistants API upstream, written from the published
//! specifications (Azure OpenAI `2025-04-01-preview` and OpenAI's own), for
//! tests and for `threadgate dev`.
//!
//! It serves the Azure shape under `/openai/...` (with `api-version`, the
//! `api-key` header or an Entra bearer token issued by its own token
//! endpoint) and the OpenAI shape under `/v1/...` (bearer key,
//! `OpenAI-Beta: assistants=v2`). State lives in memory. Runs follow a small
//! deterministic model steered by the last user message; see the crate's
//! README for the rules other tests rely on.
//!
//! The emulator shares no wire types with the client crate on purpose: it
//! builds and checks JSON from its own reading of the specs.

mod admin;
mod config;
mod entra;
mod error;
mod faults;
mod gate;
mod ids;
mod items;
mod list;
mod model;
mod objects;
mod routes;
mod state;
mod stream;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, middleware, web};

pub use config::{EmulatorConfig, EntraSettings, Timing};
pub use state::{Inventory, JournalEntry};

use state::State;

/// A running emulator. Dropping it does not stop it; call [`RunningEmulator::stop`].
#[derive(Clone)]
pub struct RunningEmulator {
    address: SocketAddr,
    handle: ServerHandle,
    state: Arc<State>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// Binds `listen` (port 0 picks a free port) and serves on the current
    /// tokio runtime until stopped.
    pub fn start(config: EmulatorConfig, listen: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        Self::start_on(config, listener)
    }

    pub fn start_on(config: EmulatorConfig, listener: TcpListener) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let state = Arc::new(State::new(config));
        let app_state = web::Data::from(state.clone());
        let project = state.config.foundry_project.clone();
        let server = HttpServer::new(move || {
            let project = project.clone();
            App::new()
                .app_data(app_state.clone())
                .configure(move |config| configure(config, &project))
                .wrap(middleware::from_fn(state::record_request))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            address,
            handle,
            state,
        })
    }

    /// `http://127.0.0.1:PORT`: the Azure endpoint (`/openai/...` below it),
    /// and the Entra authority (`/{tenant}/oauth2/v2.0/token` below it).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The Foundry project's endpoint, `http://127.0.0.1:PORT/api/projects/{project}`.
    pub fn foundry_project_url(&self) -> String {
        format!(
            "{}/api/projects/{}",
            self.base_url(),
            self.state.config.foundry_project
        )
    }

    /// The OpenAI-flavour base URL, `http://127.0.0.1:PORT/v1`.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Streamed answers still open: a client that stops reading closes its own.
    pub fn open_streams(&self) -> usize {
        self.state
            .open_streams
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every API request received so far (not admin or token requests).
    pub fn requests(&self) -> Vec<JournalEntry> {
        self.state.journal()
    }

    /// Every object held, by kind (also `GET /_emulator/objects`).
    pub fn inventory(&self) -> Inventory {
        self.state.store().inventory()
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Registers every route: the API flavours (OpenAI, Azure's v1 and classic
/// paths, the Foundry project `project`), the token endpoint and the admin
/// routes under `/_emulator`.
fn configure(config: &mut web::ServiceConfig, project: &str) {
    config
        .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
        .service(admin::scope())
        // An Azure AI Foundry project: its v1 API, then its Agent Service.
        .service(
            web::scope(&format!("/api/projects/{project}/openai/v1"))
                .app_data(web::Data::new(gate::Flavour::OpenAi))
                .configure(routes::configure)
                .wrap(middleware::from_fn(faults::inject))
                .wrap(middleware::from_fn(gate::foundry)),
        )
        .service(
            web::scope(&format!("/api/projects/{project}"))
                .app_data(web::Data::new(gate::Flavour::OpenAi))
                .configure(routes::configure)
                .wrap(middleware::from_fn(faults::inject))
                .wrap(middleware::from_fn(gate::foundry)),
        )
        // Azure's v1 API before its classic data plane: first match wins.
        .service(
            web::scope("/openai/v1")
                .app_data(web::Data::new(gate::Flavour::OpenAi))
                .configure(routes::configure)
                .wrap(middleware::from_fn(faults::inject))
                .wrap(middleware::from_fn(gate::azure_v1)),
        )
        .service(
            web::scope("/openai")
                .app_data(web::Data::new(gate::Flavour::Azure))
                .configure(routes::configure)
                .wrap(middleware::from_fn(faults::inject))
                .wrap(middleware::from_fn(gate::azure)),
        )
        .service(
            web::scope("/v1")
                .app_data(web::Data::new(gate::Flavour::OpenAi))
                .configure(routes::configure)
                .wrap(middleware::from_fn(faults::inject))
                .wrap(middleware::from_fn(gate::openai)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            web::post().to(entra::issue_token),
        )
        .default_service(web::to(error::unknown_route));
}
