//! Tests for the typed per-script operations built from an ARGS_MAP.

use serde_json::{json, Value};

use super::*;
use crate::domain::Runtime;

fn script(id: i64, path: &str, schema: Value) -> Script {
    Script {
        id,
        path: path.into(),
        runtime: Runtime::Python,
        entry: crate::domain::EntryKind::Classic,
        name: path.rsplit('/').next().unwrap_or(path).into(),
        group_path: None,
        alias: None,
        description: Some("Greets someone.\nAt length.".into()),
        enabled: true,
        notify_enabled: false,
        timeout_sec: None,
        max_concurrent: None,
        execution_mode: None,
        load_status: LoadStatus::Ok,
        load_error: None,
        args_schema: Some(schema),
        file_hash: String::new(),
        file_size: 0,
        deps_file: None,
        deps_hash: None,
        deps_status: None,
        created_at: String::new(),
        updated_at: String::new(),
        loaded_at: None,
        last_run_at: None,
        last_run_status: None,
        run_count: 0,
    }
}

fn every_type() -> Value {
    json!({
        "name": {"flag": "--name", "type": "str", "required": true, "help": "Who to greet"},
        "times": {"flag": "--times", "type": "int", "default": 2},
        "ratio": {"flag": "--ratio", "type": "float"},
        "loud": {"flag": "--loud", "type": "bool", "default": false},
        "format": {"flag": "--format", "type": "choice", "choices": ["json", "csv"], "default": "csv"},
        "level": {"flag": "--level", "type": "choice", "choices": [1, 2, 3]},
        "options": {"flag": "--options", "type": "json"},
        "site": {"flag": "--site", "type": "url"},
        "timeout": {"flag": "--timeout", "type": "int"}
    })
}

fn document_with(scripts: &[Script]) -> Value {
    serde_json::to_value(crate::openapi::document(crate::api::openapi(), scripts)).unwrap()
}

fn param<'a>(operation: &'a Value, name: &str) -> &'a Value {
    operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {operation}"))
}

#[test]
fn each_type_maps_to_its_json_schema() {
    let doc = document_with(&[script(3, "python/greet.py", every_type())]);
    let get = &doc["paths"]["/api/run/python/greet.py"]["get"];
    let cases = [
        ("name", json!({"type": "string"})),
        (
            "times",
            json!({"type": "integer", "format": "int64", "default": 2}),
        ),
        ("ratio", json!({"type": "number", "format": "double"})),
        ("loud", json!({"type": "boolean", "default": false})),
        (
            "format",
            json!({"type": "string", "enum": ["json", "csv"], "default": "csv"}),
        ),
        ("level", json!({"type": "integer", "enum": [1, 2, 3]})),
        (
            "site",
            json!({"type": "string", "format": "uri", "pattern": "^https?://"}),
        ),
    ];
    for (name, want) in cases {
        assert_eq!(param(get, name)["schema"], want, "{name}");
        assert_eq!(param(get, name)["in"], "query", "{name}");
    }
    assert_eq!(param(get, "name")["required"], true);
    assert_eq!(param(get, "name")["description"], "Who to greet");
    assert_eq!(param(get, "times")["required"], false);
    assert_eq!(
        param(get, "options")["content"]["application/json"]["schema"],
        json!({}),
        "json goes as JSON text, any value"
    );
}

#[test]
fn the_post_body_is_typed_with_an_example_from_the_defaults() {
    let doc = document_with(&[script(3, "python/greet.py", every_type())]);
    let post = &doc["paths"]["/api/run/python/greet.py"]["post"];
    let json_body = &post["requestBody"]["content"]["application/json"];
    assert_eq!(json_body["schema"]["required"], json!(["name"]));
    assert_eq!(
        json_body["schema"]["properties"]["name"],
        json!({"type": "string", "description": "Who to greet"})
    );
    assert_eq!(
        json_body["example"],
        json!({"name": "text", "times": 2, "loud": false, "format": "csv"})
    );
    assert!(
        post["requestBody"]["content"]
            .get("multipart/form-data")
            .is_none(),
        "no files, no multipart"
    );
    assert_eq!(post["operationId"], "run_python_greet");
    assert_eq!(
        doc["paths"]["/api/run/python/greet.py"]["get"]["operationId"],
        "run_python_greet_get"
    );
    assert_eq!(
        post["summary"], "Greets someone.",
        "the description's first line"
    );
    assert_eq!(post["tags"], json!(["python"]));
}

#[test]
fn a_script_with_files_has_no_get_and_a_multipart_body() {
    let schema = json!({
        "photo": {"flag": "--photo", "type": "file", "required": true},
        "options": {"flag": "--options", "type": "json"},
        "caption": {"flag": "--caption"}
    });
    let doc = document_with(&[script(5, "python/tools/crop.py", schema)]);
    let item = &doc["paths"]["/api/run/python/tools/crop.py"];
    assert!(
        item.get("get").is_none(),
        "files cannot go in a query string"
    );
    let content = &item["post"]["requestBody"]["content"];
    let multipart = &content["multipart/form-data"]["schema"];
    assert_eq!(
        multipart["properties"]["photo"],
        json!({"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"})
    );
    assert_eq!(
        multipart["properties"]["options"]["contentMediaType"],
        "application/json"
    );
    assert_eq!(multipart["required"], json!(["photo"]));
    assert!(
        content.get("application/json").is_none(),
        "a required file cannot be sent as JSON, so there is no JSON body"
    );
    assert_eq!(item["post"]["tags"], json!(["python › tools"]));
}

#[test]
fn responses_and_options_come_from_the_generic_run_operation() {
    let doc = document_with(&[script(3, "python/greet.py", every_type())]);
    let get = &doc["paths"]["/api/run/python/greet.py"]["get"];
    let generic = &doc["paths"]["/api/scripts/{id}/run"]["get"];
    let statuses = |op: &Value| {
        op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(get), statuses(generic));
    for status in ["200", "202", "400", "401", "404", "409", "422", "429"] {
        assert!(get["responses"].get(status).is_some(), "{status}");
    }
    let examples = &get["responses"]["200"]["content"]["application/json"]["examples"];
    assert_eq!(
        examples["3_failure"]["value"]["error"]["code"],
        "script_failed"
    );
    assert_eq!(examples["2_file"]["value"]["type"], "file");
    assert_eq!(param(get, "async")["schema"]["type"], "boolean");
    assert_eq!(
        param(get, "_timeout")["schema"]["type"],
        "number",
        "the script declares `timeout`, so the gateway's option is `_timeout`"
    );
    assert_eq!(param(get, "timeout")["schema"]["type"], "integer");
    assert_eq!(get["security"], json!([{"bearer": []}, {"api_key": []}]));
    assert!(
        get["responses"]["404"]["description"]
            .as_str()
            .unwrap()
            .starts_with("The script is no longer there"),
        "no id on a path address"
    );
}

#[test]
fn scripts_that_did_not_load_have_no_operations_and_tags_lead() {
    let mut broken = script(9, "js/broken.js", json!({}));
    broken.load_status = LoadStatus::Error;
    broken.args_schema = None;
    let doc = document_with(&[broken, script(1, "js/ok.js", json!({}))]);
    assert!(doc["paths"].get("/api/run/js/broken.js").is_none());
    assert!(doc["paths"]["/api/run/js/ok.js"]["get"]["parameters"].is_array());
    assert_eq!(doc["tags"][0]["name"], "js", "script folders come first");
}

#[test]
fn operation_names_come_from_paths_and_stay_unique() {
    let names = operation_names([
        "python/hello.py",
        "python/reports/Monthly Sales.py",
        "js/a.js",
        "python/a.py",
        "python/a-b.py",
        "python/a_b.py",
        "python/tools/x.py",
        "python/tools.x.py",
    ]);
    let name = |path: &str| names[path].as_str();
    assert_eq!(name("python/hello.py"), "run_python_hello");
    assert_eq!(
        name("python/reports/Monthly Sales.py"),
        "run_python_reports_monthly_sales"
    );
    assert_eq!(name("js/a.js"), "run_js_a");
    assert_eq!(name("python/a.py"), "run_python_a");
    // `a-b` and `a_b` meet as `a_b`, and still do with their extension: a hash tells them apart.
    assert!(name("python/a-b.py").starts_with("run_python_a_b_py_"));
    assert!(name("python/a_b.py").starts_with("run_python_a_b_py_"));
    assert_ne!(name("python/a-b.py"), name("python/a_b.py"));
    let unique: std::collections::BTreeSet<&String> = names.values().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    // The same paths give the same names, whatever order they come in.
    let again = operation_names(["python/a_b.py", "python/a-b.py", "python/hello.py"]);
    assert_eq!(again["python/hello.py"], "run_python_hello");
    assert_eq!(again["python/a-b.py"], names["python/a-b.py"]);
}

#[test]
fn run_addresses_encode_what_a_path_segment_cannot_hold() {
    assert_eq!(run_path("python/hello.py"), "/api/run/python/hello.py");
    assert_eq!(
        run_path("python/my report#1?.py"),
        "/api/run/python/my%20report%231%3F.py"
    );
}
