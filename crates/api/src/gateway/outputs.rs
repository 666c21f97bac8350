//! Objects the upstream makes on a caller's behalf, found in its answers:
//! files the code interpreter wrote, and vector stores made for a thread.
//! They are recorded as the thread owner's the first time they are seen, so
//! the owner can use them and nobody else can.

use domain::{Owner, ResourceId, ResourceKind, UpstreamId};
use serde_json::Value;
use storage::repo::resources::{self, NewResource};
use upstream::{Operation, UpstreamRequest};

use crate::AppState;
use crate::auth::Caller;

/// File ids in places only the assistant's own output lands: `image_file`
/// parts, `file_path` annotations, code interpreter `image` outputs (also in
/// deltas). Never `file_citation`: a citation points at an existing file and
/// must not make it the reader's.
pub fn output_file_ids(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_files(value, &mut found);
    found.sort();
    found.dedup();
    found
}

fn collect_files(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if matches!(key.as_str(), "image_file" | "file_path" | "image") {
                    if let Some(id) = inner.get("file_id").and_then(Value::as_str) {
                        found.push(id.to_owned());
                    }
                }
                if key != "file_citation" {
                    collect_files(inner, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_files(item, found)),
        _ => {}
    }
}

/// Vector store ids in the `tool_resources` of thread objects.
pub fn thread_vector_store_ids(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_stores(value, &mut found);
    found.sort();
    found.dedup();
    found
}

fn collect_stores(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("object").and_then(Value::as_str) == Some("thread") {
                if let Some(ids) =
                    value["tool_resources"]["file_search"]["vector_store_ids"].as_array()
                {
                    found.extend(ids.iter().filter_map(Value::as_str).map(str::to_owned));
                }
            }
            map.values().for_each(|inner| collect_stores(inner, found));
        }
        Value::Array(items) => items.iter().for_each(|item| collect_stores(item, found)),
        _ => {}
    }
}

/// Runs that finished with their token usage, anywhere in an answer.
pub fn finished_runs(value: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    collect_runs(value, &mut found);
    found
}

fn collect_runs<'a>(value: &'a Value, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            let finished = map.get("object").and_then(Value::as_str) == Some("thread.run")
                && map.get("usage").is_some_and(Value::is_object)
                && matches!(
                    map.get("status").and_then(Value::as_str),
                    Some("completed" | "incomplete" | "failed" | "cancelled" | "expired")
                );
            if finished {
                found.push(value);
            }
            map.values().for_each(|inner| collect_runs(inner, found));
        }
        Value::Array(items) => items.iter().for_each(|item| collect_runs(item, found)),
        _ => {}
    }
}

/// Whether an answer names anything [`Recorder::record`] keeps.
pub fn worth_recording(value: &Value) -> bool {
    !output_file_ids(value).is_empty()
        || !thread_vector_store_ids(value).is_empty()
        || !finished_runs(value).is_empty()
}

/// Records what a thread's answers reveal, for the thread's owner.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub state: AppState,
    pub caller: Caller,
    /// The owner of the thread the answer belongs to.
    pub owner: Owner,
    /// The thread's row.
    pub parent: Option<ResourceId>,
}

impl Recorder {
    /// Records unknown output files (after checking with the upstream that
    /// they are `assistants_output`) and unknown thread vector stores.
    pub async fn record(&self, value: &Value) {
        let files = output_file_ids(value);
        let stores = thread_vector_store_ids(value);
        if !(files.is_empty() && stores.is_empty()) {
            if let Err(error) = self.record_ids(files, stores).await {
                tracing::error!(%error, "could not record objects the upstream made");
            }
        }
        for run in finished_runs(value) {
            if let Err(error) = self.record_usage(run).await {
                tracing::error!(%error, "could not record a run's usage");
            }
        }
    }

    /// The run's token usage, once per run, for the thread's owner.
    async fn record_usage(&self, run: &Value) -> Result<(), crate::ApiError> {
        let tokens = |key: &str| run["usage"][key].as_i64().unwrap_or(0);
        let (prompt, completion, total) = (
            tokens("prompt_tokens"),
            tokens("completion_tokens"),
            tokens("total_tokens"),
        );
        let run_id = run["id"].as_str().unwrap_or_default().to_owned();
        let model = run["model"].as_str().map(str::to_owned);
        let tenant_id = self.caller.tenant.id;
        let profile = self.caller.tenant.upstream_profile.clone();
        let user_id = match self.owner {
            Owner::User(user) => Some(user),
            Owner::Tenant => None,
        };
        let resource_id = self.parent;
        self.state
            .database
            .run("usage.record", move |conn| {
                storage::repo::usage::record(
                    conn,
                    &storage::repo::usage::NewUsage {
                        tenant_id,
                        user_id,
                        resource_id,
                        upstream_ref: &run_id,
                        upstream_profile: &profile,
                        model: model.as_deref(),
                        prompt_tokens: prompt,
                        completion_tokens: completion,
                        total_tokens: total,
                    },
                )
            })
            .await?;
        Ok(())
    }

    async fn record_ids(
        &self,
        files: Vec<String>,
        stores: Vec<String>,
    ) -> Result<(), crate::ApiError> {
        let tenant_id = self.caller.tenant.id;
        let wanted: Vec<(ResourceKind, UpstreamId)> = files
            .into_iter()
            .map(|id| (ResourceKind::File, id))
            .chain(stores.into_iter().map(|id| (ResourceKind::VectorStore, id)))
            .filter_map(|(kind, id)| UpstreamId::parse(id).ok().map(|id| (kind, id)))
            .collect();
        let unknown = self
            .state
            .database
            .run("outputs.known", move |conn| {
                let mut unknown = Vec::new();
                for (kind, id) in wanted {
                    match resources::find_by_upstream_id(conn, tenant_id, kind, &id, None) {
                        Ok(_) => {}
                        Err(storage::StorageError::NotFound) => unknown.push((kind, id)),
                        Err(other) => return Err(other),
                    }
                }
                Ok(unknown)
            })
            .await?;
        let client = self
            .state
            .upstreams
            .get(&self.caller.tenant.upstream_profile)
            .map_err(crate::ApiError::internal)?;
        for (kind, id) in unknown {
            let attributes = match kind {
                ResourceKind::File => {
                    // Only files the assistant wrote become the thread owner's.
                    let file: Value = match client
                        .call(UpstreamRequest::new(Operation::GetFile, &[&id]))
                        .await
                    {
                        Ok(file) => file,
                        Err(error) => {
                            tracing::warn!(%error, file = %id, "output file not found upstream");
                            continue;
                        }
                    };
                    if file["purpose"] != "assistants_output" {
                        tracing::warn!(file = %id, "a file seen in an answer is not an assistant output: not recorded");
                        continue;
                    }
                    file
                }
                _ => serde_json::json!({}),
            };
            let (owner, parent, profile) = (
                self.owner,
                self.parent,
                self.caller.tenant.upstream_profile.clone(),
            );
            self.state
                .database
                .run("outputs.record", move |conn| {
                    resources::record_existing(
                        conn,
                        &NewResource {
                            tenant_id,
                            kind,
                            upstream_profile: &profile,
                            owner,
                            parent_id: parent,
                            request_id: None,
                            attributes,
                        },
                        &id,
                    )
                })
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_outputs_but_not_citations() {
        let message = json!({"content": [
            {"type": "image_file", "image_file": {"file_id": "file-img"}},
            {"type": "text", "text": {"value": "x", "annotations": [
                {"type": "file_path", "file_path": {"file_id": "file-out"}},
                {"type": "file_citation", "file_citation": {"file_id": "file-knowledge"}},
            ]}},
        ]});
        assert_eq!(output_file_ids(&message), ["file-img", "file-out"]);
        let step = json!({"step_details": {"tool_calls": [{"code_interpreter": {"outputs": [{"type": "image", "image": {"file_id": "file-chart"}}]}}]}});
        assert_eq!(output_file_ids(&step), ["file-chart"]);
        let delta = json!({"delta": {"content": [{"index": 0, "type": "image_file", "image_file": {"file_id": "file-d"}}]}});
        assert_eq!(output_file_ids(&delta), ["file-d"]);
    }

    #[test]
    fn finds_vector_stores_of_threads_only() {
        let thread = json!({"object": "thread", "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}}});
        assert_eq!(thread_vector_store_ids(&thread), ["vs_1"]);
        let assistant = json!({"object": "assistant", "tool_resources": {"file_search": {"vector_store_ids": ["vs_2"]}}});
        assert!(thread_vector_store_ids(&assistant).is_empty());
    }
}
