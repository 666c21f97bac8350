//! `threadgate`: the service binary.
//!
//! * `serve`: the API, configured by a TOML file and `THREADGATE_*` variables.
//! * `migrate`: brings the database schema up to date (a release step, run
//!   once per deployment, not by every replica).
//! * `openapi`: prints the OpenAPI document of the API.
//! * `tenant`, `issuer`, `apikey`, `assistant`: tenant administration.
//! * `dev`: everything on one machine for a newcomer (see `dev.rs`).

// A command-line program talks to its terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod dev;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use threadgate_server::Application;
use threadgate_server::admin::{Admin, IssuerSpec};
use threadgate_server::config::Settings;
use threadgate_server::{migrate, telemetry};

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
    /// Run everything locally: PostgreSQL, the upstream emulator, a
    /// development identity provider and a ready demo tenant.
    Dev(dev::DevArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage the identity providers (token issuers) a tenant trusts.
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// Manage tenant API keys for backends.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Manage a tenant's assistants.
    #[command(subcommand)]
    Assistant(AssistantCommand),
    /// Check a tenant's audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Settle rows a crash left between two steps, and find what their
    /// creates left upstream (run it from a CronJob).
    Reconcile {
        /// Only rows unsettled, and upstream objects made, longer ago than this.
        #[arg(long, default_value = "15m", value_parser = parse_duration)]
        older_than: std::time::Duration,
        /// Upstream objects no row can claim: `delete` them (the upstream
        /// project is Threadgate's alone) or only `report` them.
        #[arg(long, value_enum, default_value = "report")]
        orphans: threadgate_server::reconcile::Orphans,
    },
}

fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    #[derive(serde::Deserialize)]
    struct Wrapper(#[serde(with = "humantime_serde")] std::time::Duration);
    serde_json::from_value::<Wrapper>(serde_json::Value::String(raw.to_owned()))
        .map(|Wrapper(duration)| duration)
        .map_err(|error| error.to_string())
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Short handle: lowercase letters, digits and `-`.
        slug: String,
        #[arg(long)]
        name: Option<String>,
        /// The upstream profile the tenant's objects live on.
        #[arg(long, default_value = "default")]
        upstream_profile: String,
    },
    /// List every tenant, with its state and upstream profile.
    List,
    /// Suspend a tenant: its requests are refused within `auth.caller_cache` (2 s by default).
    Disable { slug: String },
    /// Reactivate a suspended tenant.
    Enable { slug: String },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute a tenant's audit chain; fails (exit 1) naming the first
    /// event that does not hold.
    Verify {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
enum IssuerCommand {
    /// Register an issuer for a tenant: its tokens then authenticate that tenant's users.
    Add(IssuerArgs),
}

#[derive(Debug, Args)]
struct IssuerArgs {
    #[arg(long)]
    tenant: String,
    /// The issuer URL, exactly as tokens carry it in `iss`.
    #[arg(long)]
    issuer: String,
    /// An accepted `aud` (repeatable).
    #[arg(long = "audience", required = true)]
    audiences: Vec<String>,
    /// The JWKS URI; discovered from the issuer when absent.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// An accepted algorithm (repeatable); asymmetric only.
    #[arg(long = "algorithm", default_values_t = ["RS256".to_owned()])]
    algorithms: Vec<String>,
    /// The claim that holds the user's subject.
    #[arg(long, default_value = "sub")]
    subject_claim: String,
    /// `claim=value` that marks a tenant admin, e.g. `roles=threadgate.admin`.
    #[arg(long)]
    admin_claim: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create a key; it is printed once and never again.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// The key acts as a tenant admin.
        #[arg(long)]
        admin: bool,
        /// The key may act on behalf of end-users (Threadgate-On-Behalf-Of).
        #[arg(long)]
        on_behalf_of: bool,
    },
    /// Revoke a key by its prefix (the part after `tg_`).
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
enum AssistantCommand {
    /// Make an assistant that exists upstream one of the tenant's.
    Register {
        #[arg(long)]
        tenant: String,
        /// The upstream assistant id (`asst_…`).
        #[arg(long)]
        id: String,
    },
    /// Create an assistant upstream for the tenant.
    Create {
        #[arg(long)]
        tenant: String,
        /// The model (on Azure, the deployment name).
        #[arg(long)]
        model: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        instructions: Option<String>,
        /// `code_interpreter`, `file_search`, or `function:NAME` (repeatable).
        #[arg(long = "tool")]
        tools: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Openapi => print_openapi(),
        Command::Migrate => run_migrate(config),
        Command::Serve => run_serve(config),
        Command::Dev(args) => dev::run(config, args),
        Command::Tenant(command) => administer(config, |admin| Box::pin(tenant(admin, command))),
        Command::Audit(command) => administer(config, |admin| Box::pin(audit(admin, command))),
        Command::Issuer(command) => administer(config, |admin| Box::pin(issuer(admin, command))),
        Command::Apikey(command) => administer(config, |admin| Box::pin(api_key(admin, command))),
        Command::Assistant(command) => {
            administer(config, |admin| Box::pin(assistant(admin, command)))
        }
        Command::Reconcile {
            older_than,
            orphans,
        } => administer(config, move |admin| {
            Box::pin(async move {
                let report = threadgate_server::reconcile::run(&admin, older_than, orphans).await?;
                println!(
                    "adopted {}, orphans deleted {} (kept {}), deleted {}, discarded {} (unresolved threads {}), failed {}, expired idempotency keys {}, past retention deleted {}, erasures completed {} (going on {})",
                    report.adopted,
                    report.orphans_deleted,
                    report.orphans_kept,
                    report.deleted,
                    report.discarded,
                    report.unresolved_threads,
                    report.failed,
                    report.expired_idempotency_keys,
                    report.retained_deleted,
                    report.erasures_completed,
                    report.erasures_unfinished
                );
                Ok(())
            })
        }),
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
    let _telemetry = telemetry::init(&settings.log)?;
    migrate(&settings)
}

fn run_serve(config: Option<&Path>) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    let _telemetry = telemetry::init(&settings.log)?;
    actix_web::rt::System::new().block_on(async {
        let application = Application::build(&settings)?;
        tracing::info!(port = application.port(), "serving");
        application.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

type AdminTask = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>>>>;

/// Runs one administrative command against the configured database and upstreams.
fn administer(config: Option<&Path>, task: impl FnOnce(Admin) -> AdminTask) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    let admin = threadgate_server::admin_for(&settings)?;
    actix_web::rt::System::new().block_on(task(admin))
}

async fn tenant(admin: Admin, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            slug,
            name,
            upstream_profile,
        } => {
            let tenant = admin
                .create_tenant(&slug, name.as_deref(), &upstream_profile)
                .await?;
            println!("tenant `{}` created ({})", tenant.slug, tenant.id);
        }
        TenantCommand::List => {
            let tenants = admin
                .database
                .run("admin.tenants", storage::repo::tenants::list)
                .await?;
            for tenant in tenants {
                let state = if tenant.active { "active" } else { "suspended" };
                println!(
                    "{}\t{}\t{}\t{}",
                    tenant.slug, state, tenant.upstream_profile, tenant.id
                );
            }
        }
        TenantCommand::Disable { slug } => set_tenant_active(&admin, &slug, false).await?,
        TenantCommand::Enable { slug } => set_tenant_active(&admin, &slug, true).await?,
    }
    Ok(())
}

async fn set_tenant_active(admin: &Admin, slug: &str, active: bool) -> anyhow::Result<()> {
    let tenant = admin.tenant(slug).await?;
    let id = tenant.id;
    admin
        .database
        .run("admin.tenant_state", move |conn| {
            storage::repo::tenants::set_active(conn, id, active)
        })
        .await?;
    let state = if active { "reactivated" } else { "suspended" };
    println!("tenant `{slug}` {state}");
    Ok(())
}

async fn audit(admin: Admin, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { tenant } = command;
    let tenant = admin.tenant(&tenant).await?;
    let id = tenant.id;
    let check = admin
        .database
        .run("admin.audit_verify", move |conn| {
            storage::repo::audit::verify_chain(conn, id, 0, i64::MAX)
        })
        .await?;
    match check.first_broken {
        None => {
            println!(
                "the audit chain of `{}` is intact ({} events; head {})",
                tenant.slug,
                check.events,
                hex::encode(&check.head.1)
            );
            Ok(())
        }
        Some((Some(event), seq)) => anyhow::bail!(
            "the audit chain of `{}` is broken at event {event} (number {seq} of {})",
            tenant.slug,
            check.events
        ),
        Some((None, seq)) => anyhow::bail!(
            "the audit chain of `{}` is broken: event number {seq} of {} is missing",
            tenant.slug,
            check.events
        ),
    }
}

async fn issuer(admin: Admin, command: IssuerCommand) -> anyhow::Result<()> {
    let IssuerCommand::Add(args) = command;
    let issuer = admin
        .add_issuer(
            &args.tenant,
            IssuerSpec {
                issuer: args.issuer,
                audiences: args.audiences,
                jwks_uri: args.jwks_uri,
                algorithms: args.algorithms,
                subject_claim: args.subject_claim,
                admin_claim: args.admin_claim,
            },
        )
        .await?;
    println!(
        "issuer {} now authenticates users of `{}`",
        issuer.issuer, args.tenant
    );
    Ok(())
}

async fn api_key(admin: Admin, command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create {
            tenant,
            name,
            admin: is_admin,
            on_behalf_of,
        } => {
            let key = admin
                .create_api_key(&tenant, &name, is_admin, on_behalf_of)
                .await?;
            println!("{}", key.key);
            eprintln!(
                "This key is shown once. Its prefix, for revoking it, is {}.",
                key.prefix
            );
        }
        ApiKeyCommand::Revoke { tenant, prefix } => {
            admin.revoke_api_key(&tenant, &prefix).await?;
            println!("revoked");
        }
    }
    Ok(())
}

async fn assistant(admin: Admin, command: AssistantCommand) -> anyhow::Result<()> {
    let assistant = match command {
        AssistantCommand::Register { tenant, id } => admin.register_assistant(&tenant, &id).await?,
        AssistantCommand::Create {
            tenant,
            model,
            name,
            instructions,
            tools,
        } => {
            let tools = tools
                .iter()
                .map(|tool| match tool.split_once(':') {
                    None if tool == "code_interpreter" || tool == "file_search" => Ok(serde_json::json!({"type": tool})),
                    Some(("function", name)) if !name.is_empty() => Ok(serde_json::json!({
                        "type": "function",
                        "function": {"name": name, "parameters": {"type": "object", "properties": {}}},
                    })),
                    _ => Err(anyhow::anyhow!("--tool `{tool}`: use code_interpreter, file_search or function:NAME")),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut body = serde_json::json!({"model": model, "tools": tools});
            if let Some(name) = name {
                body["name"] = name.into();
            }
            if let Some(instructions) = instructions {
                body["instructions"] = instructions.into();
            }
            admin.create_assistant(&tenant, body).await?
        }
    };
    println!("{}", assistant["id"].as_str().unwrap_or_default());
    Ok(())
}
