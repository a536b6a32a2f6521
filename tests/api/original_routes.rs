//! The original gateway's routes answer with its request and response shapes.

use serde_json::{json, Value};

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
