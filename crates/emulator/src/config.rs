//! What an emulator is told at start.

use std::time::Duration;

/// Emulator settings; [`Default`] suits tests.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The key accepted as `api-key` (Azure) and as the bearer token (OpenAI).
    pub api_key: String,
    pub entra: EntraSettings,
    /// `api-version` values the Azure shape accepts.
    pub api_versions: Vec<String>,
    pub timing: Timing,
    /// The one Azure AI Foundry project it serves, at `/api/projects/{name}`.
    pub foundry_project: String,
}

/// The Entra-like client-credentials endpoint.
#[derive(Debug, Clone)]
pub struct EntraSettings {
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of the access tokens it issues (`expires_in`).
    pub token_lifetime: Duration,
}

/// How fast runs move.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Pause between two steps of a run (queued → in progress → each delta → completed).
    pub step: Duration,
    /// How long a `#slow` run stays in progress.
    pub slow: Duration,
    /// A quiet stream gets a keep-alive comment this often.
    pub heartbeat: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            api_key: "emulator-key".to_owned(),
            entra: EntraSettings {
                client_id: "emulator-client".to_owned(),
                client_secret: "emulator-secret".to_owned(),
                token_lifetime: Duration::from_secs(3600),
            },
            api_versions: SUPPORTED_API_VERSIONS
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
            timing: Timing {
                step: Duration::from_millis(20),
                slow: Duration::from_secs(5),
                heartbeat: Duration::from_secs(15),
            },
            foundry_project: "threadgate".to_owned(),
        }
    }
}

/// Azure OpenAI api-versions that carry the Assistants v2 API.
pub const SUPPORTED_API_VERSIONS: &[&str] = &[
    "2024-05-01-preview",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
];
