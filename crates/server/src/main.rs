//! `threadgate`: the service binary.
//!
//! * `serve`: the API, configured by a TOML file and `THREADGATE_*` variables.
//! * `migrate`: brings the database schema up to date (a release step, run
//!   once per deployment, not by every replica).
//! * `openapi`: prints the OpenAPI document of the API.
//! * `dev`: everything on embedded defaults for a local try-out, with a
//!   throwaway PostgreSQL when no database is configured.

// A command-line program talks to its terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use emulator::{EmulatorConfig, RunningEmulator};
use figment::providers::Serialized;
use threadgate_server::Application;
use threadgate_server::config::Settings;
use threadgate_server::migrate;
use threadgate_server::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "threadgate",
    version,
    about = "Per-user authorization in front of the OpenAI Assistants API"
)]
struct Cli {
    /// TOML configuration file; `THREADGATE_*` variables override it.
    #[arg(long, short, global = true, env = "THREADGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API until SIGTERM or SIGINT.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Run locally on embedded defaults, with a throwaway PostgreSQL unless
    /// THREADGATE_DATABASE__URL is set.
    Dev {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Openapi => print_openapi(),
        Command::Migrate => run_migrate(cli.config.as_deref()),
        Command::Serve => run_serve(cli.config.as_deref()),
        Command::Dev { listen } => run_dev(cli.config.as_deref(), listen),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_openapi() -> anyhow::Result<()> {
    let document = api::openapi()
        .to_pretty_json()
        .context("serializing the OpenAPI document")?;
    println!("{document}");
    Ok(())
}

fn run_migrate(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    telemetry::init(&settings.log)?;
    migrate(&settings)
}

fn run_serve(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    telemetry::init(&settings.log)?;
    serve(&settings, |port| tracing::info!(port, "serving"))
}

fn run_dev(config: Option<&Path>, listen: SocketAddr) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async {
        let mut figment =
            Settings::figment(config).merge(Serialized::default("server.listen", listen));
        // Both live as long as we serve, and go when we exit.
        let mut _cluster = None;
        let mut emulator = None;
        if !figment.contains("database.url") {
            let cluster =
                devdb::EphemeralCluster::start().context("starting a throwaway PostgreSQL")?;
            figment = figment.merge(Serialized::default("database.url", cluster.url()));
            _cluster = Some(cluster);
        }
        if !figment.contains("upstreams") {
            let config = EmulatorConfig::default();
            let running = RunningEmulator::start(config.clone(), "127.0.0.1:0".parse()?)
                .context("starting the upstream emulator")?;
            figment = figment.merge(Serialized::default(
                "upstreams.default",
                serde_json::json!({
                    "flavour": "azure",
                    "endpoint": running.base_url(),
                    "credential": {"kind": "azure_api_key", "key": config.api_key},
                }),
            ));
            emulator = Some(running);
        }
        let settings = Settings::from_figment(figment)?;
        telemetry::init(&settings.log)?;
        migrate(&settings)?;
        if let Some(emulator) = &emulator {
            tracing::info!(upstream = %emulator.base_url(), "the upstream is the in-process emulator");
        }
        let application = Application::build(&settings)?;
        // On stdout, one line, so scripts (and tests) can wait for it.
        println!(
            "Threadgate (dev) is ready at http://{}:{}",
            listen.ip(),
            application.port()
        );
        application.run_until_stopped().await?;
        if let Some(emulator) = emulator {
            emulator.stop().await;
        }
        Ok(())
    })
}

fn serve(settings: &Settings, on_listening: impl FnOnce(u16)) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async {
        let application = Application::build(settings)?;
        on_listening(application.port());
        application.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(())
    })
}
