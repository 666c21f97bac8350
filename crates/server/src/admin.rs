//! Tenant administration, until an admin API exists: tenants, issuers, API
//! keys and assistants, for the CLI and for `threadgate dev`. Bad input is
//! refused with a message that says what is wrong and how to put it right.

// The operator's own commands, run with the database's and the upstream's
// credentials; no end-user request reaches them.
#![allow(clippy::disallowed_methods)]

use anyhow::{Context, anyhow, bail};
use domain::{Owner, ResourceKind, Role, UpstreamId};
use serde_json::Value;
use storage::Database;
use storage::StorageError;
use storage::repo::api_keys::{self, NewApiKey};
use storage::repo::identity_providers::{self, IdentityProvider, NewIdentityProvider};
use storage::repo::resources::{self, NewResource};
use storage::repo::tenants::{self, NewTenant, Tenant};
use upstream::{Operation, UpstreamRequest, Upstreams};

#[derive(Debug, Clone)]
pub struct Admin {
    pub database: Database,
    pub upstreams: Upstreams,
}

/// An issuer to register.
#[derive(Debug, Clone)]
pub struct IssuerSpec {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    pub algorithms: Vec<String>,
    pub subject_claim: String,
    /// `claim=value`, e.g. `roles=threadgate.admin`.
    pub admin_claim: Option<String>,
}

/// A new API key: the key itself is in `key`, shown once.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: String,
    pub prefix: String,
}

fn valid_slug(slug: &str) -> bool {
    let mut chars = slug.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Admin {
    pub async fn create_tenant(
        &self,
        slug: &str,
        name: Option<&str>,
        profile: &str,
    ) -> anyhow::Result<Tenant> {
        if !valid_slug(slug) {
            bail!(
                "tenant slug `{slug}`: use 1 to 63 lowercase letters, digits and `-`, starting with a letter or digit"
            );
        }
        self.upstreams
            .get(profile)
            .map_err(|_| anyhow!("upstream profile `{profile}` is not configured (see `upstreams` in the configuration)"))?;
        let (slug, name, profile) = (
            slug.to_owned(),
            name.unwrap_or(slug).to_owned(),
            profile.to_owned(),
        );
        self.database
            .run("admin.tenant", move |conn| {
                tenants::create(
                    conn,
                    &NewTenant {
                        slug: &slug,
                        display_name: &name,
                        upstream_profile: &profile,
                    },
                )
            })
            .await
            .map_err(|error| match error {
                StorageError::Conflict { .. } => anyhow!("a tenant with this slug exists already"),
                other => anyhow!(other),
            })
    }

    pub async fn tenant(&self, slug: &str) -> anyhow::Result<Tenant> {
        let slug = slug.to_owned();
        let wanted = slug.clone();
        self.database
            .run("admin.tenant", move |conn| {
                tenants::find_by_slug(conn, &slug)
            })
            .await
            .map_err(|error| match error {
                StorageError::NotFound => anyhow!(
                    "no tenant `{wanted}` (create it with `threadgate tenant create {wanted}`)"
                ),
                other => anyhow!(other),
            })
    }

    pub async fn add_issuer(
        &self,
        tenant: &str,
        spec: IssuerSpec,
    ) -> anyhow::Result<IdentityProvider> {
        let tenant = self.tenant(tenant).await?;
        // The same checks as a tenant admin's POST /v1/organization/issuers.
        let checked = api::issuers::check(&api::issuers::IssuerSpec {
            issuer: spec.issuer,
            audiences: spec.audiences,
            jwks_uri: spec.jwks_uri,
            algorithms: spec.algorithms,
            subject_claim: spec.subject_claim,
            admin_claim: spec.admin_claim,
        })
        .map_err(|problem| {
            let flag = match problem.field {
                "audiences" => "--audience",
                "algorithms" => "--algorithm",
                "admin_claim" => "--admin-claim",
                "jwks_uri" => "--jwks-uri",
                "subject_claim" => "--subject-claim",
                _ => "--issuer",
            };
            anyhow!("{flag}: {}", problem.message)
        })?;
        self.database
            .run("admin.issuer", move |conn| {
                identity_providers::add(
                    conn,
                    &NewIdentityProvider {
                        tenant_id: tenant.id,
                        issuer: &checked.issuer,
                        audiences: &checked.audiences,
                        jwks_uri: checked.jwks_uri.as_deref(),
                        algorithms: &checked.algorithms,
                        subject_claim: &checked.subject_claim,
                        admin_claim: checked
                            .admin_claim
                            .as_ref()
                            .map(|(c, v)| (c.as_str(), v.as_str())),
                    },
                )
            })
            .await
            .map_err(|error| match error {
                StorageError::Conflict { .. } => {
                    anyhow!("this issuer is registered already (an issuer belongs to one tenant)")
                }
                other => anyhow!(other),
            })
    }

    pub async fn create_api_key(
        &self,
        tenant: &str,
        name: &str,
        admin: bool,
        on_behalf: bool,
    ) -> anyhow::Result<CreatedKey> {
        let tenant = self.tenant(tenant).await?;
        let secret = api::auth::generate_api_key();
        let name = name.to_owned();
        let hash = secret.secret_sha256;
        let prefix = secret.prefix.clone();
        self.database
            .run("admin.api_key", move |conn| {
                api_keys::create(
                    conn,
                    &NewApiKey {
                        tenant_id: tenant.id,
                        name: &name,
                        prefix: &prefix,
                        secret_sha256: &hash,
                        role: if admin { Role::Admin } else { Role::Member },
                        can_act_on_behalf: on_behalf,
                        expires_at: None,
                    },
                )
            })
            .await?;
        Ok(CreatedKey {
            key: secret.key,
            prefix: secret.prefix,
        })
    }

    pub async fn revoke_api_key(&self, tenant: &str, prefix: &str) -> anyhow::Result<()> {
        let tenant = self.tenant(tenant).await?;
        let prefix = prefix
            .trim_start_matches("tg_")
            .split('_')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.database
            .run("admin.revoke", move |conn| {
                api_keys::revoke(conn, tenant.id, &prefix)
            })
            .await
            .map_err(|error| match error {
                StorageError::NotFound => anyhow!("the tenant has no API key with this prefix"),
                other => anyhow!(other),
            })
    }

    /// Records an assistant that exists upstream as the tenant's.
    pub async fn register_assistant(
        &self,
        tenant: &str,
        assistant_id: &str,
    ) -> anyhow::Result<Value> {
        let tenant = self.tenant(tenant).await?;
        let id = UpstreamId::parse(assistant_id)
            .map_err(|e| anyhow!("assistant id `{assistant_id}`: {e}"))?;
        let client = self.upstreams.get(&tenant.upstream_profile)?;
        let assistant: Value = client
            .call(UpstreamRequest::new(Operation::GetAssistant, &[&id]))
            .await
            .with_context(|| format!("the upstream has no assistant `{assistant_id}`"))?;
        self.record_assistant(&tenant, &id).await?;
        Ok(assistant)
    }

    /// Creates an assistant upstream (the body as the Assistants API takes
    /// it) and records it as the tenant's.
    pub async fn create_assistant(&self, tenant: &str, body: Value) -> anyhow::Result<Value> {
        let tenant = self.tenant(tenant).await?;
        let client = self.upstreams.get(&tenant.upstream_profile)?;
        let assistant: Value = client
            .call(UpstreamRequest::new(Operation::CreateAssistant, &[]).json(body))
            .await
            .context("the upstream refused the assistant")?;
        let id = UpstreamId::parse(assistant["id"].as_str().unwrap_or_default())?;
        self.record_assistant(&tenant, &id).await?;
        Ok(assistant)
    }

    async fn record_assistant(&self, tenant: &Tenant, id: &UpstreamId) -> anyhow::Result<()> {
        let (tenant_id, profile, id) = (tenant.id, tenant.upstream_profile.clone(), id.clone());
        let shown = id.to_string();
        let recorded = self
            .database
            .run("admin.assistant", move |conn| {
                resources::record_existing(
                    conn,
                    &NewResource {
                        tenant_id,
                        kind: ResourceKind::Assistant,
                        upstream_profile: &profile,
                        owner: Owner::Tenant,
                        parent_id: None,
                        request_id: None,
                        attributes: serde_json::json!({}),
                    },
                    &id,
                )
            })
            .await?;
        match recorded {
            Some(_) => Ok(()),
            None => Err(anyhow!(
                "`{shown}` is known to Threadgate already, in another tenant or as another kind; an upstream object belongs to one tenant"
            )),
        }
    }
}
