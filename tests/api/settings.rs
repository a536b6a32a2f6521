//! Runtime settings: where each value comes from (database > flag > environment > default),
//! what a write must satisfy, that a write survives a restart, and that it applies at once.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, data_dir, gateway_command, spawn_app, spawn_app_with_env, wait_for, wait_until,
    TestApp, TestRepo, WAIT,
};
use crate::run_support::{assert_success, python, script_id};

/// Every setting, keyed by name.
fn settings(app: &TestApp) -> Value {
    let (status, body) = app.get("/api/settings");
    assert_eq!(status, 200, "GET /api/settings: {body}");
    body["settings"].clone()
}

/// `(value, source)` of one setting.
fn setting(app: &TestApp, key: &str) -> (Value, String) {
    let all = settings(app);
    let entry = &all[key];
    assert!(entry.is_object(), "{key} is listed: {all}");
    let source = entry["source"].as_str().expect("a source").to_string();
    (entry["value"].clone(), source)
}

/// Asserts a numeric setting's value and source.
fn assert_number(app: &TestApp, key: &str, value: f64, source: &str) {
    let (got, got_source) = setting(app, key);
    assert_eq!(got.as_f64(), Some(value), "{key}: value {got}");
    assert_eq!(got_source, source, "{key}: source (value {got})");
}

/// PUT (or PATCH) `changes`; the answer must be 200 and list every setting.
fn write_settings(app: &TestApp, method: &str, changes: Value) -> Value {
    let reply = app.call(method, "/api/settings", &[], Some(&changes));
    assert_eq!(reply.status, 200, "{method} {changes}: {}", reply.body);
    reply.body["settings"].clone()
}

/// Asserts a 400 `invalid_settings` whose `details` name exactly `keys`.
fn assert_invalid_settings(what: &str, status: u16, body: &Value, keys: &[&str]) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["status"], json!("error"), "{what}: {body}");
    assert_eq!(
        body["error"]["code"],
        json!("invalid_settings"),
        "{what}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let details = body["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: details is not a list: {body}"));
    let named: Vec<&str> = details
        .iter()
        .map(|d| d["key"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(named, keys, "{what}: the keys named in details: {body}");
    for (detail, key) in details.iter().zip(keys) {
        let why = detail["message"].as_str().unwrap_or_default();
        assert!(
            !why.trim().is_empty(),
            "{what}: no reason for {key}: {body}"
        );
        assert!(message.contains(key), "{what}: message names {key}: {body}");
    }
}

/// A script that sleeps `--seconds` (default 5) and says how long it slept.
fn nap_script() -> String {
    let schema = json!({"seconds": {"flag": "--seconds", "type": "float", "default": 5}});
    python(
        &schema,
        "import time\nseconds = float(sys.argv[sys.argv.index(\"--seconds\") + 1])\n\
         time.sleep(seconds)\nprint(json.dumps({\"slept\": seconds}))",
    )
}

/// A sync run of `id` that sleeps `seconds`: (HTTP status, body, how long it took).
fn nap(app: &TestApp, id: i64, seconds: f64) -> (u16, Value, Duration) {
    let began = Instant::now();
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run"),
        &json!({ "seconds": seconds }),
    );
    (status, body, began.elapsed())
}

/// An async run of `id` that sleeps `seconds`: (run id, whether it waits for a slot).
fn nap_async(app: &TestApp, id: i64, seconds: f64) -> (i64, bool) {
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run?async=true"),
        &json!({ "seconds": seconds }),
    );
    assert_eq!(status, 202, "async run: {body}");
    let queued = body["queued"].as_bool().expect("queued is a bool");
    (body["run_id"].as_i64().expect("a run id"), queued)
}

fn run_status(app: &TestApp, run_id: i64) -> String {
    let (status, body) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "run {run_id}: {body}");
    body["status"].as_str().unwrap_or_default().to_string()
}

#[test]
fn every_setting_is_listed_with_value_source_type_bounds_and_description() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let all = settings(&app);
    let all = all.as_object().expect("settings is an object");
    let contract = [
        "scan_interval_sec",
        "timeout_sec",
        "notify_url",
        "base_url",
        "max_concurrent_runs",
        "run_retention_days",
        "max_output_bytes",
    ];
    for key in contract {
        assert!(all.contains_key(key), "{key} is listed: {all:?}");
    }
    for (key, entry) in all {
        let kind = entry["type"].as_str().unwrap_or_default();
        assert!(
            ["integer", "number", "url", "boolean", "choice"].contains(&kind),
            "{key}: type {entry}"
        );
        let description = entry["description"].as_str().unwrap_or_default();
        assert!(!description.trim().is_empty(), "{key}: {entry}");
        assert_eq!(entry["key"], json!(key), "{key}: {entry}");
        assert!(entry.get("default").is_some(), "{key}: {entry}");
        let source = entry["source"].as_str().unwrap_or_default();
        assert!(["default", "cli"].contains(&source), "{key}: {entry}");
        if kind == "choice" {
            let choices = entry["choices"]
                .as_array()
                .expect("a choice lists its words");
            assert!(
                choices.contains(&entry["value"]),
                "{key}: the value is a choice: {entry}"
            );
        } else if kind == "url" || kind == "boolean" {
            assert!(entry.get("min").is_none(), "{key}: {entry}");
        } else {
            let (min, max) = (entry["min"].as_f64(), entry["max"].as_f64());
            let value = entry["value"].as_f64();
            assert!(
                matches!((min, value, max), (Some(lo), Some(v), Some(hi)) if lo <= v && v <= hi),
                "{key}: the value lies within its bounds: {entry}"
            );
        }
    }
    let timeout = &all["timeout_sec"];
    assert_eq!(timeout["type"], json!("number"), "{timeout}");
    assert_eq!(timeout["default"].as_f64(), Some(300.0), "{timeout}");
    assert_eq!(timeout["value"].as_f64(), Some(300.0), "{timeout}");
    assert_eq!(timeout["source"], json!("default"), "{timeout}");
    let interval = &all["scan_interval_sec"];
    assert_eq!(
        (&interval["value"], &interval["source"]),
        (&json!(0), &json!("cli")),
        "the harness passes --scan-interval-sec 0: {interval}"
    );
    assert_eq!(all["notify_url"]["value"], json!(""), "{all:?}");
    assert_eq!(all["max_concurrent_runs"]["type"], json!("integer"));
    let public = &all["metrics_public"];
    assert_eq!(
        (&public["type"], &public["value"], &public["default"]),
        (&json!("boolean"), &json!(false), &json!(false)),
        "{public}"
    );
}

#[test]
fn startup_values_come_from_flags_then_the_environment() {
    let repo = TestRepo::new();
    let data = data_dir();
    let env = [
        ("TIMEOUT_MIN", "2"),
        ("NOTIFY_URL", "http://hooks.invalid/notify"),
        ("BASE_URL", "https://gateway.example.com"),
        ("SCAN_INTERVAL_SEC", "5"),
        ("SG_MAX_QUEUED_RUNS", "7"),
    ];
    let app = spawn_app_with_env(&repo, data.path(), &[], &env);
    assert_number(&app, "timeout_sec", 120.0, "env");
    let text = |key: &str| setting(&app, key);
    assert_eq!(
        text("notify_url"),
        (json!("http://hooks.invalid/notify"), "env".into())
    );
    assert_eq!(
        text("base_url"),
        (json!("https://gateway.example.com"), "env".into())
    );
    assert_number(&app, "max_queued_runs", 7.0, "env");
    assert_number(&app, "scan_interval_sec", 0.0, "cli");
    assert_number(&app, "run_retention_days", 30.0, "default");
    drop(app);

    let env = [("SG_TIMEOUT_SEC", "45"), ("TIMEOUT_MIN", "2")];
    let app = spawn_app_with_env(&repo, data.path(), &[], &env);
    assert_number(&app, "timeout_sec", 45.0, "env");
    drop(app);

    let app = spawn_app_with_env(&repo, data.path(), &["--timeout-sec", "7"], &env);
    assert_number(&app, "timeout_sec", 7.0, "cli");
    drop(app);

    // The harness always passes --scan-interval-sec; the variable alone needs a bare start.
    let bare = BareGateway::start(&repo, data.path(), &[("SCAN_INTERVAL_SEC", "5")]);
    let all = bare.settings();
    assert_eq!(
        (
            &all["scan_interval_sec"]["value"],
            &all["scan_interval_sec"]["source"]
        ),
        (&json!(5), &json!("env")),
        "{}",
        all["scan_interval_sec"]
    );
}

#[test]
fn a_stored_setting_beats_the_flag_survives_a_restart_and_reset_falls_back() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--timeout-sec", "7"]);
    assert_number(&app, "timeout_sec", 7.0, "cli");
    assert_number(&app, "max_queued_runs", 100.0, "default");

    let answer = write_settings(
        &app,
        "PUT",
        json!({"timeout_sec": 12.5, "max_queued_runs": 9}),
    );
    assert_eq!(
        answer["timeout_sec"]["value"].as_f64(),
        Some(12.5),
        "{answer}"
    );
    assert_eq!(answer["timeout_sec"]["source"], json!("db"), "{answer}");
    let answer = write_settings(&app, "PATCH", json!({"base_url": "https://sg.example.org"}));
    assert_eq!(answer["base_url"]["source"], json!("db"), "{answer}");
    assert_eq!(
        answer["max_queued_runs"]["value"],
        json!(9),
        "PATCH keeps the rest"
    );
    assert_number(&app, "timeout_sec", 12.5, "db");

    let app = app.restart();
    assert_number(&app, "timeout_sec", 12.5, "db");
    assert_number(&app, "max_queued_runs", 9.0, "db");
    assert_eq!(
        setting(&app, "base_url"),
        (json!("https://sg.example.org"), "db".into())
    );

    let reply = app.call("DELETE", "/api/settings/timeout_sec", &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let timeout = &reply.body["settings"]["timeout_sec"];
    assert_eq!(
        (timeout["value"].as_f64(), &timeout["source"]),
        (Some(7.0), &json!("cli")),
        "back to the flag: {timeout}"
    );
    let reply = app.call("DELETE", "/api/settings/max_queued_runs", &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_number(&app, "max_queued_runs", 100.0, "default");
    let reply = app.call("DELETE", "/api/settings/no_such_setting", &[], None);
    assert_error(
        "reset an unknown key",
        reply.status,
        &reply.body,
        404,
        "not_found",
    );

    let app = app.restart();
    assert_number(&app, "timeout_sec", 7.0, "cli");
    assert_number(&app, "max_queued_runs", 100.0, "default");
    assert_eq!(
        setting(&app, "base_url").1,
        "db",
        "only reset keys fall back"
    );
}

#[test]
fn invalid_settings_are_refused_naming_the_key_and_nothing_is_stored() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let before = settings(&app);

    let cases: &[(Value, &[&str], &str)] = &[
        (
            json!({"timeout_sec": "soon"}),
            &["timeout_sec"],
            "a string for a number",
        ),
        (
            json!({"timeout_sec": true}),
            &["timeout_sec"],
            "a bool for a number",
        ),
        (
            json!({"timeout_sec": 0}),
            &["timeout_sec"],
            "below the minimum",
        ),
        (
            json!({"timeout_sec": 86_401}),
            &["timeout_sec"],
            "above the maximum",
        ),
        (
            json!({"max_concurrent_runs": 0}),
            &["max_concurrent_runs"],
            "zero runs",
        ),
        (
            json!({"max_concurrent_runs": 2.5}),
            &["max_concurrent_runs"],
            "a fraction for an integer",
        ),
        (
            json!({"max_concurrent_runs": "4"}),
            &["max_concurrent_runs"],
            "a numeric string",
        ),
        (
            json!({"scan_interval_sec": -1}),
            &["scan_interval_sec"],
            "negative",
        ),
        (
            json!({"max_output_bytes": 1023}),
            &["max_output_bytes"],
            "below 1 KiB",
        ),
        (
            json!({"run_retention_days": [1]}),
            &["run_retention_days"],
            "a list",
        ),
        (
            json!({"notify_url": "file:///etc/passwd"}),
            &["notify_url"],
            "not http(s)",
        ),
        (
            json!({"notify_url": "not a url"}),
            &["notify_url"],
            "not a URL",
        ),
        (json!({"base_url": 5}), &["base_url"], "a number for a URL"),
        (
            json!({"no_such_setting": 1}),
            &["no_such_setting"],
            "an unknown key",
        ),
        (
            json!({"timeout_sec": 9, "max_queued_runs": 5, "max_concurrent_runs": -3}),
            &["max_concurrent_runs"],
            "one bad key among good ones",
        ),
        (
            json!({"max_queued_runs": 5, "bogus": 1, "max_output_bytes": "big"}),
            &["bogus", "max_output_bytes"],
            "two bad keys",
        ),
    ];
    for (changes, keys, why) in cases {
        for method in ["PUT", "PATCH"] {
            let reply = app.call(method, "/api/settings", &[], Some(changes));
            let what = format!("{method} {changes} ({why})");
            assert_invalid_settings(&what, reply.status, &reply.body, keys);
        }
    }

    let not_objects = [json!([1, 2]), json!("timeout_sec"), json!(5), json!(null)];
    for body in not_objects {
        let reply = app.call("PUT", "/api/settings", &[], Some(&body));
        assert_error(
            &format!("PUT {body}"),
            reply.status,
            &reply.body,
            400,
            "invalid_json",
        );
    }
    let raw = crate::run_support::send(
        &app,
        "PUT",
        "/api/settings",
        &[("Content-Type", "application/json")],
        Some(b"{\"timeout_sec\": 5"),
    );
    assert_error(
        "malformed JSON",
        raw.status,
        &raw.json(),
        400,
        "invalid_json",
    );

    assert_eq!(settings(&app), before, "nothing was stored");
    let app = app.restart();
    assert_eq!(settings(&app), before, "nothing was stored, even on disk");
}

#[test]
fn a_changed_timeout_applies_to_the_next_run_without_a_restart() {
    let repo = TestRepo::new();
    repo.write("python/nap.py", &nap_script());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/nap.py");

    write_settings(&app, "PUT", json!({"timeout_sec": 1}));
    let (status, body, took) = nap(&app, id, 5.0);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], json!("error"), "{body}");
    assert_eq!(body["error"]["code"], json!("timeout"), "{body}");
    assert!(
        took < Duration::from_secs(3),
        "stopped after ~1 s: {took:?}"
    );

    write_settings(&app, "PUT", json!({"timeout_sec": 4}));
    let (status, body, _) = nap(&app, id, 1.5);
    assert_success("a longer limit applies as well", status, &body);
    assert_eq!(body["data"], json!({"slept": 1.5}), "{body}");
}

#[test]
fn changed_run_limits_apply_to_queued_and_new_runs_without_a_restart() {
    let repo = TestRepo::new();
    repo.write("python/nap.py", &nap_script());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--max-concurrent-runs", "4"]);
    let id = script_id(&app, "python/nap.py");

    write_settings(&app, "PUT", json!({"max_concurrent_runs": 1}));
    let (long, long_queued) = nap_async(&app, id, 30.0);
    assert!(!long_queued, "the one slot is free");
    let (short, short_queued) = nap_async(&app, id, 0.1);
    assert!(short_queued, "one slot, already taken");
    let health = app.get("/health").1;
    assert_eq!(
        health["runs"],
        json!({"running": 1, "queued": 1}),
        "{health}"
    );

    write_settings(&app, "PUT", json!({"max_queued_runs": 0}));
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run?async=true"),
        &json!({"seconds": 0.1}),
    );
    assert_error("a queue of 0 is full", status, &body, 429, "too_many_runs");

    write_settings(&app, "PUT", json!({"max_concurrent_runs": 2}));
    let ended = wait_until(WAIT, || run_status(&app, short) == "success");
    assert!(
        ended,
        "the queued run got the new slot: {}",
        run_status(&app, short)
    );
    assert_eq!(
        run_status(&app, long),
        "running",
        "the queued run did not wait for the first to end"
    );
    let reply = app.call("POST", &format!("/api/runs/{long}/cancel"), &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// A gateway started with only the flags given here (the harness adds its own).
struct BareGateway {
    child: Child,
    address: String,
}

impl BareGateway {
    fn start(repo: &TestRepo, data: &std::path::Path, envs: &[(&str, &str)]) -> BareGateway {
        let args: Vec<String> = [
            "serve",
            "--port",
            "0",
            "--scripts-repo",
            &repo.path().display().to_string(),
            "--data-dir",
            &data.display().to_string(),
            "--log",
            "warn",
        ]
        .map(String::from)
        .to_vec();
        let mut child = gateway_command(&args)
            .envs(envs.iter().copied())
            .spawn()
            .expect("the gateway binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut gateway = BareGateway {
            child,
            address: String::new(),
        };
        let address = wait_for(Duration::from_secs(30), || {
            let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
            Some(line.strip_prefix("listening on ")?.trim().to_string())
        });
        gateway.address = address.expect("the bare gateway prints `listening on`");
        gateway
    }

    fn settings(&self) -> Value {
        let url = format!("{}/api/settings", self.address);
        let body: Value = ureq::get(&url)
            .call()
            .expect("GET /api/settings answers")
            .into_json()
            .expect("settings are JSON");
        body["settings"].clone()
    }
}

impl Drop for BareGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
