//! Pieces the route modules share: list parameters, the list envelope,
//! and passing streams through.

use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use storage::repo::resources::PageQuery;
use upstream::{Event, EventStream};
use utoipa::IntoParams;

use crate::ApiError;
use crate::gateway::metadata;
use crate::gateway::recording::EventHook;

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

/// Passes an upstream event stream to the client as it arrives: each event
/// is sent at once, reserved metadata hidden, after `hook`'s work for it.
/// If the client goes away, the response stream is dropped, and with it the
/// upstream connection.
pub fn pass_through(
    events: EventStream,
    mut hook: Option<EventHook>,
    heartbeat: std::time::Duration,
) -> HttpResponse {
    let open = crate::observe::OpenStream::new();
    let frames = events.then(move |item| {
        // Lives as long as the stream: counted open until dropped.
        let _open = &open;
        let work = match (&item, hook.as_mut()) {
            (Ok(event), Some(hook)) => hook(event),
            _ => None,
        };
        async move {
            if let Some(work) = work {
                work.await;
            }
            match item {
                Ok(event) => Ok::<Bytes, std::io::Error>(frame(event)),
                // The upstream broke off: break off too, so the client sees it.
                Err(error) => {
                    tracing::warn!(%error, "upstream stream broke");
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "upstream stream broke",
                    ))
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .streaming(with_heartbeats(frames, heartbeat))
}

/// Adds an SSE comment (`: keep-alive`, which clients ignore) whenever the
/// stream has been quiet for `period`, ending when the stream ends. Writing
/// is how a server notices that a client has gone: without it, a run that
/// stays quiet would hold its upstream stream open for nobody.
fn with_heartbeats(
    frames: impl Stream<Item = Result<Bytes, std::io::Error>> + 'static,
    period: std::time::Duration,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    stream::unfold(
        (Box::pin(frames), ticker),
        |(mut frames, mut ticker)| async move {
            tokio::select! {
                item = frames.next() => item.map(|item| (item, (frames, ticker))),
                _ = ticker.tick() => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (frames, ticker))),
            }
        },
    )
}

fn frame(mut event: Event) -> Bytes {
    if !event.is_done() {
        if let Ok(mut data) = serde_json::from_str::<Value>(&event.data) {
            metadata::hide_reserved(&mut data);
            event.data = data.to_string();
        }
    }
    Bytes::from(format!("event: {}\ndata: {}\n\n", event.event, event.data))
}
