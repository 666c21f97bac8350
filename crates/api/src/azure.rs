//! The Azure-shaped surface: every `/v1` route also answers under
//! `/openai/...` with `api-version`, so `AzureOpenAI(azure_endpoint=...)`
//! clients work unchanged. Same table, same handlers; this module checks
//! the version before anything else looks at the request, and gives error
//! bodies Azure's spelling on the way out.

use actix_web::HttpResponse;
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
    let response = match refusal {
        None => next.call(request).await?.map_into_boxed_body(),
        Some(message) => request
            .error_response(ApiError::bad_request(message, Some("api-version")))
            .map_into_boxed_body(),
    };
    if response.status().is_success() {
        // Answers (and streams) pass as they are, never buffered.
        return Ok(response);
    }
    let (request, response) = response.into_parts();
    Ok(ServiceResponse::new(
        request,
        in_azure_spelling(response).await,
    ))
}

/// Azure's error bodies carry `code` as a string (the status when there is
/// no specific code) and leave absent fields out rather than sending `null`.
async fn in_azure_spelling(response: HttpResponse<BoxBody>) -> HttpResponse<BoxBody> {
    let status = response.status();
    let (head, body) = response.into_parts();
    let Ok(bytes) = actix_web::body::to_bytes(body).await else {
        return head.set_body(BoxBody::new(())).map_into_boxed_body();
    };
    let Ok(mut error) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return head.set_body(BoxBody::new(bytes));
    };
    if let Some(detail) = error
        .get_mut("error")
        .and_then(serde_json::Value::as_object_mut)
    {
        detail.retain(|_, value| !value.is_null());
        detail
            .entry("code")
            .or_insert_with(|| serde_json::Value::String(status.as_u16().to_string()));
    }
    head.set_body(BoxBody::new(error.to_string()))
}

/// The path below the surface it came in on (`/v1` or `/openai`).
pub fn below_surface(path: &str) -> Option<&str> {
    path.strip_prefix("/v1")
        .or_else(|| path.strip_prefix(PREFIX))
        .filter(|rest| rest.starts_with('/'))
}
