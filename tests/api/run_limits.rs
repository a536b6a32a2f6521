//! Runs that must be stopped: timeouts (with grandchildren and SIGTERM-proof scripts),
//! output floods, memory and CPU limits, and the gateway staying small and responsive.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{assert_error, data_dir, spawn_app, wait_until, TestRepo};
use crate::run_support::{gateway_pid, python, query, rss_kib, run_total, script_id};

const GRANDCHILD: &str = r#"import subprocess, time
marker = sys.argv[sys.argv.index("--marker") + 1]
subprocess.Popen(["sh", "-c", 'sleep 2; touch "$0"', marker])
print("started", flush=True)
time.sleep(60)"#;

const STUBBORN: &str = r#"import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
time.sleep(60)"#;

/// Asserts a run answer that stopped for `code` with run status `run_status`.
fn assert_stopped(what: &str, status: u16, body: &Value, run_status: &str, code: &str) {
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["status"], json!("error"), "{what}: {body}");
    assert_eq!(body["run_status"], json!(run_status), "{what}: {body}");
    assert_eq!(body["error"]["code"], json!(code), "{what}: {body}");
}

#[test]
fn timeout_stops_the_whole_process_tree() {
    let repo = TestRepo::new();
    let marker_schema = json!({"marker": {"flag": "--marker", "type": "str", "required": true}});
    repo.write("python/grandchild.py", &python(&marker_schema, GRANDCHILD));
    repo.write("python/stubborn.py", &python(&json!({}), STUBBORN));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--timeout-sec", "3"]);
    let grandchild = script_id(&app, "python/grandchild.py");
    let stubborn = script_id(&app, "python/stubborn.py");
    let marker = data.path().join("grandchild-was-here");
    let marker_text = marker.display().to_string();

    std::thread::scope(|scope| {
        let stubborn_run = scope.spawn(|| {
            let began = Instant::now();
            let answer = app.get(&format!("/api/scripts/{stubborn}/run?timeout=100"));
            (answer, began.elapsed())
        });

        let began = Instant::now();
        let path = format!(
            "/api/scripts/{grandchild}/run?{}",
            query(&[("marker", &marker_text), ("timeout", "1")])
        );
        let (status, body) = app.get(&path);
        let took = began.elapsed();
        assert_stopped("grandchild", status, &body, "timeout", "timeout");
        assert!(
            took < Duration::from_secs(4),
            "answered soon after 1 s: {took:?}"
        );
        assert!(
            body["duration_ms"].as_u64().is_some_and(|ms| ms >= 1000),
            "{body}"
        );
        assert_eq!(
            body["stdout_preview"],
            json!("started\n"),
            "output so far is kept: {body}"
        );
        let run_id = body["run_id"].as_i64().expect("a run id");
        let appeared = wait_until(Duration::from_secs(3), || marker.exists());
        assert!(!appeared, "the background grandchild outlived the timeout");
        let (_, run) = app.get(&format!("/api/runs/{run_id}"));
        assert_eq!(run["status"], json!("timeout"), "{run}");

        let ((status, body), took) = stubborn_run.join().expect("no panic");
        assert_stopped("SIGTERM ignored", status, &body, "timeout", "timeout");
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(8),
            "?timeout=100 never lengthens the 3 s limit; SIGKILL follows the grace: {took:?}"
        );
    });

    let before = run_total(&app);
    for bad in ["abc", "0", "-1", "inf", "NaN", ""] {
        let path = format!("/api/scripts/{stubborn}/run?timeout={bad}");
        let (status, body) = app.get(&path);
        assert_error(&path, status, &body, 400, "invalid_query");
        let reply = app.call("POST", &path, &[], Some(&json!({})));
        assert_error(
            &format!("POST {path}"),
            reply.status,
            &reply.body,
            400,
            "invalid_query",
        );
    }
    assert_eq!(run_total(&app), before, "a refused timeout logs no run");
}

const STDOUT_FLOOD: &str = r#"chunk = b"x" * (1 << 20)
for _ in range(300):
    sys.stdout.buffer.write(chunk)
sys.stdout.flush()"#;

const STDERR_FLOOD: &str = r#"chunk = b"e" * (1 << 20)
for _ in range(300):
    sys.stderr.buffer.write(chunk)
sys.stderr.flush()"#;

const HOG_MEMORY: &str = "hog = bytearray(1024 * 1024 * 1024)\nprint(len(hog))";

const BURN_CPU: &str = "while True:\n    pass";

#[test]
fn output_memory_and_cpu_limits_stop_the_run_not_the_gateway() {
    let repo = TestRepo::new();
    let none = json!({});
    repo.write("python/stdout_flood.py", &python(&none, STDOUT_FLOOD));
    repo.write("python/stderr_flood.py", &python(&none, STDERR_FLOOD));
    repo.write("python/hog.py", &python(&none, HOG_MEMORY));
    repo.write("python/burn.py", &python(&none, BURN_CPU));
    let data = data_dir();
    let flags = [
        "--max-output-mb",
        "1",
        "--memory-limit-mb",
        "256",
        "--cpu-limit-sec",
        "1",
    ];
    let app = spawn_app(&repo, data.path(), &flags);
    let pid = gateway_pid(data.path());
    let run = |path: &str| app.get(&format!("/api/scripts/{}/run", script_id(&app, path)));
    let peak_kib = AtomicU64::new(0);
    let done = AtomicBool::new(false);

    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    peak_kib.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        for stream in ["stdout", "stderr"] {
            let began = Instant::now();
            let (status, body) = run(&format!("python/{stream}_flood.py"));
            assert_stopped(stream, status, &body, "limit_exceeded", "limit_exceeded");
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "{stream}: stopped early"
            );
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(stream), "{stream}: {message}");
            let (status, health) = app.get("/health");
            assert_eq!(status, 200, "{health}");
        }
        done.store(true, Ordering::Relaxed);
    });
    let peak_mib = peak_kib.load(Ordering::Relaxed) / 1024;
    assert!(peak_mib > 0, "the gateway's memory was sampled");
    assert!(
        peak_mib < 150,
        "the gateway stayed small during 600 MB of output: {peak_mib} MiB"
    );

    let (_, history) = app.get("/api/runs?status=limit_exceeded");
    assert_eq!(history["total"], json!(2), "{history}");
    let stdout_run = &history["items"][1];
    assert!(
        stdout_run["size"].as_u64().is_some_and(|s| s <= 1 << 20),
        "at most 1 MiB of stdout is kept: {stdout_run}"
    );
    let stderr_run = &history["items"][0];
    assert!(
        stderr_run["stderr"]
            .as_str()
            .is_some_and(|s| s.chars().count() <= 70_000),
        "a bounded stderr tail is kept"
    );

    let (status, body) = run("python/hog.py");
    assert_stopped(
        "1 GiB under a 256 MiB limit",
        status,
        &body,
        "limit_exceeded",
        "limit_exceeded",
    );
    assert!(
        body["stderr"]
            .as_str()
            .unwrap_or_default()
            .ends_with("MemoryError"),
        "{body}"
    );

    let began = Instant::now();
    let (status, body) = run("python/burn.py");
    assert_stopped(
        "a busy loop under 1 s of CPU",
        status,
        &body,
        "limit_exceeded",
        "limit_exceeded",
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "stopped by the CPU limit"
    );
    assert_eq!(app.get("/health").0, 200, "the gateway is still up");
}

const BIG_FILE: &str = r#"with open("big.bin", "wb") as f:
    f.write(b"x" * (3 << 20))
print(json.dumps({"written": 3 << 20}))"#;

/// Python and Node both ignore SIGXFSZ, so the limit surfaces as a failed write (EFBIG).
#[test]
fn file_size_limit_is_reported_as_limit_exceeded() {
    let repo = TestRepo::new();
    repo.write("python/big_file.py", &python(&json!({}), BIG_FILE));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--max-file-size-mb", "1"]);
    let id = script_id(&app, "python/big_file.py");
    let (status, body) = app.get(&format!("/api/scripts/{id}/run"));
    assert_stopped(
        "3 MiB file under a 1 MiB limit",
        status,
        &body,
        "limit_exceeded",
        "limit_exceeded",
    );
}
