//! Where the upstream puts what it made, in objects Threadgate fetched
//! itself. Each function reads known positions of one kind of object and
//! nothing else. Answers echo what callers typed (tool schemas, response
//! formats, extra keys of message parts, truncation strategies), so looking
//! for anything shaped like an id elsewhere in an answer would let a caller
//! choose what becomes theirs.
//!
//! These functions only name candidates; nothing is recorded before the
//! upstream confirms each one (see [`super::recording`]).

use serde_json::Value;

/// The objects of type `object` an answer holds at known positions: the
/// answer itself, or the items of a list answer. Never anything nested.
pub fn items<'a>(answer: &'a Value, object: &str) -> Vec<&'a Value> {
    if answer["object"] == object {
        return vec![answer];
    }
    if answer["object"] != "list" {
        return Vec::new();
    }
    answer["data"]
        .as_array()
        .map(|data| {
            data.iter()
                .filter(|item| item["object"] == object)
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The vector stores of thread `thread_id`, from its own thread object.
pub fn thread_stores(thread: &Value, thread_id: &str) -> Vec<String> {
    if thread["object"] != "thread" || thread["id"] != thread_id {
        return Vec::new();
    }
    strings(&thread["tool_resources"]["file_search"]["vector_store_ids"])
}

/// The vector stores of assistant `assistant_id`, from its own object.
pub fn assistant_stores(assistant: &Value, assistant_id: &str) -> Vec<String> {
    if assistant["object"] != "assistant" || assistant["id"] != assistant_id {
        return Vec::new();
    }
    strings(&assistant["tool_resources"]["file_search"]["vector_store_ids"])
}

/// Files named where only the assistant's output lands in message content:
/// `image_file` parts, and `file_path` annotations of `text` parts. Never
/// `file_citation`: a citation points at a file that existed before.
fn content_outputs(content: &Value) -> Vec<String> {
    let mut files = Vec::new();
    for part in content.as_array().into_iter().flatten() {
        match part["type"].as_str() {
            Some("image_file") => {
                files.extend(part["image_file"]["file_id"].as_str().map(str::to_owned))
            }
            Some("text") => {
                for annotation in part["text"]["annotations"].as_array().into_iter().flatten() {
                    if annotation["type"] == "file_path" {
                        files.extend(
                            annotation["file_path"]["file_id"]
                                .as_str()
                                .map(str::to_owned),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    files
}

/// What a run wrote into one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageOutputs {
    pub message_id: String,
    /// The run that wrote the message; the upstream sets it, callers cannot.
    pub run_id: String,
    pub files: Vec<String>,
}

/// The output files of an assistant message that a run of `thread_id` wrote.
pub fn message_outputs(message: &Value, thread_id: &str) -> Option<MessageOutputs> {
    let written_by_a_run = message["object"] == "thread.message"
        && message["thread_id"] == thread_id
        && message["role"] == "assistant";
    if !written_by_a_run {
        return None;
    }
    Some(MessageOutputs {
        message_id: message["id"].as_str()?.to_owned(),
        run_id: message["run_id"].as_str()?.to_owned(),
        files: content_outputs(&message["content"]),
    })
}

/// The message a streamed delta belongs to, and the output files it names.
pub fn delta_outputs(delta: &Value) -> Option<(String, Vec<String>)> {
    if delta["object"] != "thread.message.delta" {
        return None;
    }
    Some((
        delta["id"].as_str()?.to_owned(),
        content_outputs(&delta["delta"]["content"]),
    ))
}

/// The files the code interpreter wrote in a run step of `thread_id`.
pub fn step_outputs(step: &Value, thread_id: &str) -> Vec<String> {
    let ours = step["object"] == "thread.run.step"
        && step["thread_id"] == thread_id
        && step["type"] == "tool_calls";
    if !ours {
        return Vec::new();
    }
    let mut files = Vec::new();
    for call in step["step_details"]["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if call["type"] != "code_interpreter" {
            continue;
        }
        for output in call["code_interpreter"]["outputs"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if output["type"] == "image" {
                files.extend(output["image"]["file_id"].as_str().map(str::to_owned));
            }
        }
    }
    files
}

/// A finished run's token usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUsage {
    pub run_id: String,
    pub model: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// The usage of a run of `thread_id`, once it is final.
pub fn finished_run(run: &Value, thread_id: &str) -> Option<RunUsage> {
    let finished = run["object"] == "thread.run"
        && run["thread_id"] == thread_id
        && matches!(
            run["status"].as_str(),
            Some("completed" | "incomplete" | "failed" | "cancelled" | "expired")
        )
        && run["usage"].is_object();
    if !finished {
        return None;
    }
    let tokens = |key: &str| run["usage"][key].as_i64().unwrap_or(0).max(0);
    Some(RunUsage {
        run_id: run["id"].as_str()?.to_owned(),
        model: run["model"].as_str().map(str::to_owned),
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
        total_tokens: tokens("total_tokens"),
    })
}

/// The statuses a response ends in: each spent what its usage says (an
/// `incomplete` one stopped at `max_output_tokens`, a `cancelled` one
/// after its output began).
const RESPONSE_ENDS: [&str; 4] = ["completed", "incomplete", "failed", "cancelled"];

/// The events a streamed response ends with, each carrying the response.
pub const RESPONSE_END_EVENTS: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

/// The usage of a response that ended (`object: response`): input tokens
/// as the prompt's, output tokens as the completion's.
pub fn finished_response(response: &Value) -> Option<RunUsage> {
    let ended = response["status"]
        .as_str()
        .is_some_and(|status| RESPONSE_ENDS.contains(&status));
    if response["object"] != "response" || !ended {
        return None;
    }
    let usage = &response["usage"];
    Some(RunUsage {
        run_id: response["id"].as_str()?.to_owned(),
        model: response["model"].as_str().map(str::to_owned),
        prompt_tokens: usage["input_tokens"].as_i64()?,
        completion_tokens: usage["output_tokens"].as_i64()?,
        total_tokens: usage["total_tokens"].as_i64()?,
    })
}

/// The containers a response's code interpreter ran in: the
/// `container_id` of each `code_interpreter_call` among its `output`.
pub fn response_containers(response: &Value) -> Vec<String> {
    if response["object"] != "response" {
        return Vec::new();
    }
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == "code_interpreter_call")
        .filter_map(|item| item["container_id"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A response that stopped early spent tokens too; one still running
    /// has nothing final to charge.
    #[test]
    fn a_response_is_charged_whichever_way_it_ended() {
        let usage = json!({"input_tokens": 3, "output_tokens": 4, "total_tokens": 7});
        for status in ["completed", "incomplete", "cancelled", "failed"] {
            let response =
                json!({"object": "response", "id": "resp_1", "status": status, "usage": usage});
            let charged = finished_response(&response).map(|run| run.total_tokens);
            assert_eq!(charged, Some(7), "{status}");
        }
        for status in ["in_progress", "queued"] {
            let response =
                json!({"object": "response", "id": "resp_1", "status": status, "usage": usage});
            assert!(finished_response(&response).is_none(), "{status}");
        }
    }

    /// Every lookalike an attacker can make the upstream echo.
    fn lookalikes() -> Value {
        json!({
            "object": "thread", "id": "thread_1", "role": "assistant", "run_id": "run_1",
            "thread_id": "thread_1", "type": "tool_calls", "status": "completed",
            "usage": {"total_tokens": 9},
            "tool_resources": {"file_search": {"vector_store_ids": ["vs_foreign"]}},
            "content": [{"type": "image_file", "image_file": {"file_id": "file-foreign"}}],
        })
    }

    #[test]
    fn nested_lookalikes_are_never_items() {
        let run = json!({"object": "thread.run", "id": "run_1", "thread_id": "thread_1",
                         "tools": [{"type": "function", "function": {"parameters": lookalikes()}}]});
        assert!(items(&run, "thread").is_empty());
        assert!(items(&run, "thread.message").is_empty());
        let list = json!({"object": "list", "data": [run], "extra": lookalikes()});
        assert!(items(&list, "thread").is_empty());
        assert_eq!(items(&list, "thread.run").len(), 1);
    }

    #[test]
    fn a_thread_names_its_own_stores_only() {
        let thread = json!({"object": "thread", "id": "thread_1",
                            "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}});
        assert_eq!(thread_stores(&thread, "thread_1"), ["vs_1"]);
        assert!(thread_stores(&thread, "thread_2").is_empty());
        let assistant = json!({"object": "assistant", "id": "asst_1",
                               "tool_resources": {"file_search": {"vector_store_ids": ["vs_2"]}}});
        assert!(thread_stores(&assistant, "asst_1").is_empty());
        assert_eq!(assistant_stores(&assistant, "asst_1"), ["vs_2"]);
    }

    #[test]
    fn outputs_come_from_a_runs_assistant_message_and_never_from_citations() {
        let message = json!({"object": "thread.message", "id": "msg_1", "thread_id": "thread_1",
            "role": "assistant", "run_id": "run_1", "content": [
            {"type": "image_file", "image_file": {"file_id": "file-img"}},
            {"type": "text", "text": {"value": "x", "annotations": [
                {"type": "file_path", "file_path": {"file_id": "file-out"}},
                {"type": "file_citation", "file_citation": {"file_id": "file-knowledge"}},
            ]}},
            {"type": "image_url", "image_url": {"url": "u", "image_file": {"file_id": "file-echo"}}},
        ]});
        let outputs = message_outputs(&message, "thread_1").unwrap();
        assert_eq!(outputs.files, ["file-img", "file-out"]);
        assert_eq!(outputs.run_id, "run_1");
        let mut users = message.clone();
        users["role"] = json!("user");
        assert_eq!(message_outputs(&users, "thread_1"), None);
        let mut unrun = message.clone();
        unrun["run_id"] = Value::Null;
        assert_eq!(message_outputs(&unrun, "thread_1"), None);
        assert_eq!(message_outputs(&message, "thread_2"), None);
    }

    #[test]
    fn steps_name_code_interpreter_images_only() {
        let step = json!({"object": "thread.run.step", "thread_id": "thread_1", "type": "tool_calls",
        "step_details": {"tool_calls": [
            {"type": "code_interpreter", "code_interpreter": {"input": "x", "outputs": [
                {"type": "image", "image": {"file_id": "file-chart"}},
                {"type": "logs", "logs": "file-notes"}]}},
            {"type": "function", "function": {"arguments": "{}", "output": lookalikes().to_string()}},
        ]}});
        assert_eq!(step_outputs(&step, "thread_1"), ["file-chart"]);
        assert!(step_outputs(&step, "thread_2").is_empty());
    }

    #[test]
    fn usage_comes_from_a_final_run_of_the_thread() {
        let run = json!({"object": "thread.run", "id": "run_1", "thread_id": "thread_1",
                         "status": "completed", "model": "gpt-4o",
                         "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        assert_eq!(finished_run(&run, "thread_1").unwrap().total_tokens, 7);
        assert_eq!(finished_run(&run, "thread_2"), None);
        let mut running = run.clone();
        running["status"] = json!("in_progress");
        assert_eq!(finished_run(&running, "thread_1"), None);
    }
}
