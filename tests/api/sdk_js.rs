//! The JavaScript script SDK: one object describing the parameters and a `main` function,
//! as CommonJS and as an ES module, found on every run without an install.

use serde_json::json;

use crate::helpers::{data_dir, spawn_app, TestRepo};
use crate::run_support::{assert_success, js, post_multipart, script_id, Multipart};
use crate::sdk_support::{greet_schema, JS_EVERY_TYPE, JS_FAILS, JS_GREET_SDK};

#[test]
fn commonjs_with_a_sync_main_gets_every_type() {
    let repo = TestRepo::new();
    repo.write("js/every.cjs", JS_EVERY_TYPE);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let script = app.script_by_path("js/every.cjs").expect("listed");
    assert_eq!(script["load_status"], json!("ok"), "{script}");
    assert_eq!(
        script["description"],
        json!("Echoes every parameter with its JS type")
    );
    assert_eq!(
        script["args_schema"]["name"],
        json!({"flag": "--name", "type": "str", "required": true, "help": "Who is asking"})
    );
    assert_eq!(
        script["args_schema"]["photo"],
        json!({"flag": "--photo", "type": "file"})
    );
    let id = script_id(&app, "js/every.cjs");
    let form = Multipart::new()
        .text(
            "payload",
            &json!({"name": "Ada", "count": 3, "ratio": 1.25, "loud": true, "fmt": "csv",
                    "options": {"x": [1]}, "site": "https://example.org/"})
            .to_string(),
        )
        .file("photo", "p.bin", &[1u8; 321]);
    let (status, body) = post_multipart(&app, &format!("/api/scripts/{id}/run"), form);
    let data = &assert_success("every type", status, &body)["data"];
    let typed = |key: &str| (data[key]["value"].clone(), data[key]["type"].clone());
    assert_eq!(typed("name"), (json!("Ada"), json!("string")));
    assert_eq!(typed("count"), (json!(3), json!("number")));
    assert_eq!(typed("ratio"), (json!(1.25), json!("number")));
    assert_eq!(typed("loud"), (json!(true), json!("boolean")));
    assert_eq!(typed("fmt"), (json!("csv"), json!("string")));
    assert_eq!(typed("options"), (json!({"x": [1]}), json!("object")));
    assert_eq!(
        typed("site"),
        (json!("https://example.org/"), json!("string"))
    );
    let photo = data["photo"]["value"].as_str().expect("a path string");
    assert!(
        photo.starts_with('/') && data["photo"]["size"] == json!(321),
        "{data}"
    );
    assert_eq!(body["files"][0]["name"], json!("echo.txt"), "{body}");
    assert!(body["stderr"].as_str().unwrap().contains("echoed Ada"));
}

#[test]
fn an_es_module_with_an_async_main_matches_its_hand_written_schema() {
    let repo = TestRepo::new();
    repo.write("js/greet.mjs", JS_GREET_SDK);
    repo.write("js/esm/package.json", r#"{"type": "module"}"#);
    repo.write("js/esm/greet.js", JS_GREET_SDK);
    let by_hand = "console.log(JSON.stringify({ ok: true }));";
    repo.write("js/greet_classic.js", &js(&greet_schema(), by_hand));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let sdk = app.script_by_path("js/greet.mjs").expect("listed");
    let classic = app.script_by_path("js/greet_classic.js").expect("listed");
    assert_eq!(sdk["load_status"], json!("ok"), "{sdk}");
    assert_eq!(sdk["args_schema"], classic["args_schema"]);
    assert_eq!(sdk["args_schema"], greet_schema());
    let typed_js = app.script_by_path("js/esm/greet.js").expect("listed");
    assert_eq!(typed_js["load_status"], json!("ok"), "{typed_js}");
    assert_eq!(
        typed_js["args_schema"],
        greet_schema(),
        "a .js file under \"type\": \"module\""
    );

    let id = sdk["id"].as_i64().unwrap();
    let (status, body) = app.post(
        &format!("/api/scripts/{id}/run"),
        &json!({"name": "Ada", "times": 2, "lang": "fr", "loud": true}),
    );
    let data = &assert_success("async main", status, &body)["data"];
    assert_eq!(
        data,
        &json!({"greetings": ["BONJOUR, ADA!", "BONJOUR, ADA!"]})
    );
}

#[test]
fn a_throwing_main_is_an_error_object_and_exit_code_1() {
    let repo = TestRepo::new();
    repo.write("js/fails.mjs", JS_FAILS);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "js/fails.mjs");
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?n=4"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_status"], json!("error"), "{body}");
    assert_eq!(body["exit_code"], json!(1), "{body}");
    assert_eq!(
        body["data"],
        json!({"status": "error", "error": {"type": "RangeError", "message": "bad n 4"}})
    );
    let stderr = body["stderr"].as_str().unwrap_or_default();
    assert!(stderr.contains("RangeError: bad n 4"), "{stderr}");
}

#[test]
fn a_scripts_own_package_of_the_same_name_wins() {
    let repo = TestRepo::new();
    let own = "exports.script = () => console.log(JSON.stringify({ own: { flag: '--own' } }));\n";
    repo.write("js/own/node_modules/scriptgateway-sdk/index.js", own);
    let required = "const { script } = require('scriptgateway-sdk');\nscript({ main() {} });\n";
    repo.write("js/own/required.js", required);
    let imported = "import { script } from 'scriptgateway-sdk';\nscript({ main() {} });\n";
    repo.write("js/own/imported.mjs", imported);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    for path in ["js/own/required.js", "js/own/imported.mjs"] {
        let script = app.script_by_path(path).expect("listed");
        assert_eq!(script["load_status"], json!("ok"), "{script}");
        assert_eq!(
            script["args_schema"],
            json!({"own": {"flag": "--own"}}),
            "{path}"
        );
    }
}
