//! The Azure-shaped surface: every `/v1` route also answers under
//! `/openai/...` with `api-version`, so `AzureOpenAI(azure_endpoint=...)`
//! clients work unchanged. Same table, same handlers; this module checks
//! the version before anything else looks at the request, gives error
//! bodies Azure's spelling on the way out, and holds the few answer shapes
//! in which the two specifications differ ([`Surface`]), so each surface
//! answers in its own whichever flavour the upstream speaks.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use crate::ApiError;

/// Where the Azure surface lives.
pub const PREFIX: &str = "/openai";
/// Where Azure's v1 API lives: OpenAI's API as it is (no `api-version`,
/// OpenAI's shapes), for `OpenAI(base_url=".../openai/v1/")` clients.
pub const V1_PREFIX: &str = "/openai/v1";

/// The prefixes every row of the operation table is served under.
pub const SURFACES: [&str; 3] = ["/v1", V1_PREFIX, PREFIX];

/// The Azure OpenAI `api-version`s with the Assistants v2 API this surface
/// serves (the data-plane inference versions that have it).
pub const API_VERSIONS: &[&str] = &[
    "2024-05-01-preview",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
];

/// The path the router routes: percent-encoded characters other than
/// `/`, `%` and `+` decoded (`/%761/threads` is `/v1/threads`). Every
/// decision made by path (surface, limits, idempotency) reads this one,
/// never the spelling the client sent, or a spelling would slip past it.
pub fn routed_path(request: &HttpRequest) -> &str {
    request.match_info().as_str()
}

/// Refuses an Azure-surface request without a supported `api-version`.
pub async fn api_version(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if Surface::of_path(routed_path(request.request())) != Surface::Azure {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let version = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "api-version")
        .map(|(_, value)| value.into_owned());
    let refusal = match version.as_deref() {
        Some(version) if API_VERSIONS.contains(&version) => None,
        Some(_) => Some("API version not supported"),
        None => Some("Missing required query parameter: api-version"),
    };
    let response = match refusal {
        None => next.call(request).await?.map_into_boxed_body(),
        Some(message) => request
            .error_response(ApiError::bad_request(message, Some("api-version")))
            .map_into_boxed_body(),
    };
    if response.status().is_success() {
        // Answers (and streams) pass as they are, never buffered.
        return Ok(response);
    }
    let (request, response) = response.into_parts();
    Ok(ServiceResponse::new(
        request,
        in_azure_spelling(response).await,
    ))
}

/// Azure's error bodies carry `code` as a string (the status when there is
/// no specific code) and leave absent fields out rather than sending `null`.
async fn in_azure_spelling(response: HttpResponse<BoxBody>) -> HttpResponse<BoxBody> {
    let status = response.status();
    let (head, body) = response.into_parts();
    let Ok(bytes) = actix_web::body::to_bytes(body).await else {
        return head.set_body(BoxBody::new(())).map_into_boxed_body();
    };
    let Ok(mut error) = serde_json::from_slice::<Value>(&bytes) else {
        return head.set_body(BoxBody::new(bytes));
    };
    if let Some(detail) = error.get_mut("error").and_then(Value::as_object_mut) {
        detail.retain(|_, value| !value.is_null());
        detail
            .entry("code")
            .or_insert_with(|| Value::String(status.as_u16().to_string()));
    }
    head.set_body(BoxBody::new(error.to_string()))
}

/// The shapes a request's surface speaks: OpenAI's (on `/v1` and Azure's
/// v1 API) or Azure's classic (`/openai`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    OpenAi,
    Azure,
}

/// A run step's `object` in each specification.
const RUN_STEP_OBJECTS: [&str; 2] = ["thread.run.step", "assistant.run.step"];

impl Surface {
    pub fn of(request: &HttpRequest) -> Self {
        Self::of_path(routed_path(request))
    }

    /// `/openai/...` is Azure's classic surface; `/v1/...` and Azure's v1
    /// API (`/openai/v1/...`) speak OpenAI's shapes.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with(&format!("{PREFIX}/")) && !path.starts_with(&format!("{V1_PREFIX}/")) {
            Surface::Azure
        } else {
            Surface::OpenAi
        }
    }

    /// The status of a successful upload: OpenAI's `createFile` answers 200,
    /// Azure's `uploadFile` 201 Created.
    pub fn upload_status(self) -> StatusCode {
        match self {
            Surface::OpenAi => StatusCode::OK,
            Surface::Azure => StatusCode::CREATED,
        }
    }

    /// OpenAI names a run step `thread.run.step`, Azure `assistant.run.step`.
    fn run_step_object(self) -> &'static str {
        match self {
            Surface::OpenAi => RUN_STEP_OBJECTS[0],
            Surface::Azure => RUN_STEP_OBJECTS[1],
        }
    }

    /// Puts an upstream answer (an object, a list of them, or a streamed
    /// event's data) in this surface's shapes. Only the `object` of a run
    /// step differs, and only a known position is read: the answer itself,
    /// or the items of a list.
    pub fn shape(self, answer: &mut Value) {
        if answer["object"] == "list" {
            if let Some(items) = answer["data"].as_array_mut() {
                items.iter_mut().for_each(|item| self.shape_object(item));
            }
        } else {
            self.shape_object(answer);
        }
    }

    fn shape_object(self, object: &mut Value) {
        match object["object"].as_str() {
            Some(name) if RUN_STEP_OBJECTS.contains(&name) => {
                object["object"] = Value::from(self.run_step_object());
            }
            Some("model") => self.shape_model(object),
            _ => {}
        }
    }

    /// OpenAI's model is `{id, object, created, owned_by}`; Azure's (its
    /// authoring API's) has `created_at` and, from an Azure upstream, its
    /// status, capabilities, lifecycle and deprecation. `/v1` answers
    /// OpenAI's shape exactly (`owned_by` is `system`, as for OpenAI's own
    /// models, where the upstream names no owner); `/openai` answers what
    /// the upstream knows under Azure's names.
    fn shape_model(self, model: &mut Value) {
        let Some(fields) = model.as_object_mut() else {
            return;
        };
        let created = fields
            .get("created")
            .or_else(|| fields.get("created_at"))
            .cloned()
            .unwrap_or(Value::Null);
        match self {
            Surface::OpenAi => {
                let owner = fields
                    .get("owned_by")
                    .cloned()
                    .unwrap_or_else(|| Value::from("system"));
                let mut shaped = serde_json::Map::new();
                shaped.insert(
                    "id".to_owned(),
                    fields.get("id").cloned().unwrap_or_default(),
                );
                shaped.insert("object".to_owned(), Value::from("model"));
                shaped.insert("created".to_owned(), created);
                shaped.insert("owned_by".to_owned(), owner);
                *fields = shaped;
            }
            Surface::Azure => {
                fields.remove("created");
                fields.remove("owned_by");
                fields.insert("created_at".to_owned(), created);
            }
        }
    }
}

/// The path below the surface it came in on (`/v1`, `/openai/v1` or `/openai`).
pub fn below_surface(path: &str) -> Option<&str> {
    SURFACES.iter().find_map(|surface| {
        path.strip_prefix(surface)
            .filter(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_surface_names_run_steps_its_own_way_whatever_the_upstream_said() {
        for upstream in RUN_STEP_OBJECTS {
            let mut step = json!({"id": "step_1", "object": upstream});
            Surface::Azure.shape(&mut step);
            assert_eq!(step["object"], "assistant.run.step");
            let mut list = json!({"object": "list", "data": [{"object": upstream}]});
            Surface::OpenAi.shape(&mut list);
            assert_eq!(list["data"][0]["object"], "thread.run.step");
        }
    }

    #[test]
    fn models_carry_each_surfaces_timestamp_name() {
        let from_azure =
            json!({"id": "gpt-4o", "object": "model", "created_at": 7, "status": "succeeded"});
        let mut list = json!({"object": "list", "data": [from_azure]});
        Surface::OpenAi.shape(&mut list);
        let model = &list["data"][0];
        assert_eq!(model["created"], 7);
        assert_eq!(model["owned_by"], "system");
        assert!(model.get("created_at").is_none());

        let mut from_openai =
            json!({"id": "gpt-4o", "object": "model", "created": 7, "owned_by": "system"});
        Surface::Azure.shape(&mut from_openai);
        assert_eq!(
            from_openai,
            json!({"id": "gpt-4o", "object": "model", "created_at": 7})
        );
    }

    #[test]
    fn other_objects_and_echoed_content_are_left_alone() {
        let mut message = json!({
            "object": "thread.message",
            "metadata": {"object": "thread.run.step"},
            "content": [{"object": "thread.run.step"}],
        });
        let before = message.clone();
        Surface::Azure.shape(&mut message);
        assert_eq!(message, before);
    }
}
