//! Pieces the route modules share: list parameters and filters, JSON
//! bodies, and the list envelope.

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use storage::repo::resources::PageQuery;
use utoipa::IntoParams;

use crate::ApiError;

/// Resuming a background response's stream from where a client lost it.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResumeParams {
    /// `true`: the answer is the response's events (background responses only).
    pub stream: Option<bool>,
    /// With `stream`: the events after this `sequence_number`.
    pub starting_after: Option<u64>,
}

impl ResumeParams {
    /// The query passed upstream: nothing unless a stream is asked for.
    pub fn upstream_query(&self) -> Vec<(String, String)> {
        if self.stream != Some(true) {
            return Vec::new();
        }
        let mut query = vec![("stream".to_owned(), "true".to_owned())];
        if let Some(after) = self.starting_after {
            query.push(("starting_after".to_owned(), after.to_string()));
        }
        query
    }
}

/// Cursor pagination, as the Assistants API does it.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Between 1 and 100; 20 when absent.
    pub limit: Option<i64>,
    /// `asc` or `desc` by creation time; `desc` when absent.
    pub order: Option<String>,
    /// An object id: the page starts after it.
    pub after: Option<String>,
    /// An object id: the page ends before it.
    pub before: Option<String>,
}

impl ListParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(limit) if (1..=100).contains(&limit) => Ok(limit),
            Some(limit) => Err(ApiError::bad_request(
                format!("Invalid 'limit': integer between 1 and 100 expected, got {limit}."),
                Some("limit"),
            )),
        }
    }

    pub fn newest_first(&self) -> Result<bool, ApiError> {
        match self.order.as_deref() {
            None | Some("desc") => Ok(true),
            Some("asc") => Ok(false),
            Some(other) => Err(ApiError::bad_request(
                format!("Invalid value for 'order': expected one of asc, desc, got '{other}'."),
                Some("order"),
            )),
        }
    }

    /// The page as storage reads it; cursors were authorized already.
    pub fn page_query(&self) -> Result<PageQuery, ApiError> {
        let cursor =
            |raw: &Option<String>| raw.as_deref().map(domain::UpstreamId::parse).transpose();
        Ok(PageQuery {
            limit: self.limit()?,
            newest_first: self.newest_first()?,
            after: cursor(&self.after)
                .map_err(|_| ApiError::bad_request("Invalid 'after'.", Some("after")))?,
            before: cursor(&self.before)
                .map_err(|_| ApiError::bad_request("Invalid 'before'.", Some("before")))?,
            attribute_equals: None,
        })
    }

    /// The parameters passed on to an upstream list of a parent the caller
    /// may read (messages, runs, steps); cursors must at least be ids.
    pub fn upstream_query(&self) -> Result<Vec<(String, String)>, ApiError> {
        let mut query = vec![("limit".to_owned(), self.limit()?.to_string())];
        query.push((
            "order".to_owned(),
            if self.newest_first()? { "desc" } else { "asc" }.to_owned(),
        ));
        for (name, value) in [("after", &self.after), ("before", &self.before)] {
            if let Some(value) = value {
                domain::UpstreamId::parse(value.as_str())
                    .map_err(|_| ApiError::bad_request(format!("Invalid '{name}'."), Some(name)))?;
                query.push((name.to_owned(), value.clone()));
            }
        }
        Ok(query)
    }
}

/// `run_id`: only the messages of one run.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Only the messages of this run.
    pub run_id: Option<String>,
}

/// `filter`: only the vector store files in one state.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusFilter {
    /// Only files in this state (`in_progress`, `completed`, `failed`, `cancelled`).
    pub filter: Option<String>,
}

impl StatusFilter {
    /// The state asked for, if it is one.
    pub fn checked(self) -> Result<Option<String>, ApiError> {
        match self.filter {
            Some(status)
                if !matches!(
                    status.as_str(),
                    "in_progress" | "completed" | "failed" | "cancelled"
                ) =>
            {
                Err(ApiError::bad_request("Invalid 'filter'.", Some("filter")))
            }
            filter => Ok(filter),
        }
    }
}

/// `purpose`: only the files of one purpose.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurposeFilter {
    /// Only files with this purpose.
    pub purpose: Option<String>,
}

/// `shared`: threads or conversations other users shared with the caller.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SharedFilter {
    /// `true`: the ones other users shared with the caller (newest share
    /// of any object first by the object's creation); `false` or absent:
    /// the caller's own.
    pub shared: Option<bool>,
}

/// Bodies are JSON objects; anything else is refused before it goes anywhere.
pub fn object_body(body: Value) -> Result<Value, ApiError> {
    if body.is_object() {
        Ok(body)
    } else {
        Err(ApiError::bad_request(
            "The request body must be a JSON object.",
            None,
        ))
    }
}

pub fn ok(value: Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// The API's list envelope around `data`.
pub fn envelope(data: Vec<Value>, has_more: bool) -> Value {
    json!({
        "object": "list",
        "first_id": data.first().map(|item| item["id"].clone()),
        "last_id": data.last().map(|item| item["id"].clone()),
        "has_more": has_more,
        "data": data,
    })
}
