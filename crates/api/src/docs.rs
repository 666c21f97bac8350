//! The OpenAPI document at `/openapi.json`, and a page at `/docs` that shows
//! it without any asset from elsewhere: the page and its script are part of
//! the binary, so it works offline and behind strict firewalls.

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

/// A browsable page of the OpenAPI document.
#[utoipa::path(tag = "operations", responses((status = 200, description = "HTML", content_type = "text/html")))]
#[get("/docs")]
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        ))
        .body(include_str!("docs.html"))
}
