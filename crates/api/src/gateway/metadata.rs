//! Threadgate's own keys in upstream `metadata`: clients can neither set them
//! nor see them.

use serde_json::Value;

use crate::ApiError;

/// Keys Threadgate keeps for itself.
pub const RESERVED_PREFIX: &str = "threadgate_";
/// The resource row a thread belongs to, so a reconciler can match an
/// upstream object to a row left `pending`.
pub const RESOURCE_KEY: &str = "threadgate_resource_id";
/// The request that created a message or a run (they have no row of their
/// own), so a retry of that request can find what it made.
pub const REQUEST_KEY: &str = "threadgate_request_id";

/// Refuses, anywhere in a body, a `metadata` that is neither an object nor
/// null (as the upstream does, rather than letting it be replaced) or that
/// uses a reserved key, and any string or key with a NUL character, which
/// Threadgate could not store once the upstream echoes it back. One walk
/// serves all three rules, before anything is reserved or sent.
pub fn refuse_invalid(body: &Value) -> Result<(), ApiError> {
    walk(body, "", false)
}

/// `inside` is true below a `metadata` key: its own keys are the client's
/// to name (even `metadata`), so only the reserved prefix is checked there.
fn walk(value: &Value, location: &str, inside: bool) -> Result<(), ApiError> {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key.contains('\0') {
                    return Err(nul_in(location));
                }
                let here = if location.is_empty() {
                    key.clone()
                } else {
                    format!("{location}.{key}")
                };
                let is_metadata = key == "metadata" && !inside;
                if is_metadata && !(inner.is_object() || inner.is_null()) {
                    return Err(ApiError::bad_request(
                        format!("Invalid type for '{here}': expected an object."),
                        Some(&here),
                    ));
                }
                if key == "metadata" {
                    if let Some(reserved) = inner
                        .as_object()
                        .and_then(|m| m.keys().find(|k| k.starts_with(RESERVED_PREFIX)))
                    {
                        return Err(ApiError::bad_request(
                            format!(
                                "Invalid 'metadata': the key '{reserved}' is reserved (keys may not start with '{RESERVED_PREFIX}')."
                            ),
                            Some("metadata"),
                        ));
                    }
                }
                walk(inner, &here, inside || is_metadata)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| walk(item, &format!("{location}[{index}]"), inside)),
        Value::String(text) if text.contains('\0') => Err(nul_in(location)),
        _ => Ok(()),
    }
}

fn nul_in(location: &str) -> ApiError {
    let param = if location.is_empty() {
        "body"
    } else {
        location
    };
    ApiError::bad_request(
        format!("Invalid '{param}': text may not contain the NUL character (U+0000)."),
        Some(param),
    )
}

/// Removes reserved keys from every `metadata` object in an answer.
pub fn hide_reserved(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if key == "metadata" {
                    if let Some(metadata) = inner.as_object_mut() {
                        metadata.retain(|k, _| !k.starts_with(RESERVED_PREFIX));
                    }
                } else {
                    hide_reserved(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_reserved),
        _ => {}
    }
}

/// Adds Threadgate's resource id to the `metadata` at `object`.
pub fn stamp(object: &mut Value, resource_id: &str) {
    stamp_as(object, RESOURCE_KEY, resource_id);
}

/// Adds the id of the request that creates it to the `metadata` at `object`.
pub fn stamp_request(object: &mut Value, request_id: &str) {
    stamp_as(object, REQUEST_KEY, request_id);
}

fn stamp_as(object: &mut Value, key: &str, value: &str) {
    if !object.is_object() {
        return;
    }
    let metadata = &mut object["metadata"];
    if !metadata.is_object() {
        *metadata = Value::Object(serde_json::Map::new());
    }
    metadata[key] = Value::String(value.to_owned());
}

/// The row an upstream object was created for, as its stamp names it.
/// Clients cannot set reserved keys, so a stamp is Threadgate's own.
pub fn stamp_of(object: &Value) -> Option<domain::ResourceId> {
    object["metadata"][RESOURCE_KEY]
        .as_str()?
        .parse::<uuid::Uuid>()
        .ok()
        .map(domain::ResourceId::from_uuid)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reserved_keys_are_refused_anywhere_in_a_body() {
        assert!(refuse_invalid(&json!({"metadata": {"team": "a"}})).is_ok());
        assert!(refuse_invalid(&json!({"metadata": {"threadgate_x": "a"}})).is_err());
        assert!(
            refuse_invalid(
                &json!({"thread": {"messages": [{"metadata": {"threadgate_resource_id": "1"}}]}})
            )
            .is_err()
        );
    }

    #[test]
    fn metadata_that_is_not_an_object_is_refused_with_its_location() {
        assert!(refuse_invalid(&json!({"metadata": {"a": "b"}})).is_ok());
        assert!(refuse_invalid(&json!({"metadata": null})).is_ok());
        assert!(refuse_invalid(&json!({"metadata": {"metadata": "a client's key"}})).is_ok());
        let error = refuse_invalid(&json!({"metadata": 5})).unwrap_err();
        assert!(error.to_string().contains("'metadata'"), "{error}");
        let nested =
            refuse_invalid(&json!({"thread": {"messages": [{"metadata": "x"}]}})).unwrap_err();
        assert!(
            nested.to_string().contains("thread.messages[0].metadata"),
            "{nested}"
        );
    }

    #[test]
    fn reserved_keys_are_hidden_everywhere_in_an_answer() {
        let mut answer =
            json!({"data": [{"metadata": {"threadgate_resource_id": "1", "team": "a"}}]});
        hide_reserved(&mut answer);
        assert_eq!(answer, json!({"data": [{"metadata": {"team": "a"}}]}));
    }

    #[test]
    fn stamping_adds_the_key_and_keeps_the_rest() {
        let mut body = json!({"metadata": {"team": "a"}});
        stamp(&mut body, "r1");
        assert_eq!(body, json!({"metadata": {"team": "a", RESOURCE_KEY: "r1"}}));
        let mut empty = json!({});
        stamp(&mut empty, "r2");
        assert_eq!(empty["metadata"][RESOURCE_KEY], "r2");
    }
}
