//! Server-Sent Events of a run: stdout and stderr lines as they come, then the result.

use std::time::Duration;

use actix_web::http::header;
use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream::{self, Stream};

use crate::catalog::Run;
use crate::error::ApiError;
use crate::process::Stream as Output;
use crate::runner::{LiveEvent, LiveOutput, Runner};

use super::lookup::find_run;
use super::runs::run_view;
use super::{resource, AppState, Gate};

/// How long an event stream may stay silent before a comment line keeps it open.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);
pub(super) const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/runs/{id}/events",
        Gate::RunReads,
        [(Method::GET, web::to(get_run_events))],
    ));
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(get_run_events))]
pub struct EventsApi;

/// One Server-Sent Event of a run: `stdout` and `stderr` carry one line in `data`; `end`
/// carries the run (as `GET /api/runs/{id}` shows it) as JSON text, and is the last event.
#[derive(utoipa::ToSchema)]
#[schema(as = RunEvent)]
#[allow(dead_code)]
pub struct RunEventView {
    /// Its position; send it back as `Last-Event-ID` to resume after it.
    id: String,
    event: RunEventKind,
    data: String,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum RunEventKind {
    Stdout,
    Stderr,
    End,
}

pub fn wants_event_stream(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"))
}

/// Live stdout and stderr lines of a run, then its final record (Server-Sent Events).
///
/// Events are `stdout`, `stderr` (one line each) and `end` (the run, as `GET /api/runs/{id}`
/// shows it). A finished run is replayed. `Last-Event-ID` resumes after that event.
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    tag = "runs",
    params(
        ("id" = i64, Path, description = "The run's id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = RunEventView),
        (status = 404, description = "No run with this id", body = crate::error::ErrorBody),
    )
)]
async fn get_run_events(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let resume_after = request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    stream(&state, id.into_inner(), resume_after.map_or(0, |id| id + 1)).await
}

/// A live run is followed; a finished one is replayed from its record.
pub async fn stream(state: &AppState, run_id: i64, from: usize) -> Result<HttpResponse, ApiError> {
    let body: Box<dyn Stream<Item = Result<Bytes, actix_web::Error>> + Unpin> =
        match state.runner.live(run_id) {
            Some(live) => Box::new(Box::pin(follow(live, from))),
            None => {
                let run = find_run(state, run_id).await?;
                let frames = replay(&state.runner, &run).await;
                let frames: Vec<_> = frames.into_iter().skip(from).map(Ok).collect();
                Box::new(stream::iter(frames))
            }
        };
    Ok(event_stream(body))
}

/// A 200 answer streaming `body`'s Server-Sent Events, unbuffered by proxies.
pub(super) fn event_stream(
    body: impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

struct Follow {
    live: std::sync::Arc<LiveOutput>,
    cursor: usize,
    done: bool,
}

fn follow(
    live: std::sync::Arc<LiveOutput>,
    from: usize,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    stream::unfold(
        Follow {
            live,
            cursor: from,
            done: false,
        },
        |mut state| async move {
            if state.done {
                return None;
            }
            let events = match tokio::time::timeout(
                KEEP_ALIVE,
                state.live.next_events(state.cursor),
            )
            .await
            {
                Err(_) => return Some((Ok(Bytes::from_static(KEEP_ALIVE_FRAME)), state)),
                Ok(events) if events.is_empty() => return None,
                Ok(events) => events,
            };
            let mut chunk = String::new();
            for event in events {
                if let LiveEvent::End(run) = &event {
                    // The record as the catalog stored it at the end: no second read.
                    chunk.push_str(&end_frame(state.cursor, run));
                    state.done = true;
                } else if let LiveEvent::Line { stream, text } = &event {
                    chunk.push_str(&line_frame(state.cursor, *stream, text));
                }
                state.cursor += 1;
            }
            Some((Ok(Bytes::from(chunk)), state))
        },
    )
}

/// A finished run's events, rebuilt from its record.
async fn replay(runner: &Runner, run: &Run) -> Vec<Bytes> {
    let lines = match runner.recorded_lines(run).await {
        Some(lines) => lines,
        None => reconstructed_lines(run),
    };
    let mut frames: Vec<Bytes> = lines
        .iter()
        .enumerate()
        .map(|(i, (s, t))| Bytes::from(line_frame(i, *s, t)))
        .collect();
    frames.push(Bytes::from(end_frame(lines.len(), run)));
    frames
}

/// For runs without an event log (stopped before their end was recorded): what the record holds.
fn reconstructed_lines(run: &Run) -> Vec<(Output, String)> {
    let mut lines: Vec<(Output, String)> = Vec::new();
    if let Some(data) = &run.data {
        lines.push((Output::Stdout, data.to_string()));
    } else if let Some(preview) = &run.stdout_preview {
        lines.extend(preview.lines().map(|l| (Output::Stdout, l.to_string())));
    }
    if let Some(stderr) = &run.stderr {
        lines.extend(stderr.lines().map(|l| (Output::Stderr, l.to_string())));
    }
    lines
}

fn line_frame(id: usize, stream: Output, text: &str) -> String {
    let name = if stream == Output::Stdout {
        "stdout"
    } else {
        "stderr"
    };
    format!(
        "id: {id}\nevent: {name}\ndata: {}\n\n",
        text.replace(['\r', '\n'], " ")
    )
}

fn end_frame(id: usize, run: &Run) -> String {
    let view = serde_json::to_string(&run_view(run)).expect("a run view serialises");
    format!("id: {id}\nevent: end\ndata: {view}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_sse_format() {
        assert_eq!(
            line_frame(3, Output::Stderr, "a\rb"),
            "id: 3\nevent: stderr\ndata: a b\n\n"
        );
        assert_eq!(
            line_frame(0, Output::Stdout, "x"),
            "id: 0\nevent: stdout\ndata: x\n\n"
        );
    }
}
