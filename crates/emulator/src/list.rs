//! Cursor pagination as the API does it: `limit` 1–100 (default 20),
//! `order` `asc`/`desc` (default `desc`), `after`/`before` object ids, and the
//! envelope `{"object": "list", "data", "first_id", "last_id", "has_more"}`.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::EmulatorError;
use crate::state::Row;

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListQuery {
    pub limit: Option<String>,
    pub order: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
}

/// Pages `rows` (in insertion order) as the upstream would.
pub(crate) fn page(rows: Vec<&Row>, query: &ListQuery) -> Result<Value, EmulatorError> {
    let limit = match &query.limit {
        None => 20,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=100).contains(limit))
            .ok_or_else(|| {
                EmulatorError::invalid_param(
                    "limit",
                    format!("Invalid 'limit': integer between 1 and 100 expected, got '{raw}'."),
                )
            })?,
    };
    let descending = match query.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(EmulatorError::invalid_param(
                "order",
                format!("Invalid value for 'order': expected one of asc, desc, got '{other}'."),
            ));
        }
    };

    let mut objects: Vec<&Value> = rows.into_iter().map(|row| &row.object).collect();
    if descending {
        objects.reverse();
    }
    let position = |id: &str| objects.iter().position(|object| object["id"] == id);
    let mut start = 0;
    let mut end = objects.len();
    if let Some(after) = &query.after {
        start = position(after).map_or(objects.len(), |index| index + 1);
    }
    if let Some(before) = &query.before {
        end = position(before).unwrap_or(0).max(start);
    }
    let window = &objects[start..end];
    // `before` pages towards the start: the page is the items nearest the cursor.
    let (data, has_more) = if query.before.is_some() && query.after.is_none() {
        let skip = window.len().saturating_sub(limit);
        (&window[skip..], skip > 0)
    } else {
        let take = window.len().min(limit);
        (&window[..take], window.len() > limit)
    };
    Ok(json!({
        "object": "list",
        "data": data,
        "first_id": data.first().map(|object| &object["id"]),
        "last_id": data.last().map(|object| &object["id"]),
        "has_more": has_more,
    }))
}
