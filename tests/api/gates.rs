//! Keys are checked on exactly what the router matched: however a path is spelled
//! (percent-encoded letters, doubled slashes), the route it reaches keeps its gate.

use serde_json::{json, Value};

use crate::helpers::{assert_error, data_dir, fixtures, spawn_app, TestApp, TestRepo};

const MASTER: &str = "master-s3cret";

/// The parsed JSON body of a raw answer.
fn json_body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::String(text.to_string()))
}

fn gateway_with_a_script() -> (TestRepo, tempfile::TempDir, TestApp) {
    let repo = TestRepo::new();
    repo.write(
        "python/a.py",
        &fixtures::python("A.", &fixtures::one_param("x")),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER]);
    (repo, data, app)
}

#[test]
fn percent_encoded_api_paths_still_need_the_key() {
    let (repo, _data, app) = gateway_with_a_script();
    let spellings = [
        "/%61pi/settings",
        "/ap%69/settings",
        "/%61%70%69/settings",
        "/api/%73ettings",
        "//api//settings",
    ];
    for path in spellings {
        let reply = app.raw_call("GET", path, &[], None);
        let what = format!("GET {path} without a key");
        assert_error(
            &what,
            reply.status,
            &json_body(&reply.body),
            401,
            "unauthorized",
        );
        let reply = app.raw_call("GET", path, &[("X-API-Key", MASTER)], None);
        assert_eq!(reply.status, 200, "GET {path} with the key: {}", reply.body);
    }

    let admin_key = json!({"name": "sneaky", "scope": "admin"});
    let reply = app.raw_call("POST", "/%61pi/keys", &[], Some(&admin_key));
    assert_error(
        "POST /%61pi/keys",
        reply.status,
        &json_body(&reply.body),
        401,
        "unauthorized",
    );
    let keys = app.call("GET", "/api/keys", &[("X-API-Key", MASTER)], None);
    assert_eq!(
        keys.body["items"],
        json!([]),
        "no key was made: {}",
        keys.body
    );

    let script = json!({"path": "python/planted.py", "content": "print(1)\n"});
    let reply = app.raw_call("POST", "/%61%70%69/scripts", &[], Some(&script));
    assert_error(
        "POST /%61%70%69/scripts",
        reply.status,
        &json_body(&reply.body),
        401,
        "unauthorized",
    );
    assert!(!repo.exists("python/planted.py"), "no script was written");
}

/// Creates a named key with the master key and returns its secret.
fn named_key(app: &TestApp, scope: &str) -> String {
    let body = json!({"name": format!("a {scope} key"), "scope": scope});
    let reply = app.call("POST", "/api/keys", &[("X-API-Key", MASTER)], Some(&body));
    assert_eq!(reply.status, 201, "create a {scope} key: {}", reply.body);
    reply.body["key"].as_str().expect("the secret").to_string()
}

/// The id of the one script the gateway lists.
fn script_id(app: &TestApp) -> i64 {
    let reply = app.call("GET", "/api/scripts", &[("X-API-Key", MASTER)], None);
    reply.body["items"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("a listed script: {}", reply.body))
}

/// (method, path, key, status, `Allow`)
type Expect405<'a> = (&'a str, &'a str, Option<&'a str>, u16, Option<&'a str>);

#[test]
fn a_405_comes_after_the_key_check_and_lists_the_allowed_methods() {
    let (_repo, _data, app) = gateway_with_a_script();
    let run_key = named_key(&app, "run");
    let run_path = format!("/api/scripts/{}/run", script_id(&app));
    let cases: [Expect405; 7] = [
        ("DELETE", "/api/settings", None, 401, None),
        ("DELETE", "/api/settings", Some(&run_key), 403, None),
        (
            "DELETE",
            "/api/settings",
            Some(MASTER),
            405,
            Some("GET, PUT, PATCH"),
        ),
        ("GET", "/api/scan", Some(MASTER), 405, Some("POST")),
        ("DELETE", "/api/runs", Some(&run_key), 403, None),
        ("PUT", &run_path, Some(&run_key), 405, Some("GET, POST")),
        ("HEAD", "/api/runs", Some(&run_key), 405, Some("GET")),
    ];
    for (method, path, key, status, allow) in cases {
        let headers: Vec<(&str, &str)> = key.map(|k| ("X-API-Key", k)).into_iter().collect();
        let reply = app.raw_call(method, path, &headers, None);
        let what = format!("{method} {path} with {key:?}");
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert_eq!(reply.header("allow"), allow, "{what}");
        if method != "HEAD" {
            let code = match status {
                401 => "unauthorized",
                403 => "forbidden",
                _ => "method_not_allowed",
            };
            assert_error(&what, reply.status, &json_body(&reply.body), status, code);
        }
    }
}

#[test]
fn run_keys_run_and_read_but_administer_nothing() {
    let (_repo, _data, app) = gateway_with_a_script();
    let run_key = named_key(&app, "run");
    let script = script_id(&app);
    let ran = app.call(
        "POST",
        &format!("/api/scripts/{script}/run"),
        &[("X-API-Key", &run_key)],
        Some(&json!({"x": "hi"})),
    );
    assert_eq!(ran.status, 200, "a run key runs: {}", ran.body);
    let run = ran.body["run_id"].as_i64().expect("a run id");
    let cases = [
        ("POST", format!("/api/scripts/{script}/run"), true),
        ("GET", format!("/api/scripts/{script}/run"), true),
        ("GET", "/api/scripts".to_string(), true),
        ("GET", format!("/api/scripts/{script}"), true),
        ("GET", format!("/api/scripts/{script}/schema"), true),
        ("GET", format!("/api/scripts/{script}/swagger"), true),
        ("GET", format!("/api/scripts/{script}/curl"), true),
        ("GET", "/api/scripts/running".to_string(), true),
        ("GET", "/api/scripts/swagger-all".to_string(), true),
        ("GET", "/api/runs".to_string(), true),
        ("GET", format!("/api/runs/{run}"), true),
        ("GET", format!("/api/runs/{run}/output"), true),
        ("GET", format!("/api/runs/{run}/files/out.csv"), true),
        ("GET", format!("/api/runs/{run}/events"), true),
        ("POST", format!("/api/runs/{run}/cancel"), true),
        ("POST", "/api/scripts".to_string(), false),
        ("PATCH", format!("/api/scripts/{script}"), false),
        ("DELETE", format!("/api/scripts/{script}"), false),
        ("PUT", format!("/api/scripts/{script}/content"), false),
        ("GET", format!("/api/scripts/{script}/content"), false),
        ("GET", format!("/api/scripts/{script}/logs"), false),
        ("POST", format!("/api/scripts/{script}/terminate"), false),
        ("GET", format!("/api/scripts/{script}/dependencies"), false),
        (
            "POST",
            format!("/api/scripts/{script}/dependencies/install"),
            false,
        ),
        ("GET", format!("/api/scripts/{script}/environment"), false),
        ("GET", "/api/settings".to_string(), false),
        ("PUT", "/api/settings".to_string(), false),
        ("GET", "/api/keys".to_string(), false),
        ("POST", "/api/scan".to_string(), false),
        ("POST", "/api/runs/cleanup".to_string(), false),
        ("GET", "/api/templates/python".to_string(), false),
        ("GET", "/api/deps".to_string(), false),
        ("GET", "/api/no-such-route".to_string(), false),
    ];
    for (method, path, allowed) in cases {
        let reply = app.raw_call(method, &path, &[("X-API-Key", &run_key)], None);
        let what = format!("run key: {method} {path}");
        if allowed {
            assert!(
                ![401, 403].contains(&reply.status),
                "{what}: {} {}",
                reply.status,
                reply.body
            );
        } else {
            assert_error(
                &what,
                reply.status,
                &json_body(&reply.body),
                403,
                "forbidden",
            );
        }
    }
}
