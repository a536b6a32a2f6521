//! The Python script SDK: a `main` function's signature is the script's parameters. The
//! gateway starts such scripts behind its launcher, for schema extraction and for runs.

use serde_json::{json, Value};

use crate::helpers::{data_dir, spawn_app, TestApp, TestRepo};
use crate::run_support::{
    assert_invalid_param, assert_success, post_multipart, python, query, script_id, Multipart,
};
use crate::sdk_support::{
    every_type_schema, greet_schema, PY_ASYNC, PY_EVERY_TYPE, PY_EXPLICIT, PY_FAILS, PY_GREET_SDK,
    PY_LOCAL, PY_UPLOAD,
};

fn schema_of(app: &TestApp, path: &str) -> Value {
    let id = script_id(app, path);
    let (status, schema) = app.get(&format!("/api/scripts/{id}/schema"));
    assert_eq!(status, 200, "{path}: {schema}");
    schema
}

/// Each parameter's value and Python type name, from an answer of [`PY_EVERY_TYPE`].
fn types_of(data: &Value) -> Vec<(String, String)> {
    let mut types: Vec<_> = data
        .as_object()
        .expect("an object of parameters")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    types.sort();
    types
}

fn expected(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn the_signature_is_the_schema_with_help_from_the_docstring() {
    let repo = TestRepo::new();
    repo.write("python/every.py", PY_EVERY_TYPE);
    repo.write("python/explicit.py", PY_EXPLICIT);
    repo.write(
        "python/odd.py",
        "def main(when: complex = 1j):\n    return when\n",
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);

    assert_eq!(schema_of(&app, "python/every.py"), every_type_schema());
    let script = app.script_by_path("python/every.py").expect("listed");
    assert_eq!(
        script["description"],
        json!("Echoes every parameter with its Python type.")
    );
    assert_eq!(
        schema_of(&app, "python/explicit.py"),
        json!({
            "site": {"flag": "--site", "type": "url", "required": true, "help": "A page"},
            "mode": {"flag": "--mode", "type": "str", "default": "fast", "help": "How"}
        }),
        "a module ARGS_MAP and @script(params=...) are merged over the signature"
    );
    let odd = app.script_by_path("python/odd.py").expect("listed");
    assert_eq!(odd["load_status"], json!("error"), "{odd}");
    let reason = odd["load_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("parameter 'when' of main") && reason.contains("not supported"),
        "{reason}"
    );
}

#[test]
fn every_type_reaches_main_typed_and_defaults_fill_the_rest() {
    let repo = TestRepo::new();
    repo.write("python/every.py", PY_EVERY_TYPE);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/every.py");
    let run = format!("/api/scripts/{id}/run");

    let (status, body) = app.post(
        &run,
        &json!({"name": "Ada", "count": 3, "ratio": 1.5, "loud": true, "fmt": "csv",
                "color": "blue", "options": {"x": [1]}, "tags": ["a", "b"], "level": 7}),
    );
    let data = &assert_success("every type", status, &body)["data"];
    assert_eq!(
        types_of(data),
        expected(&[
            ("name", "str"),
            ("count", "int"),
            ("ratio", "float"),
            ("loud", "bool"),
            ("fmt", "str"),
            ("color", "Color"),
            ("options", "dict"),
            ("tags", "list"),
            ("photo", "NoneType"),
            ("note", "str"),
            ("level", "int"),
        ]),
        "{data}"
    );
    assert_eq!(data["loud"]["value"], json!(true));
    assert_eq!(
        data["color"]["value"],
        json!("blue"),
        "an Enum prints as its value"
    );
    assert_eq!(data["options"]["value"], json!({"x": [1]}));
    assert_eq!(data["tags"]["value"], json!(["a", "b"]));

    let (status, body) = app.get(&format!("{run}?{}", query(&[("name", "Bo")])));
    let data = &assert_success("defaults", status, &body)["data"];
    assert_eq!(data["count"], json!({"value": 2, "type": "int"}));
    assert_eq!(data["loud"], json!({"value": false, "type": "bool"}));
    assert_eq!(data["color"], json!({"value": "red", "type": "Color"}));
    assert_eq!(data["options"], json!({"value": {"a": 1}, "type": "dict"}));
    assert_eq!(data["level"], json!({"value": null, "type": "NoneType"}));

    let (status, body) = app.post(&run, &json!({"count": 1}));
    assert_invalid_param("a required parameter is missing", status, &body, "name");
    let (status, body) = app.post(&run, &json!({"name": "x", "fmt": "xml"}));
    assert_invalid_param("not one of the Literal choices", status, &body, "fmt");
    let (status, body) = app.post(&run, &json!({"name": "x", "color": "green"}));
    assert_invalid_param("not one of the Enum values", status, &body, "color");
}

#[test]
fn an_upload_arrives_as_a_path_and_output_files_become_the_runs_files() {
    let repo = TestRepo::new();
    repo.write("python/upload.py", PY_UPLOAD);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/upload.py");
    let form = Multipart::new()
        .text("label", "twin")
        .file("photo", "p.bin", &[7u8; 1000]);
    let (status, body) = post_multipart(&app, &format!("/api/scripts/{id}/run"), form);
    let answer = assert_success("upload", status, &body);
    assert_eq!(
        answer["data"],
        json!({"is_path": true, "size": 1000, "out": "twin.bin", "cwd_file": true})
    );
    let mut files: Vec<(String, u64)> = answer["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().into(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [("note.txt".to_string(), 6), ("twin.bin".to_string(), 1000)]
    );
    assert!(answer["stderr"].as_str().unwrap().contains("copying twin"));
}

#[test]
fn an_exception_is_an_error_object_and_exit_code_1() {
    let repo = TestRepo::new();
    repo.write("python/fails.py", PY_FAILS);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/fails.py");
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?n=4"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], json!("error"), "{body}");
    assert_eq!(body["run_status"], json!("error"), "{body}");
    assert_eq!(body["exit_code"], json!(1), "{body}");
    assert_eq!(body["error"]["code"], json!("script_failed"), "{body}");
    assert_eq!(
        body["data"],
        json!({"status": "error", "error": {"type": "ValueError", "message": "bad n 4"}})
    );
    let stderr = body["stderr"].as_str().unwrap_or_default();
    assert!(
        stderr.contains("Traceback") && stderr.contains("ValueError: bad n 4"),
        "{stderr}"
    );
    let run_id = body["run_id"].as_i64().expect("a run id");
    let (_, history) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(history["status"], json!("error"), "{history}");
    assert_eq!(history["data"]["error"]["type"], json!("ValueError"));
}

#[test]
fn async_main_local_testing_blocks_and_sibling_modules_behave() {
    let repo = TestRepo::new();
    repo.write("python/waits.py", PY_ASYNC);
    repo.write("python/local.py", PY_LOCAL);
    repo.write("python/helper_mod.py", "def double(x):\n    return 2 * x\n");
    repo.write(
        "python/plain.py",
        "def main(a: int, b: int = 2):\n    return {\"sum\": a + b}\n",
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    assert!(
        app.script_by_path("python/helper_mod.py").is_none(),
        "a module without main is no script"
    );

    let id = script_id(&app, "python/waits.py");
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?delay_ms=5"));
    let data = &assert_success("async main", status, &body)["data"];
    assert_eq!(data, &json!({"slept": 5, "module": "waits"}));
    let (_, environment) = app.get(&format!("/api/scripts/{id}/environment"));
    let argv: Vec<&str> = environment["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        argv.len() == 4 && argv[1].ends_with("/.sg/python-launch/sg_launch.py"),
        "an SDK script starts behind the launcher: {argv:?}"
    );
    assert!(argv[2].ends_with("python/waits.py"), "{argv:?}");

    let id = script_id(&app, "python/plain.py");
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?a=40"));
    let data = &assert_success("a plain main without the SDK import", status, &body)["data"];
    assert_eq!(data, &json!({"sum": 42}));

    let id = script_id(&app, "python/local.py");
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?x=21"));
    let data = &assert_success("local-testing block", status, &body)["data"];
    assert_eq!(data["double"], json!(42), "{body}");
    assert_ne!(data["module"], json!("__main__"));
    assert_eq!(
        data["file"],
        json!(repo.abs("python/local.py").display().to_string())
    );
    assert!(
        !body.to_string().contains("LOCAL TESTING BLOCK RAN"),
        "the __main__ block does not run under the gateway: {body}"
    );
}

#[test]
fn the_inferred_schema_equals_the_hand_written_args_map_of_the_same_script() {
    let repo = TestRepo::new();
    repo.write("python/greet_sdk.py", PY_GREET_SDK);
    let by_hand = "word = \"Bonjour\" if \"fr\" in sys.argv else \"Hello\"\nprint(json.dumps({\"word\": word}))";
    repo.write("python/greet_classic.py", &python(&greet_schema(), by_hand));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let sdk = app.script_by_path("python/greet_sdk.py").expect("listed");
    let classic = app
        .script_by_path("python/greet_classic.py")
        .expect("listed");
    assert_eq!(sdk["load_status"], json!("ok"), "{sdk}");
    assert_eq!(sdk["args_schema"], classic["args_schema"]);
    assert_eq!(sdk["args_schema"], greet_schema());

    let id = sdk["id"].as_i64().unwrap();
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run"),
        &json!({"name": "Ada", "times": 2, "lang": "fr", "loud": true}),
    );
    let data = &assert_success("sdk greet", status, &body)["data"];
    assert_eq!(
        data,
        &json!({"greetings": ["BONJOUR, ADA!", "BONJOUR, ADA!"]})
    );
}

#[test]
fn the_shipped_sdk_example_runs() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts_repo/python/slugify.py");
    let repo = TestRepo::new();
    repo.write(
        "python/slugify.py",
        &std::fs::read_to_string(example).expect("the example exists"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/slugify.py");
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run"),
        &json!({"titles": ["Héllo, Wörld!", "Rust & Python"], "separator": "_", "as_csv": true}),
    );
    let answer = assert_success("slugify", status, &body);
    assert_eq!(
        answer["data"],
        json!({"slugs": ["hello_world", "rust_python"]})
    );
    assert_eq!(answer["files"][0]["name"], json!("slugs.csv"), "{answer}");
}
