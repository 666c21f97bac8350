//! The `/v1` routes: the Assistants v2 surface, scoped to the caller.

// utoipa's path macros repeat extractor types with their full paths.
#![allow(unused_qualifications)]

pub mod assistants;
mod common;
pub mod messages;
pub mod runs;
pub mod schemas;
pub mod threads;

pub use common::ListParams;

/// Registers the `/v1` routes. Order matters where paths overlap:
/// `/threads/runs` before `/threads/{thread_id}`.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config
        .service(assistants::list)
        .service(assistants::retrieve)
        .service(runs::create_thread_and_run)
        .service(threads::create)
        .service(threads::list)
        .service(threads::retrieve)
        .service(threads::modify)
        .service(threads::delete)
        .service(messages::list)
        .service(messages::create)
        .service(messages::retrieve)
        .service(messages::modify)
        .service(messages::delete)
        .service(runs::list)
        .service(runs::create)
        .service(runs::retrieve)
        .service(runs::modify)
        .service(runs::cancel)
        .service(runs::submit_tool_outputs)
        .service(runs::list_steps)
        .service(runs::retrieve_step);
}
