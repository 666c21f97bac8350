//! Upstream profiles: where an upstream is, how to authenticate to it, and how
//! patient to be with it. Tenants are routed to profiles by name.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// The default Azure OpenAI `api-version`.
pub const DEFAULT_AZURE_API_VERSION: &str = "2025-04-01-preview";
/// The Entra scope for Azure OpenAI.
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// The Entra scope for Azure AI Foundry projects.
pub const FOUNDRY_SCOPE: &str = "https://ai.azure.com/.default";
/// The `api-version` of Foundry's Agent Service (classic, the Assistants
/// protocol) when the profile names none.
pub const DEFAULT_FOUNDRY_API_VERSION: &str = "2025-05-01";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// One named upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub flavour: Flavour,
    /// Azure: `https://{resource}.openai.azure.com`; OpenAI: the base URL
    /// below which `/v1` lives, e.g. `https://api.openai.com`; Foundry: the
    /// project endpoint, `https://{resource}.services.ai.azure.com/api/projects/{project}`.
    pub endpoint: url::Url,
    /// The Assistants protocol's `api-version` (Azure, Foundry); the
    /// flavour's default when absent.
    #[serde(default)]
    pub api_version: Option<String>,
    pub credential: CredentialConfig,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
}

/// Which API shape the upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// An Azure OpenAI resource (`https://{resource}.openai.azure.com`): the
    /// Assistants API at `{endpoint}/openai/{path}?api-version=…`, the
    /// Responses and Conversations APIs at `{endpoint}/openai/v1/{path}`;
    /// `model` names a deployment.
    Azure,
    /// OpenAI (`https://api.openai.com`): `{endpoint}/v1/{path}`, with
    /// `OpenAI-Beta: assistants=v2` for the Assistants API.
    OpenAi,
    /// An Azure AI Foundry project
    /// (`https://{resource}.services.ai.azure.com/api/projects/{project}`):
    /// the Responses and Conversations APIs at `{endpoint}/openai/v1/{path}`,
    /// and its Agent Service (classic), which speaks the Assistants
    /// protocol, at `{endpoint}/{path}?api-version=…`. Entra only (scope
    /// `https://ai.azure.com/.default`); every request names its end-user in
    /// `x-ms-user-isolation-key`.
    Foundry,
}

impl ProfileConfig {
    /// The `api-version` Assistants requests carry (Azure, Foundry).
    pub fn api_version(&self) -> &str {
        match (&self.api_version, self.flavour) {
            (Some(version), _) => version,
            (None, Flavour::Foundry) => DEFAULT_FOUNDRY_API_VERSION,
            (None, _) => DEFAULT_AZURE_API_VERSION,
        }
    }

    /// The Entra scope a token for this upstream is asked for.
    pub fn default_scope(&self) -> &'static str {
        match self.flavour {
            Flavour::Foundry => FOUNDRY_SCOPE,
            Flavour::Azure | Flavour::OpenAi => COGNITIVE_SERVICES_SCOPE,
        }
    }
}

/// How to prove who we are to the upstream. Secrets are [`SecretString`]s:
/// they print as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialConfig {
    /// Azure resource key, sent as `api-key`.
    AzureApiKey { key: SecretString },
    /// OpenAI key, sent as `Authorization: Bearer`.
    #[serde(rename = "openai_key")]
    OpenAiKey { key: SecretString },
    /// Microsoft Entra ID client credentials with a client secret.
    EntraClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret: SecretString,
        #[serde(default)]
        authority: Option<url::Url>,
        #[serde(default)]
        scope: Option<String>,
    },
    /// Entra workload identity (AKS): the client assertion is read from the
    /// file named by `token_file`, or by `AZURE_FEDERATED_TOKEN_FILE`.
    EntraWorkloadIdentity {
        tenant_id: String,
        client_id: String,
        #[serde(default)]
        token_file: Option<PathBuf>,
        #[serde(default)]
        authority: Option<url::Url>,
        #[serde(default)]
        scope: Option<String>,
    },
}

impl CredentialConfig {
    /// The token endpoint of an Entra credential:
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub(crate) fn token_url(authority: Option<&url::Url>, tenant_id: &str) -> String {
        let authority = authority.map_or(DEFAULT_AUTHORITY, url::Url::as_str);
        format!(
            "{}/{tenant_id}/oauth2/v2.0/token",
            authority.trim_end_matches('/')
        )
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Establishing the connection.
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// A whole non-streaming request, and the wait for a stream's headers.
    #[serde(with = "humantime_serde")]
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled each retry, with jitter.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// Largest backoff between two attempts.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Largest `Retry-After` honoured; a longer one ends the retries and is
    /// passed to the caller.
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failed calls (5xx, timeouts, transport) that open it.
    pub failure_threshold: u32,
    /// How long it stays open before one probe is let through.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(10),
        }
    }
}
