//! `threadgate dev`: everything a newcomer needs on one machine.
//!
//! PostgreSQL (`THREADGATE_DATABASE__URL` if set, otherwise a private cluster
//! kept in the state directory), the upstream emulator in-process,
//! migrations, a development identity provider served by Threadgate itself
//! (its key kept in the state directory), and a tenant `demo` with one
//! assistant ready to run. `threadgate dev token` mints tokens for any user
//! of any tenant while `dev` runs.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use emulator::{EmulatorConfig, RunningEmulator};
use figment::providers::Serialized;
use serde::{Deserialize, Serialize};
use serde_json::json;
use threadgate_server::admin::{Admin, IssuerSpec};
use threadgate_server::config::Settings;
use threadgate_server::dev_issuer::{self, DevIssuer};
use threadgate_server::{Application, admin_for, migrate, telemetry};

const DEMO_TENANT: &str = "demo";
const DEMO_USER: &str = "demo-user";
const TOKEN_LIFETIME_SECONDS: u64 = 24 * 3600;

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080", global = true)]
    listen: SocketAddr,
    /// Where the database, the issuer's key and the session file live.
    #[arg(long, default_value = ".threadgate", global = true)]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Option<DevCommand>,
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Print a token of the development issuer for a user of a tenant,
    /// creating the tenant (with its development issuer) if it is new.
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// The user is a tenant admin.
        #[arg(long)]
        admin: bool,
    },
}

/// What a running `dev` leaves for `dev token`.
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    database_url: String,
    issuer_base: String,
    upstream: serde_json::Value,
}

const SESSION_FILE: &str = "dev-session.json";

pub fn run(config: Option<&Path>, args: DevArgs) -> anyhow::Result<()> {
    match args.command {
        Some(DevCommand::Token {
            tenant,
            user,
            admin,
        }) => token(&args.state_dir, &tenant, &user, admin),
        None => serve(config, &args.listen, &args.state_dir),
    }
}

fn serve(config: Option<&Path>, listen: &SocketAddr, state_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    actix_web::rt::System::new().block_on(async {
        let mut figment = Settings::figment(config);
        // Both live as long as we serve.
        let mut _cluster = None;
        if !figment.contains("database.url") {
            let cluster = devdb::EphemeralCluster::start_kept(&state_dir.join("postgres"))
                .context("starting PostgreSQL in the state directory")?;
            figment = figment.merge(Serialized::default("database.url", cluster.url()));
            _cluster = Some(cluster);
        }
        let mut emulator = None;
        if !figment.contains("upstreams") {
            let config = EmulatorConfig::default();
            let running = RunningEmulator::start(config.clone(), "127.0.0.1:0".parse()?)
                .context("starting the upstream emulator")?;
            let profile = json!({
                "flavour": "azure",
                "endpoint": running.base_url(),
                "credential": {"kind": "azure_api_key", "key": config.api_key},
            });
            figment = figment.merge(Serialized::default("upstreams.default", profile));
            eprintln!(
                "The upstream emulator (Azure flavour, in this process) listens on {}: it stands in for Azure OpenAI.",
                running.base_url()
            );
            emulator = Some(running);
        }
        // Learn the port first: the issuer's URL contains it.
        let listener = TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        figment = figment.merge(Serialized::default("server.listen", address));
        // Unless the developer chose a metrics address, a free port: two dev
        // servers (or anything else on 9464) can coexist.
        let chosen = figment.find_metadata("metrics.listen").is_some_and(|metadata| {
            matches!(metadata.source, Some(figment::Source::File(_))) || metadata.name.contains("environment")
        });
        if !chosen {
            figment = figment.merge(Serialized::default("metrics.listen", "127.0.0.1:0"));
        }
        let settings = Settings::from_figment(figment)?;
        let _telemetry = telemetry::init(&settings.log)?;
        migrate(&settings)?;

        let issuer_base = format!("http://{address}/dev/oidc");
        let issuer = Arc::new(DevIssuer::load_or_create(state_dir, &issuer_base)?);
        let admin = admin_for(&settings)?;
        ensure_tenant(&admin, &issuer, DEMO_TENANT).await?;
        let assistant = admin
            .create_assistant(
                DEMO_TENANT,
                json!({
                    "model": "gpt-4o",
                    "name": "Demo assistant",
                    "instructions": "You help the demo user.",
                    "tools": [
                        {"type": "code_interpreter"},
                        {"type": "file_search"},
                        {"type": "function", "function": {
                            "name": "get_weather",
                            "description": "The weather in a city.",
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        }},
                    ],
                }),
            )
            .await?;
        let session = Session {
            database_url: secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned(),
            issuer_base,
            upstream: serde_json::Value::Null,
        };
        write_session(state_dir, &session, emulator.as_ref())?;

        let application = Application::build_on(&settings, listener, Some(issuer.clone()))?;
        let url = format!("http://{}:{}", address.ip(), application.port());
        let token = issuer.mint(DEMO_TENANT, DEMO_USER, false, TOKEN_LIFETIME_SECONDS)?;
        // On stdout: the first line is what scripts (and tests) wait for.
        println!("Threadgate (dev) is ready at {url}");
        println!();
        println!("Demo tenant `{DEMO_TENANT}`, assistant {}.", assistant["id"].as_str().unwrap_or_default());
        println!("A token for user `{DEMO_USER}` (valid 24 h):");
        println!();
        println!("  export TOKEN={token}");
        println!();
        println!("  curl -s {url}/v1/responses -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"model\": \"gpt-4o\", \"input\": \"Hello\"}}'");
        println!();
        println!("  pip install openai");
        println!("  python3 -c 'import openai, os; c = openai.OpenAI(base_url=\"{url}/v1\", api_key=os.environ[\"TOKEN\"]); print(c.responses.create(model=\"gpt-4o\", input=\"Hello\").output_text)'");
        println!();
        println!("Azure's v1 API path (OpenAI's client) and its classic routes (AzureOpenAI, Assistants):");
        println!();
        println!("  python3 -c 'import openai, os; c = openai.OpenAI(base_url=\"{url}/openai/v1/\", api_key=os.environ[\"TOKEN\"]); print(c.conversations.create().id)'");
        println!("  python3 -c 'import openai, os; c = openai.AzureOpenAI(azure_endpoint=\"{url}\", api_version=\"2025-04-01-preview\", azure_ad_token=os.environ[\"TOKEN\"]); print(c.beta.assistants.list())'");
        println!();
        println!("More users and tenants: threadgate dev token --tenant T --user U [--admin]");
        println!("Administration commands (threadgate tenant|issuer|apikey|assistant|reconcile) against this server:");
        println!();
        println!("  export THREADGATE_DATABASE__URL='{}'", session.database_url);
        if let Some(emulator) = &emulator {
            println!("  export THREADGATE_UPSTREAMS__DEFAULT__FLAVOUR=azure");
            println!("  export THREADGATE_UPSTREAMS__DEFAULT__ENDPOINT={}", emulator.base_url());
            println!("  export THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KIND=azure_api_key");
            println!(
                "  export THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KEY={}",
                EmulatorConfig::default().api_key
            );
        }
        println!();
        println!("API documentation: {url}/docs");
        if let Some(port) = application.metrics_port() {
            println!("Metrics: http://127.0.0.1:{port}/metrics");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();

        application.run_until_stopped().await?;
        if let Some(emulator) = emulator {
            emulator.stop().await;
        }
        let _ = std::fs::remove_file(state_dir.join(SESSION_FILE));
        Ok(())
    })
}

fn write_session(
    state_dir: &Path,
    session: &Session,
    emulator: Option<&RunningEmulator>,
) -> anyhow::Result<()> {
    let mut session = serde_json::to_value(session)?;
    if let Some(emulator) = emulator {
        session["upstream"] = json!({
            "flavour": "azure",
            "endpoint": emulator.base_url(),
            "credential": {"kind": "azure_api_key", "key": EmulatorConfig::default().api_key},
        });
    }
    let path = state_dir.join(SESSION_FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(&session)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// The tenant, with the development issuer registered for it.
async fn ensure_tenant(admin: &Admin, issuer: &DevIssuer, slug: &str) -> anyhow::Result<()> {
    if admin.tenant(slug).await.is_err() {
        admin.create_tenant(slug, None, "default").await?;
    }
    let spec = IssuerSpec {
        issuer: issuer.issuer(slug),
        audiences: vec![dev_issuer::AUDIENCE.to_owned()],
        jwks_uri: Some(issuer.jwks_uri(slug)),
        algorithms: vec!["RS256".to_owned()],
        subject_claim: "sub".to_owned(),
        admin_claim: Some(format!(
            "{}={}",
            dev_issuer::ADMIN_CLAIM.0,
            dev_issuer::ADMIN_CLAIM.1
        )),
    };
    match admin.add_issuer(slug, spec).await {
        Ok(_) => Ok(()),
        // Registered by an earlier run on the same address.
        Err(error) if error.to_string().contains("registered already") => Ok(()),
        Err(error) => Err(error),
    }
}

fn token(state_dir: &Path, tenant: &str, user: &str, admin: bool) -> anyhow::Result<()> {
    let path = state_dir.join(SESSION_FILE);
    let session: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).with_context(|| {
            format!(
                "no {}: start `threadgate dev` first (same --state-dir)",
                path.display()
            )
        })?)?;
    let issuer_base = session["issuer_base"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let issuer = DevIssuer::load_or_create(state_dir, &issuer_base)?;
    let mut figment = Settings::figment(None).merge(Serialized::default(
        "database.url",
        &session["database_url"],
    ));
    if session["upstream"].is_object() {
        figment = figment.merge(Serialized::default(
            "upstreams.default",
            &session["upstream"],
        ));
    }
    let settings = Settings::from_figment(figment)?;
    let admin_handle = admin_for(&settings)?;
    actix_web::rt::System::new().block_on(ensure_tenant(&admin_handle, &issuer, tenant))?;
    println!(
        "{}",
        issuer.mint(tenant, user, admin, TOKEN_LIFETIME_SECONDS)?
    );
    Ok(())
}
