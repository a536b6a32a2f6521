//! Answers to an attacker-minded review: links planted in the repository, hostile names,
//! parameters and bodies. Bad input is a 4xx in the JSON error shape; nothing is written
//! outside its folder, nothing runs that should not, and no memory is spent on junk.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{assert_error, data_dir, spawn_app, TestApp, TestRepo};
use crate::run_support::{
    assert_invalid_param, assert_success, parse_answer, post_multipart, python, query, run_total,
    script_id, Multipart, Raw,
};

/// Every regular file under `dir`, relative, sorted (links are not followed).
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let kind = entry.file_type().expect("a file type");
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(dir).unwrap().to_path_buf();
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// One request over a plain socket with `head` (request line and headers, without the
/// blank line) sent exactly as written, then `body`; the answer, or None on a read timeout.
fn exchange(app: &TestApp, head: &str, body: &[u8], wait: Duration) -> Option<Raw> {
    let host = app.address.strip_prefix("http://").expect("http");
    let mut stream = TcpStream::connect(host).expect("the gateway accepts connections");
    stream.set_read_timeout(Some(wait)).expect("a timeout");
    let head = head.replace("{host}", host);
    let _ = stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut answer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        // A complete answer with Content-Length needs no wait for the close.
        if let Some(raw) = parse_answer(&answer) {
            let length = raw.header("content-length").and_then(|l| l.parse().ok());
            if length == Some(raw.body.len()) {
                return Some(raw);
            }
        }
    }
    parse_answer(&answer)
}

const SIDECAR_SCHEMA: &str = r#"{"who": {"flag": "--who", "type": "str"}}"#;

#[test]
fn the_sidecar_writer_never_writes_through_a_planted_link() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, "untouched\n").unwrap();
    symlink(&victim, repo.abs("python/tool._map.json.tmp")).unwrap();
    let schema: Value = serde_json::from_str(SIDECAR_SCHEMA).unwrap();
    repo.write("python/tool.py", &python(&schema, "print(json.dumps({}))"));

    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    script_id(&app, "python/tool.py");

    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "untouched\n",
        "the file the planted link points to is unchanged"
    );
    let sidecar = repo.abs("python/tool._map.json");
    let meta = std::fs::symlink_metadata(&sidecar).expect("the sidecar exists");
    assert!(meta.file_type().is_file(), "the sidecar is a regular file");
    assert_eq!(repo.sidecar("python/tool._map.json"), Some(schema));
}

const INSIDE: &str = "print(json.dumps({\"who\": \"inside\"}))";

#[test]
fn a_script_swapped_for_a_link_is_refused_and_its_target_never_runs() {
    let repo = TestRepo::new();
    let schema: Value = serde_json::from_str(SIDECAR_SCHEMA).unwrap();
    repo.write("python/tool.py", &python(&schema, INSIDE));
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("ran.txt");
    let evil = format!(
        "open({:?}, \"w\").write(\"ran\")\nprint(json.dumps({{\"who\": \"OUTSIDE\"}}))",
        marker.display().to_string()
    );
    std::fs::write(outside.path().join("evil.py"), python(&schema, &evil)).unwrap();
    let data = data_dir();
    // A slow watcher: the catalog still lists the old file when the run comes.
    let app = spawn_app(&repo, data.path(), &["--watch-debounce-ms", "10000"]);
    let id = script_id(&app, "python/tool.py");
    let run = format!("/api/scripts/{id}/run");
    let (status, body) = app.post(&run, &json!({"who": "x"}));
    assert_success("before the swap", status, &body);
    let before = run_total(&app);

    let link = repo.abs("python/.tool.py.link");
    symlink(outside.path().join("evil.py"), &link).unwrap();
    std::fs::rename(&link, repo.abs("python/tool.py")).unwrap();
    let (status, body) = app.post(&run, &json!({"who": "x"}));

    assert_error(
        "a script that is now a link",
        status,
        &body,
        409,
        "script_changed",
    );
    assert!(!marker.exists(), "the link's target never ran");
    assert!(!body.to_string().contains("OUTSIDE"), "{body}");
    assert_eq!(run_total(&app), before, "a refused run is not recorded");
}

#[test]
fn overlong_script_names_answer_400_invalid_path() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let long = format!("{}.py", "a".repeat(300));
    let deep = format!("python/{}x.py", format!("{}/", "d".repeat(200)).repeat(10));
    let content = "if __name__ == \"__main__\":\n    print(1)\n";
    let upload = Multipart::new().file("file", &long, content.as_bytes());
    let upload_path =
        Multipart::new()
            .text("path", &deep)
            .file("file", "ok.py", content.as_bytes());
    let cases: Vec<(&str, (u16, Value))> = vec![
        (
            "POST /api/scripts, a 300-byte file name",
            app.post(
                "/api/scripts",
                &json!({"path": format!("python/{long}"), "content": content}),
            ),
        ),
        (
            "POST /api/scripts, a 2 KB path",
            app.post("/api/scripts", &json!({"path": deep, "content": content})),
        ),
        (
            "POST /api/scripts/create, a 300-byte file name",
            app.post(
                "/api/scripts/create",
                &json!({"runtime": "python", "filename": long, "content": content}),
            ),
        ),
        (
            "upload, a 300-byte file name",
            post_multipart(&app, "/api/scripts/upload", upload),
        ),
        (
            "upload, a 2 KB path",
            post_multipart(&app, "/api/scripts/upload", upload_path),
        ),
    ];
    for (what, (status, body)) in cases {
        assert_error(what, status, &body, 400, "invalid_path");
    }
    assert!(app.all_scripts().is_empty(), "nothing was created");
}

#[test]
fn a_nul_byte_in_a_parameter_is_400_and_records_no_run() {
    let repo = TestRepo::new();
    let schema = json!({"name": {"flag": "--name", "type": "str"}, "raw": {"flag": "--raw", "type": "json"}});
    repo.write(
        "python/echo.py",
        &python(&schema, "print(json.dumps(sys.argv[1:]))"),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/echo.py");
    let run = format!("/api/scripts/{id}/run");
    let before = run_total(&app);
    let get = format!("{run}?{}", query(&[("name", "a\0b")]));
    let form = Multipart::new().text("name", "a\0b");
    let cases: Vec<(&str, (u16, Value))> = vec![
        ("JSON", app.post(&run, &json!({"name": "a\u{0}b"}))),
        ("query string", app.get(&get)),
        ("multipart text", post_multipart(&app, &run, form)),
    ];
    for (what, (status, body)) in cases {
        assert_invalid_param(what, status, &body, "name");
    }
    assert_eq!(run_total(&app), before, "no run was recorded");
    let (status, body) = app.post(&run, &json!({"raw": {"text": "a\u{0}b"}}));
    assert_success("a NUL inside JSON is escaped, not raw", status, &body);
}

/// A script may print any bytes: NUL in its output, its error stream and its live lines is kept
/// as printed (the catalog on PostgreSQL, whose text cannot hold NUL, included).
#[test]
fn nul_bytes_a_script_prints_are_kept_as_printed() {
    let repo = TestRepo::new();
    repo.write(
        "python/nul.py",
        &python(
            &json!({}),
            "sys.stderr.write('err\\0or \\ufffe kept')\n\
             sys.stdout.write('not json \\0 here\\n')\n\
             sys.exit(3)",
        ),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/nul.py");
    let (status, body) = app.post(&format!("/api/scripts/{id}/run"), &json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_status"], json!("error"), "{body}");
    assert_eq!(body["stderr"], json!("err\u{0}or \u{fffe} kept"), "{body}");
    let run_id = body["run_id"].as_i64().unwrap();
    let (status, run) = app.get(&format!("/api/runs/{run_id}"));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["stderr"], json!("err\u{0}or \u{fffe} kept"), "{run}");
    assert_eq!(
        run["stdout_preview"],
        json!("not json \u{0} here\n"),
        "{run}"
    );
}

#[test]
fn unknown_upload_fields_are_never_written_and_are_listed_as_ignored() {
    let repo = TestRepo::new();
    let schema = json!({"doc": {"flag": "--doc", "type": "file"}, "label": {"flag": "--label", "type": "str"}});
    repo.write(
        "python/size.py",
        &python(
            &schema,
            "print(json.dumps({\"size\": os.path.getsize(sys.argv[2])}))",
        ),
    );
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/size.py");
    let mut form = Multipart::new().file("doc", "doc.bin", &[7u8; 1000]);
    for i in 0..300 {
        form = form.file(&format!("junk{i}"), &format!("junk{i}.bin"), &[1u8; 2000]);
    }
    let (status, body) = post_multipart(&app, &format!("/api/scripts/{id}/run"), form);
    assert_success("a run with unknown file fields", status, &body);
    assert_eq!(body["data"]["size"], json!(1000));
    let run_id = body["run_id"].as_i64().unwrap();

    let written = files_under(&data.path().join("runs"));
    let junk: Vec<_> = written.iter().filter(|f| f.contains("junk")).collect();
    assert!(junk.is_empty(), "unknown uploads were written: {junk:?}");
    let (_, record) = app.get(&format!("/api/runs/{run_id}"));
    let ignored = record["ignored_params"].as_array().expect("ignored_params");
    assert_eq!(ignored.len(), 300, "{record}");
    assert!(ignored.contains(&json!("junk7")), "{record}");
}

#[test]
fn too_many_multipart_parts_answer_413_on_both_readers() {
    let repo = TestRepo::new();
    let schema = json!({"label": {"flag": "--label", "type": "str"}});
    repo.write("python/t.py", &python(&schema, "print(json.dumps({}))"));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/t.py");
    let many = |first: Multipart| (0..5000).fold(first, |form, i| form.text(&format!("x{i}"), "y"));
    let content = "if __name__ == \"__main__\":\n    print(1)\n";
    let run_form = many(Multipart::new());
    let upload_form = many(Multipart::new().file("file", "new.py", content.as_bytes()));
    let cases = [
        (
            "run",
            post_multipart(&app, &format!("/api/scripts/{id}/run"), run_form),
        ),
        (
            "upload",
            post_multipart(&app, "/api/scripts/upload", upload_form),
        ),
    ];
    for (what, (status, body)) in cases {
        assert_error(what, status, &body, 413, "payload_too_large");
    }
    assert!(!repo.exists("python/new.py"), "the upload was refused");
}

#[test]
fn the_script_upload_skips_unknown_fields_and_caps_its_body() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let content = "if __name__ == \"__main__\":\n    print(1)\n";
    let junk = vec![b'z'; 4 * 1024 * 1024];
    let form = Multipart::new()
        .file("file", "big.py", content.as_bytes())
        .file("junk", "junk.bin", &junk)
        .file("more", "more.bin", &junk);
    let (status, body) = post_multipart(&app, "/api/scripts/upload", form);
    assert_error(
        "8 MiB of junk beside a script",
        status,
        &body,
        413,
        "payload_too_large",
    );
    assert!(!repo.exists("python/big.py"));
}

/// A JSON run body of `size` bytes: `{"text": "xxx…"}`.
fn json_body(size: usize) -> Vec<u8> {
    let mut body = b"{\"text\": \"".to_vec();
    body.resize(size - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn json_run_bodies_over_the_cap_answer_413_early() {
    let repo = TestRepo::new();
    let schema = json!({"text": {"flag": "--text", "type": "str"}, "doc": {"flag": "--doc", "type": "file"}});
    let body = "doc = sys.argv[sys.argv.index(\"--doc\") + 1] if \"--doc\" in sys.argv else None\n\
                print(json.dumps({\"size\": doc and os.path.getsize(doc)}))";
    repo.write("python/len.py", &python(&schema, body));
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let id = script_id(&app, "python/len.py");
    let run = format!("/api/scripts/{id}/run");
    let settings = app.get("/api/settings").1;
    assert_eq!(
        settings["settings"]["max_json_body_bytes"]["value"],
        json!(1024 * 1024),
        "{settings}"
    );
    let over = json_body(1024 * 1024 + 1);
    let wait = Duration::from_secs(20);
    let with_length = format!(
        "POST {run} HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}",
        over.len()
    );
    let chunked_head = format!(
        "POST {run} HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked"
    );
    // Announced as 99 MB, but only a few bytes come: the answer must not wait for the rest.
    let announced = format!(
        "POST {run} HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: 99000000"
    );
    let cases = [
        ("Content-Length", exchange(&app, &with_length, &over, wait)),
        (
            "chunked",
            exchange(&app, &chunked_head, &chunked(&over), wait),
        ),
        (
            "99 MB announced",
            exchange(&app, &announced, b"{\"text\": \"", Duration::from_secs(5)),
        ),
    ];
    for (what, answer) in cases {
        let answer = answer.unwrap_or_else(|| panic!("{what}: no answer in time"));
        assert_error(
            what,
            answer.status,
            &answer.json(),
            413,
            "payload_too_large",
        );
    }

    let at_cap = json_body(64 * 1024);
    let (status, body) = crate::run_support::post_as(&app, &run, "application/json", &at_cap);
    assert_success("a JSON body under the cap", status, &body);
    let form = Multipart::new().file("doc", "big.bin", &vec![b'a'; 2 * 1024 * 1024]);
    let (status, body) = post_multipart(&app, &run, form);
    assert_success("a 2 MiB upload is not held to the JSON cap", status, &body);
    assert_eq!(body["data"]["size"], json!(2 * 1024 * 1024));

    let reply = app.call(
        "PUT",
        "/api/settings",
        &[],
        Some(&json!({"max_json_body_bytes": 2048})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (status, body) =
        crate::run_support::post_as(&app, &run, "application/json", &json_body(3000));
    assert_error(
        "over a lowered cap",
        status,
        &body,
        413,
        "payload_too_large",
    );
}

/// Answers actix itself builds inside the app (here Swagger UI's file service) get the JSON
/// shape too. The HTTP/1 dispatcher's own answers (400 for an unparsable request line or
/// `Content-Length`, 431 for huge headers) are written before the app and stay bodiless.
#[test]
fn http_layer_errors_that_reach_the_app_answer_in_the_json_shape() {
    let repo = TestRepo::new();
    let data = data_dir();
    let app = spawn_app(&repo, data.path(), &[]);
    let cases = [
        (
            "a Swagger UI file that does not exist",
            "/docs/nothing.js",
            404,
            "not_found",
        ),
        (
            "a path that climbs out of Swagger UI",
            "/docs/index.css/..",
            404,
            "not_found",
        ),
    ];
    for (what, path, status, code) in cases {
        let raw = crate::run_support::raw_http(&app, "GET", path, &[], b"");
        assert_error(what, raw.status, &raw.json(), status, code);
    }
}
