//! Server-sent events: `event: <name>` / `data: <json>` frames as the run
//! produces them, then `event: done` / `data: [DONE]`.

use actix_web::HttpResponse;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde_json::Value;
use tokio::sync::mpsc;

/// One event on its way to the client.
#[derive(Debug)]
pub(crate) struct Event {
    pub name: &'static str,
    pub data: Value,
}

/// The sending half, handed to the run's driver. Sending never fails the
/// run: a client that went away just stops receiving.
#[derive(Debug, Clone)]
pub(crate) struct Emitter(Option<mpsc::UnboundedSender<Event>>);

impl Emitter {
    pub fn none() -> Self {
        Emitter(None)
    }

    pub fn emit(&self, name: &'static str, data: &Value) {
        if let Some(sender) = &self.0 {
            let _ = sender.send(Event {
                name,
                data: data.clone(),
            });
        }
    }
}

/// Counts a streamed answer as open until its body is dropped.
struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        OpenStream(open)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A streaming response and the emitter that feeds it, ending with
/// `[DONE]` as the Assistants API's streams do. With `drop_after`, the
/// connection is cut after that many events, without `[DONE]`.
pub(crate) fn channel(
    drop_after: Option<usize>,
    open: Arc<AtomicUsize>,
    heartbeat: Duration,
) -> (Emitter, HttpResponse) {
    channel_ending(drop_after, open, heartbeat, true)
}

/// As [`channel`], ending after the last event with nothing more, as the
/// Responses API's streams do.
pub(crate) fn channel_without_done(
    drop_after: Option<usize>,
    open: Arc<AtomicUsize>,
    heartbeat: Duration,
) -> (Emitter, HttpResponse) {
    channel_ending(drop_after, open, heartbeat, false)
}

fn channel_ending(
    drop_after: Option<usize>,
    open: Arc<AtomicUsize>,
    heartbeat: Duration,
    with_done: bool,
) -> (Emitter, HttpResponse) {
    let (sender, receiver) = mpsc::unbounded_channel::<Event>();
    let guard = OpenStream::new(open);
    let frames = stream::unfold(
        (receiver, 0_usize, false),
        move |(mut receiver, sent, finished)| async move {
            if finished {
                return None;
            }
            if drop_after.is_some_and(|limit| sent >= limit) {
                let cut = std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "fault: stream dropped",
                );
                return Some((Err(cut), (receiver, sent, true)));
            }
            match receiver.recv().await {
                Some(event) => {
                    let frame = format!("event: {}\ndata: {}\n\n", event.name, event.data);
                    Some((Ok(Bytes::from(frame)), (receiver, sent + 1, false)))
                }
                None if with_done => Some((
                    Ok(Bytes::from_static(b"event: done\ndata: [DONE]\n\n")),
                    (receiver, sent, true),
                )),
                None => None,
            }
        },
    );
    // The guard lives as long as the body: a client that goes away drops it.
    let frames = frames.map(move |frame| {
        let _open = &guard;
        frame
    });
    // Quiet streams get keep-alive comments: writing is how a server notices
    // that its client went away.
    let ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let frames = stream::unfold(
        (Box::pin(frames), ticker),
        |(mut frames, mut ticker)| async move {
            tokio::select! {
                frame = frames.next() => frame.map(|frame| (frame, (frames, ticker))),
                _ = ticker.tick() => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (frames, ticker))),
            }
        },
    );
    let response = HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(frames);
    (Emitter(Some(sender)), response)
}
