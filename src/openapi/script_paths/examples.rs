//! What a run answers, as examples on a script's 200 response: a success, a file output and
//! a failure (still 200, with `status: "error"`).

use serde_json::{json, Value};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::RefOr;

/// What a success, a file output and a failure look like, on the 200 answer.
pub(super) fn add_examples(operation: &mut Operation, script_id: i64) {
    let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") else {
        return;
    };
    let Some(RefOr::T(content)) = ok.content.get_mut("application/json") else {
        return;
    };
    let base = |status: &str, run_status: &str| {
        json!({"status": status, "run_status": run_status, "script_id": script_id,
               "run_id": 41, "duration_ms": 37, "exit_code": 0})
    };
    let mut success = base("success", "success");
    extend(
        &mut success,
        json!({"data": {"msg": "Hello Bob"}, "stderr": "", "files": []}),
    );
    let mut file = base("success", "success");
    extend(
        &mut file,
        json!({"type": "file", "url": "/api/runs/41/output", "filename": "output.txt",
               "size": 12, "content_type": "text/plain", "stderr": "",
               "files": [{"name": "chart.png", "size": 2048, "url": "/api/runs/41/files/chart.png"}]}),
    );
    let mut failure = base("error", "error");
    extend(
        &mut failure,
        json!({"exit_code": 1, "data": null, "stderr": "Traceback (most recent call last): ...",
               "files": [], "error": {"code": "script_failed", "message": "the script exited with code 1"}}),
    );
    // Swagger UI shows the first name (in sorted order) first.
    for (name, summary, value) in [
        (
            "1_success",
            "The script printed JSON: it is `data`",
            success,
        ),
        (
            "2_file",
            "The script printed something else: it is a file at `url`",
            file,
        ),
        (
            "3_failure",
            "The script failed: still 200, with `status: \"error\"`",
            failure,
        ),
    ] {
        let example = ExampleBuilder::new().summary(summary).value(Some(value));
        content.examples.insert(name.to_string(), example.into());
    }
}

fn extend(target: &mut Value, more: Value) {
    if let (Value::Object(target), Value::Object(more)) = (target, more) {
        target.extend(more);
    }
}
