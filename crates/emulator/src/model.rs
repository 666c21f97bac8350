//! The deterministic model: how a run moves, steered by the last user
//! message. These rules are a contract other tests rely on (see README.md):
//!
//! * names a function tool of the run → `requires_action` with one
//!   `submit_tool_outputs` call to it; after the outputs arrive, the reply
//!   contains the submitted output;
//! * `#output-file` with the code interpreter tool → a new `assistants_output`
//!   file, shown as an `image_file` part and cited by a `file_path` annotation;
//! * `#fail` → `failed` with `last_error.code = server_error`;
//! * `#incomplete` → `incomplete` with `incomplete_details`;
//! * `#slow` → stays `in_progress` for [`crate::Timing::slow`];
//! * otherwise → a reply that contains the last user message's text.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::ids::{new_id, now};
use crate::objects::{self, NewMessage, text_of, text_part};
use crate::state::{State, Store, StoredFile};
use crate::stream::Emitter;

/// Where a driver picks the run up.
#[derive(Debug)]
pub(crate) enum Start {
    /// A new run, still `queued`.
    New,
    /// Tool outputs were submitted: `(tool_call_id, output)` pairs.
    AfterToolOutputs(Vec<(String, String)>),
}

/// Options that come from injected faults.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DriveOptions {
    /// Stay `in_progress` until cancelled.
    pub never_finish: bool,
}

/// What the run will do, decided from the last user message.
#[derive(Debug, PartialEq)]
enum Plan {
    Fail,
    Incomplete,
    CallFunction(String),
    OutputFile,
    Reply,
}

/// The run was cancelled while the driver waited.
struct Cancelled;

/// A 1×1 transparent PNG: the code interpreter's "chart".
pub(crate) const OUTPUT_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

struct Driver {
    state: Arc<State>,
    thread_id: String,
    run_id: String,
    events: Emitter,
    cancel: watch::Receiver<bool>,
}

/// Moves one run along until it finishes, needs tool outputs, or is
/// cancelled. Emits stream events when `events` has a receiver.
pub(crate) async fn drive(
    state: Arc<State>,
    thread_id: String,
    run_id: String,
    start: Start,
    events: Emitter,
    options: DriveOptions,
) {
    let cancel = {
        let store = state.store();
        match store
            .threads
            .get(&thread_id)
            .and_then(|thread| thread.runs.get(&run_id))
        {
            Some(run) => run.cancel.subscribe(),
            None => return,
        }
    };
    let driver = Driver {
        state,
        thread_id,
        run_id,
        events,
        cancel,
    };
    if driver.run(start, options).await.is_err() {
        driver.finish_cancelled();
    }
}

impl Driver {
    async fn run(&self, start: Start, options: DriveOptions) -> Result<(), Cancelled> {
        let step = self.state.config.timing.step;
        match start {
            Start::New => {
                let run = self.run_snapshot();
                self.events.emit("thread.run.created", &run);
                self.events.emit("thread.run.queued", &run);
            }
            Start::AfterToolOutputs(_) => {
                let run = self.update_run(|run| run["status"] = json!("queued"));
                self.events.emit("thread.run.queued", &run);
            }
        }
        self.wait(step).await?;
        let run = self.update_run(|run| {
            run["status"] = json!("in_progress");
            if run["started_at"].is_null() {
                run["started_at"] = json!(now());
            }
        });
        self.events.emit("thread.run.in_progress", &run);

        if options.never_finish {
            self.wait(Duration::MAX).await?;
        }

        let (last_user_text, tools) = self.prompt();
        if last_user_text.contains("#slow") {
            self.wait(self.state.config.timing.slow).await?;
        }

        if let Start::AfterToolOutputs(outputs) = start {
            self.complete_tool_step(&outputs);
            let output_text = outputs
                .iter()
                .map(|(_, output)| output.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let reply = format!("The function returned: {output_text}");
            self.write_reply(&reply, None, &last_user_text).await?;
            self.finish("completed", &last_user_text, &reply);
            return Ok(());
        }

        match plan(&last_user_text, &tools) {
            Plan::Fail => {
                let run = self.update_run(|run| {
                    run["status"] = json!("failed");
                    run["failed_at"] = json!(now());
                    run["last_error"] =
                        json!({"code": "server_error", "message": "Sorry, something went wrong."});
                });
                self.events.emit("thread.run.failed", &run);
            }
            Plan::Incomplete => {
                let reply = format!("You said: {last_user_text}");
                self.write_reply(&reply, None, &last_user_text).await?;
                self.finish("incomplete", &last_user_text, &reply);
            }
            Plan::CallFunction(name) => self.request_function_call(&name),
            Plan::OutputFile => {
                let file_id = self.write_output_file();
                self.record_code_interpreter_step(&file_id);
                let reply = format!(
                    "Here is the chart: sandbox:/mnt/data/output.png. You said: {last_user_text}"
                );
                self.write_reply(&reply, Some(&file_id), &last_user_text)
                    .await?;
                self.finish("completed", &last_user_text, &reply);
            }
            Plan::Reply => {
                let reply = format!("You said: {last_user_text}");
                self.write_reply(&reply, None, &last_user_text).await?;
                self.finish("completed", &last_user_text, &reply);
            }
        }
        Ok(())
    }

    /// Waits, unless the run is cancelled first.
    async fn wait(&self, duration: Duration) -> Result<(), Cancelled> {
        let mut cancel = self.cancel.clone();
        if *cancel.borrow() {
            return Err(Cancelled);
        }
        tokio::select! {
            () = tokio::time::sleep(duration.min(Duration::from_secs(86_400))) => Ok(()),
            _ = cancel.wait_for(|cancelled| *cancelled) => Err(Cancelled),
        }
    }

    fn with_store<T>(&self, work: impl FnOnce(&mut Store) -> T) -> T {
        let mut store = self.state.store();
        work(&mut store)
    }

    fn run_snapshot(&self) -> Value {
        self.with_store(|store| {
            store
                .threads
                .get(&self.thread_id)
                .and_then(|thread| thread.runs.get(&self.run_id))
                .map(|run| run.object.clone())
                .unwrap_or(Value::Null)
        })
    }

    fn update_run(&self, change: impl FnOnce(&mut Value)) -> Value {
        self.with_store(|store| {
            match store
                .threads
                .get_mut(&self.thread_id)
                .and_then(|thread| thread.runs.get_mut(&self.run_id))
            {
                Some(run) => {
                    change(&mut run.object);
                    run.object.clone()
                }
                None => Value::Null,
            }
        })
    }

    /// The last user message's text, and the run's tools.
    fn prompt(&self) -> (String, Vec<Value>) {
        self.with_store(|store| {
            let Some(thread) = store.threads.get(&self.thread_id) else {
                return (String::new(), Vec::new());
            };
            let text = thread
                .messages
                .ordered()
                .into_iter()
                .rev()
                .find(|row| row.object["role"] == "user")
                .map(|row| text_of(&row.object))
                .unwrap_or_default();
            let tools = thread
                .runs
                .get(&self.run_id)
                .and_then(|run| run.object["tools"].as_array().cloned())
                .unwrap_or_default();
            (text, tools)
        })
    }

    fn insert_step(&self, step_type: &str, details: Value) -> Value {
        let run = self.run_snapshot();
        let id = new_id("step_");
        let step = json!({
            "id": id,
            "object": "thread.run.step",
            "created_at": now(),
            "run_id": self.run_id,
            "assistant_id": run["assistant_id"],
            "thread_id": self.thread_id,
            "type": step_type,
            "status": "in_progress",
            "cancelled_at": null,
            "completed_at": null,
            "expired_at": null,
            "failed_at": null,
            "last_error": null,
            "step_details": details,
            "usage": null,
            "metadata": {},
        });
        self.with_store(|store| {
            let seq = store.next_seq();
            if let Some(run) = store
                .threads
                .get_mut(&self.thread_id)
                .and_then(|thread| thread.runs.get_mut(&self.run_id))
            {
                run.steps.insert(seq, &id, step.clone());
            }
        });
        self.events.emit("thread.run.step.created", &step);
        self.events.emit("thread.run.step.in_progress", &step);
        step
    }

    fn update_step(&self, step_id: &str, change: impl FnOnce(&mut Value)) -> Value {
        self.with_store(|store| {
            match store
                .threads
                .get_mut(&self.thread_id)
                .and_then(|thread| thread.runs.get_mut(&self.run_id))
                .and_then(|run| run.steps.get_mut(step_id))
            {
                Some(step) => {
                    change(step);
                    step.clone()
                }
                None => Value::Null,
            }
        })
    }

    fn request_function_call(&self, name: &str) {
        let call_id = new_id("call_");
        let call = json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}", "output": null}});
        let step = self.insert_step(
            "tool_calls",
            json!({"type": "tool_calls", "tool_calls": [call]}),
        );
        self.events.emit(
            "thread.run.step.delta",
            &json!({
                "id": step["id"],
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [{
                    "index": 0, "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": "{}", "output": null},
                }]}},
            }),
        );
        let run = self.update_run(|run| {
            run["status"] = json!("requires_action");
            run["required_action"] = json!({
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": [{
                    "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": "{}"},
                }]},
            });
        });
        self.events.emit("thread.run.requires_action", &run);
    }

    /// Fills the pending tool-call step with the submitted outputs.
    fn complete_tool_step(&self, outputs: &[(String, String)]) {
        let step_id = self.with_store(|store| {
            store
                .threads
                .get(&self.thread_id)
                .and_then(|thread| thread.runs.get(&self.run_id))
                .and_then(|run| {
                    run.steps
                        .ordered()
                        .into_iter()
                        .find(|row| {
                            row.object["status"] == "in_progress"
                                && row.object["type"] == "tool_calls"
                        })
                        .map(|row| row.object["id"].as_str().unwrap_or_default().to_owned())
                })
        });
        let Some(step_id) = step_id else { return };
        let step = self.update_step(&step_id, |step| {
            if let Some(calls) = step["step_details"]["tool_calls"].as_array_mut() {
                for call in calls {
                    if let Some((_, output)) =
                        outputs.iter().find(|(id, _)| call["id"] == id.as_str())
                    {
                        call["function"]["output"] = json!(output);
                    }
                }
            }
            step["status"] = json!("completed");
            step["completed_at"] = json!(now());
            step["usage"] = json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
        });
        self.events.emit("thread.run.step.completed", &step);
    }

    /// Stores the code interpreter's output file, owned by nobody but the
    /// upstream: the run's caller learns of it from the message.
    fn write_output_file(&self) -> String {
        let file_id = new_id("file-");
        let object = objects::file(
            &file_id,
            "output.png",
            "assistants_output",
            OUTPUT_PNG.len(),
        );
        self.with_store(|store| {
            let seq = store.next_seq();
            store.files.insert(
                file_id.clone(),
                StoredFile {
                    seq,
                    object,
                    content: Bytes::from_static(OUTPUT_PNG),
                },
            );
        });
        file_id
    }

    fn record_code_interpreter_step(&self, file_id: &str) {
        let call = json!({
            "id": new_id("call_"),
            "type": "code_interpreter",
            "code_interpreter": {
                "input": "import matplotlib.pyplot as plt\nplt.savefig('/mnt/data/output.png')",
                "outputs": [{"type": "image", "image": {"file_id": file_id}}],
            },
        });
        let step = self.insert_step(
            "tool_calls",
            json!({"type": "tool_calls", "tool_calls": [call]}),
        );
        let step_id = step["id"].as_str().unwrap_or_default().to_owned();
        let step = self.update_step(&step_id, |step| {
            step["status"] = json!("completed");
            step["completed_at"] = json!(now());
            step["usage"] =
                json!({"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17});
        });
        self.events.emit("thread.run.step.completed", &step);
    }

    /// Writes the assistant's message in a few deltas.
    async fn write_reply(
        &self,
        reply: &str,
        output_file: Option<&str>,
        prompt: &str,
    ) -> Result<(), Cancelled> {
        let step_time = self.state.config.timing.step;
        let message_id = new_id("msg_");
        let step = self.insert_step(
            "message_creation",
            json!({"type": "message_creation", "message_creation": {"message_id": message_id}}),
        );
        let run = self.run_snapshot();
        let message = objects::message(NewMessage {
            id: &message_id,
            thread_id: &self.thread_id,
            role: "assistant",
            content: Vec::new(),
            attachments: json!([]),
            metadata: json!({}),
            assistant_id: run["assistant_id"].as_str(),
            run_id: Some(&self.run_id),
            status: "in_progress",
        });
        self.with_store(|store| {
            let seq = store.next_seq();
            if let Some(thread) = store.threads.get_mut(&self.thread_id) {
                thread.messages.insert(seq, &message_id, message.clone());
            }
        });
        self.events.emit("thread.message.created", &message);
        self.events.emit("thread.message.in_progress", &message);

        let mut text_index = 0;
        if let Some(file_id) = output_file {
            self.wait(step_time).await?;
            let part = json!({"type": "image_file", "image_file": {"file_id": file_id}});
            self.update_message(&message_id, |message| {
                if let Some(content) = message["content"].as_array_mut() {
                    content.push(part.clone());
                }
            });
            self.emit_delta(
                &message_id,
                json!({"index": 0, "type": "image_file", "image_file": {"file_id": file_id}}),
            );
            text_index = 1;
        }

        let annotations = output_file.map_or_else(Vec::new, |file_id| {
            let cited = "sandbox:/mnt/data/output.png";
            let start = reply.find(cited).unwrap_or(0);
            vec![json!({
                "type": "file_path",
                "text": cited,
                "start_index": start,
                "end_index": start + cited.len(),
                "file_path": {"file_id": file_id},
            })]
        });
        let chunks = split_in_three(reply);
        let last = chunks.len().saturating_sub(1);
        for (index, chunk) in chunks.into_iter().enumerate() {
            self.wait(step_time).await?;
            let chunk_annotations = if index == last {
                annotations.clone()
            } else {
                Vec::new()
            };
            self.update_message(&message_id, |message| {
                if let Some(content) = message["content"].as_array_mut() {
                    if content.len() == text_index {
                        content.push(text_part("", Vec::new()));
                    }
                    let text = &mut content[text_index]["text"];
                    let value = format!("{}{chunk}", text["value"].as_str().unwrap_or(""));
                    text["value"] = json!(value);
                    if let Some(existing) = text["annotations"].as_array_mut() {
                        existing.extend(chunk_annotations.iter().cloned());
                    }
                }
            });
            let mut text = json!({"value": chunk});
            if !chunk_annotations.is_empty() {
                text["annotations"] = json!(
                    chunk_annotations
                        .iter()
                        .enumerate()
                        .map(|(i, annotation)| {
                            let mut annotation = annotation.clone();
                            annotation["index"] = json!(i);
                            annotation
                        })
                        .collect::<Vec<_>>()
                );
            }
            self.emit_delta(
                &message_id,
                json!({"index": text_index, "type": "text", "text": text}),
            );
        }

        let incomplete = prompt.contains("#incomplete");
        let message = self.update_message(&message_id, |message| {
            if incomplete {
                message["status"] = json!("incomplete");
                message["incomplete_at"] = json!(now());
                message["incomplete_details"] = json!({"reason": "max_tokens"});
            } else {
                message["status"] = json!("completed");
                message["completed_at"] = json!(now());
            }
        });
        let event = if incomplete {
            "thread.message.incomplete"
        } else {
            "thread.message.completed"
        };
        self.events.emit(event, &message);

        let usage = usage(prompt, reply);
        let step_id = step["id"].as_str().unwrap_or_default().to_owned();
        let step = self.update_step(&step_id, |step| {
            step["status"] = json!("completed");
            step["completed_at"] = json!(now());
            step["usage"] = usage;
        });
        self.events.emit("thread.run.step.completed", &step);
        Ok(())
    }

    fn emit_delta(&self, message_id: &str, part: Value) {
        self.events.emit(
            "thread.message.delta",
            &json!({"id": message_id, "object": "thread.message.delta", "delta": {"content": [part]}}),
        );
    }

    fn update_message(&self, message_id: &str, change: impl FnOnce(&mut Value)) -> Value {
        self.with_store(|store| {
            match store
                .threads
                .get_mut(&self.thread_id)
                .and_then(|thread| thread.messages.get_mut(message_id))
            {
                Some(message) => {
                    change(message);
                    message.clone()
                }
                None => Value::Null,
            }
        })
    }

    fn finish(&self, status: &'static str, prompt: &str, reply: &str) {
        let run = self.update_run(|run| {
            run["status"] = json!(status);
            run["usage"] = usage(prompt, reply);
            if status == "incomplete" {
                run["incomplete_details"] = json!({"reason": "max_completion_tokens"});
            } else {
                run["completed_at"] = json!(now());
            }
        });
        let event = if status == "incomplete" {
            "thread.run.incomplete"
        } else {
            "thread.run.completed"
        };
        self.events.emit(event, &run);
    }

    fn finish_cancelled(&self) {
        let now = now();
        self.with_store(|store| {
            if let Some(run) = store
                .threads
                .get_mut(&self.thread_id)
                .and_then(|thread| thread.runs.get_mut(&self.run_id))
            {
                for step in run.steps.rows.values_mut() {
                    if step.object["status"] == "in_progress" {
                        step.object["status"] = json!("cancelled");
                        step.object["cancelled_at"] = json!(now);
                    }
                }
            }
        });
        let run = self.update_run(|run| {
            run["status"] = json!("cancelled");
            run["cancelled_at"] = json!(now);
            run["required_action"] = Value::Null;
        });
        self.events.emit("thread.run.cancelled", &run);
    }
}

fn plan(text: &str, tools: &[Value]) -> Plan {
    if text.contains("#fail") {
        return Plan::Fail;
    }
    if text.contains("#incomplete") {
        return Plan::Incomplete;
    }
    let function = tools
        .iter()
        .filter(|tool| tool["type"] == "function")
        .filter_map(|tool| tool["function"]["name"].as_str())
        .find(|name| text.contains(name));
    if let Some(name) = function {
        return Plan::CallFunction(name.to_owned());
    }
    let has_code_interpreter = tools.iter().any(|tool| tool["type"] == "code_interpreter");
    if text.contains("#output-file") && has_code_interpreter {
        return Plan::OutputFile;
    }
    Plan::Reply
}

fn split_in_three(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(3).max(1);
    chars
        .chunks(size)
        .map(|chunk| chunk.iter().collect())
        .collect()
}

fn usage(prompt: &str, reply: &str) -> Value {
    let prompt_tokens = prompt.split_whitespace().count() + 10;
    let completion_tokens = reply.split_whitespace().count();
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_follows_the_documented_rules() {
        let function = json!({"type": "function", "function": {"name": "get_weather"}});
        let code = json!({"type": "code_interpreter"});
        assert_eq!(plan("hello", &[]), Plan::Reply);
        assert_eq!(
            plan("#fail please", std::slice::from_ref(&function)),
            Plan::Fail
        );
        assert_eq!(plan("be #incomplete", &[]), Plan::Incomplete);
        assert_eq!(
            plan(
                "what does get_weather say?",
                std::slice::from_ref(&function)
            ),
            Plan::CallFunction("get_weather".to_owned())
        );
        assert_eq!(plan("get_weather", &[]), Plan::Reply);
        assert_eq!(
            plan("#output-file", std::slice::from_ref(&code)),
            Plan::OutputFile
        );
        assert_eq!(plan("#output-file", &[]), Plan::Reply);
    }

    #[test]
    fn replies_are_split_without_losing_characters() {
        let text = "You said: héllo wörld";
        assert_eq!(split_in_three(text).concat(), text);
        assert_eq!(split_in_three(text).len(), 3);
        assert_eq!(split_in_three("").concat(), "");
    }
}
