//! Parameters of a run: every way to send them, their coercion to argv in ARGS_MAP
//! order, and the 400 that names each bad one before anything starts.

use serde_json::{json, Value};

use crate::helpers::{data_dir, spawn_app, TestApp, TestRepo};
use crate::run_support::{
    assert_invalid_param, assert_success, post_as, post_multipart, python, query, run_total,
    script_id, Multipart, ECHO_ARGV,
};

/// The ARGS_MAP with every type, declared in an order that is not alphabetical.
fn every_type_schema() -> Value {
    json!({
        "name": {"flag": "--name", "type": "str", "required": true},
        "count": {"flag": "--count", "type": "int", "default": 3},
        "ratio": {"flag": "--ratio", "type": "float"},
        "loud": {"flag": "--loud", "type": "bool", "default": false},
        "verbose": {"flag": "--verbose", "type": "bool", "action": "store_true"},
        "format": {"flag": "--format", "type": "choice", "choices": ["json", "csv"], "default": "json"},
        "options": {"flag": "--options", "type": "json"},
        "site": {"flag": "--site", "type": "url"},
        "photo": {"flag": "--photo", "type": "file"}
    })
}

/// A server over one argv-echoing script with every parameter type; returns its id.
fn every_type_app() -> (TestRepo, tempfile::TempDir, TestApp, i64) {
    let repo = TestRepo::new();
    repo.write("python/types.py", &python(&every_type_schema(), ECHO_ARGV));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/types.py");
    (repo, data, app, id)
}

/// An HTTP status and its JSON body.
type Answer = (u16, Value);

fn argv_of(body: &Value) -> Vec<String> {
    serde_json::from_value(body["data"]["argv"].clone())
        .unwrap_or_else(|_| panic!("data.argv is a list of strings: {body}"))
}

#[test]
fn run_accepts_query_json_form_and_multipart_parameters() {
    let repo = TestRepo::new();
    let schema = json!({
        "name": {"flag": "--name", "type": "str", "required": true},
        "times": {"flag": "--times", "type": "int", "default": 1}
    });
    let body = "print(json.dumps({\"argv\": sys.argv[1:], \
                \"nested\": {\"list\": [1, 2.5, None, True], \"text\": \"h\\u00e9llo \\u2713\"}}))";
    repo.write("python/greet.py", &python(&schema, body));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/greet.py");
    let run = format!("/api/scripts/{id}/run");
    let json_type = "application/json";
    let form_type = "application/x-www-form-urlencoded";
    // (what, answer, the argv the script got, the ignored names)
    let cases: Vec<(&str, Answer, [&str; 4], Vec<&str>)> = vec![
        (
            "GET query",
            app.get(&format!("{run}?name=Bob&times=2&extra=1")),
            ["--name", "Bob", "--times", "2"],
            vec!["extra"],
        ),
        (
            "POST JSON",
            post_as(
                &app,
                &run,
                json_type,
                br#"{"name": "Ann", "times": 3, "junk": [1]}"#,
            ),
            ["--name", "Ann", "--times", "3"],
            vec!["junk"],
        ),
        (
            "POST urlencoded form",
            post_as(&app, &run, form_type, b"name=Bob+Smith&times=4&zz=1&aa=2"),
            ["--name", "Bob Smith", "--times", "4"],
            vec!["aa", "zz"],
        ),
        (
            "POST multipart text fields",
            post_multipart(
                &app,
                &run,
                Multipart::new()
                    .text("name", "Zoë")
                    .text("times", "5")
                    .text("other", "x"),
            ),
            ["--name", "Zoë", "--times", "5"],
            vec!["other"],
        ),
        (
            "POST multipart payload field",
            post_multipart(
                &app,
                &run,
                Multipart::new().text("payload", r#"{"name": "Eve", "times": 6, "unk": 1}"#),
            ),
            ["--name", "Eve", "--times", "6"],
            vec!["unk"],
        ),
        (
            "POST multipart payload with a field that overrides it",
            post_multipart(
                &app,
                &run,
                Multipart::new()
                    .text("payload", r#"{"name": "Pat", "times": 1}"#)
                    .text("times", "9"),
            ),
            ["--name", "Pat", "--times", "9"],
            vec![],
        ),
    ];
    for (what, (status, body), argv, ignored) in cases {
        assert_success(what, status, &body);
        assert_eq!(body["script_id"], json!(id), "{what}: {body}");
        assert_eq!(
            body["data"],
            json!({"argv": argv, "nested": {"list": [1, 2.5, null, true], "text": "héllo ✓"}}),
            "{what}: data is exactly what the script printed"
        );
        assert!(
            body["duration_ms"].as_u64().is_some_and(|ms| ms > 0),
            "{what}: duration_ms is measured: {body}"
        );
        assert_eq!(body["stderr"], json!(""), "{what}: {body}");
        assert_eq!(body["files"], json!([]), "{what}: {body}");
        let listed: Vec<String> = body
            .get("ignored_params")
            .map(|v| serde_json::from_value(v.clone()).expect("a list of names"))
            .unwrap_or_default();
        assert_eq!(listed, ignored, "{what}: ignored_params: {body}");
    }
}

#[test]
fn run_passes_each_type_to_argv_in_args_map_order() {
    let (_repo, _data, app, id) = every_type_app();
    let run = format!("/api/scripts/{id}/run");
    let get = |pairs: &[(&str, &str)]| app.get(&format!("{run}?{}", query(pairs)));
    let post = |body: Value| app.post(&run, &body);
    let cases: Vec<(&str, Answer, Vec<&str>)> = vec![
        (
            "defaults are applied in ARGS_MAP order",
            get(&[("name", "Bob")]),
            vec![
                "--name", "Bob", "--count", "3", "--loud", "0", "--format", "json",
            ],
        ),
        (
            "every type as query text",
            get(&[
                ("site", "https://example.org/x?y=1"),
                ("options", "{\"a\": [1, 2], \"b\": {\"c\": null}}"),
                ("format", "csv"),
                ("verbose", "true"),
                ("loud", "true"),
                ("ratio", "2.5"),
                ("count", " 7 "),
                ("name", "Bob"),
            ]),
            vec![
                "--name",
                "Bob",
                "--count",
                "7",
                "--ratio",
                "2.5",
                "--loud",
                "1",
                "--verbose",
                "--format",
                "csv",
                "--options",
                r#"{"a":[1,2],"b":{"c":null}}"#,
                "--site",
                "https://example.org/x?y=1",
            ],
        ),
        (
            "false store_true adds nothing; bool words become 1/0",
            get(&[("name", "x"), ("verbose", "false"), ("loud", "yes")]),
            vec![
                "--name", "x", "--count", "3", "--loud", "1", "--format", "json",
            ],
        ),
        (
            "bool given as 0 and an empty optional value is no value",
            get(&[("name", "x"), ("loud", "0"), ("ratio", "")]),
            vec![
                "--name", "x", "--count", "3", "--loud", "0", "--format", "json",
            ],
        ),
        (
            "JSON body values keep their types",
            post(json!({
                "options": {"k": [1, "x", null]}, "verbose": true, "loud": false,
                "ratio": 0.25, "count": -4, "name": "Ann", "site": "http://localhost:8080/p"
            })),
            vec![
                "--name",
                "Ann",
                "--count",
                "-4",
                "--ratio",
                "0.25",
                "--loud",
                "0",
                "--verbose",
                "--format",
                "json",
                "--options",
                r#"{"k":[1,"x",null]}"#,
                "--site",
                "http://localhost:8080/p",
            ],
        ),
        (
            "a hostile string is one argv entry, never shell text",
            get(&[("name", "-x; rm -rf / $(id) `id` 'q\" \\")]),
            vec![
                "--name",
                "-x; rm -rf / $(id) `id` 'q\" \\",
                "--count",
                "3",
                "--loud",
                "0",
                "--format",
                "json",
            ],
        ),
        (
            "JSON null counts as not given; integral float is an int",
            post(json!({"name": "n", "count": 5.0, "ratio": null})),
            vec![
                "--name", "n", "--count", "5", "--loud", "0", "--format", "json",
            ],
        ),
    ];
    for (what, (status, body), argv) in cases {
        assert_success(what, status, &body);
        assert_eq!(argv_of(&body), argv, "{what}");
    }
}

#[test]
fn run_returns_400_naming_each_invalid_param_and_logs_no_run() {
    let (_repo, _data, app, id) = every_type_app();
    let run = format!("/api/scripts/{id}/run");
    let get = |pairs: &[(&str, &str)]| app.get(&format!("{run}?{}", query(pairs)));
    let before = run_total(&app);
    let cases: Vec<(&str, Answer, &[&str])> = vec![
        (
            "int \"abc\"",
            get(&[("name", "a"), ("count", "abc")]),
            &["count"],
        ),
        (
            "int 1.5",
            get(&[("name", "a"), ("count", "1.5")]),
            &["count"],
        ),
        (
            "float \"x\"",
            get(&[("name", "a"), ("ratio", "x")]),
            &["ratio"],
        ),
        (
            "float NaN",
            get(&[("name", "a"), ("ratio", "NaN")]),
            &["ratio"],
        ),
        (
            "bool \"maybe\"",
            get(&[("name", "a"), ("loud", "maybe")]),
            &["loud"],
        ),
        (
            "store_true \"2\"",
            get(&[("name", "a"), ("verbose", "2")]),
            &["verbose"],
        ),
        (
            "choice not listed",
            get(&[("name", "a"), ("format", "xml")]),
            &["format"],
        ),
        (
            "json \"{broken\"",
            get(&[("name", "a"), ("options", "{broken")]),
            &["options"],
        ),
        (
            "url ftp://x",
            get(&[("name", "a"), ("site", "ftp://x")]),
            &["site"],
        ),
        (
            "url without scheme",
            get(&[("name", "a"), ("site", "example.org")]),
            &["site"],
        ),
        ("required missing", get(&[("count", "1")]), &["name"]),
        (
            "required empty in JSON",
            app.post(&run, &json!({"name": null})),
            &["name"],
        ),
        (
            "file as a query string path",
            get(&[("name", "a"), ("photo", "/etc/passwd")]),
            &["photo"],
        ),
        (
            "file as a JSON string path",
            app.post(&run, &json!({"name": "a", "photo": "/etc/passwd"})),
            &["photo"],
        ),
        (
            "file as a multipart text field",
            post_multipart(
                &app,
                &run,
                Multipart::new()
                    .text("name", "a")
                    .text("photo", "/etc/passwd"),
            ),
            &["photo"],
        ),
        (
            "an upload for a parameter that is not a file",
            post_multipart(
                &app,
                &run,
                Multipart::new()
                    .text("name", "a")
                    .file("count", "n.txt", b"1"),
            ),
            &["count"],
        ),
        (
            "JSON of the wrong type",
            app.post(&run, &json!({"name": {"a": 1}, "count": true, "loud": "x"})),
            &["name", "count", "loud"],
        ),
        (
            "every problem at once",
            get(&[("count", "abc"), ("ratio", "x"), ("site", "ftp://x")]),
            &["name", "count", "ratio", "site"],
        ),
    ];
    for (what, (status, body), params) in cases {
        for param in params {
            assert_invalid_param(what, status, &body, param);
        }
        assert_eq!(
            body["error"]["details"].as_array().map(Vec::len),
            Some(params.len()),
            "{what}: only the bad fields are listed: {body}"
        );
    }
    assert_eq!(run_total(&app), before, "refused input logs no run");
    let script = app.get(&format!("/api/scripts/{id}")).1;
    assert_eq!(script["run_count"], json!(0), "{script}");
    assert_eq!(script["last_run_status"], Value::Null, "{script}");
}
