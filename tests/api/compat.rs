//! Scripts written for the original gateway import its helper modules
//! (`src.core.error_handler`, `src.utils.logger`) after putting the folder above
//! `scripts_repo` on `sys.path`; the gateway provides them to every Python run and schema
//! extraction, without hiding a script's own modules of the same names.

use serde_json::{json, Value};

use crate::helpers::{data_dir, spawn_app, TestApp, TestRepo};
use crate::run_support::script_id;

/// The opening of the original's example scripts.
const ORIGINAL_PREAMBLE: &str = r#"import argparse
import json
import os
import sys

project_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, project_root)
"#;

fn original_style(imports: &str, args_map: &Value, body: &str) -> String {
    format!(
        "{ORIGINAL_PREAMBLE}{imports}\n\nARGS_MAP = json.loads({literal})\n\n{body}\n\n\
         if __name__ == \"__main__\":\n    \
         if len(sys.argv) > 1 and sys.argv[1] == \"--_sys_get_schema\":\n        \
         print(json.dumps(ARGS_MAP, ensure_ascii=False))\n        sys.exit(0)\n    \
         parser = argparse.ArgumentParser()\n    \
         for key, cfg in ARGS_MAP.items():\n        \
         parser.add_argument(cfg[\"flag\"], required=cfg.get(\"required\", False))\n    \
         args = parser.parse_args()\n    \
         params = {{key: getattr(args, cfg[\"flag\"].lstrip(\"-\").replace(\"-\", \"_\")) for key, cfg in ARGS_MAP.items()}}\n    \
         print_json_response(process(params))\n",
        literal = serde_json::to_string(&args_map.to_string()).unwrap(),
    )
}

const HELLO: &str = r#"@handle_script_errors
def process(params):
    is_valid, error = validate_parameters(params, ARGS_MAP)
    if not is_valid:
        return error
    if params["times"] > 3:
        raise ValidationError("too many", parameter="times", value=params["times"])
    if params["name"] == "boom":
        raise RuntimeError("it broke")
    get_script_logger("hello").info("greeting %s", params["name"])
    return create_success_response({"msg": "Hello " * params["times"] + params["name"]},
                                   metadata={"script": "hello"})"#;

const HELLO_IMPORTS: &str = "from src.core.error_handler import (\n    handle_script_errors, \
     validate_parameters, ValidationError, create_success_response, print_json_response,\n)\n\
     from src.utils.logger import get_script_logger";

fn hello_args() -> Value {
    json!({
        "name": {"flag": "--name", "type": "str", "required": true},
        "times": {"flag": "--times", "type": "int", "default": 1}
    })
}

fn run(app: &TestApp, id: i64, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/scripts/{id}/run?{query}"));
    assert!(
        status == 200 || status == 422 || status == 500,
        "{status}: {body}"
    );
    body
}

#[test]
fn scripts_written_for_the_original_load_and_answer_in_its_shapes() {
    let repo = TestRepo::new();
    repo.write(
        "python/hello.py",
        &original_style(HELLO_IMPORTS, &hello_args(), HELLO),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let script = app.script_by_path("python/hello.py").expect("listed");
    assert_eq!(script["load_status"], json!("ok"), "{script}");
    let id = script_id(&app, "python/hello.py");

    let body = run(&app, id, "name=Ada&times=2");
    assert_eq!(body["status"], json!("success"), "{body}");
    assert_eq!(
        body["data"],
        json!({"success": true, "data": {"msg": "Hello Hello Ada"}, "metadata": {"script": "hello"}})
    );
    let stderr = body["stderr"].as_str().unwrap_or_default();
    assert!(
        stderr.contains("[INFO] greeting Ada"),
        "the script logger writes to stderr: {body}"
    );

    let body = run(&app, id, "name=Ada&times=5");
    assert_eq!(
        body["run_status"],
        json!("error"),
        "print_json_response exits 1: {body}"
    );
    assert_eq!(
        body["data"],
        json!({"success": false, "error": "too many", "error_type": "validation", "code": 400,
               "details": {"parameter": "times", "value": "5"}})
    );

    let body = run(&app, id, "name=boom");
    let data = &body["data"];
    assert_eq!(data["error_type"], json!("system"), "{body}");
    assert_eq!(data["code"], json!(500));
    assert_eq!(data["details"]["exception_type"], json!("RuntimeError"));
    assert!(
        data["error"].as_str().unwrap().contains("it broke"),
        "{body}"
    );
    assert!(data["details"]["traceback"]
        .as_str()
        .unwrap()
        .contains("Traceback"));
}

#[test]
fn a_file_response_links_to_a_download_through_the_gateway() {
    let repo = TestRepo::new();
    let body = r#"def process(params):
    inside = os.path.join(os.getcwd(), "report.txt")
    with open(inside, "w") as f:
        f.write("in the work folder")
    outside = os.path.join(os.environ["TMPDIR"], "elsewhere.txt")
    with open(outside, "w") as f:
        f.write("made elsewhere")
    return create_success_response({
        "inside": create_file_response(inside),
        "outside": create_file_response(outside),
        "missing": create_file_response("/nonexistent/x.txt"),
        "content": create_content_response("héllo"),
    })"#;
    repo.write(
        "python/files.py",
        &original_style(
            "from src.core.error_handler import (create_success_response, \
             create_file_response, create_content_response, print_json_response)",
            &json!({}),
            body,
        ),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/files.py");
    let answer = run(&app, id, "");
    assert_eq!(answer["status"], json!("success"), "{answer}");
    let run_id = answer["run_id"].as_i64().unwrap();
    let results = &answer["data"]["data"];
    for (key, name, text) in [
        ("inside", "report.txt", "in the work folder"),
        ("outside", "elsewhere.txt", "made elsewhere"),
    ] {
        let file = &results[key];
        assert_eq!(file["type"], json!("file"), "{answer}");
        assert_eq!(file["filename"], json!(name));
        assert_eq!(file["size"], json!(text.len()));
        let url = file["url"].as_str().unwrap();
        assert_eq!(url, format!("/api/runs/{run_id}/files/{name}"));
        assert_eq!(app.get(url), (200, Value::String(text.into())), "{key}");
    }
    assert_eq!(results["missing"]["error_type"], json!("resource"));
    assert_eq!(results["missing"]["code"], json!(404));
    assert_eq!(
        results["content"],
        json!({"success": true, "type": "content", "content": "héllo", "size": 6})
    );
}

#[test]
fn every_public_helper_name_imports_and_every_error_kind_keeps_its_shape() {
    let repo = TestRepo::new();
    let body = r#"def process(params):
    kinds = [
        ScriptError("custom"),
        ScriptError("typed", ErrorType.EXECUTION, 418, {"k": 1}),
        ValidationError("bad", parameter="p", value=0),
        ExecutionError("failed", command="ls", exit_code=2),
        ResourceError("gone", resource_type="file", resource_path="/x"),
        TimeoutError("slow", timeout_seconds=5),
        PermissionError("denied", required_permission="admin"),
    ]
    assert isinstance(kinds[2], ScriptError) and str(kinds[2]) == "bad"
    return create_success_response([k.to_dict() for k in kinds] + [convert_to_url(__file__) != ""])"#;
    repo.write(
        "python/kinds.py",
        &original_style(
            "from src.core.error_handler import (ErrorType, ScriptError, ValidationError, \
             ExecutionError, ResourceError, TimeoutError, PermissionError, handle_script_errors, \
             validate_parameters, create_success_response, create_file_response, \
             create_content_response, convert_to_url, print_json_response)\n\
             from src.utils.logger import get_script_logger",
            &json!({}),
            body,
        ),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/kinds.py");
    let answer = run(&app, id, "");
    assert_eq!(answer["status"], json!("success"), "{answer}");
    let error = |message: &str, kind: &str, code: u16, details: Value| json!({"success": false, "error": message, "error_type": kind, "code": code, "details": details});
    assert_eq!(
        answer["data"]["data"],
        json!([
            error("custom", "custom", 500, json!({})),
            error("typed", "execution", 418, json!({"k": 1})),
            error(
                "bad",
                "validation",
                400,
                json!({"parameter": "p", "value": "0"})
            ),
            error(
                "failed",
                "execution",
                500,
                json!({"command": "ls", "exit_code": 2})
            ),
            error(
                "gone",
                "resource",
                404,
                json!({"resource_type": "file", "resource_path": "/x"})
            ),
            error("slow", "timeout", 504, json!({"timeout_seconds": 5})),
            error(
                "denied",
                "permission",
                403,
                json!({"required_permission": "admin"})
            ),
            true
        ])
    );
}

#[test]
fn a_scripts_own_src_modules_win_and_merge_with_the_helpers() {
    let repo = TestRepo::new();
    // The group's own error_handler, and a module of its own beside the helpers' packages.
    repo.write(
        "python/grp/src/core/error_handler.py",
        "def print_json_response(r):\n    import json; print(json.dumps({'own': r}))\n",
    );
    repo.write("python/grp/src/mine.py", "VALUE = 42\n");
    let body = r#"def process(params):
    import src.mine
    from src.utils.logger import get_script_logger
    get_script_logger("x")
    return {"mine": src.mine.VALUE}"#;
    let own_first = format!(
        "import sys, os\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n{}",
        original_style(
            "from src.core.error_handler import print_json_response",
            &json!({}),
            body
        )
    );
    repo.write("python/grp/main.py", &own_first);
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/grp/main.py");
    let answer = run(&app, id, "");
    assert_eq!(answer["status"], json!("success"), "{answer}");
    assert_eq!(answer["data"], json!({"own": {"mine": 42}}));
}
