//! `/_emulator`: test controls. Faults, and what the emulator received.

use actix_web::{HttpResponse, Scope, web};
use serde_json::json;

use crate::faults::{FaultRule, parse};
use crate::state::{State, lock};

pub(crate) fn scope() -> Scope {
    web::scope("/_emulator")
        .route("/faults", web::post().to(add_fault))
        .route("/faults", web::delete().to(clear_faults))
        .route("/requests", web::get().to(requests))
        .route("/requests", web::delete().to(clear_requests))
        .route("/token-requests", web::get().to(token_requests))
        .route("/objects", web::get().to(objects))
}

/// Every object held, by kind: what a client's records should match.
async fn objects(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.store().inventory())
}

async fn add_fault(state: web::Data<State>, rule: web::Json<FaultRule>) -> HttpResponse {
    if let Err(problem) = parse(&rule.fault) {
        return HttpResponse::BadRequest().json(json!({"error": problem}));
    }
    lock(&state.faults).push(rule.into_inner());
    HttpResponse::NoContent().finish()
}

async fn clear_faults(state: web::Data<State>) -> HttpResponse {
    lock(&state.faults).clear();
    HttpResponse::NoContent().finish()
}

async fn requests(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.journal())
}

async fn clear_requests(state: web::Data<State>) -> HttpResponse {
    state.clear_journal();
    HttpResponse::NoContent().finish()
}

async fn token_requests(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(&*lock(&state.token_requests))
}
