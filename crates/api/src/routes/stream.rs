//! Passing a run's events through to the client as they arrive, and ending
//! the stream honestly when it cannot go on: an upstream that breaks off, or
//! a server that must stop, is told to the client as an `error` event in the
//! upstream's shape, never by a body that just stops.

use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use upstream::{Event, EventStream};

use crate::AppState;
use crate::azure::Surface;
use crate::gateway::metadata;
use crate::gateway::recording::EventHook;

/// Why a stream ended before its run did.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The upstream broke off.
    Upstream,
    /// The server is stopping and its grace period is nearly over.
    Shutdown,
}

impl Cut {
    fn label(self) -> &'static str {
        match self {
            Cut::Upstream => "upstream",
            Cut::Shutdown => "shutdown",
        }
    }

    /// The `error` event that ends the stream, shaped like the upstream's
    /// own (`{type, code, message, param}`).
    fn frame(self) -> Bytes {
        metrics::counter!("threadgate_streams_cut_total", "reason" => self.label()).increment(1);
        let message = match self {
            Cut::Upstream => {
                "The upstream ended the stream before the run finished. The run may still \
                 be going on: retrieve it to follow it."
            }
            Cut::Shutdown => "The server is restarting. The run goes on: retrieve it to follow it.",
        };
        let data = serde_json::json!({
            "type": "server_error",
            "code": "stream_interrupted",
            "message": message,
            "param": Value::Null,
        });
        Bytes::from(format!("event: error\ndata: {data}\n\n"))
    }
}

/// Passes an upstream event stream to the client as it arrives: each event
/// is sent at once, reserved metadata hidden and in `surface`'s shapes,
/// after `hook`'s work for it.
/// If the client goes away, the response stream is dropped, and with it the
/// upstream connection.
pub fn pass_through(
    events: EventStream,
    mut hook: Option<EventHook>,
    state: &AppState,
    surface: Surface,
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
                Ok(event) => Ok(frame(event, surface)),
                Err(error) => {
                    tracing::warn!(%error, "upstream stream broke");
                    Err(Cut::Upstream)
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .streaming(ended_honestly(
            frames,
            state.stream_heartbeat,
            state.draining.clone(),
        ))
}

/// The frames, with an SSE comment (`: keep-alive`, which clients ignore)
/// whenever the stream has been quiet for `heartbeat`, ending with an
/// `error` event when the upstream breaks off or `draining` is cancelled.
/// Writing is also how a server notices that a client has gone: without
/// it, a run that stays quiet would hold its upstream stream open for
/// nobody.
fn ended_honestly(
    frames: impl Stream<Item = Result<Bytes, Cut>> + 'static,
    heartbeat: std::time::Duration,
    draining: CancellationToken,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    stream::unfold(
        Some((Box::pin(frames), ticker, draining)),
        |open| async move {
            let (mut frames, mut ticker, draining) = open?;
            let (frame, go_on) = tokio::select! {
                item = frames.next() => match item? {
                    Ok(frame) => (frame, true),
                    Err(cut) => (cut.frame(), false),
                },
                _ = ticker.tick() => (Bytes::from_static(b": keep-alive\n\n"), true),
                () = draining.cancelled() => (Cut::Shutdown.frame(), false),
            };
            Some((Ok(frame), go_on.then_some((frames, ticker, draining))))
        },
    )
}

fn frame(mut event: Event, surface: Surface) -> Bytes {
    if !event.is_done() {
        if let Ok(mut data) = serde_json::from_str::<Value>(&event.data) {
            metadata::hide_reserved(&mut data);
            surface.shape(&mut data);
            event.data = data.to_string();
        }
    }
    Bytes::from(format!("event: {}\ndata: {}\n\n", event.event, event.data))
}
