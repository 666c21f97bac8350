//! The OpenAPI document at `/openapi.json`, and an interactive reference at
//! `/docs/` that needs no asset from elsewhere: Swagger UI's files are part
//! of the binary (vendored at build time, never downloaded).

use std::sync::OnceLock;

use actix_web::{HttpResponse, get};

fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        crate::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
    })
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// The interactive reference: Swagger UI, built into the binary (it works
/// offline and behind strict firewalls), at `/docs/`.
#[utoipa::path(tag = "operations", responses((status = 308, description = "To the interactive reference at /docs/")))]
#[get("/docs")]
pub async fn docs_page() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// Swagger UI over `/openapi.json`, with try-it-out on every operation and
/// the credential (bearer token or api-key) kept across reloads.
pub fn swagger_ui() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(
        utoipa_swagger_ui::Config::from("/openapi.json")
            .try_it_out_enabled(true)
            .persist_authorization(true),
    )
}
