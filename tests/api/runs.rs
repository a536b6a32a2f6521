//! Running scripts: failures, refused scripts and bodies, the run history,
//! concurrency, and Node.js.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{assert_error, data_dir, spawn_app, TestRepo};
use crate::run_support::{
    assert_invalid_param, assert_success, js, python, raw_http, run_total, script_id, Multipart,
    ECHO_ARGV,
};

#[test]
fn run_reports_script_failures_with_their_output() {
    let repo = TestRepo::new();
    let no_params = json!({});
    let failing = "sys.stderr.write(\"something broke\\n\")\n\
                   print(json.dumps({\"partial\": [1, 2], \"reason\": \"bad input\"}))\n\
                   sys.exit(3)";
    repo.write("python/fails.py", &python(&no_params, failing));
    repo.write(
        "python/raises.py",
        &python(&no_params, "raise ValueError(\"nope\")"),
    );
    repo.write(
        "python/killed.py",
        &python(
            &no_params,
            "import signal\nos.kill(os.getpid(), signal.SIGKILL)",
        ),
    );
    repo.write("python/silent.py", &python(&no_params, "pass"));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let run = |path: &str| app.get(&format!("/api/scripts/{}/run", script_id(&app, path)));

    let (status, body) = run("python/fails.py");
    assert_eq!(
        status, 200,
        "a failed script is still an answered run: {body}"
    );
    assert_eq!(body["status"], json!("error"), "{body}");
    assert_eq!(body["run_status"], json!("error"), "{body}");
    assert_eq!(body["error"]["code"], json!("script_failed"), "{body}");
    assert_eq!(body["exit_code"], json!(3), "{body}");
    assert_eq!(body["stderr"], json!("something broke"), "{body}");
    assert_eq!(
        body["data"],
        json!({"partial": [1, 2], "reason": "bad input"}),
        "{body}"
    );

    let (status, body) = run("python/raises.py");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"]["code"], json!("script_failed"), "{body}");
    assert_eq!(body["exit_code"], json!(1), "{body}");
    let stderr = body["stderr"].as_str().unwrap_or_default();
    assert!(
        stderr.contains("Traceback") && stderr.ends_with("ValueError: nope"),
        "{body}"
    );
    assert_eq!(body["data"], Value::Null, "{body}");

    let (status, body) = run("python/killed.py");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], json!("error"), "{body}");
    assert_eq!(body["error"]["code"], json!("script_failed"), "{body}");
    assert_eq!(body["exit_code"], Value::Null, "killed by a signal: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("signal 9"),
        "{body}"
    );

    let (status, body) = run("python/silent.py");
    assert_success("no output at all", status, &body);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert!(body.get("type").is_none(), "{body}");
}

#[test]
fn run_refuses_unknown_and_unloadable_scripts() {
    let repo = TestRepo::new();
    repo.write("python/ok.py", &python(&json!({}), ECHO_ARGV));
    repo.write(
        "python/broken.py",
        "import sys\nif \"--_sys_get_schema\" in sys.argv:\n    raise RuntimeError(\"no schema for you\")\n",
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let broken = app.script_by_path("python/broken.py").expect("listed");
    assert_eq!(broken["load_status"], json!("error"), "{broken}");
    let broken = broken["id"].as_i64().expect("an id");
    let ok = script_id(&app, "python/ok.py");
    let unknown = ok.max(broken) + 1000;

    let cases = [
        ("GET", broken, 422, "schema_not_loadable"),
        ("POST", broken, 422, "schema_not_loadable"),
        ("GET", unknown, 404, "not_found"),
        ("POST", unknown, 404, "not_found"),
    ];
    for (method, id, want_status, want_code) in cases {
        let path = format!("/api/scripts/{id}/run");
        let body = (method == "POST").then(|| json!({}));
        let reply = app.call(method, &path, &[], body.as_ref());
        assert_error(
            &format!("{method} {path}"),
            reply.status,
            &reply.body,
            want_status,
            want_code,
        );
    }
    let (status, body) = app.get("/api/scripts/abc/run");
    assert_error("non-numeric id", status, &body, 400, "invalid_path");

    assert_eq!(run_total(&app), 0, "no refused run is logged");
}

#[test]
fn run_refuses_bad_bodies_with_json_errors() {
    let repo = TestRepo::new();
    let schema = json!({"text": {"flag": "--text", "type": "str"}});
    repo.write(
        "python/len.py",
        &python(&schema, "print(json.dumps({\"len\": len(sys.argv[2])}))"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--max-body-mb", "1"]);
    let id = script_id(&app, "python/len.py");
    let run = format!("/api/scripts/{id}/run");
    let big_json = format!("{{\"text\": \"{}\"}}", "x".repeat(1_200_000));
    let big_form = Multipart::new()
        .file("text", "big.bin", &vec![7u8; 1_200_000])
        .finish();
    let bad_payload = Multipart::new().text("payload", "{\"text\": ").finish();
    let array_payload = Multipart::new().text("payload", "[1, 2]").finish();
    let json_type = "application/json";
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "JSON over 1 MiB",
            json_type,
            big_json.into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "multipart over 1 MiB",
            &big_form.0,
            big_form.1.clone(),
            413,
            "payload_too_large",
        ),
        (
            "malformed JSON",
            json_type,
            b"{\"text\": ".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "a JSON array",
            json_type,
            b"[1, 2]".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "a JSON string",
            json_type,
            b"\"text\"".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "text/plain",
            "text/plain",
            b"text=hello".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "malformed payload field",
            &bad_payload.0,
            bad_payload.1.clone(),
            400,
            "invalid_json",
        ),
        (
            "array payload field",
            &array_payload.0,
            array_payload.1.clone(),
            400,
            "invalid_json",
        ),
    ];
    for (what, content_type, body, want_status, want_code) in cases {
        let reply = raw_http(&app, "POST", &run, &[("Content-Type", content_type)], &body);
        assert_error(what, reply.status, &reply.json(), want_status, want_code);
    }
    assert_eq!(run_total(&app), 0, "refused bodies log no run");
    let text = "y".repeat(100_000);
    let (status, body) = app.post(&run, &json!({ "text": text }));
    assert_success("a 100 KB parameter under the body limit", status, &body);
    assert_eq!(body["data"], json!({"len": 100_000}), "{body}");
    assert_eq!(app.get("/health").0, 200, "the server still answers");
}

/// Linux refuses a single argv entry over 128 KiB (MAX_ARG_STRLEN); a value that cannot be
/// passed is bad input, known before anything starts.
#[test]
fn run_returns_400_when_a_param_is_too_long_to_pass_as_an_argument() {
    let repo = TestRepo::new();
    let schema = json!({"text": {"flag": "--text", "type": "str"}});
    repo.write(
        "python/len.py",
        &python(&schema, "print(json.dumps({\"len\": len(sys.argv[2])}))"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/len.py");
    let text = "y".repeat(200_000);
    let (status, body) = app.post(&format!("/api/scripts/{id}/run"), &json!({ "text": text }));
    assert_invalid_param("a 200 KB parameter", status, &body, "text");
    assert_eq!(run_total(&app), 0, "no run is logged for it");
}

#[test]
fn run_history_lists_filters_and_counts_runs() {
    let repo = TestRepo::new();
    let schema = json!({"word": {"flag": "--word", "type": "str", "default": "hi"}});
    repo.write("python/ok.py", &python(&schema, ECHO_ARGV));
    repo.write(
        "python/fail.py",
        &python(&json!({}), "sys.stderr.write(\"bad\")\nsys.exit(2)"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let ok = script_id(&app, "python/ok.py");
    let fail = script_id(&app, "python/fail.py");
    let first = app.get(&format!("/api/scripts/{ok}/run?word=one")).1;
    let failed = app.get(&format!("/api/scripts/{fail}/run")).1;
    let second = app.get(&format!("/api/scripts/{ok}/run")).1;
    let ids: Vec<i64> = [&first, &failed, &second]
        .iter()
        .map(|b| b["run_id"].as_i64().expect("a run id"))
        .collect();
    let listed = |q: &str| -> (u64, Vec<i64>) {
        let (status, body) = app.get(&format!("/api/runs?{q}"));
        assert_eq!(status, 200, "{q}: {body}");
        let items = body["items"].as_array().expect("items");
        let ids = items
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect();
        (body["total"].as_u64().expect("total"), ids)
    };
    let cases = [
        ("", (3, vec![ids[2], ids[1], ids[0]])),
        (&*format!("script_id={ok}"), (2, vec![ids[2], ids[0]])),
        (&*format!("script_id={fail}"), (1, vec![ids[1]])),
        ("status=error", (1, vec![ids[1]])),
        ("status=success", (2, vec![ids[2], ids[0]])),
        ("status=timeout", (0, vec![])),
        (&*format!("script_id={ok}&status=error"), (0, vec![])),
        ("page_size=1", (3, vec![ids[2]])),
        ("page=2&page_size=1", (3, vec![ids[1]])),
        ("page=4&page_size=1", (3, vec![])),
    ];
    for (q, want) in cases {
        assert_eq!(listed(q), want, "GET /api/runs?{q}");
    }
    let (status, body) = app.get("/api/runs?status=bogus");
    assert_error("unknown status filter", status, &body, 400, "invalid_query");

    let (status, run) = app.get(&format!("/api/runs/{}", ids[0]));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["id"], json!(ids[0]));
    assert_eq!(run["script_id"], json!(ok));
    assert_eq!(run["status"], json!("success"));
    assert_eq!(
        run["params"],
        json!({"word": "one"}),
        "recorded params: {run}"
    );
    assert_eq!(run["exit_code"], json!(0));
    assert_eq!(run["data"], json!({"argv": ["--word", "one"]}));
    assert_eq!(run["files"], json!([]));
    assert!(run.get("error").is_none(), "{run}");
    assert_eq!(
        run["duration_ms"], first["duration_ms"],
        "same run, same duration"
    );
    let started = run["started_at"].as_str().expect("started_at");
    let finished = run["finished_at"].as_str().expect("finished_at");
    assert!(started.ends_with('Z') && finished >= started, "{run}");
    assert_eq!(
        app.get(&format!("/api/runs/{}", ids[2])).1["params"],
        json!({"word": "hi"}),
        "defaults are recorded"
    );

    let (_, run) = app.get(&format!("/api/runs/{}", ids[1]));
    assert_eq!(run["status"], json!("error"), "{run}");
    assert_eq!(run["exit_code"], json!(2), "{run}");
    assert_eq!(run["stderr"], json!("bad"), "{run}");
    assert_eq!(run["error"]["code"], json!("script_failed"), "{run}");

    let latest_finished = app.get(&format!("/api/runs/{}", ids[2])).1["finished_at"].clone();
    let script = app.get(&format!("/api/scripts/{ok}")).1;
    assert_eq!(script["run_count"], json!(2), "{script}");
    assert_eq!(script["last_run_status"], json!("success"), "{script}");
    assert_eq!(script["last_run_at"], latest_finished, "{script}");
    let script = app.get(&format!("/api/scripts/{fail}")).1;
    assert_eq!(script["run_count"], json!(1), "{script}");
    assert_eq!(script["last_run_status"], json!("error"), "{script}");

    for path in [
        "/api/runs/999999",
        "/api/runs/999999/output",
        "/api/runs/999999/files/x",
    ] {
        let (status, body) = app.get(path);
        assert_error(path, status, &body, 404, "not_found");
    }
    let (status, body) = app.get(&format!("/api/runs/{}/output", ids[0]));
    assert_error(
        "JSON output has no raw output",
        status,
        &body,
        404,
        "not_found",
    );
    let (status, body) = app.get("/api/runs/abc");
    assert_error("non-numeric run id", status, &body, 400, "invalid_path");
}

const SLOW_ECHO: &str = r#"import time
began = time.time()
time.sleep(0.2)
print(json.dumps({"value": sys.argv[2], "began": began, "ended": time.time()}))"#;

#[test]
fn run_history_filters_by_a_time_range_of_queueing() {
    let repo = TestRepo::new();
    repo.write("python/ok.py", &python(&json!({}), ECHO_ARGV));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let ok = script_id(&app, "python/ok.py");
    let runs: Vec<Value> = (0..3)
        .map(|_| {
            let id = app.get(&format!("/api/scripts/{ok}/run")).1["run_id"].clone();
            app.get(&format!("/api/runs/{id}")).1
        })
        .collect();
    let ids: Vec<i64> = runs.iter().map(|r| r["id"].as_i64().expect("id")).collect();
    let middle = runs[1]["queued_at"]
        .as_str()
        .expect("queued_at")
        .to_string();
    let as_offset = middle.replace('Z', "+00:00");
    let listed = |q: &str| -> Vec<i64> {
        let (status, body) = app.get(&format!("/api/runs?{q}"));
        assert_eq!(status, 200, "{q}: {body}");
        let items = body["items"].as_array().expect("items");
        items
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    };
    let cases = [
        (
            format!("since={middle}"),
            vec![ids[2], ids[1]],
            "from the middle run on",
        ),
        (
            format!("until={middle}"),
            vec![ids[0]],
            "before the middle run",
        ),
        (
            format!("since={}", as_offset.replace('+', "%2B")),
            vec![ids[2], ids[1]],
            "an offset",
        ),
        ("since=2999-01-01".into(), vec![], "the future"),
        ("until=2000-01-01T00:00".into(), vec![], "the distant past"),
        (
            format!("since=2000-01-01&until={middle}&script_id={ok}"),
            vec![ids[0]],
            "combined",
        ),
    ];
    for (q, want, what) in cases {
        assert_eq!(listed(&q), want, "{what}: GET /api/runs?{q}");
    }
    // A date the calendar does not have is a typo too, not a bound SQLite would roll over
    // into the next month (2026-02-30 was read as March 2nd).
    for bad in [
        "yesterday",
        "2026-13",
        "2026-05-01T08",
        "2026-02-30",
        "2025-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31T00:00Z",
        "2026-05-01T24:00",
        "2026-05-01T08:60",
        "2026-05-01T08:00:61Z",
        "2026-05-01T08:00+24:00",
    ] {
        let (status, body) = app.get(&format!("/api/runs?since={bad}"));
        assert_error(bad, status, &body, 400, "invalid_query");
    }
}

/// The most runs that were inside their sleep at the same moment.
fn most_at_once(spans: &[(f64, f64)]) -> usize {
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(b, e)| b <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn concurrent_runs_each_get_their_own_value_and_health_stays_responsive() {
    let repo = TestRepo::new();
    let schema = json!({"value": {"flag": "--value", "type": "str", "required": true}});
    repo.write("python/slow_echo.py", &python(&schema, SLOW_ECHO));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/slow_echo.py");
    let mut slowest_health = Duration::ZERO;
    let answers: Vec<(String, u16, Value)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..24)
            .map(|i| {
                let app = &app;
                scope.spawn(move || {
                    let value = format!("value-{i}");
                    let (status, body) = app.get(&format!("/api/scripts/{id}/run?value={value}"));
                    (value, status, body)
                })
            })
            .collect();
        while !workers.iter().all(|w| w.is_finished()) {
            let asked = Instant::now();
            assert_eq!(app.get("/health").0, 200);
            slowest_health = slowest_health.max(asked.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
        workers
            .into_iter()
            .map(|w| w.join().expect("no panic"))
            .collect()
    });
    let mut run_ids = Vec::new();
    let mut spans = Vec::new();
    for (value, status, body) in &answers {
        assert_success(value, *status, body);
        assert_eq!(
            body["data"]["value"],
            json!(value),
            "each run got its own value"
        );
        run_ids.push(body["run_id"].as_i64().expect("a run id"));
        let time = |key: &str| body["data"][key].as_f64().expect("a timestamp");
        spans.push((time("began"), time("ended")));
    }
    run_ids.sort_unstable();
    run_ids.dedup();
    assert_eq!(run_ids.len(), 24, "24 distinct runs");
    assert!(
        most_at_once(&spans) >= 2,
        "runs execute side by side, not one after another: {spans:?}"
    );
    assert!(
        slowest_health < Duration::from_secs(2),
        "/health stayed responsive while 24 runs were going: {slowest_health:?}"
    );
    assert_eq!(run_total(&app), 24);
}

#[test]
fn run_executes_a_node_script_with_its_params() {
    let repo = TestRepo::new();
    let schema = json!({
        "name": {"flag": "--name", "type": "str", "required": true},
        "n": {"flag": "--n", "type": "int", "default": 2},
        "shout": {"flag": "--shout", "type": "bool", "action": "store_true"}
    });
    let body = "const argv = process.argv.slice(2);\n\
                const name = argv[argv.indexOf('--name') + 1];\n\
                console.log(JSON.stringify({ argv, greeting: `Hello ${name}`, runtime: 'node' }));";
    repo.write("js/hello.js", &js(&schema, body));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "js/hello.js");
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run"),
        &json!({"name": "Ada", "shout": true}),
    );
    assert_success("node run", status, &body);
    assert_eq!(
        body["data"],
        json!({"argv": ["--name", "Ada", "--n", "2", "--shout"], "greeting": "Hello Ada", "runtime": "node"}),
        "{body}"
    );
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?name=Bo&n=x"));
    assert_invalid_param("node script, bad int", status, &body, "n");
}
