//! Threadgate's HTTP API.
//!
//! A request reads top to bottom: [`auth::Caller`] authenticates it,
//! [`gateway::Exchange`] resolves and authorizes every id it names (the one
//! mechanism all routes share), the upstream client is called, new objects
//! are recorded, and the answer goes back in OpenAI's shapes. [`ApiError`] is
//! the one place where failures become HTTP statuses.
//!
//! The OpenAPI document ([`openapi`]) is collected from the same route
//! registrations as the running app, so the committed spec cannot drift.

pub mod audit;
pub mod auth;
pub mod azure;
mod docs;
pub mod erasure;
mod error;
pub mod faults;
pub mod gateway;
mod health;
pub mod idempotency;
pub mod issuers;
pub mod observe;
pub mod organization;
pub mod policy;
pub mod quota;
pub mod request_id;
pub mod routes;
pub mod sharing;
mod state;

use actix_web::{middleware, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use state::AppState;

/// Top-level description of the API; paths are added by [`routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Threadgate",
        description = "A multi-tenant conversation service: the OpenAI Assistants v2 API, scoped to the caller. \
Authenticate with a bearer token from your identity provider, or a tenant API key \
(`tg_…`, optionally with `Threadgate-On-Behalf-Of: <subject>`). Ids that are not the \
caller's answer 404, exactly like ids that never existed.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "Assistants", description = "The tenant's assistants."),
        (name = "Threads", description = "The caller's threads."),
        (name = "Messages", description = "Messages of the caller's threads."),
        (name = "Runs", description = "Runs and run steps of the caller's threads."),
        (name = "Files", description = "The caller's files (admins: also the tenant's)."),
        (name = "Vector stores", description = "The caller's vector stores, their files and batches."),
        (name = "Models", description = "The models of the caller's upstream."),
        (name = "Conversations", description = "The caller's conversations and their items (the Conversations API)."),
        (name = "Responses", description = "The caller's responses (the Responses API, the Assistants API's successor)."),
        (name = "Containers", description = "The caller's containers (code interpreter's sandboxes) and their files."),
        (name = "Organization", description = "The tenant's administration, for its admins only."),
        (name = "operations", description = "Liveness, readiness and this document.")
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        routes::schemas::AssistantObject,
        routes::schemas::AssistantRequest,
        organization::policy::Policy,
        organization::policy::PolicyRequest,
        organization::users::UserUpdate,
        organization::api_keys::ApiKeyRequest,
        sharing::ShareRequest,
        issuers::IssuerSpec,
        routes::schemas::CompactionObject,
        routes::schemas::ContainerFileObject,
        routes::schemas::ContainerObject,
        routes::schemas::CreateContainerFileRequest,
        routes::schemas::CreateContainerRequest,
        routes::schemas::ConversationItem,
        routes::schemas::ConversationObject,
        routes::schemas::CreateConversationItemsRequest,
        routes::schemas::CreateConversationRequest,
        routes::schemas::CreateResponseRequest,
        routes::schemas::InputTokenCount,
        routes::schemas::ResponseObject,
        routes::schemas::UpdateConversationRequest,
        routes::schemas::CreateMessageRequest,
        routes::schemas::CreateRunRequest,
        routes::schemas::CreateThreadAndRunRequest,
        routes::schemas::CreateThreadRequest,
        routes::schemas::DeletionStatus,
        routes::schemas::FileContentPage,
        routes::schemas::FileBatchObject,
        routes::schemas::FileBatchRequest,
        routes::schemas::FileObject,
        routes::schemas::ListObject,
        routes::schemas::MessageObject,
        routes::schemas::ModelList,
        routes::schemas::ModelObject,
        routes::schemas::ModifyRequest,
        routes::schemas::RunObject,
        routes::schemas::RunStepObject,
        routes::schemas::SearchRequest,
        routes::schemas::SearchResultsPage,
        routes::schemas::StreamEvent,
        routes::schemas::SubmitToolOutputsRequest,
        routes::schemas::ThreadObject,
        routes::schemas::ToolOutput,
        routes::schemas::UploadFileRequest,
        routes::schemas::VectorStoreFileObject,
        routes::schemas::VectorStoreFileRequest,
        routes::schemas::VectorStoreObject,
        routes::schemas::VectorStoreRequest,
    ))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An identity provider's token (JWT), or a tenant API key.",
                    ))
                    .build(),
            ),
        );
        // Azure's clients send the same credentials in `api-key`.
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "api-key",
                    "The same credential as the bearer one (a tenant API key or a token), as Azure's clients send it.",
                ),
            )),
        );
    }
}

/// Registers the operational routes (health, this document) and the
/// tenant administration API. The same
/// function feeds the running app and the OpenAPI document.
fn operational_routes(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
    config
        .service(health::healthz)
        .service(health::readyz)
        .service(docs::openapi_json)
        .service(docs::docs_page)
        .service(organization::policy::get_policy)
        .service(organization::policy::update_policy)
        .service(organization::users::list_users)
        .service(organization::users::retrieve_user)
        .service(organization::users::modify_user)
        .service(organization::users::erase_user)
        .service(organization::users::retrieve_erasure)
        .service(organization::issuers::list_issuers)
        .service(organization::issuers::create_issuer)
        .service(organization::issuers::remove_issuer)
        .service(organization::api_keys::list_api_keys)
        .service(organization::api_keys::create_api_key)
        .service(organization::api_keys::revoke_api_key)
        .service(organization::audit_logs::list_audit_logs)
        .service(organization::audit_logs::export_audit_logs)
        .service(organization::audit_logs::verify_audit_logs)
        .service(organization::usage::list_usage)
        .service(sharing::share_thread)
        .service(sharing::list_thread_shares)
        .service(sharing::revoke_thread_share)
        .service(sharing::share_conversation)
        .service(sharing::list_conversation_shares)
        .service(sharing::revoke_conversation_share);
}

/// How large a request body may be.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_json_body_bytes: usize,
    /// Largest file upload; larger ones answer 413.
    pub max_upload_bytes: usize,
}

/// Everything the running app needs from this crate: request parsing, the
/// routes, `Cache-Control: no-store` on conversation answers, and OpenAI's
/// answer for paths no route matches.
pub fn configure(limits: RequestLimits) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |config| {
        config
            .app_data(error::json_config(limits.max_json_body_bytes))
            .app_data(error::query_config())
            .app_data(error::path_config())
            .app_data(web::Data::new(limits));
        operational_routes(&mut utoipa_actix_web::service_config::ServiceConfig::new(
            config,
        ));
        routes::configure(config);
        config.service(docs::swagger_ui());
        config.default_service(web::to(error::unknown_route));
    }
}

/// Middleware every app wraps: request ids, and no caching of conversations.
pub fn no_store() -> middleware::DefaultHeaders {
    middleware::DefaultHeaders::new().add(("Cache-Control", "no-store"))
}

/// The OpenAPI document of every route [`configure`] registers: the
/// operational routes' own annotations, and the operation table's rows.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_app, mut document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(operational_routes)
        .split_for_parts();
    document.paths.merge(routes::document::paths());
    document_unauthorized(&mut document);
    document_idempotency_key(&mut document);
    document_on_behalf_of(&mut document);
    document
}

/// Every `/v1` operation takes `Threadgate-On-Behalf-Of` from a tenant API
/// key that may act for users; said once here rather than on every route.
fn document_on_behalf_of(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, RefOr, Required, Type};

    let parameter = ParameterBuilder::new()
        .name(auth::ON_BEHALF_OF_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "With a tenant API key created to act on behalf of users: the end-user \
             (their identity provider's subject) the request is for. Refused with \
             any other credential.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255)),
        ))
        .build();
    let misused = utoipa::openapi::ResponseBuilder::new()
        .description(
            "The request is malformed (here: Threadgate-On-Behalf-Of from a credential \
             that may not act for users)",
        )
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for (path, item) in document.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for operation in [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
        {
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(parameter.clone()));
            operation
                .responses
                .responses
                .entry("400".to_owned())
                .or_insert_with(|| misused.clone().into());
        }
    }
}

/// Every `POST` under `/v1` takes `Idempotency-Key` ([`idempotency`]; an
/// upload's request is its purpose and file name); said once here rather
/// than on every route.
fn document_idempotency_key(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, RefOr, Required, Type};

    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Retrying with the same key and body returns the first successful answer \
             (with `Idempotent-Replayed: true`) instead of repeating the request.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255)),
        ))
        .build();
    let malformed_key = utoipa::openapi::ResponseBuilder::new()
        .description("The request is malformed (here: the Idempotency-Key header)")
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for (path, item) in document.paths.paths.iter_mut() {
        let Some(operation) = item.post.as_mut() else {
            continue;
        };
        if path.starts_with("/v1/") {
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(parameter.clone()));
            // A malformed key is refused before anything else.
            operation
                .responses
                .responses
                .entry("400".to_owned())
                .or_insert_with(|| malformed_key.clone().into());
        }
    }
}

/// Every operation that needs a credential can answer 401; said once here
/// rather than on every route.
fn document_unauthorized(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    let unauthorized = ResponseBuilder::new()
        .description(r#"The credential is missing, invalid or expired (`WWW-Authenticate: Bearer error="invalid_token"`)"#)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in document.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
        {
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                operation
                    .responses
                    .responses
                    .insert("401".to_owned(), unauthorized.clone().into());
            }
        }
    }
}
