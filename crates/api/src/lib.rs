//! Threadgate's HTTP API.
//!
//! [`routes`] registers every route on an actix-web app; the OpenAPI document
//! ([`openapi`]) is collected from those same registrations, so the committed
//! spec cannot drift from the router. [`ApiError`] is the one place where
//! failures become HTTP statuses and OpenAI-shaped bodies.

mod error;
mod health;
mod state;

use actix_web::web;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use state::AppState;

/// Top-level description of the API; paths are added by [`routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Threadgate",
        description = "A multi-tenant, per-user authorizing front for the OpenAI Assistants v2 API.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "operations", description = "Liveness and readiness for orchestrators.")
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
struct ApiDoc;

/// Registers every route. The same function feeds the running app and the
/// OpenAPI document.
pub fn routes(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config.service(health::healthz).service(health::readyz);
}

/// Everything the running app needs from this crate: request parsing
/// settings, the routes, and OpenAI's answer for paths no route matches.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(error::json_config())
        .app_data(error::query_config())
        .app_data(error::path_config());
    routes(&mut utoipa_actix_web::service_config::ServiceConfig::new(
        config,
    ));
    config.default_service(web::to(error::unknown_route));
}

/// The OpenAPI document of every route [`routes`] registers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_app, document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    document
}
