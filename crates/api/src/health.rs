//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ApiError, AppState, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` when alive, `ready` when ready to serve.
    status: &'static str,
}

/// Liveness: the process is up and answering. Checks nothing else, so a
/// database outage does not make an orchestrator restart healthy replicas.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Alive", body = HealthStatus))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// Readiness: the database answers and has every migration this binary needs.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "Database unreachable or migrations pending", body = ErrorBody)
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let current = state
        .database
        // An orchestrator's probe gives up after a second or so: answer first.
        .run_waiting_at_most(
            "readiness",
            std::time::Duration::from_millis(800),
            storage::migrations::is_current,
        )
        .await
        .map_err(|error| {
            tracing::debug!(%error, "readiness: database unreachable");
            ApiError::unavailable("The database is unreachable.")
        })?;
    if !current {
        return Err(ApiError::unavailable(
            "The database schema is behind this release: run `threadgate migrate`.",
        ));
    }
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ready" }))
}
