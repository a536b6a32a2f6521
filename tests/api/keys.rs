//! Who may call the API: the master key, named keys with a `run` or `admin` scope (created,
//! listed and revoked over `/api/keys`), and the refusal to serve a public address unguarded.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, data_dir, fixtures, run_to_end, serve_args, spawn_app, wait_for, Reply, TestApp,
    TestRepo, WAIT,
};
use crate::run_support::assert_success;

const MASTER: &str = "master-s3cret";

type Headers<'a> = &'a [(&'a str, &'a str)];

/// A request presenting `key` as `X-API-Key`.
fn with_key(app: &TestApp, key: &str, method: &str, path: &str, body: Option<&Value>) -> Reply {
    app.call(method, path, &[("X-API-Key", key)], body)
}

/// Creates a named key with the master key: (its id, its secret).
fn create_key(app: &TestApp, name: &str, scope: &str) -> (i64, String) {
    let body = json!({"name": name, "scope": scope});
    let reply = with_key(app, MASTER, "POST", "/api/keys", Some(&body));
    assert_eq!(reply.status, 201, "create {name}: {}", reply.body);
    let created = &reply.body;
    assert_eq!(created["name"], json!(name), "{created}");
    assert_eq!(created["scope"], json!(scope), "{created}");
    assert_eq!(created["last_used_at"], json!(null), "{created}");
    assert_eq!(created["revoked_at"], json!(null), "{created}");
    let secret = created["key"].as_str().expect("the secret, this once");
    let prefix = created["prefix"].as_str().expect("a prefix");
    assert!(
        secret.len() >= 32 && secret.starts_with(prefix) && prefix.len() < secret.len() / 2,
        "a long secret, shown by a short prefix: {created}"
    );
    (created["id"].as_i64().expect("an id"), secret.to_string())
}

/// Every named key, as the master key lists them.
fn list_keys(app: &TestApp) -> Vec<Value> {
    let reply = with_key(app, MASTER, "GET", "/api/keys", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().expect("items").clone()
}

fn key_record(app: &TestApp, id: i64) -> Value {
    list_keys(app)
        .into_iter()
        .find(|k| k["id"] == json!(id))
        .unwrap_or_else(|| panic!("key {id} is listed"))
}

/// The script every test here runs: `name` in, a greeting out.
fn greeter() -> String {
    crate::run_support::python(
        &fixtures::one_param("name"),
        "name = sys.argv[sys.argv.index(\"--name\") + 1]\nprint(json.dumps({\"hi\": name}))",
    )
}

#[test]
fn the_master_key_is_required_by_every_api_route_but_not_by_health() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER]);
    let refused: &[(&str, Headers, &str)] = &[
        ("/api/scripts", &[], "no key"),
        ("/api/settings", &[("X-API-Key", "nope")], "wrong X-API-Key"),
        (
            "/api/keys",
            &[("Authorization", "Bearer nope")],
            "wrong bearer",
        ),
        ("/api/runs", &[("Authorization", "Bearer ")], "empty bearer"),
    ];
    for (path, headers, why) in refused {
        let reply = app.call("GET", path, headers, None);
        assert_error(why, reply.status, &reply.body, 401, "unauthorized");
        assert!(
            !reply.body.to_string().contains(MASTER),
            "{why}: leaks the key"
        );
    }
    let bearer = format!("Bearer {MASTER}");
    for headers in [
        [("Authorization", bearer.as_str())],
        [("X-API-Key", MASTER)],
    ] {
        for path in ["/api/settings", "/api/keys", "/api/scripts"] {
            let reply = app.call("GET", path, &headers, None);
            assert_eq!(reply.status, 200, "{path} with {headers:?}: {}", reply.body);
        }
    }
    let (status, health) = app.get("/health");
    assert_eq!((status, &health["status"]), (200, &json!("ok")), "{health}");
}

#[test]
fn without_any_key_the_api_is_open_until_a_named_key_exists() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let changes = json!({"max_queued_runs": 8});
    assert_eq!(app.get("/api/scripts").0, 200, "open without keys");
    assert_eq!(
        app.call("PUT", "/api/settings", &[], Some(&changes)).status,
        200
    );

    let body = json!({"name": "first admin", "scope": "admin"});
    let (status, created) = app.post("/api/keys", &body);
    assert_eq!(
        status, 201,
        "an open gateway lets the first key be made: {created}"
    );
    let secret = created["key"].as_str().expect("the secret").to_string();

    let (status, body) = app.get("/api/scripts");
    assert_error(
        "no key once a named key exists",
        status,
        &body,
        401,
        "unauthorized",
    );
    let reply = with_key(&app, &secret, "GET", "/api/settings", None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.get("/health").0, 200, "health stays open");

    let app = app.restart();
    assert_eq!(
        app.get("/api/scripts").0,
        401,
        "still guarded after a restart"
    );
    let reply = with_key(&app, &secret, "GET", "/api/keys", None);
    assert_eq!(
        reply.status, 200,
        "the key survives a restart: {}",
        reply.body
    );
}

#[test]
fn scoped_keys_are_created_listed_used_and_revoked() {
    let repo = TestRepo::new();
    repo.write("python/greet.py", &greeter());
    repo.write("python/spare.py", &greeter());
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER]);
    let (run_id, run_key) = create_key(&app, "ci runner", "run");
    let (admin_id, admin_key) = create_key(&app, "ops", "admin");

    let listed = list_keys(&app);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let text = serde_json::to_string(&listed).expect("serialises");
    assert!(
        !text.contains(&run_key) && !text.contains(&admin_key),
        "the list never shows a secret: {text}"
    );
    assert!(listed.iter().all(|k| k.get("key").is_none()), "{text}");
    assert_eq!(key_record(&app, run_id)["last_used_at"], json!(null));

    // A run key runs scripts and reads scripts and runs.
    let scripts = with_key(&app, &run_key, "GET", "/api/scripts", None);
    assert_eq!(scripts.status, 200, "{}", scripts.body);
    let id_of = |path: &str| {
        scripts.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|s| s["path"] == json!(path))
            .and_then(|s| s["id"].as_i64())
            .unwrap_or_else(|| panic!("{path} listed: {}", scripts.body))
    };
    let (greet, spare) = (id_of("python/greet.py"), id_of("python/spare.py"));
    let run_path = format!("/api/scripts/{greet}/run");
    let ran = with_key(
        &app,
        &run_key,
        "POST",
        &run_path,
        Some(&json!({"name": "Bob"})),
    );
    assert_success("a run key runs", ran.status, &ran.body);
    assert_eq!(ran.body["data"], json!({"hi": "Bob"}), "{}", ran.body);
    let run = ran.body["run_id"].as_i64().expect("a run id");
    for path in [
        format!("/api/runs/{run}"),
        "/api/runs".to_string(),
        format!("/api/scripts/{greet}"),
        format!("/api/scripts/{greet}/schema"),
        format!("{run_path}?name=Ann"),
    ] {
        let reply = with_key(&app, &run_key, "GET", &path, None);
        assert_eq!(reply.status, 200, "a run key reads {path}: {}", reply.body);
    }
    let cancel = with_key(
        &app,
        &run_key,
        "POST",
        &format!("/api/runs/{run}/cancel"),
        None,
    );
    assert_ne!(cancel.status, 403, "a run key may cancel: {}", cancel.body);

    let forbidden: [(&str, String, Option<Value>); 8] = [
        (
            "PUT",
            "/api/settings".into(),
            Some(json!({"max_queued_runs": 5})),
        ),
        ("GET", "/api/settings".into(), None),
        (
            "POST",
            "/api/keys".into(),
            Some(json!({"name": "x", "scope": "admin"})),
        ),
        ("GET", "/api/keys".into(), None),
        ("DELETE", format!("/api/keys/{admin_id}"), None),
        ("DELETE", format!("/api/scripts/{spare}"), None),
        (
            "PATCH",
            format!("/api/scripts/{spare}"),
            Some(json!({"enabled": false})),
        ),
        ("POST", "/api/scan".into(), None),
    ];
    for (method, path, body) in &forbidden {
        let reply = with_key(&app, &run_key, method, path, body.as_ref());
        let what = format!("run key: {method} {path}");
        assert_error(&what, reply.status, &reply.body, 403, "forbidden");
    }
    assert_eq!(
        key_record(&app, admin_id)["revoked_at"],
        json!(null),
        "the refused revoke did nothing"
    );
    let spare_now = with_key(&app, MASTER, "GET", &format!("/api/scripts/{spare}"), None);
    assert_eq!(spare_now.status, 200, "the refused delete did nothing");
    assert_eq!(
        spare_now.body["enabled"],
        json!(true),
        "nor the refused patch"
    );

    let used = wait_for(WAIT, || {
        let record = key_record(&app, run_id);
        record["last_used_at"].as_str().map(str::to_string)
    });
    assert!(used.is_some(), "last_used_at is recorded after use");
    assert_eq!(key_record(&app, admin_id)["last_used_at"], json!(null));

    // An admin key does everything.
    let admin = |method: &str, path: &str, body: Option<&Value>| {
        with_key(&app, &admin_key, method, path, body)
    };
    let changes = json!({"max_queued_runs": 5});
    assert_eq!(admin("PUT", "/api/settings", Some(&changes)).status, 200);
    let another = json!({"name": "made by ops", "scope": "run"});
    let made = admin("POST", "/api/keys", Some(&another));
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(admin("GET", "/api/keys", None).status, 200);
    let deleted = admin("DELETE", &format!("/api/scripts/{spare}"), None);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(
        !repo.exists("python/spare.py"),
        "the admin delete removed the file"
    );

    // Revoked: refused at once, with any header.
    let revoked = admin("DELETE", &format!("/api/keys/{run_id}"), None);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string(), "{}", revoked.body);
    let reply = with_key(
        &app,
        &run_key,
        "POST",
        &run_path,
        Some(&json!({"name": "Bob"})),
    );
    assert_error(
        "a revoked key",
        reply.status,
        &reply.body,
        401,
        "unauthorized",
    );
    let bearer = format!("Bearer {run_key}");
    let reply = app.call("GET", "/api/runs", &[("Authorization", &bearer)], None);
    assert_error(
        "a revoked bearer",
        reply.status,
        &reply.body,
        401,
        "unauthorized",
    );
    assert!(key_record(&app, run_id)["revoked_at"].is_string());

    let reply = admin("DELETE", "/api/keys/999999", None);
    assert_error(
        "revoke an unknown key",
        reply.status,
        &reply.body,
        404,
        "not_found",
    );
    let reply = admin("DELETE", "/api/keys/abc", None);
    assert_eq!(reply.status, 400, "a non-numeric id: {}", reply.body);

    let app = app.restart();
    let reply = with_key(&app, &run_key, "GET", "/api/runs", None);
    assert_eq!(reply.status, 401, "still revoked after a restart");
    let reply = with_key(&app, &admin_key, "GET", "/api/keys", None);
    assert_eq!(reply.status, 200, "the admin key survives: {}", reply.body);
    drop(app);
    assert_secrets_not_stored(data.path(), &[&run_key, &admin_key]);
}

/// Neither the catalog nor its journal holds a secret in clear text.
fn assert_secrets_not_stored(data: &std::path::Path, secrets: &[&str]) {
    for entry in std::fs::read_dir(data).expect("the data folder").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with("gateway.db") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("the catalog is readable");
        for secret in secrets {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{name} holds a key in clear text");
        }
    }
}

#[test]
fn creating_a_key_checks_its_name_and_scope() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER]);
    let cases = [
        (
            json!({"name": "x", "scope": "root"}),
            "invalid_request",
            "an unknown scope",
        ),
        (
            json!({"name": "  ", "scope": "run"}),
            "invalid_request",
            "a blank name",
        ),
        (
            json!({"name": "x".repeat(101), "scope": "run"}),
            "invalid_request",
            "a long name",
        ),
        (json!({"name": "x"}), "invalid_json", "no scope"),
        (
            json!({"name": "x", "scope": "run", "key": "mine"}),
            "invalid_json",
            "a chosen secret",
        ),
    ];
    for (body, code, why) in cases {
        let reply = with_key(&app, MASTER, "POST", "/api/keys", Some(&body));
        assert_error(why, reply.status, &reply.body, 400, code);
    }
    assert!(list_keys(&app).is_empty(), "no key was made");
}

#[test]
fn a_public_address_needs_a_key_or_an_explicit_opt_out() {
    let repo = TestRepo::new();
    let data = data_dir();
    let mut args = serve_args(repo.path(), data.path());
    args.extend(["--host", "0.0.0.0"].map(String::from));
    let refused = run_to_end(&args, Duration::from_secs(60));
    assert!(!refused.status.success(), "stdout:\n{}", refused.stdout);
    assert!(
        !refused.stdout.contains("listening on"),
        "{}",
        refused.stdout
    );
    assert!(
        refused.stderr.contains("--allow-unauthenticated"),
        "the refusal says how to proceed: {}",
        refused.stderr
    );

    let opted_out = ["--host", "0.0.0.0", "--allow-unauthenticated"];
    let app = spawn_app(&repo, data.path(), &opted_out);
    assert!(app.address.contains("0.0.0.0"), "{}", app.address);
    drop(app);
    let app = spawn_app(
        &repo,
        data.path(),
        &["--host", "0.0.0.0", "--api-key", MASTER],
    );
    assert_eq!(app.get("/health").0, 200);
}

#[test]
fn a_key_request_must_be_a_json_object() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", MASTER]);
    let body = json!(["sneaky", "admin"]);
    let reply = with_key(&app, MASTER, "POST", "/api/keys", Some(&body));
    assert_error(
        "an array body",
        reply.status,
        &reply.body,
        400,
        "invalid_json",
    );
    assert!(
        list_keys(&app).is_empty(),
        "no key was made: {:?}",
        list_keys(&app)
    );
}
