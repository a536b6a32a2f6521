//! Async runs, `wait` handoff, live output (Server-Sent Events), cancellation, the
//! concurrency limits and their queue, against the real server.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::async_support::{
    expected_lines, is_final, item_run_id, line_pairs, lines, open_events, pids_with, poll_run,
    processes_gone, sleeper, spawner, unique_marker, wait_active, wait_for_processes, Reaper,
    SseEvent, LINES_PATH, SLEEPER_PATH, SPAWNER_PATH,
};
use crate::helpers::{
    assert_error, data_dir, spawn_app, wait_for, wait_until, TestApp, TestRepo, WAIT,
};
use crate::run_support::{assert_success, run_total, script_id};

/// (what, query string, headers, JSON body: POST when present, else GET).
type AsyncCase<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Option<Value>);

/// Asserts a `202` accepted answer for a run and returns its id.
fn assert_accepted(what: &str, status: u16, location: Option<&str>, body: &Value) -> i64 {
    assert_eq!(status, 202, "{what}: {body}");
    let run_id = body["run_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: run_id: {body}"));
    let url = format!("/api/runs/{run_id}");
    // "queued" when accepted to run later; "running" when a `wait` ran out mid-run.
    let expected = if what.starts_with("wait=") {
        "running"
    } else {
        "queued"
    };
    assert_eq!(body["status"], json!(expected), "{what}: {body}");
    assert_eq!(body["url"], json!(url), "{what}: {body}");
    assert_eq!(location, Some(url.as_str()), "{what}: Location header");
    run_id
}

/// A finished sleeper run as the history shows it.
fn assert_sleeper_success(what: &str, run: &Value, run_id: i64, value: &str, slept: f64) {
    assert_eq!(run["id"], json!(run_id), "{what}: {run}");
    assert_eq!(run["status"], json!("success"), "{what}: {run}");
    assert_eq!(run["exit_code"], json!(0), "{what}: {run}");
    assert_eq!(
        run["data"],
        json!({"value": value, "slept": slept}),
        "{what}: {run}"
    );
    assert!(run.get("error").is_none(), "{what}: no error: {run}");
    assert!(run["finished_at"].is_string(), "{what}: finished_at: {run}");
}

fn sleeper_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(SLEEPER_PATH, &sleeper());
    repo
}

#[test]
fn async_runs_answer_202_at_once_and_wait_hands_off_without_stopping_the_run() {
    let repo = sleeper_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, SLEEPER_PATH);
    let run = format!("/api/scripts/{id}/run");

    std::thread::scope(|scope| {
        // `wait=1` on a 3 s run: 202 after about a second, and the run goes on.
        let handed_off = scope.spawn(|| {
            let asked = Instant::now();
            let reply = app.call(
                "GET",
                &format!("{run}?seconds=3&value=handed-off&wait=1"),
                &[],
                None,
            );
            (asked.elapsed(), reply)
        });
        // A sync client that goes away mid-run does not stop the run.
        let dropped = scope.spawn(|| sync_client_leaves_mid_run(&app, id));

        let cases: [AsyncCase; 4] = [
            (
                "GET ?async=true",
                "?seconds=0.6&value=by-query&async=true",
                &[],
                None,
            ),
            (
                "POST JSON with Prefer: respond-async",
                "",
                &[("Prefer", "respond-async")],
                Some(json!({"seconds": 0.6, "value": "by-prefer"})),
            ),
            (
                "POST JSON with a Prefer list",
                "",
                &[("Prefer", "return=minimal, respond-async")],
                Some(json!({"seconds": 0.6, "value": "by-prefer-list"})),
            ),
            (
                "POST JSON with ?_async=1",
                "?_async=1",
                &[],
                Some(json!({"seconds": 0.6, "value": "by-underscore"})),
            ),
        ];
        for (what, query, headers, body) in cases {
            let method = if body.is_some() { "POST" } else { "GET" };
            let asked = Instant::now();
            let reply = app.call(method, &format!("{run}{query}"), headers, body.as_ref());
            let answered = asked.elapsed();
            let run_id = assert_accepted(what, reply.status, reply.header("location"), &reply.body);
            let (status, now) = app.get(&format!("/api/runs/{run_id}"));
            assert_eq!(status, 200, "{what}: {now}");
            assert!(
                !is_final(&now["status"]),
                "{what}: the answer came before the run ended ({answered:?}): {now}"
            );
            let value = body
                .as_ref()
                .map_or("by-query", |b| b["value"].as_str().expect("a value"));
            let done = poll_run(&app, run_id, WAIT);
            assert_sleeper_success(what, &done, run_id, value, 0.6);
            assert!(
                done["duration_ms"].as_i64().unwrap_or(0) >= 600,
                "{what}: the run really slept: {done}"
            );
        }

        // `wait=1` on a run that ends in time: the result itself.
        let (status, body) = app.get(&format!("{run}?seconds=0.2&value=in-time&wait=1"));
        assert_success("wait=1 on a 0.2 s run", status, &body);
        assert_eq!(body["data"], json!({"value": "in-time", "slept": 0.2}));

        for bad in ["wait=0", "wait=soon", "async=maybe", "_wait=-1"] {
            let (status, body) = app.get(&format!("{run}?value=bad&{bad}"));
            assert_error(bad, status, &body, 400, "invalid_query");
        }

        let (waited, reply) = handed_off.join().expect("no panic");
        let run_id = assert_accepted(
            "wait=1 on a 3 s run",
            reply.status,
            reply.header("location"),
            &reply.body,
        );
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
            "wait=1 answers after about a second, not {waited:?}"
        );
        let done = poll_run(&app, run_id, WAIT);
        assert_sleeper_success(
            "a run whose client stopped waiting",
            &done,
            run_id,
            "handed-off",
            3.0,
        );
        assert!(done["duration_ms"].as_i64().unwrap_or(0) >= 3000, "{done}");

        dropped.join().expect("no panic");
    });
    assert_eq!(run_total(&app), 7, "bad options started no run");
}

/// Sends a sync run request over a plain socket, closes the socket once the run is running,
/// and checks the run still ends successfully.
fn sync_client_leaves_mid_run(app: &TestApp, script: i64) {
    let host = app.address.strip_prefix("http://").expect("http");
    let mut socket = TcpStream::connect(host).expect("the gateway accepts connections");
    let request = format!(
        "GET /api/scripts/{script}/run?seconds=1.5&value=client-left HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    socket
        .write_all(request.as_bytes())
        .expect("the request is sent");
    let running = wait_for(WAIT, || {
        let (_, body) = app.get(&format!(
            "/api/runs?script_id={script}&status=running&page_size=100"
        ));
        body["items"]
            .as_array()?
            .iter()
            .find(|r| r["params"]["value"] == json!("client-left"))
            .cloned()
    })
    .expect("the sync run is listed as running");
    let run_id = running["id"].as_i64().expect("an id");
    drop(socket);
    let done = poll_run(app, run_id, WAIT);
    assert_sleeper_success(
        "a sync run whose client hung up",
        &done,
        run_id,
        "client-left",
        1.5,
    );
}

/// The stdout events of a stream, in order.
fn stdout_lines(events: &[SseEvent]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e.event == "stdout")
        .map(|e| e.data.as_str())
        .collect()
}

/// Ids 0, 1, 2, … in order, `end` last, and the end's run succeeded.
fn assert_well_formed(what: &str, events: &[SseEvent], run_id: i64, first_id: usize) -> Value {
    let ids: Vec<usize> = events.iter().map(SseEvent::number).collect();
    let want: Vec<usize> = (first_id..first_id + events.len()).collect();
    assert_eq!(ids, want, "{what}: consecutive ids: {events:#?}");
    let end = events.last().expect("at least the end event");
    let run = end.run();
    assert_eq!(run["id"], json!(run_id), "{what}: {run}");
    assert_eq!(run["status"], json!("success"), "{what}: {run}");
    assert_eq!(run["exit_code"], json!(0), "{what}: {run}");
    assert!(run["finished_at"].is_string(), "{what}: {run}");
    assert!(
        run["stderr"]
            .as_str()
            .unwrap_or("")
            .contains("warn: half way"),
        "{what}: the run's stderr: {run}"
    );
    run
}

/// The first line arrived well before the run ended: output is streamed, not sent at the end.
fn assert_progressive(what: &str, events: &[SseEvent]) {
    let first = events.first().expect("events").at;
    let end = events.last().expect("events").at;
    assert!(
        end.duration_since(first) >= Duration::from_millis(900),
        "{what}: the first line came {:?} before the end; lines are not streamed as printed",
        end.duration_since(first)
    );
}

#[test]
fn run_events_stream_lines_as_printed_to_live_late_and_resuming_clients() {
    let repo = TestRepo::new();
    repo.write(LINES_PATH, &lines());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, LINES_PATH);

    let reply = app.call(
        "POST",
        &format!("/api/scripts/{id}/run?async=true"),
        &[],
        Some(&json!({})),
    );
    let run_id = assert_accepted(
        "async lines",
        reply.status,
        reply.header("location"),
        &reply.body,
    );
    let events_path = format!("/api/runs/{run_id}/events");

    let mut live = open_events(&app, &events_path, &[]);
    assert_eq!(live.status, 200, "GET events");
    assert!(
        live.header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "content type: {:?}",
        live.headers
    );
    let mut seen = Vec::new();
    while stdout_lines(&seen).len() < 2 {
        let event = live
            .next_event(WAIT)
            .unwrap_or_else(|| panic!("the first two lines never came: {seen:#?}"));
        seen.push(event);
    }
    let (_, now) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(
        now["status"],
        json!("running"),
        "two lines in, the run goes on: {now}"
    );
    // Late join: everything printed so far, then the rest.
    let mut late = open_events(&app, &events_path, &[]);
    // Resume while live, after the second line (id 1).
    let mut resumed = open_events(&app, &events_path, &[("Last-Event-ID", "1")]);

    seen.extend(live.until_end(WAIT));
    assert_eq!(
        line_pairs(&seen),
        expected_lines(0),
        "live follower: {seen:#?}"
    );
    let run = assert_well_formed("live follower", &seen, run_id, 0);
    assert_progressive("live follower", &seen);
    assert_eq!(run["type"], json!("file"), "stdout was not JSON: {run}");
    assert!(
        run["stdout_preview"]
            .as_str()
            .unwrap_or("")
            .starts_with("line 0\nline 1\nline 2"),
        "{run}"
    );
    assert!(
        live.closes_within(Duration::from_secs(5)),
        "the stream closes after its end event"
    );

    let late_events = late.until_end(WAIT);
    assert_eq!(
        line_pairs(&late_events),
        expected_lines(0),
        "late joiner: {late_events:#?}"
    );
    assert_well_formed("late joiner", &late_events, run_id, 0);
    assert!(late.closes_within(Duration::from_secs(5)));

    let resumed_events = resumed.until_end(WAIT);
    assert_eq!(
        line_pairs(&resumed_events),
        expected_lines(2),
        "Last-Event-ID: 1 while live: {resumed_events:#?}"
    );
    assert_well_formed("resumed while live", &resumed_events, run_id, 2);

    // A finished run is replayed from its record.
    let mut replay = open_events(&app, &events_path, &[]);
    assert_eq!(replay.status, 200);
    let replayed = replay.until_end(Duration::from_secs(5));
    assert_eq!(
        stdout_lines(&replayed),
        ["line 0", "line 1", "line 2", "line 3", "line 4"],
        "replay: {replayed:#?}"
    );
    let stderr: Vec<&str> = replayed
        .iter()
        .filter(|e| e.event == "stderr")
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(stderr, ["warn: half way"], "replay: {replayed:#?}");
    let run = assert_well_formed("replay", &replayed, run_id, 0);
    assert_eq!(run["status"], json!("success"));
    assert!(replay.closes_within(Duration::from_secs(5)));

    // Last-Event-ID on a finished run: the replay after that id.
    let pick = &replayed[3];
    let mut after = open_events(
        &app,
        &events_path,
        &[("Last-Event-ID", pick.id.as_deref().unwrap_or(""))],
    );
    let after_events = after.until_end(Duration::from_secs(5));
    let tail = |events: &[SseEvent]| -> Vec<(Option<String>, String, String)> {
        events
            .iter()
            .map(|e| (e.id.clone(), e.event.clone(), e.data.clone()))
            .collect()
    };
    assert_eq!(
        tail(&after_events),
        tail(&replayed[4..]),
        "Last-Event-ID on a finished run"
    );

    let (status, body) = app.get("/api/runs/999999/events");
    assert_error("events of an unknown run", status, &body, 404, "not_found");

    // `Accept: text/event-stream` on the run endpoint itself.
    let mut direct = open_events(&app, &format!("/api/scripts/{id}/run"), &[]);
    assert_eq!(direct.status, 200, "run with Accept: text/event-stream");
    assert!(direct
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream")));
    let streamed = direct.until_end(WAIT);
    assert_eq!(
        line_pairs(&streamed),
        expected_lines(0),
        "run endpoint stream: {streamed:#?}"
    );
    let end = streamed.last().expect("events").run();
    let direct_id = end["id"].as_i64().expect("the end names its run");
    assert_ne!(direct_id, run_id, "a new run");
    assert_well_formed("run endpoint stream", &streamed, direct_id, 0);
    assert_progressive("run endpoint stream", &streamed);
    assert_eq!(run_total(&app), 2);
}

/// A client that loses its connection resumes with the last id it got live; by then the run
/// may have finished, and the replay must continue at the same place.
#[test]
fn last_event_id_from_the_live_stream_resumes_a_finished_run_where_it_left_off() {
    let repo = TestRepo::new();
    repo.write(LINES_PATH, &lines());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, LINES_PATH);
    let reply = app.call(
        "POST",
        &format!("/api/scripts/{id}/run?async=true"),
        &[],
        Some(&json!({})),
    );
    let run_id = assert_accepted(
        "async lines",
        reply.status,
        reply.header("location"),
        &reply.body,
    );
    let events_path = format!("/api/runs/{run_id}/events");
    let live = open_events(&app, &events_path, &[]).until_end(WAIT);
    assert_eq!(line_pairs(&live), expected_lines(0), "live: {live:#?}");

    let (last_seen, rest) = live.split_at(3);
    let last_id = last_seen[2].id.clone().expect("an id");
    assert_eq!(last_seen[2].event, "stderr", "{live:#?}");
    let resumed = open_events(&app, &events_path, &[("Last-Event-ID", &last_id)]).until_end(WAIT);
    let view = |events: &[SseEvent]| -> Vec<(Option<String>, String, String)> {
        events
            .iter()
            .map(|e| {
                let data = if e.event == "end" {
                    String::new()
                } else {
                    e.data.clone()
                };
                (e.id.clone(), e.event.clone(), data)
            })
            .collect()
    };
    assert_eq!(
        view(&resumed),
        view(rest),
        "after Last-Event-ID: {last_id} (the stderr line, as numbered live), a finished run's \
         stream must go on with line 2; the replay numbers its events differently"
    );
}

#[test]
fn cancel_stops_queued_and_running_runs_with_their_whole_process_tree() {
    let repo = sleeper_repo();
    repo.write(SPAWNER_PATH, &spawner());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--max-concurrent-runs", "1"]);
    let spawner_id = script_id(&app, SPAWNER_PATH);
    let sleeper_id = script_id(&app, SLEEPER_PATH);
    let markers = tempfile::tempdir().expect("a temporary folder");
    let marker = markers.path().join(unique_marker("cancel"));
    let marker_text = marker.display().to_string();
    let _reaper = Reaper(marker_text.clone());

    let reply = app.call(
        "POST",
        &format!("/api/scripts/{spawner_id}/run?async=true"),
        &[],
        Some(&json!({"marker": marker_text})),
    );
    let running = assert_accepted(
        "spawner",
        reply.status,
        reply.header("location"),
        &reply.body,
    );
    assert_eq!(reply.body["queued"], json!(false), "{}", reply.body);
    wait_for_processes(&marker_text, 1, "the spawner's grandchild");
    let grandchild_started = Instant::now();

    let reply = app.call(
        "GET",
        &format!("/api/scripts/{sleeper_id}/run?seconds=0.1&value=never&async=true"),
        &[],
        None,
    );
    let queued = assert_accepted(
        "queued sleeper",
        reply.status,
        reply.header("location"),
        &reply.body,
    );
    assert_eq!(reply.body["queued"], json!(true), "{}", reply.body);
    let (_, view) = app.get(&format!("/api/runs/{queued}"));
    assert_eq!(view["status"], json!("queued"), "{view}");
    assert_eq!(view["queue_position"], json!(1), "{view}");
    assert_eq!(view["started_at"], Value::Null, "{view}");

    let items = wait_active(&app, "one running, one queued", |items| items.len() == 2);
    assert_eq!(item_run_id(&items[0]), running, "{items:?}");
    assert_eq!(items[0]["status"], json!("running"), "{items:?}");
    assert_eq!(items[0]["script_id"], json!(spawner_id), "{items:?}");
    assert_eq!(items[0]["script_path"], json!(SPAWNER_PATH), "{items:?}");
    assert!(
        items[0]["pid"].as_u64().is_some(),
        "a running run has a pid: {items:?}"
    );
    assert_eq!(items[0]["queue_position"], Value::Null, "{items:?}");
    assert_eq!(item_run_id(&items[1]), queued, "{items:?}");
    assert_eq!(items[1]["status"], json!("queued"), "{items:?}");
    assert_eq!(items[1]["queue_position"], json!(1), "{items:?}");
    let (_, health) = app.get("/health");
    assert_eq!(
        health["runs"],
        json!({"running": 1, "queued": 1}),
        "{health}"
    );

    // The queued run: cancelled, never started; a follower of its events hears the end.
    let mut follower = open_events(&app, &format!("/api/runs/{queued}/events"), &[]);
    let (status, body) = app.post(&format!("/api/runs/{queued}/cancel"), &json!({}));
    assert_eq!(status, 200, "cancel a queued run: {body}");
    assert_eq!(body["id"], json!(queued), "{body}");
    assert_eq!(body["status"], json!("cancelled"), "{body}");
    assert_eq!(body["error"]["code"], json!("cancelled"), "{body}");
    assert_eq!(body["started_at"], Value::Null, "it never started: {body}");
    assert!(body["finished_at"].is_string(), "{body}");
    assert!(body.get("queue_position").is_none(), "{body}");
    let heard = follower.until_end(Duration::from_secs(5));
    assert_eq!(heard.len(), 1, "no output, only the end: {heard:#?}");
    assert_eq!(heard[0].run()["status"], json!("cancelled"), "{heard:#?}");

    // The running run: cancelled at once, with its grandchild.
    let asked = Instant::now();
    let (status, body) = app.post(&format!("/api/runs/{running}/cancel"), &json!({}));
    let took = asked.elapsed();
    assert_eq!(status, 200, "cancel a running run: {body}");
    assert_eq!(body["id"], json!(running), "{body}");
    assert_eq!(body["status"], json!("cancelled"), "{body}");
    assert_eq!(body["error"]["code"], json!("cancelled"), "{body}");
    assert!(
        body["started_at"].is_string() && body["finished_at"].is_string(),
        "{body}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "cancel answered in {took:?}"
    );
    assert!(
        processes_gone(&marker_text, Duration::from_secs(2)),
        "the grandchild is killed with the run: {:?}",
        pids_with(&marker_text)
    );
    let left = Duration::from_secs(3).saturating_sub(grandchild_started.elapsed());
    assert!(
        !wait_until(left, || marker.exists()),
        "the grandchild's marker file was written: the process tree was not stopped"
    );

    let (_, view) = app.get(&format!("/api/runs/{queued}"));
    assert_eq!(view["status"], json!("cancelled"), "{view}");
    assert_eq!(view["started_at"], Value::Null, "{view}");
    for (what, run_id) in [
        ("cancel again", running),
        ("cancel the cancelled queued run", queued),
    ] {
        let (status, body) = app.post(&format!("/api/runs/{run_id}/cancel"), &json!({}));
        assert_error(what, status, &body, 409, "run_already_ended");
    }
    let (status, body) = app.post("/api/runs/999999/cancel", &json!({}));
    assert_error("cancel an unknown run", status, &body, 404, "not_found");
    let (status, body) = app.get("/api/scripts/running");
    assert_eq!((status, &body["items"]), (200, &json!([])), "{body}");
    let (_, health) = app.get("/health");
    assert_eq!(
        health["runs"],
        json!({"running": 0, "queued": 0}),
        "{health}"
    );

    // A finished run cannot be cancelled either.
    let (status, body) = app.get(&format!("/api/scripts/{sleeper_id}/run?value=done"));
    assert_success("a quick run", status, &body);
    let done = body["run_id"].as_i64().expect("a run id");
    let (status, body) = app.post(&format!("/api/runs/{done}/cancel"), &json!({}));
    assert_error(
        "cancel a finished run",
        status,
        &body,
        409,
        "run_already_ended",
    );
    let (_, view) = app.get(&format!("/api/runs/{done}"));
    assert_eq!(
        view["status"],
        json!("success"),
        "the failed cancel changed nothing: {view}"
    );

    // The original gateway's terminate: every run of the script, running or queued.
    let long = unique_marker("terminate");
    let _long_reaper = Reaper(long.clone());
    let started: Vec<i64> = (0..2)
        .map(|i| {
            let reply = app.call(
                "GET",
                &format!("/api/scripts/{sleeper_id}/run?seconds=30&child_seconds=30&marker={long}&value={i}&async=true"),
                &[],
                None,
            );
            assert_accepted("terminate target", reply.status, reply.header("location"), &reply.body)
        })
        .collect();
    wait_for_processes(&long, 2, "the first sleeper and its grandchild");
    let items = wait_active(&app, "two sleepers", |items| items.len() == 2);
    let statuses: Vec<(&Value, &Value)> = items
        .iter()
        .map(|i| (&i["status"], &i["queue_position"]))
        .collect();
    assert_eq!(
        statuses,
        [
            (&json!("running"), &Value::Null),
            (&json!("queued"), &json!(1))
        ],
        "{items:?}"
    );
    let asked = Instant::now();
    let (status, body) = app.post(&format!("/api/scripts/{sleeper_id}/terminate"), &json!({}));
    assert_eq!(status, 200, "terminate: {body}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "terminate took {:?}",
        asked.elapsed()
    );
    assert_eq!(body["status"], json!("ok"), "{body}");
    assert_eq!(body["script_id"], json!(sleeper_id), "{body}");
    let mut stopped: Vec<i64> = body["cancelled"]
        .as_array()
        .expect("cancelled is a list")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    stopped.sort_unstable();
    assert_eq!(stopped, started, "{body}");
    for run_id in &started {
        let (_, view) = app.get(&format!("/api/runs/{run_id}"));
        assert_eq!(view["status"], json!("cancelled"), "{view}");
    }
    assert!(
        processes_gone(&long, Duration::from_secs(5)),
        "{:?}",
        pids_with(&long)
    );
    let (_, body) = app.get("/api/scripts/running");
    assert_eq!(body["items"], json!([]), "{body}");
    let (status, body) = app.post(&format!("/api/scripts/{sleeper_id}/terminate"), &json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cancelled"], json!([]), "nothing left to stop: {body}");
    let (status, body) = app.post("/api/scripts/999999/terminate", &json!({}));
    assert_error(
        "terminate an unknown script",
        status,
        &body,
        404,
        "not_found",
    );
}

#[test]
fn runs_beyond_the_limit_queue_and_beyond_the_queue_get_429() {
    let repo = sleeper_repo();
    let data = data_dir();
    let app = spawn_app(
        &repo,
        data.path(),
        &["--max-concurrent-runs", "2", "--max-queued-runs", "2"],
    );
    let id = script_id(&app, SLEEPER_PATH);

    let barrier = Barrier::new(6);
    let answers: Vec<(String, crate::helpers::Reply)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..5)
            .map(|i| {
                let (app, barrier) = (&app, &barrier);
                scope.spawn(move || {
                    let value = format!("concurrent-{i}");
                    barrier.wait();
                    let reply = app.call(
                        "GET",
                        &format!("/api/scripts/{id}/run?seconds=1.5&value={value}"),
                        &[],
                        None,
                    );
                    (value, reply)
                })
            })
            .collect();
        barrier.wait();
        // While two run and two wait, the waiting ones show their place in the queue.
        let items = wait_active(&app, "two running, two queued", |items| {
            items
                .iter()
                .filter(|i| i["status"] == json!("queued"))
                .count()
                == 2
        });
        let running = items
            .iter()
            .filter(|i| i["status"] == json!("running"))
            .count();
        assert_eq!(running, 2, "{items:?}");
        let mut positions = Vec::new();
        for item in items.iter().filter(|i| i["status"] == json!("queued")) {
            let (_, view) = app.get(&format!("/api/runs/{}", item_run_id(item)));
            assert_eq!(view["status"], json!("queued"), "{view}");
            assert_eq!(view["started_at"], Value::Null, "{view}");
            assert_eq!(
                view["queue_position"], item["queue_position"],
                "{view} vs {item}"
            );
            positions.push(view["queue_position"].as_u64().expect("a queue position"));
        }
        positions.sort_unstable();
        assert_eq!(positions, [1, 2], "{items:?}");
        let (_, listed) = app.get("/api/runs?status=queued");
        assert_eq!(
            listed["total"],
            json!(2),
            "the history lists the waiting runs: {listed}"
        );
        let (_, health) = app.get("/health");
        assert_eq!(
            health["runs"],
            json!({"running": 2, "queued": 2}),
            "{health}"
        );
        clients
            .into_iter()
            .map(|c| c.join().expect("no panic"))
            .collect()
    });

    let refused: Vec<_> = answers.iter().filter(|(_, r)| r.status == 429).collect();
    assert_eq!(
        refused.len(),
        1,
        "exactly one request is refused: {answers:#?}"
    );
    let (_, reply) = refused[0];
    assert_error(
        "the fifth request",
        reply.status,
        &reply.body,
        429,
        "too_many_runs",
    );
    let retry = reply.header("retry-after").unwrap_or_default();
    assert!(
        retry.parse::<u64>().is_ok_and(|s| s >= 1),
        "Retry-After is a number of seconds: {retry:?}"
    );
    for (value, reply) in answers.iter().filter(|(_, r)| r.status != 429) {
        assert_success(value, reply.status, &reply.body);
        assert_eq!(
            reply.body["data"],
            json!({"value": value, "slept": 1.5}),
            "{value}: its own result"
        );
    }
    assert_eq!(run_total(&app), 4, "a refused request leaves no run behind");

    // The limit changes live: with 1, the next run queues behind the first.
    let reply = app.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"max_concurrent_runs": 1})),
    );
    assert_eq!(reply.status, 200, "PUT settings: {}", reply.body);
    let start = |value: &str| {
        let reply = app.call(
            "GET",
            &format!("/api/scripts/{id}/run?seconds=1.5&value={value}&async=true"),
            &[],
            None,
        );
        let run_id = assert_accepted(value, reply.status, reply.header("location"), &reply.body);
        (run_id, reply.body["queued"].clone())
    };
    let (first, first_queued) = start("limit-1-a");
    let (second, second_queued) = start("limit-1-b");
    assert_eq!((first_queued, second_queued), (json!(false), json!(true)));
    let items = wait_active(&app, "one running, one queued", |items| items.len() == 2);
    assert_eq!(
        items
            .iter()
            .map(|i| (
                item_run_id(i),
                i["status"].clone(),
                i["queue_position"].clone()
            ))
            .collect::<Vec<_>>(),
        [
            (first, json!("running"), Value::Null),
            (second, json!("queued"), json!(1))
        ]
    );
    let (_, health) = app.get("/health");
    assert_eq!(
        health["runs"],
        json!({"running": 1, "queued": 1}),
        "{health}"
    );

    // Raising it again starts the waiting run at once, while the first still runs.
    let reply = app.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"max_concurrent_runs": 2})),
    );
    assert_eq!(reply.status, 200, "PUT settings: {}", reply.body);
    wait_active(&app, "both running", |items| {
        items.len() == 2 && items.iter().all(|i| i["status"] == json!("running"))
    });
    let (_, view) = app.get(&format!("/api/runs/{first}"));
    assert_eq!(
        view["status"],
        json!("running"),
        "the second started before the first ended: {view}"
    );
    for (run_id, value) in [(first, "limit-1-a"), (second, "limit-1-b")] {
        let done = poll_run(&app, run_id, WAIT);
        assert_sleeper_success(value, &done, run_id, value, 1.5);
    }
}

#[test]
fn a_per_script_limit_queues_only_that_scripts_runs() {
    let repo = sleeper_repo();
    repo.write("python/other_sleeper.py", &sleeper());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let limited = script_id(&app, SLEEPER_PATH);
    let other = script_id(&app, "python/other_sleeper.py");
    let reply = app.call(
        "PATCH",
        &format!("/api/scripts/{limited}"),
        &[],
        Some(&json!({"max_concurrent": 1})),
    );
    if matches!(reply.status, 404 | 405) {
        eprintln!(
            "skipped: PATCH /api/scripts/{{id}} is not available ({}): {}",
            reply.status, reply.body
        );
        return;
    }
    assert_eq!(reply.status, 200, "PATCH max_concurrent: {}", reply.body);

    let start = |script: i64, value: &str| {
        let reply = app.call(
            "GET",
            &format!("/api/scripts/{script}/run?seconds=1.5&value={value}&async=true"),
            &[],
            None,
        );
        let run_id = assert_accepted(value, reply.status, reply.header("location"), &reply.body);
        (run_id, reply.body["queued"].clone())
    };
    let (first, first_queued) = start(limited, "limited-a");
    let (second, second_queued) = start(limited, "limited-b");
    let (third, third_queued) = start(other, "other");
    assert_eq!(
        [first_queued, second_queued, third_queued],
        [json!(false), json!(true), json!(false)],
        "only the limited script's second run waits"
    );
    let items = wait_active(&app, "two running, one queued", |items| items.len() == 3);
    let seen: Vec<(i64, Value, Value)> = items
        .iter()
        .map(|i| {
            (
                item_run_id(i),
                i["status"].clone(),
                i["queue_position"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (first, json!("running"), Value::Null),
            (second, json!("queued"), json!(1)),
            (third, json!("running"), Value::Null),
        ]
    );
    let first_done = poll_run(&app, first, WAIT);
    let second_done = poll_run(&app, second, WAIT);
    assert_sleeper_success("limited-a", &first_done, first, "limited-a", 1.5);
    assert_sleeper_success("limited-b", &second_done, second, "limited-b", 1.5);
    assert_sleeper_success("other", &poll_run(&app, third, WAIT), third, "other", 1.5);
    let (started, finished) = (
        second_done["started_at"].as_str().expect("started_at"),
        first_done["finished_at"].as_str().expect("finished_at"),
    );
    assert!(
        started >= finished,
        "the second run started ({started}) only after the first ended ({finished})"
    );
}
