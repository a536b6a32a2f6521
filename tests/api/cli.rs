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
    .collect()
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
    let repo = TestRepo::new();
    repo.write(
        "python/hello.py",
        &fixtures::python("Hello.", &fixtures::greet_schema()),
    );
    repo.write(
        "js/tool.js",
        &fixtures::js("Tool.", &fixtures::one_param("x")),
    );
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
