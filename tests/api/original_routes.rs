//! The original gateway's routes answer with its request and response shapes.

use serde_json::{json, Value};

use crate::deps_support::{spawn_offline, LocalPackages};
use crate::helpers::{data_dir, spawn_app, TestApp, TestRepo};
use crate::run_support::{python, script_id, send, Multipart};

const FORM: &str = "application/x-www-form-urlencoded";

fn patch_form(app: &TestApp, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let raw = send(
        app,
        "PATCH",
        path,
        &[("Content-Type", content_type)],
        Some(body),
    );
    (raw.status, raw.json())
}

fn script(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/scripts/{id}")).1
}

fn repo_with_hello() -> TestRepo {
    let repo = TestRepo::new();
    let schema = json!({"name": {"flag": "--name", "type": "str", "default": "x"}});
    repo.write(
        "python/hello.py",
        &python(&schema, "print(json.dumps({'ok': True}))"),
    );
    repo
}

#[test]
fn alias_and_notify_take_the_originals_form_fields() {
    let repo = repo_with_hello();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/hello.py");
    let alias = format!("/api/scripts/{id}/alias");

    assert_eq!(
        patch_form(&app, &alias, FORM, b"alias=Daily%20report"),
        (200, json!({"status": "success"}))
    );
    assert_eq!(script(&app, id)["alias"], json!("Daily report"));
    let (content_type, body) = Multipart::new().text("alias", "From a form").finish();
    assert_eq!(patch_form(&app, &alias, &content_type, &body).0, 200);
    assert_eq!(script(&app, id)["alias"], json!("From a form"));
    assert_eq!(patch_form(&app, &alias, FORM, b"alias=").0, 200);
    assert_eq!(
        script(&app, id)["alias"],
        Value::Null,
        "an empty alias clears it"
    );

    let (status, body) = patch_form(
        &app,
        &alias,
        FORM,
        format!("alias={}", "a".repeat(101)).as_bytes(),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], json!("invalid_request"));
    let (status, body) = patch_form(&app, &alias, FORM, b"other=1");
    assert_eq!((status, &body["status"]), (400, &json!("error")), "{body}");
    let (status, body) = patch_form(&app, "/api/scripts/999/alias", FORM, b"alias=x");
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));

    let notify = format!("/api/scripts/{id}/notify");
    assert_eq!(
        patch_form(&app, &notify, FORM, b"enabled=1"),
        (200, json!({"status": "success", "enabled": 1}))
    );
    assert_eq!(script(&app, id)["notify_enabled"], json!(true));
    assert_eq!(
        patch_form(&app, &notify, "application/json", br#"{"enabled": 0}"#),
        (200, json!({"status": "success", "enabled": 0}))
    );
    assert_eq!(script(&app, id)["notify_enabled"], json!(false));
    assert_eq!(patch_form(&app, &notify, FORM, b"enabled=maybe").0, 400);
}

#[test]
fn the_schema_downloads_as_the_scripts_sidecar() {
    let repo = repo_with_hello();
    repo.write(
        "python/broken.py",
        "import sys\nif '--_sys_get_schema' in sys.argv:\n    sys.exit(3)\n",
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/hello.py");
    let raw = send(
        &app,
        "GET",
        &format!("/api/scripts/{id}/schema/download"),
        &[],
        None,
    );
    assert_eq!(raw.status, 200);
    assert!(raw
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        raw.header("content-disposition"),
        Some("attachment; filename=\"hello._map.json\"")
    );
    assert_eq!(raw.json(), script(&app, id)["args_schema"]);
    let sidecar = std::fs::read_to_string(repo.path().join("python/hello._map.json")).unwrap();
    assert_eq!(raw.json(), serde_json::from_str::<Value>(&sidecar).unwrap());

    let broken = app.script_by_path("python/broken.py").unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body) = app.get(&format!("/api/scripts/{broken}/schema/download"));
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
}

#[test]
fn batch_delete_removes_the_files_only_when_asked_to() {
    let repo = repo_with_hello();
    repo.write("python/other.py", &python(&json!({}), "print('{}')"));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let hello = script_id(&app, "python/hello.py");
    let other = script_id(&app, "python/other.py");

    let (status, body) = app.post("/api/scripts/batch_delete", &json!({"ids": [hello, other]}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["deleted"], &body["requested"]),
        (&json!(0), &json!(2))
    );
    assert!(
        body["message"].as_str().unwrap().contains("delete_file"),
        "{body}"
    );
    assert!(repo.path().join("python/hello.py").is_file());

    let (status, body) = app.post(
        "/api/scripts/batch_delete",
        &json!({"ids": [hello, 999], "delete_file": true}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"deleted": 1, "requested": 2, "not_found": [999]})
    );
    assert!(!repo.path().join("python/hello.py").exists());
    assert!(!repo.path().join("python/hello._map.json").exists());
    assert!(app.script_by_path("python/hello.py").is_none());
    assert!(app.script_by_path("python/other.py").is_some());
    assert_eq!(app.post("/api/scripts/batch_delete", &json!([1])).0, 400);
}

#[test]
fn templates_download_as_files_and_reset_to_the_built_in_one() {
    let repo = repo_with_hello();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let built_in = app.get("/api/templates/python").1["content"].clone();

    let custom = "import sys\n# ours\nif __name__ == \"__main__\":\n    print('{}')\n";
    let (status, _) = send_json(
        &app,
        "PUT",
        "/api/templates/python",
        &json!({"content": custom}),
    );
    assert_eq!(status, 200);
    let raw = send(&app, "GET", "/api/templates/python/download", &[], None);
    assert_eq!(raw.status, 200);
    assert_eq!(
        raw.header("content-disposition"),
        Some("attachment; filename=\"python.py\"")
    );
    assert_eq!(String::from_utf8(raw.body).unwrap(), custom);

    let (status, body) = app.post("/api/templates/python/reset", &json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "success", "content": built_in}));
    let (_, now) = app.get("/api/templates/python");
    assert_eq!(
        (&now["content"], &now["custom"]),
        (&built_in, &json!(false))
    );
    let raw = send(&app, "GET", "/api/templates/javascript/download", &[], None);
    let js_template = app.get("/api/templates/js").1["content"].clone();
    assert_eq!(json!(String::from_utf8(raw.body).unwrap()), js_template);
    assert!(js_template.as_str().unwrap().contains("scriptgateway-sdk"));
    let (status, body) = app.get("/api/templates/ruby/download");
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_request"))
    );
}

#[test]
fn the_shared_set_reads_as_the_originals_config_file_and_parse_finds_conflicts() {
    let packages = LocalPackages::build();
    let repo = repo_with_hello();
    let data = data_dir();
    let app = spawn_offline(&repo, data.path(), &packages, &[]);
    let (_, empty) = app.get("/api/deps/config-file");
    assert_eq!(
        (&empty["runtime"], &empty["deps"]),
        (&json!("python"), &json!([]))
    );

    let body = json!({"runtime": "python", "deps": [{"name": "sgshared", "version": "1.0"}]});
    let (status, report) = app.post("/api/deps/install", &body);
    assert_eq!(
        (status, &report["status"]),
        (200, &json!("ready")),
        "{report}"
    );
    let (_, listed) = app.get("/api/deps/config-file?runtime=python");
    assert_eq!(
        listed["deps"],
        json!([{"name": "sgshared", "version": "==1.0"}])
    );

    let content = "sgshared==2.0  # pinned\n\nrequests[socks]>=2\n";
    let (status, parsed) = app.post(
        "/api/deps/parse",
        &json!({"runtime": "python", "content": content}),
    );
    assert_eq!(status, 200, "{parsed}");
    assert_eq!(
        parsed,
        json!({
            "runtime": "python",
            "requested": [
                {"name": "sgshared", "version": "==2.0"},
                {"name": "requests[socks]", "version": ">=2"}
            ],
            "conflicts": [
                {"name": "sgshared", "current_version": "1.0", "requested_version": "2.0"}
            ]
        })
    );
    let package_json = json!({"dependencies": {"uuid": "^9.0.0"}}).to_string();
    let (status, parsed) = app.post(
        "/api/deps/parse",
        &json!({"runtime": "javascript", "content": package_json}),
    );
    assert_eq!(status, 200, "{parsed}");
    assert_eq!(
        parsed["requested"],
        json!([{"name": "uuid", "version": "^9.0.0"}])
    );
    let (status, refused) = app.post(
        "/api/deps/parse",
        &json!({"runtime": "python", "content": "-r other.txt\n"}),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{refused}"
    );
}

fn send_json(app: &TestApp, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let bytes = body.to_string();
    let raw = send(
        app,
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(bytes.as_bytes()),
    );
    (raw.status, raw.json())
}

fn today() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .expect("date runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn logs_routes_serve_the_gateways_lines_and_a_scripts_runs_by_day() {
    let repo = TestRepo::new();
    let body = "print('working', file=sys.stderr)\nprint(json.dumps({'ok': True}))";
    repo.write("python/hello.py", &python(&json!({}), body));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--log", "info"]);
    let today = today();

    let (status, logs) = app.get("/api/logs/gateway");
    assert_eq!(status, 200, "{logs}");
    assert_eq!(logs["date"], json!(today));
    let text = logs["logs"].as_str().unwrap();
    assert!(
        text.contains("containment"),
        "the start-up lines are kept: {text}"
    );
    assert!(text.lines().all(|l| l.contains(&today)), "{text}");
    assert_eq!(
        app.get("/api/logs/gateway?date=2000-01-01").1,
        json!({"logs": "", "date": "2000-01-01"})
    );
    assert_eq!(
        app.get("/api/logs/gateway?lines=1").1["logs"]
            .as_str()
            .unwrap()
            .lines()
            .count(),
        1
    );
    assert_eq!(app.get("/api/logs/gateway?date=yesterday").0, 400);
    assert_eq!(app.get("/api/logs/gateway?lines=0").0, 400);

    let id = script_id(&app, "python/hello.py");
    let (_, run) = app.get(&format!("/api/scripts/{id}/run"));
    let run_id = run["run_id"].as_i64().unwrap();
    let file = format!("hello_{today}.log");
    let (status, log) = app.get(&format!("/api/scripts/logs/file/{file}"));
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["filename"], json!(file));
    let text = log["logs"].as_str().unwrap();
    assert!(
        text.contains(&format!("[run {run_id} success] working")),
        "{text}"
    );
    assert!(
        text.contains(&format!(r#"[run {run_id} success] {{"ok":true}}"#)),
        "{text}"
    );
    let (status, missing) = app.get("/api/scripts/logs/file/hello_2000-01-01.log");
    assert_eq!(
        (status, &missing["error"]["code"]),
        (404, &json!("not_found"))
    );
    assert_eq!(app.get("/api/scripts/logs/file/hello.txt").0, 400);

    let (status, cleaned) = app.post("/api/logs/cleanup", &json!({}));
    assert_eq!(status, 200, "{cleaned}");
    assert_eq!(cleaned["status"], json!("success"));
    assert_eq!(
        cleaned["cleaned"]["script"],
        json!(0),
        "nothing has expired"
    );
    assert!(
        cleaned["cleaned"]["gateway"].as_u64().unwrap() > 0,
        "{cleaned}"
    );
}

#[test]
fn temp_files_map_onto_retention_and_file_access_patterns_say_why_there_are_none() {
    let repo = repo_with_hello();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    let (status, temp) = app.get("/api/temp-files/status");
    assert_eq!(status, 200, "{temp}");
    assert_eq!(
        (&temp["is_running"], &temp["cleanup_interval_hours"]),
        (&json!(true), &json!(1.0))
    );
    assert!(
        temp["temp_dirs"][0].as_str().unwrap().ends_with("runs"),
        "{temp}"
    );
    let (status, cleaned) = app.post("/api/temp-files/cleanup", &json!({}));
    assert_eq!(status, 200, "{cleaned}");
    assert_eq!(
        (&cleaned["status"], &cleaned["deleted_count"]),
        (&json!("success"), &json!(0))
    );
    let raw = send(
        &app,
        "POST",
        "/api/temp-files/interval",
        &[("Content-Type", FORM)],
        Some(b"interval_hours=6"),
    );
    assert_eq!(raw.status, 200);
    assert_eq!(raw.json()["status"], json!("not_applicable"));

    let (status, patterns) = app.get("/api/file-access/patterns");
    assert_eq!(status, 200);
    assert_eq!(patterns["patterns"], json!([]));
    assert!(
        patterns["message"].as_str().unwrap().contains("upload"),
        "{patterns}"
    );
    let raw = send(
        &app,
        "POST",
        "/api/file-access/patterns",
        &[("Content-Type", FORM)],
        Some(b"patterns=%2Fdata%2F*"),
    );
    assert_eq!(
        (raw.status, raw.json()["status"].clone()),
        (200, json!("not_applicable"))
    );
}
