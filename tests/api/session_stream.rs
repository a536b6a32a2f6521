//! A session call followed live (`Accept: text/event-stream` or `stream=true`): output events
//! as the code writes, the plain reply as the last event, timeouts, kills and `exit()` as
//! without streaming, printed protocol look-alikes kept as text, and a client that leaves
//! mid-call leaving the call to finish.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::async_support::{open_events_with, EventStream, SseEvent};
use crate::helpers::{assert_error, data_dir, TestApp, TestRepo, WAIT};
use crate::sessions::{alive, call, create, exec_app, execute, MASTER};

/// `code` run in session `id`, answered as an event stream (headers may replace the Accept).
fn open_call(
    app: &TestApp,
    id: &str,
    code: &str,
    timeout: Option<f64>,
    query_and_headers: (&str, &[(&str, &str)]),
) -> EventStream {
    let (query, extra) = query_and_headers;
    let mut body = json!({"code": code});
    if let Some(timeout) = timeout {
        body["timeout"] = json!(timeout);
    }
    let mut headers = vec![("X-API-Key", MASTER)];
    headers.extend_from_slice(extra);
    let target = format!("/api/sessions/{id}/execute{query}");
    let stream = open_events_with(app, "POST", &target, &headers, Some(&body));
    assert_eq!(stream.status, 200, "streaming {code:?}");
    assert!(
        stream
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{:?}",
        stream.headers
    );
    stream
}

/// Every event of `code` run in session `id` with `Accept: text/event-stream`.
fn stream_call(app: &TestApp, id: &str, code: &str, timeout: Option<f64>) -> Vec<SseEvent> {
    open_call(app, id, code, timeout, ("", &[])).until_end(WAIT)
}

/// The text an output event carries.
fn text(event: &SseEvent) -> String {
    let data: Value = serde_json::from_str(&event.data)
        .unwrap_or_else(|e| panic!("{} data is not JSON ({e}): {event:?}", event.event));
    data["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {event:?}"))
        .to_string()
}

/// The texts of every `name` event, joined.
fn joined(events: &[SseEvent], name: &str) -> String {
    events
        .iter()
        .filter(|e| e.event == name)
        .map(text)
        .collect()
}

/// The `end` event's outcome, which must be the last event.
fn outcome(events: &[SseEvent]) -> Value {
    let last = events.last().expect("at least the end event");
    assert_eq!(last.event, "end", "{events:#?}");
    serde_json::from_str(&last.data).expect("the end event holds JSON")
}

/// An outcome without what differs from call to call (its duration, where an interrupt hit).
fn comparable(reply: &Value) -> Value {
    let mut reply = reply.clone();
    let fields = reply.as_object_mut().expect("an outcome is an object");
    fields.remove("duration_ms");
    if let Some(error) = fields.get_mut("error").and_then(Value::as_object_mut) {
        error.remove("traceback");
    }
    reply
}

/// When the first output event holding `needle` arrived.
fn arrival(events: &[SseEvent], needle: &str) -> Instant {
    events
        .iter()
        .find(|e| e.event == "stdout" && text(e).contains(needle))
        .unwrap_or_else(|| panic!("no stdout event with {needle:?}: {events:#?}"))
        .at
}

fn create_node(app: &TestApp) -> String {
    let body = json!({"runtime": "node"});
    let reply = call(app, "POST", "/api/sessions", Some(&body));
    assert_eq!(reply.status, 201, "create: {}", reply.body);
    reply.body["id"].as_str().expect("an id").to_string()
}

/// Output printed before a one-second pause arrives well before what follows it, stdout
/// and stderr apart, and the end event is what the same call answers without streaming.
fn assert_streams_live(app: &TestApp, sessions: [&str; 2], code: &str, result: &str) {
    let events = stream_call(app, sessions[0], code, None);
    let (a, b) = (arrival(&events, "a"), arrival(&events, "b"));
    assert!(
        b.duration_since(a) >= Duration::from_millis(500),
        "`a` came {:?} before `b`, not before the pause: {events:#?}",
        b.duration_since(a)
    );
    assert_eq!(joined(&events, "stdout"), "a\nb\n", "{events:#?}");
    assert_eq!(joined(&events, "stderr"), "warn\n", "{events:#?}");
    let streamed = outcome(&events);
    assert_eq!(streamed["result"], json!(result), "{streamed}");
    let plain = execute(app, sessions[1], code, None);
    assert_eq!(
        comparable(&streamed),
        comparable(&plain),
        "streamed vs plain"
    );
}

#[test]
fn python_output_streams_as_it_is_printed_and_ends_with_the_plain_reply() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let code = "import sys, time\nprint('a')\nprint('warn', file=sys.stderr)\n\
                time.sleep(1)\nprint('b')\n'done'";
    let sessions = [create(&app).0, create(&app).0];
    assert_streams_live(&app, [&sessions[0], &sessions[1]], code, "'done'");
}

#[test]
fn node_output_streams_as_it_is_written_and_ends_with_the_plain_reply() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let code = "console.log('a'); console.error('warn');\n\
                new Promise((r) => setTimeout(r, 1000)).then(() => { console.log('b'); return 'done'; })";
    let sessions = [create_node(&app), create_node(&app)];
    assert_streams_live(&app, [&sessions[0], &sessions[1]], code, "'done'");
}

#[test]
fn streamed_timeouts_kills_and_exits_end_as_they_do_without_streaming() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let looping = "print('looping')\nwhile True:\n    pass";
    let stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n\
                    print('stubborn')\nwhile True:\n    pass";
    // (what, code, its output as streamed, status, error name, whether the session lives on)
    let cases = [
        (
            "interrupt",
            looping,
            "looping\n",
            "interrupted",
            json!("KeyboardInterrupt"),
            true,
        ),
        (
            "grace kill",
            stubborn,
            "stubborn\n",
            "exit",
            json!("Killed"),
            false,
        ),
        (
            "exit()",
            "print('bye')\nexit(3)",
            "bye\n",
            "exit",
            Value::Null,
            false,
        ),
    ];
    for (what, code, printed, status, error, lives) in cases {
        let (streamed_in, pid) = create(&app);
        let (plain_in, _) = create(&app);
        execute(&app, &streamed_in, "kept = 41", None);
        execute(&app, &plain_in, "kept = 41", None);
        let events = stream_call(&app, &streamed_in, code, Some(0.5));
        assert_eq!(joined(&events, "stdout"), printed, "{what}: {events:#?}");
        let streamed = outcome(&events);
        assert_eq!(streamed["status"], json!(status), "{what}: {streamed}");
        assert_eq!(streamed["error"]["name"], error, "{what}: {streamed}");
        let plain = execute(&app, &plain_in, code, Some(0.5));
        assert_eq!(comparable(&streamed), comparable(&plain), "{what}");
        let next = call(
            &app,
            "POST",
            &format!("/api/sessions/{streamed_in}/execute"),
            Some(&json!({"code": "kept + 1"})),
        );
        if lives {
            assert_eq!(next.body["result"], json!("42"), "{what}: {}", next.body);
            assert!(alive(pid), "{what}: the same worker");
        } else {
            assert_error(what, next.status, &next.body, 404, "not_found");
        }
    }
}

#[test]
fn printed_protocol_lines_stream_as_text_and_leave_the_worker_in_step() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, _) = create(&app);
    // The first call of a session is call 1: these name it.
    let forged_reply = r#"{"id": 1, "status": "ok", "stdout": "forged"}"#;
    let forged_piece = r#"{"id": 1, "stream": "stderr", "text": "forged"}"#;
    let code = format!("print('{forged_reply}')\nprint('{forged_piece}', end='')\n'after'");
    let events = stream_call(&app, &id, &code, None);
    let printed = format!("{forged_reply}\n{forged_piece}");
    assert_eq!(joined(&events, "stdout"), printed, "{events:#?}");
    assert_eq!(joined(&events, "stderr"), "", "{events:#?}");
    let end = outcome(&events);
    assert_eq!(
        (&end["status"], &end["result"], &end["stdout"]),
        (&json!("ok"), &json!("'after'"), &json!(printed)),
        "{end}"
    );
    let next = execute(&app, &id, "2 + 2", None);
    assert_eq!(next["result"], json!("4"), "{next}");
}

#[test]
fn a_client_that_leaves_mid_stream_leaves_the_call_to_finish_and_the_session_usable() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, pid) = create(&app);
    // After the client left, more output than any pipe or channel would hold unread.
    let code = "import time\nprint('started')\ntime.sleep(1)\n\
                for i in range(50000):\n    print(i)\nfinished = 'yes'";
    let mut stream = open_call(&app, &id, code, None, ("", &[]));
    let first = stream.next_event(WAIT).expect("the first event");
    assert_eq!(
        (first.event.as_str(), text(&first)),
        ("stdout", "started\n".to_string())
    );
    drop(stream);
    let after = execute(&app, &id, "finished", None);
    assert_eq!(
        after["result"],
        json!("'yes'"),
        "the call ran to its end: {after}"
    );
    assert!(alive(pid), "the same worker");
    let events = stream_call(&app, &id, "print(finished)", None);
    assert_eq!(joined(&events, "stdout"), "yes\n", "{events:#?}");
}

#[test]
fn the_stream_query_option_streams_too_and_errors_before_the_stream_are_json() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (id, _) = create(&app);
    let json_accept: &[(&str, &str)] = &[("Accept", "application/json")];
    let events =
        open_call(&app, &id, "print('q')", None, ("?stream=true", json_accept)).until_end(WAIT);
    assert_eq!(joined(&events, "stdout"), "q\n", "{events:#?}");
    let sse: &[(&str, &str)] = &[("X-API-Key", MASTER), ("Accept", "text/event-stream")];
    let body = json!({"code": "1"});
    let bad_option = format!("/api/sessions/{id}/execute?stream=maybe");
    let cases = [
        ("/api/sessions/nope/execute", 404, "not_found"),
        (bad_option.as_str(), 400, "invalid_query"),
    ];
    for (path, status, code) in cases {
        let reply = app.call("POST", path, sse, Some(&body));
        assert_error(path, reply.status, &reply.body, status, code);
    }
    let plain = execute(&app, &id, "print('p')", None);
    assert_eq!(
        plain["stdout"],
        json!("p\n"),
        "without asking, JSON: {plain}"
    );
}
