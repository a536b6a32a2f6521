//! A session call followed live, as Server-Sent Events in the shape of a run's: `stdout` and
//! `stderr` events as the code writes, then `end` with the call's outcome. A piece of output
//! need not be a whole line, so its text travels as JSON, `{"text": "..."}`: the pieces of
//! a stream joined are exactly the `stdout` or `stderr` of the outcome.

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error::ApiError;
use crate::process::Stream as Output;
use crate::sessions::CallEvent;

use super::events::{event_stream, KEEP_ALIVE, KEEP_ALIVE_FRAME};

/// One Server-Sent Event of a session call: `stdout` and `stderr` carry `{"text": "..."}`,
/// a piece of output as the code wrote it; `end` carries the outcome (what the call answers
/// without `Accept: text/event-stream`) and is the last event; `error` (last too) carries an
/// error body, should the session end before the call could start.
#[derive(utoipa::ToSchema)]
#[schema(as = SessionEvent)]
#[allow(dead_code)]
pub struct SessionEventView {
    /// Its position in this call's stream, from 0 (a call's stream cannot be resumed).
    id: String,
    event: SessionEventKind,
    data: String,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum SessionEventKind {
    Stdout,
    Stderr,
    End,
    Error,
}

struct Follow {
    events: UnboundedReceiver<CallEvent>,
    next_id: usize,
    done: bool,
}

/// The answer that follows a call's `events` to their end. A client that goes away only
/// stops the following: the call runs on to its end.
pub(super) fn respond(events: UnboundedReceiver<CallEvent>) -> HttpResponse {
    let start = Follow {
        events,
        next_id: 0,
        done: false,
    };
    event_stream(Box::pin(stream::unfold(start, next_frames)))
}

/// What arrived since the last frames (at least one event, or a keep-alive comment).
async fn next_frames(mut state: Follow) -> Option<(Result<Bytes, actix_web::Error>, Follow)> {
    if state.done {
        return None;
    }
    let first = match tokio::time::timeout(KEEP_ALIVE, state.events.recv()).await {
        Err(_) => return Some((Ok(Bytes::from_static(KEEP_ALIVE_FRAME)), state)),
        Ok(first) => first,
    };
    let mut frames = String::new();
    let mut event = first;
    loop {
        let Some(current) = event else {
            // The call's task ended without its end event: it failed.
            let error = ApiError::internal(&"a session call's task ended without an outcome");
            frames.push_str(&frame(state.next_id, "error", &error.body().to_string()));
            state.done = true;
            break;
        };
        let (name, data) = event_data(current);
        frames.push_str(&frame(state.next_id, name, &data));
        state.next_id += 1;
        state.done = matches!(name, "end" | "error");
        if state.done {
            break;
        }
        match state.events.try_recv() {
            Ok(more) => event = Some(more),
            Err(_) => break,
        }
    }
    Some((Ok(Bytes::from(frames)), state))
}

/// An event's name and its data, one line of JSON.
fn event_data(event: CallEvent) -> (&'static str, String) {
    match event {
        CallEvent::Output { stream, text } => {
            let name = match stream {
                Output::Stdout => "stdout",
                Output::Stderr => "stderr",
            };
            (name, json!({ "text": text }).to_string())
        }
        CallEvent::End(Ok(reply)) => (
            "end",
            serde_json::to_string(&reply).expect("a call's reply serialises"),
        ),
        CallEvent::End(Err(error)) => ("error", ApiError::from(error).body().to_string()),
    }
}

fn frame(id: usize, name: &str, data: &str) -> String {
    format!("id: {id}\nevent: {name}\ndata: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::SessionError;

    #[test]
    fn output_travels_as_one_line_of_json_whatever_its_text() {
        let cases = [
            ("a\n", r#"{"text":"a\n"}"#),
            ("no newline", r#"{"text":"no newline"}"#),
            ("two\nlines\r\n", r#"{"text":"two\nlines\r\n"}"#),
            (
                "{\"id\": 1, \"status\": \"ok\"}",
                r#"{"text":"{\"id\": 1, \"status\": \"ok\"}"}"#,
            ),
            ("é😀", r#"{"text":"é😀"}"#),
        ];
        for (text, data) in cases {
            let event = CallEvent::Output {
                stream: Output::Stderr,
                text: text.into(),
            };
            assert_eq!(event_data(event), ("stderr", data.to_string()), "{text:?}");
        }
    }

    #[test]
    fn frames_follow_the_sse_format_of_runs() {
        assert_eq!(
            frame(2, "stdout", r#"{"text":"x"}"#),
            "id: 2\nevent: stdout\ndata: {\"text\":\"x\"}\n\n"
        );
        let gone = CallEvent::End(Err(SessionError::NotFound("abc".into())));
        let (name, data) = event_data(gone);
        assert_eq!(name, "error");
        let body: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    }
}
