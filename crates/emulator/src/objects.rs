//! Request parsing and the JSON objects the API returns, in the shapes of the
//! specifications' `*Object` schemas.

use serde_json::{Map, Value, json};

use crate::error::EmulatorError;
use crate::ids::now;

pub(crate) type Body = Map<String, Value>;

/// Parses a JSON object body, in the upstream's words when it is not one.
pub(crate) fn parse_body(raw: &[u8]) -> Result<Body, EmulatorError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::new());
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(EmulatorError::bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
             but what was sent was not valid JSON.)",
        )),
    }
}

/// Refuses keys the operation's request schema does not define.
pub(crate) fn only_keys(body: &Body, allowed: &[&str]) -> Result<(), EmulatorError> {
    match body.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(unknown) => Err(EmulatorError::unknown_argument(unknown)),
        None => Ok(()),
    }
}

pub(crate) fn required_str<'a>(body: &'a Body, key: &str) -> Result<&'a str, EmulatorError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(EmulatorError::missing(key)),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(type_error(key, "a string")),
    }
}

pub(crate) fn optional_str<'a>(
    body: &'a Body,
    key: &str,
) -> Result<Option<&'a str>, EmulatorError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(type_error(key, "a string")),
    }
}

pub(crate) fn optional_array<'a>(
    body: &'a Body,
    key: &str,
) -> Result<Option<&'a Vec<Value>>, EmulatorError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(type_error(key, "an array")),
    }
}

pub(crate) fn type_error(key: &str, expected: &str) -> EmulatorError {
    EmulatorError::invalid_param(
        key,
        format!("Invalid type for '{key}': expected {expected}."),
    )
}

/// `metadata`: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters.
pub(crate) fn metadata(body: &Body) -> Result<Value, EmulatorError> {
    match body.get("metadata") {
        None | Some(Value::Null) => Ok(json!({})),
        Some(Value::Object(pairs)) => {
            if pairs.len() > 16 {
                return Err(EmulatorError::invalid_param(
                    "metadata",
                    "Invalid 'metadata': too many properties. Expected an object with at most 16 properties.",
                ));
            }
            for (key, value) in pairs {
                let valid = key.chars().count() <= 64
                    && value.as_str().is_some_and(|v| v.chars().count() <= 512);
                if !valid {
                    return Err(EmulatorError::invalid_param(
                        "metadata",
                        format!(
                            "Invalid 'metadata.{key}': keys are strings of at most 64 characters and values strings of at most 512."
                        ),
                    ));
                }
            }
            Ok(Value::Object(pairs.clone()))
        }
        Some(_) => Err(type_error("metadata", "an object")),
    }
}

/// Tools as given, checked for shape: `code_interpreter`, `file_search`, or
/// `function` with a `function.name`.
pub(crate) fn tools(body: &Body) -> Result<Option<Vec<Value>>, EmulatorError> {
    let Some(tools) = optional_array(body, "tools")? else {
        return Ok(None);
    };
    if tools.len() > 128 {
        return Err(EmulatorError::invalid_param(
            "tools",
            "Invalid 'tools': at most 128 tools.",
        ));
    }
    for (index, tool) in tools.iter().enumerate() {
        match tool["type"].as_str() {
            Some("code_interpreter" | "file_search") => {}
            Some("function") if tool["function"]["name"].is_string() => {}
            Some("function") => {
                return Err(EmulatorError::missing(&format!(
                    "tools[{index}].function.name"
                )));
            }
            _ => {
                return Err(EmulatorError::invalid_param(
                    &format!("tools[{index}].type"),
                    format!(
                        "Invalid value for 'tools[{index}].type': expected one of code_interpreter, file_search, function."
                    ),
                ));
            }
        }
    }
    Ok(Some(tools.clone()))
}

/// Message content: a string, or an array of `text`, `image_file` and
/// `image_url` parts, returned in the stored shape.
pub(crate) fn message_content(content: Option<&Value>) -> Result<Vec<Value>, EmulatorError> {
    match content {
        None | Some(Value::Null) => Err(EmulatorError::missing("content")),
        Some(Value::String(text)) => Ok(vec![text_part(text, Vec::new())]),
        Some(Value::Array(parts)) if !parts.is_empty() => parts
            .iter()
            .enumerate()
            .map(|(index, part)| match part["type"].as_str() {
                Some("text") => part["text"]
                    .as_str()
                    .map(|text| text_part(text, Vec::new()))
                    .ok_or_else(|| EmulatorError::missing(&format!("content[{index}].text"))),
                Some("image_file") if part["image_file"]["file_id"].is_string() => {
                    Ok(json!({"type": "image_file", "image_file": part["image_file"]}))
                }
                Some("image_url") if part["image_url"]["url"].is_string() => {
                    Ok(json!({"type": "image_url", "image_url": part["image_url"]}))
                }
                _ => Err(EmulatorError::invalid_param(
                    &format!("content[{index}]"),
                    format!(
                        "Invalid 'content[{index}]': expected a text, image_file or image_url part."
                    ),
                )),
            })
            .collect(),
        Some(_) => Err(type_error(
            "content",
            "a string or an array of content parts",
        )),
    }
}

pub(crate) fn text_part(text: &str, annotations: Vec<Value>) -> Value {
    json!({"type": "text", "text": {"value": text, "annotations": annotations}})
}

/// The text of a message's content parts, joined.
pub(crate) fn text_of(message: &Value) -> String {
    message["content"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|part| part["text"]["value"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// File ids a message names in `attachments` and `image_file` parts.
pub(crate) fn attachment_file_ids(
    attachments: &[Value],
) -> Result<Vec<(String, Vec<String>)>, EmulatorError> {
    attachments
        .iter()
        .enumerate()
        .map(|(index, attachment)| {
            let file_id = attachment["file_id"]
                .as_str()
                .ok_or_else(|| EmulatorError::missing(&format!("attachments[{index}].file_id")))?;
            let tools = attachment["tools"]
                .as_array()
                .map(|tools| {
                    tools
                        .iter()
                        .filter_map(|tool| tool["type"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Ok((file_id.to_owned(), tools))
        })
        .collect()
}

pub(crate) fn assistant(
    id: &str,
    body: &Body,
    tool_resources: Value,
) -> Result<Value, EmulatorError> {
    Ok(json!({
        "id": id,
        "object": "assistant",
        "created_at": now(),
        "name": optional_str(body, "name")?,
        "description": optional_str(body, "description")?,
        "model": required_str(body, "model")?,
        "instructions": optional_str(body, "instructions")?,
        "tools": tools(body)?.unwrap_or_default(),
        "tool_resources": tool_resources,
        "metadata": metadata(body)?,
        "temperature": body.get("temperature").filter(|v| !v.is_null()).cloned().unwrap_or(json!(1.0)),
        "top_p": body.get("top_p").filter(|v| !v.is_null()).cloned().unwrap_or(json!(1.0)),
        "response_format": body.get("response_format").filter(|v| !v.is_null()).cloned().unwrap_or(json!("auto")),
    }))
}

pub(crate) fn thread(id: &str, metadata: Value, tool_resources: Value) -> Value {
    json!({
        "id": id,
        "object": "thread",
        "created_at": now(),
        "metadata": metadata,
        "tool_resources": tool_resources,
    })
}

pub(crate) struct NewMessage<'a> {
    pub id: &'a str,
    pub thread_id: &'a str,
    pub role: &'a str,
    pub content: Vec<Value>,
    pub attachments: Value,
    pub metadata: Value,
    pub assistant_id: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub status: &'a str,
}

pub(crate) fn message(new: NewMessage<'_>) -> Value {
    let created_at = now();
    json!({
        "id": new.id,
        "object": "thread.message",
        "created_at": created_at,
        "assistant_id": new.assistant_id,
        "thread_id": new.thread_id,
        "run_id": new.run_id,
        "role": new.role,
        "content": new.content,
        "attachments": new.attachments,
        "metadata": new.metadata,
        "status": new.status,
        "incomplete_details": null,
        "completed_at": if new.status == "completed" { json!(created_at) } else { Value::Null },
        "incomplete_at": null,
    })
}

pub(crate) fn file(id: &str, filename: &str, purpose: &str, bytes: usize) -> Value {
    json!({
        "id": id,
        "object": "file",
        "bytes": bytes,
        "created_at": now(),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    })
}

pub(crate) fn file_counts(completed: usize) -> Value {
    json!({"in_progress": 0, "completed": completed, "failed": 0, "cancelled": 0, "total": completed})
}

pub(crate) fn vector_store(
    id: &str,
    name: Option<&str>,
    metadata: Value,
    expires_after: Option<&Value>,
) -> Value {
    let created_at = now();
    let mut object = json!({
        "id": id,
        "object": "vector_store",
        "created_at": created_at,
        "name": name.unwrap_or(""),
        "usage_bytes": 0,
        // Azure's schema names the same figure `bytes` (and requires it).
        "bytes": 0,
        "file_counts": file_counts(0),
        "status": "completed",
        "expires_at": null,
        "last_active_at": created_at,
        "metadata": metadata,
    });
    if let Some(expires_after) = expires_after {
        object["expires_after"] = expires_after.clone();
    }
    object
}

pub(crate) fn vector_store_file(
    file_id: &str,
    vector_store_id: &str,
    bytes: usize,
    attributes: Value,
) -> Value {
    json!({
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": bytes,
        "created_at": now(),
        "vector_store_id": vector_store_id,
        "status": "completed",
        "last_error": null,
        "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
        "attributes": attributes,
    })
}

pub(crate) fn deleted(id: &str, object: &str) -> Value {
    json!({"id": id, "object": object, "deleted": true})
}
