//! The front door of each flavour: api-version and credentials, answered in
//! that flavour's words before any handler runs.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::error::{azure_body, openai_body};
use crate::state::State;

/// Which API shape a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Azure,
    OpenAi,
}

const AZURE_ACCESS_DENIED: &str = "Access denied due to invalid subscription key or wrong API \
     endpoint. Make sure to provide a valid key for an active subscription and use a correct \
     regional API endpoint for your resource.";

/// Azure OpenAI's classic data plane (`/openai/...`): a known `api-version`,
/// then a key or an Entra token.
pub(crate) async fn azure(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    azure_gate(request, next, true).await
}

/// Azure OpenAI's v1 API (`/openai/v1/...`): no `api-version`, the same
/// credentials, OpenAI's error bodies.
pub(crate) async fn azure_v1(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    azure_gate(request, next, false).await
}

async fn azure_gate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    versioned: bool,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = request
        .app_data::<web::Data<State>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no state"))?;

    let api_version =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .ok()
            .and_then(|query| query.get("api-version").cloned());
    let version_known = api_version
        .as_ref()
        .is_some_and(|version| state.config.api_versions.contains(version));
    if versioned && !version_known {
        // Azure answers an unknown or missing api-version as an unknown resource.
        let response = HttpResponse::NotFound().json(azure_body("404", "Resource not found"));
        return Ok(request.into_response(response).map_into_right_body());
    }

    let key_ok = request
        .headers()
        .get("api-key")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|key| key == state.config.api_key);
    let token_ok = bearer(&request).is_some_and(|token| state.token_is_valid(token));
    if !key_ok && !token_ok {
        let response = HttpResponse::Unauthorized().json(azure_body("401", AZURE_ACCESS_DENIED));
        return Ok(request.into_response(response).map_into_right_body());
    }
    let response = next.call(request).await?;
    // The v1 API answers errors in OpenAI's shape; the classic one in Azure's.
    if response.status().is_success() || !versioned {
        return Ok(response.map_into_left_body());
    }
    let (request, response) = response.into_parts();
    let response = in_azure_spelling(response).await;
    Ok(ServiceResponse::new(request, response).map_into_right_body())
}

/// Azure's error bodies carry `code` as a string (the status when there is
/// no specific code) and leave out absent fields rather than sending `null`.
async fn in_azure_spelling(response: HttpResponse<impl MessageBody>) -> HttpResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let Ok(bytes) = actix_web::body::to_bytes(response.into_body()).await else {
        return HttpResponse::build(status).finish();
    };
    let mut builder = HttpResponse::build(status);
    for (name, value) in &headers {
        if name != actix_web::http::header::CONTENT_LENGTH {
            builder.insert_header((name.clone(), value.clone()));
        }
    }
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return builder.body(bytes);
    };
    if let Some(error) = body
        .get_mut("error")
        .and_then(serde_json::Value::as_object_mut)
    {
        error.retain(|_, value| !value.is_null());
        error
            .entry("code")
            .or_insert_with(|| serde_json::Value::String(status.as_u16().to_string()));
    }
    builder.json(body)
}

pub(crate) async fn openai(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = request
        .app_data::<web::Data<State>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no state"))?;

    let rejection = match bearer(&request) {
        None => Some(openai_body(
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            None,
            None,
        )),
        Some(key) if key != state.config.api_key => Some(openai_body(
            "Incorrect API key provided. You can find your API key in your account settings.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )),
        Some(_) => None,
    };
    if let Some(body) = rejection {
        let response = HttpResponse::Unauthorized().json(body);
        return Ok(request.into_response(response).map_into_right_body());
    }

    // The Assistants v2 routes need the beta header; files, models and the
    // Responses and Conversations APIs do not.
    let needs_beta = ["/v1/assistants", "/v1/threads", "/v1/vector_stores"]
        .iter()
        .any(|prefix| request.path().starts_with(prefix));
    let beta = request
        .headers()
        .get("openai-beta")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if needs_beta && !beta.split(',').any(|part| part.trim() == "assistants=v2") {
        let response = HttpResponse::BadRequest().json(openai_body(
            "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please \
             try again by setting the header 'OpenAI-Beta: assistants=v2'.",
            "invalid_request_error",
            None,
            Some("invalid_beta"),
        ));
        return Ok(request.into_response(response).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// The api-versions Foundry's Agent Service (classic) accepts.
pub(crate) const FOUNDRY_API_VERSIONS: &[&str] = &["2025-05-01", "v1"];

/// An Azure AI Foundry project (`/api/projects/{project}/...`): an Entra
/// token only (no keys), and for its Agent Service (the Assistants
/// protocol, outside `/openai/v1`) a known `api-version`. Errors are
/// OpenAI-shaped.
pub(crate) async fn foundry(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = request
        .app_data::<web::Data<State>>()
        .cloned()
        .ok_or_else(|| actix_web::error::ErrorInternalServerError("no state"))?;
    if !bearer(&request).is_some_and(|token| state.token_is_valid(token)) {
        let response = HttpResponse::Unauthorized().json(openai_body(
            "Access token is missing, invalid or expired.",
            "invalid_request_error",
            None,
            Some("invalid_token"),
        ));
        return Ok(request.into_response(response).map_into_right_body());
    }
    let classic = !request.path().contains("/openai/v1/");
    let version_known =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .ok()
            .and_then(|query| query.get("api-version").cloned())
            .is_some_and(|version| FOUNDRY_API_VERSIONS.contains(&version.as_str()));
    if classic && !version_known {
        let response = HttpResponse::BadRequest().json(openai_body(
            "Missing or unsupported api-version.",
            "invalid_request_error",
            Some("api-version"),
            None,
        ));
        return Ok(request.into_response(response).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

fn bearer(request: &ServiceRequest) -> Option<&str> {
    request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}
