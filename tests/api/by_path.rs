//! Scripts addressed by path: `/api/run/PATH` runs the same script as `/api/scripts/ID/run`,
//! with or without the extension, and the per-script operations of `/openapi.json` are
//! named and placed by path, so two gateways that gave their scripts different ids describe
//! them identically.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::{assert_error, data_dir, fixtures, spawn_app, TestRepo};

/// A script that answers with its own name and the parameter it got.
fn echo(name: &str) -> String {
    format!(
        r#"import json, sys
if "--_sys_get_schema" in sys.argv:
    print(json.dumps({{"who": {{"flag": "--who", "type": "str", "default": "nobody"}}}}))
    sys.exit(0)
print(json.dumps({{"script": "{name}", "who": sys.argv[2]}}))
"#
    )
}

#[test]
fn a_script_runs_by_its_path_with_or_without_the_extension() {
    let repo = TestRepo::new();
    repo.write("python/reports/monthly.py", &echo("monthly"));
    // Its path plus `.py` is another script's path: the exact path still wins.
    repo.write("python/a.py", &echo("a"));
    repo.write("python/a.py.py", &echo("a.py"));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = app
        .script_by_path("python/reports/monthly.py")
        .expect("listed")["id"]
        .clone();

    for address in ["python/reports/monthly.py", "python/reports/monthly"] {
        let (status, body) = app.get(&format!("/api/run/{address}?who=ann"));
        assert_eq!(status, 200, "{address}: {body}");
        assert_eq!(
            body["data"],
            json!({"script": "monthly", "who": "ann"}),
            "{body}"
        );
        assert_eq!(body["script_id"], id, "the same script as by id");
        let (status, body) = app.post(&format!("/api/run/{address}"), &json!({"who": "bo"}));
        assert_eq!(
            (status, &body["data"]["who"]),
            (200, &json!("bo")),
            "{body}"
        );
    }
    let (_, body) = app.get("/api/run/python/a.py?who=x");
    assert_eq!(body["data"]["script"], "a", "{body}");
    let (_, body) = app.get("/api/run/python/a.py.py?who=x");
    assert_eq!(body["data"]["script"], "a.py", "{body}");

    let (status, script) = app.get("/api/scripts/by-path/python/reports/monthly");
    assert_eq!(status, 200, "{script}");
    assert_eq!(
        (&script["id"], &script["path"]),
        (&id, &json!("python/reports/monthly.py"))
    );
    let (status, async_run) = app.get("/api/run/python/reports/monthly.py?who=dee&async=true");
    assert_eq!(status, 202, "{async_run}");
    assert!(async_run["run_id"].as_i64().is_some());
}

#[test]
fn paths_spelled_unlike_a_script_path_are_refused_and_unknown_ones_are_404s() {
    let repo = TestRepo::new();
    repo.write("python/a.py", &echo("a"));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    for target in [
        "/api/run/python/../python/a.py",
        "/api/run/python/%2e%2e/python/a.py",
        "/api/run/./python/a.py",
        "/api/run/python/a.py/",
        "/api/run/python%2Fa.py",
        "/api/run/python%2fa.py",
        "/api/run/..%2F..%2Fetc%2Fpasswd",
        "/api/run/%2Fetc%2Fpasswd",
        "/api/run/python%5Ca.py",
        "/api/run/python\\a.py",
        "/api/run/python/a.py%00.py",
        "/api/scripts/by-path/python/%2e%2e/a.py",
    ] {
        let reply = app.raw_call("GET", target, &[], None);
        let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        assert_error(
            &format!("GET {target}"),
            reply.status,
            &body,
            400,
            "invalid_path",
        );
    }
    for target in [
        "/api/run/python/nope.py",
        "/api/run/Python/A.py",
        "/api/scripts/by-path/python/nope",
    ] {
        let reply = app.raw_call("GET", target, &[], None);
        let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        assert_error(
            &format!("GET {target}"),
            reply.status,
            &body,
            404,
            "not_found",
        );
    }
}

#[test]
fn a_moved_script_answers_at_its_new_path_and_its_old_one_says_so() {
    let repo = TestRepo::new();
    repo.write("python/old.py", &echo("moved"));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let (status, _) = app.get("/api/run/python/old.py?who=x");
    assert_eq!(status, 200);
    std::fs::create_dir_all(repo.path().join("python/new")).unwrap();
    std::fs::rename(
        repo.path().join("python/old.py"),
        repo.path().join("python/new/place.py"),
    )
    .unwrap();
    assert!(
        crate::helpers::wait_until(std::time::Duration::from_secs(10), || {
            app.script_by_path("python/new/place.py").is_some()
                && app.script_by_path("python/old.py").is_none()
        }),
        "the scanner saw the move"
    );
    let (status, body) = app.get("/api/run/python/old.py?who=x");
    assert_error("the old path", status, &body, 404, "not_found");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("python/old.py") && message.contains("moved or renamed"),
        "{message}"
    );
    let (status, body) = app.get("/api/run/python/new/place.py?who=y");
    assert_eq!((status, &body["data"]["who"]), (200, &json!("y")), "{body}");
}

#[test]
fn running_by_path_needs_the_same_key_as_running_by_id() {
    let repo = TestRepo::new();
    repo.write("python/a.py", &echo("a"));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", "master-s3cret"]);
    let reply = app.raw_call("GET", "/api/run/python/a.py?who=x", &[], None);
    assert_eq!(reply.status, 401, "{}", reply.body);
    let reply = app.raw_call("GET", "/%61pi/run/python/a.py?who=x", &[], None);
    assert_eq!(reply.status, 401, "{}", reply.body);
    let reply = app.raw_call(
        "GET",
        "/api/run/python/a.py?who=x",
        &[("X-API-Key", "master-s3cret")],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// The per-script operations of a document: path → (method → operationId).
fn script_operations(doc: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(path, _)| path.starts_with("/api/run/") && !path.contains('{'))
        .map(|(path, item)| {
            let ops = item
                .as_object()
                .unwrap()
                .iter()
                .filter_map(|(method, op)| {
                    Some((method.clone(), op["operationId"].as_str()?.to_string()))
                })
                .collect();
            (path.clone(), ops)
        })
        .collect()
}

#[test]
fn two_gateways_that_numbered_their_scripts_differently_document_them_alike() {
    let files = [
        (
            "python/hello.py",
            fixtures::python("Hello.", &fixtures::greet_schema()),
        ),
        (
            "python/tools/crop image.py",
            fixtures::python("Crop.", &fixtures::one_param("x")),
        ),
        (
            "js/format.js",
            fixtures::js("Format.", &fixtures::one_param("text")),
        ),
    ];
    let mut documents = Vec::new();
    let mut ids = Vec::new();
    for order in [[0, 1, 2], [2, 1, 0]] {
        let repo = TestRepo::new();
        let data = data_dir();
        // The first file alone, so it takes the first id; the others after it.
        repo.write(files[order[0]].0, &files[order[0]].1);
        let app = spawn_app(&repo, data.path(), &[]);
        for &i in &order[1..] {
            repo.write(files[i].0, &files[i].1);
        }
        crate::helpers::wait_until(std::time::Duration::from_secs(10), || {
            files
                .iter()
                .all(|(path, _)| app.script_by_path(path).is_some())
        });
        ids.push(app.script_by_path("python/hello.py").expect("listed")["id"].clone());
        let (status, doc) = app.get("/openapi.json");
        assert_eq!(status, 200);
        documents.push(script_operations(&doc));
    }
    assert_ne!(
        ids[0], ids[1],
        "the two gateways numbered hello.py differently"
    );
    assert_eq!(
        documents[0], documents[1],
        "the same names and addresses on both"
    );
    let ops = &documents[0];
    assert_eq!(
        ops["/api/run/python/hello.py"],
        BTreeMap::from([
            ("get".to_string(), "run_python_hello_get".to_string()),
            ("post".to_string(), "run_python_hello".to_string()),
        ])
    );
    assert_eq!(
        ops["/api/run/python/tools/crop%20image.py"]["post"],
        "run_python_tools_crop_image"
    );
    assert_eq!(ops["/api/run/js/format.js"]["post"], "run_js_format");
}
