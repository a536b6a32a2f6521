//! The generated OpenAPI document, Swagger UI and the original gateway's docs routes.
//!
//! Two checks use tools from outside the crate and skip, saying so, when they are absent:
//! the OpenAPI 3.1 validation (PyPI `openapi-spec-validator`, run through `python3`) and the
//! browser check (Debian `chromium`). `.ci/run` installs both.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{
    data_dir, fixtures, run_to_end, spawn_app, wait_for, TestApp, TestRepo, WAIT,
};

/// A fixture whose ARGS_MAP uses every parameter type.
fn every_type_schema() -> Value {
    json!({
        "name": {"flag": "--name", "type": "str", "required": true, "help": "Who to greet"},
        "times": {"flag": "--times", "type": "int", "default": 2},
        "ratio": {"flag": "--ratio", "type": "float", "default": 0.5},
        "loud": {"flag": "--loud", "type": "bool", "default": false},
        "format": {"flag": "--format", "type": "choice", "choices": ["json", "csv"], "default": "json"},
        "options": {"flag": "--options", "type": "json"},
        "site": {"flag": "--site", "type": "url"},
        "photo": {"flag": "--photo", "type": "file"}
    })
}

/// A repository with a script using every type, a plain one, a JS one, and a broken one.
fn docs_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "python/every_type.py",
        &fixtures::python("Every parameter type.", &every_type_schema()),
    );
    repo.write(
        "python/tools/greet.py",
        &fixtures::python("Greets someone.", &fixtures::greet_schema()),
    );
    repo.write(
        "js/tool.js",
        &fixtures::js("A JS tool.", &fixtures::one_param("x")),
    );
    repo.write(
        "python/broken.py",
        &fixtures::python_schema_mode("print('not json')"),
    );
    repo
}

fn id_of(app: &TestApp, path: &str) -> i64 {
    app.script_by_path(path)
        .unwrap_or_else(|| panic!("{path} is not listed"))["id"]
        .as_i64()
        .expect("an id")
}

fn document(app: &TestApp) -> Value {
    let (status, body) = app.get("/openapi.json");
    assert_eq!(status, 200, "GET /openapi.json: {body}");
    body
}

fn parameter<'a>(operation: &'a Value, name: &str) -> &'a Value {
    operation["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {operation}"))
}

/// Runs `python3` with `openapi-spec-validator`; `None` when that is not installed.
fn validate_with_openapi_spec_validator(document: &Value) -> Option<Result<(), String>> {
    let probe = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), document.to_string()).expect("the document can be written");
    let script = "import json, sys\n\
                  from openapi_spec_validator import validate\n\
                  from openapi_spec_validator.validation.exceptions import OpenAPIValidationError\n\
                  try:\n    validate(json.load(open(sys.argv[1])))\n\
                  except OpenAPIValidationError as e:\n    print(e); sys.exit(1)\n";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    Some(if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

#[test]
fn the_document_is_valid_openapi_3_1_with_every_script_typed() {
    let repo = docs_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let doc = document(&app);
    assert_eq!(doc["openapi"], "3.1.0");

    match validate_with_openapi_spec_validator(&doc) {
        Some(result) => result.unwrap_or_else(|why| panic!("invalid OpenAPI 3.1: {why}")),
        None => eprintln!(
            "SKIPPED the OpenAPI 3.1 schema validation: python3 cannot import \
             openapi_spec_validator (pip install openapi-spec-validator==0.9.0)"
        ),
    }

    id_of(&app, "python/every_type.py");
    let item = &doc["paths"]["/api/run/python/every_type.py"];
    assert!(
        item.get("get").is_none(),
        "a script with a file parameter has no GET"
    );
    let body = &item["post"]["requestBody"]["content"];
    let json_props = &body["application/json"]["schema"]["properties"];
    let cases = [
        (
            "name",
            json!({"type": "string", "description": "Who to greet"}),
        ),
        (
            "times",
            json!({"type": "integer", "format": "int64", "default": 2}),
        ),
        (
            "ratio",
            json!({"type": "number", "format": "double", "default": 0.5}),
        ),
        ("loud", json!({"type": "boolean", "default": false})),
        (
            "format",
            json!({"type": "string", "enum": ["json", "csv"], "default": "json"}),
        ),
        ("options", json!({})),
        (
            "site",
            json!({"type": "string", "format": "uri", "pattern": "^https?://"}),
        ),
    ];
    for (name, want) in cases {
        assert_eq!(json_props[name], want, "JSON body property {name}");
    }
    assert_eq!(
        body["application/json"]["schema"]["required"],
        json!(["name"])
    );
    assert_eq!(
        body["application/json"]["example"],
        json!({"name": "text", "times": 2, "ratio": 0.5, "loud": false, "format": "json"})
    );
    assert_eq!(
        body["multipart/form-data"]["schema"]["properties"]["photo"]["format"],
        "binary"
    );
    assert_eq!(item["post"]["summary"], "Every parameter type.");
    assert_eq!(item["post"]["tags"], json!(["python"]));

    id_of(&app, "python/tools/greet.py");
    let get = &doc["paths"]["/api/run/python/tools/greet.py"]["get"];
    assert_eq!(parameter(get, "name")["required"], true);
    assert_eq!(parameter(get, "name")["description"], "Who to greet");
    assert_eq!(parameter(get, "times")["schema"]["type"], "integer");
    assert_eq!(
        parameter(get, "format")["schema"]["enum"],
        json!(["json", "csv"])
    );
    assert_eq!(get["tags"], json!(["python › tools"]));

    id_of(&app, "python/broken.py");
    assert!(
        doc["paths"].get("/api/run/python/broken.py").is_none(),
        "a script whose schema did not load has no operations"
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert!(doc["components"]["schemas"]["Error"].is_object());
}

#[test]
fn the_document_follows_the_catalog_within_a_second() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let before = document(&app);
    let again = document(&app);
    assert_eq!(
        before, again,
        "served from the cache: the same document twice"
    );

    repo.write(
        "python/late.py",
        &fixtures::python("Late.", &fixtures::greet_schema()),
    );
    let listed =
        wait_for(WAIT, || app.script_by_path("python/late.py")).expect("the new script is listed");
    let listed_at = Instant::now();
    let path = format!("/api/run/{}", listed["path"].as_str().unwrap());
    let documented = wait_for(WAIT, || {
        let doc = document(&app);
        doc["paths"].get(&path).is_some().then_some(doc)
    })
    .expect("the new script appears in the document");
    let lag = listed_at.elapsed();
    assert!(
        lag < Duration::from_secs(1),
        "the document lagged the catalog by {lag:?}"
    );
    eprintln!("the document followed the catalog within {lag:?}");
    assert_eq!(documented["paths"][&path]["get"]["summary"], "Late.");

    let renamed = app.call(
        "PATCH",
        &format!("/api/scripts/{}", listed["id"]),
        &[],
        Some(&json!({"alias": "Late greeter"})),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let summary = |doc: &Value| doc["paths"][&path]["get"]["summary"].clone();
    assert!(
        wait_for(Duration::from_secs(1), || (summary(&document(&app))
            == "Late greeter")
            .then_some(()))
        .is_some(),
        "an alias set through the API shows in the document within a second"
    );

    repo.remove("python/late.py");
    assert!(
        wait_for(WAIT, || document(&app)["paths"]
            .get(&path)
            .is_none()
            .then_some(()))
        .is_some(),
        "a removed script leaves the document"
    );
}

/// Every operation the live document lists is routed (the unit test
/// `openapi::sync_tests` checks the other direction, from the app's own routes).
#[test]
fn every_documented_operation_is_routed_in_the_running_gateway() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let doc = document(&app);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            // Ids that name nothing: handlers answer 404 without side effects.
            let concrete = path.replace("{id}", "999999").replace("{name}", "missing");
            let body = (method != "get").then(|| json!({"script_ids": []}));
            let reply = app.call(&method.to_uppercase(), &concrete, &[], body.as_ref());
            let unrouted = reply.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no route for"));
            assert!(
                reply.status != 405 && !unrouted,
                "{method} {path} is documented but not routed: {} {}",
                reply.status,
                reply.body
            );
            checked += 1;
        }
    }
    assert!(checked > 15, "only {checked} operations checked");
}

fn no_redirects() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(10))
        .build()
}

#[test]
fn swagger_ui_is_served_offline_and_the_old_urls_redirect_to_it() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", "s3cret"]);
    for old in ["/docs", "/scripts-swagger.html"] {
        let response = no_redirects()
            .get(&app.url(old))
            .call()
            .unwrap_or_else(|e| panic!("GET {old}: {e}"));
        assert_eq!(response.status(), 308, "{old}");
        assert_eq!(response.header("location"), Some("/docs/"), "{old}");
    }
    let page = no_redirects()
        .get(&app.url("/docs/"))
        .call()
        .expect("GET /docs/");
    assert_eq!(page.status(), 200);
    assert!(page.content_type().starts_with("text/html"));
    let html = page.into_string().expect("text");
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("http"),
        "nothing is loaded from another host: {html}"
    );

    let assets = [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ];
    for asset in assets {
        let response = no_redirects()
            .get(&app.url(&format!("/docs/{asset}")))
            .call()
            .unwrap_or_else(|e| panic!("GET /docs/{asset}: {e}"));
        let text = response.into_string().expect("text");
        assert!(text.len() > 100, "{asset} is served from the binary");
        if asset == "swagger-initializer.js" {
            assert!(text.contains("\"url\": \"/openapi.json\""), "{text}");
        }
    }
    let (status, _) = app.get("/openapi.json");
    assert_eq!(
        status, 200,
        "the document needs no API key, even with one set"
    );
}

#[test]
fn the_original_gateway_docs_routes_answer_the_whole_document_a_fragment_and_curl() {
    let repo = docs_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", "s3cret"]);
    let key = [("X-API-Key", "s3cret")];
    let greet = id_of_with_key(&app, "python/tools/greet.py", &key);

    let all = app.call("GET", "/api/scripts/swagger-all", &key, None);
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(
        all.body,
        document(&app),
        "swagger-all is the whole document"
    );
    let refused = app.call("GET", "/api/scripts/swagger-all", &[], None);
    assert_eq!(
        refused.status, 401,
        "the compatibility routes are under /api"
    );

    let part = app.call("GET", &format!("/api/scripts/{greet}/swagger"), &key, None);
    assert_eq!(part.status, 200, "{}", part.body);
    let paths: Vec<&String> = part.body["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .collect();
    assert_eq!(paths, ["/api/run/python/tools/greet.py"]);
    for schema in ["RunResult", "Error", "RunAccepted"] {
        assert!(
            part.body["components"]["schemas"][schema].is_object(),
            "{schema} is referenced, so included"
        );
    }
    assert!(
        part.body["components"]["schemas"]
            .get("ScriptPage")
            .is_none(),
        "only what the script's path references"
    );
    if let Some(result) = validate_with_openapi_spec_validator(&part.body) {
        result.unwrap_or_else(|why| panic!("the fragment is not valid OpenAPI: {why}"));
    }

    let curl = app.call("GET", &format!("/api/scripts/{greet}/curl"), &key, None);
    assert_eq!(curl.status, 200, "{}", curl.body);
    let host = app.address.trim_start_matches("http://");
    let get = curl.body["get"].as_str().expect("a GET command");
    assert!(
        get.contains(&format!(
            "http://{host}/api/run/python/tools/greet.py?name=text"
        )),
        "{get}"
    );
    assert!(curl.body["post_json"]
        .as_str()
        .unwrap()
        .contains("-d '{\"name\":\"text\""));
    assert_eq!(curl.body["post_multipart"], Value::Null, "no files");
    assert_eq!(curl.body["auth_header"], "X-API-Key: YOUR_API_KEY");
    assert!(
        !curl.body.to_string().contains("s3cret"),
        "the key is never shown"
    );

    let every = id_of_with_key(&app, "python/every_type.py", &key);
    let curl = app.call("GET", &format!("/api/scripts/{every}/curl"), &key, None);
    assert_eq!(
        curl.body["get"],
        Value::Null,
        "a script with files has no GET"
    );
    assert!(curl.body["post_multipart"]
        .as_str()
        .unwrap()
        .contains("-F 'photo=@/path/to/photo'"));

    let broken = id_of_with_key(&app, "python/broken.py", &key);
    let refused = app.call("GET", &format!("/api/scripts/{broken}/curl"), &key, None);
    assert_eq!(refused.status, 422, "{}", refused.body);
    let missing = app.call("GET", "/api/scripts/999999/swagger", &key, None);
    assert_eq!(missing.status, 404, "{}", missing.body);
}

fn id_of_with_key(app: &TestApp, path: &str, key: &[(&str, &str)]) -> i64 {
    let reply = app.call("GET", "/api/scripts?page_size=500", key, None);
    reply.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["path"] == path))
        .and_then(|s| s["id"].as_i64())
        .unwrap_or_else(|| panic!("{path} is not listed: {}", reply.body))
}

#[test]
fn the_openapi_command_prints_the_document_without_serving() {
    let repo = docs_repo();
    let data = data_dir();
    let args: Vec<String> = [
        "openapi",
        "--scripts-repo",
        &repo.path().display().to_string(),
        "--data-dir",
        &data.path().display().to_string(),
        "--schema-timeout-sec",
        "2",
        "--log",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let done = run_to_end(&args, Duration::from_secs(60));
    assert!(done.status.success(), "stderr:\n{}", done.stderr);
    let doc: Value = serde_json::from_str(&done.stdout).expect("stdout is the JSON document");
    assert_eq!(doc["openapi"], "3.1.0");
    let runs: Vec<&String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/api/run/") && !p.contains('{'))
        .collect();
    assert_eq!(runs.len(), 3, "the three loadable scripts: {runs:?}");
}

/// Debian's Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless Chromium on `url` and returns what it printed (stdout goes to a file, so a
/// large DOM never fills a pipe nobody reads).
fn headless(chromium: &Path, profile: &Path, extra: &[&str], url: &str) -> String {
    let stdout = profile.join("stdout.txt");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("a file for chromium's output"))
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let finished = wait_for(Duration::from_secs(90), || child.try_wait().ok().flatten());
    if finished.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromium did not finish within 90 s");
    }
    std::fs::read_to_string(&stdout).unwrap_or_default()
}

#[test]
fn swagger_ui_renders_the_operations_of_a_script_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED the browser check: Debian's chromium is not installed \
             (apt-get install -y chromium)"
        );
        return;
    };
    let repo = docs_repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    id_of(&app, "python/tools/greet.py");
    let profile = tempfile::tempdir().expect("a profile folder");

    let dom = headless(
        &chromium,
        profile.path(),
        &["--dump-dom"],
        &app.url("/docs/"),
    );
    for expected in [
        "/api/run/python/tools/greet.py".to_string(),
        "Greets someone.".to_string(),
        "python › tools".to_string(),
        "ScriptGateway".to_string(),
    ] {
        assert!(
            dom.contains(&expected),
            "the rendered page lacks {expected:?}; DOM starts:\n{}",
            dom.chars().take(2000).collect::<String>()
        );
    }

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("swagger-ui.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = format!("--screenshot={}", screenshot.display());
    headless(
        &chromium,
        profile.path(),
        &[&shot, "--window-size=1280,1600"],
        &app.url("/docs/"),
    );
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "a screenshot of the page at {}",
        screenshot.display()
    );
    eprintln!("Swagger UI screenshot: {}", screenshot.display());
}
