//! Typed configuration: embedded defaults, then an optional TOML file, then
//! `THREADGATE_*` environment variables (nested keys joined by `__`, e.g.
//! `THREADGATE_DATABASE__URL`). A missing or malformed setting stops start-up
//! with a message naming the setting. Secrets are [`SecretString`]s: their
//! `Debug` output is redacted, so a logged configuration never leaks them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use std::collections::BTreeMap;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use upstream::ProfileConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub metrics: MetricsSettings,
    pub limits: LimitSettings,
    /// Upstream profiles by name; tenants are routed to one by name
    /// (`default` unless the tenant says otherwise).
    #[serde(default)]
    pub upstreams: BTreeMap<String, ProfileConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the public API.
    pub listen: SocketAddr,
    /// HTTP worker threads; defaults to one per core.
    pub workers: Option<usize>,
    /// How long a stopping server waits for open requests (and streams) to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Largest JSON request body; larger ones answer 413.
    pub max_body_bytes: usize,
    /// Largest file upload; larger ones answer 413.
    pub max_upload_bytes: usize,
    /// A quiet stream gets a keep-alive comment this often, so clients that
    /// left are noticed (writing is how a server learns it) and proxies do
    /// not time it out: a client that leaves a quiet stream releases its
    /// upstream connection within this.
    #[serde(with = "humantime_serde")]
    pub stream_heartbeat: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `GET /metrics` (Prometheus text) is served: an address of its
    /// own, off the public port. Absent: no metrics endpoint.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// After fetching an issuer's keys, how long an unknown `kid` is refused
    /// without fetching again.
    #[serde(with = "humantime_serde")]
    pub jwks_refetch_cooldown: Duration,
    #[serde(with = "humantime_serde")]
    pub jwks_fetch_timeout: Duration,
    /// How long an authenticated caller is remembered (its credential not
    /// verified again, its principal not read again): the bound on how
    /// long another replica goes on admitting a revoked key, a disabled
    /// user or tenant, a removed issuer. `0s`: not remembered.
    #[serde(with = "humantime_serde")]
    pub caller_cache: Duration,
}

/// Quotas and rate limits: defaults for tenants whose policy does not set
/// them (absent: no limit), and where the counts live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub user_requests_per_minute: Option<u64>,
    pub tenant_requests_per_minute: Option<u64>,
    pub user_tokens_per_day: Option<u64>,
    pub tenant_tokens_per_day: Option<u64>,
    pub user_concurrent_streams: Option<u64>,
    /// Redis shared by every replica (`redis://host:6379`); absent: counts
    /// live in each process, right for one replica only. May hold a
    /// password, so it is a secret.
    pub redis_url: Option<SecretString>,
    /// How long a check waits for Redis before it counts as a failure.
    #[serde(with = "humantime_serde")]
    pub store_timeout: Duration,
    /// `open` (admit, count in a metric, log) or `closed` (refuse with
    /// 429) when Redis does not answer.
    pub on_store_failure: StoreFailure,
    /// An open stream's slot is freed after this even if its replica died
    /// holding it.
    #[serde(with = "humantime_serde")]
    pub stream_lease: Duration,
}

impl LimitSettings {
    /// The limits for tenants whose policy does not set them.
    pub fn defaults(&self) -> domain::Limits {
        domain::Limits {
            user_requests_per_minute: self.user_requests_per_minute,
            tenant_requests_per_minute: self.tenant_requests_per_minute,
            user_tokens_per_day: self.user_tokens_per_day,
            tenant_tokens_per_day: self.tenant_tokens_per_day,
            user_concurrent_streams: self.user_concurrent_streams,
        }
    }

    /// The defaults a policy could not set: out of each limit's range.
    fn problems(&self) -> Vec<String> {
        let defaults = self.defaults();
        domain::LimitName::ALL
            .into_iter()
            .filter_map(|name| {
                let value = defaults.get(name).filter(|value| !name.admits(*value))?;
                Some(format!(
                    "setting `limits.{}`: {value} is out of range; between 1 and {}, or leave it \
                 unset for no limit",
                    name.as_str(),
                    name.maximum()
                ))
            })
            .chain(
                [
                    (
                        "store_timeout",
                        self.store_timeout,
                        Duration::from_millis(1),
                    ),
                    ("stream_lease", self.stream_lease, Duration::from_secs(1)),
                ]
                .into_iter()
                .filter(|(_, value, least)| value < least)
                .map(|(name, _, least)| {
                    format!(
                        "setting `limits.{name}`: at least {least:?} (0 would turn the check off)"
                    )
                }),
            )
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreFailure {
    Open,
    Closed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL; may hold a password, so it is a secret.
    pub url: SecretString,
    /// Connections per replica.
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` for people, `json` (one object per line) for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `info,threadgate_api=debug`.
    /// `RUST_LOG`, when set, wins.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything that has a sensible default. The database URL has none outside
/// `threadgate dev`: a server must be told where its data lives.
fn defaults() -> serde_json::Value {
    serde_json::json!({
        "server": {
            "listen": "127.0.0.1:8080",
            "workers": null,
            "shutdown_timeout": "30s",
            "max_body_bytes": 4 * 1024 * 1024,
            "max_upload_bytes": 512 * 1024 * 1024,
            "stream_heartbeat": "1s",
        },
        "metrics": {
            "listen": "127.0.0.1:9464",
        },
        "auth": {
            "jwks_refetch_cooldown": "30s",
            "jwks_fetch_timeout": "5s",
            "caller_cache": "2s",
        },
        "limits": {
            "store_timeout": "100ms",
            "on_store_failure": "open",
            "stream_lease": "10m",
        },
        "database": {
            "max_connections": 10,
            "acquire_timeout": "5s",
            "statement_timeout": "10s",
        },
        "log": {
            "format": "text",
            "filter": "info",
        },
    })
}

/// A setting that is missing or malformed, by name.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Settings {
    /// Where `/metrics` is served, if anywhere.
    pub fn server_metrics_listen(&self) -> Option<SocketAddr> {
        self.metrics.listen
    }

    /// Loads defaults, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file))
    }

    /// The layered sources, for callers that add a layer of their own
    /// (`threadgate dev` supplies its database URL this way).
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(defaults()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // THREADGATE_CONFIG names the file; it is not a setting itself.
        figment.merge(Env::prefixed("THREADGATE_").ignore(&["CONFIG"]).split("__"))
    }

    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Self = figment.extract().map_err(|errors| ConfigError {
            problems: errors.into_iter().map(|error| describe(&error)).collect(),
        })?;
        let problems = settings.limits.problems();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError { problems })
        }
    }
}

/// "setting `database.url`: missing; set it in the config file or as
/// THREADGATE_DATABASE__URL". Values are never echoed: they may be secrets.
fn describe(error: &figment::Error) -> String {
    use figment::error::Kind;

    let setting = error.path.join(".");
    let (setting, problem) = match &error.kind {
        Kind::MissingField(field) => {
            let full = if setting.is_empty() {
                field.to_string()
            } else {
                format!("{setting}.{field}")
            };
            (full, "missing".to_owned())
        }
        // The path of an unknown field already ends with the field.
        Kind::UnknownField(..) => (setting, "not a known setting".to_owned()),
        Kind::InvalidType(_, expected) => (setting, format!("expected {expected}")),
        Kind::InvalidValue(_, expected) => (setting, format!("expected {expected}")),
        Kind::UnknownVariant(_, expected) => {
            (setting, format!("expected one of: {}", expected.join(", ")))
        }
        Kind::Message(message) => (setting, message.clone()),
        other => (setting, other.to_string()),
    };
    let source = match error.metadata.as_ref() {
        Some(metadata) => match &metadata.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            // The built-in defaults are given as a serialized value, whose
            // name (a Rust type's) means nothing to whoever reads this.
            _ if metadata.name.contains("::") => String::new(),
            _ => format!(" (from {})", metadata.name),
        },
        None => String::new(),
    };
    let variable = format!("THREADGATE_{}", setting.to_uppercase().replace('.', "__"));
    format!("  setting `{setting}`: {problem}{source}; set it in the config file or as {variable}")
}

#[cfg(test)]
// figment's `Jail` closures return its large error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn errors_never_name_a_rust_type() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let error = Settings::load(None).unwrap_err().to_string();
            assert!(error.contains("setting `database.url`: missing"), "{error}");
            assert!(!error.contains("::"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "threadgate.toml",
                r#"
                [server]
                listen = "0.0.0.0:9000"
                [database]
                url = "postgres://file@db/threadgate"
                "#,
            )?;
            jail.set_env("THREADGATE_DATABASE__URL", "postgres://env@db/threadgate");
            jail.set_env("THREADGATE_LOG__FORMAT", "json");
            jail.set_env("THREADGATE_CONFIG", "threadgate.toml");
            let settings = Settings::load(Some(Path::new("threadgate.toml"))).unwrap();
            assert_eq!(settings.server.listen, "0.0.0.0:9000".parse().unwrap());
            assert_eq!(
                settings.database.url.expose_secret(),
                "postgres://env@db/threadgate"
            );
            assert_eq!(settings.log.format, LogFormat::Json);
            assert_eq!(settings.database.acquire_timeout, Duration::from_secs(5));
            Ok(())
        });
    }

    #[test]
    fn a_limit_out_of_range_is_refused_at_start_by_name() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("THREADGATE_DATABASE__URL", "postgres://env@db/threadgate");
            jail.set_env("THREADGATE_LIMITS__USER_REQUESTS_PER_MINUTE", "0");
            jail.set_env("THREADGATE_LIMITS__USER_CONCURRENT_STREAMS", "3");
            jail.set_env("THREADGATE_LIMITS__STREAM_LEASE", "0s");
            let message = Settings::load(None).unwrap_err().to_string();
            assert!(
                message.contains("`limits.user_requests_per_minute`: 0 is out of range"),
                "{message}"
            );
            assert!(
                !message.contains("concurrent"),
                "3 streams is fine: {message}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_setting_is_named_with_its_variable() {
        Jail::expect_with(|_jail| {
            let error = Settings::load(None).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("`database.url`: missing"), "{message}");
            assert!(message.contains("THREADGATE_DATABASE__URL"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn a_malformed_setting_is_named_without_echoing_its_value() {
        Jail::expect_with(|jail| {
            jail.set_env("THREADGATE_DATABASE__URL", "postgres://u:hunter2@db/x");
            jail.set_env("THREADGATE_SERVER__LISTEN", "not-an-address-hunter3");
            let message = Settings::load(None).unwrap_err().to_string();
            assert!(
                message.contains("setting `server.listen`: invalid socket address"),
                "{message}"
            );
            assert!(!message.contains("hunter"), "{message}");

            jail.set_env("THREADGATE_SERVER__LISTEN", "127.0.0.1:1");
            jail.set_env("THREADGATE_DATABASE__ACQUIRE_TIMEOUT", "soon");
            let message = Settings::load(None).unwrap_err().to_string();
            assert!(
                message.contains("setting `database.acquire_timeout`: expected a duration"),
                "{message}"
            );
            assert!(!message.contains("hunter"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn unknown_settings_are_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("THREADGATE_DATABASE__URL", "postgres://db/x");
            jail.set_env("THREADGATE_DATABASE__MAX_CONECTIONS", "5");
            let message = Settings::load(None).unwrap_err().to_string();
            assert!(
                message.contains("`database.max_conections`: not a known setting"),
                "{message}"
            );
            Ok(())
        });
    }

    #[test]
    fn upstream_profiles_are_read_from_the_file_with_secrets_from_the_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "threadgate.toml",
                r#"
                [database]
                url = "postgres://db/x"
                [upstreams.default]
                flavour = "azure"
                endpoint = "https://contoso.openai.azure.com"
                credential = { kind = "azure_api_key", key = "from-file" }
                [upstreams.eu]
                flavour = "azure"
                endpoint = "https://contoso-eu.openai.azure.com"
                api_version = "2025-03-01-preview"
                credential = { kind = "entra_workload_identity", tenant_id = "t", client_id = "c" }
                "#,
            )?;
            jail.set_env("THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KEY", "hunter2");
            let settings = Settings::load(Some(Path::new("threadgate.toml"))).unwrap();
            assert_eq!(settings.upstreams.len(), 2);
            assert_eq!(settings.upstreams["eu"].api_version(), "2025-03-01-preview");
            assert_eq!(
                settings.upstreams["default"].api_version(),
                upstream::DEFAULT_AZURE_API_VERSION
            );
            let upstream::CredentialConfig::AzureApiKey { key } =
                &settings.upstreams["default"].credential
            else {
                panic!("an API key");
            };
            assert_eq!(key.expose_secret(), "hunter2");
            assert!(!format!("{settings:?}").contains("hunter2"));
            Ok(())
        });
    }

    /// The `threadgate.toml` block of a ConfigMap manifest, unindented.
    fn config_map_toml(manifest: &str) -> String {
        let mut lines = manifest
            .lines()
            .skip_while(|line| !line.trim_start().starts_with("threadgate.toml: |"));
        let header = lines.next().expect("a threadgate.toml entry");
        let indent = header.len() - header.trim_start().len() + 2;
        lines
            .take_while(|line| {
                line.trim().is_empty() || line.len() - line.trim_start().len() >= indent
            })
            .map(|line| line.get(indent..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_kubernetes_configuration_is_a_valid_configuration() {
        let manifest = include_str!("../../../deploy/kubernetes/base/configmap.yaml");
        let toml = config_map_toml(manifest);
        assert!(toml.contains("[upstreams.default]"), "{toml}");
        Jail::expect_with(|jail| {
            jail.create_file("threadgate.toml", &toml)?;
            jail.set_env("THREADGATE_DATABASE__URL", "postgres://db/threadgate");
            let settings = Settings::load(Some(Path::new("threadgate.toml"))).unwrap();
            assert_eq!(settings.log.format, LogFormat::Json);
            assert_eq!(
                settings.metrics.listen,
                Some("0.0.0.0:9464".parse().unwrap())
            );
            assert_eq!(settings.server.listen, "0.0.0.0:8080".parse().unwrap());
            assert!(matches!(
                settings.upstreams["default"].credential,
                upstream::CredentialConfig::EntraWorkloadIdentity { .. }
            ));
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        Jail::expect_with(|jail| {
            jail.set_env("THREADGATE_DATABASE__URL", "postgres://u:hunter2@db/x");
            let settings = Settings::load(None).unwrap();
            let printed = format!("{settings:?}");
            assert!(!printed.contains("hunter2"), "{printed}");
            Ok(())
        });
    }
}
