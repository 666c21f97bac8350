//! The Azure-shaped surface: every `/v1` route also answers under
//! `/openai/...` with `api-version`, so `AzureOpenAI(azure_endpoint=...)`
//! clients work unchanged. Same table, same handlers; this module only
//! checks the version, before anything else looks at the request.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::ApiError;

/// Where the Azure surface lives.
pub const PREFIX: &str = "/openai";

/// The Azure OpenAI `api-version`s with the Assistants v2 API this surface
/// serves (the data-plane inference versions that have it).
pub const API_VERSIONS: &[&str] = &[
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

/// Refuses an Azure-surface request without a supported `api-version`.
pub async fn api_version(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !request.path().starts_with(&format!("{PREFIX}/")) {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let version = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "api-version")
        .map(|(_, value)| value.into_owned());
    let refusal = match version.as_deref() {
        Some(version) if API_VERSIONS.contains(&version) => None,
        Some(_) => Some("API version not supported"),
        None => Some("Missing required query parameter: api-version"),
    };
    match refusal {
        None => Ok(next.call(request).await?.map_into_boxed_body()),
        Some(message) => Ok(request
            .error_response(ApiError::bad_request(message, Some("api-version")))
            .map_into_boxed_body()),
    }
}

/// The path below the surface it came in on (`/v1` or `/openai`).
pub fn below_surface(path: &str) -> Option<&str> {
    path.strip_prefix("/v1")
        .or_else(|| path.strip_prefix(PREFIX))
        .filter(|rest| rest.starts_with('/'))
}
