//! The web UI: served at `/` from the binary with types and `ETag`s, open to every caller,
//! the original gateway's pages redirected; and the browser suite (`tests/ui/run_ui.py`,
//! Playwright over Debian's chromium) against one real gateway, skipped loudly when either
//! tool is missing. `.ci/run` installs both.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::deps_support::{spawn_offline, LocalPackages};
use crate::helpers::{data_dir, spawn_app, wait_for, TestApp, TestRepo};

const KEY: &str = "ui-test-master-key";

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

/// Screenshots go beside the build's other outputs (`target/ui-screenshots/`).
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("ui-screenshots")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("the fixture folder is readable") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            std::fs::create_dir_all(&target).expect("a folder");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a fixture is copied");
        }
    }
}

fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> crate::helpers::RawReply {
    app.raw_call("GET", path, headers, None)
}

#[test]
fn the_ui_is_served_from_the_binary_to_every_caller_with_types_and_etags() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &["--api-key", KEY]);
    let cases = [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/pages/scripts.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ];
    for (path, kind) in cases {
        let reply = get(&app, path, &[]);
        assert_eq!(reply.status, 200, "{path} needs no key");
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let etag = reply.header("etag").expect("an ETag").to_string();
        let again = get(&app, path, &[("If-None-Match", &etag)]);
        assert_eq!(
            again.status, 304,
            "{path} is not sent again while unchanged"
        );
    }
    let page = get(&app, "/", &[]);
    assert!(page.body.contains("/ui/app.js"), "{}", page.body);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(get(&app, "/ui/nothing.js", &[]).status, 404);
    assert_eq!(
        get(&app, "/api/scripts", &[]).status,
        401,
        "the API stays closed"
    );
}

#[test]
fn the_original_gateways_pages_redirect_to_their_new_places() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    for (old, new) in [
        ("/deps.html", "/#/deps"),
        ("/settings.html", "/#/settings"),
        ("/templates.html", "/#/templates"),
        ("/index.html", "/"),
        ("/swagger", "/docs/"),
    ] {
        let reply = get(&app, old, &[]);
        assert_eq!(reply.status, 302, "{old}");
        assert_eq!(reply.header("location"), Some(new), "{old}");
    }
}

/// Why the browser suite cannot run here, if it cannot.
fn missing_browser_tools() -> Option<String> {
    let chromium = std::env::var("SG_UI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "no chromium at {chromium} (apt-get install -y chromium)"
        ));
    }
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match playwright {
        Ok(status) if status.success() => None,
        _ => Some(
            "Playwright for Python is missing (pip install -r tests/ui/requirements.txt)".into(),
        ),
    }
}

#[test]
fn the_web_ui_passes_its_browser_suite_in_chromium() {
    if let Some(why) = missing_browser_tools() {
        eprintln!("SKIPPED the web UI browser suite: {why}");
        return;
    }
    let repo = TestRepo::new();
    copy_tree(&ui_dir().join("fixtures"), repo.path());
    let data = data_dir();
    let packages = LocalPackages::build();
    let app = spawn_offline(
        &repo,
        data.path(),
        &packages,
        &["--api-key", KEY, "--exec-enabled"],
    );
    let shots = screenshot_dir();
    let mut child = Command::new("python3")
        .arg(ui_dir().join("run_ui.py"))
        .env("SG_UI_BASE", &app.address)
        .env("SG_UI_KEY", KEY)
        .env("SG_UI_SHOTS", &shots)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 starts");
    let status = wait_for(Duration::from_secs(600), || {
        child.try_wait().expect("try_wait works")
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the browser suite still ran after 10 minutes");
    };
    assert!(
        status.success(),
        "the browser suite failed (its output is above; screenshots in {}); gateway stderr:\n{}",
        shots.display(),
        app.stderr()
    );
    eprintln!("web UI screenshots: {}", shots.display());
}
