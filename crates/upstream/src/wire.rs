//! The client's own reading of the API's objects. Only the fields Threadgate
//! acts on are typed; everything else is kept in `extra`, so nothing the
//! upstream sends is lost on the way through.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields the client does not model, kept as sent.
pub type Extra = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assistant {
    pub id: String,
    pub model: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub id: String,
    #[serde(default)]
    pub tool_resources: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    pub role: String,
    #[serde(default)]
    pub content: Vec<Value>,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// The text of the message's text parts, joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|part| part["text"]["value"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub thread_id: String,
    pub assistant_id: String,
    pub status: String,
    #[serde(default)]
    pub required_action: Option<Value>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Run {
    /// Ids of the tool calls a `requires_action` run waits for.
    pub fn pending_tool_call_ids(&self) -> Vec<String> {
        self.required_action
            .as_ref()
            .and_then(|action| action["submit_tool_outputs"]["tool_calls"].as_array())
            .map(|calls| {
                calls
                    .iter()
                    .filter_map(|c| c["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStep {
    pub id: String,
    pub run_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub step_details: Value,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct File {
    pub id: String,
    #[serde(default)]
    pub bytes: Option<u64>,
    pub filename: String,
    pub purpose: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStore {
    pub id: String,
    #[serde(default)]
    pub file_counts: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorStoreFile {
    pub id: String,
    pub vector_store_id: String,
    pub status: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileBatch {
    pub id: String,
    pub vector_store_id: String,
    pub status: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A page of a list: `{"object": "list", "data", "first_id", "last_id", "has_more"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub first_id: Option<String>,
    #[serde(default)]
    pub last_id: Option<String>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let sent = serde_json::json!({
            "id": "run_1", "object": "thread.run", "thread_id": "thread_1", "assistant_id": "asst_1",
            "status": "completed", "required_action": null, "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
            "prompt_token_details": {"cached_tokens": 0}}, "a_field_from_the_future": [1, 2, 3],
        });
        let run: Run = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(run.usage.as_ref().unwrap().total_tokens, 3);
        assert_eq!(serde_json::to_value(&run).unwrap(), sent);
    }
}
