//! The OpenAPI paths of the operation table: each row becomes one operation
//! with the parameters, body and answers the row implies.

use utoipa::IntoParams;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Paths, Ref, Required, ResponseBuilder, Type};

use super::common::{
    ListParams, PurposeFilter, ResumeParams, RunFilter, SharedFilter, StatusFilter,
};
use super::files::OWNER_HEADER;
use super::table::{Body, Filter, Query, ROUTES, Route, Serves, Verb};

/// Every `/v1` operation, as the table serves it.
pub fn paths() -> Paths {
    let mut paths = Paths::new();
    for route in ROUTES {
        let method = match route.verb {
            Verb::Get => HttpMethod::Get,
            Verb::Post => HttpMethod::Post,
            Verb::Delete => HttpMethod::Delete,
        };
        paths.add_path_operation(route.public_path(), vec![method], operation(route));
    }
    paths
}

fn operation(route: &Route) -> Operation {
    let mut operation = OperationBuilder::new()
        .tag(route.doc.tag)
        .summary(Some(route.doc.summary))
        .operation_id(Some(route.operation_id))
        .parameters(Some(parameters(route)))
        .security(SecurityRequirement::new::<_, _, String>("bearer", []))
        .security(SecurityRequirement::new::<_, _, String>("api_key", []));
    let body = match route.body {
        Body::None => None,
        Body::Json(schema) => Some(("application/json", schema)),
        Body::Multipart(schema) => Some(("multipart/form-data", schema)),
    };
    if let Some((content_type, schema)) = body {
        let mut content = json_of(schema);
        if let Some(example) = route.doc.example {
            // The table's own text: a bad example fails the document's tests.
            content.example = serde_json::from_str(example).ok();
        }
        operation = operation.request_body(Some(
            RequestBodyBuilder::new()
                .content(content_type, content)
                .required(Some(Required::True))
                .build(),
        ));
    }
    let success = ResponseBuilder::new().description(
        route
            .doc
            .answer_says
            .unwrap_or_else(|| success_description(route)),
    );
    let success = match route.doc.answer {
        Some(schema) if route.streams() => success
            .content("application/json", json_of(schema))
            .content("text/event-stream", json_of("StreamEvent")),
        Some(_) if route.doc.items.is_some() => success.content(
            "application/json",
            list_of(route.doc.items.unwrap_or_default()),
        ),
        Some(schema) => success.content("application/json", json_of(schema)),
        None if route.doc.empty => success,
        None => success.content("application/octet-stream", ContentBuilder::new().build()),
    };
    operation = operation.response("200", success.build());
    for (status, says) in errors(route) {
        operation = operation.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(says.unwrap_or_else(|| error_description(status)))
                .content("application/json", json_of("ErrorBody"))
                .build(),
        );
    }
    // What any operation can meet on its way to the upstream and back.
    for (status, says, retry_after) in UPSTREAM_TROUBLE {
        let mut answer = ResponseBuilder::new()
            .description(*says)
            .content("application/json", json_of("ErrorBody"));
        if *retry_after {
            answer = answer.header("Retry-After", retry_after_header());
        }
        operation = operation.response(status.to_string(), answer.build());
    }
    operation.build()
}

/// Failures every operation can answer, and whether they say when to retry.
const UPSTREAM_TROUBLE: &[(u16, &str, bool)] = &[
    (
        429,
        "The upstream's rate limit: retry after Retry-After seconds",
        true,
    ),
    (502, "The upstream failed to process the request", false),
    (
        503,
        "The upstream or the database is unavailable: retry after Retry-After seconds",
        true,
    ),
    (
        504,
        "The upstream did not answer in time (for a change: it may have happened)",
        false,
    ),
];

fn retry_after_header() -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
        .description(Some("Seconds to wait before retrying."))
        .build()
}

/// The list envelope with its `data` typed.
fn list_of(item: &str) -> utoipa::openapi::Content {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType};
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let envelope = ObjectBuilder::new()
        .property("object", text().description(Some("Always `list`.")))
        .property(
            "data",
            ArrayBuilder::new().items(Ref::from_schema_name(item)),
        )
        .property(
            "first_id",
            ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
        )
        .property(
            "last_id",
            ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
        )
        .property("has_more", ObjectBuilder::new().schema_type(Type::Boolean))
        .required("object")
        .required("data")
        .required("has_more");
    ContentBuilder::new().schema(Some(envelope)).build()
}

fn json_of(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

/// The failures a route documents beside 401 (said once for all).
fn errors(route: &Route) -> Vec<(u16, Option<&'static str>)> {
    if !route.doc.errors.is_empty() {
        return route.doc.errors.to_vec();
    }
    let mut errors = Vec::new();
    if route.body != Body::None || route.query != Query::None {
        errors.push((400, None));
    }
    if route.names_an_object() {
        errors.push((404, None));
    }
    errors
}

fn success_description(route: &Route) -> &'static str {
    match route.serves {
        Serves::Delete { .. } => "Deleted",
        Serves::List { .. } => "A page of the list",
        Serves::Create { .. } => "The new object",
        _ if route.doc.answer == Some("ListObject") => "A page of the list",
        _ if route.doc.answer == Some("DeletionStatus") => "Deleted",
        _ => "The object",
    }
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "The request is malformed or names more ids than allowed",
        403 => "Only a tenant admin may do this",
        404 => "No such object, or not the caller's (the same answer)",
        413 => "The body is too large",
        _ => "The request failed",
    }
}

fn parameters(route: &Route) -> Vec<Parameter> {
    let mut parameters: Vec<Parameter> = route
        .parameters()
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .description(Some(path_description(name)))
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build()
        })
        .collect();
    let query = || Some(ParameterIn::Query);
    match route.query {
        Query::None => {}
        Query::Page => parameters.extend(ListParams::into_params(query)),
        Query::Resume => parameters.extend(ResumeParams::into_params(query)),
        Query::PageAnd(filter) => {
            parameters.extend(ListParams::into_params(query));
            parameters.extend(match filter {
                Filter::RunId => RunFilter::into_params(query),
                Filter::Status => StatusFilter::into_params(query),
                Filter::Purpose => PurposeFilter::into_params(query),
                Filter::Shared => SharedFilter::into_params(query),
            });
        }
    }
    if let Some(says) = route.doc.owner_header {
        parameters.push(
            ParameterBuilder::new()
                .name(OWNER_HEADER)
                .parameter_in(ParameterIn::Header)
                .description(Some(says))
                .required(Required::False)
                .schema(Some(ObjectBuilder::new().schema_type(
                    utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]),
                )))
                .build(),
        );
    }
    parameters
}

fn path_description(name: &str) -> &'static str {
    match name {
        "assistant_id" => "The assistant",
        "thread_id" => "The thread",
        "message_id" => "The message",
        "run_id" => "The run",
        "step_id" => "The step",
        "file_id" => "The file",
        "vector_store_id" => "The vector store",
        "batch_id" => "The batch",
        "conversation_id" => "The conversation",
        "container_id" => "The container",
        "item_id" => "The item",
        "response_id" => "The response",
        other => unreachable!("no route names a parameter called {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_is_json() {
        for route in ROUTES {
            if let Some(example) = route.doc.example {
                let parsed: Result<serde_json::Value, _> = serde_json::from_str(example);
                assert!(parsed.is_ok(), "{}: {example}", route.operation_id);
            }
        }
    }

    #[test]
    fn the_document_describes_each_row_once_and_nothing_else() {
        let document = crate::openapi();
        let mut described = 0;
        for (path, item) in &document.paths.paths {
            let Some(below) = path.strip_prefix("/v1") else {
                continue;
            };
            // The administration API and sharing document themselves
            // (crate::organization, crate::sharing).
            if below.starts_with("/organization/") || below.contains("/shares") {
                continue;
            }
            for (verb, operation) in [
                (Verb::Get, &item.get),
                (Verb::Post, &item.post),
                (Verb::Delete, &item.delete),
            ] {
                let Some(operation) = operation else { continue };
                let route = ROUTES
                    .iter()
                    .find(|route| route.path == below && route.verb == verb)
                    .unwrap_or_else(|| panic!("{path} is documented but not in the table"));
                assert_eq!(operation.operation_id.as_deref(), Some(route.operation_id));
                assert!(
                    operation
                        .responses
                        .responses
                        .values()
                        .all(|response| matches!(response, utoipa::openapi::RefOr::T(r) if !r.description.is_empty())),
                    "{path}: every answer says what it is"
                );
                described += 1;
            }
        }
        assert_eq!(described, ROUTES.len());
    }
}
