//! Ad-hoc code runs (`POST /api/exec`): Python and Node code run like scripts (arguments,
//! variables, files in and out, `data`, a history row without a script), failures and
//! timeouts that stop a grandchild, async + SSE + cancel, packages through the caches,
//! and the refusals: exec off, a key without the exec scope, requests that cannot run.

use serde_json::{json, Value};

use crate::async_support::{
    open_events, open_events_with, pids_with, poll_run, processes_gone, unique_marker,
    wait_for_processes, Reaper,
};
use crate::deps_support::LocalPackages;
use crate::helpers::{assert_error, data_dir, spawn_app, TestApp, TestRepo, WAIT};
use crate::run_support::{crash_gateway, post_multipart, runs_as_a_separate_user, Multipart};

/// Python code that starts a child marked by `marker` in its argv, prints `started`, and
/// sleeps; the child sleeps too (in its own session when `detached`).
fn parent_of_a_sleeper(marker: &str, detached: bool) -> String {
    let session = if detached {
        ", start_new_session=True"
    } else {
        ""
    };
    format!(
        "import subprocess, sys, time\n\
         subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{marker}']{session})\n\
         print('started', flush=True)\n\
         time.sleep(60)\n"
    )
}

/// Starts `code` (Python) in the background; its run id.
fn start_async(app: &TestApp, code: &str) -> i64 {
    let (status, accepted) = app.post(
        "/api/exec?async=true",
        &json!({"runtime": "python", "code": code}),
    );
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["run_id"].as_i64().expect("a run id");
    assert_eq!(accepted["events_url"], format!("/api/runs/{run_id}/events"));
    run_id
}

/// A gateway with exec on, on loopback without a key (allowed there).
fn exec_app(repo: &TestRepo, data: &std::path::Path, extra: &[&str]) -> TestApp {
    let mut args = vec!["--exec-enabled"];
    args.extend_from_slice(extra);
    spawn_app(repo, data, &args)
}

fn exec(app: &TestApp, body: &Value) -> (u16, Value) {
    app.post("/api/exec", body)
}

fn exec_runs(app: &TestApp) -> i64 {
    let (status, page) = app.get("/api/runs?kind=exec");
    assert_eq!(status, 200, "{page}");
    page["total"].as_i64().expect("a total")
}

#[test]
fn python_code_runs_like_a_script_with_arguments_variables_and_files_in_and_out() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let code = r#"import json, os, sys
rows = open("prices.csv").read().split()
open("total.txt", "w").write(str(sum(int(r) for r in rows)))
open("notes.txt", "a").write(" and more")
print(json.dumps({"args": sys.argv[1:], "greeting": os.environ.get("GREETING"),
                  "script_id": os.environ.get("SG_SCRIPT_ID"), "run_id": os.environ.get("SG_RUN_ID"),
                  "cwd_is_work": os.getcwd().endswith("/work")}))"#;
    let form = Multipart::new()
        .text("runtime", "python")
        .text("code", code)
        .text("args", r#"["--n", "2"]"#)
        .text("env", r#"{"GREETING": "hello"}"#)
        .file("inputs", "prices.csv", b"3\n4\n5\n")
        .file("inputs", "notes.txt", b"a note");
    let (status, body) = post_multipart(&app, "/api/exec", form);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["script_id"], Value::Null);
    let run_id = body["run_id"].as_i64().expect("a run id");
    assert_eq!(
        body["data"],
        json!({"args": ["--n", "2"], "greeting": "hello", "script_id": null,
               "run_id": run_id.to_string(), "cwd_is_work": true})
    );
    // The unchanged input is not the run's file; the written and the changed ones are.
    let names: Vec<&str> = body["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["notes.txt", "total.txt"], "{body}");
    let reply = app.call(
        "GET",
        &format!("/api/runs/{run_id}/files/total.txt"),
        &[],
        None,
    );
    assert_eq!((reply.status, reply.body), (200, json!(12)));

    let (status, run) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["kind"], "exec");
    assert_eq!(run["script_id"], Value::Null);
    assert_eq!(run["script_path"], "exec:python");
    assert_eq!(run["params"]["code"], code);
    assert_eq!(run["params"]["env"], json!({"GREETING": "hello"}));
    assert_eq!(
        run["params"]["files"],
        json!([{"file": "prices.csv", "size": 6}, {"file": "notes.txt", "size": 6}])
    );
    assert_eq!(exec_runs(&app), 1);
    let (_, scripts_only) = app.get("/api/runs?kind=script");
    assert_eq!(scripts_only["total"], 0, "{scripts_only}");
    let (status, refused) = app.get("/api/runs?kind=other");
    assert_error("an unknown kind", status, &refused, 400, "invalid_query");
}

#[test]
fn node_code_runs_with_files_in_and_out_and_a_failure_is_an_error_run_with_its_stderr() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let (status, body) = exec(
        &app,
        &json!({"runtime": "node", "args": ["x", "y"], "env": {"SECRET_TOKEN": "t0ps3cret"},
                "code": "console.log(JSON.stringify({args: process.argv.slice(2), token: process.env.SECRET_TOKEN}))"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"args": ["x", "y"], "token": "t0ps3cret"}),
        "{body}"
    );
    let (_, run) = app.get(&format!("/api/runs/{}", body["run_id"]));
    assert_eq!(run["script_path"], "exec:node");
    assert_eq!(
        run["params"]["env"],
        json!({"SECRET_TOKEN": "***"}),
        "secret-looking values stay out of the history"
    );

    let code = "const fs = require('fs');\n\
                fs.writeFileSync('words.json', JSON.stringify(fs.readFileSync('in.txt', 'utf8').split(' ')));\n\
                console.log(JSON.stringify(fs.readdirSync('.').sort()));";
    let form = Multipart::new()
        .text("runtime", "node")
        .text("code", code)
        .file("inputs", "in.txt", b"a b c");
    let (status, body) = post_multipart(&app, "/api/exec", form);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!(["in.txt", "words.json"]), "{body}");
    assert_eq!(body["files"][0]["name"], "words.json", "{body}");
    let file = body["files"][0]["url"].as_str().expect("a file url");
    let reply = app.call("GET", file, &[], None);
    assert_eq!(reply.body, json!(["a", "b", "c"]));

    let (status, body) = exec(
        &app,
        &json!({"runtime": "node", "code": "console.error('about to fail'); process.exit(3)"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(body["run_status"], "error");
    assert_eq!(body["exit_code"], 3);
    assert_eq!(body["error"]["code"], "script_failed", "{body}");
    assert!(
        body["stderr"]
            .as_str()
            .unwrap_or_default()
            .contains("about to fail"),
        "{body}"
    );
}

#[test]
fn a_timeout_stops_the_code_and_the_grandchild_it_started() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let marker = unique_marker("exec-grandchild");
    let _reaper = Reaper(marker.clone());
    let code = parent_of_a_sleeper(&marker, true);
    let (status, body) = exec(
        &app,
        &json!({"runtime": "python", "code": code, "timeout": 1.5}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_status"], "timeout", "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    assert!(
        processes_gone(&marker, WAIT),
        "the grandchild outlived the run's timeout"
    );
}

#[test]
fn an_async_run_streams_its_output_and_can_be_cancelled() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let marker = unique_marker("exec-cancel");
    let _reaper = Reaper(marker.clone());
    let code = parent_of_a_sleeper(&marker, false);
    let run_id = start_async(&app, &code);
    let mut events = open_events(&app, &format!("/api/runs/{run_id}/events"), &[]);
    assert_eq!(events.status, 200);
    let first = events.next_event(WAIT).expect("a first event");
    assert_eq!(
        (first.event.as_str(), first.data.as_str()),
        ("stdout", "started")
    );
    wait_for_processes(&marker, 1, "the code's child");

    let (status, body) = app.post(&format!("/api/runs/{run_id}/cancel"), &json!({}));
    assert_eq!(status, 200, "{body}");
    let ended = events.until_end(WAIT);
    let run = ended.last().expect("an end event").run();
    assert_eq!(run["status"], "cancelled", "{run}");
    assert!(
        processes_gone(&marker, WAIT),
        "the child outlived the cancel"
    );
    assert_eq!(poll_run(&app, run_id, WAIT)["kind"], "exec");
}

#[test]
fn a_post_that_asks_for_an_event_stream_follows_the_run_to_its_end() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    // stdout and stderr are two pipes: only pauses order lines across them.
    let code = "import sys, time\nprint('one', flush=True)\ntime.sleep(0.3)\n\
                print('careful', file=sys.stderr, flush=True)\ntime.sleep(0.3)\nprint('two')";
    let body = json!({"runtime": "python", "code": code});
    let mut events = open_events_with(&app, "POST", "/api/exec", &[], Some(&body));
    assert_eq!(events.status, 200);
    let all = events.until_end(WAIT);
    let lines: Vec<(&str, &str)> = all
        .iter()
        .filter(|e| e.event != "end")
        .map(|e| (e.event.as_str(), e.data.as_str()))
        .collect();
    assert_eq!(
        lines,
        [("stdout", "one"), ("stderr", "careful"), ("stdout", "two")]
    );
    let run = all.last().expect("an end event").run();
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["kind"], "exec", "{run}");
}

#[test]
fn packages_are_installed_through_the_shared_caches() {
    let repo = TestRepo::new();
    let data = data_dir();
    let packages = LocalPackages::build();
    let flags = packages.gateway_flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.push("--exec-enabled");
    let app = spawn_app(&repo, data.path(), &args);
    let body = json!({"runtime": "python", "packages": ["sgdemo==2.0"],
                      "code": "import json, sgdemo; print(json.dumps(sgdemo.VERSION))"});
    let reply = app.call("POST", "/api/exec", &[], Some(&body));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["data"], "2.0", "{}", reply.body);
    let installed_at = || {
        let (status, caches) = app.get("/api/dependencies/cache/status");
        assert_eq!(status, 200, "{caches}");
        let items = caches["caches"].as_array().cloned().unwrap_or_default();
        let cache = items
            .iter()
            .find(|c| c["deps"] == json!(["sgdemo==2.0"]))
            .unwrap_or_else(|| panic!("no cache of sgdemo==2.0 in {caches}"));
        assert_eq!(cache["status"], "ready", "{cache}");
        cache["installed_at"].clone()
    };
    let first_install = installed_at();
    // A second run of the same set reuses the cache: no second install.
    let again = app.call("POST", "/api/exec", &[], Some(&body));
    assert_eq!(again.body["data"], "2.0", "{}", again.body);
    assert_eq!(installed_at(), first_install);

    let node = json!({"runtime": "node", "packages": [format!("sgdemo-js@{}", packages.npm("1.0.0"))],
                      "code": "console.log(JSON.stringify(require('sgdemo-js').VERSION))"});
    let reply = app.call("POST", "/api/exec", &[], Some(&node));
    assert_eq!(reply.body["data"], "1.0.0", "{}", reply.body);

    let missing = json!({"runtime": "python", "packages": ["sgabsent==1.0"], "code": "print(1)"});
    let reply = app.call("POST", "/api/exec", &[], Some(&missing));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["code"], "dependencies_failed",
        "{}",
        reply.body
    );
}

#[test]
fn exec_is_refused_while_off_and_for_keys_without_the_exec_scope() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let body = json!({"runtime": "python", "code": "print(1)"});
    let (status, reply) = exec(&app, &body);
    assert_error("exec off", status, &reply, 403, "exec_disabled");
    assert_eq!(exec_runs(&app), 0);
    drop(app);

    const MASTER: &str = "master-s3cret";
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER, "--exec-enabled"]);
    let mut keys = Vec::new();
    for scope in ["run", "metrics", "exec"] {
        let spec = json!({"name": scope, "scope": scope});
        let reply = app.call("POST", "/api/keys", &[("X-API-Key", MASTER)], Some(&spec));
        assert_eq!(reply.status, 201, "{}", reply.body);
        keys.push(reply.body["key"].as_str().expect("a key").to_string());
    }
    for (scope, key) in ["run", "metrics"].iter().zip(&keys) {
        let reply = app.call("POST", "/api/exec", &[("X-API-Key", key)], Some(&body));
        assert_error(scope, reply.status, &reply.body, 403, "forbidden");
    }
    let reply = app.call("POST", "/api/exec", &[], Some(&body));
    assert_error("no key", reply.status, &reply.body, 401, "unauthorized");
    let reply = app.call("POST", "/api/exec", &[("X-API-Key", &keys[2])], Some(&body));
    assert_eq!((reply.status, &reply.body["data"]), (200, &json!(1)));
    let reply = app.call("POST", "/api/exec", &[("X-API-Key", MASTER)], Some(&body));
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn requests_that_cannot_run_are_refused_before_anything_starts() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let cases = [
        (
            json!({"runtime": "python", "code": "  "}),
            "invalid_request",
        ),
        (
            json!({"runtime": "ruby", "code": "puts 1"}),
            "invalid_request",
        ),
        (json!({"code": "print(1)"}), "invalid_request"),
        (
            json!({"runtime": "python", "code": "print(1)", "extra": 1}),
            "invalid_request",
        ),
        (
            json!({"runtime": "python", "code": "print(1)", "env": {"SG_RUN_ID": "9"}}),
            "invalid_request",
        ),
        (
            json!({"runtime": "python", "code": "print(1)", "env": {"A=B": "x"}}),
            "invalid_request",
        ),
        (
            json!({"runtime": "python", "code": "print(1)", "args": ["a\u{0}b"]}),
            "invalid_request",
        ),
        (
            json!({"runtime": "python", "code": "print(1)", "packages": ["--index-url=http://evil"]}),
            "invalid_request",
        ),
        (
            json!({"runtime": "python", "code": "print(1)", "packages": ["-r /etc/passwd"]}),
            "invalid_request",
        ),
        (
            json!({"runtime": "node", "code": "1", "packages": ["../../etc"]}),
            "invalid_request",
        ),
        (
            json!({"runtime": "python", "code": "print(1)", "timeout": -1}),
            "invalid_request",
        ),
        (json!(["python", "print(1)"]), "invalid_json"),
    ];
    for (body, code) in cases {
        let (status, reply) = exec(&app, &body);
        assert_error(&body.to_string(), status, &reply, 400, code);
    }
    let reply = app.call(
        "POST",
        "/api/exec?wait=-3",
        &[],
        Some(&json!({"runtime": "python", "code": "print(1)"})),
    );
    assert_error(
        "a bad option",
        reply.status,
        &reply.body,
        400,
        "invalid_query",
    );
    let twice = Multipart::new()
        .text("runtime", "python")
        .text("code", "print(1)")
        .file("a", "same.txt", b"1")
        .file("b", "same.txt", b"2");
    let (status, reply) = post_multipart(&app, "/api/exec", twice);
    assert_error(
        "two inputs of one name",
        status,
        &reply,
        400,
        "invalid_request",
    );
    let bad_args = Multipart::new()
        .text("runtime", "python")
        .text("code", "print(1)")
        .text("args", "not json");
    let (status, reply) = post_multipart(&app, "/api/exec", bad_args);
    assert_error(
        "args that are not JSON",
        status,
        &reply,
        400,
        "invalid_request",
    );
    let reply = app.call("POST", "/api/exec", &[("Content-Type", "text/plain")], None);
    assert_error(
        "plain text",
        reply.status,
        &reply.body,
        415,
        "unsupported_media_type",
    );
    assert_eq!(exec_runs(&app), 0, "a refused request left a run behind");
    let staging = data.path().join("runs/.staging");
    let left = std::fs::read_dir(&staging).map_or(0, |entries| entries.count());
    assert_eq!(left, 0, "a refused request left staged files");
}

#[test]
fn after_kill_9_the_restart_marks_an_ad_hoc_run_interrupted_and_kills_its_processes() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &[]);
    let marker = unique_marker("exec-crash");
    let _reaper = Reaper(marker.clone());
    let code = parent_of_a_sleeper(&marker, false);
    let run_id = start_async(&app, &code);
    wait_for_processes(&marker, 1, "the code's child");

    crash_gateway(data.path());
    assert_eq!(
        pids_with(&marker).len(),
        1,
        "precondition: the child outlived the crash"
    );
    let app = app.restart();
    assert!(
        processes_gone(&marker, WAIT),
        "the restart kills what the ad-hoc run left"
    );
    let (status, run) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "interrupted", "{run}");
    assert_eq!(run["kind"], "exec", "{run}");
}

/// Runs started from a fork server or a pre-started node so far.
fn warm_starts(app: &TestApp) -> u64 {
    let (_, body) = app.get("/api/system/warm");
    body["warm_starts"]
        .as_u64()
        .expect("a count of warm starts")
}

#[test]
fn ad_hoc_runs_start_warm_like_script_runs_and_see_only_their_own_run() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = exec_app(&repo, data.path(), &crate::warm::WARM);
    for (runtime, code) in [
        (
            "python",
            "import json, os\nprint(json.dumps([os.environ['SG_RUN_ID'], os.getcwd()]))",
        ),
        (
            "node",
            "console.log(JSON.stringify([process.env.SG_RUN_ID, process.cwd()]))",
        ),
    ] {
        let body = json!({"runtime": runtime, "code": code});
        let before = warm_starts(&app);
        let mut warm = None;
        for _ in 0..40 {
            let (status, reply) = exec(&app, &body);
            assert_eq!(status, 200, "{reply}");
            let run_id = reply["run_id"].as_i64().expect("a run id");
            let expected_cwd = data.path().join(format!("runs/{run_id}/work"));
            assert_eq!(
                reply["data"],
                json!([run_id.to_string(), expected_cwd.to_string_lossy()]),
                "{runtime}: {reply}"
            );
            if warm_starts(&app) > before {
                warm = Some(run_id);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(warm.is_some(), "no {runtime} ad-hoc run started warm");
    }
}

#[test]
fn under_a_run_user_ad_hoc_code_runs_as_it_and_may_change_its_inputs() {
    if !runs_as_a_separate_user() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let repo = TestRepo::new();
    let data = data_dir();
    for folder in [repo.path(), data.path()] {
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let app = exec_app(&repo, data.path(), &["--python", "/usr/bin/python3"]);
    let (_, system) = app.get("/api/system");
    if system["containment"]["run_as"] != json!("nobody") {
        eprintln!("SKIPPED: the gateway runs code as its own user here: {system}");
        return;
    }
    let code = "import json, os\nopen('notes.txt', 'a').write(' and more')\n\
                print(json.dumps({'uid': os.getuid(), 'notes': open('notes.txt').read()}))";
    let form = Multipart::new()
        .text("runtime", "python")
        .text("code", code)
        .file("inputs", "notes.txt", b"a note");
    let (status, body) = post_multipart(&app, "/api/exec", form);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["notes"], "a note and more", "{body}");
    assert_ne!(body["data"]["uid"], json!(0), "{body}");
    assert_eq!(body["files"][0]["name"], "notes.txt", "{body}");
}
