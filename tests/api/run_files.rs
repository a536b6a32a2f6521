//! What goes into a run and comes out of it as files: uploads, files the script writes,
//! raw stdout, the run's environment, and downloads that must never leave the run folder.

use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{assert_error_shape, data_dir, spawn_app, spawn_app_with_env, TestRepo};
use crate::run_support::{
    assert_invalid_param, assert_success, get_bytes, md5_hex, noise, post_multipart, python,
    raw_http, run_dir, run_total, script_id, Multipart,
};

const HASH_UPLOAD: &str = r#"import hashlib
path = sys.argv[sys.argv.index("--blob") + 1]
with open(path, "rb") as f:
    content = f.read()
label = sys.argv[sys.argv.index("--label") + 1] if "--label" in sys.argv else None
print(json.dumps({"md5": hashlib.md5(content).hexdigest(), "size": len(content), "path": path, "label": label}))"#;

#[test]
fn uploaded_binary_reaches_the_script_intact_inside_its_run_folder() {
    let repo = TestRepo::new();
    let schema = json!({
        "blob": {"flag": "--blob", "type": "file", "required": true},
        "label": {"flag": "--label", "type": "str"},
        "count": {"flag": "--count", "type": "int"}
    });
    repo.write("python/hash.py", &python(&schema, HASH_UPLOAD));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/hash.py");
    let run = format!("/api/scripts/{id}/run");
    let bytes = noise(300_000);
    assert!(bytes.contains(&0), "the upload holds NUL bytes");

    let form =
        Multipart::new()
            .text("label", "first")
            .file("blob", "../../we ird;name.bin", &bytes);
    let (status, body) = post_multipart(&app, &run, form);
    assert_success("upload", status, &body);
    let run_id = body["run_id"].as_i64().expect("a run id");
    assert_eq!(body["data"]["md5"], json!(md5_hex(&bytes)), "same bytes");
    assert_eq!(body["data"]["size"], json!(300_000));
    assert_eq!(body["data"]["label"], json!("first"));
    let got = Path::new(body["data"]["path"].as_str().expect("a path"));
    assert!(got.is_absolute(), "{got:?}");
    assert!(
        got.starts_with(run_dir(data.path(), run_id)),
        "the file is inside DATA_DIR/runs/{run_id}/: {got:?}"
    );
    assert_eq!(
        got.file_name().and_then(|n| n.to_str()),
        Some("we ird_name.bin")
    );

    let (status, history) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        history["params"],
        json!({"blob": {"file": "we ird_name.bin", "size": 300_000}, "label": "first"}),
        "the history shows the upload by name"
    );
    let shown = history["params"].to_string();
    assert!(
        !shown.contains("/runs/") && !shown.contains(&data.path().display().to_string()),
        "{shown}"
    );

    let (status, body) = post_multipart(&app, &run, Multipart::new().file("blob", "b.bin", b""));
    assert_success("an empty upload", status, &body);
    assert_eq!(body["data"]["md5"], json!(md5_hex(b"")));

    let before = run_total(&app);
    let refused = Multipart::new()
        .file("blob", "c.bin", &bytes)
        .text("count", "many");
    let (status, body) = post_multipart(&app, &run, refused);
    assert_invalid_param("an upload with a bad sibling", status, &body, "count");
    let (status, body) = post_multipart(&app, &run, Multipart::new().text("label", "x"));
    assert_invalid_param("a required upload missing", status, &body, "blob");
    assert_eq!(run_total(&app), before, "refused uploads log no run");
    let staging = data.path().join("runs/.staging");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "refused uploads are not kept: {left:?}");
}

const WRITE_FILES: &str = r#"os.makedirs("sub", exist_ok=True)
with open("out.csv", "w") as f:
    f.write("a,b\n1,2\n")
with open("sub/chart.txt", "wb") as f:
    f.write(bytes(range(256)))
os.symlink("/etc/passwd", "leak")
os.symlink("/", "rootlink")
print(json.dumps({"written": 2}))"#;

const PNG_OUT: &str = r#"header = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
sys.stdout.buffer.write(header + bytes(range(256)) + b"\n\x00\x00")
sys.stdout.flush()"#;

fn png_bytes() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89".to_vec();
    bytes.extend(0..=255u8);
    bytes.extend_from_slice(b"\n\x00\x00");
    bytes
}

#[test]
fn created_files_and_raw_stdout_are_downloadable_byte_for_byte() {
    let repo = TestRepo::new();
    repo.write("python/files.py", &python(&json!({}), WRITE_FILES));
    repo.write("python/png.py", &python(&json!({}), PNG_OUT));
    repo.write(
        "python/text.py",
        &python(&json!({}), "print(\"hello\")\nprint(\"world\")"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let run = |path: &str| app.get(&format!("/api/scripts/{}/run", script_id(&app, path)));

    let (status, body) = run("python/files.py");
    assert_success("files", status, &body);
    let id = body["run_id"].as_i64().expect("a run id");
    assert_eq!(body["data"], json!({"written": 2}));
    assert_eq!(
        body["files"],
        json!([
            {"name": "out.csv", "size": 8, "url": format!("/api/runs/{id}/files/out.csv")},
            {"name": "sub/chart.txt", "size": 256, "url": format!("/api/runs/{id}/files/sub/chart.txt")}
        ]),
        "regular files only; links are not listed"
    );
    let expected: [(&str, Vec<u8>); 2] = [
        ("out.csv", b"a,b\n1,2\n".to_vec()),
        ("sub/chart.txt", (0..=255u8).collect()),
    ];
    for (name, bytes) in expected {
        let download = get_bytes(&app, &format!("/api/runs/{id}/files/{name}"));
        assert_eq!(download.status, 200, "{name}");
        assert_eq!(download.body, bytes, "{name} downloads byte for byte");
    }
    let (_, history) = app.get(&format!("/api/runs/{id}"));
    assert_eq!(
        history["files"], body["files"],
        "the history lists the same files"
    );

    let (status, body) = run("python/png.py");
    assert_success("png", status, &body);
    let id = body["run_id"].as_i64().expect("a run id");
    let png = png_bytes();
    assert_eq!(body["type"], json!("file"), "{body}");
    assert_eq!(
        body["url"],
        json!(format!("/api/runs/{id}/output")),
        "{body}"
    );
    assert_eq!(body["content_type"], json!("image/png"), "{body}");
    assert_eq!(body["filename"], json!("output.png"), "{body}");
    assert_eq!(body["size"], json!(png.len()), "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let download = get_bytes(&app, &format!("/api/runs/{id}/output"));
    assert_eq!(download.status, 200);
    assert_eq!(download.header("content-type"), Some("image/png"));
    assert_eq!(download.body, png, "raw stdout downloads byte for byte");

    let (status, body) = run("python/text.py");
    assert_success("text", status, &body);
    let id = body["run_id"].as_i64().expect("a run id");
    assert_eq!(body["type"], json!("file"), "{body}");
    assert_eq!(
        body["content_type"],
        json!("text/plain; charset=utf-8"),
        "{body}"
    );
    assert_eq!(body["stdout_preview"], json!("hello\nworld\n"), "{body}");
    let download = get_bytes(&app, &format!("/api/runs/{id}/output"));
    assert_eq!(download.body, b"hello\nworld\n");
    let (_, history) = app.get(&format!("/api/runs/{id}"));
    assert_eq!(
        history["stdout_preview"],
        json!("hello\nworld\n"),
        "{history}"
    );
}

#[test]
fn run_file_urls_never_leave_the_run_folder() {
    let repo = TestRepo::new();
    repo.write("python/files.py", &python(&json!({}), WRITE_FILES));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let path = format!("/api/scripts/{}/run", script_id(&app, "python/files.py"));
    let (status, other) = app.get(&path);
    assert_success("the other run", status, &other);
    let other = other["run_id"].as_i64().expect("a run id");
    let (status, body) = app.get(&path);
    assert_success("files", status, &body);
    let id = body["run_id"].as_i64().expect("a run id");
    let base = format!("/api/runs/{id}/files");
    let targets = [
        format!("{base}/../../gateway.db"),
        format!("{base}/../../../gateway.db"),
        format!("{base}/..%2f..%2f..%2fgateway.db"),
        format!("{base}/%2e%2e%2f%2e%2e%2f%2e%2e%2fgateway.db"),
        format!("{base}/%2e%2e/%2e%2e/%2e%2e/gateway.db"),
        format!("{base}/sub/../../../../gateway.db"),
        format!("{base}/out.csv/../../../gateway.db"),
        format!("{base}/../../{other}/work/out.csv"),
        format!("{base}//etc/passwd"),
        format!("{base}/%2fetc%2fpasswd"),
        format!("{base}/%2Fetc%2Fpasswd"),
        format!("{base}/leak"),
        format!("{base}/rootlink/etc/passwd"),
        format!("{base}/sub"),
        format!("{base}/"),
        format!("{base}/..%5c..%5c..%5cgateway.db"),
        format!("{base}/out.csv%00.txt"),
    ];
    for target in &targets {
        let reply = raw_http(&app, "GET", target, &[], b"");
        assert!(
            reply.status == 404 || reply.status == 400,
            "{target}: status {} body {:?}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        let text = String::from_utf8_lossy(&reply.body);
        assert!(
            !text.contains("root:") && !text.contains("SQLite format"),
            "{target} leaked content: {text}"
        );
        assert_error_shape(target, &reply.json());
    }
    let fine = raw_http(&app, "GET", &format!("{base}/sub/chart.txt"), &[], b"");
    assert_eq!(fine.status, 200, "a real file still downloads");
}

const AWKWARD_NAMES: &str = r#"names = ["a b.txt", "hash#1.txt", "q?.txt", "100%.txt", "pct%2e.txt", "plus+.txt", "\u00fcn\u00ef.txt"]
for name in names:
    with open(name, "w") as f:
        f.write("content of " + name)
with open(b"\xff.bin", "wb") as f:
    f.write(b"content of a non-UTF-8 name")
print(json.dumps(names))"#;

/// A client follows `files[].url` as given, the way a browser follows a link.
#[test]
fn every_listed_file_url_downloads_that_file_as_given() {
    let repo = TestRepo::new();
    repo.write("python/names.py", &python(&json!({}), AWKWARD_NAMES));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let (status, body) = app.get(&format!(
        "/api/scripts/{}/run",
        script_id(&app, "python/names.py")
    ));
    assert_success("awkward names", status, &body);
    let files = body["files"].as_array().expect("a file list");
    // A name that is not UTF-8 could never be asked for by URL, so it is not listed.
    assert_eq!(files.len(), 7, "{body}");
    assert!(
        files
            .iter()
            .all(|f| !f["name"].as_str().unwrap_or_default().ends_with(".bin")),
        "{body}"
    );
    let mut broken = Vec::new();
    for file in files {
        let name = file["name"].as_str().expect("a name");
        let url = file["url"].as_str().expect("a url");
        let download = get_bytes(&app, url);
        let expected = format!("content of {name}");
        if download.status != 200 || download.body != expected.as_bytes() {
            broken.push(format!("{name:?} at {url:?} -> {}", download.status));
        }
    }
    assert!(
        broken.is_empty(),
        "listed files whose url does not fetch them: {broken:#?}"
    );
}

const ENV_DUMP: &str = r#"print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}))"#;

#[test]
fn runs_get_a_clean_environment_without_the_gateways_secrets() {
    let repo = TestRepo::new();
    repo.write("python/env.py", &python(&json!({}), ENV_DUMP));
    let data = data_dir();
    let secrets = [("SECRET_TOKEN", "hunter2"), ("SG_API_KEY", "k-sekrit-42")];
    let app = spawn_app_with_env(&repo, data.path(), &[], &secrets);
    let key = [("X-API-Key", "k-sekrit-42")];
    let scripts = app.call("GET", "/api/scripts", &key, None);
    assert_eq!(scripts.status, 200, "{:?}", scripts.body);
    let id = scripts.body["items"][0]["id"].as_i64().expect("an id");
    let path = format!("/api/scripts/{id}/run");
    assert_eq!(app.get(&path).0, 401, "runs need the key");

    let reply = app.call("GET", &path, &key, None);
    assert_success("env dump", reply.status, &reply.body);
    let run_id = reply.body["run_id"].as_i64().expect("a run id");
    let env = reply.body["data"]["env"]
        .as_object()
        .unwrap_or_else(|| panic!("an env object: {:?}", reply.body));
    let dump = Value::Object(env.clone()).to_string();
    for (name, value) in secrets {
        assert!(!env.contains_key(name), "{name} leaked: {dump}");
        assert!(!dump.contains(value), "the value of {name} leaked: {dump}");
    }
    let work = run_dir(data.path(), run_id).join("work");
    let text = |name: &str| {
        env.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        text("HOME"),
        work.display().to_string(),
        "HOME is the run's work folder"
    );
    assert_eq!(reply.body["data"]["cwd"], json!(work.display().to_string()));
    assert_eq!(text("SG_RUN_ID"), run_id.to_string());
    assert_eq!(text("SG_SCRIPT_ID"), id.to_string());
    assert_eq!(text("SG_SCRIPT_PATH"), "python/env.py");
    assert!(text("PATH").contains("/bin"), "{dump}");
    assert!(
        Path::new(&text("TMPDIR")).starts_with(run_dir(data.path(), run_id)),
        "TMPDIR is the run's own: {dump}"
    );
    let unexpected: Vec<&String> = env
        .keys()
        .filter(|k| {
            k.starts_with("SG_")
                && !["SG_RUN_ID", "SG_SCRIPT_ID", "SG_SCRIPT_PATH"].contains(&k.as_str())
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "no other SG_ variables: {unexpected:?}"
    );
}
