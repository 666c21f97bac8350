//! Every id a request names, wherever it is: the path, the query's cursors,
//! and the body. Body references are found by patterns per operation, so
//! a new field that carries an id is one line here, not a check in a handler.

use domain::{Action, ResourceKind};
use serde_json::Value;
use upstream::Operation;

use crate::ApiError;

/// One id the caller named, and what the request would do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: ResourceKind,
    pub id: String,
    pub action: Action,
    /// Where in the request it was found, for the audit trail.
    pub location: String,
}

impl Reference {
    pub fn new(
        kind: ResourceKind,
        id: impl Into<String>,
        action: Action,
        location: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            id: id.into(),
            action,
            location: location.into(),
        }
    }
}

/// `(pattern, kind)`: a dotted path into the body where `*` walks an array.
type Pattern = (&'static str, ResourceKind);

const MESSAGE: &[Pattern] = &[
    ("attachments.*.file_id", ResourceKind::File),
    ("content.*.image_file.file_id", ResourceKind::File),
];

const TOOL_RESOURCES: &[Pattern] = &[
    (
        "tool_resources.code_interpreter.file_ids.*",
        ResourceKind::File,
    ),
    (
        "tool_resources.file_search.vector_store_ids.*",
        ResourceKind::VectorStore,
    ),
    (
        "tool_resources.file_search.vector_stores.*.file_ids.*",
        ResourceKind::File,
    ),
];

/// The patterns of an operation's body, with the prefix they live under.
fn patterns(operation: Operation) -> Vec<(&'static str, &'static [Pattern])> {
    match operation {
        Operation::CreateMessage => vec![("", MESSAGE)],
        Operation::CreateThread => vec![("messages.*.", MESSAGE), ("", TOOL_RESOURCES)],
        Operation::ModifyThread | Operation::CreateAssistant | Operation::ModifyAssistant => {
            vec![("", TOOL_RESOURCES)]
        }
        Operation::CreateRun => vec![
            ("", &[("assistant_id", ResourceKind::Assistant)]),
            ("additional_messages.*.", MESSAGE),
        ],
        Operation::CreateThreadAndRun => vec![
            ("", &[("assistant_id", ResourceKind::Assistant)]),
            ("thread.messages.*.", MESSAGE),
            ("thread.", TOOL_RESOURCES),
            ("", TOOL_RESOURCES),
        ],
        Operation::CreateVectorStore => vec![("", &[("file_ids.*", ResourceKind::File)])],
        Operation::CreateVectorStoreFile => vec![("", &[("file_id", ResourceKind::File)])],
        Operation::CreateFileBatch => vec![(
            "",
            &[
                ("file_ids.*", ResourceKind::File),
                ("files.*.file_id", ResourceKind::File),
            ],
        )],
        _ => Vec::new(),
    }
}

/// Every id in `body` that `operation` would act on. The assistant of a run
/// is used (run); files and vector stores are used (read into the run or
/// the object). A value that is not a string where an id belongs is refused
/// here rather than guessed at.
pub fn in_body(operation: Operation, body: &Value) -> Result<Vec<Reference>, ApiError> {
    let mut found = Vec::new();
    for (prefix, patterns) in patterns(operation) {
        for (pattern, kind) in patterns {
            let full = format!("{prefix}{pattern}");
            let segments: Vec<&str> = full.split('.').collect();
            walk(body, &segments, String::new(), *kind, &mut found)?;
        }
    }
    Ok(found)
}

fn walk(
    value: &Value,
    segments: &[&str],
    location: String,
    kind: ResourceKind,
    found: &mut Vec<Reference>,
) -> Result<(), ApiError> {
    let Some((segment, rest)) = segments.split_first() else {
        return match value {
            Value::String(id) => {
                found.push(Reference::new(kind, id.clone(), Action::Use, location));
                Ok(())
            }
            Value::Null => Ok(()),
            _ => Err(ApiError::bad_request(
                format!("Invalid type for '{location}': expected an id string."),
                Some(&location),
            )),
        };
    };
    if *segment == "*" {
        if let Value::Array(items) = value {
            for (index, item) in items.iter().enumerate() {
                walk(item, rest, format!("{location}[{index}]"), kind, found)?;
            }
        }
        return Ok(());
    }
    match value.get(segment) {
        Some(next) => {
            let location = if location.is_empty() {
                (*segment).to_owned()
            } else {
                format!("{location}.{segment}")
            };
            walk(next, rest, location, kind, found)
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ids(operation: Operation, body: Value) -> Vec<(ResourceKind, String, String)> {
        in_body(operation, &body)
            .unwrap()
            .into_iter()
            .map(|r| (r.kind, r.id, r.location))
            .collect()
    }

    #[test]
    fn finds_every_id_of_a_create_thread_and_run() {
        let found = ids(
            Operation::CreateThreadAndRun,
            json!({
                "assistant_id": "asst_1",
                "thread": {
                    "messages": [{"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": "file-img"}}],
                                  "attachments": [{"file_id": "file-att", "tools": [{"type": "file_search"}]}]}],
                    "tool_resources": {"file_search": {"vector_store_ids": ["vs_thread"], "vector_stores": [{"file_ids": ["file-new"]}]}},
                },
                "tool_resources": {"code_interpreter": {"file_ids": ["file-ci"]}},
            }),
        );
        assert_eq!(
            found,
            vec![
                (
                    ResourceKind::Assistant,
                    "asst_1".into(),
                    "assistant_id".into()
                ),
                (
                    ResourceKind::File,
                    "file-att".into(),
                    "thread.messages[0].attachments[0].file_id".into()
                ),
                (
                    ResourceKind::File,
                    "file-img".into(),
                    "thread.messages[0].content[0].image_file.file_id".into()
                ),
                (
                    ResourceKind::VectorStore,
                    "vs_thread".into(),
                    "thread.tool_resources.file_search.vector_store_ids[0]".into()
                ),
                (
                    ResourceKind::File,
                    "file-new".into(),
                    "thread.tool_resources.file_search.vector_stores[0].file_ids[0]".into()
                ),
                (
                    ResourceKind::File,
                    "file-ci".into(),
                    "tool_resources.code_interpreter.file_ids[0]".into()
                ),
            ]
        );
    }

    #[test]
    fn a_non_string_id_is_refused() {
        let error = in_body(Operation::CreateRun, &json!({"assistant_id": 7})).unwrap_err();
        assert!(error.to_string().contains("assistant_id"), "{error}");
    }

    #[test]
    fn string_content_has_no_references() {
        assert!(
            ids(
                Operation::CreateMessage,
                json!({"role": "user", "content": "file-123"})
            )
            .is_empty()
        );
    }
}
