//! Script management over HTTP: create (from content, a template, the original's route or an
//! upload), read and replace the content, per-script overrides, delete; every path confined
//! to `scripts_repo/<runtime>/`; the templates new scripts start from.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_error_shape, data_dir, fixtures, spawn_app, wait_until, TestApp, TestRepo,
    WAIT,
};
use crate::run_support::{
    assert_success, post_multipart, python, raw_http, run_total, script_id, Multipart,
};

const PYTHON_TEMPLATE: &str = include_str!("../../templates/python.py");
const JS_TEMPLATE: &str = include_str!("../../templates/js.js");

/// A loadable script with the given docstring and ARGS_MAP.
fn tool(doc: &str, schema: &Value) -> String {
    fixtures::python(doc, schema)
}

/// A script whose schema extraction crashes.
fn broken() -> String {
    fixtures::python_schema_mode("raise ValueError('broken on purpose')")
}

/// A script that sleeps `--seconds` and says how long it slept.
fn nap_script() -> String {
    let schema = json!({"seconds": {"flag": "--seconds", "type": "float", "default": 5}});
    python(
        &schema,
        "import time\nseconds = float(sys.argv[sys.argv.index(\"--seconds\") + 1])\n\
         time.sleep(seconds)\nprint(json.dumps({\"slept\": seconds}))",
    )
}

/// POST /api/scripts `{path, content}`.
fn create(app: &TestApp, path: &str, content: &str) -> (u16, Value) {
    app.post("/api/scripts", &json!({"path": path, "content": content}))
}

/// Asserts a 201 with a loaded script at `path`; returns the script.
fn assert_created(what: &str, status: u16, body: &Value, path: &str) -> Value {
    assert_eq!(status, 201, "{what}: {body}");
    assert_eq!(body["path"], json!(path), "{what}: {body}");
    assert_eq!(body["load_status"], json!("ok"), "{what}: {body}");
    assert_eq!(body["load_error"], json!(null), "{what}: {body}");
    assert!(body["id"].as_i64().is_some(), "{what}: an id: {body}");
    body.clone()
}

fn id_of(script: &Value) -> i64 {
    script["id"].as_i64().expect("an integer id")
}

/// Any request with a JSON body, as (status, body).
fn call(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let reply = app.call(method, path, &[], body);
    (reply.status, reply.body)
}

fn get_script(app: &TestApp, id: i64) -> Value {
    let (status, body) = app.get(&format!("/api/scripts/{id}"));
    assert_eq!(status, 200, "script {id}: {body}");
    body
}

#[test]
fn scripts_are_created_read_edited_and_deleted_through_the_api() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let schema = fixtures::greet_schema();
    let content = tool("Greets people.", &schema);

    let (status, body) = create(&app, "python/tools/made.py", &content);
    let made = assert_created("create", status, &body, "python/tools/made.py");
    let id = id_of(&made);
    assert_eq!(
        made["args_schema"], schema,
        "the schema came with the answer"
    );
    assert_eq!(made["description"], json!("Greets people."), "{made}");
    assert_eq!(made["runtime"], json!("python"), "{made}");
    assert_eq!(
        repo.read("python/tools/made.py"),
        content,
        "written as sent"
    );
    assert_eq!(
        repo.sidecar("python/tools/made._map.json"),
        Some(schema.clone()),
        "the sidecar was written"
    );
    assert_eq!(get_script(&app, id)["args_schema"], schema);

    let (status, body) = create(&app, "python/tools/made.py", &tool("Other.", &json!({})));
    assert_error("the same path again", status, &body, 409, "script_exists");
    assert_eq!(repo.read("python/tools/made.py"), content, "left as it was");

    let bad_bodies = [
        (
            json!({"path": "python/a.py"}),
            "invalid_request",
            "neither content nor template",
        ),
        (
            json!({"path": "python/a.py", "content": content, "template": "python"}),
            "invalid_request",
            "both content and template",
        ),
        (
            json!({"path": "python/a.py", "template": "ruby"}),
            "invalid_request",
            "no such template",
        ),
        (
            json!({"path": "js/a.js", "template": "python"}),
            "invalid_request",
            "a template for another runtime",
        ),
        (
            json!({"path": "python/a.py", "content": content, "extra": 1}),
            "invalid_json",
            "an unknown field",
        ),
        (json!({"content": content}), "invalid_json", "no path"),
        (
            json!({"path": "python/a.py", "content": 5}),
            "invalid_json",
            "content is not text",
        ),
    ];
    for (body, code, why) in bad_bodies {
        let (status, answer) = app.post("/api/scripts", &body);
        assert_error(why, status, &answer, 400, code);
    }
    assert!(!repo.exists("python/a.py") && !repo.exists("js/a.js"));

    // Read and replace the content.
    let (status, body) = app.get(&format!("/api/scripts/{id}/content"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": id, "path": "python/tools/made.py", "content": content})
    );
    let put_content = |text: &str| {
        let body = json!({ "content": text });
        call(
            &app,
            "PUT",
            &format!("/api/scripts/{id}/content"),
            Some(&body),
        )
    };
    let (status, body) = put_content(&broken());
    assert_eq!(status, 200, "a broken script is still saved: {body}");
    assert_eq!(body["id"], json!(id), "same script: {body}");
    assert_eq!(body["load_status"], json!("error"), "{body}");
    let reason = body["load_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("broken on purpose") && reason.contains("exited with code 1"),
        "the reason is given: {body}"
    );
    assert_eq!(repo.read("python/tools/made.py"), broken());
    let (status, answer) = app.post(&format!("/api/scripts/{id}/run"), &json!({"name": "x"}));
    assert_error(
        "running a broken script",
        status,
        &answer,
        422,
        "schema_not_loadable",
    );

    let fixed_schema = fixtures::one_param("city");
    let fixed = tool("Fixed.", &fixed_schema);
    let (status, body) = put_content(&fixed);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["id"], &body["load_status"], &body["args_schema"]),
        (&json!(id), &json!("ok"), &fixed_schema),
        "loads again, same id: {body}"
    );
    assert_eq!(body["load_error"], json!(null), "{body}");
    assert_eq!(
        app.get(&format!("/api/scripts/{id}/content")).1["content"],
        json!(fixed)
    );
    assert_eq!(
        repo.sidecar("python/tools/made._map.json"),
        Some(fixed_schema)
    );

    let (status, body) = call(
        &app,
        "PUT",
        &format!("/api/scripts/{id}/content"),
        Some(&json!({"content": fixed, "path": "python/x.py"})),
    );
    assert_error(
        "an unknown content field",
        status,
        &body,
        400,
        "invalid_json",
    );
    for (method, body) in [("GET", None), ("PUT", Some(json!({"content": fixed})))] {
        let (status, answer) = call(&app, method, "/api/scripts/999999/content", body.as_ref());
        assert_error(
            &format!("{method} content of no script"),
            status,
            &answer,
            404,
            "not_found",
        );
    }

    // Delete: the script and its files go, its run history stays.
    let ran = app.post(&format!("/api/scripts/{id}/run"), &json!({"city": "Oslo"}));
    assert_success("a run before the delete", ran.0, &ran.1);
    let run_id = ran.1["run_id"].as_i64().expect("a run id");
    let (status, body) = call(&app, "DELETE", &format!("/api/scripts/{id}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(id), "the deleted script: {body}");
    assert!(
        app.script_by_path("python/tools/made.py").is_none(),
        "{:?}",
        app.paths()
    );
    let (status, body) = app.get(&format!("/api/scripts/{id}"));
    assert_error("a deleted script", status, &body, 404, "not_found");
    assert!(!repo.exists("python/tools/made.py"), "the file is gone");
    assert!(
        !repo.exists("python/tools/made._map.json"),
        "the sidecar is gone"
    );
    let (status, runs) = app.get(&format!("/api/runs?script_id={id}"));
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs["total"], json!(1), "the history stays: {runs}");
    assert_eq!(runs["items"][0]["id"], json!(run_id), "{runs}");
    let (status, run) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!((status, &run["status"]), (200, &json!("success")), "{run}");
    let (status, body) = call(&app, "DELETE", &format!("/api/scripts/{id}"), None);
    assert_error("deleting twice", status, &body, 404, "not_found");
    let (status, _) = create(&app, "python/tools/made.py", &content);
    assert_eq!(status, 201, "the path is free again");
}

#[test]
fn ids_that_are_not_numbers_are_refused() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let content = json!({"content": "x"});
    let patch = json!({"enabled": false});
    let cases = [
        ("GET", "/api/scripts/abc/content", None),
        ("PUT", "/api/scripts/abc/content", Some(&content)),
        ("GET", "/api/scripts/1.5/content", None),
        ("DELETE", "/api/scripts/abc", None),
        ("DELETE", "/api/scripts/-", None),
        ("PATCH", "/api/scripts/abc", Some(&patch)),
    ];
    for (method, path, body) in cases {
        let reply = app.call(method, path, &[], body);
        let what = format!("{method} {path}");
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert_error_shape(&what, &reply.body);
    }
}

#[test]
fn the_original_create_route_and_uploads_write_scripts() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let schema = fixtures::one_param("who");

    let body =
        json!({"runtime": "python", "filename": "compat.py", "content": tool("C.", &schema)});
    let (status, answer) = app.post("/api/scripts/create", &body);
    let made = assert_created("compat python", status, &answer, "python/compat.py");
    assert_eq!(made["args_schema"], schema);
    let js = fixtures::js("A JS tool.", &schema);
    let body = json!({"runtime": "js", "filename": "sub/c.js", "content": js});
    let (status, answer) = app.post("/api/scripts/create", &body);
    assert_created("compat js in a folder", status, &answer, "js/sub/c.js");
    assert_eq!(repo.read("js/sub/c.js"), js);
    let (status, answer) = app.post("/api/scripts/create", &body);
    assert_error("compat twice", status, &answer, 409, "script_exists");
    let body = json!({"runtime": "ruby", "filename": "c.rb", "content": "puts 1"});
    let (status, answer) = app.post("/api/scripts/create", &body);
    assert_error("compat ruby", status, &answer, 400, "invalid_request");

    let content = tool("Uploaded.", &schema);
    let form = Multipart::new().text("path", "python/up/one.py").file(
        "file",
        "whatever.txt",
        content.as_bytes(),
    );
    let (status, answer) = post_multipart(&app, "/api/scripts/upload", form);
    assert_created("upload with a path", status, &answer, "python/up/one.py");
    assert_eq!(repo.read("python/up/one.py"), content);
    let form = Multipart::new().file("file", "two.py", content.as_bytes());
    let (status, answer) = post_multipart(&app, "/api/scripts/upload", form);
    let two = assert_created("upload by file name", status, &answer, "python/two.py");
    assert_eq!(two["args_schema"], schema);
    let form = Multipart::new().file("file", "three.mjs", js.as_bytes());
    let (status, answer) = post_multipart(&app, "/api/scripts/upload", form);
    assert_created("upload an .mjs", status, &answer, "js/three.mjs");
    let form = Multipart::new().file("file", "two.py", content.as_bytes());
    let (status, answer) = post_multipart(&app, "/api/scripts/upload", form);
    assert_error("upload twice", status, &answer, 409, "script_exists");

    let refused = [
        (
            Multipart::new().file("file", "notes.txt", b"hi"),
            "an unknown extension",
        ),
        (
            Multipart::new().text("path", "python/x.py"),
            "no file field",
        ),
        (
            Multipart::new().file("file", "bin.py", &[0xff, 0xfe, 0x00, 0x80]),
            "not UTF-8",
        ),
    ];
    for (form, why) in refused {
        let (status, answer) = post_multipart(&app, "/api/scripts/upload", form);
        assert_eq!(status, 400, "{why}: {answer}");
        assert_error_shape(why, &answer);
    }
    assert!(!repo.exists("python/x.py") && !repo.exists("python/bin.py"));
    assert_eq!(
        app.paths(),
        [
            "js/sub/c.js",
            "js/three.mjs",
            "python/compat.py",
            "python/two.py",
            "python/up/one.py"
        ]
    );
}

/// How many times the counting fixture's schema was extracted.
fn extractions(repo: &TestRepo, log: &str) -> usize {
    if !repo.exists(log) {
        return 0;
    }
    repo.read(log).lines().count()
}

/// Writes a new script straight to disk and waits for the watcher to list it: everything
/// the watcher saw before has been dealt with by then.
fn let_the_watcher_catch_up(app: &TestApp, repo: &TestRepo, marker: &str) {
    repo.write(marker, &tool("Marker.", &json!({})));
    let seen = wait_until(WAIT, || app.script_by_path(marker).is_some());
    assert!(seen, "the watcher picked up {marker}: {:?}", app.paths());
}

#[test]
fn a_script_written_through_the_api_is_extracted_exactly_once() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--watch-debounce-ms", "50"]);
    let log = "python/counted.runs.log";
    let first = fixtures::python_counting(&fixtures::one_param("a"));

    let (status, body) = create(&app, "python/counted.py", &first);
    let made = assert_created("create", status, &body, "python/counted.py");
    let id = id_of(&made);
    assert_eq!(
        extractions(&repo, log),
        1,
        "extracted once, before the answer"
    );
    let_the_watcher_catch_up(&app, &repo, "python/marker_1.py");
    assert_eq!(
        extractions(&repo, log),
        1,
        "the watcher did not extract again"
    );
    let (status, scan) = app.post("/api/scan", &json!({}));
    assert_eq!(status, 200, "{scan}");
    assert_eq!(extractions(&repo, log), 1, "a rescan did not extract again");
    let listed: Vec<_> = app
        .paths()
        .into_iter()
        .filter(|p| p == "python/counted.py")
        .collect();
    assert_eq!(listed.len(), 1, "listed once");

    let second_schema = fixtures::one_param("b");
    let second = fixtures::python_counting(&second_schema);
    let (status, body) = call(
        &app,
        "PUT",
        &format!("/api/scripts/{id}/content"),
        Some(&json!({ "content": second })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["args_schema"], second_schema, "{body}");
    assert_eq!(extractions(&repo, log), 2, "the edit was extracted once");
    let_the_watcher_catch_up(&app, &repo, "python/marker_2.py");
    assert_eq!(app.post("/api/scan", &json!({})).0, 200);
    assert_eq!(extractions(&repo, log), 2, "and only once");
    assert_eq!(get_script(&app, id)["args_schema"], second_schema);
}

/// An async run of `id` sleeping `seconds`: (run id, whether it waits for a slot).
fn nap_async(app: &TestApp, id: i64, seconds: f64) -> (i64, bool) {
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run?async=true"),
        &json!({ "seconds": seconds }),
    );
    assert_eq!(status, 202, "{body}");
    let run = body["run_id"].as_i64().expect("a run id");
    (run, body["queued"].as_bool().expect("queued is a bool"))
}

fn wait_for_status(app: &TestApp, run_id: i64, want: &str) {
    let status = || app.get(&format!("/api/runs/{run_id}")).1["status"].clone();
    let reached = wait_until(WAIT, || status() == json!(want));
    assert!(reached, "run {run_id} reached {want}: {}", status());
}

/// The overrides a PATCH can set, as the script view shows them.
fn overrides(script: &Value) -> Value {
    json!({
        "alias": script["alias"],
        "enabled": script["enabled"],
        "notify_enabled": script["notify_enabled"],
        "timeout_sec": script["timeout_sec"],
        "max_concurrent": script["max_concurrent"],
    })
}

#[test]
fn patch_sets_and_clears_per_script_overrides() {
    let repo = TestRepo::new();
    repo.write("python/nap.py", &nap_script());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--timeout-sec", "1"]);
    let id = script_id(&app, "python/nap.py");
    let path = format!("/api/scripts/{id}");
    let patch = |body: Value| call(&app, "PATCH", &path, Some(&body));
    let run = |seconds: f64| {
        let began = Instant::now();
        let body = json!({ "seconds": seconds });
        let (status, answer) = app.post(&format!("{path}/run"), &body);
        (status, answer, began.elapsed())
    };
    let defaults = json!({"alias": null, "enabled": true, "notify_enabled": false,
                          "timeout_sec": null, "max_concurrent": null});
    assert_eq!(overrides(&get_script(&app, id)), defaults);

    let all = json!({"alias": "Napper", "enabled": true, "notify_enabled": true,
                     "timeout_sec": 3, "max_concurrent": 1});
    let (status, body) = patch(all.clone());
    assert_eq!(status, 200, "{body}");
    assert_eq!(overrides(&body), all, "the answer shows the overrides");
    assert_eq!(overrides(&get_script(&app, id)), all);
    assert_eq!(app.post("/api/scan", &json!({})).0, 200);
    assert_eq!(overrides(&get_script(&app, id)), all, "a rescan keeps them");

    // The script's own timeout replaces the global 1 s.
    let (status, answer, took) = run(2.0);
    assert_success("2 s within the script's 3 s", status, &answer);
    assert!(took >= Duration::from_secs(2), "{took:?}");
    // Its own concurrency limit queues its second run.
    let (first, first_queued) = nap_async(&app, id, 1.0);
    let (second, second_queued) = nap_async(&app, id, 0.1);
    assert_eq!(
        (first_queued, second_queued),
        (false, true),
        "one at a time"
    );
    wait_for_status(&app, first, "success");
    wait_for_status(&app, second, "success");

    let refused = [
        (
            json!({"timeout_sec": 0}),
            "invalid_request",
            "a zero timeout",
        ),
        (
            json!({"timeout_sec": -5}),
            "invalid_request",
            "a negative timeout",
        ),
        (
            json!({"timeout_sec": 86_401}),
            "invalid_request",
            "a timeout over a day",
        ),
        (
            json!({"timeout_sec": "3"}),
            "invalid_json",
            "a timeout as text",
        ),
        (
            json!({"timeout_sec": 1.5}),
            "invalid_json",
            "a fractional timeout",
        ),
        (
            json!({"max_concurrent": 0}),
            "invalid_request",
            "zero at once",
        ),
        (
            json!({"max_concurrent": 10_001}),
            "invalid_request",
            "too many at once",
        ),
        (
            json!({"alias": "x".repeat(101)}),
            "invalid_request",
            "a long alias",
        ),
        (
            json!({"alias": 5}),
            "invalid_json",
            "an alias that is not text",
        ),
        (json!({"enabled": "yes"}), "invalid_json", "enabled as text"),
        (
            json!({"notify_enabled": 1}),
            "invalid_json",
            "notify_enabled as a number",
        ),
        (json!({"bogus": 1}), "invalid_json", "an unknown field"),
        (
            json!({"path": "python/other.py"}),
            "invalid_json",
            "the path is not patchable",
        ),
        (
            json!({"load_status": "ok"}),
            "invalid_json",
            "nor the load status",
        ),
        (json!("enabled"), "invalid_json", "not an object"),
    ];
    for (body, code, why) in refused {
        let (status, answer) = patch(body.clone());
        assert_error(&format!("PATCH {body} ({why})"), status, &answer, 400, code);
    }
    assert_eq!(overrides(&get_script(&app, id)), all, "nothing changed");
    let (status, answer) = call(
        &app,
        "PATCH",
        "/api/scripts/999999",
        Some(&json!({"alias": "x"})),
    );
    assert_error("no such script", status, &answer, 404, "not_found");

    let (status, body) = patch(json!({"alias": null, "timeout_sec": null, "max_concurrent": null}));
    assert_eq!(status, 200, "{body}");
    let cleared = json!({"alias": null, "enabled": true, "notify_enabled": true,
                         "timeout_sec": null, "max_concurrent": null});
    assert_eq!(overrides(&body), cleared, "null clears; the rest stays");
    let (status, answer, took) = run(2.0);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["error"]["code"],
        json!("timeout"),
        "the global 1 s again: {answer}"
    );
    assert!(took < Duration::from_millis(1900), "{took:?}");
    let (status, body) = patch(json!({"alias": "  "}));
    assert_eq!(
        (status, &body["alias"]),
        (200, &json!(null)),
        "a blank alias clears: {body}"
    );

    // Disabled: refused before anything starts.
    let before = run_total(&app);
    let (status, body) = patch(json!({"enabled": false, "notify_enabled": false}));
    assert_eq!((status, &body["enabled"]), (200, &json!(false)), "{body}");
    let (status, answer, _) = run(0.1);
    assert_error(
        "POST run of a disabled script",
        status,
        &answer,
        409,
        "script_disabled",
    );
    let (status, answer) = app.get(&format!("{path}/run?seconds=0.1"));
    assert_error(
        "GET run of a disabled script",
        status,
        &answer,
        409,
        "script_disabled",
    );
    let (status, answer) = app.post(&format!("{path}/run?async=true"), &json!({}));
    assert_error(
        "async run of a disabled script",
        status,
        &answer,
        409,
        "script_disabled",
    );
    assert_eq!(run_total(&app), before, "no run was logged");
    let (status, body) = patch(json!({"enabled": true}));
    assert_eq!((status, &body["enabled"]), (200, &json!(true)), "{body}");
    let (status, answer, _) = run(0.1);
    assert_success("enabled again", status, &answer);
}

/// POST /api/scripts and an upload, both naming `path`: (endpoint, status, body).
fn try_path(app: &TestApp, path: &str) -> [(String, u16, Value); 2] {
    let content = tool("Escapee.", &json!({}));
    let (status, body) = create(app, path, &content);
    let created = (format!("POST /api/scripts {path:?}"), status, body);
    let form = Multipart::new()
        .text("path", path)
        .file("file", "escapee.py", content.as_bytes());
    let (status, body) = post_multipart(app, "/api/scripts/upload", form);
    [created, (format!("upload to {path:?}"), status, body)]
}

/// The original's create route with a python `filename`: (endpoint, status, body).
fn try_compat(app: &TestApp, filename: &str) -> (String, u16, Value) {
    let content = tool("Escapee.", &json!({}));
    let body = json!({"runtime": "python", "filename": filename, "content": content});
    let (status, body) = app.post("/api/scripts/create", &body);
    (
        format!("POST /api/scripts/create {filename:?}"),
        status,
        body,
    )
}

/// Every file under `dir` (recursively), as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("inside").display();
                found.push(relative.to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_path_taking_endpoint_refuses_paths_outside_the_runtime_folder() {
    let repo = TestRepo::new();
    let outside = tempfile::Builder::new()
        .prefix("sg-outside-")
        .tempdir()
        .expect("a temporary folder");
    let target = outside.path().join("target.py");
    std::fs::write(&target, "print('outside')\n").expect("the target is written");
    std::os::unix::fs::symlink(outside.path(), repo.abs("python/escape")).expect("a dir link");
    std::os::unix::fs::symlink(&target, repo.abs("python/link.py")).expect("a file link");
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let unique = repo
        .path()
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .replace('-', "_");
    let name = format!("escaped_{unique}");
    let absolute = format!("{}/{name}.py", outside.path().display());
    let paths = [
        format!("../{name}.py"),
        format!("../../{name}.py"),
        absolute.clone(),
        format!("/etc/{name}.py"),
        format!("python/../../{name}.py"),
        format!("python/../js/{name}.py"),
        format!("python/a/../../../{name}.py"),
        format!("ruby/{name}.rb"),
        format!("python/{name}.js"),
        format!("js/{name}.py"),
        format!("python/.hidden/{name}.py"),
        format!("python/node_modules/{name}.py"),
        format!("python/escape/{name}.py"),
        format!("python/escape/deeper/{name}.py"),
        "python/link.py".to_string(),
        format!("python\\..\\..\\{name}.py"),
    ];
    let filenames = [
        format!("../{name}.py"),
        format!("../../{name}.py"),
        format!("a/../../{name}.py"),
        format!("{name}.rb"),
        format!("{name}.js"),
        format!(".hidden/{name}.py"),
        format!("node_modules/{name}.py"),
        format!("escape/{name}.py"),
        "link.py".to_string(),
        format!("..\\{name}.py"),
        String::new(),
    ];
    let answers = paths
        .iter()
        .flat_map(|path| try_path(&app, path))
        .chain(filenames.iter().map(|filename| try_compat(&app, filename)));
    let mut accepted = Vec::new();
    for (what, status, body) in answers {
        if status == 400 && body["error"]["code"] == json!("invalid_path") {
            assert_error_shape(&what, &body);
        } else {
            accepted.push(format!("{what}: {status} {body}"));
        }
    }

    assert_eq!(
        files_under(outside.path()),
        ["target.py"],
        "nothing written outside"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "print('outside')\n"
    );
    let parent = repo.path().parent().expect("the repo has a parent");
    assert!(
        !parent.join(format!("{name}.py")).exists(),
        "nothing beside the repo"
    );
    assert!(
        !Path::new(&format!("/etc/{name}.py")).exists(),
        "nothing in /etc"
    );
    assert!(accepted.is_empty(), "not refused:\n{}", accepted.join("\n"));
    let written: Vec<String> = files_under(repo.path())
        .into_iter()
        .filter(|f| f.contains(&name))
        .collect();
    assert_eq!(
        written,
        Vec::<String>::new(),
        "no file was written anywhere"
    );
    assert!(app.all_scripts().is_empty(), "{:?}", app.paths());
}

#[test]
fn an_upload_without_a_path_keeps_only_the_file_name() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let content = tool("Named by its file.", &json!({}));
    let form = Multipart::new().file("file", "../../up_escape.py", content.as_bytes());
    let (status, answer) = post_multipart(&app, "/api/scripts/upload", form);
    assert_created(
        "a file name with ..",
        status,
        &answer,
        "python/up_escape.py",
    );
    let parent = repo.path().parent().expect("a parent");
    assert!(!parent.join("up_escape.py").exists());
    assert!(repo.exists("python/up_escape.py"));
}

#[test]
fn a_create_refused_as_no_script_leaves_no_file_behind() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let (status, body) = create(&app, "python/helper.py", fixtures::PY_HELPER);
    assert_error(
        "a helper module is not a script",
        status,
        &body,
        400,
        "not_a_script",
    );
    assert!(
        !repo.exists("python/helper.py"),
        "the refused file was left behind"
    );
    let (status, body) = create(&app, "python/helper.py", &tool("Now a script.", &json!({})));
    assert_eq!(status, 201, "the path is still free: {body}");
}

#[test]
fn an_edit_that_is_no_script_is_refused_and_changes_nothing() {
    let repo = TestRepo::new();
    let content = tool("A script.", &json!({}));
    repo.write("python/kept.py", &content);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/kept.py");
    let (status, body) = call(
        &app,
        "PUT",
        &format!("/api/scripts/{id}/content"),
        Some(&json!({"content": fixtures::PY_HELPER})),
    );
    assert_error(
        "content that is no script",
        status,
        &body,
        400,
        "not_a_script",
    );
    assert_eq!(
        repo.read("python/kept.py"),
        content,
        "the file is unchanged"
    );
    let (status, script) = app.get(&format!("/api/scripts/{id}"));
    assert_eq!(status, 200, "the script is still listed: {script}");
    assert_eq!(script["load_status"], json!("ok"), "{script}");
}

#[test]
fn encoded_dot_segments_and_absolute_compat_filenames_are_refused() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let answers = [
        try_path(&app, "python/%2e%2e/enc.py")[0].clone(),
        try_path(&app, "python/..%2f..%2fenc2.py")[1].clone(),
        try_compat(&app, "%2e%2e/enc3.py"),
        try_compat(&app, "/etc/abs.py"),
        try_compat(&app, "/tmp/abs2.py"),
    ];
    let accepted: Vec<String> = answers
        .iter()
        .filter(|(_, status, body)| {
            *status != 400 || body["error"]["code"] != json!("invalid_path")
        })
        .map(|(what, status, body)| format!("{what}: {status} {}", body["path"]))
        .collect();
    assert!(accepted.is_empty(), "not refused:\n{}", accepted.join("\n"));
}

#[test]
fn management_routes_refuse_json_arrays() {
    let repo = TestRepo::new();
    repo.write("python/kept.py", &tool("Kept.", &json!({})));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/kept.py");
    let content = tool("Array.", &json!({}));
    let cases = [
        (
            "POST",
            "/api/scripts".to_string(),
            json!(["python/arr.py", content, null]),
        ),
        (
            "POST",
            "/api/scripts/create".to_string(),
            json!(["python", "arr2.py", content]),
        ),
        (
            "PATCH",
            format!("/api/scripts/{id}"),
            json!([null, false, null, null, null]),
        ),
        (
            "PUT",
            format!("/api/scripts/{id}/content"),
            json!([content]),
        ),
        ("PUT", "/api/templates/python".to_string(), json!([content])),
    ];
    let mut accepted = Vec::new();
    for (method, path, body) in &cases {
        let (status, answer) = call(&app, method, path, Some(body));
        if status != 400 {
            accepted.push(format!("{method} {path} {body}: {status} {answer}"));
        }
    }
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
    assert!(!repo.exists("python/arr.py") && !repo.exists("python/arr2.py"));
    assert_eq!(get_script(&app, id)["enabled"], json!(true));
}

/// The ARGS_MAP both default templates declare.
fn template_schema() -> Value {
    json!({
        "name": {"flag": "--name", "type": "str", "required": true, "help": "Who to greet"},
        "times": {"flag": "--times", "type": "int", "default": 1, "help": "How many times"},
        "shout": {"flag": "--shout", "type": "bool", "default": false, "help": "Upper-case the greeting"}
    })
}

fn template(app: &TestApp, runtime: &str) -> Value {
    let (status, body) = app.get(&format!("/api/templates/{runtime}"));
    assert_eq!(status, 200, "template {runtime}: {body}");
    body
}

#[test]
fn the_default_templates_load_and_run() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let cases = [
        ("python", PYTHON_TEMPLATE, "python/from_template.py"),
        ("js", JS_TEMPLATE, "js/from_template.js"),
    ];
    for (runtime, default, path) in cases {
        let body = template(&app, runtime);
        assert_eq!(
            body,
            json!({"runtime": runtime, "content": default, "custom": false}),
            "{runtime}"
        );
        let (status, made) = app.post("/api/scripts", &json!({"path": path, "template": runtime}));
        let made = assert_created(runtime, status, &made, path);
        assert_eq!(made["args_schema"], template_schema(), "{runtime}");
        assert_eq!(
            repo.read(path),
            default,
            "{runtime}: the template, as it is"
        );
        let run = format!("/api/scripts/{}/run", id_of(&made));
        let (status, answer) = app.post(&run, &json!({"name": "Bob"}));
        assert_success(runtime, status, &answer);
        assert_eq!(
            answer["data"],
            json!({"greetings": ["Hello, Bob!"]}),
            "{runtime}"
        );
        let (status, answer) = app.post(&run, &json!({"name": "Bob", "times": 2, "shout": true}));
        assert_success(runtime, status, &answer);
        let loud = json!({"greetings": ["HELLO, BOB!", "HELLO, BOB!"]});
        assert_eq!(answer["data"], loud, "{runtime}: {answer}");
        let (status, answer) = app.get(&format!("{run}?name=Ann&times=0"));
        assert_success(runtime, status, &answer);
        assert_eq!(
            answer["data"],
            json!({"greetings": []}),
            "{runtime}: {answer}"
        );
    }
}

#[test]
fn a_custom_template_is_used_for_new_scripts() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let schema = fixtures::one_param("city");
    let custom = tool("From the custom template.", &schema);
    let put = |runtime: &str, content: &str| {
        let body = json!({ "content": content });
        call(
            &app,
            "PUT",
            &format!("/api/templates/{runtime}"),
            Some(&body),
        )
    };

    let (status, body) = put("python", &custom);
    assert_eq!(status, 200, "{body}");
    let expected = json!({"runtime": "python", "content": custom, "custom": true});
    assert_eq!(body, expected);
    assert_eq!(template(&app, "python"), expected);
    let (status, made) = app.post(
        "/api/scripts",
        &json!({"path": "python/custom.py", "template": "python"}),
    );
    let made = assert_created(
        "from the custom template",
        status,
        &made,
        "python/custom.py",
    );
    assert_eq!(made["args_schema"], schema);
    assert_eq!(made["description"], json!("From the custom template."));

    let (status, body) = put("python", "print('no schema, no guard')\n");
    assert_error(
        "a python template that is no script",
        status,
        &body,
        400,
        "invalid_request",
    );
    assert_eq!(template(&app, "python"), expected, "the custom one stays");
    let (status, body) = put("js", "console.log('no schema');\n");
    assert_error(
        "a js template that is no script",
        status,
        &body,
        400,
        "invalid_request",
    );
    assert_eq!(
        template(&app, "js")["custom"],
        json!(false),
        "the default stays"
    );

    let app = app.restart();
    assert_eq!(template(&app, "python"), expected, "kept across a restart");

    for (method, target) in [
        ("GET", "/api/templates/ruby"),
        ("GET", "/api/templates/..%2F..%2Fetc"),
        ("PUT", "/api/templates/..%2F..%2Fetc"),
        ("GET", "/api/templates/..%2Fpython"),
        ("PUT", "/api/templates/%2e%2e"),
    ] {
        let body = serde_json::to_vec(&json!({ "content": custom })).expect("serialises");
        let headers = [("Content-Type", "application/json")];
        let raw = raw_http(&app, method, target, &headers, &body);
        assert_error(
            &format!("{method} {target}"),
            raw.status,
            &raw.json(),
            404,
            "not_found",
        );
    }
    let files = files_under(data.path());
    let stray: Vec<_> = files
        .iter()
        .filter(|f| f.ends_with("etc") || f.contains(".."))
        .collect();
    assert!(
        stray.is_empty(),
        "no template was written elsewhere: {stray:?}"
    );
}
