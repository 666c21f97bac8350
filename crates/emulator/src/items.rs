//! Items of the Responses and Conversations APIs: what a caller sends as
//! input, stored in the shapes the API answers with (each with an id).

use serde_json::{Value, json};

use crate::error::EmulatorError;
use crate::ids::new_id;

/// The most items one request may add to a conversation.
pub(crate) const MAX_ITEMS_PER_REQUEST: usize = 20;

/// `input` as items: a string is one user message.
pub(crate) fn input_items(input: Option<&Value>) -> Result<Vec<Value>, EmulatorError> {
    match input {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![message("user", &Value::String(text.clone()))?]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| stored(item, &format!("input[{index}]")))
            .collect(),
        Some(_) => Err(EmulatorError::invalid_param(
            "input",
            "Invalid type for 'input': expected a string or an array of input items.",
        )),
    }
}

/// One input item as stored: typed, with an id.
pub(crate) fn stored(item: &Value, location: &str) -> Result<Value, EmulatorError> {
    let Some(fields) = item.as_object() else {
        return Err(EmulatorError::invalid_param(
            location,
            format!("Invalid type for '{location}': expected an object."),
        ));
    };
    // `{role, content}` without a type is a message, as the API reads it.
    let kind = fields
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = fields
                .get("role")
                .and_then(Value::as_str)
                .ok_or_else(|| EmulatorError::missing(&format!("{location}.role")))?;
            if !matches!(role, "user" | "assistant" | "system" | "developer") {
                return Err(EmulatorError::invalid_param(
                    &format!("{location}.role"),
                    format!("Invalid value for '{location}.role': '{role}'."),
                ));
            }
            let content = fields
                .get("content")
                .ok_or_else(|| EmulatorError::missing(&format!("{location}.content")))?;
            message(role, content)
        }
        "function_call_output" => {
            let call_id = fields
                .get("call_id")
                .and_then(Value::as_str)
                .ok_or_else(|| EmulatorError::missing(&format!("{location}.call_id")))?;
            Ok(json!({
                "type": "function_call_output",
                "id": new_id("fco_"),
                "call_id": call_id,
                "output": fields.get("output").cloned().unwrap_or(json!("")),
                "status": "completed",
            }))
        }
        "function_call" => {
            let mut call = item.clone();
            if call.get("id").is_none_or(Value::is_null) {
                call["id"] = json!(new_id("fc_"));
            }
            call["status"] = json!("completed");
            Ok(call)
        }
        // Resolved against the store by the caller of this function.
        "item_reference" => {
            let id = fields
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| EmulatorError::missing(&format!("{location}.id")))?;
            Ok(json!({"type": "item_reference", "id": id}))
        }
        other => Err(EmulatorError::invalid_param(
            &format!("{location}.type"),
            format!(
                "Invalid value for '{location}.type': '{other}' is not one of message, \
                 function_call, function_call_output, item_reference."
            ),
        )),
    }
}

/// A message item; string content becomes one text part of the role's kind.
fn message(role: &str, content: &Value) -> Result<Value, EmulatorError> {
    let text_type = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    let parts = match content {
        Value::String(text) => vec![text_part(text_type, text)],
        Value::Array(parts) => parts.clone(),
        _ => {
            return Err(EmulatorError::bad_request(
                "Invalid type for 'content': expected a string or an array of content parts.",
            ));
        }
    };
    Ok(json!({
        "type": "message",
        "id": new_id("msg_"),
        "status": "completed",
        "role": role,
        "content": parts,
    }))
}

fn text_part(kind: &str, text: &str) -> Value {
    if kind == "output_text" {
        json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    } else {
        json!({"type": "input_text", "text": text})
    }
}

/// The text of the user's messages among `items`, in order.
pub(crate) fn user_texts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter(|item| item["type"] == "message" && item["role"] == "user")
        .map(|item| {
            item["content"]
                .as_array()
                .map(|parts| {
                    parts
                        .iter()
                        .filter_map(|part| part["text"].as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        })
        .collect()
}

/// A whitespace word count: the deterministic model's tokens.
pub(crate) fn tokens(items: &[Value]) -> i64 {
    let words: usize = items
        .iter()
        .map(|item| item.to_string().split_whitespace().count())
        .sum();
    i64::try_from(words).unwrap_or(i64::MAX)
}
