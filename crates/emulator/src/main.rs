//! `threadgate-emulator`: the Assistants API emulator as a standalone server.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use emulator::{EmulatorConfig, EntraSettings, RunningEmulator, Timing};

#[derive(Debug, Parser)]
#[command(
    name = "threadgate-emulator",
    version,
    about = "An emulator of the Assistants API (Azure OpenAI and OpenAI shapes)"
)]
struct Cli {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Key accepted as `api-key` (Azure) and as the bearer key (OpenAI).
    #[arg(long, env = "EMULATOR_API_KEY", default_value = "emulator-key")]
    api_key: String,
    /// Client id accepted by the Entra-like token endpoint.
    #[arg(long, default_value = "emulator-client")]
    client_id: String,
    /// Client secret accepted by the Entra-like token endpoint.
    #[arg(
        long,
        env = "EMULATOR_CLIENT_SECRET",
        default_value = "emulator-secret"
    )]
    client_secret: String,
    /// Lifetime of issued tokens, e.g. `1h`, `30s`.
    #[arg(long, default_value = "1h", value_parser = humantime_parse)]
    token_lifetime: Duration,
    /// Pause between two steps of a run.
    #[arg(long, default_value = "20ms", value_parser = humantime_parse)]
    run_step: Duration,
    /// How long a `#slow` run stays in progress.
    #[arg(long, default_value = "5s", value_parser = humantime_parse)]
    slow: Duration,
}

fn humantime_parse(raw: &str) -> Result<Duration, String> {
    #[derive(serde::Deserialize)]
    struct Wrapper(#[serde(with = "humantime_serde")] Duration);
    serde_json::from_value::<Wrapper>(serde_json::Value::String(raw.to_owned()))
        .map(|Wrapper(duration)| duration)
        .map_err(|error| error.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = EmulatorConfig {
        api_key: cli.api_key,
        entra: EntraSettings {
            client_id: cli.client_id,
            client_secret: cli.client_secret,
            token_lifetime: cli.token_lifetime,
        },
        timing: Timing {
            step: cli.run_step,
            slow: cli.slow,
            heartbeat: Duration::from_secs(15),
        },
        ..EmulatorConfig::default()
    };
    let emulator = RunningEmulator::start(config, cli.listen)?;
    tracing::info!(address = %emulator.address(), "threadgate-emulator serving: Azure shape under /openai, OpenAI shape under /v1");
    tokio::signal::ctrl_c().await?;
    emulator.stop().await;
    Ok(())
}
