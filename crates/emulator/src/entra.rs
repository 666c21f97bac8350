//! An Entra-like token endpoint: `POST /{tenant}/oauth2/v2.0/token` with the
//! client-credentials grant, by client secret or by client assertion
//! (workload identity). Tokens it issues open the Azure shape.

use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::ids::new_id;
use crate::state::{State, TokenRequest, lock};

/// The scopes tokens are issued for: Azure OpenAI's, and Azure AI
/// Foundry's (a project takes only the latter's tokens in the service; the
/// emulator does not tell them apart once issued).
const SCOPES: [&str; 2] = [
    "https://cognitiveservices.azure.com/.default",
    "https://ai.azure.com/.default",
];
/// Like Azure's token validation, accept tokens this long past their expiry.
const CLOCK_SKEW: Duration = Duration::from_secs(300);
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    scope: Option<String>,
}

fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(json!({"error": error, "error_description": description}))
}

pub(crate) async fn issue_token(
    state: web::Data<State>,
    tenant: web::Path<String>,
    form: web::Form<TokenForm>,
) -> HttpResponse {
    let form = form.into_inner();
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if form.client_id.as_deref() != Some(state.config.entra.client_id.as_str()) {
        return oauth_error(
            400,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if !form
        .scope
        .as_deref()
        .is_some_and(|scope| SCOPES.contains(&scope))
    {
        return oauth_error(
            400,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    }
    let credential = match (
        &form.client_secret,
        &form.client_assertion,
        &form.client_assertion_type,
    ) {
        (Some(secret), None, _) if *secret == state.config.entra.client_secret => "secret",
        (None, Some(assertion), Some(kind)) if kind == ASSERTION_TYPE && !assertion.is_empty() => {
            "assertion"
        }
        _ => {
            return oauth_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            );
        }
    };
    lock(&state.token_requests).push(TokenRequest {
        tenant: tenant.into_inner(),
        client_id: form.client_id.unwrap_or_default(),
        credential,
        assertion: form.client_assertion,
        scope: form.scope.unwrap_or_default(),
    });
    let lifetime = state.config.entra.token_lifetime;
    let token = new_id("entra-");
    state.issue_token(token.clone(), Instant::now() + lifetime + CLOCK_SKEW);
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    }))
}
