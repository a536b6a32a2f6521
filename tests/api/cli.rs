//! The command line: `scan` and the refusal to serve a public address without a key.

use std::time::Duration;

use crate::helpers::{data_dir, fixtures, run_to_end, serve_args, TestRepo};

const DEADLINE: Duration = Duration::from_secs(60);

fn scan_args(repo: &TestRepo, data: &std::path::Path) -> Vec<String> {
    [
        "scan",
        "--scripts-repo",
        &repo.path().display().to_string(),
        "--data-dir",
        &data.display().to_string(),
        "--schema-timeout-sec",
        "2",
        "--log",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(crate::helpers::catalog_args(data))
    .collect()
}

/// A repository with one loadable script of each runtime.
fn hello_and_tool() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "python/hello.py",
        &fixtures::python("Hello.", &fixtures::greet_schema()),
    );
    repo.write(
        "js/tool.js",
        &fixtures::js("Tool.", &fixtures::one_param("x")),
    );
    repo
}

/// The table line that mentions `path`.
fn line_for<'a>(stdout: &'a str, path: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().any(|word| word == path))
        .unwrap_or_else(|| panic!("no line for {path} in:\n{stdout}"))
}

fn status_word(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find(|w| matches!(*w, "ok" | "error"))
}

#[test]
fn scan_command_prints_every_script_and_exits_zero_when_all_load() {
    let repo = hello_and_tool();
    let data = data_dir();
    let done = run_to_end(&scan_args(&repo, data.path()), DEADLINE);
    assert!(
        done.status.success(),
        "exit {:?}; stdout:\n{}\nstderr:\n{}",
        done.status,
        done.stdout,
        done.stderr
    );
    for path in ["python/hello.py", "js/tool.js"] {
        let line = line_for(&done.stdout, path);
        assert_eq!(status_word(line), Some("ok"), "{line}");
    }
    assert!(
        repo.exists("python/hello._map.json"),
        "the scan wrote the sidecar"
    );
}

#[test]
fn scan_command_exits_non_zero_when_a_script_is_broken() {
    let repo = TestRepo::new();
    repo.write(
        "python/hello.py",
        &fixtures::python("Hello.", &fixtures::greet_schema()),
    );
    repo.write(
        "python/broken.py",
        &fixtures::python_schema_mode("raise RuntimeError('scan-marker')"),
    );
    let data = data_dir();
    let done = run_to_end(&scan_args(&repo, data.path()), DEADLINE);
    assert!(
        !done.status.success(),
        "a broken script fails the scan; stdout:\n{}",
        done.stdout
    );
    assert_eq!(
        status_word(line_for(&done.stdout, "python/hello.py")),
        Some("ok"),
        "{}",
        done.stdout
    );
    let broken = line_for(&done.stdout, "python/broken.py");
    assert_eq!(status_word(broken), Some("error"), "{broken}");
    assert!(
        broken.contains("exited with code 1"),
        "the reason is shown: {broken}"
    );

    repo.write(
        "python/broken.py",
        &fixtures::python("Fixed.", &fixtures::one_param("x")),
    );
    let done = run_to_end(&scan_args(&repo, data.path()), DEADLINE);
    assert!(
        done.status.success(),
        "fixed, the scan passes; stdout:\n{}",
        done.stdout
    );
    assert_eq!(
        status_word(line_for(&done.stdout, "python/broken.py")),
        Some("ok"),
        "{}",
        done.stdout
    );
}

#[test]
fn serving_a_public_address_without_an_api_key_is_refused() {
    let repo = TestRepo::new();
    let data = data_dir();
    let mut args = serve_args(repo.path(), data.path());
    args.extend(["--host", "0.0.0.0"].map(String::from));
    let done = run_to_end(&args, DEADLINE);
    assert!(
        !done.status.success(),
        "it must not serve; stdout:\n{}",
        done.stdout
    );
    assert!(!done.stdout.contains("listening on"), "{}", done.stdout);
    assert!(
        done.stderr.contains("API key"),
        "the message names the API key: {}",
        done.stderr
    );
}

/// The original gateway's database, as its own schema has it, with a few rows.
fn original_database(folder: &std::path::Path) {
    let conn = rusqlite::Connection::open(folder.join("gateway.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE scripts (id INTEGER PRIMARY KEY AUTOINCREMENT, filename TEXT NOT NULL UNIQUE,
             alias_name TEXT, script_type TEXT NOT NULL, file_hash TEXT,
             status_load INTEGER NOT NULL DEFAULT 0, load_error_msg TEXT,
             status_last_run INTEGER NOT NULL DEFAULT 0, args_schema TEXT,
             notify_enabled INTEGER NOT NULL DEFAULT 0, created_at DATETIME NOT NULL,
             updated_at DATETIME NOT NULL);
         CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO scripts (filename, alias_name, script_type, notify_enabled, created_at, updated_at)
             VALUES ('hello.py', 'Greeter', 'python', 1, 'now', 'now'),
                    ('tool.js', NULL, 'js', 1, 'now', 'now'),
                    ('gone.py', 'Old', 'python', 0, 'now', 'now');
         INSERT INTO settings VALUES ('timeout_min', '5'), ('scan_interval', '30'),
             ('notify_url', 'http://hooks.invalid/done'), ('gateway_log_retention_days', '7'),
             ('base_url', 'not a url');",
    )
    .unwrap();
}

#[test]
fn import_original_brings_over_aliases_notifications_and_settings() {
    let repo = hello_and_tool();
    let original = tempfile::tempdir().unwrap();
    original_database(original.path());
    let data = data_dir();
    let mut args = scan_args(&repo, data.path());
    args[0] = "import-original".into();
    args.insert(1, original.path().display().to_string());
    let done = run_to_end(&args, DEADLINE);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    for expected in [
        "imported  python/hello.py: alias \"Greeter\", notifications on",
        "imported  js/tool.js: notifications on",
        "skipped   python/gone.py: not in this scripts folder",
        "imported  setting timeout_min = \"5\" as timeout_sec = 300.0",
        "imported  setting scan_interval = \"30\" as scan_interval_sec = 30",
        "imported  setting notify_url = \"http://hooks.invalid/done\" as notify_url",
        "skipped   setting gateway_log_retention_days: the gateway logs to stderr",
        "skipped   setting base_url = \"not a url\": base_url",
        "5 imported, 3 skipped",
    ] {
        assert!(
            done.stdout.lines().any(|line| line.starts_with(expected)),
            "no line starting {expected:?} in:\n{}",
            done.stdout
        );
    }

    let app = crate::helpers::spawn_app(&repo, data.path(), &[]);
    let hello = app.script_by_path("python/hello.py").unwrap();
    assert_eq!(
        (&hello["alias"], &hello["notify_enabled"]),
        (&serde_json::json!("Greeter"), &serde_json::json!(true))
    );
    let tool = app.script_by_path("js/tool.js").unwrap();
    assert_eq!(
        (&tool["alias"], &tool["notify_enabled"]),
        (&serde_json::Value::Null, &serde_json::json!(true))
    );
    let (_, settings) = app.get("/api/settings");
    let value = |key: &str| settings["settings"][key]["value"].clone();
    assert_eq!(value("timeout_sec"), serde_json::json!(300.0));
    assert_eq!(value("scan_interval_sec"), serde_json::json!(30));
    assert_eq!(
        value("notify_url"),
        serde_json::json!("http://hooks.invalid/done")
    );

    let done = run_to_end(
        &[
            "import-original".to_string(),
            repo.path().display().to_string(),
            "--data-dir".into(),
            data.path().display().to_string(),
        ],
        DEADLINE,
    );
    assert!(
        !done.status.success(),
        "a folder without the original's database is refused"
    );
    assert!(
        done.stderr
            .contains("cannot read the original gateway's database"),
        "{}",
        done.stderr
    );
}
