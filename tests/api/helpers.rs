//! The black-box harness: a temporary scripts repository, the real `script-gateway`
//! binary started on port 0 against it, and a small JSON client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

/// The binary under test, built by cargo for this test target.
pub const BIN: &str = env!("CARGO_BIN_EXE_script-gateway");

/// How long a server may take to print its `listening on` line.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// How long anything the tests wait for (a rescan, a restart) may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// A `scripts_repo` in a temporary folder, with its `python/` and `js/` folders.
pub struct TestRepo {
    dir: TempDir,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::Builder::new()
            .prefix("sg-repo-")
            .tempdir()
            .expect("a temporary folder can be created");
        for runtime in ["python", "js"] {
            std::fs::create_dir_all(dir.path().join(runtime)).expect("runtime folder");
        }
        TestRepo { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn abs(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file atomically (a hidden temporary file renamed into place), so a scan
    /// that races the write sees either the old or the new content, never half of it.
    pub fn write(&self, relative: &str, content: &str) {
        let path = self.abs(relative);
        let folder = path.parent().expect("a file has a folder");
        std::fs::create_dir_all(folder).expect("folders can be created");
        let name = path.file_name().expect("a file name").to_string_lossy();
        let temporary = folder.join(format!(".{name}.writing"));
        std::fs::write(&temporary, content).expect("the file can be written");
        std::fs::rename(&temporary, &path).expect("the file can be renamed into place");
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.abs(relative)).expect("the file can be removed");
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.abs(relative).exists()
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.abs(relative))
            .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
    }

    /// The sidecar a loaded script gets, parsed.
    pub fn sidecar(&self, relative_sidecar: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.abs(relative_sidecar)).ok()?;
        Some(serde_json::from_str(&text).expect("a sidecar is JSON"))
    }
}

/// A fresh, empty data folder.
pub fn data_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("sg-data-")
        .tempdir()
        .expect("a temporary folder can be created")
}

/// A running gateway; dropping it stops the process.
pub struct TestApp {
    pub address: String,
    /// From spawning the process to its `listening on` line (the first scan runs after it).
    pub startup: Duration,
    child: Child,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
    repo: PathBuf,
    data: PathBuf,
    extra_args: Vec<String>,
    envs: Vec<(String, String)>,
}

/// An HTTP answer: status, parsed JSON body (or the raw text as a JSON string), headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Starts `script-gateway serve` on port 0 over `repo` and `data`, with a 2 s schema
/// timeout, no periodic rescans, and `extra_args` last (so they can override); returns once
/// the first scan is done (`/ready` answers 200).
pub fn spawn_app(repo: &TestRepo, data: &Path, extra_args: &[&str]) -> TestApp {
    spawn_app_with_env(repo, data, extra_args, &[])
}

/// `spawn_app` that returns as soon as the gateway listens, its first scan still running.
pub fn spawn_app_listening(repo: &TestRepo, data: &Path, extra_args: &[&str]) -> TestApp {
    start(
        repo.path().to_path_buf(),
        data.to_path_buf(),
        extra_args.iter().map(|a| a.to_string()).collect(),
        Vec::new(),
        false,
    )
}

/// `spawn_app` with extra environment variables for the gateway process.
pub fn spawn_app_with_env(
    repo: &TestRepo,
    data: &Path,
    extra_args: &[&str],
    envs: &[(&str, &str)],
) -> TestApp {
    start(
        repo.path().to_path_buf(),
        data.to_path_buf(),
        extra_args.iter().map(|a| a.to_string()).collect(),
        envs.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        true,
    )
}

/// The argv of `serve` every test server uses.
///
/// `SG_TEST_EXECUTION_MODE=warm` runs every test server in warm mode (CI runs the run tests
/// once in each mode). `SG_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres` puts every test
/// server's catalog on that PostgreSQL server (CI runs the API tests once more that way).
pub fn serve_args(repo: &Path, data: &Path) -> Vec<String> {
    let mode = std::env::var("SG_TEST_EXECUTION_MODE").unwrap_or_else(|_| "cold".into());
    let database = catalog_args(data);
    [
        "serve",
        "--port",
        "0",
        "--scripts-repo",
        &repo.display().to_string(),
        "--data-dir",
        &data.display().to_string(),
        "--scan-interval-sec",
        "0",
        "--schema-timeout-sec",
        "2",
        "--log",
        "warn",
        "--execution-mode",
        &mode,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(database)
    .collect()
}

/// `--database URL` when `SG_TEST_POSTGRES` names a PostgreSQL server, else nothing: every
/// command a test runs over `data` then uses the same catalog.
pub fn catalog_args(data: &Path) -> Vec<String> {
    std::env::var("SG_TEST_POSTGRES")
        .map(|server| vec!["--database".to_string(), postgres_database(&server, data)])
        .unwrap_or_default()
}

/// The URL of this data folder's own database on the PostgreSQL server at `server` (its
/// `postgres` database), created on first use: a restarted test server finds its catalog.
fn postgres_database(server: &str, data: &Path) -> String {
    use md5::{Digest, Md5};
    let digest = hex::encode(Md5::digest(data.as_os_str().as_encoded_bytes()));
    let name = format!("sg_{}", &digest[..16]);
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                server,
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs (SG_TEST_POSTGRES needs PostgreSQL's client)");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    if psql(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{name}'"
    ))
    .is_empty()
    {
        psql(&format!("CREATE DATABASE {name}"));
    }
    let (base, _) = server.rsplit_once('/').expect("a URL ending in /DATABASE");
    format!("{base}/{name}")
}

/// `base` without the flags (and their values) that `extra` sets again: clap refuses a
/// flag given twice.
fn overridden(base: Vec<String>, extra: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut base = base.into_iter();
    while let Some(arg) = base.next() {
        if arg.starts_with("--") && extra.contains(&arg) {
            base.next();
        } else {
            kept.push(arg);
        }
    }
    kept
}

fn start(
    repo: PathBuf,
    data: PathBuf,
    extra_args: Vec<String>,
    envs: Vec<(String, String)>,
    until_ready: bool,
) -> TestApp {
    let began = Instant::now();
    let mut child = gateway_command(&overridden(serve_args(&repo, &data), &extra_args))
        .args(&extra_args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .spawn()
        .expect("the gateway binary starts");
    let stderr = drain_to_buffer(child.stderr.take().expect("stderr is piped"));
    let lines = forward_lines(child.stdout.take().expect("stdout is piped"));
    let address = loop {
        let left = STARTUP_DEADLINE.saturating_sub(began.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(address) = line.trim().strip_prefix("listening on ") {
                    break address.to_string();
                }
            }
            Err(why) => {
                let _ = child.kill();
                let status = child.wait().ok();
                // The pipe is closed now; let the stderr reader finish.
                wait_until(Duration::from_secs(2), || Arc::strong_count(&stderr) == 1);
                panic!(
                    "the gateway never printed `listening on` ({why:?}, exit: {status:?}); stderr:\n{}",
                    stderr.lock().expect("stderr buffer").as_str()
                );
            }
        }
    };
    let app = TestApp {
        address,
        startup: began.elapsed(),
        child,
        stderr,
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build(),
        repo,
        data,
        extra_args,
        envs,
    };
    if until_ready {
        let left = STARTUP_DEADLINE.saturating_sub(began.elapsed());
        let ready = wait_until(left, || app.get("/ready").0 == 200);
        assert!(
            ready,
            "the first scan never ended; stderr:\n{}",
            app.stderr()
        );
    }
    app
}

/// `script-gateway ARGS` with piped output and a stable environment: none of the
/// gateway's own variables (`SG_*`, `SCAN_INTERVAL_SEC`, ...) leak in from the shell.
pub fn gateway_command(args: &[String]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        let contract_env = ["SCAN_INTERVAL_SEC", "TIMEOUT_MIN", "NOTIFY_URL", "BASE_URL"];
        if key.starts_with("SG_") || contract_env.contains(&key.as_str()) {
            command.env_remove(key);
        }
    }
    command
}

/// Reads `pipe` line by line on a thread and sends each line.
fn forward_lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining so the child never blocks.
                continue;
            }
        }
    });
    rx
}

fn drain_to_buffer(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = buffer.clone();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            let mut sink = sink.lock().expect("stderr buffer");
            sink.push_str(&line);
            sink.push('\n');
        }
    });
    buffer
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let reply = self.call("GET", path, &[], None);
        (reply.status, reply.body)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let reply = self.call("POST", path, &[], Some(body));
        (reply.status, reply.body)
    }

    /// Any request; 4xx/5xx answers are returned, not turned into errors.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.agent.request(method, &self.url(path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some(body) => request.send_json(body.clone()),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!(
                "{method} {path} failed: {error}; stderr:\n{}",
                self.stderr()
            ),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .map(|name| {
                let value = response.header(&name).unwrap_or_default().to_string();
                (name, value)
            })
            .collect();
        let text = response.into_string().expect("the body is readable text");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Sends one HTTP/1.1 request over a plain socket with `target` written exactly as
    /// given: no client normalises it (ureq's URL parser resolves `..` and `.` segments).
    /// The body of an answer without a `Content-Length` (a stream), or to `HEAD`, is not read.
    pub fn raw_call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> RawReply {
        let host = self.address.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).expect("the gateway accepts connections");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout can be set");
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream
            .write_all(request.as_bytes())
            .expect("the request can be sent");
        read_raw_reply(&mut BufReader::new(stream), method != "HEAD")
            .unwrap_or_else(|| panic!("{method} {target}: no HTTP answer"))
    }

    /// The script with this path, if listed.
    pub fn script_by_path(&self, path: &str) -> Option<Value> {
        self.all_scripts()
            .into_iter()
            .find(|s| s["path"] == json!(path))
    }

    /// Every listed script, sorted by path.
    pub fn all_scripts(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/scripts?page_size=500");
        assert_eq!(status, 200, "listing scripts: {body}");
        body["items"].as_array().expect("items is an array").clone()
    }

    /// Every listed path, in listing order.
    pub fn paths(&self) -> Vec<String> {
        paths_of(&self.all_scripts())
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// Stops this server and starts a new one on the same repository and data folder.
    pub fn restart(self) -> TestApp {
        self.restart_after(|| {})
    }

    /// Stops this server, runs `between` while it is down, and starts a new one on the
    /// same repository, data folder, flags and environment.
    pub fn restart_after(mut self, between: impl FnOnce()) -> TestApp {
        self.stop();
        between();
        let repo = std::mem::take(&mut self.repo);
        let data = std::mem::take(&mut self.data);
        let extra_args = std::mem::take(&mut self.extra_args);
        let envs = std::mem::take(&mut self.envs);
        drop(self);
        start(repo, data, extra_args, envs, true)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An answer read off a raw socket: status, headers, and the body text when it had a length.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_raw_reply(reader: &mut impl BufRead, with_body: bool) -> Option<RawReply> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = vec![0; length.filter(|_| with_body).unwrap_or(0)];
    reader.read_exact(&mut body).ok()?;
    Some(RawReply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The `path` of each script, in order.
pub fn paths_of(scripts: &[Value]) -> Vec<String> {
    scripts
        .iter()
        .map(|s| s["path"].as_str().expect("path is a string").to_string())
        .collect()
}

/// Polls `condition` every 50 ms until it holds or `deadline` has passed.
pub fn wait_until(deadline: Duration, mut condition: impl FnMut() -> bool) -> bool {
    wait_for(deadline, || condition().then_some(())).is_some()
}

/// Polls `probe` every 50 ms until it gives a value or `deadline` has passed.
pub fn wait_for<T>(deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let began = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if began.elapsed() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// What a command that ran to its end left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `script-gateway ARGS` to its end; a process still running after `deadline` is
/// killed and the test fails (nothing is left running).
pub fn run_to_end(args: &[String], deadline: Duration) -> Finished {
    let mut child = gateway_command(args)
        .spawn()
        .expect("the gateway binary starts");
    let stdout = drain_to_buffer(child.stdout.take().expect("stdout is piped"));
    let stderr = drain_to_buffer(child.stderr.take().expect("stderr is piped"));
    let status = wait_for(deadline, || child.try_wait().expect("try_wait works"));
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "`script-gateway {}` still ran after {deadline:?}",
            args.join(" ")
        );
    };
    // The pipes close when the process exits; give the readers a moment to finish.
    let closed = |buffer: &Arc<Mutex<String>>| Arc::strong_count(buffer) == 1;
    wait_until(Duration::from_secs(5), || {
        closed(&stdout) && closed(&stderr)
    });
    let text = |buffer: &Arc<Mutex<String>>| buffer.lock().expect("output buffer").clone();
    Finished {
        status,
        stdout: text(&stdout),
        stderr: text(&stderr),
    }
}

/// Asserts the contract's error shape, exactly `{"status":"error","error":{"code","message"}}`
/// with a non-empty message, and the expected HTTP status and code.
pub fn assert_error(what: &str, status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{what}: status; body {body}");
    assert_error_shape(what, body);
    assert_eq!(
        body["error"]["code"],
        json!(want_code),
        "{what}: code; body {body}"
    );
}

/// Asserts the exact error shape, whatever the code.
pub fn assert_error_shape(what: &str, body: &Value) {
    let top = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: the error body is not a JSON object: {body}"));
    let mut keys: Vec<_> = top.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["error", "status"],
        "{what}: top-level keys of {body}"
    );
    assert_eq!(body["status"], json!("error"), "{what}: {body}");
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: \"error\" is not an object: {body}"));
    let mut keys: Vec<_> = error.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message"], "{what}: error keys of {body}");
    let code = error["code"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "{what}: code is not snake_case: {body}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "{what}: empty message: {body}");
}

/// Fixture scripts, written into each test's repository.
pub mod fixtures {
    use serde_json::{json, Value};

    /// The contract's example ARGS_MAP.
    pub fn greet_schema() -> Value {
        json!({
            "name": {"flag": "--name", "type": "str", "required": true, "help": "Who to greet"},
            "times": {"flag": "--times", "type": "int", "required": false, "default": 1},
            "loud": {"flag": "--loud", "type": "bool", "default": false},
            "format": {"flag": "--format", "type": "choice", "choices": ["json", "csv"], "default": "json"}
        })
    }

    /// A one-parameter ARGS_MAP whose flag is `--{name}`.
    pub fn one_param(name: &str) -> Value {
        json!({ name: {"flag": format!("--{name}"), "type": "str"} })
    }

    /// A Python string literal holding `text` (JSON string escapes are valid Python).
    fn python_literal(text: &str) -> String {
        serde_json::to_string(text).expect("a string serialises")
    }

    /// A Python script with a docstring that prints `schema` for `--_sys_get_schema`.
    pub fn python(doc: &str, schema: &Value) -> String {
        format!(
            r#""""{doc}"""
import json
import sys

ARGS_MAP = json.loads({literal})

if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        print(json.dumps(ARGS_MAP))
        sys.exit(0)
    print(json.dumps({{"ok": True}}))
"#,
            literal = python_literal(&schema.to_string())
        )
    }

    /// A Python script whose schema mode runs `body` (indented by the caller's needs:
    /// each line of `body` becomes a line of the `if` block).
    pub fn python_schema_mode(body: &str) -> String {
        let block: String = body.lines().map(|l| format!("    {l}\n")).collect();
        format!("import json\nimport sys\n\nif \"--_sys_get_schema\" in sys.argv:\n{block}")
    }

    /// A Python script that prints `schema` and appends a line to `<stem>.runs.log`
    /// beside itself every time its schema is extracted.
    pub fn python_counting(schema: &Value) -> String {
        format!(
            r#""""Counts its schema extractions."""
import json
import os
import sys

if __name__ == "__main__":
    if "--_sys_get_schema" in sys.argv:
        here = os.path.abspath(__file__)
        log = os.path.splitext(here)[0] + ".runs.log"
        with open(log, "a") as f:
            f.write("run\n")
        print(json.dumps(json.loads({literal})))
"#,
            literal = python_literal(&schema.to_string())
        )
    }

    /// A JS script with a leading `//` comment that prints `schema`.
    pub fn js(comment: &str, schema: &Value) -> String {
        format!(
            "// {comment}\nconst ARGS_MAP = {schema};\n\
             if (process.argv.includes('--_sys_get_schema')) {{\n  \
               console.log(JSON.stringify(ARGS_MAP));\n  process.exit(0);\n}}\n\
             console.log(JSON.stringify({{ ok: true }}));\n"
        )
    }

    /// A Python helper module: neither mentions the schema flag nor has a main guard.
    pub const PY_HELPER: &str = "def shout(text):\n    return text.upper()\n";
}
