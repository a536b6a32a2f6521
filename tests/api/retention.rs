//! Retention: the per-script cap applied by the scheduled pass (on a settings change and at
//! start), `POST /api/runs/cleanup` with its age override, runs in progress never pruned, and
//! bad cleanup bodies.

use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{
    assert_error, data_dir, spawn_app, wait_for, wait_until, TestApp, TestRepo, WAIT,
};
use crate::run_support::{post_as, python, run_dir, run_total, script_id};

const KEEPER: &str = "python/keeper.py";
const OTHER: &str = "python/other.py";
const SLOW: &str = "python/slow.py";

/// Bytes each keeper run leaves in its folder (at least).
const FILE_BYTES: u64 = 1000;

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    let writes = "with open(\"out.txt\", \"w\") as f:\n    f.write(\"x\" * 1000)\n\
                  print(json.dumps({\"ok\": True}))";
    repo.write(KEEPER, &python(&json!({}), writes));
    repo.write(OTHER, &python(&json!({}), writes));
    repo.write(
        SLOW,
        &python(&json!({}), "import time\ntime.sleep(60)\nprint(1)"),
    );
    repo
}

fn run(app: &TestApp, script_id: i64) -> i64 {
    let (status, body) = app.get(&format!("/api/scripts/{script_id}/run"));
    assert_eq!(status, 200, "run: {body}");
    assert_eq!(body["status"], json!("success"), "{body}");
    body["run_id"].as_i64().expect("a run id")
}

/// The ids of a script's runs in the history, newest first.
fn run_ids(app: &TestApp, script_id: i64) -> Vec<i64> {
    let (status, body) = app.get(&format!("/api/runs?script_id={script_id}&page_size=100"));
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().expect("items");
    items
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect()
}

/// Waits until the script's history holds exactly `want` (newest first).
fn wait_for_ids(app: &TestApp, script_id: i64, want: &[i64]) {
    let last = wait_for(WAIT, || {
        let ids = run_ids(app, script_id);
        (ids == want).then_some(())
    });
    assert!(
        last.is_some(),
        "script {script_id} should keep {want:?}, has {:?}",
        run_ids(app, script_id)
    );
}

/// Asserts which run folders exist under the data folder. A scheduled pass removes the
/// folders just after the rows, so removal is waited for (with a deadline).
fn assert_folders(data: &Path, kept: &[i64], gone: &[i64]) {
    for id in gone {
        let removed = wait_until(WAIT, || !run_dir(data, *id).exists());
        assert!(removed, "run {id}'s folder is removed");
    }
    for id in kept {
        assert!(run_dir(data, *id).is_dir(), "run {id}'s folder is kept");
    }
}

#[test]
fn the_per_script_cap_is_applied_when_the_setting_changes_and_at_start() {
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let (keeper, other) = (script_id(&app, KEEPER), script_id(&app, OTHER));
    let k: Vec<i64> = (0..4).map(|_| run(&app, keeper)).collect();
    let o: Vec<i64> = (0..2).map(|_| run(&app, other)).collect();
    assert_folders(data.path(), &[k[0], k[1], k[2], k[3], o[0], o[1]], &[]);

    let reply = app.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"max_runs_per_script": 2})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    wait_for_ids(&app, keeper, &[k[3], k[2]]);
    assert_eq!(run_ids(&app, other), [o[1], o[0]], "within the cap");
    assert_folders(data.path(), &[k[2], k[3], o[0], o[1]], &[k[0], k[1]]);
    let (status, body) = app.get(&format!("/api/runs/{}", k[0]));
    assert_error("a pruned run", status, &body, 404, "not_found");

    // The stored setting beats flags: forget it, then start with a cap of one.
    let reply = app.call("DELETE", "/api/settings/max_runs_per_script", &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    drop(app);
    let app = spawn_app(&repo, data.path(), &["--max-runs-per-script", "1"]);
    wait_for_ids(&app, keeper, &[k[3]]);
    wait_for_ids(&app, other, &[o[1]]);
    assert_folders(data.path(), &[k[3], o[1]], &[k[2], o[0]]);
}

#[test]
fn cleanup_prunes_finished_runs_and_their_folders_but_never_a_run_in_progress() {
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let (keeper, slow) = (script_id(&app, KEEPER), script_id(&app, SLOW));
    let (status, accepted) = app.get(&format!("/api/scripts/{slow}/run?async=true"));
    assert_eq!(status, 202, "{accepted}");
    let running = accepted["run_id"].as_i64().expect("a run id");
    let started = wait_for(WAIT, || {
        let (_, record) = app.get(&format!("/api/runs/{running}"));
        (record["status"] == json!("running")).then_some(())
    });
    assert!(started.is_some(), "the slow run starts");
    let finished: Vec<i64> = (0..3).map(|_| run(&app, keeper)).collect();

    let (status, body) = app.post("/api/runs/cleanup", &json!({"older_than_days": 30}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"runs_deleted": 0, "folders_removed": 0, "bytes_freed": 0}),
        "nothing is a month old"
    );

    let (status, body) = app.post("/api/runs/cleanup", &json!({"older_than_days": 0}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["runs_deleted"], json!(3), "{body}");
    assert_eq!(body["folders_removed"], json!(3), "{body}");
    let freed = body["bytes_freed"].as_u64().expect("bytes_freed");
    assert!(freed >= 3 * FILE_BYTES, "{body}");
    assert_eq!(run_total(&app), 1, "only the run in progress is left");
    let (status, record) = app.get(&format!("/api/runs/{running}"));
    assert_eq!(
        (status, &record["status"]),
        (200, &json!("running")),
        "{record}"
    );
    assert_folders(data.path(), &[running], &finished);
    let (status, body) = app.post(
        "/api/runs/cleanup",
        &json!({"older_than_days": null, "max_runs_per_script": 0}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["runs_deleted"],
        json!(0),
        "a cap of 0 spares it too: {body}"
    );
    assert_folders(data.path(), &[running], &[]);

    let (status, body) = app.post(&format!("/api/runs/{running}/cancel"), &json!({}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.post(
        "/api/runs/cleanup",
        &json!({"older_than_days": 0, "max_runs_per_script": null}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["runs_deleted"], json!(1), "once it ended: {body}");
    assert_eq!(run_total(&app), 0);
    assert_folders(data.path(), &[], &[running]);
}

#[test]
fn cleanup_refuses_bad_bodies_and_keeps_its_own_route() {
    let repo = repo();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let kept = run(&app, script_id(&app, KEEPER));

    let cases: [(&str, &str); 9] = [
        (r#"{"older_than_days": -1}"#, "invalid_request"),
        (r#"{"older_than_days": 1.5}"#, "invalid_request"),
        (r#"{"older_than_days": "3"}"#, "invalid_request"),
        (r#"{"max_runs_per_script": -2}"#, "invalid_request"),
        (r#"{"max_runs_per_script": true}"#, "invalid_request"),
        (r#"{"keep_days": 1}"#, "invalid_request"),
        (r#"[0]"#, "invalid_request"),
        (r#""all""#, "invalid_request"),
        (r#"{"older_than_days": "#, "invalid_json"),
    ];
    for (body, code) in cases {
        let (status, answer) = post_as(
            &app,
            "/api/runs/cleanup",
            "application/json",
            body.as_bytes(),
        );
        assert_error(body, status, &answer, 400, code);
    }
    assert_eq!(run_total(&app), 1, "a refused request prunes nothing");

    let reply = app.call("POST", "/api/runs/cleanup", &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({"runs_deleted": 0, "folders_removed": 0, "bytes_freed": 0}),
        "no body: the settings (30 days, 1000 runs) prune nothing yet"
    );
    let (status, body) = app.get("/api/runs/cleanup");
    assert_error("GET cleanup", status, &body, 405, "method_not_allowed");
    let (status, body) = app.get(&format!("/api/runs/{kept}"));
    assert_eq!((status, &body["id"]), (200, &json!(kept)), "{body}");
    assert!(body.get("data").is_some_and(Value::is_object), "{body}");
}
