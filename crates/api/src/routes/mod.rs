//! The `/v1` routes: the Assistants v2 surface, scoped to the caller.

// utoipa's path macros repeat extractor types with their full paths.
#![allow(unused_qualifications)]

pub mod assistants;
mod common;
pub mod files;
pub mod messages;
pub mod runs;
pub mod schemas;
pub mod threads;
pub mod vector_stores;

pub use common::ListParams;

/// Registers the `/v1` routes. Order matters where paths overlap:
/// `/threads/runs` before `/threads/{thread_id}`.
pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config
        .service(assistants::list)
        .service(assistants::create)
        .service(assistants::retrieve)
        .service(assistants::modify)
        .service(assistants::delete)
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
        .service(runs::retrieve_step)
        .service(files::upload)
        .service(files::list)
        .service(files::retrieve)
        .service(files::delete)
        .service(files::content)
        .service(vector_stores::create)
        .service(vector_stores::list)
        .service(vector_stores::retrieve)
        .service(vector_stores::modify)
        .service(vector_stores::delete)
        .service(vector_stores::search)
        .service(vector_stores::list_files)
        .service(vector_stores::add_file)
        .service(vector_stores::retrieve_file)
        .service(vector_stores::update_file)
        .service(vector_stores::remove_file)
        .service(vector_stores::file_content)
        .service(vector_stores::create_batch)
        .service(vector_stores::retrieve_batch)
        .service(vector_stores::cancel_batch)
        .service(vector_stores::list_batch_files);
}
