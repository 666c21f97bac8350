//! Error answers in the upstream's shapes.
//!
//! Assistants, files and vector store errors use OpenAI's body on both
//! flavours: `{"error": {"message", "type", "param", "code"}}`. Azure's front
//! door (auth, api-version) and its content filter answer in Azure's own
//! spelling, built by [`azure_body`].

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub(crate) enum EmulatorError {
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
}

impl EmulatorError {
    pub(crate) fn not_found(kind: &str, id: &str) -> Self {
        EmulatorError::NotFound {
            message: format!("No {kind} found with id '{id}'."),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        EmulatorError::BadRequest {
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub(crate) fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        EmulatorError::BadRequest {
            message: message.into(),
            param: Some(param.to_owned()),
            code: None,
        }
    }

    pub(crate) fn missing(param: &str) -> Self {
        EmulatorError::BadRequest {
            message: format!("Missing required parameter: '{param}'."),
            param: Some(param.to_owned()),
            code: Some("missing_required_parameter"),
        }
    }

    pub(crate) fn unknown_argument(param: &str) -> Self {
        EmulatorError::BadRequest {
            message: format!("Unrecognized request argument supplied: {param}"),
            param: None,
            code: None,
        }
    }
}

pub(crate) fn openai_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

/// Azure's front-door spelling: `{"error": {"code": "401", "message": …}}`.
pub(crate) fn azure_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

impl ResponseError for EmulatorError {
    fn status_code(&self) -> StatusCode {
        match self {
            EmulatorError::NotFound { .. } => StatusCode::NOT_FOUND,
            EmulatorError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            EmulatorError::NotFound { message } => {
                openai_body(message, "invalid_request_error", None, None)
            }
            EmulatorError::BadRequest {
                message,
                param,
                code,
            } => openai_body(message, "invalid_request_error", param.as_deref(), *code),
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}

/// What the upstream says for a path it does not serve.
pub(crate) async fn unknown_route(request: HttpRequest) -> HttpResponse {
    if request.path().starts_with("/openai") {
        return HttpResponse::NotFound().json(azure_body("404", "Resource not found"));
    }
    HttpResponse::NotFound().json(openai_body(
        &format!("Invalid URL ({} {})", request.method(), request.path()),
        "invalid_request_error",
        None,
        None,
    ))
}
