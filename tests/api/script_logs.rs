//! `GET /api/scripts/{id}/logs`: a script's recent runs with their output, newest first,
//! and the same output as stamped log lines.

use serde_json::{json, Value};

use crate::helpers::{assert_error, data_dir, spawn_app, TestApp, TestRepo};
use crate::run_support::{python, script_id};

const TALKER: &str = "python/talker.py";
const TEXT: &str = "python/text.py";

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    let schema = json!({"n": {"flag": "--n", "type": "int", "required": true}});
    let body = "n = int(sys.argv[sys.argv.index(\"--n\") + 1])\n\
                sys.stderr.write(f\"step one of {n}\\nstep two of {n}\\n\")\n\
                print(json.dumps({\"n\": n, \"words\": [\"a b\"]}))\n\
                sys.exit(0 if n % 2 else 4)";
    repo.write(TALKER, &python(&schema, body));
    repo.write(TEXT, &python(&json!({}), "print(\"plain text out\")"));
    repo
}

fn run(app: &TestApp, id: i64, n: i64) -> Value {
    let (status, body) = app.post(&format!("/api/scripts/{id}/run"), &json!({"n": n}));
    assert_eq!(status, 200, "{body}");
    let run_id = body["run_id"].as_i64().expect("a run id");
    let (status, record) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "{record}");
    record
}

/// The entry the logs endpoint should show for a run, from its history record.
fn expected_entry(record: &Value, stdout: &str) -> Value {
    json!({
        "run_id": record["id"],
        "status": record["status"],
        "started_at": record["started_at"],
        "finished_at": record["finished_at"],
        "duration_ms": record["duration_ms"],
        "exit_code": record["exit_code"],
        "stdout": stdout,
        "stderr": record["stderr"],
    })
}

#[test]
fn logs_show_a_scripts_recent_runs_newest_first_with_their_output() {
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, TALKER);
    let runs: Vec<Value> = [1, 2, 3].iter().map(|n| run(&app, id, *n)).collect();
    assert_eq!(runs[1]["status"], json!("error"), "{}", runs[1]);

    let (status, body) = app.get(&format!("/api/scripts/{id}/logs?limit=2"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["script_id"], json!(id));
    assert_eq!(body["path"], json!(TALKER));
    let data_text = |record: &Value| serde_json::to_string(&record["data"]).unwrap();
    assert_eq!(
        body["runs"],
        json!([
            expected_entry(&runs[2], &data_text(&runs[2])),
            expected_entry(&runs[1], &data_text(&runs[1])),
        ]),
        "newest first, limited"
    );
    assert_eq!(runs[2]["stderr"], json!("step one of 3\nstep two of 3"));
    let line = |record: &Value, text: &str| {
        format!(
            "{} [run {} {}] {text}",
            record["finished_at"].as_str().unwrap(),
            record["id"],
            record["status"].as_str().unwrap()
        )
    };
    assert_eq!(
        body["lines"],
        json!([
            line(&runs[2], r#"{"n":3,"words":["a b"]}"#),
            line(&runs[2], "step one of 3"),
            line(&runs[2], "step two of 3"),
            line(&runs[1], r#"{"n":2,"words":["a b"]}"#),
            line(&runs[1], "step one of 2"),
            line(&runs[1], "step two of 2"),
        ])
    );

    let (status, body) = app.get(&format!("/api/scripts/{id}/logs"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["runs"].as_array().map(Vec::len),
        Some(3),
        "default limit 20"
    );

    let text = script_id(&app, TEXT);
    let (status, body) = app.get(&format!("/api/scripts/{text}/logs"));
    assert_eq!(
        (status, &body["runs"], &body["lines"]),
        (200, &json!([]), &json!([]))
    );
    let (status, answer) = app.get(&format!("/api/scripts/{text}/run"));
    assert_eq!(status, 200, "{answer}");
    let (_, record) = app.get(&format!("/api/runs/{}", answer["run_id"]));
    let preview = record["stdout_preview"].as_str().expect("a preview");
    assert_eq!(preview.trim_end(), "plain text out", "{record}");
    let (_, body) = app.get(&format!("/api/scripts/{text}/logs"));
    assert_eq!(body["runs"][0]["stdout"], json!(preview), "{body}");
    assert_eq!(body["runs"][0]["stderr"], json!(""), "{body}");
}

#[test]
fn logs_refuse_unknown_scripts_and_bad_limits() {
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, TALKER);
    let (status, body) = app.get("/api/scripts/999999/logs");
    assert_error("unknown script", status, &body, 404, "not_found");
    for limit in ["0", "201", "-1", "ten"] {
        let (status, body) = app.get(&format!("/api/scripts/{id}/logs?limit={limit}"));
        assert_error(limit, status, &body, 400, "invalid_query");
    }
    let (status, body) = app.get(&format!("/api/scripts/{id}/logs?limit=200"));
    assert_eq!(status, 200, "{body}");
}
