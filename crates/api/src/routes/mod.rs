//! The `/v1` routes: the Assistants v2 surface, scoped to the caller. Every
//! route is a row of [`table::ROUTES`]; [`configure`] serves the table and
//! [`document`] describes it, so the two cannot disagree.

mod common;
pub mod document;
mod files;
mod responses;
mod runs;
pub mod schemas;
mod serve;
mod stream;
pub mod table;

use actix_web::{HttpRequest, guard, web};
use serde_json::Value;

pub use common::ListParams;
pub use files::OWNER_HEADER;
use table::{Body, Route, Serves, Special};

use crate::AppState;
use crate::auth::Caller;
use crate::request_id::RequestId;

/// Registers every row of the table, in its order, each as the one method
/// on its path (other methods fall through to OpenAI's unknown-URL answer),
/// on every surface: OpenAI's `/v1`, Azure's v1 API `/openai/v1` (the same,
/// for OpenAI clients pointed at an Azure endpoint), and Azure's classic
/// `/openai` (whose `api-version` [`crate::azure::api_version`] checks first).
pub fn configure(config: &mut web::ServiceConfig) {
    let every = crate::azure::SURFACES
        .iter()
        .flat_map(|surface| table::ROUTES.iter().map(move |route| (*surface, route)));
    for (surface, route) in every {
        let resource = web::resource(format!("{surface}{}", route.path))
            .guard(guard::Method(route.verb.method()));
        config.service(match route.serves {
            Serves::Special(Special::Upload) => resource.to(files::upload),
            Serves::Special(Special::CreateThreadAndRun) => {
                resource.to(runs::create_thread_and_run)
            }
            Serves::Special(Special::CreateResponse) => resource.to(responses::create_response),
            _ => match route.body {
                Body::Json(_) => resource.to(move |state, caller, request_id, request, body| {
                    serve_json(route, state, caller, request_id, request, body)
                }),
                Body::None | Body::Multipart(_) => {
                    resource.to(move |state, caller, request_id, request| {
                        serve::serve(route, state, caller, request_id, request, None)
                    })
                }
            },
        });
    }
}

/// A row that takes a JSON body: parsed (and refused) by the same rules as
/// every other JSON body.
async fn serve_json(
    route: &'static Route,
    state: web::Data<AppState>,
    caller: Caller,
    request_id: RequestId,
    request: HttpRequest,
    body: web::Json<Value>,
) -> Result<actix_web::HttpResponse, crate::ApiError> {
    serve::serve(
        route,
        state,
        caller,
        request_id,
        request,
        Some(body.into_inner()),
    )
    .await
}
