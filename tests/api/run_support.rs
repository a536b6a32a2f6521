//! What the run tests need beyond `helpers`: fixture scripts with a body of their own,
//! byte-level HTTP (uploads, downloads, paths sent exactly as written), hand-built
//! multipart bodies, test noise, and the gateway's memory use.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{TestApp, BIN};

/// A Python script that prints `schema` for `--_sys_get_schema` and otherwise runs `body`
/// (written unindented; `json`, `os` and `sys` are imported).
pub fn python(schema: &Value, body: &str) -> String {
    let literal = serde_json::to_string(&schema.to_string()).expect("a string serialises");
    let block: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "import json\nimport os\nimport sys\n\nARGS_MAP = json.loads({literal})\n\n\
         if __name__ == \"__main__\":\n    if \"--_sys_get_schema\" in sys.argv:\n        \
         print(json.dumps(ARGS_MAP))\n        sys.exit(0)\n{block}"
    )
}

/// A Node.js script that prints `schema` for `--_sys_get_schema` and otherwise runs `body`.
pub fn js(schema: &Value, body: &str) -> String {
    format!(
        "const ARGS_MAP = {schema};\n\
         if (process.argv.includes('--_sys_get_schema')) {{\n  \
           console.log(JSON.stringify(ARGS_MAP));\n  process.exit(0);\n}}\n{body}\n"
    )
}

/// The body of a script that answers with its own argv.
pub const ECHO_ARGV: &str = "print(json.dumps({\"argv\": sys.argv[1:]}))";

/// The id of the loaded script at `path`.
pub fn script_id(app: &TestApp, path: &str) -> i64 {
    let script = app
        .script_by_path(path)
        .unwrap_or_else(|| panic!("{path} is not listed: {:?}", app.paths()));
    assert_eq!(script["load_status"], json!("ok"), "{path} loads: {script}");
    script["id"].as_i64().expect("an integer id")
}

/// How many runs the history holds.
pub fn run_total(app: &TestApp) -> u64 {
    let (status, body) = app.get("/api/runs?page_size=1");
    assert_eq!(status, 200, "listing runs: {body}");
    body["total"].as_u64().expect("total is a number")
}

/// A query string, form-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An answer kept as bytes.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or the lossy text as a JSON string.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }
}

/// Any request with a byte body through a real HTTP client; 4xx/5xx are returned.
pub fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Raw {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let mut request = agent.request(method, &app.url(path));
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let result = match body {
        Some(bytes) => request.send_bytes(bytes),
        None => request.call(),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{method} {path} failed: {error}; stderr:\n{}", app.stderr()),
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
    let mut body = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut body)
        .expect("the body can be read");
    Raw {
        status,
        headers,
        body,
    }
}

/// GET `path` as bytes.
pub fn get_bytes(app: &TestApp, path: &str) -> Raw {
    send(app, "GET", path, &[], None)
}

/// POST `body` with `content_type`; the answer as JSON.
pub fn post_as(app: &TestApp, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let raw = send(
        app,
        "POST",
        path,
        &[("Content-Type", content_type)],
        Some(body),
    );
    (raw.status, raw.json())
}

/// POST a multipart body; the answer as JSON.
pub fn post_multipart(app: &TestApp, path: &str, form: Multipart) -> (u16, Value) {
    let (content_type, body) = form.finish();
    post_as(app, path, &content_type, &body)
}

/// One HTTP/1.1 exchange over a plain socket: `target` is sent exactly as written (no
/// client-side `..` folding or re-encoding), and a server that answers before reading
/// the whole body (413) is still heard.
pub fn raw_http(
    app: &TestApp,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    let host = app
        .address
        .strip_prefix("http://")
        .expect("the gateway listens on http");
    let mut stream = TcpStream::connect(host).expect("the gateway accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout can be set");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    // The server may answer and close before it has read everything: ignore write errors.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut answer = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if answer.is_empty() => panic!("{method} {target}: no answer: {e}"),
            Err(_) => break,
        }
    }
    parse_answer(&answer).unwrap_or_else(|| {
        panic!(
            "{method} {target}: not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer)
        )
    })
}

pub fn parse_answer(answer: &[u8]) -> Option<Raw> {
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut raw = Raw {
        status,
        headers,
        body: answer[split + 4..].to_vec(),
    };
    if raw
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        raw.body = dechunk(&raw.body)?;
    }
    Some(raw)
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// A `multipart/form-data` body, built by hand.
pub struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Default for Multipart {
    fn default() -> Multipart {
        Multipart {
            boundary: "----sg-test-boundary-7MA4YWxkTrZu0gW".to_string(),
            body: Vec::new(),
        }
    }
}

impl Multipart {
    pub fn new() -> Multipart {
        Multipart::default()
    }

    /// A text field.
    pub fn text(mut self, name: &str, value: &str) -> Multipart {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n",
            self.boundary
        );
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// A file field holding `bytes`, sent as `file_name`.
    pub fn file(mut self, name: &str, file_name: &str, bytes: &[u8]) -> Multipart {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            self.boundary
        );
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// The content type (with its boundary) and the finished body.
    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

/// `len` bytes of deterministic noise, with a run of NUL bytes in the middle and at the end.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let middle = len / 2;
    for byte in bytes.iter_mut().skip(middle).take(1024) {
        *byte = 0;
    }
    if let Some(last) = bytes.last_mut() {
        *last = 0;
    }
    bytes
}

/// The MD5 digest of `data` as lowercase hex, to compare with a script's `hashlib.md5`.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// Whether code can run as a separate user here (the gateway runs as root, and a Python the
/// run user may execute is at `/usr/bin/python3`); says SKIPPED when not.
pub fn runs_as_a_separate_user() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: code runs as a separate user only when the gateway runs as root");
        return false;
    }
    if !Path::new("/usr/bin/python3").exists() {
        eprintln!("SKIPPED: no /usr/bin/python3 that the run user can execute");
        return false;
    }
    true
}

/// Kills the test gateway serving `data` with SIGKILL (a crash) and waits until it is gone.
pub fn crash_gateway(data: &Path) {
    let gateway = gateway_pid(data);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(gateway as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("the gateway can be killed");
    assert!(
        crate::helpers::wait_until(crate::helpers::WAIT, || {
            std::fs::read(format!("/proc/{gateway}/cmdline")).map_or(true, |c| c.is_empty())
        }),
        "the gateway died"
    );
}

/// The process id of the test gateway serving `data` (found by its command line).
pub fn gateway_pid(data: &Path) -> u32 {
    let data = data.display().to_string();
    let found = std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.first().is_some_and(|a| a == BIN) && args.contains(&data)
        });
    found.unwrap_or_else(|| panic!("no gateway process serves {data}"))
}

/// The resident memory of `pid` in KiB (`VmRSS`), if it still runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `DATA_DIR/runs/<run_id>` as the gateway spells it (canonical).
pub fn run_dir(data: &Path, run_id: i64) -> PathBuf {
    data.canonicalize()
        .expect("the data folder exists")
        .join("runs")
        .join(run_id.to_string())
}

/// Asserts a successful run answer and returns it.
pub fn assert_success<'a>(what: &str, status: u16, body: &'a Value) -> &'a Value {
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["status"], json!("success"), "{what}: {body}");
    assert_eq!(body["run_status"], json!("success"), "{what}: {body}");
    assert_eq!(body["exit_code"], json!(0), "{what}: {body}");
    assert!(body["run_id"].as_i64().is_some(), "{what}: run_id: {body}");
    assert!(body.get("error").is_none(), "{what}: no error: {body}");
    body
}

/// Asserts a 400 `invalid_params` whose `details` name `param`.
pub fn assert_invalid_param(what: &str, status: u16, body: &Value, param: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["status"], json!("error"), "{what}: {body}");
    assert_eq!(
        body["error"]["code"],
        json!("invalid_params"),
        "{what}: {body}"
    );
    let details = body["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: details is not a list: {body}"));
    let entry = details
        .iter()
        .find(|d| d["param"] == json!(param))
        .unwrap_or_else(|| panic!("{what}: no detail names {param:?}: {body}"));
    let message = entry["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "{what}: empty message: {body}");
}
