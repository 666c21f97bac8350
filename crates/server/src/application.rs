//! The HTTP server, built from [`Settings`]. Binding happens in
//! [`Application::build`], so callers (and tests, with port 0) know the port
//! before serving starts and never have to wait and guess.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};
use secrecy::ExposeSecret;
use storage::{Database, PoolSettings};
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::dev_issuer::DevIssuer;
use crate::metrics;

/// The longest `auth.caller_cache` accepted.
const MAX_CALLER_CACHE: Duration = Duration::from_secs(60);

pub struct Application {
    port: u16,
    server: Server,
    shutdown: Shutdown,
    /// Writes queued audit events; finishes once the server (and with it
    /// every sender) is gone.
    audit_writer: JoinHandle<()>,
    metrics: Option<metrics::MetricsServer>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds the listen address and prepares the server. Does not touch the
    /// database: a replica starts while it is down and reports not-ready.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, None)
    }

    /// As [`Application::build`], also serving a development issuer under
    /// `/dev/oidc` (only `threadgate dev` and tests do this).
    pub fn build_with(
        settings: &Settings,
        dev_issuer: Option<Arc<DevIssuer>>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.server.listen).map_err(|error| {
            anyhow::anyhow!(
                "setting `server.listen`: cannot listen on {}: {error}",
                settings.server.listen
            )
        })?;
        Self::build_on(settings, listener, dev_issuer)
    }

    /// As [`Application::build_with`], on a listener the caller bound (tests
    /// bind port 0 and keep it, so nothing else can take the port meanwhile).
    pub fn build_on(
        settings: &Settings,
        listener: TcpListener,
        dev_issuer: Option<Arc<DevIssuer>>,
    ) -> anyhow::Result<Self> {
        let database = Database::new(
            settings.database.url.expose_secret(),
            &PoolSettings {
                max_connections: settings.database.max_connections,
                acquire_timeout: settings.database.acquire_timeout,
                statement_timeout: settings.database.statement_timeout,
            },
        );
        if settings.auth.caller_cache > MAX_CALLER_CACHE {
            anyhow::bail!(
                "setting `auth.caller_cache`: at most {}s (it bounds how long another replica goes on admitting a revoked credential)",
                MAX_CALLER_CACHE.as_secs()
            );
        }
        let upstreams = upstream::Upstreams::new(&settings.upstreams)
            .map_err(|error| anyhow::anyhow!("setting `upstreams`: {error}"))?;
        let quotas = api::quota::Quotas::start(&quota_settings(&settings.limits))
            .map_err(|error| anyhow::anyhow!("setting `limits.redis_url`: {error}"))?;
        let (audit, audit_writer) = api::audit::AuditSink::start(database.clone());
        let draining = tokio_util::sync::CancellationToken::new();
        let state = web::Data::new(api::AppState {
            draining: draining.clone(),
            database,
            upstreams,
            jwks: Arc::new(api::auth::JwksCache::new(
                settings.auth.jwks_refetch_cooldown,
                settings.auth.jwks_fetch_timeout,
            )),
            callers: Arc::new(api::auth::CallerCache::new(settings.auth.caller_cache)),
            tokens: Arc::new(api::auth::VerifiedTokens::default()),
            audit,
            quotas: Arc::new(quotas),
            stream_heartbeat: settings.server.stream_heartbeat,
        });
        let limits = api::RequestLimits {
            max_json_body_bytes: settings.server.max_body_bytes,
            max_upload_bytes: settings.server.max_upload_bytes,
        };

        let port = listener.local_addr()?.port();

        let mut server = HttpServer::new(move || {
            App::new()
                // Innermost: sees the caller's answer before anything else adds to it.
                .wrap(middleware::from_fn(api::idempotency::replay_or_record))
                // Before a key is claimed or a handler runs: a refused
                // request changes nothing.
                .wrap(middleware::from_fn(api::quota::requests))
                // Before the key is claimed: a wrong api-version changes nothing.
                .wrap(middleware::from_fn(api::azure::api_version))
                .wrap(api::no_store())
                .wrap(middleware::from_fn(api::observe::record_http))
                .wrap(TracingLogger::<api::observe::RequestSpan>::new())
                // Outermost: the request id exists before the request span.
                .wrap(middleware::from_fn(api::request_id::assign))
                .app_data(state.clone())
                .configure(|config| {
                    if let Some(issuer) = &dev_issuer {
                        config.service(DevIssuer::service(web::Data::from(issuer.clone())));
                    }
                })
                .configure(api::configure(limits))
        })
        // No Nagle: a stream writes its headers, then each event as it comes;
        // with Nagle's algorithm the first event waited for the client's
        // delayed ACK of the headers (40 ms on Linux) before it left.
        .on_connect(|connection, _| {
            if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
                && let Err(error) = tcp.set_nodelay(true)
            {
                tracing::debug!(%error, "TCP_NODELAY could not be set");
            }
        })
        // Open streams get this long to finish after SIGTERM/SIGINT.
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        // Signals are ours: a stop must also end open streams honestly.
        .disable_signals()
        .listen(listener)?;
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        let metrics = match settings.server_metrics_listen() {
            Some(address) => Some(metrics::serve(address)?),
            None => None,
        };
        let server = server.run();
        let shutdown = Shutdown {
            server: server.handle(),
            draining,
            grace: settings.server.shutdown_timeout,
        };
        Ok(Self {
            port,
            server,
            shutdown,
            audit_writer,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `/metrics`, when served.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|metrics| metrics.port)
    }

    /// Stops the server from elsewhere (tests; signals are handled already).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Stops the server gracefully from elsewhere, as a signal would.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until SIGTERM or SIGINT, then drains open requests gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let on_signal = self.shutdown.clone();
        let signals = actix_web::rt::spawn(async move {
            if stop_signal().await.is_ok() {
                on_signal.begin().await;
            }
        });
        let served = self.server.await;
        signals.abort();
        served?;
        if let Some(metrics) = self.metrics {
            metrics.handle.stop(true).await;
        }
        // Give queued audit events a moment to reach the database.
        if tokio::time::timeout(Duration::from_secs(5), self.audit_writer)
            .await
            .is_err()
        {
            tracing::warn!("audit events still queued at shutdown were not written");
        }
        Ok(())
    }
}

/// A graceful stop: no new connections, requests in flight get the grace
/// period (`server.shutdown_timeout`) to finish, and streams still open
/// shortly before it ends are closed with an `error` event rather than cut.
#[derive(Debug, Clone)]
pub struct Shutdown {
    server: ServerHandle,
    draining: tokio_util::sync::CancellationToken,
    grace: Duration,
}

impl Shutdown {
    /// Begins the stop and waits until the server has stopped.
    pub async fn begin(self) {
        tracing::info!(grace = ?self.grace, "stopping: draining open requests");
        // Leave the streams a moment to send their last event before the
        // grace period ends and connections are closed.
        let margin = (self.grace / 2).min(Duration::from_secs(2));
        let draining = self.draining.clone();
        let before_the_cut = self.grace.saturating_sub(margin);
        let timer = actix_web::rt::spawn(async move {
            tokio::time::sleep(before_the_cut).await;
            draining.cancel();
        });
        self.server.stop(true).await;
        timer.abort();
    }
}

/// SIGTERM (how Kubernetes stops a pod) or SIGINT (Ctrl-C).
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = terminate.recv() => Ok(()),
            interrupted = tokio::signal::ctrl_c() => interrupted,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// The limits as the API crate takes them.
fn quota_settings(limits: &crate::config::LimitSettings) -> api::quota::QuotaSettings {
    api::quota::QuotaSettings {
        defaults: limits.defaults(),
        redis_url: limits.redis_url.clone(),
        store_timeout: limits.store_timeout,
        fail_closed: limits.on_store_failure == crate::config::StoreFailure::Closed,
        stream_lease: limits.stream_lease,
    }
}
