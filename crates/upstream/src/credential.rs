//! Credentials for the upstream: static keys, and Microsoft Entra ID access
//! tokens (client secret, or workload identity's federated assertion) that
//! are cached, refreshed before they expire, one refresh at a time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope, TokenResponse, TokenUrl,
};
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, RwLock};

use crate::config::CredentialConfig;
use crate::error::UpstreamError;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const FEDERATED_TOKEN_FILE_VARIABLE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// Refresh this long before expiry (or at half the lifetime of short tokens).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

#[derive(Debug)]
pub(crate) enum Credential {
    AzureKey(SecretString),
    OpenAiKey(SecretString),
    Entra(Box<EntraTokens>),
}

impl Credential {
    /// The credential `config` describes; an Entra credential that names no
    /// scope asks for `default_scope` (the upstream kind's).
    pub fn from_config(
        config: &CredentialConfig,
        default_scope: &str,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let scope_or_default =
            |scope: &Option<String>| scope.clone().unwrap_or_else(|| default_scope.to_owned());
        Ok(match config {
            CredentialConfig::AzureApiKey { key } => Credential::AzureKey(key.clone()),
            CredentialConfig::OpenAiKey { key } => Credential::OpenAiKey(key.clone()),
            CredentialConfig::EntraClientSecret {
                tenant_id,
                client_id,
                client_secret,
                authority,
                scope,
            } => Credential::Entra(Box::new(EntraTokens::new(
                &CredentialConfig::token_url(authority.as_ref(), tenant_id),
                client_id,
                Assertion::Secret(client_secret.clone()),
                scope_or_default(scope),
                http,
            )?)),
            CredentialConfig::EntraWorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
                authority,
                scope,
            } => {
                let file = match token_file {
                    Some(file) => file.clone(),
                    None => std::env::var_os(FEDERATED_TOKEN_FILE_VARIABLE)
                        .map(PathBuf::from)
                        .ok_or(
                            "workload identity needs `token_file` or AZURE_FEDERATED_TOKEN_FILE",
                        )?,
                };
                Credential::Entra(Box::new(EntraTokens::new(
                    &CredentialConfig::token_url(authority.as_ref(), tenant_id),
                    client_id,
                    Assertion::FederatedTokenFile(file),
                    scope_or_default(scope),
                    http,
                )?))
            }
        })
    }

    /// Adds the credential's header to a request.
    pub async fn apply(&self, request: RequestBuilder) -> Result<RequestBuilder, UpstreamError> {
        Ok(match self {
            Credential::AzureKey(key) => request.header("api-key", key.expose_secret()),
            Credential::OpenAiKey(key) => request.bearer_auth(key.expose_secret()),
            Credential::Entra(tokens) => request.bearer_auth(tokens.token().await?.expose_secret()),
        })
    }
}

/// How the client proves itself to Entra.
#[derive(Debug)]
enum Assertion {
    Secret(SecretString),
    /// Workload identity: a token file that the platform rotates; read anew
    /// for every token request, so a rotated assertion is always used.
    FederatedTokenFile(PathBuf),
}

#[derive(Debug)]
struct CachedToken {
    token: SecretString,
    refresh_at: Instant,
    expires_at: Instant,
}

pub(crate) struct EntraTokens {
    client: TokenClient,
    http: reqwest::Client,
    scope: String,
    assertion: Assertion,
    cached: RwLock<Option<CachedToken>>,
    /// Held while fetching: concurrent callers wait for the one refresh.
    refreshing: Mutex<()>,
}

impl std::fmt::Debug for EntraTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraTokens")
            .field("scope", &self.scope)
            .field("assertion", &self.assertion)
            .finish_non_exhaustive()
    }
}

impl EntraTokens {
    fn new(
        token_url: &str,
        client_id: &str,
        assertion: Assertion,
        scope: String,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let token_url =
            TokenUrl::new(token_url.to_owned()).map_err(|e| format!("token URL: {e}"))?;
        let mut client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        if let Assertion::Secret(secret) = &assertion {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        Ok(Self {
            client,
            http,
            scope,
            assertion,
            cached: RwLock::new(None),
            refreshing: Mutex::new(()),
        })
    }

    /// A valid access token, fetching a new one when the cached one is near
    /// its expiry. Only one fetch runs at a time; the others wait for it.
    pub async fn token(&self) -> Result<SecretString, UpstreamError> {
        if let Some(token) = self.fresh().await {
            return Ok(token);
        }
        let _refreshing = self.refreshing.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(token) = self.fresh().await {
            return Ok(token);
        }
        match self.fetch().await {
            Ok(token) => {
                let secret = token.token.clone();
                *self.cached.write().await = Some(token);
                Ok(secret)
            }
            Err(error) => {
                // Keep serving a token that is still valid while Entra is unwell.
                let cached = self.cached.read().await;
                match cached.as_ref().filter(|t| t.expires_at > Instant::now()) {
                    Some(token) => {
                        tracing::warn!(%error, "token refresh failed; using the current token until it expires");
                        Ok(token.token.clone())
                    }
                    None => Err(error),
                }
            }
        }
    }

    async fn fresh(&self) -> Option<SecretString> {
        let cached = self.cached.read().await;
        cached
            .as_ref()
            .filter(|token| token.refresh_at > Instant::now())
            .map(|token| token.token.clone())
    }

    #[tracing::instrument(name = "entra.token", skip(self))]
    async fn fetch(&self) -> Result<CachedToken, UpstreamError> {
        let mut request = self
            .client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()));
        if let Assertion::FederatedTokenFile(path) = &self.assertion {
            let assertion = tokio::fs::read_to_string(path).await.map_err(|error| {
                UpstreamError::Credential(format!(
                    "reading the federated token file {}: {error}",
                    path.display()
                ))
            })?;
            request = request
                .add_extra_param("client_assertion_type", ASSERTION_TYPE)
                .add_extra_param("client_assertion", assertion.trim().to_owned());
        }
        let started = Instant::now();
        let response = request.request_async(&self.http).await.map_err(|error| {
            let detail = match &error {
                oauth2::RequestTokenError::ServerResponse(response) => format!(
                    "{} {}",
                    response.error(),
                    response
                        .error_description()
                        .map(String::as_str)
                        .unwrap_or_default()
                ),
                other => other.to_string(),
            };
            UpstreamError::Credential(format!("token request refused: {detail}"))
        })?;
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3600));
        Ok(CachedToken {
            token: SecretString::from(response.access_token().secret().to_owned()),
            refresh_at: started + refresh_after(lifetime),
            expires_at: started + lifetime,
        })
    }
}

/// When to fetch a new token: [`REFRESH_MARGIN`] before expiry, or halfway
/// through the lifetime of tokens that live shorter than twice the margin.
fn refresh_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }
}
