//! Server-sent events from the upstream, one at a time as they arrive.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};

use crate::error::UpstreamError;

/// One event: its name (`thread.run.created`, …, `done`) and its data (JSON,
/// or `[DONE]`), passed on as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: String,
    pub data: String,
}

impl Event {
    /// The stream's last event: `event: done`, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

/// The events of one streamed response. Ends after `[DONE]`; a connection
/// that breaks before it yields an error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, UpstreamError>> + Send>>;

pub(crate) fn events(response: reqwest::Response) -> EventStream {
    use eventsource_stream::Eventsource;

    let mut finished = false;
    let stream = response
        .bytes_stream()
        .eventsource()
        .take_while(move |item| {
            // Stop after [DONE]: nothing the upstream sends later is ours.
            let go_on = !finished;
            if let Ok(event) = item {
                finished = event.data == "[DONE]";
            }
            futures_util::future::ready(go_on)
        })
        .map(|item| match item {
            Ok(event) => Ok(Event {
                event: if event.event.is_empty() {
                    "message".to_owned()
                } else {
                    event.event
                },
                data: event.data,
            }),
            Err(error) => Err(UpstreamError::Transport(format!(
                "event stream broke: {error}"
            ))),
        });
    Box::pin(stream)
}
