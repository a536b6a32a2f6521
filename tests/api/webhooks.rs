//! Notifications of finished runs: the payload a local HTTP receiver gets, scripts that did
//! not opt in, retries, a dead notify URL that must not slow runs, and the test endpoint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{assert_error, data_dir, spawn_app, wait_until, TestApp, TestRepo, WAIT};
use crate::run_support::{python, script_id};

const ON: &str = "python/notify_on.py";
const OFF: &str = "python/notify_off.py";

/// A script that succeeds, or fails with exit code 3 when `--fail 1` is given.
fn failing_on_demand() -> String {
    let schema = json!({"fail": {"flag": "--fail", "type": "bool", "default": false}});
    python(
        &schema,
        "if sys.argv[sys.argv.index(\"--fail\") + 1] == \"1\":\n    \
         sys.stderr.write(\"asked to fail\\n\")\n    sys.exit(3)\n\
         print(json.dumps({\"ok\": True}))",
    )
}

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(ON, &failing_on_demand());
    repo.write(OFF, &failing_on_demand());
    repo
}

/// Turns notifications on for the script at `path`; returns its id.
fn opt_in(app: &TestApp, path: &str) -> i64 {
    let id = script_id(app, path);
    let reply = app.call(
        "PATCH",
        &format!("/api/scripts/{id}"),
        &[],
        Some(&json!({"notify_enabled": true})),
    );
    assert_eq!(reply.status, 200, "PATCH notify_enabled: {}", reply.body);
    id
}

/// Runs a script synchronously; returns its run id, after checking the answer.
fn run(app: &TestApp, script_id: i64, fail: bool) -> i64 {
    let (status, body) = app.post(
        &format!("/api/scripts/{script_id}/run"),
        &json!({"fail": fail}),
    );
    assert_eq!(status, 200, "run: {body}");
    body["run_id"].as_i64().expect("a run id")
}

fn put_settings(app: &TestApp, changes: Value) {
    let reply = app.call("PUT", "/api/settings", &[], Some(&changes));
    assert_eq!(
        reply.status, 200,
        "PUT /api/settings {changes}: {}",
        reply.body
    );
}

/// The payload the contract promises for this run, built from its history record.
fn expected_payload(app: &TestApp, run_id: i64, base: &str) -> Value {
    let (status, record) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "{record}");
    json!({
        "event": "run.finished",
        "script_id": record["script_id"],
        "path": record["script_path"],
        "run_id": run_id,
        "status": record["status"],
        "duration_ms": record["duration_ms"],
        "exit_code": record["exit_code"],
        "error": record.get("error").cloned().unwrap_or(Value::Null),
        "finished_at": record["finished_at"],
        "url": format!("{base}/api/runs/{run_id}"),
    })
}

#[test]
fn a_finished_run_is_posted_with_the_documented_payload() {
    let receiver = Receiver::start(|_| Some(200));
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(
        &repo,
        data.path(),
        &[
            "--notify-url",
            &receiver.url,
            "--base-url",
            "https://gw.example/",
        ],
    );
    let id = opt_in(&app, ON);

    let succeeded = run(&app, id, false);
    let first = receiver.wait_for(1);
    assert_eq!(
        first[0].body,
        expected_payload(&app, succeeded, "https://gw.example"),
        "a success"
    );
    assert_eq!(first[0].header("content-type"), Some("application/json"));
    assert_eq!(first[0].body["status"], json!("success"));
    assert_eq!(first[0].body["error"], Value::Null);

    let failed = run(&app, id, true);
    let both = receiver.wait_for(2);
    let payload = &both[1].body;
    assert_eq!(
        *payload,
        expected_payload(&app, failed, "https://gw.example"),
        "a failure"
    );
    assert_eq!(payload["status"], json!("error"), "{payload}");
    assert_eq!(payload["exit_code"], json!(3), "{payload}");
    assert_eq!(
        payload["error"]["code"],
        json!("script_failed"),
        "{payload}"
    );
    assert!(payload["error"]["message"].is_string(), "{payload}");
    assert!(payload["duration_ms"].as_i64().is_some(), "{payload}");
}

#[test]
fn only_scripts_that_opted_in_are_notified_and_only_with_a_url() {
    let receiver = Receiver::start(|_| Some(200));
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let on = opt_in(&app, ON);
    let off = script_id(&app, OFF);

    run(&app, on, false);
    put_settings(&app, json!({"notify_url": receiver.url}));
    run(&app, off, false);
    run(&app, off, true);
    let notified = run(&app, on, false);

    let got = receiver.wait_for(1);
    assert_eq!(got[0].body["run_id"], json!(notified), "{}", got[0].body);
    assert_eq!(got[0].body["url"], json!(format!("/api/runs/{notified}")));
    assert!(
        !wait_until(Duration::from_millis(500), || receiver.count() > 1),
        "nothing else is sent: {:?}",
        receiver.bodies()
    );
}

#[test]
fn a_notification_is_retried_after_a_server_error() {
    let receiver = Receiver::start(|n| Some(if n == 0 { 500 } else { 200 }));
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--notify-url", &receiver.url]);
    let id = opt_in(&app, ON);
    let run_id = run(&app, id, false);

    let got = receiver.wait_for(2);
    assert_eq!(got[0].body, got[1].body, "the same payload again");
    assert_eq!(got[1].body["run_id"], json!(run_id));
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(900), "backed off: {gap:?}");
    assert!(
        !wait_until(Duration::from_millis(500), || receiver.count() > 2),
        "a delivered notification is not sent again"
    );
}

#[test]
fn a_dead_notify_url_does_not_slow_runs_and_the_gateway_stays_healthy() {
    let silent = Receiver::start(|_| None);
    let repo = repo();
    let data = data_dir();
    let timeout = Duration::from_secs(10);
    let app = spawn_app(
        &repo,
        data.path(),
        &["--notify-url", &silent.url, "--notify-timeout-sec", "10"],
    );
    let id = opt_in(&app, ON);
    for attempt in 0..3 {
        let began = Instant::now();
        run(&app, id, attempt == 1);
        let took = began.elapsed();
        assert!(
            took < timeout / 2,
            "run {attempt} waited for the hook: {took:?}"
        );
    }
    silent.wait_for(3);
    assert_eq!(app.get("/health").0, 200);

    put_settings(&app, json!({"notify_url": closed_port_url()}));
    let began = Instant::now();
    run(&app, id, false);
    assert!(began.elapsed() < timeout / 2, "{:?}", began.elapsed());
    assert!(
        wait_until(WAIT, || app
            .stderr()
            .contains("a run notification was not delivered")),
        "the failure is logged after the retries; stderr:\n{}",
        app.stderr()
    );
    assert_eq!(app.get("/health").0, 200, "{}", app.stderr());
    let (status, body) = app.get(&format!("/api/scripts/{id}"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_test_endpoint_sends_one_sample_and_reports_the_answer() {
    const PATH: &str = "/api/settings/notify/test";
    let ok = Receiver::start(|_| Some(200));
    let failing = Receiver::start(|_| Some(500));
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let (status, body) = app.post(PATH, &json!({}));
    assert_error("no URL anywhere", status, &body, 400, "invalid_request");
    let (status, body) = app.post(PATH, &json!({"url": "ftp://hooks.example/x"}));
    assert_error("not http(s)", status, &body, 400, "invalid_request");

    let (status, body) = app.post(PATH, &json!({"url": ok.url}));
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        ["delivered", "status", "error", "attempts", "duration_ms"]
    );
    assert_eq!(
        (
            &body["delivered"],
            &body["status"],
            &body["error"],
            &body["attempts"]
        ),
        (&json!(true), &json!(200), &Value::Null, &json!(1)),
        "{body}"
    );
    let sample = &ok.wait_for(1)[0].body;
    assert_eq!(sample["event"], json!("test"), "{sample}");
    let sample_keys: Vec<&str> = sample
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        sample_keys,
        [
            "event",
            "script_id",
            "path",
            "run_id",
            "status",
            "duration_ms",
            "exit_code",
            "error",
            "finished_at",
            "url"
        ],
        "the shape of a real notification"
    );

    put_settings(&app, json!({"notify_url": failing.url}));
    let reply = app.call("POST", PATH, &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["delivered"], json!(false), "{}", reply.body);
    assert_eq!(reply.body["status"], json!(500), "{}", reply.body);
    assert!(reply.body["error"].is_string(), "{}", reply.body);
    assert_eq!(failing.wait_for(1).len(), 1);
    assert!(
        !wait_until(Duration::from_millis(300), || failing.count() > 1),
        "the test endpoint does not retry"
    );

    let (status, body) = app.post(PATH, &json!({"url": closed_port_url()}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivered"], json!(false), "{body}");
    assert_eq!(body["status"], Value::Null, "{body}");
    assert!(
        !body["error"].as_str().unwrap_or_default().is_empty(),
        "{body}"
    );
}

/// An http URL on a local port nothing listens on.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/hook")
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny HTTP server on 127.0.0.1 that records every request and answers the n-th (from 0)
/// with the status `answer(n)` gives, or never (`None`: the connection is held open).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(answer: fn(usize) -> Option<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                let Some(received) = read_request(&stream) else {
                    continue;
                };
                let n = {
                    let mut got = sink.lock().expect("requests");
                    got.push(received);
                    got.len() - 1
                };
                match answer(n) {
                    Some(status) => respond(stream, status),
                    None => held.push(stream),
                }
            }
        });
        Receiver { url, got }
    }

    fn count(&self) -> usize {
        self.got.lock().expect("requests").len()
    }

    fn bodies(&self) -> Vec<Value> {
        let got = self.got.lock().expect("requests");
        got.iter().map(|r| r.body.clone()).collect()
    }

    /// Waits until at least `n` requests came; returns them all.
    fn wait_for(&self, n: usize) -> Vec<Received> {
        assert!(
            wait_until(WAIT, || self.count() >= n),
            "expected {n} notifications, got {:?}",
            self.bodies()
        );
        self.got.lock().expect("requests").clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(WAIT)).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    assert!(line.starts_with("POST /hook "), "request line: {line:?}");
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .expect("a notification has a Content-Length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        at: Instant::now(),
        headers,
        body: serde_json::from_slice(&body).expect("the body is JSON"),
    })
}

fn respond(mut stream: TcpStream, status: u16) {
    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(answer.as_bytes());
}
