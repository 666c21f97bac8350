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

/// `(pattern, kind)`: a dotted path into the body. `=id` takes an id given
/// as a string or as an object's `id`; `=auto` an id given as a string,
/// where an object instead names none; `=object` goes on only into an
/// object. `*N` walks an array of
/// at most `N` items (the specification's `maxItems`); a bare `*` walks an
/// array the specification leaves unbounded, capped at
/// [`UNBOUNDED_ARRAY_CAP`]; `*text` is such an array that may instead be
/// plain text, which names no id (message `content`).
type Pattern = (&'static str, ResourceKind);

/// The cap on an array of ids the specification sets no practical limit on
/// (message attachments and parts, a `vector_stores` helper's files).
pub const UNBOUNDED_ARRAY_CAP: usize = 500;
/// The most ids one request body may name in all (a file batch's 2,000).
pub const MAX_BODY_REFERENCES: usize = 2_000;

/// No ids: an operation whose body names none, declared as such.
const NONE: &[(&str, &[Pattern])] = &[];

const MESSAGE: &[Pattern] = &[
    ("attachments.*.file_id", ResourceKind::File),
    ("content.*text.image_file.file_id", ResourceKind::File),
];

const TOOL_RESOURCES: &[Pattern] = &[
    (
        "tool_resources.code_interpreter.file_ids.*20",
        ResourceKind::File,
    ),
    (
        "tool_resources.file_search.vector_store_ids.*1",
        ResourceKind::VectorStore,
    ),
    (
        "tool_resources.file_search.vector_stores.*1.file_ids.*",
        ResourceKind::File,
    ),
];

/// Ids in an input item of the Responses and Conversations APIs: files in
/// message parts (`input_file`, `input_image`) and in a function call's
/// output parts, and a part given as an item of its own (an upstream may
/// read one where an item belongs). Content and output may be plain text
/// instead.
const INPUT_ITEM: &[Pattern] = &[
    ("file_id", ResourceKind::File),
    ("content.*text.file_id", ResourceKind::File),
    ("output.*text.file_id", ResourceKind::File),
];

/// Ids in a response's tools: `file_search`'s vector stores, code
/// interpreter's container (the caller's, by id) or the files of a new
/// (`auto`) one, `image_generation`'s mask.
const RESPONSE_TOOLS: &[Pattern] = &[
    ("tools.*.vector_store_ids.*", ResourceKind::VectorStore),
    ("tools.*.container.=auto", ResourceKind::Container),
    ("tools.*.container.=object.file_ids.*", ResourceKind::File),
    ("tools.*.input_image_mask.file_id", ResourceKind::File),
];

/// What a response continues: another response's chain, or a conversation
/// (its id, or `{"id"}`).
const CONTINUES: &[Pattern] = &[
    ("previous_response_id", ResourceKind::Response),
    ("conversation.=id", ResourceKind::Conversation),
];

/// The patterns of an operation's body, with the prefix they live under.
/// Every operation is listed: a new one does not compile until its body's
/// ids are declared, even as [`NONE`].
fn patterns(operation: Operation) -> &'static [(&'static str, &'static [Pattern])] {
    use Operation as O;
    match operation {
        O::CreateMessage => &[("", MESSAGE)],
        O::CreateThread => &[("messages.*.", MESSAGE), ("", TOOL_RESOURCES)],
        O::ModifyThread | O::CreateAssistant | O::ModifyAssistant => &[("", TOOL_RESOURCES)],
        O::CreateRun => &[
            ("", &[("assistant_id", ResourceKind::Assistant)]),
            ("additional_messages.*.", MESSAGE),
        ],
        O::CreateThreadAndRun => &[
            ("", &[("assistant_id", ResourceKind::Assistant)]),
            ("thread.messages.*.", MESSAGE),
            ("thread.", TOOL_RESOURCES),
            ("", TOOL_RESOURCES),
        ],
        O::CreateVectorStore => &[("", &[("file_ids.*500", ResourceKind::File)])],
        O::CreateVectorStoreFile => &[("", &[("file_id", ResourceKind::File)])],
        O::CreateFileBatch => &[(
            "",
            &[
                ("file_ids.*2000", ResourceKind::File),
                ("files.*2000.file_id", ResourceKind::File),
            ],
        )],
        // Bodies without ids (or without a body at all).
        O::ListAssistants
        | O::GetAssistant
        | O::DeleteAssistant
        | O::GetThread
        | O::DeleteThread
        | O::ListMessages
        | O::GetMessage
        | O::ModifyMessage
        | O::DeleteMessage
        | O::ListRuns
        | O::GetRun
        | O::ModifyRun
        | O::SubmitToolOutputs
        | O::CancelRun
        | O::ListRunSteps
        | O::GetRunStep
        | O::ListFiles
        | O::UploadFile
        | O::GetFile
        | O::DeleteFile
        | O::GetFileContent
        | O::ListVectorStores
        | O::GetVectorStore
        | O::ModifyVectorStore
        | O::DeleteVectorStore
        | O::SearchVectorStore
        | O::ListVectorStoreFiles
        | O::GetVectorStoreFile
        | O::UpdateVectorStoreFileAttributes
        | O::DeleteVectorStoreFile
        | O::GetVectorStoreFileContent
        | O::GetFileBatch
        | O::CancelFileBatch
        | O::ListFileBatchFiles
        | O::ListModels => NONE,
        O::CreateConversation | O::CreateConversationItems => &[("items.*20.", INPUT_ITEM)],
        O::CreateResponse | O::CountInputTokens | O::CompactResponse => &[
            ("", CONTINUES),
            ("input.*text.", INPUT_ITEM),
            ("", RESPONSE_TOOLS),
        ],
        O::CreateContainer => &[("", &[("file_ids.*", ResourceKind::File)])],
        O::CreateContainerFile => &[("", &[("file_id", ResourceKind::File)])],
        O::ListContainers
        | O::GetContainer
        | O::DeleteContainer
        | O::ListContainerFiles
        | O::GetContainerFile
        | O::DeleteContainerFile
        | O::GetContainerFileContent => NONE,
        O::GetConversation
        | O::UpdateConversation
        | O::DeleteConversation
        | O::ListConversationItems
        | O::GetConversationItem
        | O::DeleteConversationItem
        | O::GetResponse
        | O::DeleteResponse
        | O::CancelResponse
        | O::ListInputItems => NONE,
    }
}

/// Every id in `body` that `operation` would act on. The assistant of a run
/// is used (run); files and vector stores are used (read into the run or
/// the object). A value that is not a string where an id belongs, an array
/// longer than its field allows, or more ids than [`MAX_BODY_REFERENCES`]
/// in all is refused here, before anything is looked up.
pub fn in_body(operation: Operation, body: &Value) -> Result<Vec<Reference>, ApiError> {
    let mut found = Vec::new();
    for (prefix, patterns) in patterns(operation) {
        for (pattern, kind) in *patterns {
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
                if found.len() >= MAX_BODY_REFERENCES {
                    return Err(ApiError::bad_request(
                        format!(
                            "The request names more than {MAX_BODY_REFERENCES} ids; '{location}' is one too many."
                        ),
                        Some(&location),
                    ));
                }
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
    // `=object`: what follows is inside an object; a string here is an id
    // another pattern reads (code interpreter's container).
    if *segment == "=object" {
        return match value {
            Value::Object(_) => walk(value, rest, location, kind, found),
            _ => Ok(()),
        };
    }
    // `=auto`: an id given as a string; an object here (`{"type": "auto"}`)
    // names no id of this kind (code interpreter's container).
    if *segment == "=auto" {
        return match value {
            Value::String(_) => walk(value, rest, location, kind, found),
            _ => Ok(()),
        };
    }
    // `=id`: an id given as a string, or as an object's `id` (`conversation`).
    if *segment == "=id" {
        return match value {
            Value::Object(reference) => walk(
                reference.get("id").unwrap_or(&Value::Null),
                rest,
                format!("{location}.id"),
                kind,
                found,
            ),
            _ => walk(value, rest, location, kind, found),
        };
    }
    if let Some(cap) = segment.strip_prefix('*') {
        let may_be_text = cap == "text";
        let cap = cap.parse().unwrap_or(UNBOUNDED_ARRAY_CAP);
        if let Value::Array(items) = value {
            if items.len() > cap {
                return Err(ApiError::bad_request(
                    format!(
                        "Invalid '{location}': array too long. Expected an array with maximum length {cap}, but got an array with length {} instead.",
                        items.len()
                    ),
                    Some(&location),
                ));
            }
            for (index, item) in items.iter().enumerate() {
                walk(item, rest, format!("{location}[{index}]"), kind, found)?;
            }
            return Ok(());
        }
        // Anything else where ids may be could hide one from the check.
        return match value {
            Value::Null => Ok(()),
            Value::String(_) if may_be_text => Ok(()),
            _ => Err(ApiError::bad_request(
                format!("Invalid type for '{location}': expected an array."),
                Some(&location),
            )),
        };
    }
    if !(value.is_object() || value.is_null()) {
        return Err(ApiError::bad_request(
            format!("Invalid type for '{location}': expected an object."),
            Some(&location),
        ));
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
    fn an_array_longer_than_its_field_allows_is_refused_naming_the_field() {
        let ids: Vec<String> = (0..501).map(|n| format!("file-{n}")).collect();
        let error = in_body(Operation::CreateVectorStore, &json!({"file_ids": ids})).unwrap_err();
        assert!(error.to_string().contains("'file_ids'"), "{error}");
        assert!(error.to_string().contains("maximum length 500"), "{error}");
        let two = in_body(
            Operation::CreateThread,
            &json!({"tool_resources": {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}}),
        )
        .unwrap_err();
        assert!(
            two.to_string()
                .contains("tool_resources.file_search.vector_store_ids"),
            "{two}"
        );
        let helper: Vec<String> = (0..501).map(|n| format!("file-{n}")).collect();
        assert!(in_body(
            Operation::CreateAssistant,
            &json!({"tool_resources": {"file_search": {"vector_stores": [{"file_ids": helper}]}}}),
        )
        .is_err());
    }

    #[test]
    fn more_ids_in_all_than_the_cap_are_refused() {
        let attachments: Vec<Value> = (0..400)
            .map(|n| json!({"file_id": format!("file-{n}")}))
            .collect();
        let messages: Vec<Value> = (0..6)
            .map(|_| json!({"role": "user", "content": "x", "attachments": attachments}))
            .collect();
        let error = in_body(Operation::CreateThread, &json!({"messages": messages})).unwrap_err();
        assert!(error.to_string().contains("more than 2000 ids"), "{error}");
        let batch: Vec<String> = (0..2000).map(|n| format!("file-{n}")).collect();
        assert_eq!(
            in_body(Operation::CreateFileBatch, &json!({"file_ids": batch}))
                .unwrap()
                .len(),
            2000
        );
    }

    #[test]
    fn finds_every_id_a_response_names() {
        let found = ids(
            Operation::CreateResponse,
            json!({
                "model": "gpt-4o",
                "previous_response_id": "resp_1",
                "input": [
                    {"role": "user", "content": [
                        {"type": "input_text", "text": "file-not-an-id"},
                        {"type": "input_file", "file_id": "file-doc"},
                        {"type": "input_image", "file_id": "file-img"},
                    ]},
                    {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_file", "file_id": "file-out"}]},
                ],
                "tools": [
                    {"type": "file_search", "vector_store_ids": ["vs_1"]},
                    {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-ci"]}},
                    {"type": "code_interpreter", "container": "cntr_1"},
                    {"type": "function", "name": "f", "parameters": {"properties": {"file_id": {"default": "file-echo"}}}},
                ],
                "metadata": {"file": "file-meta"},
            }),
        );
        let named: Vec<&str> = found.iter().map(|(_, id, _)| id.as_str()).collect();
        assert_eq!(
            named,
            [
                "resp_1", "file-doc", "file-img", "file-out", "vs_1", "cntr_1", "file-ci"
            ]
        );
        assert_eq!(found[0].0, ResourceKind::Response);
        assert_eq!(found[2].2, "input[0].content[2].file_id");
    }

    #[test]
    fn a_part_given_as_an_item_of_its_own_names_its_file() {
        let found = ids(
            Operation::CreateResponse,
            json!({"model": "m", "input": [{"type": "input_file", "file_id": "file-loose"}]}),
        );
        assert_eq!(
            found,
            vec![(
                ResourceKind::File,
                "file-loose".into(),
                "input[0].file_id".into()
            )]
        );
    }

    #[test]
    fn a_conversation_is_named_as_a_string_or_an_object() {
        for (conversation, location) in [
            (json!("conv_1"), "conversation"),
            (json!({"id": "conv_1"}), "conversation.id"),
        ] {
            let found = ids(
                Operation::CreateResponse,
                json!({"model": "m", "input": "hi", "conversation": conversation}),
            );
            assert_eq!(
                found,
                vec![(ResourceKind::Conversation, "conv_1".into(), location.into())]
            );
        }
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
