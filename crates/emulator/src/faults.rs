//! Injected faults, for tests of clients: per request with the
//! `x-emulator-fault` header, or for the next N matching requests through
//! `POST /_emulator/faults`.
//!
//! Syntax: `kind` or `kind:option=value,option=value`; several faults in one
//! header are separated by `;`.
//!
//! | kind | effect |
//! |---|---|
//! | `429` | 429; options `retry-after-ms`, `x-ms-retry-after-ms`, `retry-after` (seconds), `retry-after-date` (seconds from now, sent as an HTTP date). Without options: `retry-after-ms: 100` and `Retry-After: 1` |
//! | `500`, `503` | that status, with the flavour's body (503 takes the 429 options) |
//! | `latency:ms=N` | waits N ms before answering |
//! | `drop-stream:after=N` | a streamed answer is cut after N events, without `[DONE]` |
//! | `never-finish` | the run stays `in_progress` until cancelled |
//! | `content-filter` | 400 content filter; Azure body with `innererror` (option `spelling=inner_error` for the other spelling) |

use std::time::{Duration, SystemTime};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{azure_body, openai_body};
use crate::state::{State, lock};

/// One fault, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub kind: String,
    pub options: Vec<(String, String)>,
}

impl Fault {
    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn option_u64(&self, name: &str) -> Option<u64> {
        self.option(name).and_then(|value| value.parse().ok())
    }
}

pub(crate) fn parse(spec: &str) -> Result<Vec<Fault>, String> {
    spec.split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (kind, options) = part.split_once(':').unwrap_or((part, ""));
            let options = options
                .split(',')
                .filter(|option| !option.is_empty())
                .map(|option| {
                    option
                        .split_once('=')
                        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                        .ok_or_else(|| format!("fault option `{option}` is not key=value"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let known = [
                "429",
                "500",
                "503",
                "latency",
                "drop-stream",
                "never-finish",
                "content-filter",
            ];
            if !known.contains(&kind) {
                return Err(format!(
                    "unknown fault `{kind}`; known: {}",
                    known.join(", ")
                ));
            }
            Ok(Fault {
                kind: kind.to_owned(),
                options,
            })
        })
        .collect()
}

/// A fault for the next requests that match.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FaultRule {
    /// The fault, in the header's syntax.
    pub fault: String,
    /// How many matching requests get it; every one when absent.
    pub times: Option<u32>,
    /// Only requests whose path contains this.
    pub path: Option<String>,
    /// Only requests with this method.
    pub method: Option<String>,
}

/// Faults a handler must act on itself (streams and runs).
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestFaults {
    pub drop_stream_after: Option<usize>,
    pub never_finish: bool,
}

fn matching_rules(state: &State, request: &ServiceRequest) -> Vec<Fault> {
    let mut rules = lock(&state.faults);
    let mut faults = Vec::new();
    for rule in rules.iter_mut() {
        let path_matches = rule
            .path
            .as_ref()
            .is_none_or(|path| request.path().contains(path.as_str()));
        let method_matches = rule
            .method
            .as_ref()
            .is_none_or(|method| request.method().as_str().eq_ignore_ascii_case(method));
        if !path_matches || !method_matches || rule.times == Some(0) {
            continue;
        }
        if let Some(times) = rule.times.as_mut() {
            *times -= 1;
        }
        faults.extend(parse(&rule.fault).unwrap_or_default());
    }
    rules.retain(|rule| rule.times != Some(0));
    faults
}

pub(crate) async fn inject(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut faults = match request
        .headers()
        .get("x-emulator-fault")
        .and_then(|v| v.to_str().ok())
    {
        Some(spec) => match parse(spec) {
            Ok(faults) => faults,
            Err(problem) => {
                let response = HttpResponse::BadRequest().json(openai_body(
                    &problem,
                    "invalid_request_error",
                    None,
                    None,
                ));
                return Ok(request.into_response(response).map_into_right_body());
            }
        },
        None => Vec::new(),
    };
    if let Some(state) = request.app_data::<web::Data<State>>() {
        faults.extend(matching_rules(state, &request));
    }

    let azure = request.path().starts_with("/openai");
    let mut request_faults = RequestFaults::default();
    for fault in &faults {
        match fault.kind.as_str() {
            "latency" => {
                tokio::time::sleep(Duration::from_millis(fault.option_u64("ms").unwrap_or(100)))
                    .await;
            }
            "drop-stream" => {
                request_faults.drop_stream_after =
                    Some(usize::try_from(fault.option_u64("after").unwrap_or(3)).unwrap_or(3));
            }
            "never-finish" => request_faults.never_finish = true,
            _ => {
                let response = error_response(fault, azure);
                return Ok(request.into_response(response).map_into_right_body());
            }
        }
    }
    request.extensions_mut().insert(request_faults);
    Ok(next.call(request).await?.map_into_left_body())
}

fn error_response(fault: &Fault, azure: bool) -> HttpResponse {
    let (status, body) = match (fault.kind.as_str(), azure) {
        ("429", false) => (
            StatusCode::TOO_MANY_REQUESTS,
            openai_body(
                "Rate limit reached for requests",
                "requests",
                None,
                Some("rate_limit_exceeded"),
            ),
        ),
        ("429", true) => (
            StatusCode::TOO_MANY_REQUESTS,
            azure_body(
                "429",
                "Requests to the Assistants API have exceeded call rate limit. Please retry after 1 second.",
            ),
        ),
        ("500", _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            openai_body(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ),
        ),
        ("503", _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            openai_body(
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
                None,
            ),
        ),
        (_, true) => (
            StatusCode::BAD_REQUEST,
            azure_content_filter(fault.option("spelling")),
        ),
        (_, false) => (
            StatusCode::BAD_REQUEST,
            openai_body(
                "Your request was rejected as a result of our safety system.",
                "invalid_request_error",
                None,
                Some("content_policy_violation"),
            ),
        ),
    };
    let mut response = HttpResponse::build(status);
    if matches!(fault.kind.as_str(), "429" | "503") {
        let explicit = [
            "retry-after-ms",
            "x-ms-retry-after-ms",
            "retry-after",
            "retry-after-date",
        ]
        .iter()
        .any(|name| fault.option(name).is_some());
        if !explicit {
            response.insert_header(("retry-after-ms", "100"));
            response.insert_header(("retry-after", "1"));
        }
        for name in ["retry-after-ms", "x-ms-retry-after-ms", "retry-after"] {
            if let Some(value) = fault.option(name) {
                response.insert_header((name, value.to_owned()));
            }
        }
        if let Some(seconds) = fault.option_u64("retry-after-date") {
            let at = SystemTime::now() + Duration::from_secs(seconds);
            response.insert_header(("retry-after", httpdate(at)));
        }
    }
    response.json(body)
}

fn azure_content_filter(spelling: Option<&str>) -> Value {
    let inner = json!({
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": {
            "hate": {"filtered": true, "severity": "high"},
            "self_harm": {"filtered": false, "severity": "safe"},
            "sexual": {"filtered": false, "severity": "safe"},
            "violence": {"filtered": false, "severity": "safe"},
        },
    });
    let mut error = json!({
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
        "type": null,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
    });
    error[spelling.unwrap_or("innererror")] = inner;
    json!({"error": error})
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as `Retry-After` carries.
fn httpdate(at: SystemTime) -> String {
    actix_web::http::header::HttpDate::from(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_with_options() {
        let faults = parse("429:retry-after-ms=50,retry-after=1; latency:ms=10").unwrap();
        assert_eq!(faults.len(), 2);
        assert_eq!(faults[0].kind, "429");
        assert_eq!(faults[0].option_u64("retry-after-ms"), Some(50));
        assert_eq!(faults[1].option_u64("ms"), Some(10));
        assert!(parse("418").is_err());
        assert!(parse("429:oops").is_err());
    }
}
